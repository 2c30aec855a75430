#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# RMA write and read, writes with header data, atomics, the (job, key)
# boundary and the ROD, RUDI and UUD delivery modes between two uet devices
# on a veth wire across two network namespaces: uet_rma (kselftest_harness)
# on a clean wire over IPv4 and IPv6, then under tc netem (loss 1%, 5%,
# 20%, reordering, duplication, corruption). Each case of each run is one
# result, named "<wire>: <case>" (uet_wire_runs in uet_lib.sh).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ALL="rma.write_sizes rma.read_sizes rma.many rma.write_imm rma.zero_based
rma.refused rma.other_job rma.dereg_in_flight rma.revoke rma.local_errors
rma.rod_order rma.rudi rma.uud rma.atomic_counter rma.atomic_cas_lock
rma.atomic_refused rma.app_key"
ALL=$(echo $ALL)
# under impairments: the transfers and the modes
WIRE="rma.write_sizes rma.read_sizes rma.many rma.write_imm rma.rod_order
rma.rudi rma.uud rma.atomic_counter rma.atomic_cas_lock"
WIRE=$(echo $WIRE)
IPV6="rma.write_sizes rma.read_sizes rma.refused rma.atomic_counter"

# wire name|IP version|netem args|cases|environment. Three sets, one per
# test program (each has the kselftest timeout to itself): uet_rma.sh the
# clean wires, uet_rma_loss.sh loss, uet_rma_wire.sh the other impairments.
# set by the loss set only (not taken from the environment)
UET_WIRE_LOSSY=
case ${UET_RMA_SET:-clean} in
clean)
	RUNS=(
		"ipv4|4||$ALL|UET_WIRE_CLEAN=1"
		"ipv6|6||$IPV6|UET_WIRE_CLEAN=1"
	)
	tag=r net=86 ;;
loss)
	RUNS=(
		"loss 1%|4|loss 1%|$WIRE|"
		"loss 5%|4|loss 5%|$WIRE|"
		"loss 20%|4|loss 20%|$WIRE|"
	)
	tag=l net=87
	# every run drops packets: the recovery counters must move
	UET_WIRE_LOSSY=1 ;;
neigh)
	# The neighbour entries are confirmed by the traffic (Env::reachable):
	# each side's entry goes stale within 150 ms of its last confirmation
	# and nobody answers ARP once the wire is resolved (uet_neigh_hook), so
	# a transfer that needed a neighbour probe would lose its wire. Both
	# ways at once, a window-filling stream, and one operation at a time
	# per process (atomic_counter: A only initiates, B only answers).
	RUNS=(
		"neigh|4||rma.many rma.write_sizes rma.atomic_counter|"
	)
	tag=n net=83
	UET_WIRE_HOOK=uet_neigh_hook UET_WIRE_HOOK_TESTS=1 ;;
wire)
	RUNS=(
		"reorder|4|delay 2ms reorder 25% 50%|$WIRE|"
		"duplicate|4|duplicate 10%|$WIRE|"
		"corrupt|4|corrupt 5%|$WIRE|"
	)
	tag=w net=88 ;;
*)
	ktap_print_header
	ktap_exit_fail_msg "unknown UET_RMA_SET '$UET_RMA_SET'" ;;
esac

# uet_neigh_hook setup|check V0 NS V1 PEER0 PEER1 (UET_WIRE_HOOK): setup
# shortens the neighbour entries' reachable time (100 ms base: 50-150 ms),
# the wait before the first probe of an entry in use (1 s) and the probe
# interval (100 ms), makes each end's entry for the other REACHABLE (the
# peer's address from sysfs), switches ARP answers off on both ends
# (arp_ignore 8) and watches the entries. Without confirmations a
# transfer would probe its entry after about 1.2 s and lose it 0.3 s
# later. check gives one result: no entry was probed or failed.
uet_neigh_hook() {
	local what=$1 v0=$2 ns=$3 v1=$4 p0=$5 p1=$6 n f m0 m1 ok
	local -a in1=("$IP" netns exec "$ns")
	case $what in
	setup)
		# net.ipv4 settings (X: the end's device) on both ends
		for f in neigh/X/base_reachable_time_ms:100 neigh/X/delay_first_probe_time:1 \
			neigh/X/retrans_time_ms:100 conf/X/arp_ignore:8; do
			n=${f%:*}
			echo "${f#*:}" >"/proc/sys/net/ipv4/${n//X/$v0}" &&
				"${in1[@]}" sh -c "echo ${f#*:} >/proc/sys/net/ipv4/${n//X/$v1}" ||
				ktap_exit_fail_msg "cannot set net.ipv4.$n"
		done
		m0=$(cat "/sys/class/net/$v0/address")
		m1=$("${in1[@]}" cat "/sys/class/net/$v1/address")
		"$IP" neigh replace "$p0" lladdr "$m1" dev "$v0" nud reachable &&
			"${in1[@]}" "$IP" neigh replace "$p1" lladdr "$m0" dev "$v1" nud reachable ||
			ktap_exit_fail_msg "cannot set the neighbour entries"
		"$IP" monitor neigh dev "$v0" >"$UET_WIRE_TMP/neigh0" 2>&1 &
		UET_NEIGH_MON=$!
		"${in1[@]}" "$IP" monitor neigh dev "$v1" >"$UET_WIRE_TMP/neigh1" 2>&1 &
		UET_NEIGH_MON="$UET_NEIGH_MON $!"
		UET_WIRE_CLEANUP="\${UET_NEIGH_MON:+kill \$UET_NEIGH_MON}; $UET_WIRE_CLEANUP"
		ktap_print_msg "neighbours: $("$IP" neigh show "$p0" dev "$v0") / $("${in1[@]}" "$IP" neigh show "$p1" dev "$v1")" ;;
	check)
		# Both entries still resolved, and both monitors ran to the end
		# (kill fails for one that died: its silence would prove nothing).
		f="$("$IP" neigh show "$p0" dev "$v0") / $("${in1[@]}" "$IP" neigh show "$p1" dev "$v1")"
		ktap_print_msg "neighbours: $f"
		# shellcheck disable=SC2086
		kill $UET_NEIGH_MON 2>/dev/null || f="$f (a monitor died)"
		# shellcheck disable=SC2086
		wait $UET_NEIGH_MON 2>/dev/null
		UET_NEIGH_MON=
		n=$(cat "$UET_WIRE_TMP/neigh0" "$UET_WIRE_TMP/neigh1" | grep -c 'PROBE\|FAILED\|INCOMPLETE')
		cat "$UET_WIRE_TMP/neigh0" "$UET_WIRE_TMP/neigh1" | sed 's/^/neigh: /' |
			while IFS= read -r m0; do ktap_print_msg "$m0"; done
		ok=false
		[ "$n" -eq 0 ] && [ "$(grep -o lladdr <<<"$f" | wc -l)" -eq 2 ] &&
			[ "${f/FAILED/}" = "$f" ] && [ "${f/monitor died/}" = "$f" ] && ok=true
		ktap_test_result "transfers kept their neighbour entries confirmed: $n probed or failed" "$ok" ;;
	esac
}

UET_WIRE_NET=$net uet_wire_runs "$UET_DIR/uet_rma" "$tag"
ktap_finished
