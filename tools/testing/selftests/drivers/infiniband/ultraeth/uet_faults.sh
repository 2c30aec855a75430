#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Faults under traffic on the data path: a rank killed with SIGKILL on
# either side, the netdev deleted, and the module unloaded while
# uet_pingpong moves content-checked messages between two devices in two
# namespaces. Every case asserts that nothing hangs (the surviving side
# ends with an error completion, not a timeout), that the device's
# endpoints are all gone afterwards, and that the kernel log has no
# warning.

source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-flt-peer
PROG=$UET_DIR/uet_pingpong

ktap_print_header
[ -x "$PROG" ] || { ktap_skip_all "uet_pingpong was not built (RDMA_CORE_STAGE unset at build time?)"; exit "$KSFT_SKIP"; }
LAUNCH=$(type -P uet-launch)
[ -n "$LAUNCH" ] || { ktap_skip_all "uet-launch is not installed"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA" "$IP"
uet_require_module uet_soft

T=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	"$IP" netns exec "$NS" "$RDMA" link delete uetf1 2>/dev/null
	"$RDMA" link delete uetf0 2>/dev/null
	"$IP" link delete vflt0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	rm -rf "$T"
	modprobe -r uet_soft 2>/dev/null
	return 0
}
trap cleanup EXIT

ktap_set_plan 9

dmesg_mark="uet_faults: start $$"
echo "$dmesg_mark" >/dev/kmsg

# Two namespaces, a veth pair and a uet device on each end.
setup() {
	modprobe uet_soft || return 1
	"$IP" netns add "$NS" 2>/dev/null
	"$IP" link add vflt0 type veth peer name vflt1 netns "$NS" &&
		"$IP" addr add 10.81.0.1/24 dev vflt0 && "$IP" link set vflt0 up &&
		"$IP" -n "$NS" addr add 10.81.0.2/24 dev vflt1 &&
		"$IP" -n "$NS" link set vflt1 up && "$IP" -n "$NS" link set lo up || return 1
	"$RDMA" link add uetf0 type uet netdev vflt0 || return 1
	"$IP" netns exec "$NS" "$RDMA" link add uetf1 type uet netdev vflt1 || return 1
	uet_wait_for uet_gid_index uetf0 10.81.0.1 || true
}

counter() { # ns|- dev name
	local pre=()
	[ "$1" != - ] && pre=("$IP" netns exec "$1")
	"${pre[@]}" "$RDMA" statistic show link "$2/1" 2>/dev/null |
		tr ' ' '\n' | awk -v n="$3" '$0 == n { getline; print; f = 1 } END { if (!f) print -1 }'
}

no_endpoints() { [ "$(counter "$1" "$2" endpoints)" = 0 ]; }
uetf1_gone() { ! "$IP" netns exec "$NS" "$RDMA" dev 2>/dev/null | grep -q uetf1; }
# An exit status that is neither success nor a timeout (a hang).
failed_cleanly() { [ "$1" != 124 ] && [ "$1" != 0 ]; }

port=18900
job=20
# Starts a long ping-pong under a fresh job; SERVER and CLIENT are the
# launcher pids. Succeeds when packets flow.
start_pair() {
	port=$((port + 1))
	job=$((job + 1))
	"$IP" netns exec "$NS" "$LAUNCH" --job-id $job -n 1 -- \
		"$PROG" -d uetf1 -p $port -n 1000000 -s 4096 -c >"$T/s" 2>&1 &
	SERVER=$!
	sleep 0.5
	"$LAUNCH" --job-id $job -n 1 -- \
		"$PROG" -d uetf0 -p $port -n 1000000 -s 4096 -c 10.81.0.2 >"$T/c" 2>&1 &
	CLIENT=$!
	PIDS+=("$SERVER" "$CLIENT")
	local t0 t1
	sleep 1
	t0=$(counter - uetf0 tx_packets)
	sleep 2
	t1=$(counter - uetf0 tx_packets)
	ktap_print_msg "job $job: uetf0 tx_packets $t0 -> $t1"
	[ "$t1" -gt "$t0" ]
}

# Waits up to $2 seconds for pid $1 to exit; its status in $WAITED_RC,
# 124 if it did not exit.
wait_exit() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			WAITED_RC=$?
			return 0
		fi
		sleep 0.1
	done
	WAITED_RC=124
	return 1
}

# The launcher's rank (uet_pingpong) of launcher $1 (no pgrep in the
# guest: read the parent pid field of /proc/PID/stat).
rank_of() {
	local f
	for f in /proc/[0-9]*/stat; do
		awk -v p="$1" '$4 == p { print $1 }' "$f" 2>/dev/null
	done | head -1
}

# Whether process $1 sleeps interruptibly or runs (a process stuck in the
# kernel shows D).
not_stuck() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" != D ]
}

# Ends the surviving launcher $1: it either ended by itself with an error
# (its send failed) or waits in user space for a message that never
# comes (a ping-pong server has nothing outstanding); it is then killed.
# Fails if it ended with success or is stuck in the kernel.
end_survivor() {
	local r
	r=$(rank_of "$1")
	if wait_exit "$1" 20; then
		ktap_print_msg "survivor ended: rc $WAITED_RC"
		failed_cleanly "$WAITED_RC"
		return
	fi
	not_stuck "$r" || { ktap_print_msg "survivor $r is stuck in the kernel"; return 1; }
	kill -9 "$r" 2>/dev/null
	wait_exit "$1" 10
	ktap_print_msg "survivor waited in user space; killed: rc $WAITED_RC"
	[ "$WAITED_RC" != 124 ]
}

setup || ktap_exit_fail_msg "cannot set up the namespaces and devices"

# 1-2: the client is killed with SIGKILL mid-transfer: its endpoint goes at
# once, the server is not stuck, and nothing is left behind.
if start_pair; then
	kill -9 "$(rank_of "$CLIENT")" 2>/dev/null
	wait_exit "$CLIENT" 10
	uet_wait_for no_endpoints - uetf0
	ktap_test_result "SIGKILL of the client frees its endpoint at once" [ $? -eq 0 ]
	end_survivor "$SERVER"
	ok=$?
	uet_wait_for no_endpoints "$NS" uetf1 && [ $ok -eq 0 ]
	ktap_test_result "the server is not stuck, and ends without endpoints left" [ $? -eq 0 ]
else
	ktap_test_fail "SIGKILL of the client frees its endpoint at once (no traffic)"
	ktap_test_fail "the server is not stuck, and ends without endpoints left (no traffic)"
fi

# 3-4: the server is killed mid-transfer: same from the other side.
if start_pair; then
	kill -9 "$(rank_of "$SERVER")" 2>/dev/null
	wait_exit "$SERVER" 10
	uet_wait_for no_endpoints "$NS" uetf1
	ktap_test_result "SIGKILL of the server frees its endpoint at once" [ $? -eq 0 ]
	end_survivor "$CLIENT"
	ok=$?
	uet_wait_for no_endpoints - uetf0 && [ $ok -eq 0 ]
	ktap_test_result "the client is not stuck, and ends without endpoints left" [ $? -eq 0 ]
else
	ktap_test_fail "SIGKILL of the server frees its endpoint at once (no traffic)"
	ktap_test_fail "the client is not stuck, and ends without endpoints left (no traffic)"
fi

# 5-6: the veth pair is deleted mid-transfer (deleting one end deletes
# both): both devices go away, the ranks are disassociated (a flushed or
# failed completion, or waiting on a zapped ring until killed), and no
# device is left.
if start_pair; then
	"$IP" -n "$NS" link delete vflt1
	uet_wait_for uetf1_gone
	gone=$?
	e1=0
	end_survivor "$CLIENT" || e1=1
	end_survivor "$SERVER" || e1=1
	[ "$gone" = 0 ] && [ "$e1" = 0 ]
	ktap_test_result "netdev deleted mid-transfer: the devices go, no rank is stuck" [ $? -eq 0 ]
	ktap_test_result "no uet device is left" [ -z "$("$RDMA" dev 2>/dev/null | grep uetf)" ]
else
	ktap_test_fail "netdev deleted mid-transfer: the devices go, no rank is stuck (no traffic)"
	ktap_test_fail "no uet device is left (no traffic)"
fi

# 7-8: unloading the module under traffic is refused while the ranks'
# jobs exist (they hold the module), traffic goes on, and the unload
# succeeds once the last user exited.
"$IP" netns delete "$NS" 2>/dev/null
sleep 0.5
if setup && start_pair; then
	modprobe -r uet_soft 2>/dev/null
	rc=$?
	t0=$(counter - uetf0 tx_packets)
	sleep 1
	t1=$(counter - uetf0 tx_packets)
	ktap_print_msg "modprobe -r in use: rc $rc; tx_packets $t0 -> $t1"
	[ "$rc" != 0 ] && [ "$t1" -gt "$t0" ]
	ktap_test_result "modprobe -r uet_soft in use is refused and traffic goes on" [ $? -eq 0 ]
	for p in "$SERVER" "$CLIENT"; do
		kill -9 "$(rank_of "$p")" 2>/dev/null
		wait_exit "$p" 10
	done
	"$IP" netns delete "$NS"
	"$IP" link delete vflt0 2>/dev/null
	uet_wait_for modprobe -r uet_soft
	ktap_test_result "modprobe -r uet_soft succeeds after the last user exited" \
		[ ! -d /sys/module/uet_soft ]
else
	ktap_test_fail "modprobe -r uet_soft in use is refused and traffic goes on (no traffic)"
	ktap_test_fail "modprobe -r uet_soft succeeds after the last user exited (no traffic)"
fi

# 9: no warning, bug or oops in the kernel log since the start.
bad=$(dmesg | sed -n "/$dmesg_mark/,\$p" | grep -E "WARNING:|BUG:|Oops|kmemleak|UBSAN|refcount_t" | head -5)
ktap_print_msg "${bad:-kernel log clean}"
ktap_test_result "the kernel log has no warning" [ -z "$bad" ]

ktap_finished
