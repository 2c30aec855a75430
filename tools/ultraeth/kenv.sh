# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Kernel build environment (sourced after lib.sh and fetch.sh).
KVER_DEB=$(awk '/^linux:/ {print $3}' "$UET_CACHE/versions")
KPRISTINE=$(cat "$UET_CACHE/linux-src")
KBUILD_ROOT=$UET_CACHE/build/$(basename "$KPRISTINE")$UET_KSUFFIX
KSRC=$KBUILD_ROOT/src
KOBJ=$KBUILD_ROOT/obj
KMODROOT=$KBUILD_ROOT/modroot
KHDR=$KOBJ/usr
UET_OVERLAY_DIRS="drivers include rust samples tools/testing Documentation"
export PATH=$UET_BINDGEN_DIR:$PATH
LIBCLANG_PATH=$(uet_libclang_path)
export LIBCLANG_PATH
[ -n "$LIBCLANG_PATH" ] || die "libclang $UET_LIBCLANG_VER not installed (run tools/ultraeth/toolchain.sh)"
KMAKE_ARGS="-C $KSRC O=$KOBJ ARCH=x86_64"
# the debug kernel is built with clang: KASAN with Rust needs CC_IS_CLANG
[ -z "$UET_KVARIANT" ] || KMAKE_ARGS="$KMAKE_ARGS LLVM=$UET_DEBUG_LLVM"
