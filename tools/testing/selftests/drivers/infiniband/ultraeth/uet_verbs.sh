#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs uet_verbs (kselftest_harness, its own TAP) on a uet0 device bound to
# veth0: creates the device, runs the program, removes the device.
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

uet_harness_require uet_verbs

trap uet_uet0_down EXIT

err=$(uet_uet0_up) || uet_harness_setup_fail "$err"

UET_DEV=uet0 UET_NETDEV=veth0 "$UET_DIR/uet_verbs"
