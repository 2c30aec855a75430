#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Build rdma-core (Debian's 56.1 source) with our provider sources from
# tools/rdma-core/ laid over it and tools/rdma-core/patches/ applied.
# Installs into $UET_CACHE/build/rdma-core-<ver>/stage (DESTDIR).
. "$(dirname "$0")/lib.sh"

"$UET_TOP/tools/ultraeth/fetch.sh"
uet_lock rdma-core
RPRISTINE=$(cat "$UET_CACHE/rdma-core-src")
RROOT=$UET_CACHE/build/$(basename "$RPRISTINE")
RSRC=$RROOT/src
RBLD=$RROOT/build
RSTAGE=$RROOT/stage
OVL=$UET_TOP/tools/rdma-core

# The source tree is recreated whenever the overlay or patches change; the
# build directory is kept, so ninja rebuilds only what changed.
key=$(cd "$UET_TOP" && { git ls-files --cached --others --exclude-standard -- tools/rdma-core include/uapi/rdma 2>/dev/null |
	sort | while read -r f; do [ -e "$f" ] && { echo "$f"; cat "$f"; }; done; } | sha256sum | cut -c1-16)
if [ "$(cat "$RSRC/.uet-key" 2>/dev/null)" != "$key" ]; then
	say "preparing rdma-core source tree $RSRC"
	rm -rf "$RSRC" && mkdir -p "$RROOT"
	cp -a "$RPRISTINE" "$RSRC"
	if [ -d "$OVL" ]; then
		(cd "$OVL" && find . -path ./patches -prune -o -type f -print | while read -r f; do
			mkdir -p "$RSRC/$(dirname "$f")" && cp "$f" "$RSRC/$f"
		done)
		for p in "$OVL"/patches/*.patch; do
			[ -e "$p" ] || continue
			say "applying tools/rdma-core/patches/$(basename "$p")"
			patch -d "$RSRC" -p1 --forward --quiet --no-backup-if-mismatch <"$p" ||
				die "$(basename "$p") does not apply to rdma-core $(cat "$RPRISTINE/.debian-version")"
		done
	fi
	# Our uverbs ABI headers, as rdma-core keeps a copy of the kernel's.
	for h in "$UET_TOP"/include/uapi/rdma/*.h; do
		[ -e "$h" ] && cp "$h" "$RSRC/kernel-headers/rdma/"
	done
	echo "$key" >"$RSRC/.uet-key"
fi

if [ ! -e "$RBLD/build.ninja" ]; then
	mkdir -p "$RBLD"
	run_logged "$UET_CACHE/logs/rdma-core-cmake.log" "configuring rdma-core" \
		cmake -S "$RSRC" -B "$RBLD" -GNinja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc \
		-DCMAKE_INSTALL_RUNDIR=/run -DCMAKE_INSTALL_LIBDIR=lib/x86_64-linux-gnu \
		-DNO_MAN_PAGES=1 -DNO_PYVERBS=1 -DENABLE_STATIC=0
fi
run_logged "$UET_CACHE/logs/rdma-core-build.log" "building rdma-core $(cat "$RPRISTINE/.debian-version")" \
	ninja -C "$RBLD" -j"$UET_JOBS"
rm -rf "$RSTAGE"
run_logged "$UET_CACHE/logs/rdma-core-install.log" "installing rdma-core into $RSTAGE" \
	env DESTDIR="$RSTAGE" ninja -C "$RBLD" install
say "rdma-core ready: $RSTAGE"
