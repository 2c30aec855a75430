#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Build the project's Rust userspace tools that go into the guest (the
# binaries listed in tools/ultraeth/guest-tools) into $UET_CACHE/build/tools/bin.
. "$(dirname "$0")/lib.sh"

OUT=$UET_CACHE/build/tools
mkdir -p "$OUT/bin"
list=$(grep -v '^#' "$UET_TOP/tools/ultraeth/guest-tools" 2>/dev/null || true)
rm -f "$OUT"/bin/*
[ -n "$list" ] || exit 0
args=()
for b in $list; do args+=(--bin "$b"); done
run_logged "$UET_CACHE/logs/tools-build.log" "building guest tools ($list)" \
	env CARGO_TARGET_DIR="$OUT/target" cargo build --release --locked \
	--manifest-path "$UET_TOP/tools/Cargo.toml" "${args[@]}"
for b in $list; do cp "$OUT/target/release/$b" "$OUT/bin/"; done
