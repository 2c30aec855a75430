#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The KUnit suites built into uet_soft run when the module loads: check that
# each reports a result and that none failed.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

# suites of the module (run at load) and of the kernel crate's RDMA
# abstractions (run at boot)
SUITES="uet_soft_dev uet_soft_job uet_soft_engine"
BOOT_SUITES="rust_rdma_device rust_rdma_udata rust_rdma_job rust_net_skb"
ktap_print_header
uet_require_module uet_soft
if [ ! -d /sys/kernel/debug/kunit ] && ! grep -q 'kunit' /proc/kallsyms 2>/dev/null; then
	ktap_skip_all "the kernel has no KUnit (CONFIG_KUNIT)"
	exit "$KSFT_SKIP"
fi
ktap_set_plan "$(echo $SUITES $BOOT_SUITES | wc -w)"

bootlog=$(dmesg)
[ -d /sys/module/uet_soft ] && modprobe -r uet_soft
# the log of this load only (never `dmesg -c`: the harness's dmesg guard
# reads the whole log after the run): from a marker on, which stays right
# even when the ring buffer is full and old lines fall out of it
marker="kunit.sh: loading uet_soft $$ $(date +%s%N)"
echo "$marker" >/dev/kmsg
modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
log=$(dmesg | sed -n "/$marker/,\$p")
modprobe -r uet_soft

check_suite() { # check_suite SUITE LOG
	local s=$1 log=$2 summary
	summary=$(echo "$log" | grep -E "# $s: pass:" | tail -n 1)
	ktap_print_msg "${summary:-no summary for $s}"
	if echo "$log" | grep -qE "^\[[ 0-9.]+\] ok [0-9]+ $s\$" &&
		echo "$summary" | grep -q ' fail:0 '; then
		ktap_test_pass "KUnit suite $s"
	else
		echo "$log" | grep -E "not ok|# $s" | sed 's/^/# /'
		ktap_test_fail "KUnit suite $s"
	fi
}
for s in $SUITES; do
	check_suite "$s" "$log"
done
for s in $BOOT_SUITES; do
	check_suite "$s" "$bootlog"
done
ktap_finished
