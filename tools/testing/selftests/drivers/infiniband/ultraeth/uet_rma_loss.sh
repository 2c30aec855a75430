#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# uet_rma's transfers, atomics and delivery modes under tc netem loss of 1%, 5% and 20%
# on both ends of the wire (see uet_rma.sh), then one result for the loss
# recovery counters (fast_retransmissions moved; uet_wire_runs in uet_lib.sh).
UET_RMA_SET=loss exec "$(dirname "$(readlink -f "$0")")/uet_rma.sh"
