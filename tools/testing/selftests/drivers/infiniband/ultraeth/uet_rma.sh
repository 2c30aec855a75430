#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# RMA write and read, writes with header data, atomics, the (job, key)
# boundary and the ROD, RUDI and UUD delivery modes between two uet devices
# on a veth wire across two network namespaces: uet_rma (kselftest_harness)
# on a clean wire over IPv4 and IPv6, then under tc netem (loss 1%, 5%,
# 20%, reordering, duplication, corruption). Each case of each run is one
# result, named "<wire>: <case>" (uet_wire_runs in uet_lib.sh).
source "$(dirname "$(readlink -f "$0")")/uet_lib.sh"

ALL="rma.write_sizes rma.read_sizes rma.many rma.write_imm rma.zero_based
rma.refused rma.other_job rma.dereg_in_flight rma.revoke rma.local_errors
rma.rod_order rma.rudi rma.uud rma.atomic_counter rma.atomic_cas_lock
rma.atomic_refused rma.app_key"
ALL=$(echo $ALL)
# under impairments: the transfers and the modes
WIRE="rma.write_sizes rma.read_sizes rma.many rma.write_imm rma.rod_order
rma.rudi rma.uud rma.atomic_counter rma.atomic_cas_lock"
WIRE=$(echo $WIRE)
IPV6="rma.write_sizes rma.read_sizes rma.refused rma.atomic_counter"

# wire name|IP version|netem args|cases|environment. Three sets, one per
# test program (each has the kselftest timeout to itself): uet_rma.sh the
# clean wires, uet_rma_loss.sh loss, uet_rma_wire.sh the other impairments.
# set by the loss set only (not taken from the environment)
UET_WIRE_LOSSY=
case ${UET_RMA_SET:-clean} in
clean)
	RUNS=(
		"ipv4|4||$ALL|UET_WIRE_CLEAN=1"
		"ipv6|6||$IPV6|UET_WIRE_CLEAN=1"
	)
	tag=r net=86 ;;
loss)
	RUNS=(
		"loss 1%|4|loss 1%|$WIRE|"
		"loss 5%|4|loss 5%|$WIRE|"
		"loss 20%|4|loss 20%|$WIRE|"
	)
	tag=l net=87
	# every run drops packets: the recovery counters must move
	UET_WIRE_LOSSY=1 ;;
wire)
	RUNS=(
		"reorder|4|delay 2ms reorder 25% 50%|$WIRE|"
		"duplicate|4|duplicate 10%|$WIRE|"
		"corrupt|4|corrupt 5%|$WIRE|"
	)
	tag=w net=88 ;;
*)
	ktap_print_header
	ktap_exit_fail_msg "unknown UET_RMA_SET '$UET_RMA_SET'" ;;
esac

UET_WIRE_NET=$net uet_wire_runs "$UET_DIR/uet_rma" "$tag"
ktap_finished
