#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# perftest with its UET connection type (tools/perftest/patches) between two
# uet devices on a veth pair across two network namespaces, each side
# started by uet-launch with the same JobID in its namespace:
#   ip netns exec uet-pf-peer uet-launch --job-id 12 -n 1 -- ib_write_bw -d uetf1 -c UET
#   uet-launch --job-id 12 -n 1 -- ib_write_bw -d uetf0 -c UET 10.82.0.2
# ib_write_bw, ib_read_bw, ib_send_bw, ib_send_lat and ib_write_lat must
# exit 0 on both sides, report the iterations asked for and a nonzero
# bandwidth or an ordered, bounded latency, and the traffic must show in
# uetf0's counters. The same ib_write_bw then runs RC between two rxe
# devices on the same wire, and the UET mode refuses to run without a job
# or on the wrong kind of device.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-pf-peer
NET=10.82.0
JOB=12
ITERS=200

ktap_print_header
uet_require_cmd ib_write_bw ib_read_bw ib_send_bw ib_send_lat ib_write_lat "$RDMA" "$IP"
LAUNCH=$(type -P uet-launch)
[ -n "$LAUNCH" ] || { ktap_skip_all "uet-launch is not installed"; exit "$KSFT_SKIP"; }
ib_write_bw --help 2>&1 | grep -q -- '--connection=.*UET' ||
	{ ktap_skip_all "perftest has no UET connection type (not built by tools/ultraeth/perftest.sh)"; exit "$KSFT_SKIP"; }
uet_require_module uet_soft

T=$(mktemp -d)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	"$IP" netns exec "$NS" "$RDMA" link delete uetf1 2>/dev/null
	"$IP" netns exec "$NS" "$RDMA" link delete rxef1 2>/dev/null
	"$RDMA" link delete uetf0 2>/dev/null
	"$RDMA" link delete rxef0 2>/dev/null
	"$IP" link delete vpf0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	return 0
}
trap cleanup EXIT

# program|options of both sides|bw or lat
RUNS=(
	"ib_write_bw|-s 4096|bw"
	"ib_read_bw|-s 4096|bw"
	"ib_send_bw|-s 4096|bw"
	"ib_send_lat|-s 8|lat"
	"ib_write_lat|-s 8|lat"
)
ktap_set_plan $((${#RUNS[@]} + 3))

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
"$IP" netns add "$NS" &&
	"$IP" link add vpf0 type veth peer name vpf1 netns "$NS" &&
	"$IP" addr add $NET.1/24 dev vpf0 && "$IP" link set vpf0 up &&
	"$IP" -n "$NS" addr add $NET.2/24 dev vpf1 &&
	"$IP" -n "$NS" link set vpf1 up && "$IP" -n "$NS" link set lo up ||
	ktap_exit_fail_msg "cannot create the namespace and the veth pair"
uet_rdma out link add uetf0 type uet netdev vpf0 ||
	ktap_exit_fail_msg "rdma link add uetf0 type uet netdev vpf0: $out"
out=$("$IP" netns exec "$NS" "$RDMA" link add uetf1 type uet netdev vpf1 2>&1) ||
	ktap_exit_fail_msg "$NS: rdma link add uetf1 type uet netdev vpf1: $out"
uet_wait_for uet_gid_index uetf0 $NET.1 ||
	ktap_print_msg "uetf0 has no GID for $NET.1 (continuing)"

# counter NAME: uetf0's counter NAME, or 0
counter() {
	"$RDMA" statistic show link uetf0/1 2>/dev/null |
		tr ' ' '\n' | awk -v n="$1" '$0 == n { getline; print; f = 1 } END { if (!f) print 0 }'
}

# result LOG SIZE: perftest's result line for SIZE bytes (the first line
# starting with the size, after the header line of the figures)
result() {
	awk -v s="$2" '/#bytes/ { h = 1; next } h && $1 == s { print; exit }' "$1"
}

# check_bw LINE: "#bytes #iterations peak avg msgrate", average > 0
check_bw() {
	awk -v n=$ITERS '{ exit !(NF >= 5 && $2 == n && $4 + 0 > 0 && $5 + 0 > 0) }' <<<"$1"
}

# check_lat LINE: "#bytes #iterations t_min t_max t_typical t_avg ...":
# 0 < t_min <= t_typical <= t_max, t_avg within [t_min, t_max] and below 1 s
check_lat() {
	awk -v n=$ITERS '{ exit !(NF >= 6 && $2 == n && $3 > 0 && $3 <= $5 && $5 <= $4 &&
		$6 >= $3 && $6 <= $4 && $6 < 1000000) }' <<<"$1"
}

# pair NAME PROG SDEV CDEV PORT OPTS...: run PROG's server on SDEV in the
# namespace and its client on CDEV here (uet devices: each under
# uet-launch), outputs in $T/NAME.s and $T/NAME.c; sets CRC and SRC
pair() {
	local name=$1 prog=$2 sdev=$3 cdev=$4 port=$5 l
	local -a launch=()
	shift 5
	case $sdev in uet*) launch=("$LAUNCH" --job-id $JOB -n 1 --) ;; esac
	"$IP" netns exec "$NS" timeout 90 "${launch[@]}" \
		"$prog" -d "$sdev" -p "$port" -F "$@" >"$T/$name.s" 2>&1 &
	SERVER_PID=$!
	sleep 1
	timeout 90 "${launch[@]}" "$prog" -d "$cdev" -p "$port" -F "$@" $NET.2 >"$T/$name.c" 2>&1
	CRC=$?
	uet_wait_pid "$SERVER_PID" 30
	SRC=$?
	[ $SRC -eq 124 ] && kill "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	# without rules and the server's banner; no globbing of the '*'s left
	# (ktap_print_msg expands its arguments unquoted)
	set -f
	while IFS= read -r l; do ktap_print_msg "client: $l"; done < <(grep -v -e '^-*$' -e '^ *\*' "$T/$name.c")
	while IFS= read -r l; do ktap_print_msg "server: $l"; done < <(grep -v -e '^-*$' -e '^ *\*' "$T/$name.s")
	set +f
}

port=18700
for r in "${RUNS[@]}"; do
	IFS='|' read -r prog opts kind <<<"$r"
	port=$((port + 1))
	tx0=$(counter tx_packets)
	# shellcheck disable=SC2086
	pair "$prog" "$prog" uetf1 uetf0 $port -c UET -n $ITERS $opts
	tx1=$(counter tx_packets)
	size=${opts#-s }
	line=$(result "$T/$prog.c" "$size")
	ktap_print_msg "$prog: client $CRC, server $SRC; result: ${line:-none}; uetf0 tx_packets +$((tx1 - tx0))"
	[ $CRC -eq 0 ] && [ $SRC -eq 0 ] && [ -n "$line" ] && "check_$kind" "$line" &&
		[ $((tx1 - tx0)) -ge $ITERS ]
	ktap_test_result "$prog -c UET $opts -n $ITERS between uet devices: both sides exit 0, sane $kind figures, traffic on uetf0" [ $? -eq 0 ]
done

# The UET mode needs a job, and a uet device needs the UET mode: both
# refused at once, with a message, before any connection is tried.
timeout 30 ib_write_bw -d uetf0 -c UET -F $NET.2 >"$T/nojob" 2>&1
rc=$?
ktap_print_msg "without uet-launch: exit $rc: $(tr '\n' ' ' <"$T/nojob")"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'UET_JOB_FD is not set' "$T/nojob"
ktap_test_result "ib_write_bw -c UET outside a job refuses: UET_JOB_FD is not set" [ $? -eq 0 ]
timeout 30 "$LAUNCH" --job-id $JOB -n 1 -- ib_write_bw -d uetf0 -F $NET.2 >"$T/rc" 2>&1
rc=$?
ktap_print_msg "RC on a uet device: exit $rc: $(tr '\n' ' ' <"$T/rc")"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'is a UET device: use --connection=UET' "$T/rc"
ktap_test_result "ib_write_bw without -c UET on a uet device refuses with a message" [ $? -eq 0 ]

# The same binary, RC over rxe on the same wire.
if ! modprobe -n -q rdma_rxe 2>/dev/null && [ ! -d /sys/module/rdma_rxe ]; then
	ktap_test_skip "ib_write_bw RC between rxe devices (module rdma_rxe is not available)"
elif ! modprobe rdma_rxe || ! "$RDMA" link add rxef0 type rxe netdev vpf0 ||
	! "$IP" netns exec "$NS" "$RDMA" link add rxef1 type rxe netdev vpf1; then
	ktap_test_fail "ib_write_bw RC between rxe devices (cannot create rxef0/rxef1)"
else
	uet_wait_for uet_gid_index rxef0 $NET.1
	pair rxe ib_write_bw rxef1 rxef0 $((port + 1)) -n $ITERS -s 4096
	line=$(result "$T/rxe.c" 4096)
	ktap_print_msg "ib_write_bw over rxe: client $CRC, server $SRC; result: ${line:-none}"
	[ $CRC -eq 0 ] && [ $SRC -eq 0 ] && [ -n "$line" ] && check_bw "$line" &&
		grep -q 'Connection type : RC' "$T/rxe.c"
	ktap_test_result "ib_write_bw RC -s 4096 -n $ITERS between rxe devices: both sides exit 0, nonzero bandwidth" [ $? -eq 0 ]
fi

ktap_finished
