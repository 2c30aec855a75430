#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Hostile rings: uet_ring_fuzz (kselftest_harness, its own TAP) writes the
# mapped send, receive and completion rings of endpoints itself (random
# and faulty descriptors, bogus indexes, descriptors rewritten by a second
# thread, random bytes over whole rings) between two uet devices on a veth
# wire across two network namespaces. Afterwards: the devices' resources
# (rdma res show) are back to zero and their "endpoints" counter too, the
# kernel log gained no warning, BUG or Oops, and uet_soft unloads.
# UET_RING_ITERS, UET_RING_SECS and UET_FUZZ_SEED pass through (see
# uet_ring_fuzz.c).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

uet_harness_require uet_ring_fuzz

ns=uet-f-peer d0=uetf0 d1=uetf1 v0=vf0 v1=vf1 a4=10.89.0
cleanup() {
	"$IP" netns exec "$ns" "$RDMA" link delete "$d1" 2>/dev/null
	"$RDMA" link delete "$d0" 2>/dev/null
	"$IP" link delete "$v0" 2>/dev/null
	"$IP" netns delete "$ns" 2>/dev/null
	modprobe -r uet_soft 2>/dev/null
	true
}
trap cleanup EXIT

modprobe uet_soft || uet_harness_setup_fail "cannot load uet_soft"
"$IP" netns add "$ns" &&
	"$IP" link add "$v0" type veth peer name "$v1" netns "$ns" &&
	"$IP" addr add "$a4.1/24" dev "$v0" &&
	"$IP" link set "$v0" up &&
	"$IP" -n "$ns" addr add "$a4.2/24" dev "$v1" &&
	"$IP" -n "$ns" link set "$v1" up &&
	"$IP" -n "$ns" link set lo up ||
	uet_harness_setup_fail "cannot create the namespace and the veth pair"
uet_rdma out link add "$d0" type uet netdev "$v0" ||
	uet_harness_setup_fail "rdma link add $d0 type uet netdev $v0: $out"
out=$("$IP" netns exec "$ns" "$RDMA" link add "$d1" type uet netdev "$v1" 2>&1) ||
	uet_harness_setup_fail "$ns: rdma link add $d1 type uet netdev $v1: $out"
uet_wait_for uet_gid_index "$d0" "$a4.1" || echo "# $d0 has no GID for $a4.1 (continuing)"

# in_ns NS CMD...: CMD in network namespace NS ("": this one)
in_ns() {
	local n=$1
	shift
	if [ -n "$n" ]; then "$IP" netns exec "$n" "$@"; else "$@"; fi
}
# res_of NS DEV: the device's line of `rdma res show`, without its index
res_of() {
	in_ns "$1" "$RDMA" res show 2>&1 | sed -n "s/^[0-9]*: $2: //p"
}
# endpoints_of NS DEV: the device's "endpoints" counter
endpoints_of() {
	in_ns "$1" "$RDMA" statistic show link "$2/1" 2>/dev/null |
		tr ' ' '\n' | sed -n '/^endpoints$/{n;p}'
}

base0=$(res_of "" "$d0")
base1=$(res_of "$ns" "$d1")
echo "# before: $d0: $base0; $d1: $base1"

marker="uet_ring_fuzz.sh: start $$"
echo "$marker" >/dev/kmsg
t0=$(date +%s)
UET_DEV0=$d0 UET_DEV1=$d1 UET_NS1=$ns UET_ADDR0=$a4.1 UET_ADDR1=$a4.2 \
	"$UET_DIR/uet_ring_fuzz"
rc=$?
echo "# uet_ring_fuzz exited $rc after $(($(date +%s) - t0)) s"

# every object of the program is gone once it exited (ib_core cleans up a
# closed context, but the program destroyed everything itself anyway)
fail() {
	echo "# $*"
	[ "$rc" -eq 0 ] && rc=$KSFT_FAIL
}
for i in $(seq 1 25); do
	after0=$(res_of "" "$d0")
	after1=$(res_of "$ns" "$d1")
	[ "$after0" = "$base0" ] && [ "$after1" = "$base1" ] && break
	sleep 0.2
done
[ "$after0" = "$base0" ] || fail "$d0 resources not back: before '$base0', after '$after0'"
[ "$after1" = "$base1" ] || fail "$d1 resources not back: before '$base1', after '$after1'"
n=$(endpoints_of "" "$d0")
[ -z "$n" ] || [ "$n" = 0 ] || fail "$d0 still counts $n endpoints"
n=$(endpoints_of "$ns" "$d1")
[ -z "$n" ] || [ "$n" = 0 ] || fail "$d1 still counts $n endpoints"
echo "# after: $d0: $after0; $d1: $after1"
echo "# $d0 counters: $(uet_wire_stats "$d0")"

bad=$(dmesg | sed -n "/$marker/,\$p" |
	grep -E 'WARNING:|BUG:|BUG |Oops|general protection|Call Trace|refcount_t|UBSAN|KASAN|kfence|list_(add|del) corruption|rcu.*stall|soft lockup|hung_task')
if [ -n "$bad" ]; then
	echo "$bad" | head -40 | sed 's/^/#   /'
	fail "the kernel log is not clean after the ring fuzzing"
fi
"$IP" netns exec "$ns" "$RDMA" link delete "$d1" 2>/dev/null
"$RDMA" link delete "$d0" 2>/dev/null
if ! modprobe -r uet_soft 2>/tmp/uet_ring_fuzz_rmmod.log; then
	fail "uet_soft does not unload: $(tr '\n' ' ' </tmp/uet_ring_fuzz_rmmod.log) (refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null))"
fi
exit "$rc"
