#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# uet_rma's transfers, atomics and delivery modes under tc netem reordering, duplication and corruption
# on both ends of the wire (see uet_rma.sh).
UET_RMA_SET=wire exec "$(dirname "$(readlink -f "$0")")/uet_rma.sh"
