#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Messages between two uet devices on a veth wire across two network
# namespaces: uet_msg (kselftest_harness) on a clean wire over IPv4 and
# IPv6, then under tc netem (loss 1%, 5%, 20%, reordering, duplication,
# corruption) on both ends of the wire. Each case of each run is one result
# here, named "<wire>: <case>" (uet_wire_runs in uet_lib.sh).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

# the cases of uet_msg, as its harness names them
ALL="global.no_job msg.sizes msg.max_msg_size msg.many msg.tagged_exact
msg.tagged_masked msg.tagged_unexpected msg.tagged_order msg.classic_post
msg.bad_sge msg.bad_post msg.ring_full msg.peer_missing msg.peer_silent
msg.flush msg.qpn msg.events msg.endpoints_256"
ALL=$(echo $ALL)
# under impairments: the transfers, not the error cases
WIRE="msg.sizes msg.many msg.tagged_exact msg.tagged_unexpected msg.classic_post"
IPV6="msg.sizes msg.many msg.tagged_exact msg.peer_silent"

# wire name|IP version|netem args|cases|environment
RUNS=(
	"ipv4|4||$ALL|UET_MSG_COUNT=10000"
	"ipv6|6||$IPV6|UET_MSG_COUNT=10000"
	"loss 1%|4|loss 1%|$WIRE|UET_MSG_COUNT=1000"
	"loss 5%|4|loss 5%|$WIRE|UET_MSG_COUNT=1000"
	"loss 20%|4|loss 20%|$WIRE|UET_MSG_COUNT=1000"
	"reorder|4|delay 2ms reorder 25% 50%|$WIRE|UET_MSG_COUNT=1000"
	"duplicate|4|duplicate 10%|$WIRE|UET_MSG_COUNT=1000"
	"corrupt|4|corrupt 5%|$WIRE|UET_MSG_COUNT=1000"
)

uet_wire_runs "$UET_DIR/uet_msg" m
ktap_finished
