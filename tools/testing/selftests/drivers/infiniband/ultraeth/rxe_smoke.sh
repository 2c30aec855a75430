#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Smoke test of the guest's RDMA userspace with the kernel's soft-RoCE (rxe):
# `rdma link add`, `ibv_devinfo`, and an RC pingpong between two rxe
# devices on the two ends of a veth pair across network namespaces.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

NS=uet-rxe-peer
ktap_print_header
uet_require_cmd ibv_devinfo ibv_rc_pingpong "$RDMA"
uet_require_module rdma_rxe
ktap_set_plan 5

cleanup() {
	"$RDMA" link delete rxe1 2>/dev/null
	"$RDMA" link delete rxe0 2>/dev/null
	"$IP" link delete veth0 2>/dev/null
	"$IP" netns delete "$NS" 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
}
trap cleanup EXIT

modprobe rdma_rxe || ktap_exit_fail_msg "cannot load rdma_rxe"
uet_veth_pair veth0 veth1 "$NS" || ktap_exit_fail_msg "cannot create the veth pair"

# 1: rdma link add creates both devices
if "$RDMA" link add rxe0 type rxe netdev veth0 &&
	"$IP" netns exec "$NS" "$RDMA" link add rxe1 type rxe netdev veth1; then
	ktap_test_pass "rdma link add rxe0/rxe1 on veth0/veth1"
else
	ktap_test_fail "rdma link add rxe0/rxe1 on veth0/veth1"
fi

# 2: rdma link shows rxe0 bound to veth0
"$RDMA" link show rxe0/1 >/tmp/rxe_link.log 2>&1
ktap_print_msg "$(cat /tmp/rxe_link.log)"
grep -q 'netdev veth0' /tmp/rxe_link.log
ktap_test_result "rdma link shows rxe0 on veth0" [ $? -eq 0 ]

# 3: ibv_devinfo lists rxe0 with an active port
ibv_devinfo -d rxe0 >/tmp/rxe_devinfo.log 2>&1
ktap_print_msg "$(grep -E 'hca_id|state|link_layer' /tmp/rxe_devinfo.log | tr '\n' ' ')"
grep -q 'hca_id:.*rxe0' /tmp/rxe_devinfo.log && grep -q 'PORT_ACTIVE' /tmp/rxe_devinfo.log
ktap_test_result "ibv_devinfo shows rxe0, port active" [ $? -eq 0 ]

# 4: the IPv4 GIDs appear
uet_wait_for uet_gid_index rxe0 10.77.0.1
g0=$(uet_gid_index rxe0 10.77.0.1)
g1=$(uet_gid_index rxe1 10.77.0.2)
[ -n "$g0" ] && [ -n "$g1" ]
ktap_test_result "IPv4 GIDs present (rxe0 idx ${g0:-none}, rxe1 idx ${g1:-none})" [ $? -eq 0 ]

# 5: RC pingpong across the namespaces exchanges data
ibv_rc_pingpong -d rxe0 -g "${g0:-1}" -n 100 >/tmp/rxe_srv.log 2>&1 &
srv=$!
sleep 1
"$IP" netns exec "$NS" ibv_rc_pingpong -d rxe1 -g "${g1:-1}" -n 100 10.77.0.1 >/tmp/rxe_cli.log 2>&1
crc=$?
wait $srv
src=$?
sed 's/^/# client: /' /tmp/rxe_cli.log
[ $crc -eq 0 ] && [ $src -eq 0 ] && grep -q 'iters in' /tmp/rxe_cli.log
ktap_test_result "ibv_rc_pingpong rxe1 -> rxe0: 100 iterations (client $crc, server $src)" [ $? -eq 0 ]

ktap_finished
