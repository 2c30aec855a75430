#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# vm.sh SCRIPT [ARGS...]: boot a fresh guest, run SCRIPT as root inside it,
# stream its output and exit with SCRIPT's exit status.
#
# The guest reports the status on its second serial port and its kernel log
# on the third (see guest-init.sh); a guest that reports nothing within
# UET_VM_TIMEOUT seconds is killed and reported as hung. Any kernel warning,
# BUG, Oops, ... in the guest's log fails the run (status 125 if the script
# itself succeeded).
#
# Environment: UET_VM_TIMEOUT (default 900), UET_ACCEL (kvm|tcg, default:
# probe), UET_VM_MEM (default 2G), UET_VM_LOG (console log path),
# UET_KVARIANT (debug: boot the debug kernel and its initramfs, kernel.sh).
. "$(dirname "$0")/lib.sh"
. "$UET_TOP/tools/ultraeth/kenv.sh"

[ $# -ge 1 ] || die "usage: vm.sh SCRIPT [ARGS...]"
script=$1
shift
[ -f "$script" ] || die "no such script: $script"
KERNEL=$KOBJ/arch/x86/boot/bzImage
BASE=$KBUILD_ROOT/initramfs.cpio
[ -e "$KERNEL" ] || die "no kernel at $KERNEL (make kernel)"
[ -e "$BASE" ] || die "no initramfs at $BASE (make initramfs)"
TIMEOUT=${UET_VM_TIMEOUT:-900}

run=$(mktemp -d "${TMPDIR:-/tmp}/uet-vm.XXXXXX")
trap 'rm -rf "$run"' EXIT
CONSOLE=${UET_VM_LOG:-$run/console.log}

# the script and its arguments, appended to the base initramfs as a second
# newc archive (the kernel unpacks concatenated archives in order)
mkdir -p "$run/extra/uet"
install -m 755 "$script" "$run/extra/uet/script"
printf '%s\n' "$*" >"$run/extra/uet/args"
for f in ${UET_VM_FILES:-}; do cp -a "$f" "$run/extra/uet/"; done
(cd "$run/extra" && find . | cpio -o -H newc --quiet -R 0:0) >"$run/extra.cpio"
cat "$BASE" "$run/extra.cpio" >"$run/initrd"

# Host TSC frequency: under TCG the guest reads the host TSC, and without a
# stable TSC the guest falls back to jiffies (perftest then reads 0 MB/s).
tsc_khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
CMDLINE="console=ttyS0 loglevel=4 log_buf_len=16M panic=-1 rdinit=/init 8250.nr_uarts=4 tsc=reliable${tsc_khz:+ tsc_early_khz=$tsc_khz}"


# KVM works on some hosts and hangs or dies with "KVM internal error" on
# others (nested): boot a probe once per host boot and remember the answer.
accel=${UET_ACCEL:-}
if [ -z "$accel" ]; then
	bootid=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
	probe=$UET_CACHE/kvm-probe.$bootid
	if [ ! -e "$probe" ]; then
		accel=tcg
		if [ -w /dev/kvm ]; then
			say "probing KVM (falls back to TCG)"
			mkdir -p "$run/probe/uet"
			printf '#!/bin/sh\nexit 0\n' >"$run/probe/uet/script"
			chmod +x "$run/probe/uet/script"
			(cd "$run/probe" && find . | cpio -o -H newc --quiet -R 0:0) >"$run/probe.cpio"
			cat "$BASE" "$run/probe.cpio" >"$run/probe.initrd"
			: >"$run/probe.status"
			(timeout -s KILL 60 qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 1G -nodefaults \
				-no-reboot -display none -nic none -kernel "$KERNEL" -initrd "$run/probe.initrd" \
				-append "console=ttyS0 loglevel=1 panic=-1 rdinit=/init 8250.nr_uarts=4" \
				-serial null -serial "file:$run/probe.status" -serial null \
				</dev/null >"$run/probe.log" 2>&1; true) 2>/dev/null || true
			grep -q '^UET_EXIT=0' "$run/probe.status" && accel=kvm
		fi
		rm -f "$UET_CACHE"/kvm-probe.*
		echo "$accel" >"$probe"
	fi
	accel=$(cat "$probe")
fi
case "$accel" in
kvm) ACCEL=(-accel kvm -cpu host -smp 2) ;;
tcg) ACCEL=(-accel tcg,thread=multi -cpu max -smp 2,sockets=2,cores=1,threads=1) ;;
*) die "UET_ACCEL must be kvm or tcg" ;;
esac

say "booting guest ($accel, watchdog ${TIMEOUT}s) to run $(basename "$script")${*:+ $*}"
: >"$run/status"
: >"$run/dmesg"
set +e
timeout -s KILL "$TIMEOUT" qemu-system-x86_64 -m "${UET_VM_MEM:-2G}" -nodefaults -no-reboot \
	-display none -nic none "${ACCEL[@]}" -kernel "$KERNEL" -initrd "$run/initrd" \
	-append "$CMDLINE" -chardev stdio,id=con,signal=off -serial chardev:con \
	-serial "file:$run/status" -serial "file:$run/dmesg" </dev/null 2>"$run/qemu.err" |
	tee "$CONSOLE"
qrc=${PIPESTATUS[0]}
set -e

status=$(sed -n 's/^UET_EXIT=\([0-9]*\).*/\1/p' "$run/status" | tail -n1)
if [ -z "$status" ]; then
	if [ "$qrc" = 137 ]; then
		echo "error: guest hung: no exit status after ${TIMEOUT}s; killed. Console tail:" >&2
	else
		echo "error: guest ended without reporting an exit status (qemu status $qrc). Console tail:" >&2
	fi
	tail -n 40 "$CONSOLE" >&2
	[ -s "$run/qemu.err" ] && { echo "qemu stderr:" >&2; tail -n 10 "$run/qemu.err" >&2; }
	exit 124
fi

# dmesg guard
pat='WARNING:|BUG:|Oops|KASAN|UBSAN|refcount_t:|list_add corruption|list_del corruption|blocked for more than|soft lockup|hard LOCKUP|general protection fault|Kernel panic|RCU stall|rcu_sched detected stalls'
# the debug kernel's own reports (lockdep turning itself off, kmemleak's
# scan, debug objects, KFENCE, a Rust panic)
[ -z "$UET_KVARIANT" ] ||
	pat="$pat|KFENCE|ODEBUG|INFO: trying to register non-static key|turning off the locking correctness validator|new suspected memory leaks|panicked at"
if grep -E -q "$pat" "$run/dmesg"; then
	echo "error: kernel reported problems during the run:" >&2
	grep -E -A 12 "$pat" "$run/dmesg" | head -n 80 >&2
	[ -n "${UET_VM_DMESG:-}" ] && cp "$run/dmesg" "$UET_VM_DMESG"
	[ "$status" = 0 ] && status=125
	exit "$status"
fi
[ -n "${UET_VM_DMESG:-}" ] && cp "$run/dmesg" "$UET_VM_DMESG"
[ "$status" = 0 ] || say "guest script exited with status $status"
exit "$status"
