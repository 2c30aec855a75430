#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# uet_rma's rma.many, rma.write_sizes and rma.atomic_counter on a wire
# where nobody answers ARP once both neighbour entries are set, and the
# entries go stale within 150 ms: the transfers keep them confirmed (as
# TCP's forward progress does), so they never need a neighbour probe,
# which would fail and cut the wire. One result more: no entry was probed
# or failed (see uet_rma.sh).
UET_RMA_SET=neigh exec "$(dirname "$(readlink -f "$0")")/uet_rma.sh"
