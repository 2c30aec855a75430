#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The GIDs of a uet port are its netdev's IP addresses (IPv4 as IPv4-mapped
# IPv6), following `ip addr add/del` (with IBV_EVENT_GID_CHANGE), though the
# port is not RoCE: ibv_devinfo says nothing of RoCE; `rdma statistic`
# lists its counters.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ktap_print_header
uet_require_cmd "$RDMA"
uet_require_module uet_soft
uet_require_prog uet_hold
ktap_set_plan 9

cleanup() {
	uet_delete_links
	[ -n "${UET_HOLD_PID:-}" ] && kill "$UET_HOLD_PID" 2>/dev/null
	"$IP" link delete veth0 2>/dev/null
	modprobe -r uet_soft 2>/dev/null
}
trap cleanup EXIT

# uet_gid6_index DEV ADDR: the GID index holding IPv6 address ADDR
# (written in full, lower case, as sysfs shows it), or nothing
uet_gid6_index() {
	local f
	for f in /sys/class/infiniband/"$1"/ports/1/gids/*; do
		if [ "$(cat "$f" 2>/dev/null)" = "$2" ]; then
			basename "$f"
			return 0
		fi
	done
	return 1
}
# has_gid4 ADDR / has_gid6 GID: uet0 has that GID (quiet)
has_gid4() {
	uet_gid_index uet0 "$1" >/dev/null
}
has_gid6() {
	uet_gid6_index uet0 "$1" >/dev/null
}
gids() {
	grep -v '^0000:0000:0000:0000:0000:0000:0000:0000$' \
		/sys/class/infiniband/uet0/ports/1/gids/* 2>/dev/null |
		sed 's|.*/gids/||' | tr '\n' ' '
}

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
uet_veth_pair veth0 veth1 || ktap_exit_fail_msg "cannot create the veth pair"
uet_rdma out link add uet0 type uet netdev veth0 ||
	ktap_exit_fail_msg "rdma link add uet0 type uet netdev veth0: $out"

# 1: the address veth0 had before the device existed
uet_wait_for uet_gid_index uet0 10.77.0.1
ktap_print_msg "GIDs: $(gids)"
ktap_test_result "IPv4 GID of 10.77.0.1 present" has_gid4 10.77.0.1

# 2-3: an address added and deleted later; an application sees the change
log=/tmp/uet_gid_events.log
held=0
uet_hold_start "$log" -n -d uet0 -t 60 events GID_CHANGE && held=1
"$IP" addr add 10.77.1.1/24 dev veth0
uet_wait_for uet_gid_index uet0 10.77.1.1
ktap_test_result "ip addr add 10.77.1.1: its GID appears" has_gid4 10.77.1.1
if [ $held -eq 1 ]; then
	uet_wait_pid "$UET_HOLD_PID" 20
	rc=$?
	UET_HOLD_PID=
	sed 's/^/# uet_hold: /' "$log"
	ktap_test_result "an application gets IBV_EVENT_GID_CHANGE (rc $rc)" [ $rc -eq 0 ]
else
	ktap_test_fail "an application gets IBV_EVENT_GID_CHANGE (no context)"
fi
"$IP" addr del 10.77.1.1/24 dev veth0
uet_wait_for eval '! has_gid4 10.77.1.1'
ktap_print_msg "GIDs: $(gids)"
! has_gid4 10.77.1.1
ktap_test_result "ip addr del 10.77.1.1: its GID disappears" [ $? -eq 0 ]

# 4-5: IPv6
if [ -e /proc/net/if_inet6 ]; then
	gid6=fd00:0077:0000:0000:0000:0000:0000:0001
	"$IP" -6 addr add fd00:77::1/64 dev veth0 nodad
	uet_wait_for uet_gid6_index uet0 $gid6
	ktap_print_msg "GIDs: $(gids)"
	ktap_test_result "ip -6 addr add fd00:77::1: its GID appears" has_gid6 $gid6
	"$IP" -6 addr del fd00:77::1/64 dev veth0
	uet_wait_for eval "! has_gid6 $gid6"
	! has_gid6 $gid6
	ktap_test_result "ip -6 addr del fd00:77::1: its GID disappears" [ $? -eq 0 ]
else
	ktap_test_skip "IPv6 GID appears (no IPv6 in this kernel)"
	ktap_test_skip "IPv6 GID disappears (no IPv6 in this kernel)"
fi

# 6: the GID entries name veth0 as their netdev
idx=$(uet_gid_index uet0 10.77.0.1)
ndev=$(cat /sys/class/infiniband/uet0/ports/1/gid_attrs/ndevs/"${idx:-0}" 2>/dev/null)
ktap_print_msg "GID ${idx:-none}: ndev ${ndev:-none}, type $(cat /sys/class/infiniband/uet0/ports/1/gid_attrs/types/"${idx:-0}" 2>/dev/null)"
[ "$ndev" = veth0 ]
ktap_test_result "the GID's netdev is veth0" [ $? -eq 0 ]

# 8: not RoCE: ibv_devinfo -v lists the GIDs with no RoCE type
info=$(ibv_devinfo -v -d uet0 2>&1)
ktap_print_msg "$(grep -E 'link_layer|GID' <<<"$info" | tr -s '\t\n' '  ')"
grep -q 'GID\[ *[0-9]*\]:.*0a4d:0001' <<<"$info" && ! grep -qi 'roce' <<<"$info"
ktap_test_result "ibv_devinfo -v: GIDs listed, no RoCE" [ $? -eq 0 ]

# 9: rdma statistic lists counters (name value pairs) for uet0 port 1
uet_rdma out statistic show link uet0/1
rc=$?
ktap_print_msg "rdma statistic show link uet0/1: rc $rc: $(tr '\n' ' ' <<<"$out")"
[ $rc -eq 0 ] && grep -qE 'link uet0/1 .*[a-z_]+ [0-9]+' <<<"$out"
ktap_test_result "rdma statistic show link uet0/1 lists counters" [ $? -eq 0 ]

ktap_finished
