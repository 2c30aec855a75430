#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Random uverbs calls: uet_uverbs_fuzz (kselftest_harness, its own TAP)
# sends random ioctl and write commands (and mutated well-formed ones) to
# a uet device's uverbs file, on contexts that joined a job. Afterwards:
# the device's resources (rdma res show) and its "endpoints" counter are
# back to their values before, the kernel log gained no warning, BUG or
# Oops, and uet_soft unloads. UET_FUZZ_ITERS, UET_FUZZ_EPOCH and
# UET_FUZZ_SEED pass through (see uet_uverbs_fuzz.c).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

uet_harness_require uet_uverbs_fuzz

trap uet_uet0_down EXIT
why=$(uet_uet0_up) || uet_harness_setup_fail "$why"

# res_of DEV: the device's line of `rdma res show`, without its index
res_of() {
	"$RDMA" res show 2>&1 | sed -n "s/^[0-9]*: $1: //p"
}
endpoints_of() {
	"$RDMA" statistic show link "$1/1" 2>/dev/null |
		tr ' ' '\n' | sed -n '/^endpoints$/{n;p}'
}

base=$(res_of uet0)
echo "# before: uet0: $base"
marker="uet_uverbs_fuzz.sh: start $$"
echo "$marker" >/dev/kmsg
t0=$(date +%s)
UET_DEV=uet0 "$UET_DIR/uet_uverbs_fuzz"
rc=$?
echo "# uet_uverbs_fuzz exited $rc after $(($(date +%s) - t0)) s"

fail() {
	echo "# $*"
	[ "$rc" -eq 0 ] && rc=$KSFT_FAIL
}
for i in $(seq 1 25); do
	after=$(res_of uet0)
	[ "$after" = "$base" ] && break
	sleep 0.2
done
echo "# after: uet0: $after"
[ "$after" = "$base" ] || fail "uet0 resources not back: before '$base', after '$after'"
n=$(endpoints_of uet0)
[ -z "$n" ] || [ "$n" = 0 ] || fail "uet0 still counts $n endpoints"

bad=$(dmesg | sed -n "/$marker/,\$p" |
	grep -E 'WARNING:|BUG:|BUG |Oops|general protection|Call Trace|refcount_t|UBSAN|KASAN|kfence|list_(add|del) corruption|rcu.*stall|soft lockup|hung_task')
if [ -n "$bad" ]; then
	echo "$bad" | head -40 | sed 's/^/#   /'
	fail "the kernel log is not clean after the uverbs fuzzing"
fi
uet_delete_links
"$IP" link delete veth0 2>/dev/null
if ! modprobe -r uet_soft 2>/tmp/uet_uverbs_fuzz_rmmod.log; then
	fail "uet_soft does not unload: $(tr '\n' ' ' </tmp/uet_uverbs_fuzz_rmmod.log) (refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null))"
fi
exit "$rc"
