#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Runs every fuzz target of the UET protocol engine for SECONDS each
# (default 20) and exits non-zero if any target finds a crash.
#
#   tools/uet-proto/run-fuzz.sh [--seed N|random] [SECONDS] [TARGET...]
#
# Each target first replays its committed seed corpus (fuzz/seeds/TARGET/:
# generated packets and every crash input found so far) with -runs=0, so
# an old crash that comes back fails at once. Then it fuzzes:
#
#  * with a fixed libFuzzer seed (--seed N, or UET_FUZZ_SEED; default 1,
#    which is what `make check` gets): from a temporary copy of the seed
#    corpus only, so a run does not depend on what earlier runs left in
#    corpus/. Same seed, same inputs in the same order (how far a run
#    gets in SECONDS still depends on the machine).
#  * with a random seed (--seed random or UET_FUZZ_SEED=random, as
#    `make fuzz` does): from the accumulating corpus/TARGET/ plus the
#    seeds; new inputs are kept in corpus/TARGET/. The seed is printed.
#
# A crash input is written to fuzz/artifacts/TARGET/; once fixed, copy it
# into fuzz/seeds/TARGET/ (keep the crash- prefix) so it stays fixed.
# Logs: fuzz/corpus/TARGET.log.
#
# Needs cargo-fuzz (installed here with `cargo install --locked` if
# missing) and a nightly toolchain; without nightly the stable compiler is
# used with RUSTC_BOOTSTRAP=1, which lets it accept the -Z sanitizer flags.
set -eu

seed=${UET_FUZZ_SEED:-1}
while [ $# -gt 0 ]; do
	case $1 in
	--seed) [ $# -ge 2 ] || { echo "run-fuzz: --seed needs a value" >&2; exit 2; }
		seed=$2; shift 2 ;;
	--seed=*) seed=${1#--seed=}; shift ;;
	--) shift; break ;;
	-*) echo "usage: run-fuzz.sh [--seed N|random] [SECONDS] [TARGET...]" >&2
		exit 2 ;;
	*) break ;;
	esac
done
secs=${1:-20}
[ $# -gt 0 ] && shift

mode=fixed
if [ "$seed" = random ]; then
	mode=random
	seed=$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 4294967295 + 1 ))
fi
case $seed in
''|*[!0-9]*) echo "run-fuzz: seed must be a number or 'random': $seed" >&2; exit 2 ;;
esac

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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uet-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# -s none: the engine has no unsafe code, so ASan adds little; the build
# is faster and libFuzzer still catches panics, hangs and OOMs.
fuzz() {
	cargo $tc fuzz run -s none "$@"
}
opts="-max_len=4096 -rss_limit_mb=2048 -timeout=10"

targets=${*:-$(cargo fuzz list)}
echo "run-fuzz: seed $seed ($mode), ${UET_FUZZ_RUNS:+runs $UET_FUZZ_RUNS, else }${secs}s per target" >&2
mkdir -p corpus
fail=0
for t in $targets; do
	log=corpus/$t.log
	# Replay the seeds (from a copy: libFuzzer may write into its corpus).
	rm -rf "$tmp/$t"
	mkdir -p "$tmp/$t"
	if [ -d "seeds/$t" ]; then
		cp seeds/"$t"/* "$tmp/$t/" 2>/dev/null || true
	fi
	n=$(ls "$tmp/$t" | wc -l)
	if [ "$n" -gt 0 ]; then
		if ! fuzz "$t" "$tmp/$t" -- $opts -runs=0 >"$log" 2>&1; then
			tail -30 "$log" >&2
			echo "not ok $t (a seed of fuzz/seeds/$t fails)"
			fail=1
			continue
		fi
	fi
	if [ $mode = fixed ]; then
		dirs="$tmp/$t"
	else
		mkdir -p "corpus/$t"
		dirs="corpus/$t $tmp/$t"
	fi
	# UET_FUZZ_RUNS="target:N ..." bounds a fixed-seed run by executions
	# instead of time, so it does the same work on any machine (`make
	# check` uses it); otherwise SECONDS bound the run.
	limit=-max_total_time="$secs"
	for r in ${UET_FUZZ_RUNS:-}; do
		[ $mode = fixed ] && [ "${r%%:*}" = "$t" ] && limit=-runs="${r#*:}"
	done
	echo "run-fuzz: $t: $n seeds replayed; fuzzing (${limit#-})" >&2
	if fuzz "$t" $dirs -- $opts -seed="$seed" \
		$limit -print_final_stats=1 >"$log" 2>&1; then
		grep -E "stat::number_of_executed_units|Done" "$log" | tail -1 >&2 || true
		echo "ok $t"
	else
		tail -30 "$log" >&2
		echo "not ok $t (seed $seed; crashing input in fuzz/artifacts/$t/)"
		fail=1
	fi
done
exit $fail
