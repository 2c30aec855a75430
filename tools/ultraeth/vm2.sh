#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# vm2.sh SCRIPT [ARGS...]: boot two fresh guests, "a" and "b", each with its
# own kernel, joined by one Ethernet wire, run SCRIPT as root in both, stream
# both consoles (lines prefixed "[a] " and "[b] ") and exit with a status
# that is 0 only if SCRIPT exited 0 in both and neither kernel reported a
# problem.
#
# The wire: a virtio-net NIC in each guest (eth0, the guest's only NIC) on a
# QEMU datagram backend (-netdev dgram, or -netdev socket,udp= on an older
# QEMU) whose two UDP endpoints are on the host's loopback, 127.0.0.1, at two
# free ports picked per run: the guests' frames never reach another host
# address. Before SCRIPT runs, guest-vm2.sh gives eth0 10.77.0.1/24 (a) or
# 10.77.0.2/24 (b) and exports UET_ROLE (a or b), UET_ADDR (this guest's
# address) and UET_PEER (the other's). How the two guests coordinate is up
# to SCRIPT (guest-2host.sh: a is the server, b the client; a TCP barrier).
#
# Exit status: a's status if it is not 0, else b's; 124 if a guest hung or
# reported nothing; 125 if both scripts succeeded but a kernel reported a
# WARNING, BUG, Oops, ... (the guard of vm.sh, on each guest's log); 4
# (KSFT_SKIP) if this QEMU has neither backend.
#
# Environment: UET_VM_TIMEOUT (watchdog for both, default 900), UET_ACCEL
# (kvm|tcg; default: vm.sh's probe result, else tcg), UET_VM2_MEM (per
# guest, default 1G), UET_VM2_SMP (vCPUs per guest, default 1: two TCG
# guests on a 2-core host), UET_VM_FILES (copied to /uet in both guests),
# UET_VM2_LOGDIR (keep each guest's console and kernel log there),
# UET_VM2_BACKEND (dgram or socket: force one),
# UET_KVARIANT (debug: the debug kernel, as vm.sh).
. "$(dirname "$0")/lib.sh"
. "$UET_TOP/tools/ultraeth/kenv.sh"

[ $# -ge 1 ] || die "usage: vm2.sh SCRIPT [ARGS...]"
script=$1
shift
[ -f "$script" ] || die "no such script: $script"
KERNEL=$KOBJ/arch/x86/boot/bzImage
BASE=$KBUILD_ROOT/initramfs.cpio
[ -e "$KERNEL" ] || die "no kernel at $KERNEL (make kernel)"
[ -e "$BASE" ] || die "no initramfs at $BASE (make initramfs)"
TIMEOUT=${UET_VM_TIMEOUT:-900}
QEMU=qemu-system-x86_64

# ---- the backend: dgram (QEMU >= 7.2), else socket,udp= ----
backends=$($QEMU -netdev help 2>/dev/null | sed -n '2,$p')
if [ -n "${UET_VM2_BACKEND:-}" ]; then
	backend=$UET_VM2_BACKEND
	case $backend in dgram | socket) ;; *) die "UET_VM2_BACKEND must be dgram or socket" ;; esac
	grep -qx "$backend" <<<"$backends" || { echo "skip: $QEMU has no $backend netdev backend" >&2; exit 4; }
elif grep -qx dgram <<<"$backends"; then
	backend=dgram
elif grep -qx socket <<<"$backends"; then
	backend=socket
else
	echo "skip: $QEMU has neither a dgram nor a socket netdev backend" >&2
	exit 4
fi
grep -q virtio-net-pci < <($QEMU -device help 2>/dev/null) || {
	echo "skip: $QEMU has no virtio-net-pci device" >&2
	exit 4
}

# two free UDP ports on 127.0.0.1: random, checked against the bound ones,
# so that parallel runs do not share a wire
port_free() { ! ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
for _ in $(seq 1 50); do
	pa=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 40000))
	pb=$((pa + 1))
	port_free "$pa" && port_free "$pb" && break
done

run=$(mktemp -d "${TMPDIR:-/tmp}/uet-vm2.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$run"
}
trap cleanup EXIT

netdev() { # netdev LOCALPORT REMOTEPORT
	case $backend in
	dgram) echo "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=$1,remote.type=inet,remote.host=127.0.0.1,remote.port=$2" ;;
	socket) echo "socket,id=n0,udp=127.0.0.1:$2,localaddr=127.0.0.1:$1" ;;
	esac
}

accel=${UET_ACCEL:-}
if [ -z "$accel" ]; then
	bootid=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
	accel=$(cat "$UET_CACHE/kvm-probe.$bootid" 2>/dev/null || echo tcg)
fi
smp=${UET_VM2_SMP:-1}
case "$accel" in
kvm) ACCEL=(-accel kvm -cpu host -smp "$smp") ;;
tcg) ACCEL=(-accel tcg,thread=multi -cpu max -smp "$smp,sockets=$smp,cores=1,threads=1") ;;
*) die "UET_ACCEL must be kvm or tcg" ;;
esac
tsc_khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
CMDLINE="console=ttyS0 loglevel=4 log_buf_len=16M panic=-1 rdinit=/init 8250.nr_uarts=4 tsc=reliable${tsc_khz:+ tsc_early_khz=$tsc_khz}"

# ---- one initrd per guest: the base, then /uet/{script,user,args,vm2} ----
for g in a b; do
	d=$run/$g/extra/uet
	mkdir -p "$d"
	install -m 755 "$UET_TOP/tools/ultraeth/guest-vm2.sh" "$d/script"
	install -m 755 "$script" "$d/user"
	printf '%s\n' "$*" >"$d/args"
	for f in ${UET_VM_FILES:-}; do cp -a "$f" "$d/"; done
	if [ $g = a ]; then
		printf 'role=a addr=10.77.0.1 peer=10.77.0.2 mac=52:54:00:77:00:01\n' >"$d/vm2"
	else
		printf 'role=b addr=10.77.0.2 peer=10.77.0.1 mac=52:54:00:77:00:02\n' >"$d/vm2"
	fi
	(cd "$run/$g/extra" && find . | cpio -o -H newc --quiet -R 0:0) >"$run/$g/extra.cpio"
	cat "$BASE" "$run/$g/extra.cpio" >"$run/$g/initrd"
	: >"$run/$g/status"
	: >"$run/$g/dmesg"
done

say "booting guests a and b ($accel, $smp vCPU each, watchdog ${TIMEOUT}s), wire: $backend netdev 127.0.0.1:$pa <-> 127.0.0.1:$pb, to run $(basename "$script")${*:+ $*}"
t0=$SECONDS
boot() { # boot GUEST LOCALPORT REMOTEPORT MAC
	local g=$1 qrc=0
	timeout -s KILL "$TIMEOUT" $QEMU -m "${UET_VM2_MEM:-1G}" -nodefaults -no-reboot -nic none \
		-display none "${ACCEL[@]}" -kernel "$KERNEL" -initrd "$run/$g/initrd" \
		-append "$CMDLINE" -netdev "$(netdev "$2" "$3")" \
		-device "virtio-net-pci,netdev=n0,mac=$4,romfile=" \
		-chardev stdio,id=con,signal=off -serial chardev:con \
		-serial "file:$run/$g/status" -serial "file:$run/$g/dmesg" \
		</dev/null 2>"$run/$g/qemu.err" >"$run/$g/console.pipe" || qrc=$?
	echo "$qrc" >"$run/$g/qrc"
}
for g in a b; do
	mkfifo "$run/$g/console.pipe"
	# the console, prefixed, line by line
	(sed -u "s/^/[$g] /" <"$run/$g/console.pipe" | tee "$run/$g/console.log") &
	pids+=($!)
done
boot a "$pa" "$pb" 52:54:00:77:00:01 &
pids+=($!)
boot b "$pb" "$pa" 52:54:00:77:00:02 &
pids+=($!)
wait "${pids[@]}" 2>/dev/null || true
pids=()

# ---- each guest's status and kernel log ----
pat='WARNING:|BUG:|Oops|KASAN|UBSAN|refcount_t:|list_add corruption|list_del corruption|blocked for more than|soft lockup|hard LOCKUP|general protection fault|Kernel panic|RCU stall|rcu_sched detected stalls'
[ -z "$UET_KVARIANT" ] ||
	pat="$pat|KFENCE|ODEBUG|INFO: trying to register non-static key|turning off the locking correctness validator|new suspected memory leaks|panicked at"
declare -A st
rc=0 hung=0 dirty=0
for g in a b; do
	st[$g]=$(sed -n 's/^UET_EXIT=\([0-9]*\).*/\1/p' "$run/$g/status" | tail -n1)
	if [ -z "${st[$g]}" ]; then
		hung=1
		if [ "$(cat "$run/$g/qrc" 2>/dev/null)" = 137 ]; then
			echo "error: guest $g hung: no exit status after ${TIMEOUT}s; killed. Console tail:" >&2
		else
			echo "error: guest $g ended without reporting an exit status (qemu status $(cat "$run/$g/qrc" 2>/dev/null)). Console tail:" >&2
		fi
		tail -n 30 "$run/$g/console.log" >&2
		[ -s "$run/$g/qemu.err" ] && { echo "qemu stderr ($g):" >&2; tail -n 10 "$run/$g/qemu.err" >&2; }
		st[$g]=none
		continue
	fi
	if grep -E -q "$pat" "$run/$g/dmesg"; then
		echo "error: kernel reported problems during the run (guest $g):" >&2
		grep -E -A 12 "$pat" "$run/$g/dmesg" | head -n 80 | sed "s/^/[$g] /" >&2
		dirty=1
	fi
	[ "$rc" = 0 ] && [ "${st[$g]}" != 0 ] && rc=${st[$g]}
done
if [ -n "${UET_VM2_LOGDIR:-}" ]; then
	mkdir -p "$UET_VM2_LOGDIR"
	for g in a b; do
		cp "$run/$g/console.log" "$UET_VM2_LOGDIR/console-$g.log"
		cp "$run/$g/dmesg" "$UET_VM2_LOGDIR/dmesg-$g.log"
	done
fi
say "vm2: guest a exited ${st[a]}, guest b exited ${st[b]}; kernel logs $([ $dirty = 0 ] && echo clean || echo NOT clean) ($((SECONDS - t0)) s)"
[ $hung = 1 ] && exit 124
[ $dirty = 1 ] && [ "$rc" = 0 ] && rc=125
exit "$rc"
