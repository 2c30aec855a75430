#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Faults under traffic, each repeated $UET_FAULT_CYCLES times (default
# 100) while uet_churn moves content-checked messages between two uet
# devices in two namespaces:
#  - ridden out (one transfer runs through all cycles of a kind and must
#    end with every message intact and no error completion): the peer's
#    netdev down and up, MTU changes on both ends, the IPv4 address
#    removed and added again, and an attempt to unload the module in use
#    (refused) in every cycle;
#  - ending the transfer (a fresh transfer per cycle; every request must
#    complete once or the device be reported gone, the process must not
#    hang, no endpoint may be left): rdma link delete and add, the netdev
#    deleted and created again, and the job revoked (uet_churn revoke,
#    alternately on either side);
#  - one rank killed with SIGKILL mid-transfer, A (the sender) in odd
#    cycles, B (the receiver) in even ones, each rank a process of its
#    own (uet_churn side a|b): the survivor must finish by itself with
#    status 0 (A: every send it posted completed exactly once, errors
#    allowed, within 60 s; B: every message intact, none twice, its
#    endpoint destroyed on the stop file) and no endpoint may be left.
# Afterwards: the module unloads, memory held in uet's slab caches and the
# skbuff caches is back near the baseline, and the kernel log is clean.

source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-fc-peer
CHURN=$UET_DIR/uet_churn
CYCLES=${UET_FAULT_CYCLES:-100}

ktap_print_header
[ -x "$CHURN" ] || { ktap_skip_all "uet_churn was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP"
uet_require_module uet_soft

T=$(mktemp -d)
CPID= APID= BPID=
cleanup() {
	[ -n "$CPID" ] && kill -9 "$CPID" 2>/dev/null
	[ -n "$APID" ] && kill -9 "$APID" 2>/dev/null
	[ -n "$BPID" ] && kill -9 "$BPID" 2>/dev/null
	"$IP" netns exec "$NS" "$RDMA" link delete uetc1 2>/dev/null
	"$RDMA" link delete uetc0 2>/dev/null
	"$IP" link delete vfc0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

ktap_set_plan 14

dmesg_mark="uet_fault_cycles: start $$"
echo "$dmesg_mark" >/dev/kmsg

export UET_DEV0=uetc0 UET_DEV1=uetc1 UET_NS1=$NS UET_ADDR0=10.82.0.1 UET_ADDR1=10.82.0.2

wire_up() {
	"$IP" link add vfc0 type veth peer name vfc1 netns "$NS" &&
		"$IP" addr add 10.82.0.1/24 dev vfc0 && "$IP" link set vfc0 up &&
		"$IP" -n "$NS" addr add 10.82.0.2/24 dev vfc1 &&
		"$IP" -n "$NS" link set vfc1 up
}

devs_up() {
	"$RDMA" link add uetc0 type uet netdev vfc0 &&
		"$IP" netns exec "$NS" "$RDMA" link add uetc1 type uet netdev vfc1 &&
		uet_wait_for uet_gid_index uetc0 10.82.0.1
}

setup() {
	modprobe uet_soft || return 1
	"$IP" netns add "$NS" 2>/dev/null
	"$IP" -n "$NS" link set lo up
	wire_up && devs_up
}

counter() { # ns|- dev name
	local pre=()
	[ "$1" != - ] && pre=("$IP" netns exec "$1")
	"${pre[@]}" "$RDMA" statistic show link "$2/1" 2>/dev/null |
		tr ' ' '\n' | awk -v n="$3" '$0 == n { getline; print; f = 1 } END { if (!f) print -1 }'
}

# Bytes in the slab caches a leak would grow: uet's own (none of its
# objects has a cache of its own today: kmalloc-*), skbuff heads and
# kmalloc; from /proc/slabinfo (active objects x object size).
slab_bytes() {
	awk '/^(skbuff|kmalloc-[0-9]|uet)/ { s += $2 * $4 } END { print s + 0 }' /proc/slabinfo 2>/dev/null
}

# Starts uet_churn traffic in the background (args go to it); waits until
# its first messages arrived intact. CPID is its pid.
churn_start() {
	rm -f "$T/ready" "$T/stop"
	"$CHURN" traffic --ready "$T/ready" --stop "$T/stop" "$@" >"$T/churn" 2>&1 &
	CPID=$!
	local i
	for ((i = 0; i < 300; i++)); do
		[ -e "$T/ready" ] && return 0
		kill -0 "$CPID" 2>/dev/null || break
		sleep 0.1
	done
	ktap_print_msg "uet_churn did not start: $(cat "$T/churn")"
	return 1
}

# Waits up to $1 s for uet_churn to exit: its status in CRC (124: still
# running, then killed).
churn_wait() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		if ! kill -0 "$CPID" 2>/dev/null; then
			wait "$CPID"
			CRC=$?
			CPID=
			return 0
		fi
		sleep 0.1
	done
	kill -9 "$CPID" 2>/dev/null
	wait "$CPID" 2>/dev/null
	CRC=124
	CPID=
	return 1
}

# The counters that tell a loss from a refusal, of both devices.
counters() {
	local n
	for n in tx_packets rx_packets tx_errors rx_drop_malformed rx_drop_no_endpoint rx_drop_other retransmissions rto nacks_received pdc_errors; do
		printf '%s %s/%s ' "$n" "$(counter - uetc0 $n)" "$(counter "$NS" uetc1 $n)"
	done
}

# Stops a strict transfer and checks it: every message intact, no error.
churn_finish() {
	touch "$T/stop"
	churn_wait 60
	ktap_print_msg "$1: $(tail -1 "$T/churn") (rc $CRC)"
	[ "$CRC" = 0 ] && return 0
	ktap_print_msg "uetc0/uetc1: $(counters)"
	return 1
}

no_endpoints() {
	[ "$(counter - uetc0 endpoints)" = 0 ] && [ "$(counter "$NS" uetc1 endpoints)" = 0 ]
}

setup || ktap_exit_fail_msg "cannot set up the namespaces and devices"
slab0=$(slab_bytes)
ktap_print_msg "$CYCLES cycles of each fault; slab baseline $slab0 bytes"

# Waits up to 10 s until the peer device has received 20 more packets
# than $1: the transfer goes on.
progress_since() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(counter "$NS" uetc1 rx_packets)" -gt $(($1 + 20)) ] && return 0
		kill -0 "$CPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# 1: the peer's netdev down for 20 ms, then up; the next cycle once the
# transfer has moved on. The carrier loss flushes the neighbour entries
# on both ends: a flap costs a neighbour resolution, a second or more
# when a solicitation is lost while the link is down (the engine's
# least failure time, Config::min_fail_time, is for this).
# Back-to-back flaps (every 70 ms) are not ridden out: a neighbour
# solicitation lost three times in a row makes the entry fail after 3 s
# of silence, as it would for TCP's SYN, and the PDC fails with it.
stalled=
if churn_start; then
	for ((c = 0; c < CYCLES; c++)); do
		rx=$(counter "$NS" uetc1 rx_packets)
		"$IP" -n "$NS" link set vfc1 down
		sleep 0.02
		"$IP" -n "$NS" link set vfc1 up
		progress_since "$rx" || { stalled="no progress after flap $c"; break; }
	done
	churn_finish "netdev down/up${stalled:+ ($stalled)}"
	rc=$?
	[ -n "$stalled" ] && rc=1
	ktap_test_result "netdev down/up x$CYCLES under traffic: every message intact" [ "$rc" -eq 0 ]
else
	ktap_test_fail "netdev down/up x$CYCLES under traffic: every message intact (no traffic)"
fi

# 2: MTU changes on both ends (below, then back to the MTU the devices
# were created with), and an unload attempt each time, refused.
refused=0
if churn_start; then
	for ((c = 0; c < CYCLES; c++)); do
		mtu=$((1280 + (c % 4) * 60))
		"$IP" link set vfc0 mtu $mtu
		"$IP" -n "$NS" link set vfc1 mtu $mtu
		modprobe -r uet_soft 2>/dev/null || refused=$((refused + 1))
		sleep 0.02
		"$IP" link set vfc0 mtu 1500
		"$IP" -n "$NS" link set vfc1 mtu 1500
		sleep 0.05
	done
	churn_finish "MTU changes"
	ktap_test_result "MTU changes x$CYCLES under traffic: every message intact" [ $? -eq 0 ]
else
	ktap_test_fail "MTU changes x$CYCLES under traffic: every message intact (no traffic)"
fi
ktap_test_result "modprobe -r uet_soft in use refused $refused of $CYCLES times" [ "$refused" = "$CYCLES" ]

# 3: the IPv4 address removed and added again.
if churn_start; then
	for ((c = 0; c < CYCLES; c++)); do
		"$IP" addr del 10.82.0.1/24 dev vfc0
		sleep 0.02
		"$IP" addr add 10.82.0.1/24 dev vfc0
		sleep 0.05
	done
	churn_finish "address removed and added"
	ktap_test_result "IP address removal and re-add x$CYCLES under traffic: every message intact" [ $? -eq 0 ]
else
	ktap_test_fail "IP address removal and re-add x$CYCLES under traffic: every message intact (no traffic)"
fi

# A cycle that ends the transfer: $1 breaks it, $2 mends the setup. The
# transfer must end by itself (accounted, or told the device is gone), no
# endpoint may be left once the devices are back.
destructive() {
	local name=$1 brk=$2 mend=$3 c bad=0 why=
	for ((c = 0; c < CYCLES; c++)); do
		if ! churn_start --lenient; then
			why="cycle $c: no traffic"
			bad=1
			break
		fi
		$brk
		if ! churn_wait 60; then
			why="cycle $c: uet_churn hung: $(tail -1 "$T/churn")"
			bad=1
		elif [ "$CRC" != 0 ] && [ "$CRC" != 137 ]; then
			why="cycle $c: uet_churn failed (rc $CRC): $(tail -1 "$T/churn")"
			bad=1
		fi
		# Restored whatever happened: a failure must not take the later
		# cases' devices with it.
		if ! $mend; then
			why="${why:+$why; }cycle $c: cannot restore the devices"
			bad=1
		fi
		[ $bad = 1 ] && break
		if ! uet_wait_for no_endpoints; then
			why="cycle $c: endpoints left"
			bad=1
			break
		fi
	done
	ktap_print_msg "$name: ${why:-$c cycles, last: $(tail -1 "$T/churn")}"
	return $bad
}

# 4: rdma link delete and add of one device.
link_del() { "$RDMA" link delete uetc0; }
link_add() { "$RDMA" link add uetc0 type uet netdev vfc0 && uet_wait_for uet_gid_index uetc0 10.82.0.1; }
destructive "rdma link delete/add" link_del link_add
ktap_test_result "rdma link delete/add x$CYCLES mid-transfer: no hang, nothing left" [ $? -eq 0 ]

# After its device is gone, a fresh side whose CQs completed nothing posts
# a receive and a send: its CQs must return no completion (every mapping
# then reads as one shared page those posts write into: uet_cqe.seq).
# Deterministic, so a few times suffice.
gone_ok=0
for ((c = 0; c < 5; c++)); do
	rm -f "$T/ready"
	"$CHURN" gone --ready "$T/ready" >"$T/gone" 2>&1 &
	CPID=$!
	uet_wait_for test -e "$T/ready" || break
	link_del
	churn_wait 60
	grep -q "no completion from the gone device" "$T/gone" && [ "$CRC" = 0 ] && gone_ok=$((gone_ok + 1))
	link_add || break
done
ktap_print_msg "gone device: $(tail -1 "$T/gone")"
ktap_test_result "no completion from a deleted device's CQs: $gone_ok of 5" [ "$gone_ok" = 5 ]

# 5: the netdev deleted (both ends of the veth go, and both devices).
wire_del() { "$IP" link delete vfc0; }
wire_add() { uet_wait_for uet_rdma_dev_gone uetc0 && uet_wait_for uet_rdma_dev_gone uetc1 && wire_up && devs_up; }
destructive "netdev deleted" wire_del wire_add
ktap_test_result "netdev deletion x$CYCLES mid-transfer: no hang, nothing left" [ $? -eq 0 ]

# 6: one rank killed with SIGKILL mid-transfer, the other survives: A
# (the sender) in odd cycles, B (the receiver) in even ones. Each rank is
# a process of its own (uet_churn side a|b; they exchange their endpoint
# numbers through files in $T/x). The survivor must finish by itself:
# B on the stop file (every message intact, none twice, its endpoint
# destroyed with receives posted), A once every send it posted completed
# exactly once (errors allowed: its peer is gone; its own bound 60 s).
# A survivor still running after 120 s is a hang.

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# Waits up to $2 s for process $1 to exit: its status in PRC (124: still
# running, then killed).
pid_wait() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			PRC=$?
			return 0
		fi
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	PRC=124
	return 1
}

# Starts B, then A; waits until B received its first messages intact.
split_start() {
	rm -rf "$T/x"
	mkdir "$T/x"
	"$CHURN" side b --dir "$T/x" --ready "$T/x/ready" --stop "$T/x/stop" >"$T/b" 2>&1 &
	BPID=$!
	"$CHURN" side a --dir "$T/x" --stop "$T/x/stop" >"$T/a" 2>&1 &
	APID=$!
	local i
	for ((i = 0; i < 300; i++)); do
		[ -e "$T/x/ready" ] && return 0
		kill -0 "$APID" 2>/dev/null && kill -0 "$BPID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

kill_one() {
	local c why= kills_a=0 kills_b=0 vpid spid victim survivor t0=$SECONDS worst=0 t1 n
	local intact=0 sends_ok=0 sends_err=0
	for ((c = 1; c <= CYCLES; c++)); do
		if ! split_start; then
			why="cycle $c: no traffic: A: $(tail -1 "$T/a"); B: $(tail -1 "$T/b")"
			kill -9 "$APID" "$BPID" 2>/dev/null
			{ wait "$APID" "$BPID"; } 2>/dev/null
			APID= BPID=
			break
		fi
		if ((c % 2)); then
			victim=A vpid=$APID survivor=B spid=$BPID
		else
			victim=B vpid=$BPID survivor=A spid=$APID
		fi
		kill -9 "$vpid"
		# (braced: no "Killed" notice from bash in the output)
		{ wait "$vpid"; PRC=$?; } 2>/dev/null
		t1=$(now_ms)
		touch "$T/x/stop"
		if [ "$PRC" != 137 ]; then
			why="cycle $c: $victim had exited before the kill (rc $PRC): $(tail -1 "$T/${victim,}")"
		fi
		if ! pid_wait "$spid" 120; then
			why="${why:+$why; }cycle $c: $survivor hung after $victim was killed: $(tail -1 "$T/${survivor,}")"
		elif [ "$PRC" != 0 ]; then
			why="${why:+$why; }cycle $c: $survivor failed after $victim was killed (rc $PRC): $(tail -1 "$T/${survivor,}")"
		fi
		APID= BPID=
		t1=$(($(now_ms) - t1))
		((t1 > worst)) && worst=$t1
		[ -n "$why" ] && break
		if ! uet_wait_for no_endpoints; then
			why="cycle $c: endpoints left: $(counter - uetc0 endpoints)/$(counter "$NS" uetc1 endpoints)"
			break
		fi
		if [ $victim = A ]; then
			kills_a=$((kills_a + 1))
			last_b=$(tail -1 "$T/b")
			n=$(sed -n 's/^uet_churn: B: \([0-9]*\) messages intact.*/\1/p' "$T/b")
			intact=$((intact + ${n:-0}))
		else
			kills_b=$((kills_b + 1))
			last_a=$(tail -1 "$T/a")
			n=$(sed -n 's/^uet_churn: A: .*: \([0-9]*\) ok, \([0-9]*\) errors.*/\1 \2/p' "$T/a")
			set -- $n
			sends_ok=$((sends_ok + ${1:-0})) sends_err=$((sends_err + ${2:-0}))
		fi
	done
	ktap_print_msg "SIGKILL of one rank: $kills_a of A, $kills_b of B in $((SECONDS - t0)) s, each survivor done within $worst ms of the kill${why:+; $why}"
	ktap_print_msg "B surviving: $intact messages intact in all; A surviving: $sends_ok sends ok and $sends_err failed, each completed once"
	ktap_print_msg "last B surviving A's kill: ${last_b:-none}"
	ktap_print_msg "last A surviving B's kill: ${last_a:-none}"
	[ -z "$why" ] && [ $((kills_a + kills_b)) = "$CYCLES" ]
}
kill_one
rc=$?
# whatever happened: no endpoint left on either device
uet_wait_for no_endpoints || rc=1
ktap_test_result "SIGKILL of one rank x$CYCLES mid-transfer (A, B alternately): the survivor completes, no endpoint left" [ $rc -eq 0 ]

# 7: REVOKE of the job mid-transfer, on either side.
out=$(timeout 1200 "$CHURN" revoke "$CYCLES" 2>&1)
rc=$?
ktap_print_msg "$(echo "$out" | tail -1) (rc $rc)"
ktap_test_result "REVOKE x$CYCLES mid-transfer: every request completes" [ $rc -eq 0 ]
ktap_test_result "no endpoint left after the revokes" uet_wait_for no_endpoints

# No PDC left on either device once the engine's quiet time (7.51 s) has
# passed: the pdcs_live gauge.
no_pdcs() {
	[ "$(counter - uetc0 pdcs_live)" = 0 ] && [ "$(counter "$NS" uetc1 pdcs_live)" = 0 ]
}
pdcs_gone() {
	local i
	for ((i = 0; i < 150; i++)); do
		no_pdcs && return 0
		sleep 0.1
	done
	return 1
}
pdcs_gone
ktap_test_result "no PDC left after the quiet time: $(counter - uetc0 pdcs_live)/$(counter "$NS" uetc1 pdcs_live) live, $(counter - uetc0 pdcs_reaped)/$(counter "$NS" uetc1 pdcs_reaped) reaped" no_pdcs

# Memory back near the baseline (within 4 MiB: slab caches keep free
# objects), then the module unloads once unused.
"$IP" netns exec "$NS" "$RDMA" link delete uetc1
"$RDMA" link delete uetc0
sleep 1
slab1=$(slab_bytes)
ktap_print_msg "slab: $slab0 -> $slab1 bytes"
# UET_FAULT_SLAB_KIB: the tolerance (the debug lane raises it: KASAN's
# quarantine keeps freed objects in the slab for a while; kmemleak is the
# leak check there)
tol=$((${UET_FAULT_SLAB_KIB:-4096} << 10))
ktap_test_result "slab memory back near the baseline (within $tol bytes)" [ $((slab1 - slab0)) -lt $tol ]
"$IP" link delete vfc0
"$IP" netns delete "$NS"
uet_wait_for modprobe -r uet_soft
ktap_test_result "modprobe -r uet_soft succeeds after the last user" [ ! -d /sys/module/uet_soft ]

# 10: no warning, bug or oops in the kernel log since the start.
bad=$(dmesg | sed -n "/$dmesg_mark/,\$p" | grep -E "WARNING:|BUG:|Oops|kmemleak|UBSAN|refcount_t|hung_task" | head -5)
ktap_print_msg "${bad:-kernel log clean}"
ktap_test_result "the kernel log has no warning" [ -z "$bad" ]

ktap_finished
