#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Runs every fuzz target of the UET protocol engine for SECONDS each
# (default 20) and exits non-zero if any target finds a crash.
#
#   tools/uet-proto/run-fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (installed here with `cargo install --locked` if
# missing) and a nightly toolchain; without nightly the stable compiler is
# used with RUSTC_BOOTSTRAP=1, which lets it accept the -Z sanitizer flags.
set -eu

secs=${1:-20}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "run-fuzz: installing cargo-fuzz" >&2
	cargo install --locked cargo-fuzz >&2
fi

tc=
if rustup run nightly rustc --version >/dev/null 2>&1; then
	tc=+nightly
else
	export RUSTC_BOOTSTRAP=1
fi

targets=${*:-$(cargo fuzz list)}
fail=0
for t in $targets; do
	mkdir -p "corpus/$t"
	echo "run-fuzz: $t for ${secs}s" >&2
	# -s none: the engine has no unsafe code, so ASan adds little; the
	# build is faster and libFuzzer still catches panics, hangs and OOMs.
	if cargo $tc fuzz run -s none "$t" "corpus/$t" -- \
		-max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 \
		-timeout=10 -print_final_stats=1 >"corpus/$t.log" 2>&1; then
		grep -E "stat::number_of_executed_units|Done" "corpus/$t.log" | tail -1 >&2 || true
		echo "ok $t"
	else
		tail -30 "corpus/$t.log" >&2
		echo "not ok $t"
		fail=1
	fi
done
exit $fail
