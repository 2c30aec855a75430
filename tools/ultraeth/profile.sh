#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# make profile: perf in the guest. Boots one guest, creates two devices of
# one transport (uet by default) over a veth between two namespaces, runs
# perftest tests under `perf record -a -g` (cpu-clock: a TCG guest has no
# PMU) and prints, per test, the figure, the top symbols, the time per
# process and the call chains into one symbol. Arguments (KEY=VALUE):
#   TRANSPORT [uet]   uet, rxe or siw
#   TESTS ["ib_write_bw:65536:600 ib_send_bw:8:5000 ib_send_lat:8:1000"]
#                     program:size:iterations, comma- or space-separated
#   SYM [_raw_spin_unlock_irq_enable]
#                     whose callers to print: with interrupts off nothing is
#                     sampled, so the time of an irq-safe lock's critical
#                     section (the FEP's engine lock) shows up where
#                     interrupts come back on
# The perf binary is the host's (Debian's linux-perf), copied into the
# guest with its libraries. The guest must be built (make profile does it).
. "$(dirname "$0")/lib.sh"
. "$UET_TOP/tools/ultraeth/kenv.sh"

if ! command -v perf >/dev/null; then
	[ "$(id -u)" = 0 ] || die "perf is missing (Debian package linux-perf); run as root or install it"
	run_logged "$UET_CACHE/logs/apt-install.log" "apt-get install linux-perf" \
		sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends linux-perf"
fi
PKG=$(mktemp -d)
trap 'rm -rf "$PKG"' EXIT
mkdir -p "$PKG/perfpkg/lib"
cp "$(command -v perf)" "$PKG/perfpkg/perf"
ldd "$(command -v perf)" | awk '/=> \// { print $3 }' | xargs -r cp -L -t "$PKG/perfpkg/lib"
UET_VM_FILES="$PKG/perfpkg" UET_VM_MEM=${UET_VM_MEM:-3G} \
	"$UET_TOP/tools/ultraeth/vm.sh" "$UET_TOP/tools/ultraeth/guest-profile.sh" "$@"
