#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The two-machine test (make vm2, check.sh): runs in both guests of vm2.sh,
# each with its own kernel and a uet device on its only NIC:
#   guest a: uet0 on eth0, 10.77.0.1, the server of every pair
#   guest b: uet0 on eth0, 10.77.0.2, the client
# as between two hosts: the sample uet_pingpong under uet-launch
# (content-checked, several modes and sizes, then pairs at once),
# perftest's UET connection type (send, write, read) and uet_xfer
# (content-checked messages both ways, RMA write and read of up to 4 MiB,
# pipelined, fetch-and-add and compare-and-swap; on a clean wire, then
# with netem loss on both ends). Each guest prints TAP
# lines for what it saw ("ok N ..."/"not ok N ..."; vm2.sh prefixes them
# with "[a] "/"[b] "), then checks its own kernel log. Exit status: the
# number of failures (0: all passed).
#
# The guests coordinate through TCP barriers on the wire (sync_point): a
# starts its server, waits until it listens, then waits for b to connect
# to the barrier port; b connects (retrying while a is not there yet),
# then starts its client. A guest that fails its setup stops; the other
# stops at the next barrier (SYNC_S seconds).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
KSFT=/kselftest/drivers/infiniband/ultraeth
PP=$KSFT/uet_pingpong
IP=$(type -P ip)
RDMA=$(type -P rdma)
LAUNCH=$(type -P uet-launch)
ROLE=${UET_ROLE:?run by vm2.sh}
SYNC_S=${SYNC_S:-240}
T=$(mktemp -d)
n=0 fails=0

tap() { # tap STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n $ROLE: $2"
	else
		echo "not ok $n $ROLE: $2"
		fails=$((fails + 1))
	fi
}
diag() { echo "# $*"; }
show() { # show LABEL FILE: a program's output as diagnostics
	local l
	while IFS= read -r l; do diag "$1: $l"; done < <(grep -v -e '^-*$' -e '^ *\*' "$2")
}
finish() {
	echo "1..$n"
	diag "$ROLE: $((n - fails)) passed, $fails failed"
	exit "$fails"
}

# sync_point K: both guests are here (a listens on port 7100+K, b connects)
sync_point() {
	local port=$((7100 + $1)) end=$((SECONDS + SYNC_S))
	if [ "$ROLE" = a ]; then
		timeout "$SYNC_S" nc -l -p "$port" </dev/null >/dev/null 2>&1 && return 0
	else
		while [ $SECONDS -lt $end ]; do
			nc -w 2 "$UET_PEER" "$port" </dev/null >/dev/null 2>&1 && return 0
			sleep 0.3
		done
	fi
	tap 1 "barrier $1: the other guest did not come within ${SYNC_S}s"
	finish
}

# listening PORT: a TCP socket listens on PORT here
listening() { netstat -ltn 2>/dev/null | grep -q "[:.]$1 "; }

# counter NAME: uet0's counter NAME, or 0
counter() {
	"$RDMA" statistic show link uet0/1 2>/dev/null |
		tr ' ' '\n' | awk -v n="$1" '$0 == n { getline; print; f = 1 } END { if (!f) print 0 }'
}

gid_of() { # gid_of IPV4: the IPv4-mapped GID, as sysfs prints it
	# shellcheck disable=SC2046
	printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' $(echo "$1" | tr . ' ')
}
has_gid() {
	grep -qx "$(gid_of "$UET_ADDR")" /sys/class/infiniband/uet0/ports/1/gids/* 2>/dev/null
}

# ---- setup: the device on the wire, the peer reachable ----
diag "guest $ROLE ($UET_ADDR, peer $UET_PEER), kernel $(uname -r)"
out=$( { modprobe uet_soft && "$RDMA" link add uet0 type uet netdev eth0; } 2>&1)
tap $? "modprobe uet_soft; rdma link add uet0 type uet netdev eth0${out:+: $out}"
[ $fails -eq 0 ] || finish
for _ in $(seq 1 50); do has_gid && break; sleep 0.2; done
has_gid
tap $? "uet0 has the GID of $UET_ADDR (port state $(ibv_devinfo -d uet0 | awk '/state:/ {print $2; exit}'))"
# the other guest may still be booting
ok=1
for _ in $(seq 1 120); do
	ping -c 1 -W 1 "$UET_PEER" >/dev/null 2>&1 && { ok=0; break; }
done
tap $ok "the peer $UET_PEER answers ping over eth0"
[ $fails -eq 0 ] || finish
sync_point 0
tx0=$(counter tx_packets)
rx0=$(counter rx_packets)
total=0

# ---- uet_pingpong, one pair at a time ----
# name|options (both sides)|iterations
RUNS=(
	"4096 bytes, polling|-s 4096|500"
	"4096 bytes, completion events (-e)|-s 4096 -e|200"
	"ibv_wr_* and ibv_start_poll (-N)|-s 4096 -N|200"
	"tagged messages (-t)|-s 4096 -t|200"
	"0 bytes|-s 0|200"
	"65536 bytes|-s 65536|50"
)
k=0
for r in "${RUNS[@]}"; do
	IFS='|' read -r name opts iters <<<"$r"
	k=$((k + 1))
	port=$((18600 + k))
	want="content checked: $iters messages intact"
	if [ "$ROLE" = a ]; then
		# shellcheck disable=SC2086
		timeout 300 "$LAUNCH" --job-id 9 -n 1 -- "$PP" -d uet0 -p $port -n "$iters" -c $opts >"$T/pp" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do listening $port && break; sleep 0.1; done
		sync_point "$k"
		wait $pid
		rc=$?
		show server "$T/pp"
		[ $rc -eq 0 ] && grep -q "^$want$" "$T/pp"
		tap $? "uet_pingpong server, $name, $iters iterations: exit $rc, $want"
	else
		sync_point "$k"
		# shellcheck disable=SC2086
		timeout 300 "$LAUNCH" --job-id 9 -n 1 -- "$PP" -d uet0 -p $port -n "$iters" -c $opts "$UET_PEER" >"$T/pp" 2>&1
		rc=$?
		show client "$T/pp"
		[ $rc -eq 0 ] && grep -q "^$want$" "$T/pp" && grep -q "^$iters iters in " "$T/pp"
		tap $? "uet_pingpong client, $name, $iters iterations: exit $rc, $want"
	fi
	total=$((total + iters))
done

# ---- several pairs at once, each under a job of its own ----
PAIRS=3
PIT=100
k=$((k + 1))
pids=()
for ((i = 0; i < PAIRS; i++)); do
	port=$((18650 + i))
	if [ "$ROLE" = a ]; then
		timeout 300 "$LAUNCH" --job-id $((30 + i)) -n 1 -- "$PP" -d uet0 -p $port -n $PIT -c -s 4096 >"$T/m$i" 2>&1 &
		pids+=($!)
	fi
done
if [ "$ROLE" = a ]; then
	for _ in $(seq 1 100); do listening $((18650 + PAIRS - 1)) && break; sleep 0.1; done
	sync_point "$k"
else
	sync_point "$k"
	for ((i = 0; i < PAIRS; i++)); do
		timeout 300 "$LAUNCH" --job-id $((30 + i)) -n 1 -- "$PP" -d uet0 -p $((18650 + i)) -n $PIT -c -s 4096 "$UET_PEER" >"$T/m$i" 2>&1 &
		pids+=($!)
	done
fi
good=0
for p in "${pids[@]}"; do wait "$p" && good=$((good + 1)); done
intact=0
for ((i = 0; i < PAIRS; i++)); do
	grep -q "^content checked: $PIT messages intact$" "$T/m$i" && intact=$((intact + 1))
	[ "$good" = $PAIRS ] || show "pair $i" "$T/m$i"
done
[ $good = $PAIRS ] && [ $intact = $PAIRS ]
tap $? "$PAIRS uet_pingpong pairs at once (jobs 30..$((29 + PAIRS))), $PIT iterations each: $good exited 0, $intact intact"
total=$((total + PAIRS * PIT))

# ---- perftest, UET connection type ----
PITERS=200
# program|options|kind
PERF=(
	"ib_send_bw|-s 4096|bw"
	"ib_write_bw|-s 65536|bw"
	"ib_read_bw|-s 65536|bw"
	"ib_write_lat|-s 8|lat"
)
for r in "${PERF[@]}"; do
	IFS='|' read -r prog opts kind <<<"$r"
	k=$((k + 1))
	port=$((18700 + k))
	size=${opts#-s }
	if [ "$ROLE" = a ]; then
		# shellcheck disable=SC2086
		timeout 300 "$LAUNCH" --job-id 12 -n 1 -- $prog -d uet0 -p $port -F -c UET -n $PITERS $opts >"$T/pf" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do listening $port && break; sleep 0.1; done
		sync_point "$k"
		wait $pid
		rc=$?
		side=server
	else
		sync_point "$k"
		# shellcheck disable=SC2086
		timeout 300 "$LAUNCH" --job-id 12 -n 1 -- $prog -d uet0 -p $port -F -c UET -n $PITERS $opts "$UET_PEER" >"$T/pf" 2>&1
		rc=$?
		side=client
	fi
	show "$side" "$T/pf"
	# the result line: "#bytes #iterations ..." with a positive figure
	line=$(awk -v s="$size" -v n=$PITERS '$1 == s && $2 == n && $4 + 0 > 0' "$T/pf" | head -n 1)
	# the client reports the figures; the server must end well
	[ $rc -eq 0 ] && { [ $side = server ] || [ -n "$line" ]; }
	tap $? "$prog -c UET $opts -n $PITERS, $side: exit $rc, result: ${line:-none}"
	total=$((total + PITERS))
done

# ---- uet_xfer: messages both ways, RMA write and read, atomics ----
# Each of its checks (one per line, "ok ..."/"not ok ...") is one result.
# xfer LABEL PORT: one run of uet_xfer, its checks named "uet_xfer LABEL..."
XF=$KSFT/uet_xfer
xfer() {
	local label=$1 port=$2 rc checks=0 l
	k=$((k + 1))
	if [ ! -x "$XF" ]; then
		tap 1 "uet_xfer was not built"
		return
	fi
	if [ "$ROLE" = a ]; then
		timeout 600 "$XF" -d uet0 -a "$UET_ADDR" -p "$port" -j 77 >"$T/xf" 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do listening "$port" && break; sleep 0.1; done
		sync_point "$k"
		wait $pid
		rc=$?
	else
		sync_point "$k"
		timeout 600 "$XF" -d uet0 -a "$UET_ADDR" -p "$port" -j 77 "$UET_PEER" >"$T/xf" 2>&1
		rc=$?
	fi
	while IFS= read -r l; do
		case "$l" in
		"ok "*) tap 0 "uet_xfer$label ${l#ok }"; checks=$((checks + 1)) ;;
		"not ok "*) tap 1 "uet_xfer$label ${l#not ok }"; checks=$((checks + 1)) ;;
		*) diag "uet_xfer: $l" ;;
		esac
	done <"$T/xf"
	[ $rc -eq 0 ] && [ $checks -gt 0 ]
	tap $? "uet_xfer$label ran to its end: exit $rc, $checks checks"
	total=$((total + 400))
}
xfer "" 18800
# the same under loss: netem on both ends of the wire (each guest its
# own egress), so that each kernel's retransmission recovers the other's
# lost packets
LOSS=${UET_2HOST_LOSS:-loss 2%}
if tc qdisc add dev eth0 root netem $LOSS; then
	diag "eth0: netem $LOSS"
	xfer " (netem $LOSS)" 18801
	tc qdisc del dev eth0 root
	diag "uet0 counters: $("$RDMA" statistic show link uet0/1 2>&1 | tr -s ' \n' ' ')"
else
	tap 1 "tc qdisc add dev eth0 root netem $LOSS"
fi

# ---- what the device counted, and this kernel's log ----
tx1=$(counter tx_packets)
rx1=$(counter rx_packets)
diag "uet0 tx_packets $tx0 -> $tx1, rx_packets $rx0 -> $rx1 (at least $total exchanges)"
[ $((tx1 - tx0)) -ge $total ] && [ $((rx1 - rx0)) -ge $total ]
tap $? "uet0 counted at least one packet each way per exchange ($total)"
k=$((k + 1))
sync_point "$k" # both done before either tears its device down
out=$("$RDMA" link delete uet0 2>&1 && modprobe -r uet_soft 2>&1)
tap $? "rdma link delete uet0; modprobe -r uet_soft${out:+: $out}"
pat='WARNING:|BUG:|Oops|KASAN|UBSAN|refcount_t:|list_add corruption|list_del corruption|blocked for more than|soft lockup|general protection fault'
bad=$(dmesg | grep -E "$pat" | head -n 5)
[ -z "$bad" ]
tap $? "this kernel's log has no WARNING, BUG, Oops, ...${bad:+: $bad}"
finish
