#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Tests of the test harness itself (TAP on stdout): vm.sh returns the
# guest script's own status, passes ARGS, catches kernel warnings and hung
# guests, and a failing kselftest makes the check fail.
. "$(dirname "$0")/lib.sh"
set +e

VM=$UET_TOP/tools/ultraeth/vm.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
tap() { # tap RESULT(0=pass) DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n $2"; else
		echo "not ok $n $2"
		fails=$((fails + 1))
		# what the run printed last, for the log
		tail -n 30 "$tmp/out" 2>/dev/null | sed 's/^/# /'
	fi
}
script() { printf '#!/bin/sh\n%s\n' "$2" >"$tmp/$1"; chmod +x "$tmp/$1"; }

echo "TAP version 13"
echo "1..9"

script exit0.sh 'exit 0'
"$VM" "$tmp/exit0.sh" >"$tmp/out" 2>&1
rc=$?
tap $((rc != 0)) "vm.sh returns 0 when the guest script exits 0 (got $rc)"

script exit7.sh 'echo about to exit 7; exit 7'
"$VM" "$tmp/exit7.sh" >"$tmp/out" 2>&1
rc=$?
tap $((rc != 7)) "vm.sh returns the guest script's status 7 (got $rc)"

make -s -C "$UET_TOP" vm SCRIPT="$tmp/exit7.sh" >"$tmp/out" 2>&1
rc=$?
grep -q 'about to exit 7' "$tmp/out"
seen=$?
tap $((rc == 0 || seen != 0)) "make vm streams the output and fails when the script fails (got $rc)"

script args.sh '[ "$1" = foo ] && [ "$2" = bar ] && [ $# -eq 2 ]'
make -s -C "$UET_TOP" vm SCRIPT="$tmp/args.sh" ARGS="foo bar" >"$tmp/out" 2>&1
rc=$?
tap $((rc != 0)) "make vm passes ARGS to the script (got $rc)"

script warn.sh 'echo "<4>WARNING: CPU: 0 PID: 1 at harness-test: injected" >/dev/kmsg; exit 0'
"$VM" "$tmp/warn.sh" >"$tmp/out" 2>&1
rc=$?
grep -q 'kernel reported problems' "$tmp/out"
seen=$?
tap $((rc == 0 || seen != 0)) "a kernel WARNING in the guest's log fails the run (got $rc)"

script hang.sh 'sleep 100000'
UET_VM_TIMEOUT=30 "$VM" "$tmp/hang.sh" >"$tmp/out" 2>&1
rc=$?
grep -q 'guest hung' "$tmp/out"
seen=$?
tap $((rc == 0 || seen != 0)) "the watchdog kills a hung guest and reports it (got $rc)"

UET_SKIP_BUILD=1 "$UET_TOP/tools/ultraeth/check.sh" --guest-only \
	--extra "$UET_TOP/tools/ultraeth/testdata/deliberately_failing.sh" \
	--only deliberately_failing.sh >"$tmp/out" 2>&1
rc=$?
last=$(tail -n 1 "$tmp/out")
echo "# $last"
case "$last" in *" passed, 0 failed") bad=1 ;; *" failed") bad=0 ;; *) bad=1 ;; esac
tap $((rc == 0 || bad)) "a failing kselftest makes the check fail (got $rc: $last)"

# vm2.sh: two guests, the status of either, the kernel log of either
VM2=$UET_TOP/tools/ultraeth/vm2.sh
# Each guest pings the other, then stays until the other's echo request
# has been answered (Icmp InEchos): the guests boot at their own pace, and
# one that left at once would leave the other's ping unanswered.
cat >"$tmp/vm2.sh" <<'EOS'
#!/bin/sh
[ "$UET_ROLE" = b ] && [ "$1" = warn ] && echo "<4>WARNING: CPU: 0 PID: 1 at harness-test: injected" >/dev/kmsg
if [ "$1" = fail ]; then [ "$UET_ROLE" = a ] && exit 6; exit 0; fi
ping -c 1 -w 120 -W 120 "$UET_PEER" >/dev/null || { echo "no answer from $UET_PEER"; exit 1; }
echos() { awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InEchos") f = i; h = 1 } else print $f }' /proc/net/snmp; }
i=0
while [ "$(echos)" -eq 0 ]; do
	i=$((i + 1))
	[ $i -gt 120 ] && { echo "$UET_PEER never pinged us"; exit 1; }
	sleep 1
done
sleep 1 # the reply leaves
EOS
chmod +x "$tmp/vm2.sh"
"$VM2" "$tmp/vm2.sh" fail >"$tmp/out" 2>&1
rc=$?
if [ $rc = 4 ] && grep -q '^skip: ' "$tmp/out"; then
	echo "ok 8 # SKIP $(sed -n 's/^skip: //p' "$tmp/out")"
	echo "ok 9 # SKIP no backend"
	n=$((n + 2))
else
	tap $((rc != 6)) "vm2.sh returns guest a's status 6 (got $rc)"
	"$VM2" "$tmp/vm2.sh" warn >"$tmp/out" 2>&1
	rc=$?
	grep -q 'kernel reported problems during the run (guest b)' "$tmp/out"
	seen=$?
	tap $((rc != 125 || seen != 0)) "a kernel WARNING in guest b's log fails vm2.sh with 125, both pinged across (got $rc)"
fi

exit $((fails != 0))
