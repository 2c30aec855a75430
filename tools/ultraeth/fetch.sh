#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Fetch pristine sources into the cache, keyed by version:
#   $UET_CACHE/src/linux-<ver>/          (Debian linux-source-7.3)
#   $UET_CACHE/src/rdma-core-<ver>/      (Debian rdma-core orig tarball)
# Prints nothing on stdout; versions go to $UET_CACHE/versions.
. "$(dirname "$0")/lib.sh"

uet_apt_setup
mkdir -p "$UET_CACHE/src" "$UET_CACHE/dl"

# Linux
lver=$(uet_apt_cache policy "$UET_LINUX_PKG" | awk '/Candidate:/ {print $2}')
[ -n "$lver" ] && [ "$lver" != "(none)" ] || die "no candidate for $UET_LINUX_PKG in trixie-backports"
ldir=$UET_CACHE/src/linux-$(echo "$lver" | tr "~+:" "___")
if [ ! -e "$ldir/.complete" ]; then
	(cd "$UET_CACHE/dl" && run_logged "$UET_CACHE/logs/fetch-linux.log" \
		"downloading $UET_LINUX_PKG $lver" uet_apt download "$UET_LINUX_PKG=$lver")
	deb=$(ls "$UET_CACHE/dl/${UET_LINUX_PKG}_"*"${lver#*:}"*.deb 2>/dev/null | head -n1)
	deb=${deb:-$(ls "$UET_CACHE"/dl/"${UET_LINUX_PKG}"_*.deb | head -n1)}
	say "unpacking $deb"
	rm -rf "$ldir" "$ldir.tmp" && mkdir -p "$ldir.tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$ldir.tmp" --wildcards './usr/src/*.tar.xz'
	tarball=$(ls "$ldir.tmp"/usr/src/*.tar.xz)
	tar -xJf "$tarball" -C "$ldir.tmp"
	rm -f "$tarball"
	mv "$ldir.tmp"/linux-source-* "$ldir"
	rm -rf "$ldir.tmp"
	echo "$lver" >"$ldir/.debian-version"
	touch "$ldir/.complete"
	rm -f "$deb"
fi

# rdma-core (the .dsc may 404 on the mirror: fetch orig + debian tarballs)
rver=$(uet_apt_cache showsrc rdma-core | awk '/^Version:/ {print $2}' | grep "^$UET_RDMA_CORE_VER-" | head -n1)
[ -n "$rver" ] || die "rdma-core $UET_RDMA_CORE_VER not found in the trixie sources"
rdir=$UET_CACHE/src/rdma-core-$UET_RDMA_CORE_VER
if [ ! -e "$rdir/.complete" ]; then
	urls=$(uet_apt --print-uris source "rdma-core=$rver" 2>/dev/null | awk -F"'" '/orig\.tar|debian\.tar/ {print $2}')
	[ -n "$urls" ] || die "could not resolve rdma-core $rver source URLs"
	for u in $urls; do
		f=$UET_CACHE/dl/$(basename "$u")
		[ -s "$f" ] || run_logged "$UET_CACHE/logs/fetch-rdma-core.log" "downloading $(basename "$u")" \
			curl -fL --retry 3 -o "$f" "$u"
	done
	rm -rf "$rdir" && mkdir -p "$rdir.tmp"
	tar -xzf "$UET_CACHE/dl/rdma-core_$UET_RDMA_CORE_VER.orig.tar.gz" -C "$rdir.tmp"
	mv "$rdir.tmp"/rdma-core-* "$rdir"
	rm -rf "$rdir.tmp"
	echo "$rver" >"$rdir/.debian-version"
	touch "$rdir/.complete"
fi

echo "$ldir" >"$UET_CACHE/linux-src"
echo "$rdir" >"$UET_CACHE/rdma-core-src"
{
	echo "linux: $UET_LINUX_PKG $(cat "$ldir/.debian-version") ($(make -s -C "$ldir" kernelversion 2>/dev/null))"
	echo "rdma-core: $(cat "$rdir/.debian-version")"
} >"$UET_CACHE/versions"
say "sources: $(tr '\n' ';' <"$UET_CACHE/versions")"
