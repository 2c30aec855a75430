#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs uet_verbs (kselftest_harness, its own TAP) on a uet0 device bound to
# veth0: creates the device, runs the program, removes the device.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

uet_harness_require uet_verbs

cleanup() {
	"$RDMA" link delete rxe_v1 2>/dev/null
	uet_uet0_down
}
trap cleanup EXIT

err=$(uet_uet0_up) || uet_harness_setup_fail "$err"
# another provider's device (rxe on the peer end), for the tests that
# check what a non-UET device refuses; they skip without it
modprobe rdma_rxe 2>/dev/null && "$RDMA" link add rxe_v1 type rxe netdev veth1 2>/dev/null

UET_DEV=uet0 UET_NETDEV=veth0 "$UET_DIR/uet_verbs"
