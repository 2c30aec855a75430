#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The UET verbs proposed for libibverbs (ibv_uet(7)), through programs that
# use nothing else: uet_ru_pingpong (send/receive) and uet_ru_rma (write,
# write with a 64-bit immediate, read, fetch-and-add, compare-and-swap)
# between two uet devices on a veth wire across two network namespaces,
# on a clean wire and under 5% netem loss, each side with a job of its
# own (ibv_alloc_job, JobID 46 in each namespace) or one uet-launch gave
# it (ibv_import_job of $UET_JOB_FD: -J makes a missing descriptor an
# error, and the programs are told JobID 47 while uet-launch realizes 46,
# so only a real import reports 46). Then, on rxe and siw devices (if
# their modules exist), the UET verbs uet_ru_pingpong -X lists must refuse
# with EOPNOTSUPP, and ibv_reg_mr_ex() of an address must register as
# ibv_reg_mr() does; uet_ru_pingpong and uet_ru_rma run as usual there
# (server and client over 127.0.0.1) must stop at their capability check
# (no IBV_DEVICE_RU) with a message and exit 1: no crash or hang. Every
# receive reports the sender's source ID: the value it chose with
# IBV_QP_INIT_ATTR_SRC_ID (-S), else its QP number.
# ibv_post_send RMA fills wr.ru_rdma.rkey, rkey64 only (as the proposal's
# ru_rma example does) or both (-K), and rkey64 beyond 32 bits or
# disagreeing with rkey must be refused (EINVAL). With -W both programs
# use the 64-bit key verbs: struct ibv_sge64 with the region's lkey64
# (IBV_SEND_SGE64, ibv_wr_set_sge64), ibv_post_recv64, and uet_ru_rma
# ibv_wr_rdma_read64 and ibv_wr_rdma_write_imm64, its data checked as
# without -W; and first, on each side, an lkey64 beyond 32 bits must be
# refused (EINVAL), not truncated, by each of those three local key verbs.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-ru-peer
PP=$UET_DIR/uet_ru_pingpong
RMA=$UET_DIR/uet_ru_rma
A0=10.81.0.1
A1=10.81.0.2
# what -W runs print after the refused 64-bit local keys
LK64="ibv_post_recv64, IBV_SEND_SGE64, ibv_wr_set_sge64"

ktap_print_header
[ -x "$PP" ] && [ -x "$RMA" ] ||
	{ ktap_skip_all "uet_ru_pingpong/uet_ru_rma were not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP" tc
uet_require_module uet_soft
LAUNCH=$(type -P uet-launch)

T=$(mktemp -d)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	"$IP" netns exec "$NS" "$RDMA" link delete uetru1 2>/dev/null
	"$RDMA" link delete uetru0 2>/dev/null
	"$RDMA" link delete rxeru0 2>/dev/null
	"$RDMA" link delete siwru0 2>/dev/null
	"$IP" link delete vru0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

# name|program|options (both sides)|launcher (alloc or launch)
CLEAN=(
	"ping-pong, ibv_post_send (wr.ru), 32-bit immediates|$PP|-s 4096 -n 500 -c -I 32|alloc"
	"ping-pong, ibv_wr_* and ibv_start_poll, 64-bit immediates|$PP|-s 4096 -n 500 -c -N -I 64|alloc"
	"ping-pong, chosen source IDs (IBV_QP_INIT_ATTR_SRC_ID), both APIs|$PP|-s 1024 -n 100 -N -S 0xc0ffee10|alloc"
	"ping-pong, chosen source IDs, ibv_post_send and wc.src_qp, rendezvous sends|$PP|-s 131072 -n 20 -c -S 0x10|alloc"
	"ping-pong, completion events|$PP|-s 4096 -n 200 -c -e|alloc"
	"ping-pong, job address table|$PP|-s 1024 -n 200 -c -N -A|alloc"
	"ping-pong, 0 bytes|$PP|-s 0 -n 200 -N -I 64|alloc"
	"ping-pong, 65536 bytes|$PP|-s 65536 -n 50 -c|alloc"
	"ping-pong, job from uet-launch (ibv_import_job)|$PP|-s 4096 -n 200 -c -N -I 64|launch"
	"ping-pong, 64-bit local keys: IBV_SEND_SGE64 and ibv_post_recv64|$PP|-s 4096 -n 200 -c -W|alloc"
	"ping-pong, 64-bit local keys: ibv_wr_set_sge64 and ibv_post_recv64, 64-bit immediates|$PP|-s 4096 -n 200 -c -N -I 64 -W|alloc"
	"RMA and atomics, ibv_wr_*|$RMA|-s 4096 -n 100|alloc"
	"RMA and atomics, ibv_post_send (wr.ru_rdma), job address table|$RMA|-s 8192 -n 50 -P -A|alloc"
	"RMA and atomics, ibv_post_send filling only rkey64 (as the proposal's ru_rma), chosen source IDs|$RMA|-s 4096 -n 20 -P -K 64 -S 0x5eed0|alloc"
	"RMA and atomics, zero-based region with an application key|$RMA|-s 4096 -n 50 -z -u 0x5eed|alloc"
	"RMA and atomics, completion events, job from uet-launch|$RMA|-s 65536 -n 20 -e|launch"
	"RMA and atomics, 64-bit keys: ibv_wr_rdma_read64, ibv_wr_rdma_write_imm64, ibv_wr_set_sge64, ibv_post_recv64|$RMA|-s 4096 -n 50 -W|alloc"
	"RMA and atomics, 64-bit keys: ibv_post_send with IBV_SEND_SGE64 and rkey64 only, zero-based|$RMA|-s 4096 -n 50 -P -K 64 -W -z|alloc"
)
LOSSY=(
	"ping-pong under 5% loss|$PP|-s 4096 -n 200 -c -N -I 64|alloc"
	"ping-pong under 5% loss, ibv_post_send|$PP|-s 16384 -n 100 -c|alloc"
	"RMA and atomics under 5% loss|$RMA|-s 8192 -n 50|alloc"
	"RMA and atomics under 5% loss, ibv_post_send, zero-based, rkey and rkey64|$RMA|-s 4096 -n 50 -P -K both -z|alloc"
)
ktap_set_plan $((${#CLEAN[@]} + ${#LOSSY[@]} + 4))

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
"$IP" netns add "$NS" &&
	"$IP" link add vru0 type veth peer name vru1 netns "$NS" &&
	"$IP" addr add $A0/24 dev vru0 && "$IP" link set vru0 up &&
	"$IP" -n "$NS" addr add $A1/24 dev vru1 &&
	"$IP" -n "$NS" link set vru1 up && "$IP" -n "$NS" link set lo up ||
	ktap_exit_fail_msg "cannot create the namespace and the veth pair"
uet_rdma out link add uetru0 type uet netdev vru0 ||
	ktap_exit_fail_msg "rdma link add uetru0 type uet netdev vru0: $out"
out=$("$IP" netns exec "$NS" "$RDMA" link add uetru1 type uet netdev vru1 2>&1) ||
	ktap_exit_fail_msg "$NS: rdma link add uetru1 type uet netdev vru1: $out"
uet_wait_for uet_gid_index uetru0 $A0 || ktap_exit_fail_msg "uetru0 has no GID for $A0"
G0=$(uet_gid_index uetru0 $A0)
G1=$(uet_gid_index uetru1 $A1)
[ -z "$G1" ] && G1=$("$IP" netns exec "$NS" bash -c "source '$UET_DIR/uet_lib.sh' >/dev/null; uet_gid_index uetru1 $A1")
[ -n "$G1" ] || ktap_exit_fail_msg "uetru1 has no GID for $A1"
ktap_print_msg "GID index: uetru0 $G0, uetru1 $G1"

port=18700
# check_src_ids PROG OPTS: each receiver saw the source ID its peer has:
# with -S ID, ID from the client and ID + 1 from the server (uet_ru_rma:
# the server checks the client's); else the peer's QP number
check_src_ids() {
	local prog=$1 opts=$2 cid sid cq sq
	cq=$(sed -n 's/^local QPN 0x\([0-9a-f]*\),.*/\1/p' "$T/c")
	sq=$(sed -n 's/^local QPN 0x\([0-9a-f]*\),.*/\1/p' "$T/s")
	if [[ "$opts" =~ -S\ ([0-9a-fx]+) ]]; then
		cid=$((BASH_REMATCH[1])) sid=$((BASH_REMATCH[1] + 1))
	else
		cid=$((16#$cq)) sid=$((16#$sq))
	fi
	grep -q "^source ID checked: .* from $(printf 0x%x $cid)\$" "$T/s" || return 1
	[ "$prog" = "$RMA" ] && return 0
	grep -q "^source ID checked: .* from $(printf 0x%x $sid)\$" "$T/c"
}

# pair NAME PROG OPTS HOW: the server in the peer namespace, the client here
pair() {
	local name=$1 prog=$2 opts=$3 how=$4 crc src
	local -a l0=() l1=()
	port=$((port + 1))
	if [ "$how" = launch ]; then
		if [ -z "$LAUNCH" ]; then
			ktap_test_skip "$name (uet-launch is not installed)"
			return
		fi
		l0=("$LAUNCH" --job-id 46 -n 1 --)
		l1=("$LAUNCH" --job-id 46 -n 1 --)
		opts="$opts -J -j 47"
	fi
	# shellcheck disable=SC2086
	"$IP" netns exec "$NS" "${l1[@]}" "$prog" -d uetru1 -g "$G1" -p $port $opts >"$T/s" 2>&1 &
	SERVER_PID=$!
	# shellcheck disable=SC2086
	timeout 300 "${l0[@]}" "$prog" -d uetru0 -g "$G0" -p $port $opts $A1 >"$T/c" 2>&1
	crc=$?
	uet_wait_pid "$SERVER_PID" 60
	src=$?
	[ $src -eq 124 ] && kill "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	while IFS= read -r l; do ktap_print_msg "client: $l"; done <"$T/c"
	while IFS= read -r l; do ktap_print_msg "server: $l"; done <"$T/s"
	[ $crc -eq 0 ] && [ $src -eq 0 ] && grep -q "iters in " "$T/c" && grep -q "iters in " "$T/s" &&
		if [[ "$opts" = *-W* ]]; then
			grep -q "^lkey64 beyond 32 bits refused: $LK64\$" "$T/c" &&
				grep -q "^lkey64 beyond 32 bits refused: $LK64\$" "$T/s"
		fi &&
		if [ "$prog" = "$PP" ] && [[ "$opts" = *-c* ]]; then
			grep -q "^content checked: " "$T/c" && grep -q "^content checked: " "$T/s" &&
			if [[ "$opts" = *-W* ]]; then
				grep -q "^content checked: .*, through 64-bit local keys\$" "$T/c" &&
					grep -q "^content checked: .*, through 64-bit local keys\$" "$T/s"
			fi
		elif [ "$prog" = "$RMA" ]; then
			grep -q "^counter and lock word: " "$T/s" &&
			if [[ "$opts" = *-W* ]]; then
				grep -q "checked, through 64-bit keys and SGEs\$" "$T/c" &&
					grep -q "checked, through 64-bit keys and SGEs\$" "$T/s"
			fi &&
			if [[ "$opts" = *"-K 64"* || "$opts" = *"-K both"* ]]; then
				grep -q "^rkey64 beyond 32 bits and rkey != rkey64 refused" "$T/c"
			fi
		fi &&
		if [ "$how" = launch ]; then
			grep -q "JobID 46 (imported)" "$T/c" && grep -q "JobID 46 (imported)" "$T/s"
		else
			grep -q "JobID 46 (allocated)" "$T/c" && grep -q "JobID 46 (allocated)" "$T/s"
		fi
	[ $? -eq 0 ] && check_src_ids "$prog" "$opts"
	ktap_test_result "$name: both sides exit 0 (client $crc, server $src) and agree" [ $? -eq 0 ]
}

for r in "${CLEAN[@]}"; do
	IFS='|' read -r name prog opts how <<<"$r"
	pair "$name" "$prog" "$opts" "$how"
done

if uet_wire_netem vru0 "$NS" vru1 "loss 5%"; then
	for r in "${LOSSY[@]}"; do
		IFS='|' read -r name prog opts how <<<"$r"
		pair "$name" "$prog" "$opts" "$how"
	done
	uet_wire_netem vru0 "$NS" vru1 ""
else
	for r in "${LOSSY[@]}"; do
		IFS='|' read -r name prog opts how <<<"$r"
		ktap_test_fail "$name (tc qdisc add ... netem loss 5% failed)"
	done
fi

# plain_run DEV PROG: PROG run as usual (no -X) on DEV, a server and a
# client over 127.0.0.1; each must stop at its capability check with a
# message (ru_open: no IBV_DEVICE_RU/IMM64) and exit 1, no crash or hang
plain_run() {
	local dev=$1 prog=$2 name pid crc src
	name=${prog##*/}
	port=$((port + 1))
	timeout 60 "$prog" -d "$dev" -p $port -n 10 >"$T/ps" 2>&1 &
	pid=$!
	timeout 60 "$prog" -d "$dev" -p $port -n 10 127.0.0.1 >"$T/pc" 2>&1
	crc=$?
	wait "$pid"
	src=$?
	while IFS= read -r l; do ktap_print_msg "$name client: $l"; done <"$T/pc"
	while IFS= read -r l; do ktap_print_msg "$name server: $l"; done <"$T/ps"
	ktap_print_msg "$name on $dev: client exit $crc, server exit $src"
	[ $crc -eq 1 ] && [ $src -eq 1 ] &&
		grep -q "^$dev: no IBV_DEVICE_RU/IMM64 (caps " "$T/pc" &&
		grep -q "^$dev: no IBV_DEVICE_RU/IMM64 (caps " "$T/ps"
}

# refuse KIND MODULE: a KIND device on vru0 must refuse the UET verbs
# checked, and uet_ru_pingpong and uet_ru_rma run as usual on it must stop
# at their capability check with a message, no crash or hang (two results)
refuse() {
	local kind=$1 mod=$2 dev=${1}ru0 rc loaded= plain t1 t2
	t1="$kind ($dev) refuses the UET verbs checked with EOPNOTSUPP"
	t2="$kind ($dev): uet_ru_pingpong and uet_ru_rma stop at their capability check"
	t2="$t2 with a message, no crash or hang"
	grep -q "^$mod " /proc/modules && loaded=1
	if ! modprobe "$mod" 2>/dev/null; then
		ktap_test_skip "$t1 (module $mod not available)"
		ktap_test_skip "$t2 (module $mod not available)"
		return
	fi
	if ! uet_rdma out link add "$dev" type "$kind" netdev vru0; then
		ktap_test_fail "$t1: rdma link add $dev type $kind netdev vru0: $out"
		ktap_test_fail "$t2: no $dev"
		[ -z "$loaded" ] && modprobe -r "$mod" 2>/dev/null
		return
	fi
	timeout 120 "$PP" -X -d "$dev" >"$T/x" 2>&1
	rc=$?
	while IFS= read -r l; do ktap_print_msg "$l"; done <"$T/x"
	plain=0
	plain_run "$dev" "$PP" || plain=1
	plain_run "$dev" "$RMA" || plain=1
	"$RDMA" link delete "$dev"
	# leave the module as we found it
	[ -z "$loaded" ] && modprobe -r "$mod" 2>/dev/null
	# a crash is a status above 128; refusing is 0 and every line says so
	[ $rc -eq 0 ] && ! grep -q "NOT refused\|NOT as expected" "$T/x" &&
		grep -q "every UET verb checked refused, plain ibv_reg_mr_ex registered" "$T/x"
	ktap_test_result "$t1, registers a plain ibv_reg_mr_ex, no crash (exit $rc)" [ $? -eq 0 ]
	ktap_test_result "$t2" [ $plain -eq 0 ]
}
refuse rxe rdma_rxe
refuse siw siw

ktap_finished
