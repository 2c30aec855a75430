#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs inside the guest (tools/ultraeth/bench.sh boots it): perftest over
# uet, rxe and siw, and iperf3 (kernel TCP), between two network
# namespaces joined by a veth pair, for every MTU, netem loss, test and
# message size asked for. Each figure is one line on the console:
#   BENCH,<mtu>,<loss %>,<transport>,<test>,<bytes>,<rep>,<status>,<value>,<p99>
# value: MiB/s (perftest's unit) for *_bw and tcp,
# typical latency in microseconds for *_lat (p99 in the last field);
# status ok, fail (the client exited non-zero or printed no figure),
# timeout (the client did not finish within RUN_TIMEOUT: a stalled
# transport under loss) or zero (a figure of 0: perftest's clock). Arguments are KEY=VALUE, lists space- or comma-separated
# (defaults in brackets):
#   REPS [3]  MTUS ["1500 9000"]  LOSSES ["0 0.1 1 5"]
#   TRANSPORTS ["uet rxe siw"]  TESTS ["write_bw read_bw send_bw send_lat"]
#   SIZES ["8 4096 65536 1048576"]  TCP [1]  RUN_TIMEOUT [45]
set -u
REPS=3 MTUS="1500 9000" LOSSES="0 0.1 1 5" TRANSPORTS="uet rxe siw"
TESTS="write_bw read_bw send_bw send_lat" SIZES="8 4096 65536 1048576"
TCP=1 RUN_TIMEOUT=45
for kv in "$@"; do
	case $kv in
	REPS=* | MTUS=* | LOSSES=* | TRANSPORTS=* | TESTS=* | SIZES=* | TCP=* | RUN_TIMEOUT=*)
		eval "${kv%%=*}=\"\${kv#*=}\""
		;;
	*) echo "guest-bench: unknown argument $kv" >&2; exit 2 ;;
	esac
done
# lists may be given with commas (make bench BENCH_ARGS="SIZES=8,4096")
MTUS=${MTUS//,/ } LOSSES=${LOSSES//,/ } TRANSPORTS=${TRANSPORTS//,/ }
TESTS=${TESTS//,/ } SIZES=${SIZES//,/ }

NS=bench-peer
A0=10.91.0.1
A1=10.91.0.2
JOB=33
T=$(mktemp -d)
SPID=

say() { echo "bench: $*" >&2; }
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null
	devs_del
	ip link delete vb0 2>/dev/null
	ip netns delete $NS 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ip netns add $NS &&
	ip link add vb0 type veth peer name vb1 netns $NS &&
	ip addr add $A0/24 dev vb0 && ip link set vb0 up &&
	ip -n $NS addr add $A1/24 dev vb1 && ip -n $NS link set vb1 up &&
	ip -n $NS link set lo up || { say "cannot build the namespaces and the veth pair"; exit 1; }
modprobe uet_soft && modprobe rdma_rxe && modprobe siw ||
	{ say "cannot load uet_soft, rdma_rxe and siw"; exit 1; }

# The guest's memcpy rate (the bound of every copying transport here).
if [ -x /uet/uet-memcpy ]; then
	/uet/uet-memcpy | sed 's/^/BENCH,0,0,memcpy,memcpy,/'
fi

DEV0= DEV1=
devs_del() {
	[ -n "$DEV1" ] && ip netns exec $NS rdma link delete "$DEV1" 2>/dev/null
	[ -n "$DEV0" ] && rdma link delete "$DEV0" 2>/dev/null
	DEV0= DEV1=
}
# devs_add TRANSPORT: one device of that type per side
devs_add() {
	DEV0=b${1}0 DEV1=b${1}1
	rdma link add "$DEV0" type "$1" netdev vb0 &&
		ip netns exec $NS rdma link add "$DEV1" type "$1" netdev vb1 || return 1
	# the peer's GID (rxe/siw) or address (uet) must be there
	local i
	for i in $(seq 50); do
		rdma link show "$DEV0/1" 2>/dev/null | grep -q ACTIVE && break
		sleep 0.1
	done
}

# netem LOSS: the same loss on both ends of the veth ("0": none)
netem() {
	tc qdisc del dev vb0 root 2>/dev/null
	ip netns exec $NS tc qdisc del dev vb1 root 2>/dev/null
	[ "$1" = 0 ] && return 0
	tc qdisc add dev vb0 root netem loss "$1%" &&
		ip netns exec $NS tc qdisc add dev vb1 root netem loss "$1%"
}

# iters TEST SIZE: iterations of one run: 32 MB / SIZE for bandwidth,
# within 64 and 5000 (8 B: 40 KB; 64 KiB: 488, 32 MB; 1 MiB: 64, 64 MiB);
# 16 MB / SIZE round trips for latency, within 50 and 1000 (1000 up to
# 16 KiB; 1 MiB: 50, 100 MiB moved)
iters() {
	local n
	case $1 in
	*_lat) n=$((16000000 / $2)); [ $n -gt 1000 ] && n=1000; [ $n -lt 50 ] && n=50 ;;
	*) n=$((32000000 / $2)); [ $n -lt 64 ] && n=64; [ $n -gt 5000 ] && n=5000 ;;
	esac
	echo $n
}

port=19000
# run TRANSPORT TEST SIZE [EXTRA...]: one perftest run; prints "status
# value p99"; the client's output stays in $T/c
run() {
	local tr=$1 test=$2 size=$3 prog=ib_$2 n rc src line
	local -a launch=() conn=() extra=("${@:4}")
	n=$(iters "$test" "$size")
	port=$((port + 1))
	case $tr in
	uet)
		launch=(uet-launch --job-id $JOB -n 1 --)
		conn=(-c UET)
		;;
	# iWARP connects through the RDMA CM only
	siw) conn=(-R) ;;
	esac
	ip netns exec $NS timeout -k 5 $((RUN_TIMEOUT + 10)) "${launch[@]}" "$prog" -d "$DEV1" \
		-p $port -F "${conn[@]}" -s "$size" -n "$n" >"$T/s" 2>&1 &
	SPID=$!
	# The server is ready once it listens for the TCP exchange (the RDMA
	# CM's port does not show: 3 s then).
	for _ in $(seq 30); do
		ip netns exec $NS netstat -ltn 2>/dev/null | grep -q ":$port " && break
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	timeout -k 5 "$RUN_TIMEOUT" "${launch[@]}" "$prog" -d "$DEV0" -p $port -F "${conn[@]}" \
		-s "$size" -n "$n" "${extra[@]}" $A1 >"$T/c" 2>&1
	rc=$?
	# The client decides; a server that outlives it by 10 s is stopped.
	for _ in $(seq 50); do
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.2
	done
	kill "$SPID" 2>/dev/null
	wait "$SPID"
	src=$?
	SPID=
	line=$(awk -v s="$size" '/#bytes/ { h = 1; next } h && $1 == s { print; exit }' "$T/c")
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "timeout 0 0"
	elif [ $rc -ne 0 ] || [ -z "$line" ]; then
		say "$tr $test $size: client exit $rc, server exit $src:"
		tail -n 5 "$T/c" "$T/s" | sed 's/^/bench:   /' >&2
		echo "fail 0 0"
	else
		case $test in
		# #bytes #iterations BW-peak BW-average MsgRate
		*_bw) awk '{ print ($4 > 0 ? "ok" : "zero"), $4, 0 }' <<<"$line" ;;
		# #bytes #iterations t_min t_max t_typical t_avg t_stdev p99 p99.9
		*_lat) awk '{ print ($5 > 0 ? "ok" : "zero"), $5, $8 }' <<<"$line" ;;
		esac
	fi
}

for mtu in $MTUS; do
	ip link set vb0 mtu "$mtu" && ip -n $NS link set vb1 mtu "$mtu" ||
		{ say "cannot set MTU $mtu"; exit 1; }
	for tr in $TRANSPORTS; do
		devs_add "$tr" || { say "cannot create $tr devices"; exit 1; }
		for loss in $LOSSES; do
			netem "$loss" || { say "netem loss $loss% failed"; exit 1; }
			for test in $TESTS; do
				for size in $SIZES; do
					for rep in $(seq "$REPS"); do
						# every iteration of the first clean 8-byte
						# latency run, for the CDF plot
						cdf=()
						[ "$test$size$loss$rep$mtu" = "send_lat801${MTUS%% *}" ] && cdf=(-H)
						run "$tr" "$test" "$size" "${cdf[@]}" >"$T/res"
						read -r st v p99 <"$T/res"
						echo "BENCH,$mtu,$loss,$tr,$test,$size,$rep,$st,$v,$p99"
						[ ${#cdf[@]} -gt 0 ] && [ "$st" = ok ] &&
							awk -v t="$tr" '/^[0-9]+, [0-9.e+-]+$/ { sub(",", "", $1); print "LAT," t "," $1 "," $2 }' "$T/c"
					done
				done
			done
		done
		netem 0
		devs_del
	done
	if [ "$TCP" = 1 ]; then
		for loss in $LOSSES; do
			netem "$loss"
			for rep in $(seq "$REPS"); do
				ip netns exec $NS timeout -k 5 $((RUN_TIMEOUT + 10)) iperf3 -s -1 -p 5201 >"$T/is" 2>&1 &
				SPID=$!
				sleep 1
				v=$(timeout -k 5 "$RUN_TIMEOUT" iperf3 -c $A1 -p 5201 -t 5 -J 2>"$T/ic" |
					awk -F'[:,]' '/"sum_received"/ { r = 1 } r && /"bits_per_second"/ { printf "%.2f", $2 / 8 / 1048576; exit }')
				wait "$SPID"
				SPID=
				if [ -n "$v" ]; then
					st=ok
				else
					st=fail v=0
					say "iperf3 failed: $(tail -n 3 "$T/ic" "$T/is" | tr '\n' ' ')"
				fi
				echo "BENCH,$mtu,$loss,tcp,stream_bw,131072,$rep,$st,$v,0"
			done
		done
		netem 0
	fi
done
echo "BENCH-END"
