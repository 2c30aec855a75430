#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The sample uet_pingpong (samples/uet) between two uet devices in two
# network namespaces, each side started by uet-launch with the same JobID
# in its namespace, as the issue shows:
#   ip netns exec uet-pp-peer uet-launch --job-id 9 -n 1 -- uet_pingpong -d uetp1 ...
#   uet-launch --job-id 9 -n 1 -- uet_pingpong -d uetp0 ... 10.79.0.2
# Both sides must finish, check every message (-c) and agree; the device
# counters must show the traffic.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-pp-peer
PROG=$UET_DIR/uet_pingpong

ktap_print_header
[ -x "$PROG" ] || { ktap_skip_all "uet_pingpong was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
LAUNCH=$(type -P uet-launch)
[ -n "$LAUNCH" ] || { ktap_skip_all "uet-launch is not installed"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP"
uet_require_module uet_soft

T=$(mktemp -d)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	"$IP" netns exec "$NS" "$RDMA" link delete uetp1 2>/dev/null
	"$RDMA" link delete uetp0 2>/dev/null
	"$IP" link delete vpp0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

# name|options (both sides)|iterations
RUNS=(
	"4096 bytes, polling|-s 4096|1000"
	"4096 bytes, completion events (-e)|-s 4096 -e|300"
	"ibv_wr_* and ibv_start_poll (-N)|-s 4096 -N|300"
	"tagged messages (-t)|-s 4096 -t|300"
	"0 bytes|-s 0|300"
	"65536 bytes|-s 65536|100"
)
ktap_set_plan $((${#RUNS[@]} + 2))

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
"$IP" netns add "$NS" &&
	"$IP" link add vpp0 type veth peer name vpp1 netns "$NS" &&
	"$IP" addr add 10.79.0.1/24 dev vpp0 && "$IP" link set vpp0 up &&
	"$IP" -n "$NS" addr add 10.79.0.2/24 dev vpp1 &&
	"$IP" -n "$NS" link set vpp1 up && "$IP" -n "$NS" link set lo up ||
	ktap_exit_fail_msg "cannot create the namespace and the veth pair"
uet_rdma out link add uetp0 type uet netdev vpp0 ||
	ktap_exit_fail_msg "rdma link add uetp0 type uet netdev vpp0: $out"
out=$("$IP" netns exec "$NS" "$RDMA" link add uetp1 type uet netdev vpp1 2>&1) ||
	ktap_exit_fail_msg "$NS: rdma link add uetp1 type uet netdev vpp1: $out"
uet_wait_for uet_gid_index uetp0 10.79.0.1 ||
	ktap_print_msg "uetp0 has no GID for 10.79.0.1 (continuing)"

# counter NAME: uetp0's counter NAME, or 0
counter() {
	"$RDMA" statistic show link uetp0/1 2>/dev/null |
		tr ' ' '\n' | awk -v n="$1" '$0 == n { getline; print; f = 1 } END { if (!f) print 0 }'
}

tx0=$(counter tx_packets)
rx0=$(counter rx_packets)
total=0
port=18600
for r in "${RUNS[@]}"; do
	IFS='|' read -r name opts iters <<<"$r"
	port=$((port + 1))
	# shellcheck disable=SC2086
	"$IP" netns exec "$NS" "$LAUNCH" --job-id 9 -n 1 -- \
		"$PROG" -d uetp1 -p $port -n "$iters" -c $opts >"$T/s" 2>&1 &
	SERVER_PID=$!
	# shellcheck disable=SC2086
	timeout 120 "$LAUNCH" --job-id 9 -n 1 -- \
		"$PROG" -d uetp0 -p $port -n "$iters" -c $opts 10.79.0.2 >"$T/c" 2>&1
	crc=$?
	uet_wait_pid "$SERVER_PID" 30
	src=$?
	[ $src -eq 124 ] && kill "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	while IFS= read -r l; do ktap_print_msg "client: $l"; done <"$T/c"
	while IFS= read -r l; do ktap_print_msg "server: $l"; done <"$T/s"
	want="content checked: $iters messages intact"
	[ $crc -eq 0 ] && [ $src -eq 0 ] &&
		grep -q "^$want$" "$T/c" && grep -q "^$want$" "$T/s" &&
		grep -q "^$iters iters in " "$T/c"
	ktap_test_result "uet_pingpong $name, $iters iterations: both sides exit 0 (client $crc, server $src) with $want" [ $? -eq 0 ]
	total=$((total + iters))
done

# Several processes at once: four pairs, each under a job of its own,
# sharing the two devices.
PAIRS=4
PIT=200
pids=()
for ((i = 0; i < PAIRS; i++)); do
	p=$((port + 10 + i))
	"$IP" netns exec "$NS" "$LAUNCH" --job-id $((30 + i)) -n 1 -- \
		"$PROG" -d uetp1 -p $p -n $PIT -c -s 4096 >"$T/ms$i" 2>&1 &
	pids+=($!)
done
sleep 1
for ((i = 0; i < PAIRS; i++)); do
	p=$((port + 10 + i))
	timeout 120 "$LAUNCH" --job-id $((30 + i)) -n 1 -- \
		"$PROG" -d uetp0 -p $p -n $PIT -c -s 4096 10.79.0.2 >"$T/mc$i" 2>&1 &
	pids+=($!)
done
good=0
for p in "${pids[@]}"; do
	uet_wait_pid "$p" 150 && good=$((good + 1))
done
ok=0
for ((i = 0; i < PAIRS; i++)); do
	grep -q "^content checked: $PIT messages intact$" "$T/mc$i" &&
		grep -q "^content checked: $PIT messages intact$" "$T/ms$i" && ok=$((ok + 1))
done
total=$((total + PAIRS * PIT))
ktap_print_msg "$PAIRS concurrent pairs: $good of $((2 * PAIRS)) processes exited 0, $ok pairs checked their content"
[ "$good" = $((2 * PAIRS)) ] && [ "$ok" = "$PAIRS" ]
ktap_test_result "$PAIRS uet_pingpong pairs at once, $PIT iterations each, all intact" [ $? -eq 0 ]

tx1=$(counter tx_packets)
rx1=$(counter rx_packets)
ktap_print_msg "uetp0 tx_packets $tx0 -> $tx1, rx_packets $rx0 -> $rx1 ($total exchanges)"
[ $((tx1 - tx0)) -ge $total ] && [ $((rx1 - rx0)) -ge $total ]
ktap_test_result "uetp0 counted at least one packet each way per exchange" [ $? -eq 0 ]

ktap_finished
