#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs the /dev/infiniband/job ioctl fuzzer (uet_job_fuzz, its own TAP)
# with uet_soft loaded (the UET protocol), then checks that the kernel log
# gained no warning, BUG or Oops and that uet_soft unloads (no realized job
# leaked its module reference).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

[ -x "$UET_DIR/uet_job_fuzz" ] || uet_harness_skip "uet_job_fuzz was not built"
modprobe -n -q uet_soft 2>/dev/null || [ -d /sys/module/uet_soft ] || uet_harness_skip "module uet_soft is not available"

trap 'modprobe -r uet_soft 2>/dev/null' EXIT
modprobe uet_soft || uet_harness_setup_fail "cannot load uet_soft"

marker="uet_job_fuzz.sh: start $$"
echo "$marker" >/dev/kmsg
"$UET_DIR/uet_job_fuzz"
rc=$?

bad=$(dmesg | sed -n "/$marker/,\$p" |
	grep -E 'WARNING:|BUG:|BUG |Oops|general protection|Call Trace|refcount_t|UBSAN|KASAN|kfence|list_(add|del) corruption|rcu.*stall|soft lockup|hung_task')
if [ -n "$bad" ]; then
	echo "# the kernel log is not clean after fuzzing:"
	echo "$bad" | head -40 | sed 's/^/#   /'
	[ "$rc" -eq 0 ] && rc=$KSFT_FAIL
fi
if ! modprobe -r uet_soft 2>/tmp/uet_job_fuzz_rmmod.log; then
	echo "# uet_soft does not unload after fuzzing: $(tr '\n' ' ' </tmp/uet_job_fuzz_rmmod.log) (refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null))"
	[ "$rc" -eq 0 ] && rc=$KSFT_FAIL
fi
exit "$rc"
