#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# uet-launch: ranks inherit a member descriptor of the job (join and query
# only: they cannot seal, revoke or realize) and the UET_* environment, join
# the job from it (uet_join, the rank-side sample, on uet0 over veth0), a
# failed rank makes the launcher exit with its status and kill the others,
# signals are forwarded, --seal seals once every rank joined (ranks, not
# contexts), and every failure is a clear one-line error with the
# documented exit status.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ktap_print_header
LAUNCH=$(type -P uet-launch)
[ -n "$LAUNCH" ] || { ktap_skip_all "uet-launch is not installed"; exit "$KSFT_SKIP"; }
uet_require_cmd "$RDMA"
uet_require_module uet_soft
uet_require_prog uet_join uet_job_ctl
JOIN=$UET_DIR/uet_join
CTL=$UET_DIR/uet_job_ctl
ktap_set_plan 15

T=$(mktemp -d /tmp/uet_launch.XXXXXX)
cleanup() {
	[ -n "${BG:-}" ] && kill -KILL "$BG" 2>/dev/null
	uet_delete_links
	"$IP" link delete veth0 2>/dev/null
	modprobe -r uet_soft 2>/dev/null
	rm -f /etc/modprobe.d/uet_launch_test.conf
	rm -rf "$T"
}
trap cleanup EXIT

# t DESC CMD...: one test case, passing if CMD succeeds
t() {
	local d=$1
	shift
	if "$@"; then
		ktap_test_pass "$d"
	else
		ktap_test_fail "$d"
	fi
}

# launch OUT ERR ARGS...: run uet-launch (60 s at most), its exit status in RC
launch() {
	local out=$1 err=$2
	shift 2
	timeout 60 "$LAUNCH" "$@" >"$out" 2>"$err"
	RC=$?
}

# procs_with TEXT: number of processes whose command line (arguments
# joined by spaces) contains TEXT
procs_with() {
	local f n=0 c
	for f in /proc/[0-9]*/cmdline; do
		c=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue
		case "$c" in *"$1"*) n=$((n + 1)) ;; esac
	done
	echo $n
}

modprobe uet_soft || ktap_exit_fail_msg "cannot load uet_soft"
uet_veth_pair veth0 veth1 || ktap_exit_fail_msg "cannot create the veth pair"
uet_rdma out link add uet0 type uet netdev veth0 ||
	ktap_exit_fail_msg "rdma link add uet0 type uet netdev veth0: $out"

# 1: the acceptance one-liner
launch "$T/o" "$T/e" --job-id 77 -n 2 -- sh -c 'test "$UET_JOB_ID" = 77 && test -e /proc/self/fd/$UET_JOB_FD'
[ "$RC" -eq 0 ] || ktap_print_msg "exit $RC: $(cat "$T/e")"
t "--job-id 77 -n 2: ranks see UET_JOB_ID=77 and an open UET_JOB_FD" [ "$RC" -eq 0 ]

# 2: the environment of 4 ranks, and the FD is a member descriptor of the
# job (an anonymous job file)
launch "$T/o" "$T/e" --job-id 78 -n 4 -- sh -c \
	'echo "$UET_RANK $UET_SIZE $UET_JOB_ID $(readlink /proc/self/fd/$UET_JOB_FD)"'
sort "$T/o" >"$T/sorted"
printf '%s 4 78 anon_inode:[rdma_job]\n' 0 1 2 3 >"$T/want"
cmp -s "$T/sorted" "$T/want"
ok=$?
[ "$RC" -eq 0 ] && [ $ok -eq 0 ] || ktap_print_msg "exit $RC, ranks said: $(tr '\n' ';' <"$T/o") $(cat "$T/e")"
t "-n 4: UET_RANK 0..3, UET_SIZE 4, UET_JOB_FD is a member descriptor" [ "$RC" -eq 0 -a $ok -eq 0 ]

# 3: 4 ranks join through libuet and the device reports the same JobID
launch "$T/o" "$T/e" -n 4 -- "$JOIN" -s 1
ids=$(sed -n 's/^rank [0-3]: joined job \([0-9]*\) (members [1-4])$/\1/p' "$T/o" | sort -u)
ranks=$(sed -n 's/^rank \([0-3]\): joined job .*/\1/p' "$T/o" | sort -u | tr -d '\n')
[ "$RC" -eq 0 ] && [ "$ranks" = 0123 ] && [ "$(echo "$ids" | wc -w)" = 1 ] && [ "${ids:-0}" -gt 0 ]
ok=$?
ktap_print_msg "$(tr '\n' ';' <"$T/o")"
[ $ok -eq 0 ] || ktap_print_msg "exit $RC: $(cat "$T/e")"
t "-n 4 -- uet_join: every rank joined job $ids" [ $ok -eq 0 ]

# 4: and with a given JobID, that one
launch "$T/o" "$T/e" --job-id 4242 -n 2 -- "$JOIN"
[ "$RC" -eq 0 ] && [ "$(grep -c '^rank [01]: joined job 4242 ' "$T/o")" = 2 ]
ok=$?
[ $ok -eq 0 ] || ktap_print_msg "exit $RC: $(cat "$T/o" "$T/e" | tr '\n' ';')"
t "--job-id 4242 -n 2 -- uet_join: both ranks report JobID 4242" [ $ok -eq 0 ]

# 5: a rank exits 3: uet-launch exits 3 and the other ranks (and their
# children) are gone right away, by SIGTERM (SIGKILL would come after the
# 30 s grace period)
long=$((100000 + $$))
start=$(date +%s)
launch "$T/o" "$T/e" --grace 30 -n 3 -- sh -c \
	"if [ \"\$UET_RANK\" = 1 ]; then sleep 1; exit 3; fi; sleep $long; echo survived"
took=$(($(date +%s) - start))
sleep 0.5
left=$(procs_with "sleep $long")
grep -q survived "$T/o" && left=survivor
ktap_print_msg "exit $RC after ${took}s, $left processes left: $(cat "$T/e")"
t "a rank exiting 3: uet-launch exits 3, SIGTERM ends the others at once" \
	[ "$RC" -eq 3 -a "$left" = 0 -a "$took" -lt 10 ]

# 6: a rank killed by a signal: 128 + the signal
launch "$T/o" "$T/e" -n 2 -- sh -c '[ "$UET_RANK" = 0 ] && kill -KILL $$; sleep 30'
t "a rank killed by SIGKILL: uet-launch exits 137" [ "$RC" -eq 137 ]

# 7, 8: a JobID in use: clear error; SIGTERM to the holder is forwarded
"$LAUNCH" --job-id 79 -n 1 -- sh -c "echo up; exec sleep $((long + 1))" >"$T/bg" 2>&1 &
BG=$!
uet_wait_for grep -q up "$T/bg"
launch "$T/o" "$T/e" --job-id 79 -n 1 -- true
ktap_print_msg "exit $RC: $(cat "$T/e")"
t "--job-id 79 while job 79 exists: exits 1, 'JobID 79 is already in use in this network namespace'" \
	[ "$RC" -eq 1 -a "$(cat "$T/e")" = "uet-launch: JobID 79 is already in use in this network namespace" ]
kill -TERM "$BG"
uet_wait_pid "$BG" 10
rc=$?
BG=
left=$(procs_with "sleep $((long + 1))")
ktap_print_msg "exit $rc, $left processes left"
t "SIGTERM to uet-launch reaches the rank: exit 143, rank gone" [ "$rc" -eq 143 -a "$left" = 0 ]

# 9: --seal seals once both ranks joined
launch "$T/o" "$T/e" -v --seal --seal-timeout 20 -n 2 -- "$JOIN" -s 3
grep -q 'sealed: 2 ranks joined with 2 contexts' "$T/e"
ok=$?
[ "$RC" -eq 0 ] && [ $ok -eq 0 ] || ktap_print_msg "exit $RC: $(cat "$T/o" "$T/e" | tr '\n' ';')"
t "--seal: the job is sealed with both ranks as members" [ "$RC" -eq 0 -a $ok -eq 0 ]

# 10: --seal counts ranks, not contexts: rank 0 joins two contexts at once,
# rank 1 one context two seconds later; sealing at two contexts would shut
# rank 1 out (EPERM)
launch "$T/o" "$T/e" -v --seal --seal-timeout 20 -n 2 -- sh -c \
	"if [ \"\$UET_RANK\" = 0 ]; then exec $JOIN -c 2 -s 4; else exec $JOIN -d 2 -s 2; fi"
grep -q 'sealed: 2 ranks joined with 3 contexts' "$T/e"
ok=$?
[ "$RC" -eq 0 ] && [ $ok -eq 0 ] || ktap_print_msg "exit $RC: $(cat "$T/o" "$T/e" | tr '\n' ';')"
t "--seal with a rank of two contexts waits for the other rank" [ "$RC" -eq 0 -a $ok -eq 0 ]

# 11: a rank's descriptor cannot administer the job (EPERM), only query it
launch "$T/o" "$T/e" --job-id 80 -n 1 -- sh -c \
	'for op in seal revoke realize member query; do echo "$op $('"$CTL"' "$UET_JOB_FD" $op)"; done'
printf '%s\n' "seal EPERM" "revoke EPERM" "realize EPERM" "member EPERM" "query ok 1 80 0 0" >"$T/want"
cmp -s "$T/o" "$T/want"
ok=$?
[ "$RC" -eq 0 ] && [ $ok -eq 0 ] || ktap_print_msg "exit $RC: $(cat "$T/o" "$T/e" | tr '\n' ';')"
t "a rank cannot seal, revoke, realize or derive descriptors: EPERM" [ "$RC" -eq 0 -a $ok -eq 0 ]

# 12: a program that does not exist
launch "$T/o" "$T/e" -n 2 -- uet-no-such-program
t "missing program: exit 127, 'uet-no-such-program: command not found'" \
	[ "$RC" -eq 127 -a "$(cat "$T/e")" = "uet-launch: uet-no-such-program: command not found" ]

# 13: bad arguments
launch "$T/o" "$T/e" -n 0 -- true
rc0=$RC
launch "$T/o" "$T/e" --job-id 0x1000000 -n 1 -- true
t "bad arguments: exit 2" [ "$rc0" -eq 2 -a "$RC" -eq 2 ]

# 14: --help
launch "$T/o" "$T/e" --help
t "--help documents the options and the environment" \
	[ "$RC" -eq 0 -a "$(grep -c -e '--job-id' -e '--seal' -e UET_JOB_FD -e UET_RANK "$T/o")" -ge 4 ]

# 15: no UET in the kernel: the job device is gone or cannot realize UET
# jobs. uet_soft is unloaded and kept from loading again (the kernel may
# request the module of a protocol it is asked for).
uet_delete_links
mkdir -p /etc/modprobe.d
echo "install uet_soft /bin/false" >/etc/modprobe.d/uet_launch_test.conf
"$IP" link delete veth0 2>/dev/null
modprobe -r uet_soft || ktap_print_msg "cannot unload uet_soft (refcnt $(cat /sys/module/uet_soft/refcnt 2>/dev/null))"
launch "$T/o" "$T/e" -n 1 -- true
ktap_print_msg "without uet_soft: exit $RC: $(cat "$T/e")"
[ "$RC" -eq 1 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q 'is uet_soft loaded?' "$T/e"
t "uet_soft unloaded: exit 1 with one clear line" [ $? -eq 0 ]

ktap_finished
