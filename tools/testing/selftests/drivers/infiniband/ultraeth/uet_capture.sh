#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# A capture of real traffic, decoded packet by packet with uet-dump (built
# from the driver's own wire module, proto/wire.rs): tcpdump -w on the veth
# while uet_pingpong runs between two uet devices in two namespaces (as in
# uet_pingpong.sh, both ranks in job 9 under uet-launch), then
#   uet-dump -r FILE                  every packet decodes, none malformed,
#                                     at least one request per message
#   uet-dump --json -r FILE           one JSON object per packet
#   uet-dump --check --job 9 -r FILE  UDP port 4793, JobID 9 in every
#                                     request, PSNs contiguous per PDC,
#                                     every request acknowledged
# once on a clean wire and once under tc netem loss 5% on both ends, where
# the originals netem drops never reach the capture and retransmissions
# (RETX) fill the gaps. Then the other operations: a capture of uet_rma's
# RMA, atomic, RUDI and UUD cases and of a ping-pong of 256 KiB messages
# (rendezvous sends), in which uet-dump must find each kind of header and
# --check must pass.
#
#   uetc0 on vcap0 (10.81.0.1), captured, in the current namespace
#   uetc1 on vcap1 (10.81.0.2) in namespace uet-cap-peer
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-cap-peer
PROG=$UET_DIR/uet_pingpong
ITERS=200
SIZE=4096
JOB=9

ktap_print_header
[ -x "$PROG" ] || { ktap_skip_all "uet_pingpong was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
LAUNCH=$(type -P uet-launch)
[ -n "$LAUNCH" ] || { ktap_skip_all "uet-launch is not installed"; exit "$KSFT_SKIP"; }
DUMP=$(type -P uet-dump)
[ -n "$DUMP" ] || { ktap_skip_all "uet-dump is not installed"; exit "$KSFT_SKIP"; }
TCPDUMP=$(type -P tcpdump)
[ -n "$TCPDUMP" ] || { ktap_skip_all "tcpdump is not installed"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP" tc
uet_require_module uet_soft

T=$(mktemp -d)
SERVER_PID=
CAP_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	[ -n "$CAP_PID" ] && kill "$CAP_PID" 2>/dev/null
	"$IP" netns exec "$NS" "$RDMA" link delete uetc1 2>/dev/null
	"$RDMA" link delete uetc0 2>/dev/null
	"$IP" link delete vcap0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

# name|netem arguments ("" for none)
RUNS=(
	"clean wire|"
	"netem loss 5%|loss 5%"
)
# per run: capture + ping-pong, decode, check; the clean run adds --json;
# then the operations capture: traffic, decode, check
ktap_set_plan $((${#RUNS[@]} * 3 + 1 + 3))

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
"$IP" netns add "$NS" &&
	"$IP" link add vcap0 type veth peer name vcap1 netns "$NS" &&
	"$IP" addr add 10.81.0.1/24 dev vcap0 && "$IP" link set vcap0 up &&
	"$IP" -n "$NS" addr add 10.81.0.2/24 dev vcap1 &&
	"$IP" -n "$NS" link set vcap1 up && "$IP" -n "$NS" link set lo up ||
	ktap_exit_fail_msg "cannot create the namespace and the veth pair"
uet_rdma out link add uetc0 type uet netdev vcap0 ||
	ktap_exit_fail_msg "rdma link add uetc0 type uet netdev vcap0: $out"
out=$("$IP" netns exec "$NS" "$RDMA" link add uetc1 type uet netdev vcap1 2>&1) ||
	ktap_exit_fail_msg "$NS: rdma link add uetc1 type uet netdev vcap1: $out"
uet_wait_for uet_gid_index uetc0 10.81.0.1 ||
	ktap_print_msg "uetc0 has no GID for 10.81.0.1 (continuing)"

# netem QDISC-ARGS: on both ends of the wire ("" removes it)
netem() {
	tc qdisc del dev vcap0 root 2>/dev/null
	"$IP" netns exec "$NS" tc qdisc del dev vcap1 root 2>/dev/null
	[ -z "$1" ] && return 0
	# shellcheck disable=SC2086
	tc qdisc add dev vcap0 root netem $1 &&
		"$IP" netns exec "$NS" tc qdisc add dev vcap1 root netem $1
}

# capture_start FILE: tcpdump on vcap0 into FILE, packet-buffered, until
# capture_stop; waits (10 s) until it listens
capture_start() {
	local i
	# -Z root: the guest has no tcpdump user to drop privileges to
	"$TCPDUMP" -i vcap0 -n -U -B 8192 -Z root -w "$1" udp port 4793 2>"$T/tcpdump.err" &
	CAP_PID=$!
	for i in $(seq 1 50); do
		grep -q 'listening on' "$T/tcpdump.err" && return 0
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.2
	done
	ktap_print_msg "tcpdump did not start: $(tr '\n' ' ' <"$T/tcpdump.err")"
	return 1
}

# capture_stop: stop tcpdump (it writes what it holds) and log its counts
capture_stop() {
	[ -n "$CAP_PID" ] || return 0
	kill -INT "$CAP_PID" 2>/dev/null
	uet_wait_pid "$CAP_PID" 10 >/dev/null
	[ $? -eq 124 ] && kill -9 "$CAP_PID" 2>/dev/null
	CAP_PID=
	grep -E 'packets (captured|received|dropped)' "$T/tcpdump.err" |
		while IFS= read -r l; do ktap_print_msg "tcpdump: $l"; done
}

port=18700
for r in "${RUNS[@]}"; do
	IFS='|' read -r wire qd <<<"$r"
	pcap=$T/run.pcap
	rm -f "$pcap"
	port=$((port + 1))
	ok=0
	if ! netem "$qd"; then
		ktap_print_msg "$wire: tc qdisc add ... netem $qd failed"
	elif capture_start "$pcap"; then
		# shellcheck disable=SC2086
		"$IP" netns exec "$NS" "$LAUNCH" --job-id $JOB -n 1 -- \
			"$PROG" -d uetc1 -p $port -n $ITERS -s $SIZE -c >"$T/s" 2>&1 &
		SERVER_PID=$!
		timeout 150 "$LAUNCH" --job-id $JOB -n 1 -- \
			"$PROG" -d uetc0 -p $port -n $ITERS -s $SIZE -c 10.81.0.2 >"$T/c" 2>&1
		crc=$?
		uet_wait_pid "$SERVER_PID" 30
		src=$?
		[ $src -eq 124 ] && kill "$SERVER_PID" 2>/dev/null
		SERVER_PID=
		# the idle PDCs close by handshake (50 ms idle, then CLOSE and
		# its ACK): let that reach the capture too
		sleep 2
		capture_stop
		while IFS= read -r l; do ktap_print_msg "client: $l"; done <"$T/c"
		while IFS= read -r l; do ktap_print_msg "server: $l"; done <"$T/s"
		want="content checked: $ITERS messages intact"
		[ $crc -eq 0 ] && [ $src -eq 0 ] &&
			grep -q "^$want$" "$T/c" && grep -q "^$want$" "$T/s" && ok=1
	fi
	capture_stop
	netem ""
	ktap_test_result "$wire: uet_pingpong $ITERS x $SIZE bytes under tcpdump -w on vcap0, both sides intact" \
		[ $ok -eq 1 ]

	# decode every packet
	"$DUMP" -r "$pcap" >"$T/dump" 2>"$T/dump.err"
	drc=$?
	total=$(wc -l <"$T/dump")
	reqs=$(grep -cE ' (RUD|ROD)(_CC)?_REQ ' "$T/dump")
	acks=$(grep -cE ' ACK(_CC|_CCX)? ' "$T/dump")
	bad=$(grep -c 'malformed: ' "$T/dump")
	ktap_print_msg "uet-dump -r: exit $drc, $total packets, $reqs requests, $acks ACKs, $bad malformed; first packets:"
	head -n 12 "$T/dump" | while IFS= read -r l; do ktap_print_msg "  $l"; done
	grep 'malformed: ' "$T/dump" | head -n 5 | while IFS= read -r l; do ktap_print_msg "  $l"; done
	while IFS= read -r l; do ktap_print_msg "uet-dump: $l"; done <"$T/dump.err"
	[ $drc -eq 0 ] && [ "$reqs" -ge $((2 * ITERS)) ] && [ "$bad" -eq 0 ]
	ktap_test_result "$wire: uet-dump -r decodes every packet ($reqs requests >= $((2 * ITERS)), $bad malformed)" \
		[ $? -eq 0 ]

	if [ -z "$qd" ]; then
		"$DUMP" --json -r "$pcap" >"$T/json" 2>/dev/null
		jrc=$?
		jn=$(wc -l <"$T/json")
		jobj=$(grep -c '^{"frame":[0-9]*,.*}$' "$T/json")
		jreq=$(grep -cE '"pds":\{"type":"(RUD|ROD)(_CC)?_REQ"' "$T/json")
		[ $jrc -eq 0 ] && [ "$jn" -eq "$total" ] && [ "$jobj" -eq "$jn" ] && [ "$jreq" -eq "$reqs" ]
		ktap_test_result "$wire: uet-dump --json prints one object per packet ($jobj of $jn lines, $jreq requests)" \
			[ $? -eq 0 ]
	fi

	"$DUMP" --check --job $JOB -r "$pcap" >"$T/check" 2>&1
	crc=$?
	while IFS= read -r l; do ktap_print_msg "check: $l"; done <"$T/check"
	ktap_test_result "$wire: uet-dump --check --job $JOB passes (exit $crc)" [ $crc -eq 0 ]
done

# The other operations: RMA write (with header data) and read, atomics,
# RUDI and UUD requests (uet_rma), rendezvous sends (uet_pingpong with
# messages above the 64 KiB eager limit).
RMA=$UET_DIR/uet_rma
pcap=$T/ops.pcap
ok=0
if [ ! -x "$RMA" ]; then
	ktap_print_msg "uet_rma was not built"
elif capture_start "$pcap"; then
	env UET_DEV0=uetc0 UET_DEV1=uetc1 UET_NS1="$NS" UET_ADDR0=10.81.0.1 \
		UET_ADDR1=10.81.0.2 UET_WIRE_CLEAN=1 timeout 300 "$RMA" -t write_imm \
		-t zero_based -t rudi -t uud -t atomic_refused >"$T/rma" 2>&1
	rrc=$?
	port=$((port + 1))
	# shellcheck disable=SC2086
	"$IP" netns exec "$NS" "$LAUNCH" --job-id $JOB -n 1 -- \
		"$PROG" -d uetc1 -p $port -n 20 -s 262144 -r 16 -c >"$T/s" 2>&1 &
	SERVER_PID=$!
	timeout 150 "$LAUNCH" --job-id $JOB -n 1 -- \
		"$PROG" -d uetc0 -p $port -n 20 -s 262144 -r 16 -c 10.81.0.2 >"$T/c" 2>&1
	crc=$?
	uet_wait_pid "$SERVER_PID" 30
	src=$?
	[ $src -eq 124 ] && kill "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	sleep 2
	capture_stop
	while IFS= read -r l; do ktap_print_msg "uet_rma: $l"; done < <(grep -E '^(ok|not ok|# (FAIL|PASSED|FAILED|Totals))' "$T/rma")
	while IFS= read -r l; do ktap_print_msg "client: $l"; done <"$T/c"
	want="content checked: 20 messages intact"
	[ $rrc -eq 0 ] && [ $crc -eq 0 ] && [ $src -eq 0 ] &&
		grep -q "^$want$" "$T/c" && grep -q "^$want$" "$T/s" && ok=1
fi
capture_stop
ktap_test_result "operations: uet_rma (RMA, atomics, RUDI, UUD) and a 256 KiB ping-pong under tcpdump -w, all passed" \
	[ $ok -eq 1 ]

"$DUMP" -r "$pcap" >"$T/dump" 2>"$T/dump.err"
drc=$?
missing=
# each kind of request and answer the run makes, as uet-dump names them
for k in ' WRITE ' ' READ ' ' FETCH_ATOMIC ' ' ATOMIC ' ' RNDV_SEND ' \
	'RESPONSE_W_DATA' 'AMO_UNALIGNED' 'RUDI_REQ' 'RUDI_RESP' 'UUD_REQ' \
	'eager_length=' 'compare=' 'swap='; do
	grep -q -- "$k" "$T/dump" || missing="$missing [$k]"
done
bad=$(grep -c 'malformed: ' "$T/dump")
ktap_print_msg "uet-dump -r: exit $drc, $(wc -l <"$T/dump") packets, $bad malformed${missing:+, missing:$missing}"
grep -E ' (RNDV_SEND|FETCH_ATOMIC|ATOMIC) ' "$T/dump" | head -n 4 | while IFS= read -r l; do ktap_print_msg "  $l"; done
[ $drc -eq 0 ] && [ "$bad" -eq 0 ] && [ -z "$missing" ]
ktap_test_result "operations: uet-dump -r decodes RMA, atomic, rendezvous, RUDI and UUD headers ($bad malformed)" \
	[ $? -eq 0 ]

"$DUMP" --check -r "$pcap" >"$T/check" 2>&1
crc=$?
while IFS= read -r l; do ktap_print_msg "check: $l"; done <"$T/check"
ktap_test_result "operations: uet-dump --check passes (exit $crc)" [ $crc -eq 0 ]

ktap_finished
