#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Install (idempotently) everything the build and the guest need.
. "$(dirname "$0")/lib.sh"

DEBS=(
	# kernel build
	bc bison flex libelf-dev libssl-dev cpio kmod pahole rsync xz-utils
	# guest and VM runner
	busybox-static qemu-system-x86 iproute2 tcpdump perftest ethtool
	# rdma-core build
	cmake ninja-build pkg-config libnl-3-dev libnl-route-3-dev libudev-dev
	python3-docutils
	# perftest build (perftest.sh)
	autoconf automake libtool libpci-dev
	# make bench: kernel TCP reference, the memcpy probe, plots
	iperf3 gcc libc6-dev python3-matplotlib
	curl ca-certificates file
)
missing=()
for p in "${DEBS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
	run_logged "$UET_CACHE/logs/apt-install.log" "apt-get install ${missing[*]}" \
		env DEBIAN_FRONTEND=noninteractive sh -c \
		"apt-get update -q && apt-get install -y -q --no-install-recommends ${missing[*]}"
fi

# Rust: the machine's rustup toolchain, with rust-src for the kernel crate.
command -v rustup >/dev/null || die "rustup not found (the machine's Rust toolchain is required)"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	run_logged "$UET_CACHE/logs/rustup.log" "rustup component add rust-src" rustup component add rust-src
fi
for c in clippy rustfmt; do
	rustup component list --installed 2>/dev/null | grep -q "^$c" ||
		run_logged "$UET_CACHE/logs/rustup.log" "rustup component add $c" rustup component add "$c"
done

# bindgen-cli, pinned, in the cache so a version bump never mixes with others.
BINDGEN_ROOT=$UET_CACHE/bindgen-$UET_BINDGEN_VER
if [ ! -x "$BINDGEN_ROOT/bin/bindgen" ]; then
	run_logged "$UET_CACHE/logs/bindgen.log" "cargo install bindgen-cli $UET_BINDGEN_VER" \
		cargo install --locked --root "$BINDGEN_ROOT" bindgen-cli --version "$UET_BINDGEN_VER"
fi

# libclang 18 from the PyPI wheel (bookworm's libclang 14 makes CONFIG_RUST drop out).
CLANG_VENV=$UET_CACHE/libclang-$UET_LIBCLANG_VER
if [ ! -e "$CLANG_VENV/.complete" ]; then
	rm -rf "$CLANG_VENV"
	run_logged "$UET_CACHE/logs/libclang.log" "pip install libclang==$UET_LIBCLANG_VER" \
		sh -c "python3 -m venv '$CLANG_VENV' && '$CLANG_VENV/bin/pip' install -q 'libclang==$UET_LIBCLANG_VER'"
	touch "$CLANG_VENV/.complete"
fi
