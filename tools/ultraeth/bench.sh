#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# make bench: boots one guest that measures uet against rxe, siw and kernel
# TCP with perftest and iperf3 (tools/ultraeth/guest-bench.sh), then writes
# raw.csv, lat.csv, results.md and PNG plots under $UET_CACHE/bench/<time>/
# (bench/latest points to it) and prints the tables and "bench:" lines.
# Arguments are passed to guest-bench.sh (KEY=VALUE: REPS, MTUS, LOSSES,
# TRANSPORTS, TESTS, SIZES, TCP, RUN_TIMEOUT). The guest must be built
# (make bench does it). Fails if a transport could not run on a clean wire;
# never because of a figure.
. "$(dirname "$0")/lib.sh"
. "$UET_TOP/tools/ultraeth/kenv.sh"

OUT=$UET_CACHE/bench/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
gcc -O2 -static -Wall -o "$OUT/uet-memcpy" "$UET_TOP/tools/ultraeth/bench-memcpy.c" ||
	die "cannot build the memcpy probe"
printf '%s\n' "$@" >"$OUT/args"
say "benchmarks: results in $OUT (args: ${*:-defaults})"
set +e
UET_VM_FILES="$OUT/uet-memcpy" UET_VM_LOG="$OUT/console.log" \
	UET_VM_TIMEOUT=${UET_BENCH_TIMEOUT:-14400} UET_VM_MEM=${UET_VM_MEM:-3G} \
	"$UET_TOP/tools/ultraeth/vm.sh" "$UET_TOP/tools/ultraeth/guest-bench.sh" "$@" |
	grep -v -e '^BENCH,' -e '^LAT,'
rc=${PIPESTATUS[0]}
set -e
tr -d '\r' <"$OUT/console.log" | grep '^BENCH,' >"$OUT/raw.csv" || true
tr -d '\r' <"$OUT/console.log" | grep '^LAT,' >"$OUT/lat.csv" || true
grep -q '^BENCH-END' <(tr -d '\r' <"$OUT/console.log") ||
	die "the guest did not finish the benchmarks (vm.sh status $rc); see $OUT/console.log"
[ "$rc" = 0 ] || die "the guest reported status $rc; see $OUT/console.log"
ln -sfn "$OUT" "$UET_CACHE/bench/latest"
/usr/bin/python3 "$UET_TOP/tools/ultraeth/bench-report.py" "$OUT"
