#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The demo, run inside the guest by `make demo`: load uet_soft, create a UET
# device on a veth wire, show it through the rdma tool and libibverbs, take
# the link down and up, join jobs, ping-pong messages between the two
# namespaces (with the device counters before and after), and tear
# everything down again.
set -e
step() { printf '\n### %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "guest kernel"
run uname -r

step "load uet_soft"
run modprobe uet_soft
run lsmod
dmesg | grep -i 'ultra ethernet' | sed 's/^/dmesg: /'

step "a veth wire between two network namespaces"
run ip netns add peer
run ip link add veth0 type veth peer name veth1 netns peer
run ip addr add 192.168.77.1/24 dev veth0
run ip link set veth0 up
run ip -n peer addr add 192.168.77.2/24 dev veth1
run ip -n peer link set veth1 up

step "create the UET devices"
run rdma link add uet0 type uet netdev veth0
run ip netns exec peer rdma link add uet1 type uet netdev veth1
run rdma dev
run rdma link
run ibv_devices
run ibv_devinfo -v -d uet0
ibv_devinfo -d uet0 | grep -q PORT_ACTIVE
run rdma statistic show link uet0/1
echo "GIDs of uet0 (the netdev's addresses):"
for g in /sys/class/infiniband/uet0/ports/1/gids/*; do
	v=$(cat "$g")
	[ "$v" = 0000:0000:0000:0000:0000:0000:0000:0000 ] || echo "  ${g##*/}: $v"
done

step "port state follows the carrier"
run ip -n peer link set veth1 down
run rdma link show uet0/1
run ip -n peer link set veth1 up
sleep 1
run rdma link show uet0/1

step "errors are clear errnos"
refused() { printf '$ %s\n' "$*"; if "$@"; then echo "unexpectedly succeeded"; exit 1; fi; }
refused rdma link add uet9 type uet netdev lo
refused rdma link add uet9 type uet netdev veth0
refused rdma link add uet9 type uet netdev nosuchdev

step "a job: the launcher's file descriptor is the capability"
run ls -l /dev/infiniband/job
JOIN=/kselftest/drivers/infiniband/ultraeth/uet_join
printf '$ %s\n' "uet-launch --job-id 77 -n 2 -- $JOIN"
UET_DEV=uet0 uet-launch --job-id 77 -n 2 -- "$JOIN"
printf '$ %s\n' "uet-launch --job-id auto -n 2 -- sh -c 'echo rank \$UET_RANK/\$UET_SIZE: job \$UET_JOB_ID fd \$UET_JOB_FD'"
uet-launch --job-id auto -n 2 -- sh -c 'echo rank $UET_RANK/$UET_SIZE: job $UET_JOB_ID fd $UET_JOB_FD'
echo "a user without access to the job device:"
if su -s /bin/sh uetuser -c "uet-launch -n 1 -- true"; then
	echo "unexpectedly succeeded"
	exit 1
fi

step "ping-pong between the namespaces: UET endpoints of job 9, UDP port 4793"
PINGPONG=/kselftest/drivers/infiniband/ultraeth/uet_pingpong
run rdma statistic show link uet0/1
run ip netns exec peer rdma statistic show link uet1/1
printf '$ %s\n' "ip netns exec peer uet-launch --job-id 9 -n 1 -- uet_pingpong -d uet1 -s 4096 -n 1000 -c &"
ip netns exec peer uet-launch --job-id 9 -n 1 -- "$PINGPONG" -d uet1 -s 4096 -n 1000 -c \
	> /tmp/pingpong-peer.log 2>&1 &
peer_pid=$!
printf '$ %s\n' "uet-launch --job-id 9 -n 1 -- uet_pingpong -d uet0 -s 4096 -n 1000 -c 192.168.77.2"
uet-launch --job-id 9 -n 1 -- "$PINGPONG" -d uet0 -s 4096 -n 1000 -c 192.168.77.2
peer_rc=0
wait "$peer_pid" || peer_rc=$?
sed 's/^/peer: /' /tmp/pingpong-peer.log
[ "$peer_rc" -eq 0 ]
run rdma statistic show link uet0/1
run ip netns exec peer rdma statistic show link uet1/1

step "tear down"
run rdma link delete uet0
run ip netns exec peer rdma link delete uet1
run rdma dev
run modprobe -r uet_soft
test ! -e /sys/module/uet_soft
echo
echo "demo: done"
