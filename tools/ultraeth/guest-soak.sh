#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs inside the guest (make soak): the soak kselftest uet_soak.sh for
# SECONDS (default 600), TAP on stdout; exits non-zero if a case failed.
#   guest-soak.sh [SECONDS]
# uet_soak.sh is installed with the kselftests (TEST_FILES) but not in the
# collection: it is added to the list here, and run with a kselftest
# timeout of SECONDS + 600 instead of the directory's settings file's. A
# copy shipped with the run (vm.sh UET_VM_FILES, in /uet) replaces the
# installed one.
col=drivers/infiniband/ultraeth
secs=${1:-600}
cd /kselftest || exit 1
if [ -f /uet/uet_soak.sh ]; then
	cp /uet/uet_soak.sh "$col/" && chmod +x "$col/uet_soak.sh"
fi
[ -x "$col/uet_soak.sh" ] || { echo "no $col/uet_soak.sh in the guest (make initramfs)" >&2; exit 1; }
grep -qx "$col:uet_soak.sh" kselftest-list.txt || echo "$col:uet_soak.sh" >>kselftest-list.txt
export UET_SOAK_SECONDS="$secs"
exec ./run_kselftest.sh -o "$((secs + 600))" -t "$col:uet_soak.sh"
