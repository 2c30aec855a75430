#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Shared helpers for the uet_soft selftests (sourced).

UET_DIR="$(dirname "$(readlink -f "$0")")"
KTAP_HELPERS="$UET_DIR/../../../kselftest/ktap_helpers.sh"
if [ -e "$KTAP_HELPERS" ]; then
	# shellcheck source=/dev/null
	source "$KTAP_HELPERS"
else
	echo "$KTAP_HELPERS not found [SKIP]"
	exit 4
fi

# iproute2's tools by path: busybox applets of the same name may shadow them.
IP=$(type -P ip)
RDMA=$(type -P rdma)

# uet_require_cmd CMD...: skip the whole test if a tool is missing
uet_require_cmd() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			ktap_skip_all "$c is not installed"
			exit "$KSFT_SKIP"
		fi
	done
}

# uet_require_module MOD: skip if the module is not available
uet_require_module() {
	if ! modprobe -n -q "$1" 2>/dev/null && [ ! -d "/sys/module/$1" ]; then
		ktap_skip_all "module $1 is not available"
		exit "$KSFT_SKIP"
	fi
}

# uet_veth_pair A B [NS]: a veth pair A<->B, B moved into netns NS if given,
# with 10.77.0.1/24 on A and 10.77.0.2/24 on B, both up.
uet_veth_pair() {
	local a=$1 b=$2 ns=${3:-}
	"$IP" link add "$a" type veth peer name "$b" || return 1
	"$IP" addr add 10.77.0.1/24 dev "$a" && "$IP" link set "$a" up || return 1
	if [ -n "$ns" ]; then
		"$IP" netns add "$ns" || return 1
		"$IP" link set "$b" netns "$ns" || return 1
		"$IP" -n "$ns" addr add 10.77.0.2/24 dev "$b" || return 1
		"$IP" -n "$ns" link set "$b" up && "$IP" -n "$ns" link set lo up
	else
		"$IP" addr add 10.77.0.2/24 dev "$b" && "$IP" link set "$b" up
	fi
}

# uet_gid_index DEV IPV4: the GID table index holding IPv4 address IPV4
# (as an IPv4-mapped IPv6 GID), or nothing.
uet_gid_index() {
	local dev=$1 addr=$2 f want
	want=$(printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' $(echo "$addr" | tr . ' '))
	for f in /sys/class/infiniband/"$dev"/ports/1/gids/*; do
		if [ "$(cat "$f" 2>/dev/null)" = "$want" ]; then
			basename "$f"
			return 0
		fi
	done
	return 1
}

# uet_wait_for CMD... : retry CMD for up to 10 s
uet_wait_for() {
	local i
	for i in $(seq 1 50); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# uet_require_prog PROG...: skip if a program of this directory was not
# built (they need our rdma-core at kselftest build time)
uet_require_prog() {
	local p
	for p in "$@"; do
		if [ ! -x "$UET_DIR/$p" ]; then
			ktap_skip_all "$p was not built (RDMA_CORE_STAGE unset at build time?)"
			exit "$KSFT_SKIP"
		fi
	done
}

# uet_rdma_dev_exists NAME: the ib_device NAME is registered
uet_rdma_dev_exists() {
	[ -e "/sys/class/infiniband/$1" ]
}

# uet_rdma_dev_gone NAME: the ib_device NAME is not registered
uet_rdma_dev_gone() {
	[ ! -e "/sys/class/infiniband/$1" ]
}

# uet_rdma OUTVAR ARGS...: run the rdma tool, its output (stdout and
# stderr) in OUTVAR, returns its exit status
uet_rdma() {
	local __out=$1 __o __rc
	shift
	__o=$("$RDMA" "$@" 2>&1)
	__rc=$?
	printf -v "$__out" '%s' "$__o"
	return $__rc
}

# For wrappers of programs that print their own TAP (kselftest_harness):
# uet_harness_skip MSG skips the whole test before the program runs;
# uet_harness_setup_fail MSG fails it.
uet_harness_skip() {
	ktap_print_header
	ktap_skip_all "$1"
	exit "$KSFT_SKIP"
}

uet_harness_setup_fail() {
	ktap_print_header
	ktap_exit_fail_msg "setup: $1"
}

# uet_harness_require PROG: skip unless PROG was built, the rdma tool and
# uet_soft are available
uet_harness_require() {
	[ -x "$UET_DIR/$1" ] || uet_harness_skip "$1 was not built (RDMA_CORE_STAGE unset at build time?)"
	[ -n "$RDMA" ] || uet_harness_skip "the rdma tool is not installed"
	modprobe -n -q uet_soft 2>/dev/null || [ -d /sys/module/uet_soft ] ||
		uet_harness_skip "module uet_soft is not available"
}

# uet_uet0_up: load uet_soft, make the veth pair veth0<->veth1 (up) and
# uet0 on veth0. On failure prints why and returns 1.
uet_uet0_up() {
	local out
	modprobe uet_soft || { echo "cannot load uet_soft"; return 1; }
	uet_veth_pair veth0 veth1 || { echo "cannot create the veth pair"; return 1; }
	uet_rdma out link add uet0 type uet netdev veth0 ||
		{ echo "rdma link add uet0 type uet netdev veth0: $out"; return 1; }
}

# uet_uet0_down: undo uet_uet0_up (for EXIT traps); never fails
uet_uet0_down() {
	uet_delete_links
	"$IP" link delete veth0 2>/dev/null
	modprobe -r uet_soft 2>/dev/null
	return 0
}

# uet_delete_links: delete every uet* rdma link
uet_delete_links() {
	local d
	for d in /sys/class/infiniband/uet*; do
		[ -e "$d" ] && "$RDMA" link delete "${d##*/}" 2>/dev/null
	done
}

# uet_hold_start LOG ARGS...: start uet_hold ARGS in the background with
# its output in LOG and wait (10 s) until it printed "ready". Sets
# UET_HOLD_PID. Fails (with the log as a message) if it exited or never
# got ready.
uet_hold_start() {
	local log=$1 i
	shift
	"$UET_DIR/uet_hold" "$@" >"$log" 2>&1 &
	UET_HOLD_PID=$!
	for i in $(seq 1 50); do
		grep -q '^ready' "$log" && return 0
		kill -0 "$UET_HOLD_PID" 2>/dev/null || break
		sleep 0.2
	done
	ktap_print_msg "uet_hold $*: not ready: $(tr '\n' ' ' <"$log")"
	return 1
}

# uet_wait_pid PID SECONDS: wait for background job PID to exit; returns
# its exit status, or 124 if it still runs after SECONDS
uet_wait_pid() {
	local pid=$1 i
	for i in $(seq 1 $(($2 * 5))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$pid" 2>/dev/null && return 124
	wait "$pid"
}

# uet_port_state DEV: the port state as ibv_devinfo prints it
# (PORT_ACTIVE, PORT_DOWN, ...)
uet_port_state() {
	ibv_devinfo -d "$1" 2>/dev/null | awk '/state:/ {print $2; exit}'
}

# uet_port_state_is DEV STATE
uet_port_state_is() {
	[ "$(uet_port_state "$1")" = "$2" ]
}
