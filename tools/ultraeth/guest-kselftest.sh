#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs inside the guest: the installed kselftests, TAP on stdout.
#   guest-kselftest.sh [--only TEST]   run one test of the collection
# Extra test files shipped with the run (vm.sh UET_VM_FILES, in /uet) are
# added to the collection first; the harness uses this to prove that a
# failing test fails `make check`.
col=drivers/infiniband/ultraeth
cd /kselftest || exit 1
for f in /uet/*.sh; do
	case "$f" in /uet/script | */guest-kselftest.sh) continue ;; esac
	[ -f "$f" ] || continue
	cp "$f" "$col/" && chmod +x "$col/${f##*/}"
	echo "$col:${f##*/}" >>kselftest-list.txt
done
if [ "${1:-}" = --only ]; then
	exec ./run_kselftest.sh -t "$col:$2"
fi
exec ./run_kselftest.sh -c "$col"
