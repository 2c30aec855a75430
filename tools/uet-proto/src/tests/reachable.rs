// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `Env::reachable`: the engine tells its environment when a peer proved
//! reachable, so that the kernel confirms the peer's neighbour entry (as
//! TCP does on forward progress) instead of leaving a busy PDC to
//! neighbour probes, which a lossy link loses: at 20% loss each way, three
//! unicast ARP probes all fail 4.7% of the time, and the entry's failure
//! and new resolution cut one direction off for a second or more.

use super::*;

/// A 256 KiB WRITE from node 0 to node 1 on a clean wire: both ends name
/// each other (the initiator on ACKs that acknowledge new packets, the
/// target on new packets), and no third address.
#[test]
fn forward_progress_confirms_the_peer_both_ways() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 5);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        write_op(),
        pattern(5, 256 << 10),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 100_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    let (r0, r1) = (&net.nodes[0].env.reachable, &net.nodes[1].env.reachable);
    assert!(r0.get(&addr(1)).is_some_and(|&n| n > 0), "{r0:?}");
    assert!(r1.get(&addr(0)).is_some_and(|&n| n > 0), "{r1:?}");
    assert_eq!((r0.len(), r1.len()), (1, 1));
}

/// Every packet from node 1 (the target's ACKs) is lost: the initiator
/// never names its peer, and the target names it only for the new packets
/// the initiator's window lets out without an ACK, not for the resends
/// that follow until the PDC fails.
#[test]
fn no_confirmation_without_acks() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 6);
    net.drop_if = Some(std::boxed::Box::new(|src, _, _| src == 1));
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        write_op(),
        pattern(6, 4 << 20),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 60_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::PdcError);
    let (s0, s1) = (net.nodes[0].eng.stats, net.nodes[1].eng.stats);
    assert!(s0.retx > 0 && s1.dup > 0, "{s0:?} {s1:?}");
    assert!(net.nodes[0].env.reachable.is_empty());
    let confirms = net.nodes[1]
        .env
        .reachable
        .get(&addr(0))
        .copied()
        .unwrap_or(0);
    let window = u64::from(fast_cfg().max_inflight);
    assert!(confirms > 0 && confirms <= window, "{confirms} > {window}");
    // One per new packet: the resends were not counted.
    assert!(confirms + s1.dup <= s1.rx, "{confirms} {s1:?}");
}
