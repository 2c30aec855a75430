#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# `modprobe -r uet_soft` while a user context is open on a uet device is
# refused ("in use") or waits; once the application exits, it succeeds.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ktap_print_header
uet_require_cmd "$RDMA"
uet_require_module uet_soft
uet_require_prog uet_hold
ktap_set_plan 4

cleanup() {
	[ -n "${UET_HOLD_PID:-}" ] && kill "$UET_HOLD_PID" 2>/dev/null
	[ -n "${RM_PID:-}" ] && wait "$RM_PID" 2>/dev/null
	uet_uet0_down
}
trap cleanup EXIT

err=$(uet_uet0_up) || ktap_exit_fail_msg "$err"
log=/tmp/uet_unload_hold.log
uet_hold_start "$log" -d uet0 -t 120 hold ||
	ktap_exit_fail_msg "cannot open a user context on uet0"

# 1: modprobe -r with the context open: refused, or still waiting after 10 s
rmlog=/tmp/uet_unload_rm.log
modprobe -r uet_soft >"$rmlog" 2>&1 &
RM_PID=$!
uet_wait_pid "$RM_PID" 10
rc=$?
case $rc in
124) outcome=waits ;;
0) outcome="unloaded under the application" RM_PID= ;;
*) outcome="refused (rc $rc)" RM_PID= ;;
esac
ktap_print_msg "modprobe -r uet_soft: $outcome: $(tr '\n' ' ' <"$rmlog")"
ktap_print_msg "refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null || echo -), holders $(ls /sys/module/uet_soft/holders 2>/dev/null | tr '\n' ' ')"
[ "$outcome" = waits ] || { [ $rc -ne 0 ] && grep -qi 'in use\|busy' "$rmlog"; }
ktap_test_result "unload with a context open is refused or waits: $outcome" [ $? -eq 0 ]

# 2: meanwhile the application keeps its device (refused), or at least is
# still alive (waits)
if [ "$outcome" = waits ]; then
	kill -0 "$UET_HOLD_PID" 2>/dev/null
	ktap_test_result "the application is still running" [ $? -eq 0 ]
else
	kill -0 "$UET_HOLD_PID" 2>/dev/null && [ -d /sys/module/uet_soft ] &&
		uet_rdma_dev_exists uet0
	ktap_test_result "uet_soft, uet0 and the application are still there" [ $? -eq 0 ]
fi

# 3: the application exits normally
kill -TERM "$UET_HOLD_PID" 2>/dev/null
uet_wait_pid "$UET_HOLD_PID" 20
hrc=$?
UET_HOLD_PID=
sed 's/^/# uet_hold: /' "$log"
ktap_test_result "the application exits cleanly (rc $hrc)" [ $hrc -eq 0 ]

# 4: now the unload completes (the waiting one, or a new one) and takes
# uet0 with it
if [ -n "$RM_PID" ]; then
	uet_wait_pid "$RM_PID" 30
	rc=$?
	RM_PID=
else
	# uet0 still exists: unloading removes it
	modprobe -r uet_soft >"$rmlog" 2>&1
	rc=$?
fi
ktap_print_msg "modprobe -r uet_soft: rc $rc $(tr '\n' ' ' <"$rmlog")"
[ $rc -eq 0 ] && [ ! -d /sys/module/uet_soft ] && uet_rdma_dev_gone uet0
ktap_test_result "uet_soft unloads after the application exited" [ $? -eq 0 ]

ktap_finished
