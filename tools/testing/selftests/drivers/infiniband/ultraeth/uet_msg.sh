#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Messages between two uet devices on a veth wire across two network
# namespaces: uet_msg (kselftest_harness) on a clean wire over IPv4 and
# IPv6, then under tc netem (loss 1%, 5%, 20%, reordering, duplication,
# corruption) on both ends of the wire. Each case of each run is one result
# here, named "<wire>: <case>".
#
#   uetm0 on vmsg0 (10.77.0.1, fd77::1) in the current namespace
#   uetm1 on vmsg1 (10.77.0.2, fd77::2) in namespace uet-msg-peer
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-msg-peer
PROG=$UET_DIR/uet_msg

# the cases of uet_msg, as its harness names them
ALL="global.no_job msg.sizes msg.max_msg_size msg.many msg.tagged_exact
msg.tagged_masked msg.tagged_unexpected msg.tagged_order msg.classic_post
msg.bad_sge msg.bad_post msg.ring_full msg.peer_missing msg.peer_silent
msg.flush msg.qpn msg.events msg.endpoints_256"
ALL=$(echo $ALL)
# under impairments: the transfers, not the error cases
WIRE="msg.sizes msg.many msg.tagged_exact msg.tagged_unexpected msg.classic_post"
IPV6="msg.sizes msg.many msg.tagged_exact msg.peer_silent"

# wire NAME NETEM-ARGS: one run of uet_msg per line below
RUNS=(
	"ipv4|4||$ALL"
	"ipv6|6||$IPV6"
	"loss 1%|4|loss 1%|$WIRE"
	"loss 5%|4|loss 5%|$WIRE"
	"loss 20%|4|loss 20%|$WIRE"
	"reorder|4|delay 2ms reorder 25% 50%|$WIRE"
	"duplicate|4|duplicate 10%|$WIRE"
	"corrupt|4|corrupt 5%|$WIRE"
)

ktap_print_header
[ -x "$PROG" ] || { ktap_skip_all "uet_msg was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP" tc
uet_require_module uet_soft

T=$(mktemp -d)
cleanup() {
	"$IP" netns exec "$NS" "$RDMA" link delete uetm1 2>/dev/null
	"$RDMA" link delete uetm0 2>/dev/null
	"$IP" link delete vmsg0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

plan=0
for r in "${RUNS[@]}"; do
	plan=$((plan + $(wc -w <<<"${r##*|}")))
done
ktap_set_plan "$plan"

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
"$IP" netns add "$NS" &&
	"$IP" link add vmsg0 type veth peer name vmsg1 netns "$NS" &&
	"$IP" addr add 10.77.0.1/24 dev vmsg0 &&
	"$IP" addr add fd77::1/64 dev vmsg0 nodad &&
	"$IP" link set vmsg0 up &&
	"$IP" -n "$NS" addr add 10.77.0.2/24 dev vmsg1 &&
	"$IP" -n "$NS" addr add fd77::2/64 dev vmsg1 nodad &&
	"$IP" -n "$NS" link set vmsg1 up &&
	"$IP" -n "$NS" link set lo up ||
	ktap_exit_fail_msg "cannot create the namespace and the veth pair"
uet_rdma out link add uetm0 type uet netdev vmsg0 ||
	ktap_exit_fail_msg "rdma link add uetm0 type uet netdev vmsg0: $out"
out=$("$IP" netns exec "$NS" "$RDMA" link add uetm1 type uet netdev vmsg1 2>&1) ||
	ktap_exit_fail_msg "$NS: rdma link add uetm1 type uet netdev vmsg1: $out"
uet_wait_for uet_gid_index uetm0 10.77.0.1 ||
	ktap_print_msg "uetm0 has no GID for 10.77.0.1 (continuing)"

# netem QDISC-ARGS: on both ends ("" removes it)
netem() {
	tc qdisc del dev vmsg0 root 2>/dev/null
	"$IP" netns exec "$NS" tc qdisc del dev vmsg1 root 2>/dev/null
	[ -z "$1" ] && return 0
	# shellcheck disable=SC2086
	tc qdisc add dev vmsg0 root netem $1 &&
		"$IP" netns exec "$NS" tc qdisc add dev vmsg1 root netem $1
}

stats() {
	"$RDMA" statistic show link uetm0/1 2>&1 | tr -s ' \n' ' '
}

for r in "${RUNS[@]}"; do
	IFS='|' read -r wire fam qd cases <<<"$r"
	if ! netem "$qd"; then
		for c in $cases; do
			ktap_test_fail "$wire: $c (tc qdisc add ... netem $qd failed)"
		done
		continue
	fi
	if [ "$fam" = 6 ]; then
		addrs=(UET_ADDR0=fd77::1 UET_ADDR1=fd77::2 UET_ADDR_SILENT=fd77::99)
	else
		addrs=(UET_ADDR0=10.77.0.1 UET_ADDR1=10.77.0.2 UET_ADDR_SILENT=10.77.0.99)
	fi
	count=10000
	[ -n "$qd" ] && count=1000
	args=()
	for c in $cases; do
		args+=(-t "${c#*.}")
	done
	log=$T/run.log
	ktap_print_msg "wire: $wire${qd:+ (netem $qd)}, IPv$fam, $count messages; uetm0 counters before: $(stats)"
	env UET_DEV0=uetm0 UET_DEV1=uetm1 UET_NS1="$NS" UET_MSG_COUNT=$count \
		"${addrs[@]}" "$PROG" "${args[@]}" >"$log" 2>&1
	rc=$?
	sed 's/^/    /' "$log" | while IFS= read -r l; do ktap_print_msg "$l"; done
	ktap_print_msg "uet_msg exited $rc; uetm0 counters after: $(stats)"
	for c in $cases; do
		line=$(grep -E "^(not )?ok [0-9]+ $c( |$)" "$log" | head -n 1)
		case "$line" in
		"ok "*"# SKIP"*) ktap_test_skip "$wire: $c (${line#*# SKIP })" ;;
		"ok "*) ktap_test_pass "$wire: $c" ;;
		"not ok "*) ktap_test_fail "$wire: $c" ;;
		*) ktap_test_fail "$wire: $c (did not run to its end; uet_msg exited $rc)" ;;
		esac
	done
done
netem ""

ktap_finished
