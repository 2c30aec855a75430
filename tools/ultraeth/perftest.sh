#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Build perftest (Debian's source, with Debian's patches) with
# tools/perftest/patches/ applied (the UET connection type), against our
# rdma-core build. Needs rdma-core.sh to have run.
#   $UET_CACHE/src/perftest-<ver>/          pristine source (orig + debian/)
#   $UET_CACHE/build/perftest-<ver>/stage   installed programs (DESTDIR)
# The build is redone when the source version, our patches or the rdma-core
# headers it compiles against change; $UET_CACHE/perftest-stage names the
# stage for initramfs.sh.
. "$(dirname "$0")/lib.sh"

# The version our patches are written against (trixie's perftest).
UET_PERFTEST_VER=${UET_PERFTEST_VER:-25.01.0+0.80-1}
PATCHES=$UET_TOP/tools/perftest/patches
DEPS=(autoconf automake libtool libpci-dev)

missing=()
for p in "${DEPS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# toolchain.sh lists them and installs what is missing
[ ${#missing[@]} -eq 0 ] || "$UET_TOP/tools/ultraeth/toolchain.sh"

RPRISTINE=$(cat "$UET_CACHE/rdma-core-src" 2>/dev/null) || die "rdma-core is not built (make rdma-core)"
RSTAGE=$UET_CACHE/build/$(basename "$RPRISTINE")/stage
MULTIARCH=x86_64-linux-gnu
[ -e "$RSTAGE/usr/include/infiniband/uetdv.h" ] || die "rdma-core is not built with libuet: $RSTAGE (make rdma-core)"

uet_lock perftest
uver=${UET_PERFTEST_VER%-*}		# upstream version
uver=${uver#*:}
PSRC=$UET_CACHE/src/perftest-$(echo "$UET_PERFTEST_VER" | tr "~+:" "___")

# Source: Debian's orig and debian tarballs through the private apt
# configuration (as fetch.sh: the .dsc may be missing on the mirror), each
# checked against the SHA256 of the Sources index.
if [ ! -e "$PSRC/.complete" ]; then
	uet_apt_setup
	mkdir -p "$UET_CACHE/dl"
	uris=$(uet_apt --print-uris source "perftest=$UET_PERFTEST_VER" 2>/dev/null |
		awk '/orig\.tar|debian\.tar/ {gsub("\047", "", $1); print $1, $2, $4}') || true
	[ -n "$uris" ] || die "perftest $UET_PERFTEST_VER not found in the Debian sources (uet_apt showsrc perftest lists: $(uet_apt_cache showsrc perftest 2>/dev/null | awk '/^Version:/ {printf "%s ", $2}'))"
	while read -r url name sum; do
		f=$UET_CACHE/dl/$name
		if [ ! -s "$f" ] || [ "SHA256:$(sha256sum <"$f" | cut -d' ' -f1)" != "$sum" ]; then
			run_logged "$UET_CACHE/logs/fetch-perftest.log" "downloading $name" \
				curl -fL --retry 3 -o "$f" "$url"
			[ "SHA256:$(sha256sum <"$f" | cut -d' ' -f1)" = "$sum" ] ||
				die "$name: checksum mismatch (want $sum)"
		fi
	done <<<"$uris"
	rm -rf "$PSRC" "$PSRC.tmp" && mkdir -p "$PSRC.tmp"
	tar --no-same-owner -xzf "$UET_CACHE/dl/perftest_$uver.orig.tar.gz" -C "$PSRC.tmp"
	mv "$PSRC.tmp"/perftest-* "$PSRC"
	rmdir "$PSRC.tmp"
	tar --no-same-owner -xJf "$UET_CACHE/dl/perftest_$UET_PERFTEST_VER.debian.tar.xz" -C "$PSRC"
	# Debian's own patches, as dpkg-source would apply them
	if [ -e "$PSRC/debian/patches/series" ]; then
		sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$PSRC/debian/patches/series" | while read -r p opt; do
			patch -d "$PSRC" ${opt:--p1} --quiet --no-backup-if-mismatch <"$PSRC/debian/patches/$p" ||
				die "Debian patch $p does not apply"
		done
	fi
	echo "$UET_PERFTEST_VER" >"$PSRC/.debian-version"
	touch "$PSRC/.complete"
fi

PROOT=$UET_CACHE/build/$(basename "$PSRC")
PBLD=$PROOT/src
PSTAGE=$PROOT/stage
key=$({
	echo "$UET_PERFTEST_VER"
	for p in "$PATCHES"/*.patch; do [ -e "$p" ] && { echo "$p"; cat "$p"; }; done
	cat "$RSTAGE"/usr/include/infiniband/{verbs.h,uetdv.h}
} | sha256sum | cut -c1-16)

if [ "$(cat "$PSTAGE/.uet-key" 2>/dev/null)" != "$key" ] || [ ! -x "$PSTAGE/usr/bin/ib_write_bw" ]; then
	say "preparing perftest source tree $PBLD"
	rm -rf "$PROOT" && mkdir -p "$PROOT"
	cp -a "$PSRC" "$PBLD"
	for p in "$PATCHES"/*.patch; do
		[ -e "$p" ] || continue
		say "applying tools/perftest/patches/$(basename "$p")"
		patch -d "$PBLD" -p1 --forward --quiet --no-backup-if-mismatch <"$p" ||
			die "$(basename "$p") does not apply to perftest $UET_PERFTEST_VER"
	done
	log=$UET_CACHE/logs/perftest-build.log
	# Debian builds with autoreconf too; our patch edits configure.ac.
	(cd "$PBLD" && run_logged "$log" "building perftest $UET_PERFTEST_VER against $RSTAGE" sh -c "
		autoreconf -fi &&
		./configure --prefix=/usr \
			CPPFLAGS='-I$RSTAGE/usr/include' \
			LDFLAGS='-L$RSTAGE/usr/lib/$MULTIARCH -Wl,-rpath-link,$RSTAGE/usr/lib/$MULTIARCH' &&
		make -j$UET_JOBS &&
		make install DESTDIR='$PSTAGE'")
	grep -q '^#define HAVE_UET 1' "$PBLD/config.h" ||
		die "perftest was configured without UET support (see $log)"
	echo "$key" >"$PSTAGE/.uet-key"
fi
echo "$PSTAGE" >"$UET_CACHE/perftest-stage"
say "perftest ready: $PSTAGE"
