#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# uet device lifecycle through `rdma link`: add and delete, the errors of
# bad requests, add/delete x100, and the netdev going away under the device,
# with and without a user context open on it.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ROUNDS=100
ktap_print_header
uet_require_cmd "$RDMA" ibv_devices
uet_require_module uet_soft
uet_require_prog uet_hold
ktap_set_plan 13

cleanup() {
	[ -n "${UET_HOLD_PID:-}" ] && kill "$UET_HOLD_PID" 2>/dev/null
	uet_delete_links
	"$IP" link delete veth0 2>/dev/null
	"$IP" link delete veth2 2>/dev/null
	modprobe -r uet_soft 2>/dev/null
}
trap cleanup EXIT

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
uet_veth_pair veth0 veth1 || ktap_exit_fail_msg "cannot create the veth pair"

# 1: add creates uet0, bound to veth0
uet_rdma out link add uet0 type uet netdev veth0
rc=$?
uet_rdma show link show uet0/1
ktap_print_msg "rdma link add: rc $rc $out; rdma link show: $show"
[ $rc -eq 0 ] && uet_rdma_dev_exists uet0 && [[ "$show" == *"netdev veth0"* ]]
ktap_test_result "rdma link add uet0 type uet netdev veth0" [ $? -eq 0 ]

# 2: libibverbs finds it through libuet
devs=$(ibv_devices 2>&1)
ktap_print_msg "$(echo "$devs" | tr '\n' ' ')"
ktap_test_result "ibv_devices lists uet0" grep -qw uet0 <<<"$devs"

# expect_error CASE ERRTEXT ARGS...: `rdma link add ARGS` fails, saying
# ERRTEXT (the strerror of the expected errno), and creates nothing
expect_error() {
	local what=$1 text=$2 out rc
	shift 2
	uet_rdma out link add "$@"
	rc=$?
	ktap_print_msg "$what: rdma link add $*: rc $rc: $out"
	[ $rc -ne 0 ] && grep -qi "$text" <<<"$out"
	ktap_test_result "$what: $text" [ $? -eq 0 ]
}

# 3-6: the errors; nothing of them stays behind
expect_error "unknown netdev" "No such device" uet1 type uet netdev nosuchdev0
expect_error "netdev lo is not Ethernet" "Invalid argument" uet1 type uet netdev lo
expect_error "veth0 bound twice" "File exists" uet1 type uet netdev veth0
"$IP" link add veth2 type veth peer name veth3
expect_error "name uet0 in use" "File exists" uet0 type uet netdev veth2
"$IP" link delete veth2

# 7: delete removes it; nothing else was created by the failed adds
uet_rdma out link delete uet0
rc=$?
left=$(ls /sys/class/infiniband 2>/dev/null | grep '^uet' | tr '\n' ' ')
ktap_print_msg "rdma link delete uet0: rc $rc $out; uet devices left: ${left:-none}"
[ $rc -eq 0 ] && [ -z "$left" ]
ktap_test_result "rdma link delete uet0 leaves no uet device" [ $? -eq 0 ]

# 8: add/delete x100
bad=
for i in $(seq 1 $ROUNDS); do
	if ! uet_rdma out link add uet0 type uet netdev veth0; then
		bad="round $i: add: $out"
		break
	fi
	if ! uet_rdma out link delete uet0; then
		bad="round $i: delete: $out"
		break
	fi
done
[ -z "$bad" ] && ! uet_rdma_dev_gone uet0 && bad="uet0 still exists"
[ -n "$bad" ] && ktap_print_msg "$bad"
[ -z "$bad" ]
ktap_test_result "add/delete x$ROUNDS" [ $? -eq 0 ]

# 9: deleting the netdev removes the device
uet_rdma out link add uet0 type uet netdev veth0 || ktap_print_msg "add: $out"
"$IP" link delete veth0
uet_wait_for uet_rdma_dev_gone uet0
ktap_test_result "ip link delete veth0 removes uet0" uet_rdma_dev_gone uet0

# 10: and the netdev's name can be bound again once it exists again
uet_veth_pair veth0 veth1 || ktap_exit_fail_msg "cannot re-create the veth pair"
uet_rdma out link add uet0 type uet netdev veth0
rc=$?
ktap_print_msg "re-add: rc $rc $out"
ktap_test_result "uet0 can be re-created on a new veth0" [ $rc -eq 0 ]

# 11-13: the netdev goes away while a user context is open: the delete
# does not hang, the device disappears, the application sees
# IBV_EVENT_DEVICE_FATAL (or a failing async event file) and exits cleanly
log=/tmp/uet_link_hold.log
if uet_hold_start "$log" -d uet0 -t 60 hold; then
	timeout 30 "$IP" link delete veth0
	rc=$?
	ktap_test_result "ip link delete veth0 with a context open returns (rc $rc)" [ $rc -eq 0 ]
	uet_wait_for uet_rdma_dev_gone uet0
	ktap_test_result "uet0 is gone with a context open" uet_rdma_dev_gone uet0
	uet_wait_pid "$UET_HOLD_PID" 30
	rc=$?
	UET_HOLD_PID=
	sed 's/^/# uet_hold: /' "$log"
	[ $rc -eq 0 ] && grep -q 'DEVICE_FATAL\|async fd error' "$log"
	ktap_test_result "the application sees DEVICE_FATAL and exits cleanly (rc $rc)" [ $? -eq 0 ]
else
	ktap_test_fail "ip link delete veth0 with a context open (no context)"
	ktap_test_fail "uet0 is gone with a context open (no context)"
	ktap_test_fail "the application sees DEVICE_FATAL (no context)"
fi

ktap_finished
