#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs uet_verbs (kselftest_harness, its own TAP) on a uet0 device bound to
# veth0: creates the device, runs the program, removes the device.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

uet_skip() {
	ktap_print_header
	ktap_skip_all "$1"
	exit "$KSFT_SKIP"
}

[ -x "$UET_DIR/uet_verbs" ] || uet_skip "uet_verbs was not built (RDMA_CORE_STAGE unset at build time?)"
[ -n "$RDMA" ] || uet_skip "the rdma tool is not installed"
modprobe -n -q uet_soft 2>/dev/null || [ -d /sys/module/uet_soft ] || uet_skip "module uet_soft is not available"

cleanup() {
	uet_uet0_down
}
trap cleanup EXIT

setup_fail() {
	ktap_print_header
	ktap_exit_fail_msg "setup: $1"
}
err=$(uet_uet0_up) || setup_fail "$err"

UET_DEV=uet0 UET_NETDEV=veth0 "$UET_DIR/uet_verbs"
