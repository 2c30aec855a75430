#!/usr/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# PID 1 of the test guest. Runs /uet/script (appended to the initramfs by
# vm.sh) as root, then reports on dedicated serial ports that only this
# file writes to:
#   ttyS1: "UET_EXIT=<status>" (the script's exit status)
#   ttyS2: the kernel log (for the host's dmesg guard)
# and powers the guest off.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/netns
hostname "$(cat /etc/hostname)"
/usr/bin/ip link set lo up
ulimit -l unlimited

rc=255
if [ -x /uet/script ]; then
	cd /uet || exit
	# shellcheck disable=SC2046 # ARGS are words, as on the make command line
	/uet/script $(cat /uet/args 2>/dev/null) </dev/null
	rc=$?
	cd /
else
	echo "guest-init: no /uet/script to run" >&2
fi

sync
dmesg >/dev/ttyS2
echo "UET_EXIT=$rc" >/dev/ttyS1
reboot -f
