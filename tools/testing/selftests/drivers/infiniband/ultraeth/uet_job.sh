#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs uet_job (kselftest_harness, its own TAP): the job device and joining
# contexts to jobs, on a uet0 device bound to veth0 that this script
# creates. Afterwards every job is gone, so uet_soft (which each realized
# UET job pins) must unload.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

uet_harness_require uet_job

trap uet_uet0_down EXIT

err=$(uet_uet0_up) || uet_harness_setup_fail "$err"

UET_DEV=uet0 "$UET_DIR/uet_job"
rc=$?

# no job, membership or JobID may outlive its holders
uet_delete_links
if ! modprobe -r uet_soft 2>/tmp/uet_job_rmmod.log; then
	echo "# uet_soft does not unload after the test: $(tr '\n' ' ' </tmp/uet_job_rmmod.log) (refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null))"
	[ "$rc" -eq 0 ] && rc=$KSFT_FAIL
fi
exit "$rc"
