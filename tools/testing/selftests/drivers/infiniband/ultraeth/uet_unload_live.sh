#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# `modprobe -r uet_soft` while a user context (without a job: a realized
# UET job holds the module) is open on a uet device: like a hardware driver,
# the module unloads, the device goes, the context is disassociated: the
# application sees IBV_EVENT_DEVICE_FATAL, its CQ ring mapping is zapped,
# and it exits cleanly. With a job open, the unload is refused.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ktap_print_header
uet_require_cmd "$RDMA"
uet_require_module uet_soft
uet_require_prog uet_hold
ktap_set_plan 6

cleanup() {
	[ -n "${UET_HOLD_PID:-}" ] && kill "$UET_HOLD_PID" 2>/dev/null
	[ -n "${RM_PID:-}" ] && wait "$RM_PID" 2>/dev/null
	modprobe uet_soft 2>/dev/null
	uet_uet0_down
}
trap cleanup EXIT

err=$(uet_uet0_up) || ktap_exit_fail_msg "$err"

# 1: a context that joined a job: the job holds the module, unload refused
log=/tmp/uet_unload_job.log
rmlog=/tmp/uet_unload_rm.log
if uet_hold_start "$log" -d uet0 -t 120 hold; then
	modprobe -r uet_soft >"$rmlog" 2>&1
	rc=$?
	ktap_print_msg "modprobe -r uet_soft with a job open: rc $rc: $(tr '\n' ' ' <"$rmlog")"
	[ $rc -ne 0 ] && [ -d /sys/module/uet_soft ] && uet_rdma_dev_exists uet0
	ktap_test_result "unload with a job open is refused" [ $? -eq 0 ]
	kill -TERM "$UET_HOLD_PID" 2>/dev/null
	uet_wait_pid "$UET_HOLD_PID" 20
	UET_HOLD_PID=
else
	ktap_test_fail "unload with a job open is refused (no context)"
fi

# 2-5: a context without a job: the unload goes through under it
log=/tmp/uet_unload_hold.log
uet_hold_start "$log" -n -d uet0 -t 120 hold ||
	ktap_exit_fail_msg "cannot open a user context on uet0"
modprobe -r uet_soft >"$rmlog" 2>&1 &
RM_PID=$!
uet_wait_pid "$RM_PID" 60
rc=$?
RM_PID=
ktap_print_msg "modprobe -r uet_soft with a context open: rc $rc: $(tr '\n' ' ' <"$rmlog")"
ktap_test_result "unload with a context open completes (rc $rc)" [ $rc -eq 0 ]
[ ! -d /sys/module/uet_soft ] && uet_rdma_dev_gone uet0
ktap_test_result "uet_soft and uet0 are gone" [ $? -eq 0 ]

uet_wait_pid "$UET_HOLD_PID" 30
hrc=$?
UET_HOLD_PID=
sed 's/^/# uet_hold: /' "$log"
grep -q 'DEVICE_FATAL\|async fd error' "$log"
ktap_test_result "the application sees the device go" [ $? -eq 0 ]
grep -q 'ring mapping: .* zapped$' "$log" && ! grep -q 'NOT zapped' "$log"
ktap_test_result "its CQ ring mapping was zapped" [ $? -eq 0 ]
ktap_test_result "the application exits cleanly (rc $hrc)" [ $hrc -eq 0 ]

ktap_finished
