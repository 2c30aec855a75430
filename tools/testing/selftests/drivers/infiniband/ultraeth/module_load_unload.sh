#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# uet_soft loads and unloads cleanly, 50 times in a row.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ROUNDS=50
ktap_print_header
uet_require_module uet_soft
ktap_set_plan 4

if [ -d /sys/module/uet_soft ]; then
	modprobe -r uet_soft || ktap_exit_fail_msg "uet_soft was loaded and cannot be removed"
fi

# 1: a single load shows up in lsmod and sysfs, with its initstate live
modprobe uet_soft
if lsmod | grep -q '^uet_soft ' && [ "$(cat /sys/module/uet_soft/initstate 2>/dev/null)" = live ]; then
	ktap_test_pass "load: uet_soft is live in lsmod and /sys/module"
else
	ktap_test_fail "load: uet_soft is live in lsmod and /sys/module"
fi

# 2: unload removes it
modprobe -r uet_soft
if ! lsmod | grep -q '^uet_soft ' && [ ! -e /sys/module/uet_soft ]; then
	ktap_test_pass "unload: uet_soft is gone from lsmod and /sys/module"
else
	ktap_test_fail "unload: uet_soft is gone from lsmod and /sys/module"
fi

# 3: load/unload x50, every step must succeed
bad=0
for i in $(seq 1 $ROUNDS); do
	if ! modprobe uet_soft; then
		ktap_print_msg "round $i: load failed"
		bad=1
		break
	fi
	if ! modprobe -r uet_soft; then
		ktap_print_msg "round $i: unload failed"
		bad=1
		break
	fi
done
ktap_test_result "load/unload x$ROUNDS" [ $bad -eq 0 ]

# 4: memory does not grow across the cycles (module text, slab): compare
# MemAvailable before and after another 50 rounds, allowing 4 MiB of noise
avail() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
sync
before=$(avail)
for i in $(seq 1 $ROUNDS); do modprobe uet_soft && modprobe -r uet_soft; done
sync
after=$(avail)
ktap_print_msg "MemAvailable before ${before} kB, after ${after} kB"
ktap_test_result "no memory growth over $ROUNDS load/unload cycles" [ $((before - after)) -lt 4096 ]

ktap_finished
