#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Build the guest kernel: pristine Linux + patches/ + the repository's
# kernel-path files laid over it, configured from tinyconfig + fragments.
#
# Layout under $UET_CACHE/build/<linux version>/:
#   src/      hard-linked copy of the pristine tree, patched, overlaid
#   obj/      O= build directory (incremental)
#   modroot/  modules_install output
#   obj/usr/  uapi headers ("make headers", KHDR_INCLUDES for selftests)
. "$(dirname "$0")/lib.sh"

"$UET_TOP/tools/ultraeth/fetch.sh"
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
rsync -rlc --files-from="$newman" "$UET_TOP/" "$KSRC/"
# The project's top-level Kbuild/Kconfig hook our directories into the tree
# (patches/0001 makes the upstream top-level files include them).
for f in Kbuild Kconfig; do
	cmp -s "$UET_TOP/$f" "$KSRC/$f.ultraeth" || cp "$UET_TOP/$f" "$KSRC/$f.ultraeth"
done
mv "$newman" "$KSRC/.uet-overlay"

# ---- 3. configuration ---------------------------------------------------------
mkdir -p "$KOBJ"
frags=("$UET_TOP/tools/ultraeth/guest.config" "$UET_TOP"/tools/testing/selftests/drivers/infiniband/ultraeth/config)
cfgkey=$( (cat "${frags[@]}"; rustc --version; "$UET_BINDGEN_DIR/bindgen" --version; echo "$want") | sha256sum | cut -c1-16)
if [ "$(cat "$KOBJ/.uet-config-key" 2>/dev/null)" != "$cfgkey" ] || [ ! -e "$KOBJ/.config" ]; then
	run_logged "$UET_CACHE/logs/kconfig.log" "configuring kernel (tinyconfig + ${frags[*]##*/})" \
		sh -c "make $KMAKE_ARGS tinyconfig &&
		       '$KSRC/scripts/kconfig/merge_config.sh' -m -O '$KOBJ' '$KOBJ/.config' ${frags[*]} &&
		       make $KMAKE_ARGS olddefconfig"
	# every requested option must have stuck
	bad=$(cat "${frags[@]}" | grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' | sort -u |
		while read -r line; do
			case "$line" in
			"# "*) sym=${line#\# }; sym=${sym%% *}
			       grep -q "^$sym=" "$KOBJ/.config" && echo "$sym (wanted unset, got $(grep "^$sym=" "$KOBJ/.config"))";;
			*)     grep -qxF "$line" "$KOBJ/.config" ||
				echo "${line%%=*} (wanted ${line#*=}, got $(grep -E "^(# )?${line%%=*}[= ]" "$KOBJ/.config" || echo 'absent'))";;
			esac
		done)
	if [ -n "$bad" ]; then
		printf 'error: these kernel options did not stick after olddefconfig:\n%s\n' "$bad" >&2
		grep -q '^CONFIG_RUST=y' "$KOBJ/.config" ||
			printf 'hint: CONFIG_RUST dropped out; see "make rustavailable" output in %s\n' "$UET_CACHE/logs/kconfig.log" >&2
		make $KMAKE_ARGS rustavailable >>"$UET_CACHE/logs/kconfig.log" 2>&1 || tail -n 5 "$UET_CACHE/logs/kconfig.log" >&2
		exit 1
	fi
	echo "$cfgkey" >"$KOBJ/.uet-config-key"
fi

# ---- 4. build ---------------------------------------------------------------
run_logged "$UET_CACHE/logs/kernel-build.log" \
	"building kernel $(cat "$KPRISTINE/.debian-version") ${CLIPPY:+with clippy }(-j$UET_JOBS)" \
	make $KMAKE_ARGS -j"$UET_JOBS" ${CLIPPY:+CLIPPY=1} bzImage modules
grep -E '^(warning|error)(\[|:)' "$UET_CACHE/logs/kernel-build.log" | grep -i -E 'rust|\.rs' | sort -u | head -n 20 >&2 || true
rm -rf "$KMODROOT.tmp"
run_logged "$UET_CACHE/logs/kernel-install.log" "installing modules and uapi headers" \
	sh -c "make $KMAKE_ARGS INSTALL_MOD_PATH='$KMODROOT.tmp' INSTALL_MOD_STRIP=1 modules_install &&
	       make $KMAKE_ARGS headers"
rm -rf "$KMODROOT" && mv "$KMODROOT.tmp" "$KMODROOT"
say "kernel ready: $KOBJ/arch/x86/boot/bzImage ($(make -s $KMAKE_ARGS kernelrelease))"
