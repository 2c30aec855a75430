// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `Env::reachable`: the engine tells its environment when a peer proved
//! reachable, so that the kernel confirms the peer's neighbour entry (as
//! TCP does on forward progress) instead of leaving a busy PDC to
//! neighbour probes, which a lossy link loses: at 20% loss each way, three
//! unicast ARP probes all fail 4.7% of the time, and the entry's failure
//! and new resolution cut one direction off for a second or more.

use super::*;

/// A 1 MiB WRITE from node 0 to node 1 on a clean wire: both ends name
/// each other (the initiator on ACKs that acknowledge new packets, the
/// target on requests whose clear PSN moved: those after the first
/// window, which went out as SYN packets before any ACK), and no third
/// address.
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
        pattern(5, 1 << 20),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 100_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    let (r0, r1) = (&net.nodes[0].env.reachable, &net.nodes[1].env.reachable);
    assert!(r0.get(&addr(1)).is_some_and(|&n| n > 0), "{r0:?}");
    assert!(r1.get(&addr(0)).is_some_and(|&n| n > 0), "{r1:?}");
    assert_eq!((r0.len(), r1.len()), (1, 1));
    // Every proof went out on a packet to the peer that gave it.
    for (i, peer) in [(0, 1), (1, 0)] {
        let env = &net.nodes[i].env;
        assert_eq!(
            env.confirmed.get(&addr(peer)),
            env.reachable.get(&addr(peer))
        );
    }
}

/// Every packet from node 1 (the target's ACKs) is lost: neither end
/// names its peer, although the target receives new packets (the
/// initiator's first window) and resends until the PDC fails: only a
/// request whose clear PSN moved past PSNs we acknowledged shows that our
/// ACKs reach the initiator.
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
    assert!(s0.retx > 0 && s1.dup > 0 && s1.rx > s1.dup, "{s0:?} {s1:?}");
    assert!(net.nodes[0].env.reachable.is_empty());
    assert!(net.nodes[1].env.reachable.is_empty());
    assert!(net.nodes[0].env.confirmed.is_empty() && net.nodes[1].env.confirmed.is_empty());
}

/// One operation at a time (a latency loop): the ACK or response that
/// proves the peer lets no packet out, and the proof must not die with
/// the call that got it (the kernel forgets a proof at the end of each
/// engine call): the PDC's next packet, in the next post, carries it.
/// WRITEs, READs and atomics from node 0; the passive target confirms
/// on the clear PSN of each next request.
#[test]
fn one_operation_at_a_time_confirms_at_the_initiator() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 8);
    let atomic = Op::Atomic {
        key: MR_RW,
        offset: 0,
        op: AtomicOp::FetchAdd,
        operand: 1,
        compare: 0,
    };
    let read = Op::Read {
        key: MR_RO,
        offset: 0,
    };
    let mut done = 0;
    for op in [write_op(), read, atomic] {
        let before = net.nodes[0]
            .env
            .confirmed
            .get(&addr(1))
            .copied()
            .unwrap_or(0);
        for _ in 0..20 {
            let len = if matches!(op, Op::Atomic { .. }) {
                8
            } else {
                100
            };
            send(&mut net, 0, 1, 1, Mode::Rud, op, vec![0; len], done as u64).unwrap();
            done += 1;
            assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == done));
            assert_eq!(comps(&net, 0)[done - 1].status, Status::Ok);
        }
        let after = net.nodes[0]
            .env
            .confirmed
            .get(&addr(1))
            .copied()
            .unwrap_or(0);
        // The first post of the PDC has nothing to carry; each later one
        // carries the previous operation's proof.
        assert!(after - before >= 19, "{op:?}: {before} -> {after}");
    }
    // The target confirms with the ACK of each request after the first
    // of the PDC (59 measured).
    let t = net.nodes[1]
        .env
        .confirmed
        .get(&addr(0))
        .copied()
        .unwrap_or(0);
    assert!(t >= 50, "{t}");
}

/// The target's ACKs are lost until the initiator has sent its first
/// window, then get through: the target names its peer only from then on
/// (its first confirmation comes with a request sent after an ACK
/// arrived).
#[test]
fn target_confirms_once_its_acks_arrive() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 7);
    let mut lost = 0u32;
    net.drop_if = Some(std::boxed::Box::new(move |src, _, _| {
        if src == 1 && lost < 40 {
            lost += 1;
            return true;
        }
        false
    }));
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        write_op(),
        pattern(7, 1 << 20),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 10_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    let t = net.nodes[1]
        .env
        .reachable
        .get(&addr(0))
        .copied()
        .unwrap_or(0);
    let i = net.nodes[0]
        .env
        .reachable
        .get(&addr(1))
        .copied()
        .unwrap_or(0);
    assert!(t > 0 && i > 0, "{t} {i}");
}
