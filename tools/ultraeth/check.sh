#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# `make check`: every test. Host tests (cargo test, fuzz smoke), the kernel
# build, the harness's own tests, then the kselftests in a guest. Ends with
#   ultraeth: N passed, M failed
# and exits non-zero if anything failed or could not run.
#
#   check.sh                      everything, the debug lane last
#                                 (UET_DEBUG_LANE=0 leaves it out)
#   check.sh --host-only          host tests only
#   check.sh --guest-only [--only TEST] [--extra FILE]
#                                 guest kselftests only (FILE: an extra test
#                                 added to the collection for this run)
#   check.sh --vm2-only           the two-machine test only (vm2.sh runs
#                                 guest-2host.sh in two guests joined by a
#                                 loopback wire); its results are
#                                 "[a] ..."/"[b] ..." lines
#   check.sh --debug-only [--only TEST]
#                                 the debug lane only: the data-path
#                                 kselftests (UET_DEBUG_TESTS, or TEST) on the
#                                 debug kernel (guest-debug.config), then a
#                                 kmemleak scan; its results are "debug: ..."
. "$(dirname "$0")/lib.sh"

# The debug lane's tests, in this order: what each covers, and why the
# others are left to the normal lane (about 25 minutes on the debug kernel
# under TCG), is in Documentation/infiniband/ultraeth-hardening.rst, "Debug
# kernel lane".
UET_DEBUG_TESTS=${UET_DEBUG_TESTS:-"uet_msg.sh uet_rma.sh uet_faults.sh uet_job.sh uet_job_fuzz.sh uet_unload_live.sh uet_ring_fuzz.sh uet_pktfuzz.sh uet_uverbs_fuzz.sh uet_fault_cycles.sh"}

mode=all only= extra=
while [ $# -gt 0 ]; do
	case "$1" in
	--host-only) mode=host ;;
	--guest-only) mode=guest ;;
	--debug-only) mode=debug ;;
	--vm2-only) mode=vm2 ;;
	--only) only=$2; shift ;;
	--extra) extra=$(realpath "$2"); shift ;;
	*) die "unknown option $1" ;;
	esac
	shift
done

PASS=0 FAIL=0 SKIP=0
FAILED=()
PREFIX= # put before the name of a failed kselftest (the debug lane's "debug: ")
LOGDIR=$UET_CACHE/logs/check
mkdir -p "$LOGDIR"

ok() { PASS=$((PASS + 1)); }
ko() { FAIL=$((FAIL + 1)); FAILED+=("$1"); }
summary() {
	echo
	[ ${#FAILED[@]} -eq 0 ] || printf 'failed: %s\n' "${FAILED[@]}"
	[ "$SKIP" -eq 0 ] || echo "skipped: $SKIP (see the logs in $LOGDIR)"
	echo "ultraeth: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}
# a step that must succeed for the rest to run
need() {
	local what=$1
	shift
	if ! "$@"; then
		ko "$what"
		summary
	fi
}

# parse_tap FILE: count kselftest results. Case lines are the runner's
# "# ok N ..." (one level in); a program that failed without reporting a
# failing case (crash, timeout) counts as one failure, a program with no
# cases at all counts as one result.
parse_tap() {
	local f=$1 line cases=0 casefail=0
	while IFS= read -r line; do
		case "$line" in
		"# ok "[0-9]*"# SKIP"* | "# ok "[0-9]*"# skip"*) SKIP=$((SKIP + 1)); cases=$((cases + 1)) ;;
		"# ok "[0-9]*) ok; cases=$((cases + 1)) ;;
		"# not ok "[0-9]*) ko "$PREFIX${line#\# }"; cases=$((cases + 1)); casefail=$((casefail + 1)) ;;
		"ok "[0-9]*" selftests:"*"# SKIP"*)
			[ $cases -eq 0 ] && SKIP=$((SKIP + 1)); cases=0 casefail=0 ;;
		"ok "[0-9]*" selftests:"*)
			[ $cases -eq 0 ] && ok; cases=0 casefail=0 ;;
		"not ok "[0-9]*" selftests:"*)
			[ $casefail -eq 0 ] && ko "$PREFIX$line"; cases=0 casefail=0 ;;
		esac
	done <"$f"
}

# ---------------------------------------------------------------- host
host_tests() {
	need toolchain "$UET_TOP/tools/ultraeth/toolchain.sh"
	if [ -f "$UET_TOP/tools/Cargo.toml" ]; then
		local log=$LOGDIR/cargo-test.log
		say "cargo test (tools/ workspace; log: $log)"
		set +e
		CARGO_TARGET_DIR=$UET_CACHE/build/tools/target \
			cargo test --manifest-path "$UET_TOP/tools/Cargo.toml" --workspace 2>&1 | tee "$log" |
			grep -E '^(test result|error|     Running|failures:)' >&2
		local rc=${PIPESTATUS[0]}
		set -e
		local p f
		p=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
		f=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
		PASS=$((PASS + p))
		FAIL=$((FAIL + f))
		[ "$f" -eq 0 ] || FAILED+=("cargo test: $f failed (log: $log)")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			ko "cargo test did not run to completion (log: $log)"
		fi
	fi
	# the Debian archive of the private apt configuration (apt-mirror.sh)
	if "$UET_TOP/tools/ultraeth/apt-mirror-test.sh" >"$LOGDIR/apt-mirror.log" 2>&1; then
		ok
	else
		ko "apt-mirror-test.sh (log: $LOGDIR/apt-mirror.log)"
	fi
	if [ -x "$UET_TOP/tools/uet-proto/run-fuzz.sh" ]; then
		local log=$LOGDIR/fuzz.log
		say "fuzz targets, fixed seed and executions (log: $log)"
		# a fixed seed and a fixed number of executions (about 15 s per
		# target here), so that the check is the same on every run
		if UET_FUZZ_RUNS=${UET_FUZZ_RUNS-"engine:200000 parse_packet:15000000 parse_pds:15000000 parse_ses:15000000"} \
			"$UET_TOP/tools/uet-proto/run-fuzz.sh" "${UET_FUZZ_SECONDS:-15}" >"$log" 2>&1; then
			ok
		else
			tail -n 20 "$log" >&2
			ko "fuzzing (log: $log)"
		fi
	fi
}

# --------------------------------------------------------------- guest
build_guest() {
	[ -n "${UET_SKIP_BUILD:-}" ] && return 0
	# Built with clippy: a Rust warning fails the build (and the check).
	need "kernel build (CLIPPY=1, no warnings)" env CLIPPY=1 "$UET_TOP/tools/ultraeth/kernel.sh"
	ok # the kernel and the Rust code build clean
	# The kernel's own formatting check, on the overlaid tree (upstream
	# files and ours, with the kernel's .rustfmt.toml).
	local log=$LOGDIR/rustfmtcheck.log
	say "make rustfmtcheck (log: $log)"
	if (. "$UET_TOP/tools/ultraeth/kenv.sh" && make $KMAKE_ARGS rustfmtcheck) >"$log" 2>&1; then
		ok
	else
		grep '^Diff in ' "$log" | sed 's/:[0-9]*:$//' | sort -u >&2
		ko "make rustfmtcheck (log: $log)"
	fi
	need "rdma-core build" "$UET_TOP/tools/ultraeth/rdma-core.sh"
	need "perftest build" "$UET_TOP/tools/ultraeth/perftest.sh"
	need "tools build" "$UET_TOP/tools/ultraeth/tools-build.sh"
	need "initramfs" "$UET_TOP/tools/ultraeth/initramfs.sh"
}

guest_tests() {
	local log=$LOGDIR/kselftest.log rc files=$UET_TOP/tools/ultraeth/guest-kselftest.sh
	[ -n "$extra" ] && files="$files $extra"
	say "kselftests in the guest (log: $log)"
	set +e
	# The whole collection takes about 19 minutes under TCG on 2 cores (the
	# data-path tests over netem and the 100 fault cycles, about 7 minutes,
	# are most of it): a watchdog of 45 minutes leaves room for a slow
	# machine.
	UET_VM_TIMEOUT=${UET_VM_TIMEOUT:-2700} UET_VM_FILES=$files \
		"$UET_TOP/tools/ultraeth/vm.sh" "$UET_TOP/tools/ultraeth/guest-kselftest.sh" \
		${only:+--only "$only"} 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	parse_tap "$log"
	if grep -q 'kernel reported problems during the run' "$log"; then
		ko "guest dmesg guard (see $log)"
	elif ! grep -q '^ok [0-9]* selftests:\|^not ok [0-9]* selftests:' "$log"; then
		ko "guest run produced no kselftest results (status $rc; see $log)"
	else
		ok # the run itself: booted, ran, reported, dmesg clean
	fi
}

harness_tests() {
	local log=$LOGDIR/harness.log
	say "harness self-tests (log: $log)"
	"$UET_TOP/tools/ultraeth/harness-test.sh" >"$log" 2>&1 || true
	grep -E '^(not )?ok ' "$log" >&2 || true
	while IFS= read -r line; do
		case "$line" in
		"ok "*) ok ;;
		"not ok "*) ko "harness: $line" ;;
		esac
	done <"$log"
	grep -q '^ok \|^not ok ' "$log" || ko "harness tests did not run (log: $log)"
}

# -------------------------------------------------------- two machines
# vm2.sh boots two guests, each with its own kernel and a uet device on its
# only NIC, joined by a QEMU datagram wire on 127.0.0.1, and runs
# guest-2host.sh in both (a the servers, b the clients). Every TAP line of
# either guest is one result, and the run itself one more: both scripts
# exited 0 and neither kernel reported a problem. A QEMU without the
# backend is a skip.
two_host_tests() {
	local log=$LOGDIR/vm2.log rc t0=$SECONDS line fails=0 results=0
	say "two machines: guest-2host.sh in two guests on a loopback wire (log: $log)"
	set +e
	UET_VM_TIMEOUT=${UET_VM2_TIMEOUT:-1200} UET_VM2_LOGDIR=$LOGDIR/vm2 \
		"$UET_TOP/tools/ultraeth/vm2.sh" "$UET_TOP/tools/ultraeth/guest-2host.sh" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" = 4 ] && grep -q '^skip: ' "$log"; then
		SKIP=$((SKIP + 1))
		say "two machines skipped: $(sed -n 's/^skip: //p' "$log" | head -n 1)"
		return 0
	fi
	while IFS= read -r line; do
		results=$((results + 1))
		case "$line" in
		"["[ab]"] ok "*) ok ;;
		*) ko "two machines: ${line}"; fails=$((fails + 1)) ;;
		esac
	done < <(grep -E '^\[[ab]\] (not )?ok [0-9]+ ' "$log")
	if grep -q 'kernel reported problems' "$log"; then
		ko "two machines: a guest kernel reported problems (see $log)"
	elif [ "$results" -eq 0 ]; then
		ko "two machines: no results (vm2.sh status $rc; see $log)"
	elif [ "$rc" = 0 ]; then
		ok # both guests booted, ran, reported, kernel logs clean
	elif [ "$fails" -eq 0 ]; then
		ko "two machines: vm2.sh status $rc without a failed result (see $log)"
	fi
	say "two machines: $((SECONDS - t0)) s"
}

# ---------------------------------------------------------- debug lane
# The debug kernel (UET_KVARIANT=debug: guest-debug.config, clang, its own
# tree build/<linux>-debug) and its initramfs.
build_debug() {
	[ -n "${UET_SKIP_BUILD:-}" ] && return 0
	if [ "$mode" = debug ]; then # "all" built them in build_guest
		need toolchain "$UET_TOP/tools/ultraeth/toolchain.sh"
		need "rdma-core build" "$UET_TOP/tools/ultraeth/rdma-core.sh"
		need "perftest build" "$UET_TOP/tools/ultraeth/perftest.sh"
		need "tools build" "$UET_TOP/tools/ultraeth/tools-build.sh"
	fi
	need "debug: kernel build" env UET_KVARIANT=debug "$UET_TOP/tools/ultraeth/kernel.sh"
	need "debug: initramfs" env UET_KVARIANT=debug "$UET_TOP/tools/ultraeth/initramfs.sh"
}

debug_tests() {
	local log=$LOGDIR/debug-kselftest.log rc t0=$SECONDS tests=${only:-$UET_DEBUG_TESTS}
	say "debug lane: ${tests// /, } on the debug kernel, then kmemleak (log: $log)"
	set +e
	# the tests, each with a kselftest timeout of 30 minutes (KASAN and
	# lockdep under TCG), in a guest with a watchdog of 50 minutes
	env UET_KVARIANT=debug UET_VM_TIMEOUT="${UET_DEBUG_VM_TIMEOUT:-3000}" \
		"$UET_TOP/tools/ultraeth/vm.sh" "$UET_TOP/tools/ultraeth/guest-kselftest.sh" \
		--debug "${tests// /,}" 1800 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	PREFIX="debug: " parse_tap "$log"
	if grep -q 'kernel reported problems during the run' "$log"; then
		ko "debug: guest dmesg guard (see $log)"
	elif ! grep -q '^\(not \)\{0,1\}ok [0-9]* selftests: debug: kmemleak' "$log"; then
		ko "debug: the lane did not run to its kmemleak scan (status $rc; see $log)"
	else
		ok # the run itself: booted, ran, scanned, dmesg clean
	fi
	say "debug lane: $((SECONDS - t0)) s"
}

case $mode in
host) host_tests ;;
guest) build_guest; guest_tests ;;
debug) build_debug; debug_tests ;;
vm2) build_guest; two_host_tests ;;
all)
	host_tests; build_guest; harness_tests; guest_tests; two_host_tests
	# The debug lane (ultraeth-hardening.rst, "Debug kernel lane"): about
	# 20 minutes warm. UET_DEBUG_LANE=0 leaves it out of a quick local run.
	if [ "${UET_DEBUG_LANE:-1}" != 0 ]; then
		build_debug; debug_tests
	fi
	;;
esac
summary
