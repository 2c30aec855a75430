#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Assemble the guest's initramfs: busybox-static, our kernel modules, our
# rdma-core build, iproute2 (ip, tc, rdma), our perftest build, tcpdump, iperf3,
# the kselftests
# and the guest init. Output: $UET_CACHE/build/<linux>/initramfs.cpio
# (UET_KVARIANT=debug: the debug kernel's, in build/<linux>-debug/).
. "$(dirname "$0")/lib.sh"
. "$UET_TOP/tools/ultraeth/kenv.sh"
uet_lock "kernel-tree$UET_KSUFFIX"
uet_lock rdma-core
"$UET_TOP/tools/ultraeth/overlay.sh"

RPRISTINE=$(cat "$UET_CACHE/rdma-core-src")
RSTAGE=$UET_CACHE/build/$(basename "$RPRISTINE")/stage
[ -d "$RSTAGE/usr/bin" ] || die "rdma-core is not built (make rdma-core)"
[ -d "$KMODROOT/lib/modules" ] || die "kernel modules are not built (make kernel)"
ROOT=$KBUILD_ROOT/initramfs
OUT=$KBUILD_ROOT/initramfs.cpio
MULTIARCH=x86_64-linux-gnu

rm -rf "$ROOT" && mkdir -p "$ROOT"
cd "$ROOT"
# merged /usr, as on the host, so host binaries keep their paths
mkdir -p usr/bin usr/sbin usr/local/bin "usr/lib/$MULTIARCH" usr/lib64 \
	etc proc sys dev tmp run root var/tmp mnt kselftest uet
ln -s usr/bin bin
ln -s usr/sbin sbin
ln -s usr/lib lib
ln -s usr/lib64 lib64
chmod 1777 tmp var/tmp

# copy_elf FILE [DEST]: copy a host ELF and its shared-library closure.
# Libraries under the rdma-core stage resolve first and land at their guest path.
copy_elf() {
	local f=$1 dest=${2:-$1}
	mkdir -p "$ROOT/$(dirname "$dest")"
	[ "$f" -ef "$ROOT/$dest" ] || cp -L "$f" "$ROOT/$dest"
	{ LD_LIBRARY_PATH=$RSTAGE/usr/lib/$MULTIARCH ldd "$f" 2>/dev/null || true; } |
		awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | while read -r lib; do
		local g=${lib#"$RSTAGE"}
		[ -e "$ROOT/$g" ] && continue
		mkdir -p "$ROOT/$(dirname "$g")"
		cp -L "$lib" "$ROOT/$g"
	done
}

# real tools first
REAL=()
for t in ip tc rdma tcpdump ethtool bash timeout iperf3; do
	p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t") || die "$t not found on the host (make toolchain)"
	copy_elf "$p" "$(readlink -f "$p")"
	REAL+=("$t")
done
# kmod's module tools (busybox's modprobe lacks -n, holders handling, ...)
copy_elf "$(readlink -f /usr/bin/kmod)" usr/bin/kmod
for t in modprobe lsmod rmmod insmod modinfo depmod; do
	ln -s /usr/bin/kmod "usr/sbin/$t"
	REAL+=("$t")
done
# perftest built from source with the UET connection type (perftest.sh)
PSTAGE=$(cat "$UET_CACHE/perftest-stage" 2>/dev/null) && [ -x "$PSTAGE/usr/bin/ib_write_bw" ] ||
	die "perftest is not built (make perftest)"
for p in "$PSTAGE"/usr/bin/*; do
	[ -f "$p" ] && file -b "$p" | grep -q ELF || continue
	copy_elf "$p" "usr/bin/$(basename "$p")"
	REAL+=("$(basename "$p")")
done
# our rdma-core: programs, libraries, providers, driver files
for p in "$RSTAGE"/usr/bin/* "$RSTAGE"/usr/sbin/*; do
	[ -f "$p" ] && file -b "$p" | grep -q ELF && copy_elf "$p" "${p#"$RSTAGE"}" && REAL+=("$(basename "$p")")
done
cp -a "$RSTAGE/usr/lib/$MULTIARCH/." "usr/lib/$MULTIARCH/"
for p in "$RSTAGE/usr/lib/$MULTIARCH"/libibverbs/*.so; do copy_elf "$p" "${p#"$RSTAGE"}"; done
cp -a "$RSTAGE/etc/." etc/
rm -rf "usr/lib/$MULTIARCH/pkgconfig" "usr/lib/$MULTIARCH"/*.a

# /bin/sh is bash: busybox's ash runs its own applets (ip, tc, ...) even
# when they are not linked, and those cannot do what iproute2 does.
ln -s bash usr/bin/sh
REAL+=(sh)

# busybox for everything else, except applets a real tool replaces
cp /bin/busybox usr/bin/busybox
for a in $(/bin/busybox --list-full); do
	n=$(basename "$a")
	[[ " ${REAL[*]} " == *" $n "* ]] && continue
	[ -e "$a" ] || [ -L "$a" ] || ln -s /usr/bin/busybox "$a"
done

# kernel modules and kselftests
cp -a "$KMODROOT/lib/modules" lib/
run_logged "$UET_CACHE/logs/kselftest-build$UET_KSUFFIX.log" "building kselftests" \
	make -C "$KSRC/tools/testing/selftests" O="$KOBJ" TARGETS="drivers/infiniband/ultraeth" \
	KSFT_INSTALL_PATH="$ROOT/kselftest" RDMA_CORE_STAGE="$RSTAGE" install
for p in "$ROOT"/kselftest/drivers/infiniband/ultraeth/*; do
	[ -f "$p" ] && file -b "$p" | grep -q ELF && copy_elf "$p" "${p#"$ROOT"}"
done

# project tools built on the host (launcher etc.), if any
if [ -d "$UET_CACHE/build/tools/bin" ]; then
	for p in "$UET_CACHE"/build/tools/bin/*; do
		[ -f "$p" ] && copy_elf "$p" "usr/bin/$(basename "$p")"
	done
fi

# configuration
cat >etc/passwd <<'EOP'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
uetuser:x:1000:1000:unprivileged test user:/tmp:/bin/sh
EOP
cat >etc/group <<'EOP'
root:x:0:
uetlaunch:x:900:
nogroup:x:65534:
uetuser:x:1000:
EOP
echo "uet-guest" >etc/hostname
printf '127.0.0.1 localhost\n::1 localhost\n' >etc/hosts
printf 'include /etc/ld.so.conf.d/*.conf\n' >etc/ld.so.conf
mkdir -p etc/ld.so.conf.d
printf '/lib/%s\n/usr/lib/%s\n' "$MULTIARCH" "$MULTIARCH" >etc/ld.so.conf.d/multiarch.conf
ldconfig -r "$ROOT"
install -m 755 "$UET_TOP/tools/ultraeth/guest-init.sh" init

# uncompressed newc archive (fast to build and to unpack)
find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say "initramfs ready: $OUT ($(du -h "$OUT" | cut -f1))"
