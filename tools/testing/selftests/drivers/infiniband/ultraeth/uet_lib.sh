#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Shared helpers for the uet_soft selftests (sourced).

UET_DIR="$(dirname "$(readlink -f "$0")")"
KTAP_HELPERS="$UET_DIR/../../../kselftest/ktap_helpers.sh"
if [ -e "$KTAP_HELPERS" ]; then
	# shellcheck source=/dev/null
	source "$KTAP_HELPERS"
else
	echo "$KTAP_HELPERS not found [SKIP]"
	exit 4
fi

# iproute2's tools by path: busybox applets of the same name may shadow them.
IP=$(type -P ip)
RDMA=$(type -P rdma)

# uet_require_cmd CMD...: skip the whole test if a tool is missing
uet_require_cmd() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			ktap_skip_all "$c is not installed"
			exit "$KSFT_SKIP"
		fi
	done
}

# uet_require_module MOD: skip if the module is not available
uet_require_module() {
	if ! modprobe -n -q "$1" 2>/dev/null && [ ! -d "/sys/module/$1" ]; then
		ktap_skip_all "module $1 is not available"
		exit "$KSFT_SKIP"
	fi
}

# uet_veth_pair A B [NS]: a veth pair A<->B, B moved into netns NS if given,
# with 10.77.0.1/24 on A and 10.77.0.2/24 on B, both up.
uet_veth_pair() {
	local a=$1 b=$2 ns=${3:-}
	"$IP" link add "$a" type veth peer name "$b" || return 1
	"$IP" addr add 10.77.0.1/24 dev "$a" && "$IP" link set "$a" up || return 1
	if [ -n "$ns" ]; then
		"$IP" netns add "$ns" || return 1
		"$IP" link set "$b" netns "$ns" || return 1
		"$IP" -n "$ns" addr add 10.77.0.2/24 dev "$b" || return 1
		"$IP" -n "$ns" link set "$b" up && "$IP" -n "$ns" link set lo up
	else
		"$IP" addr add 10.77.0.2/24 dev "$b" && "$IP" link set "$b" up
	fi
}

# uet_gid_index DEV IPV4: the GID table index holding IPv4 address IPV4
# (as an IPv4-mapped IPv6 GID), or nothing.
uet_gid_index() {
	local dev=$1 addr=$2 f want
	want=$(printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' $(echo "$addr" | tr . ' '))
	for f in /sys/class/infiniband/"$dev"/ports/1/gids/*; do
		if [ "$(cat "$f" 2>/dev/null)" = "$want" ]; then
			basename "$f"
			return 0
		fi
	done
	return 1
}

# uet_wait_for CMD... : retry CMD for up to 10 s
uet_wait_for() {
	local i
	for i in $(seq 1 50); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# uet_require_prog PROG...: skip if a program of this directory was not
# built (they need our rdma-core at kselftest build time)
uet_require_prog() {
	local p
	for p in "$@"; do
		if [ ! -x "$UET_DIR/$p" ]; then
			ktap_skip_all "$p was not built (RDMA_CORE_STAGE unset at build time?)"
			exit "$KSFT_SKIP"
		fi
	done
}

# uet_rdma_dev_exists NAME: the ib_device NAME is registered
uet_rdma_dev_exists() {
	[ -e "/sys/class/infiniband/$1" ]
}

# uet_rdma_dev_gone NAME: the ib_device NAME is not registered
uet_rdma_dev_gone() {
	[ ! -e "/sys/class/infiniband/$1" ]
}

# uet_rdma OUTVAR ARGS...: run the rdma tool, its output (stdout and
# stderr) in OUTVAR, returns its exit status
uet_rdma() {
	local __out=$1 __o __rc
	shift
	__o=$("$RDMA" "$@" 2>&1)
	__rc=$?
	printf -v "$__out" '%s' "$__o"
	return $__rc
}

# For wrappers of programs that print their own TAP (kselftest_harness):
# uet_harness_skip MSG skips the whole test before the program runs;
# uet_harness_setup_fail MSG fails it.
uet_harness_skip() {
	ktap_print_header
	ktap_skip_all "$1"
	exit "$KSFT_SKIP"
}

uet_harness_setup_fail() {
	ktap_print_header
	ktap_exit_fail_msg "setup: $1"
}

# uet_harness_require PROG: skip unless PROG was built, the rdma tool and
# uet_soft are available
uet_harness_require() {
	[ -x "$UET_DIR/$1" ] || uet_harness_skip "$1 was not built (RDMA_CORE_STAGE unset at build time?)"
	[ -n "$RDMA" ] || uet_harness_skip "the rdma tool is not installed"
	modprobe -n -q uet_soft 2>/dev/null || [ -d /sys/module/uet_soft ] ||
		uet_harness_skip "module uet_soft is not available"
}

# uet_uet0_up: load uet_soft, make the veth pair veth0<->veth1 (up) and
# uet0 on veth0. On failure prints why and returns 1.
uet_uet0_up() {
	local out
	modprobe uet_soft || { echo "cannot load uet_soft"; return 1; }
	uet_veth_pair veth0 veth1 || { echo "cannot create the veth pair"; return 1; }
	uet_rdma out link add uet0 type uet netdev veth0 ||
		{ echo "rdma link add uet0 type uet netdev veth0: $out"; return 1; }
}

# uet_uet0_down: undo uet_uet0_up (for EXIT traps); never fails
uet_uet0_down() {
	uet_delete_links
	"$IP" link delete veth0 2>/dev/null
	modprobe -r uet_soft 2>/dev/null
	return 0
}

# uet_delete_links: delete every uet* rdma link
uet_delete_links() {
	local d
	for d in /sys/class/infiniband/uet*; do
		[ -e "$d" ] && "$RDMA" link delete "${d##*/}" 2>/dev/null
	done
}

# uet_hold_start LOG ARGS...: start uet_hold ARGS in the background with
# its output in LOG and wait (10 s) until it printed "ready". Sets
# UET_HOLD_PID. Fails (with the log as a message) if it exited or never
# got ready.
uet_hold_start() {
	local log=$1 i
	shift
	"$UET_DIR/uet_hold" "$@" >"$log" 2>&1 &
	UET_HOLD_PID=$!
	for i in $(seq 1 50); do
		grep -q '^ready' "$log" && return 0
		kill -0 "$UET_HOLD_PID" 2>/dev/null || break
		sleep 0.2
	done
	ktap_print_msg "uet_hold $*: not ready: $(tr '\n' ' ' <"$log")"
	return 1
}

# uet_wait_pid PID SECONDS: wait for background job PID to exit; returns
# its exit status, or 124 if it still runs after SECONDS
uet_wait_pid() {
	local pid=$1 i
	for i in $(seq 1 $(($2 * 5))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$pid" 2>/dev/null && return 124
	wait "$pid"
}

# uet_port_state DEV: the port state as ibv_devinfo prints it
# (PORT_ACTIVE, PORT_DOWN, ...)
uet_port_state() {
	ibv_devinfo -d "$1" 2>/dev/null | awk '/state:/ {print $2; exit}'
}

# uet_port_state_is DEV STATE
uet_port_state_is() {
	[ "$(uet_port_state "$1")" = "$2" ]
}

# uet_wire_runs PROG TAG: runs the kselftest_harness program PROG between
# two uet devices on a veth wire across two network namespaces, once per
# line of the array RUNS ("wire name|4 or 6|netem args|harness cases|
# extra env"), with the netem args on both ends of the wire (none: a clean
# wire). Each case of each run is one KTAP result, "<wire>: <case>". TAG
# (a letter) names what it makes, so that two such tests do not collide:
#   uet${TAG}0 on v${TAG}0 (10.N.0.1, fdN::1) in the current namespace,
#   uet${TAG}1 on v${TAG}1 (10.N.0.2, fdN::2) in namespace uet-$TAG-peer,
# N being UET_WIRE_NET (77 unless set). PROG gets UET_DEV0/1, UET_NS1,
# UET_ADDR0/1, UET_ADDR_SILENT and the run's extra env. With UET_WIRE_HOOK
# set (a function), "$UET_WIRE_HOOK setup V0 NS V1 PEER0 PEER1" runs once
# the wire is up (PEER0: V1's IPv4 address, PEER1: V0's), and
# "$UET_WIRE_HOOK check ..." after the runs, adding UET_WIRE_HOOK_TESTS
# results of its own.
uet_wire_runs() {
	local prog=$1 tag=$2 net=${UET_WIRE_NET:-77}
	local ns=uet-$tag-peer d0=uet${tag}0 d1=uet${tag}1 v0=v${tag}0 v1=v${tag}1
	local r plan=0 wire fam qd cases extra c count log rc line out t0
	local a4=10.$net.0 a6=fd$net:
	local -a addrs args

	ktap_print_header
	[ -x "$prog" ] || { ktap_skip_all "$(basename "$prog") was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
	uet_require_cmd "$RDMA" "$IP" tc
	uet_require_module uet_soft

	UET_WIRE_TMP=$(mktemp -d)
	UET_WIRE_CLEANUP="'$IP' netns exec $ns '$RDMA' link delete $d1; '$RDMA' link delete $d0; '$IP' link delete $v0; '$IP' netns delete $ns"
	trap 'eval "$UET_WIRE_CLEANUP" 2>/dev/null; rm -rf "$UET_WIRE_TMP"; modprobe -r uet_soft 2>/dev/null; true' EXIT

	for r in "${RUNS[@]}"; do
		IFS='|' read -r wire fam qd cases extra <<<"$r"
		plan=$((plan + $(wc -w <<<"$cases")))
	done
	[ -n "$UET_WIRE_LOSSY" ] && plan=$((plan + 1))
	[ -n "$UET_WIRE_HOOK" ] && plan=$((plan + ${UET_WIRE_HOOK_TESTS:-0}))
	ktap_set_plan "$plan"

	modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
	"$IP" netns add "$ns" &&
		"$IP" link add "$v0" type veth peer name "$v1" netns "$ns" &&
		"$IP" addr add "$a4.1/24" dev "$v0" &&
		"$IP" addr add "${a6}:1/64" dev "$v0" nodad &&
		"$IP" link set "$v0" up &&
		"$IP" -n "$ns" addr add "$a4.2/24" dev "$v1" &&
		"$IP" -n "$ns" addr add "${a6}:2/64" dev "$v1" nodad &&
		"$IP" -n "$ns" link set "$v1" up &&
		"$IP" -n "$ns" link set lo up ||
		ktap_exit_fail_msg "cannot create the namespace and the veth pair"
	uet_rdma out link add "$d0" type uet netdev "$v0" ||
		ktap_exit_fail_msg "rdma link add $d0 type uet netdev $v0: $out"
	out=$("$IP" netns exec "$ns" "$RDMA" link add "$d1" type uet netdev "$v1" 2>&1) ||
		ktap_exit_fail_msg "$ns: rdma link add $d1 type uet netdev $v1: $out"
	uet_wait_for uet_gid_index "$d0" "$a4.1" ||
		ktap_print_msg "$d0 has no GID for $a4.1 (continuing)"
	[ -n "$UET_WIRE_HOOK" ] && "$UET_WIRE_HOOK" setup "$v0" "$ns" "$v1" "$a4.2" "$a4.1"

	for r in "${RUNS[@]}"; do
		IFS='|' read -r wire fam qd cases extra <<<"$r"
		if ! uet_wire_netem "$v0" "$ns" "$v1" "$qd"; then
			for c in $cases; do
				ktap_test_fail "$wire: $c (tc qdisc add ... netem $qd failed)"
			done
			continue
		fi
		if [ "$fam" = 6 ]; then
			addrs=(UET_ADDR0="${a6}:1" UET_ADDR1="${a6}:2" UET_ADDR_SILENT="${a6}:99")
		else
			addrs=(UET_ADDR0="$a4.1" UET_ADDR1="$a4.2" UET_ADDR_SILENT="$a4.99")
		fi
		args=()
		for c in $cases; do
			args+=(-t "${c#*.}")
		done
		log=$UET_WIRE_TMP/run.log
		ktap_print_msg "wire: $wire${qd:+ (netem $qd)}, IPv$fam${extra:+, $extra}; $d0 counters before: $(uet_wire_stats "$d0")"
		t0=$(date +%s)
		# shellcheck disable=SC2086
		env UET_DEV0="$d0" UET_DEV1="$d1" UET_NS1="$ns" "${addrs[@]}" $extra \
			"$prog" "${args[@]}" >"$log" 2>&1
		rc=$?
		sed 's/^/    /' "$log" | while IFS= read -r line; do ktap_print_msg "$line"; done
		ktap_print_msg "$(basename "$prog") exited $rc after $(($(date +%s) - t0)) s; $d0 counters after: $(uet_wire_stats "$d0")"
		for c in $cases; do
			line=$(grep -E "^(not )?ok [0-9]+ $c( |$)" "$log" | head -n 1)
			case "$line" in
			"ok "*"# SKIP"*) ktap_test_skip "$wire: $c (${line#*# SKIP })" ;;
			"ok "*) ktap_test_pass "$wire: $c" ;;
			"not ok "*) ktap_test_fail "$wire: $c" ;;
			*) ktap_test_fail "$wire: $c (did not run to its end; exited $rc)" ;;
			esac
		done
	done
	uet_wire_netem "$v0" "$ns" "$v1" ""
	# With UET_WIRE_LOSSY set (every run drops packets), the devices'
	# loss recovery counters must show that packets were judged lost by
	# time (RACK) and resent, and no more resends were spurious than sent.
	if [ -n "$UET_WIRE_LOSSY" ]; then
		local f0 f1 r0 r1 s0 s1
		f0=$(uet_counter - "$d0" fast_retransmissions)
		f1=$(uet_counter "$ns" "$d1" fast_retransmissions)
		r0=$(uet_counter - "$d0" retransmissions)
		r1=$(uet_counter "$ns" "$d1" retransmissions)
		s0=$(uet_counter - "$d0" spurious_retransmissions)
		s1=$(uet_counter "$ns" "$d1" spurious_retransmissions)
		ktap_print_msg "$d0/$d1: fast_retransmissions $f0/$f1, retransmissions $r0/$r1, spurious_retransmissions $s0/$s1"
		local ok=false
		# -1: no such counter (each must be there, not just their sum)
		[ "$f0" -ge 0 ] && [ "$f1" -ge 0 ] && [ $((f0 + f1)) -gt 0 ] &&
			[ "$s0" -ge 0 ] && [ "$s1" -ge 0 ] &&
			[ "$s0" -le "$r0" ] && [ "$s1" -le "$r1" ] && ok=true
		ktap_test_result "lossy runs: packets judged lost by time were resent, no more spurious resends than resends" "$ok"
	fi
	[ -n "$UET_WIRE_HOOK" ] && "$UET_WIRE_HOOK" check "$v0" "$ns" "$v1" "$a4.2" "$a4.1"
	true
}

# uet_counter NS DEV NAME: counter NAME of DEV's port 1 (NS "-": the
# current namespace), -1 if the device has no such counter
uet_counter() {
	local -a pre=()
	[ "$1" != - ] && pre=("$IP" netns exec "$1")
	"${pre[@]}" "$RDMA" statistic show link "$2/1" 2>/dev/null | tr '\n' ' ' |
		awk -v n="$3" '{ for (i = 1; i < NF; i++) if ($i == n) { print $(i + 1); f = 1; exit } } END { if (!f) print -1 }'
}

# uet_wire_netem DEV0 NS DEV1 QDISC-ARGS: netem on both ends ("" removes it)
uet_wire_netem() {
	tc qdisc del dev "$1" root 2>/dev/null
	"$IP" netns exec "$2" tc qdisc del dev "$3" root 2>/dev/null
	[ -z "$4" ] && return 0
	# shellcheck disable=SC2086
	tc qdisc add dev "$1" root netem $4 &&
		"$IP" netns exec "$2" tc qdisc add dev "$3" root netem $4
}

# uet_wire_stats DEV: the device's counters on one line
uet_wire_stats() {
	"$RDMA" statistic show link "$1"/1 2>&1 | tr -s ' \n' ' '
}
