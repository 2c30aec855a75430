#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs inside the guest (tools/ultraeth/profile.sh boots it): perftest
# between two devices of one transport under perf; see profile.sh.
set -u
TRANSPORT=uet SYM=_raw_spin_unlock_irq_enable
TESTS="ib_write_bw:65536:600 ib_send_bw:8:5000 ib_send_lat:8:1000"
for kv in "$@"; do
	case $kv in
	TRANSPORT=* | TESTS=* | SYM=*) eval "${kv%%=*}=\"\${kv#*=}\"" ;;
	*) echo "guest-profile: unknown argument $kv" >&2; exit 2 ;;
	esac
done
TESTS=${TESTS//,/ }
export LD_LIBRARY_PATH=/uet/perfpkg/lib
P=/uet/perfpkg/perf
NS=prof-peer A0=10.92.0.1 A1=10.92.0.2
T=$(mktemp -d)
say() { echo "profile: $*" >&2; }

ip netns add $NS && ip link add vp0 type veth peer name vp1 netns $NS &&
	ip addr add $A0/24 dev vp0 && ip link set vp0 up &&
	ip -n $NS addr add $A1/24 dev vp1 && ip -n $NS link set vp1 up &&
	ip -n $NS link set lo up || { say "cannot build the namespaces"; exit 1; }
case $TRANSPORT in
uet) mod=uet_soft ;; rxe) mod=rdma_rxe ;; siw) mod=siw ;;
*) say "unknown transport $TRANSPORT"; exit 2 ;;
esac
modprobe $mod || { say "cannot load $mod"; exit 1; }
# kernel symbols for perf
echo 0 >/proc/sys/kernel/kptr_restrict
echo -1 >/proc/sys/kernel/perf_event_paranoid
rdma link add p0 type "$TRANSPORT" netdev vp0 &&
	ip netns exec $NS rdma link add p1 type "$TRANSPORT" netdev vp1 ||
	{ say "cannot create the $TRANSPORT devices"; exit 1; }
sleep 1
L=() C=()
case $TRANSPORT in
uet) L=(uet-launch --job-id 34 -n 1 --) C=(-c UET) ;;
siw) C=(-R) ;;
esac
port=19100 rc=0
for t in $TESTS; do
	IFS=: read -r prog size iters <<<"$t"
	port=$((port + 1))
	ip netns exec $NS timeout 120 "${L[@]}" "$prog" -d p1 -p $port -F "${C[@]}" \
		-s "$size" -n "$iters" >"$T/s" 2>&1 &
	spid=$!
	sleep 2
	$P record -q -a -g -e cpu-clock -F 1999 -o "$T/perf.data" -- \
		timeout 120 "${L[@]}" "$prog" -d p0 -p $port -F "${C[@]}" -s "$size" -n "$iters" $A1 \
		>"$T/c" 2>&1 || { say "$t: the client failed"; tail -n 5 "$T/c" >&2; rc=1; }
	wait $spid
	echo "=== $TRANSPORT $prog $size x $iters"
	awk -v s="$size" '/#bytes/ { print; h = 1; next } h && $1 == s { print; exit }' "$T/c"
	echo "--- top symbols (all CPUs)"
	$P report -i "$T/perf.data" --stdio --no-children --sort sym -g none --percent-limit 1 2>/dev/null |
		grep -v -e '^#' -e '^$' | head -n 25
	echo "--- per process"
	$P report -i "$T/perf.data" --stdio --no-children --sort comm -g none --percent-limit 0.5 2>/dev/null |
		grep -v -e '^#' -e '^$' | head -n 12
	echo "--- call chains into $SYM"
	$P report -i "$T/perf.data" --stdio --no-children --sort sym -G -S "$SYM" 2>/dev/null |
		grep -v -e '^#' -e '^$' | head -n 60
	if [ "$TRANSPORT" = uet ]; then
		echo "--- counters of p0"
		rdma statistic show link p0/1 | tr ' ' '\n' | paste - - | grep -v -e ' 0$' -e '	0$'
	fi
done
exit $rc
