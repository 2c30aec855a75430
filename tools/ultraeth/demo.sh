#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The demo, run inside the guest by `make demo`.
set -e
step() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "guest kernel"
run uname -a

step "load uet_soft"
run modprobe uet_soft
run lsmod
run cat /sys/module/uet_soft/initstate
dmesg | grep -i 'ultra ethernet' | sed 's/^/dmesg: /'

step "unload uet_soft"
run modprobe -r uet_soft
test ! -e /sys/module/uet_soft
dmesg | grep -i 'ultra ethernet' | tail -n 1 | sed 's/^/dmesg: /'
echo
echo "demo: done"
