#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs inside the guest: the installed kselftests, TAP on stdout.
#   guest-kselftest.sh [--only TEST]   run one test of the collection
#   guest-kselftest.sh --debug TEST,... [TIMEOUT]
#                                      the debug lane (check.sh, on the
#                                      debug kernel): TESTS one by one (each
#                                      timed, with TIMEOUT seconds instead of
#                                      the settings file's), then kmemleak
#                                      and lockdep results
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
[ "${1:-}" = --debug ] || exec ./run_kselftest.sh -c "$col"

# ---- the debug lane ----------------------------------------------------------
# Results of its own are "ok N selftests: debug: WHAT" lines, which check.sh
# counts like a test program's.
# What the kernel log must not say (the host's vm.sh guard fails the run on
# the same; here each report is tied to the test that caused it).
splat='WARNING:|BUG:|BUG |Oops|KASAN|UBSAN|KFENCE|refcount_t:|list_add corruption|list_del corruption|general protection|ODEBUG|INFO: trying to register non-static key|turning off the locking correctness validator|blocked for more than|soft lockup|RCU stall|rcu_sched detected stalls|Kernel panic|panicked at'
n=0
result() { # result OK(0/1) WHAT [MESSAGE LINES on stdin]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n selftests: debug: $2"; else echo "not ok $n selftests: debug: $2"; fi
}
grep -q " /sys/kernel/debug debugfs " /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug
tests=$(echo "$2" | tr , " ")
timeout=${3:-1800}
# The debug kernel runs the data path about four times slower: the verbs
# tests wait four times as long for a completion that should come
# (uet_pair.h). A 64 MiB rendezvous send (uet_msg's max_msg_size) moved
# about 40 MiB in the normal 120 s there.
export UET_WAIT_SCALE=${UET_WAIT_SCALE:-4}
# KASAN's quarantine holds freed objects back from their slabs: tests that
# count slab objects to find a leak leave that to kmemleak here.
export UET_DEBUG_KERNEL=1
# The hostile-input tests run here for their paths (uverbs unwinding, ring
# validation, teardown races) under KASAN, lockdep and kmemleak, not for
# their volume, which the normal lane has: a tenth of it.
export UET_FUZZ_ITERS=${UET_FUZZ_ITERS:-100000} # uet_uverbs_fuzz: calls
export UET_RING_ITERS=${UET_RING_ITERS:-1000} UET_RING_SECS=${UET_RING_SECS:-5}
export UET_FAULT_CYCLES=${UET_FAULT_CYCLES:-10} UET_FAULT_SLAB_KIB=${UET_FAULT_SLAB_KIB:-65536}
# uet_pktfuzz: frames; KASAN's quarantine keeps freed objects in the slab
# for a while, so its slab tolerance is loose here: kmemleak finds leaks
export UET_FUZZ_COUNT=${UET_FUZZ_COUNT:-50000} UET_FUZZ_WARMUP=${UET_FUZZ_WARMUP:-2000}
export UET_FUZZ_SLAB_KIB=${UET_FUZZ_SLAB_KIB:-65536} UET_FUZZ_SKB_OBJS=${UET_FUZZ_SKB_OBJS:-65536}
echo "# debug lane: $(uname -r), tests: $tests, timeout ${timeout}s each"
seen=$(dmesg | grep -c -E "$splat")
for t in $tests; do
	t0=$(date +%s)
	./run_kselftest.sh -o "$timeout" -t "$col:$t" | tee /tmp/debug-run.out
	# a name that is not in the collection prints no result line at all
	grep -q -E "^(not )?ok [0-9]+ selftests: $col: $t( |\$)" /tmp/debug-run.out ||
		result 1 "$t ran (no result line: is it in the collection?)"
	now=$(dmesg | grep -c -E "$splat")
	echo "# debug: $t took $(($(date +%s) - t0)) s"
	if [ "$now" -gt "$seen" ]; then
		echo "# debug: $t: the kernel log reports:"
		dmesg | grep -E "$splat" | tail -n "+$((seen + 1))" | head -n 20 | sed 's/^/# debug:   /'
		seen=$now
	fi
done

# kmemleak: every module of the tests unloaded (their teardown paths are part
# of what is checked), then two scans with a pause, as
# Documentation/dev-tools/kmemleak.rst advises (an object is only reported
# once it is older than 5 s and was found unreferenced by a scan).
# A module that cannot be unloaded is a leaked reference, and kmemleak does
# not report memory a loaded module still reaches: a failure of its own.
stuck=
for m in uet_soft rdma_rxe siw; do
	[ -d "/sys/module/$m" ] && { modprobe -r "$m" || stuck="$stuck $m"; }
done
result $((${#stuck} != 0)) "the RDMA modules unload after the tests (stuck:${stuck:- none})"
ml=/sys/kernel/debug/kmemleak
if [ -e "$ml" ]; then
	t0=$(date +%s)
	sleep 6
	echo scan >"$ml"
	sleep 6
	echo scan >"$ml"
	cat "$ml" >/tmp/kmemleak.txt
	leaks=$(grep -c '^unreferenced object' /tmp/kmemleak.txt)
	echo "# debug: kmemleak scan took $(($(date +%s) - t0)) s, $leaks unreferenced objects"
	sed 's/^/# kmemleak: /' /tmp/kmemleak.txt | head -n 400
	result $((leaks != 0)) "kmemleak reports no leak ($leaks unreferenced objects)"
else
	result 1 "kmemleak reports no leak ($ml does not exist: is CONFIG_DEBUG_KMEMLEAK on?)"
fi

# lockdep must still be validating at the end: it turns itself off after its
# first report (or when it runs out of room), hiding any later one.
dl=$(awk '/debug_locks:/ {print $2}' /proc/lockdep_stats 2>/dev/null)
result $((${dl:-0} != 1)) "lockdep is still on at the end (debug_locks: ${dl:-no /proc/lockdep_stats})"
n_splat=$(dmesg | grep -c -E "$splat")
result $((n_splat != 0)) "the kernel log has no warning, KASAN, UBSAN, lockdep or BUG report ($n_splat lines)"
exit 0
