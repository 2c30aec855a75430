#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# /uet/script of each guest of vm2.sh (run by guest-init.sh): brings up the
# wire (eth0, the guest's only NIC) with this guest's address from
# /uet/vm2, exports UET_ROLE (a or b), UET_ADDR and UET_PEER, names the
# guest uet-a or uet-b and runs the user's script, /uet/user, with the
# arguments; its status is the guest's.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

role= addr= peer= mac=
# shellcheck disable=SC2046 # key=value words
export $(cat /uet/vm2)
UET_ROLE=$role UET_ADDR=$addr UET_PEER=$peer
export UET_ROLE UET_ADDR UET_PEER
hostname "uet-$role"

IP=$(type -P ip)
dev=
for d in /sys/class/net/*; do
	[ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] && dev=${d##*/}
done
if [ -z "$dev" ]; then
	echo "guest-vm2: no NIC with MAC $mac (is virtio-net in the kernel?); have: $(ls /sys/class/net | tr '\n' ' ')" >&2
	exit 1
fi
[ "$dev" = eth0 ] || "$IP" link set "$dev" name eth0 || exit 1
"$IP" addr add "$addr/24" dev eth0 && "$IP" link set eth0 up || {
	echo "guest-vm2: cannot bring eth0 up with $addr" >&2
	exit 1
}
echo "guest-vm2: guest $role, eth0 $addr (peer $peer)"
# shellcheck disable=SC2046 # ARGS are words, as with vm.sh
exec /uet/user "$@"
