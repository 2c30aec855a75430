#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs uet_job_stress (kselftest_harness, its own TAP): 100000 jobs with
# allocated JobIDs, and six threads racing the job ioctls against close and
# dup2. Afterwards no job may be left, so uet_soft (which each realized UET
# job pins) must unload.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

[ -x "$UET_DIR/uet_job_stress" ] || uet_harness_skip "uet_job_stress was not built"
modprobe -n -q uet_soft 2>/dev/null || [ -d /sys/module/uet_soft ] ||
	uet_harness_skip "module uet_soft is not available"
modprobe uet_soft || uet_harness_setup_fail "cannot load uet_soft"

"$UET_DIR/uet_job_stress"
rc=$?

if ! modprobe -r uet_soft 2>/tmp/uet_job_stress_rmmod.log; then
	echo "# uet_soft does not unload after the test: $(tr '\n' ' ' </tmp/uet_job_stress_rmmod.log) (refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null))"
	[ "$rc" -eq 0 ] && rc=$KSFT_FAIL
fi
exit "$rc"
