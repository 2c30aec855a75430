#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Bring the kernel build tree up to date: pristine Linux (hard links) +
# patches/series + the repository's kernel-path files. Cheap when nothing
# changed; run by kernel.sh and initramfs.sh.
. "$(dirname "$0")/lib.sh"
. "$UET_TOP/tools/ultraeth/kenv.sh"

# ---- 1. source tree: pristine (hard links) + patch series -------------------
if [ ! -e "$KSRC/.uet-tree" ]; then
	say "creating build tree $KSRC (hard links to $KPRISTINE)"
	rm -rf "$KSRC"
	mkdir -p "$(dirname "$KSRC")"
	cp -al "$KPRISTINE" "$KSRC.tmp"
	mv "$KSRC.tmp" "$KSRC"
	touch "$KSRC/.uet-tree"
fi

# restore_file PATH: put back the pristine version (or remove a file we added)
restore_file() {
	rm -f "$KSRC/$1"
	if [ -e "$KPRISTINE/$1" ]; then
		ln "$KPRISTINE/$1" "$KSRC/$1"
		touch "$KSRC/$1" # newer than any object built from the patched file
	fi
}

series=$UET_TOP/patches/series
want=$( (cat "$series"; grep -v '^#' "$series" | sed "s|^|$UET_TOP/patches/|" | xargs cat) | sha256sum | cut -c1-16)
have=$(cat "$KSRC/.uet-patches" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
	if [ -e "$KSRC/.uet-patched-files" ]; then
		while read -r f; do restore_file "$f"; done <"$KSRC/.uet-patched-files"
	fi
	: >"$KSRC/.uet-patched-files"
	for p in $(grep -v '^#' "$series"); do
		say "applying patches/$p"
		grep -E '^\+\+\+ b/' "$UET_TOP/patches/$p" | sed 's|^+++ b/||; s|\t.*||' >>"$KSRC/.uet-patched-files"
		patch -d "$KSRC" -p1 --forward --quiet --no-backup-if-mismatch <"$UET_TOP/patches/$p" ||
			die "patches/$p does not apply to $(cat "$KPRISTINE/.debian-version")"
	done
	echo "$want" >"$KSRC/.uet-patches"
fi

# ---- 2. overlay the repository's kernel-path files --------------------------
# Files are copied only when their content changed (rsync -c, no -t), so make
# sees a new mtime exactly for what was edited. A repository file may not
# shadow an upstream one: upstream files change through patches/ only.
cd "$UET_TOP"
newman=$(mktemp)
git ls-files --cached --others --exclude-standard -- $UET_OVERLAY_DIRS |
	while read -r f; do [ -e "$f" ] && echo "$f"; done | sort >"$newman"
while read -r f; do
	[ -e "$KPRISTINE/$f" ] && die "$f exists upstream: change it with a patch in patches/, not by overlay"
done <"$newman"
if [ -e "$KSRC/.uet-overlay" ]; then
	comm -23 "$KSRC/.uet-overlay" "$newman" | while read -r f; do
		say "overlay: $f was removed from the repository"
		restore_file "$f"
	done
fi
# -p: a file made executable later is executable in the tree too (rsync
# updates the mode of a file whose content did not change).
rsync -rlcp --files-from="$newman" "$UET_TOP/" "$KSRC/"
# The project's top-level Kbuild/Kconfig hook our directories into the tree
# (patches/0001 makes the upstream top-level files include them).
for f in Kbuild Kconfig; do
	cmp -s "$UET_TOP/$f" "$KSRC/$f.ultraeth" || cp "$UET_TOP/$f" "$KSRC/$f.ultraeth"
done
mv "$newman" "$KSRC/.uet-overlay"

