#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The KUnit suites built into uet_soft run when the module loads: check that
# each reports a result and that none failed.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

SUITES="uet_soft_dev uet_soft_job"
ktap_print_header
uet_require_module uet_soft
if [ ! -d /sys/kernel/debug/kunit ] && ! grep -q 'kunit' /proc/kallsyms 2>/dev/null; then
	ktap_skip_all "the kernel has no KUnit (CONFIG_KUNIT)"
	exit "$KSFT_SKIP"
fi
ktap_set_plan "$(echo $SUITES | wc -w)"

[ -d /sys/module/uet_soft ] && modprobe -r uet_soft
dmesg -c >/dev/null
modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
log=$(dmesg)
modprobe -r uet_soft

for s in $SUITES; do
	summary=$(echo "$log" | grep -E "# $s: pass:" | tail -n 1)
	ktap_print_msg "${summary:-no summary for $s}"
	if echo "$log" | grep -qE "^\[[ 0-9.]+\] ok [0-9]+ $s\$" &&
		echo "$summary" | grep -q ' fail:0 '; then
		ktap_test_pass "KUnit suite $s"
	else
		echo "$log" | grep -E "not ok|# $s" | sed 's/^/# /'
		ktap_test_fail "KUnit suite $s"
	fi
done
ktap_finished
