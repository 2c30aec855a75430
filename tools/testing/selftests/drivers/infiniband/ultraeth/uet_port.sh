#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The uet port follows its netdev's carrier: ibv_devinfo shows PORT_DOWN /
# PORT_ACTIVE and user contexts receive IBV_EVENT_PORT_ERR /
# IBV_EVENT_PORT_ACTIVE.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ktap_print_header
uet_require_cmd "$RDMA" ibv_devinfo
uet_require_module uet_soft
uet_require_prog uet_hold
ktap_set_plan 7

cleanup() {
	[ -n "${UET_HOLD_PID:-}" ] && kill "$UET_HOLD_PID" 2>/dev/null
	uet_uet0_down
}
trap cleanup EXIT

err=$(uet_uet0_up) || ktap_exit_fail_msg "$err"

# 1: up and carrier: active; the link layer is "Unspecified" (not Ethernet,
# which would make user space take its GIDs for RoCE GIDs)
uet_wait_for uet_port_state_is uet0 PORT_ACTIVE
info=$(ibv_devinfo -d uet0 2>&1)
ktap_print_msg "$(grep -E 'hca_id|state|link_layer' <<<"$info" | tr -s '\t\n' '  ')"
grep -q 'PORT_ACTIVE' <<<"$info" && grep -q 'link_layer:[[:space:]]*Unspecified' <<<"$info"
ktap_test_result "ibv_devinfo -d uet0: PORT_ACTIVE, link_layer Unspecified" [ $? -eq 0 ]

log=/tmp/uet_port_events.log
held=0
uet_hold_start "$log" -d uet0 -t 60 events PORT_ERR PORT_ACTIVE && held=1

# 2: the peer goes down, veth0 loses its carrier, the port goes down
"$IP" link set veth1 down
uet_wait_for uet_port_state_is uet0 PORT_DOWN
ktap_print_msg "veth0 carrier $(cat /sys/class/net/veth0/carrier 2>/dev/null), port $(uet_port_state uet0), sysfs $(cat /sys/class/infiniband/uet0/ports/1/state 2>/dev/null)"
ktap_test_result "carrier lost: PORT_DOWN" uet_port_state_is uet0 PORT_DOWN

# 3: the carrier comes back
"$IP" link set veth1 up
uet_wait_for uet_port_state_is uet0 PORT_ACTIVE
ktap_print_msg "veth0 carrier $(cat /sys/class/net/veth0/carrier 2>/dev/null), port $(uet_port_state uet0)"
ktap_test_result "carrier back: PORT_ACTIVE" uet_port_state_is uet0 PORT_ACTIVE

# 4-5: the application saw both events, in order
if [ $held -eq 1 ]; then
	uet_wait_pid "$UET_HOLD_PID" 20
	rc=$?
	UET_HOLD_PID=
	sed 's/^/# uet_hold: /' "$log"
	grep -q 'IBV_EVENT_PORT_ERR port 1' "$log"
	ktap_test_result "async event IBV_EVENT_PORT_ERR delivered" [ $? -eq 0 ]
	ktap_test_result "async event IBV_EVENT_PORT_ACTIVE delivered after it (rc $rc)" [ $rc -eq 0 ]
else
	ktap_test_fail "async event IBV_EVENT_PORT_ERR delivered (no context)"
	ktap_test_fail "async event IBV_EVENT_PORT_ACTIVE delivered (no context)"
fi

# 6-7: the bound netdev itself set administratively down and up
"$IP" link set veth0 down
uet_wait_for uet_port_state_is uet0 PORT_DOWN
ktap_test_result "veth0 down: PORT_DOWN" uet_port_state_is uet0 PORT_DOWN
"$IP" link set veth0 up
uet_wait_for uet_port_state_is uet0 PORT_ACTIVE
ktap_test_result "veth0 up: PORT_ACTIVE" uet_port_state_is uet0 PORT_ACTIVE

ktap_finished
