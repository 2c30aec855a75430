#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Two uet devices in one network namespace share its UDP port 4793: both
# carry traffic at once (each to a peer namespace of its own), and when
# one device goes the other keeps its traffic.

source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NSP=uet-shp-p
NSQ=uet-shp-q
PROG=$UET_DIR/uet_pingpong

ktap_print_header
[ -x "$PROG" ] || { ktap_skip_all "uet_pingpong was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
LAUNCH=$(type -P uet-launch)
[ -n "$LAUNCH" ] || { ktap_skip_all "uet-launch is not installed"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP"
uet_require_module uet_soft

T=$(mktemp -d)
cleanup() {
	"$IP" netns exec "$NSP" "$RDMA" link delete uetp1 2>/dev/null
	"$IP" netns exec "$NSQ" "$RDMA" link delete uetq1 2>/dev/null
	"$RDMA" link delete uetp0 2>/dev/null
	"$RDMA" link delete uetq0 2>/dev/null
	"$IP" link delete vshp0 2>/dev/null
	"$IP" link delete vshq0 2>/dev/null
	"$IP" netns delete "$NSP" 2>/dev/null
	"$IP" netns delete "$NSQ" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

ktap_set_plan 3
modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
for x in p q; do
	ns=uet-shp-$x
	n=$([ $x = p ] && echo 82 || echo 83)
	"$IP" netns add "$ns" &&
		"$IP" link add vsh${x}0 type veth peer name vsh${x}1 netns "$ns" &&
		"$IP" addr add 10.$n.0.1/24 dev vsh${x}0 && "$IP" link set vsh${x}0 up &&
		"$IP" -n "$ns" addr add 10.$n.0.2/24 dev vsh${x}1 &&
		"$IP" -n "$ns" link set vsh${x}1 up && "$IP" -n "$ns" link set lo up ||
		ktap_exit_fail_msg "cannot create namespace $ns and its veth pair"
	"$RDMA" link add uet${x}0 type uet netdev vsh${x}0 ||
		ktap_exit_fail_msg "rdma link add uet${x}0"
	"$IP" netns exec "$ns" "$RDMA" link add uet${x}1 type uet netdev vsh${x}1 ||
		ktap_exit_fail_msg "$ns: rdma link add uet${x}1"
done
sleep 1

# run_pair X PORT ITERS: a ping-pong between uetX0 (here) and uetX1 (in
# namespace X); sets PAIR_PIDS to the two launchers
run_pair() {
	local x=$1 port=$2 iters=$3 n
	n=$([ "$x" = p ] && echo 82 || echo 83)
	"$IP" netns exec "uet-shp-$x" "$LAUNCH" --job-id $((40 + port % 10)) -n 1 -- \
		"$PROG" -d "uet${x}1" -p "$port" -n "$iters" -c -s 4096 >"$T/s$x$port" 2>&1 &
	PAIR_PIDS=($!)
	sleep 0.5
	timeout 120 "$LAUNCH" --job-id $((40 + port % 10)) -n 1 -- \
		"$PROG" -d "uet${x}0" -p "$port" -n "$iters" -c -s 4096 "10.$n.0.2" >"$T/c$x$port" 2>&1 &
	PAIR_PIDS+=($!)
}

# pair_ok X PORT ITERS: both sides exited 0 with their content checked
pair_ok() {
	grep -q "^content checked: $3 messages intact$" "$T/c$1$2" &&
		grep -q "^content checked: $3 messages intact$" "$T/s$1$2"
}

run_pair p 19001 300
pp=("${PAIR_PIDS[@]}")
run_pair q 19002 300
pq=("${PAIR_PIDS[@]}")
rc=0
for p in "${pp[@]}" "${pq[@]}"; do uet_wait_pid "$p" 150 || rc=1; done
pair_ok p 19001 300 && pair_ok q 19002 300 && [ $rc -eq 0 ]
ok=$?
[ $ok -eq 0 ] || for f in "$T"/*; do ktap_print_msg "$(basename "$f"): $(tail -2 "$f" | tr '\n' ' ')"; done
ktap_test_result "two devices of one namespace carry traffic at once on port 4793" [ $ok -eq 0 ]

# The device that bound the port goes; the other keeps working.
"$RDMA" link delete uetp0
uet_wait_for uet_rdma_dev_gone uetp0
run_pair q 19003 300
rc=0
for p in "${PAIR_PIDS[@]}"; do uet_wait_pid "$p" 150 || rc=1; done
pair_ok q 19003 300 && [ $rc -eq 0 ]
ok=$?
[ $ok -eq 0 ] || ktap_print_msg "$(tail -2 "$T/cq19003" | tr '\n' ' ')"
ktap_test_result "after one device is deleted, the other keeps its traffic" [ $ok -eq 0 ]

# And the first device comes back and joins the port again.
"$RDMA" link add uetp0 type uet netdev vshp0
run_pair p 19004 100
rc=0
for p in "${PAIR_PIDS[@]}"; do uet_wait_pid "$p" 150 || rc=1; done
pair_ok p 19004 100 && [ $rc -eq 0 ]
ok=$?
[ $ok -eq 0 ] || for f in "$T"/cp19004 "$T"/sp19004; do ktap_print_msg "$(basename "$f"): $(tail -3 "$f" | tr '\n' ' ')"; done
ktap_test_result "a device added again joins the namespace's port" [ $ok -eq 0 ]

ktap_finished
