#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Soak: $UET_SOAK_SECONDS (default 600) of mixed operations between two
# uet devices in two namespaces, over a veth wire with tc netem on both
# ends ($UET_SOAK_NETEM, default 5% loss and reordering):
#  - uet_churn traffic, strict, the whole time: numbered 4 KiB messages,
#    every byte checked, none twice, no error completion;
#  - uet_xfer server (in the peer namespace) and client, one pair after
#    the other until the time is up: content-checked messages of 1 B to
#    1 MiB both ways, bursts, RMA writes and reads up to 4 MiB, pipelined
#    writes, fetch-and-add and compare-and-swap.
# Afterwards: churn intact, every uet_xfer run passed, no endpoint left,
# no PDC failed, and after the engine's quiet time no PDC left in use;
# slab memory back near the baseline, the module unloads, the kernel log
# is clean. The figures (messages, runs, packets, retransmissions) are
# printed as ktap messages.
#
# Long: installed as a TEST_FILES script, run by `make soak`
# (tools/ultraeth/guest-soak.sh), not by the collection.

source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-soak-peer
CHURN=$UET_DIR/uet_churn
XFER=$UET_DIR/uet_xfer
SECS=${UET_SOAK_SECONDS:-600}
NETEM=${UET_SOAK_NETEM:-loss 5% delay 1ms reorder 25% 50%}
A0=10.86.0.1
A1=10.86.0.2

ktap_print_header
for p in "$CHURN" "$XFER"; do
	[ -x "$p" ] || { ktap_skip_all "$(basename "$p") was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
done
uet_require_cmd "$RDMA" "$IP" tc
uet_require_module uet_soft

T=$(mktemp -d)
CPID= SPID= XPID=
cleanup() {
	local p
	for p in $CPID $SPID $XPID; do kill -9 "$p" 2>/dev/null; done
	"$IP" netns exec "$NS" "$RDMA" link delete uets1 2>/dev/null
	"$RDMA" link delete uets0 2>/dev/null
	"$IP" link delete vsk0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

ktap_set_plan 10

dmesg_mark="uet_soak: start $$"
echo "$dmesg_mark" >/dev/kmsg

export UET_DEV0=uets0 UET_DEV1=uets1 UET_NS1=$NS UET_ADDR0=$A0 UET_ADDR1=$A1

counter() { # ns|- dev name: the counter's value, -1 if the device has none
	local pre=()
	[ "$1" != - ] && pre=("$IP" netns exec "$1")
	"${pre[@]}" "$RDMA" statistic show link "$2/1" 2>/dev/null |
		tr ' ' '\n' | awk -v n="$3" '$0 == n { getline; print; f = 1 } END { if (!f) print -1 }'
}

# name: "value0/value1" of both devices
both() {
	echo "$(counter - uets0 "$1")/$(counter "$NS" uets1 "$1")"
}

# sum of a counter over both devices
sum() {
	echo $(($(counter - uets0 "$1") + $(counter "$NS" uets1 "$1")))
}

# Bytes in the slab caches a leak would grow (as uet_fault_cycles.sh):
# uet's own, skbuff heads and kmalloc.
slab_bytes() {
	awk '/^(skbuff|kmalloc-[0-9]|uet)/ { s += $2 * $4 } END { print s + 0 }' /proc/slabinfo 2>/dev/null
}

# PDCs in use on a device: the pdcs_live gauge if the device has it,
# else what the totals tell: opened - closed - failed - reaped (without
# a pdcs_reaped counter a reaped PDC counts as live: an upper bound).
live_pdcs() { # ns|- dev
	local v o c e r
	v=$(counter "$1" "$2" pdcs_live)
	if [ "$v" != -1 ]; then
		echo "$v"
		return
	fi
	o=$(counter "$1" "$2" pdcs_opened)
	c=$(counter "$1" "$2" pdcs_closed)
	e=$(counter "$1" "$2" pdc_errors)
	r=$(counter "$1" "$2" pdcs_reaped)
	[ "$r" = -1 ] && r=0
	echo $((o - c - e - r))
}

no_live_pdcs() {
	[ "$(live_pdcs - uets0)" = 0 ] && [ "$(live_pdcs "$NS" uets1)" = 0 ]
}

no_endpoints() {
	[ "$(counter - uets0 endpoints)" = 0 ] && [ "$(counter "$NS" uets1 endpoints)" = 0 ]
}

# result DESC CONDITION...: one ktap result, CONDITION a shell expression
# (ktap_test_result word-splits its command, and empty words vanish)
result() {
	local d=$1
	shift
	if eval "$*"; then ktap_test_pass "$d"; else ktap_test_fail "$d"; fi
}

figures() {
	local n out=
	for n in tx_packets rx_packets retransmissions rto nacks_received rx_duplicates pdcs_opened pdcs_closed pdc_errors pdcs_reaped; do
		out="$out$n $(both $n), "
	done
	echo "${out}live PDCs $(live_pdcs - uets0)/$(live_pdcs "$NS" uets1), endpoints $(both endpoints)"
}

setup() {
	modprobe uet_soft || return 1
	"$IP" netns add "$NS" &&
		"$IP" -n "$NS" link set lo up &&
		"$IP" link add vsk0 type veth peer name vsk1 netns "$NS" &&
		"$IP" addr add $A0/24 dev vsk0 && "$IP" link set vsk0 up &&
		"$IP" -n "$NS" addr add $A1/24 dev vsk1 &&
		"$IP" -n "$NS" link set vsk1 up &&
		"$RDMA" link add uets0 type uet netdev vsk0 &&
		"$IP" netns exec "$NS" "$RDMA" link add uets1 type uet netdev vsk1 &&
		uet_wait_for uet_gid_index uets0 $A0
}

# the caches of slab_bytes whose bytes grew most since the copy of
# /proc/slabinfo in $1: "name +KiB" of the top 5
slab_growth() {
	awk 'NR == FNR { if (/^(skbuff|kmalloc-[0-9]|uet)/) b[$1] = $2 * $4; next }
		/^(skbuff|kmalloc-[0-9]|uet)/ { d = $2 * $4 - b[$1]; if (d > 0) printf "%s +%d\n", $1, d / 1024 }' \
		"$1" /proc/slabinfo | sort -t+ -k2 -n -r | head -5 | tr '\n' ' '
}

setup || ktap_exit_fail_msg "cannot set up the namespaces and devices"
slab0=$(slab_bytes)
cat /proc/slabinfo >"$T/slabinfo0" 2>/dev/null

# 1: netem with loss and reordering on both ends of the wire
uet_wire_netem vsk0 "$NS" vsk1 "$NETEM"
rc=$?
result "tc netem $NETEM on both ends of the wire" '[ $rc = 0 ]'
ktap_print_msg "soak of $SECS s, netem $NETEM; slab baseline $slab0 bytes"

# uet_churn, strict, the whole time
rm -f "$T/ready" "$T/stop"
"$CHURN" traffic --ready "$T/ready" --stop "$T/stop" $((SECS + 120)) >"$T/churn" 2>&1 &
CPID=$!
for ((i = 0; i < 600; i++)); do
	[ -e "$T/ready" ] && break
	kill -0 "$CPID" 2>/dev/null || break
	sleep 0.1
done
[ -e "$T/ready" ] || ktap_print_msg "uet_churn did not start: $(cat "$T/churn")"

# uet_xfer pairs, one after the other, until the time is up
t0=$(date +%s)
end=$((t0 + SECS))
runs=0 passed=0 next_report=$((t0 + 60))
while [ "$(date +%s)" -lt "$end" ]; do
	port=$((18900 + runs % 50))
	"$IP" netns exec "$NS" "$XFER" -d uets1 -a $A1 -p $port -j 78 >"$T/xs" 2>&1 &
	SPID=$!
	"$XFER" -d uets0 -a $A0 -p $port -j 78 $A1 >"$T/xc" 2>&1 &
	XPID=$!
	uet_wait_pid "$XPID" 600
	crc=$?
	[ $crc = 124 ] && kill -9 "$XPID" 2>/dev/null
	XPID=
	uet_wait_pid "$SPID" 60
	src=$?
	[ $src = 124 ] && kill -9 "$SPID" 2>/dev/null
	SPID=
	runs=$((runs + 1))
	if [ $crc = 0 ] && [ $src = 0 ] && grep -q '^# client: 0 failed' "$T/xc" &&
		grep -q '^# server: 0 failed' "$T/xs"; then
		passed=$((passed + 1))
	else
		ktap_print_msg "uet_xfer run $runs failed (client exit $crc, server exit $src):"
		grep -h -E '^not ok|^# .*failed' "$T/xc" "$T/xs" | head -20 |
			while IFS= read -r l; do ktap_print_msg "    $l"; done
	fi
	if [ "$(date +%s)" -ge "$next_report" ]; then
		next_report=$((next_report + 60))
		ktap_print_msg "$(($(date +%s) - t0)) s: uet_xfer $passed/$runs passed; $(figures); slab $(slab_bytes)"
	fi
	kill -0 "$CPID" 2>/dev/null || { ktap_print_msg "uet_churn ended early: $(tail -1 "$T/churn")"; break; }
done
dur=$(($(date +%s) - t0))

# 2: churn intact
touch "$T/stop"
uet_wait_pid "$CPID" 120
crc=$?
[ $crc = 124 ] && kill -9 "$CPID" 2>/dev/null
CPID=
msgs=$(sed -n 's/^uet_churn: \([0-9]*\) messages intact, 0 error completions.*/\1/p' "$T/churn")
ktap_print_msg "uet_churn (exit $crc): $(tail -1 "$T/churn")"
result "uet_churn: ${msgs:-?} messages in $dur s, every one intact, no error completion" \
	'[ $crc = 0 ] && [ -n "$msgs" ] && [ "$msgs" -gt 0 ]'

# 3: every uet_xfer run passed
result "uet_xfer: $passed of $runs runs passed" '[ "$runs" -gt 0 ] && [ "$passed" = "$runs" ]'

ktap_print_msg "after $dur s: $(figures)"

# 4: no endpoint left once the processes are gone
uet_wait_for no_endpoints
rc=$?
result "no endpoint left (endpoints $(both endpoints))" '[ $rc = 0 ]'

# 5: no PDC failed
errs=$(sum pdc_errors)
result "no PDC failed (pdc_errors $(both pdc_errors))" '[ "$errs" = 0 ]'

# 6: every PDC closed (idle_close) or reaped (at the latest after the
# engine's quiet time, Config::quiet_time, 7.5 s): waits up to 30 s for
# none to be in use, and at least 10 s, then looks again
tq=$(date +%s)
for ((i = 0; i < 150; i++)); do
	no_live_pdcs && break
	sleep 0.2
done
ktap_print_msg "live PDCs $(live_pdcs - uets0)/$(live_pdcs "$NS" uets1) after $(($(date +%s) - tq)) s idle"
while [ $(($(date +%s) - tq)) -lt 10 ]; do sleep 1; done
tq=$(($(date +%s) - tq))
[ "$(counter - uets0 pdcs_live)" = -1 ] &&
	ktap_print_msg "no pdcs_live counter: live PDCs counted as opened - closed - failed - reaped"
ktap_print_msg "after $tq s idle: $(figures)"
result "no PDC in use $tq s after the traffic (live $(live_pdcs - uets0)/$(live_pdcs "$NS" uets1))" no_live_pdcs

# 7: slab memory back near the baseline (within 4 MiB), devices still up
sleep 1
slab1=$(slab_bytes)
ktap_print_msg "slab: $slab0 -> $slab1 bytes ($(((slab1 - slab0) / 1024)) KiB); grew most (KiB): $(slab_growth "$T/slabinfo0")"
result "slab memory back near the baseline (within 4 MiB)" '[ $((slab1 - slab0)) -lt $((4 << 20)) ]'

# 8: the devices and the module go
tc qdisc del dev vsk0 root 2>/dev/null
"$IP" netns exec "$NS" "$RDMA" link delete uets1
"$RDMA" link delete uets0
"$IP" link delete vsk0
"$IP" netns delete "$NS"
ktap_print_msg "slab after the devices went: $(slab_bytes) bytes"
uet_wait_for modprobe -r uet_soft
result "modprobe -r uet_soft succeeds" '[ ! -d /sys/module/uet_soft ]'
sleep 2
ktap_print_msg "slab after the unload: $(slab_bytes) bytes; grew most (KiB): $(slab_growth "$T/slabinfo0")"

# 9: the whole run took about the time asked
result "the soak ran its $SECS s (ran $dur s)" '[ "$dur" -ge "$SECS" ]'

# 10: no warning, bug or oops in the kernel log since the start
bad=$(dmesg | sed -n "/$dmesg_mark/,\$p" | grep -E "WARNING:|BUG:|Oops|kmemleak|UBSAN|refcount_t|hung_task|blocked for more than|soft lockup" | head -5)
ktap_print_msg "${bad:-kernel log clean}"
result "the kernel log has no warning" '[ -z "$bad" ]'

ktap_finished
