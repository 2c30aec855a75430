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
#
# UET_KVARIANT=debug builds the debug lane's kernel instead: the same plus
# guest-debug.config, with clang, in $UET_CACHE/build/<linux version>-debug/
# (its own lock and logs, *-debug.log).
. "$(dirname "$0")/lib.sh"

"$UET_TOP/tools/ultraeth/fetch.sh"
uet_lock "kernel-tree$UET_KSUFFIX"
. "$UET_TOP/tools/ultraeth/kenv.sh"

"$UET_TOP/tools/ultraeth/overlay.sh"

# ---- 3. configuration ---------------------------------------------------------
mkdir -p "$KOBJ"
frags=("$UET_TOP/tools/ultraeth/guest.config" "$UET_TOP"/tools/testing/selftests/drivers/infiniband/ultraeth/config)
ccver=
if [ -n "$UET_KVARIANT" ]; then
	frags+=("$UET_TOP/tools/ultraeth/guest-debug.config")
	# Debian's clang, lld and llvm of that version (bookworm has 19)
	if ! command -v "clang$UET_DEBUG_LLVM" >/dev/null || ! command -v "ld.lld$UET_DEBUG_LLVM" >/dev/null ||
		! command -v "llvm-ar$UET_DEBUG_LLVM" >/dev/null; then
		[ "$(id -u)" = 0 ] || die "clang$UET_DEBUG_LLVM, lld$UET_DEBUG_LLVM and llvm$UET_DEBUG_LLVM are needed for the debug kernel"
		run_logged "$UET_CACHE/logs/apt-install.log" "apt-get install clang$UET_DEBUG_LLVM lld$UET_DEBUG_LLVM llvm$UET_DEBUG_LLVM" \
			env DEBIAN_FRONTEND=noninteractive sh -c \
			"apt-get update -q && apt-get install -y -q --no-install-recommends clang$UET_DEBUG_LLVM lld$UET_DEBUG_LLVM llvm$UET_DEBUG_LLVM"
	fi
	ccver=$("clang$UET_DEBUG_LLVM" --version | head -n1)
fi
cfgkey=$( (cat "${frags[@]}"; rustc --version; "$UET_BINDGEN_DIR/bindgen" --version; cat "$KSRC/.uet-patches"
	[ -z "$ccver" ] || echo "$ccver") | sha256sum | cut -c1-16)
if [ "$(cat "$KOBJ/.uet-config-key" 2>/dev/null)" != "$cfgkey" ] || [ ! -e "$KOBJ/.config" ]; then
	run_logged "$UET_CACHE/logs/kconfig$UET_KSUFFIX.log" "configuring kernel${UET_KVARIANT:+ ($UET_KVARIANT)} (tinyconfig + ${frags[*]##*/})" \
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
			printf 'hint: CONFIG_RUST dropped out; see "make rustavailable" output in %s\n' "$UET_CACHE/logs/kconfig$UET_KSUFFIX.log" >&2
		make $KMAKE_ARGS rustavailable >>"$UET_CACHE/logs/kconfig$UET_KSUFFIX.log" 2>&1 || tail -n 5 "$UET_CACHE/logs/kconfig$UET_KSUFFIX.log" >&2
		exit 1
	fi
	echo "$cfgkey" >"$KOBJ/.uet-config-key"
fi

# ---- 4. build ---------------------------------------------------------------
# With CLIPPY=1 the project's Rust is linted: clippy only runs on what is
# recompiled, so mark our crates' roots as changed first.
if [ -n "${CLIPPY:-}" ]; then
	touch "$KSRC/rust/kernel/rdma.rs" "$KSRC/drivers/infiniband/ultraeth/uet_soft.rs"
fi
run_logged "$UET_CACHE/logs/kernel-build$UET_KSUFFIX.log" \
	"building kernel $(cat "$KPRISTINE/.debian-version")${UET_KVARIANT:+ ($UET_KVARIANT)} ${CLIPPY:+with clippy }(-j$UET_JOBS)" \
	make $KMAKE_ARGS -j"$UET_JOBS" ${CLIPPY:+CLIPPY=1} bzImage modules
if grep -q -E '^warning' "$UET_CACHE/logs/kernel-build$UET_KSUFFIX.log"; then
	echo "warnings in the kernel build (log: $UET_CACHE/logs/kernel-build$UET_KSUFFIX.log):" >&2
	grep -E -A 6 '^warning' "$UET_CACHE/logs/kernel-build$UET_KSUFFIX.log" | head -n 60 >&2
	# With CLIPPY=1 the Rust code must build without warnings.
	[ -z "${CLIPPY:-}" ] || die "clippy reported warnings"
fi
rm -rf "$KMODROOT.tmp"
run_logged "$UET_CACHE/logs/kernel-install$UET_KSUFFIX.log" "installing modules and uapi headers" \
	sh -c "make $KMAKE_ARGS INSTALL_MOD_PATH='$KMODROOT.tmp' INSTALL_MOD_STRIP=1 modules_install &&
	       make $KMAKE_ARGS headers"
rm -rf "$KMODROOT" && mv "$KMODROOT.tmp" "$KMODROOT"
say "kernel ready: $KOBJ/arch/x86/boot/bzImage ($(make -s $KMAKE_ARGS kernelrelease))"
