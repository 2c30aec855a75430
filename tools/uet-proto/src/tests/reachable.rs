// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `Env::reachable`: the engine tells its environment when a peer proved
//! reachable, so that the kernel confirms the peer's neighbour entry (as
//! TCP does on forward progress) instead of leaving a busy PDC to
//! neighbour probes, which a lossy link loses: at 20% loss each way, three
//! unicast ARP probes all fail 4.7% of the time, and the entry's failure
//! and new resolution cut one direction off for a second or more.

use super::*;

/// Node 0 WRITEs `len` bytes to node 1 on a clean wire, losing the
/// packets `drop` says (source, destination, payload); runs until the
/// WRITE completes (at most `secs` simulated seconds) and returns its
/// status with the network.
fn write(seed: u64, len: usize, drop: Option<crate::sim::DropIf>, secs: u64) -> (Status, Net) {
    let mut net = net(2, fast_cfg(), Link::CLEAN, seed);
    net.drop_if = drop;
    let data = pattern(seed, len);
    send(&mut net, 0, 1, 1, Mode::Rud, write_op(), data, 1).unwrap();
    let limit = net.now + secs * 1_000_000_000;
    assert!(net.run_until(limit, |n| comps(n, 0).len() == 1));
    (comps(&net, 0)[0].status, net)
}

/// The count `map` (an `HostEnv` per-peer count) holds for node `peer`.
fn of(map: &std::collections::HashMap<crate::proto::ses::Addr, u64>, peer: usize) -> u64 {
    map.get(&addr(peer)).copied().unwrap_or(0)
}

/// A 1 MiB WRITE from node 0 to node 1 on a clean wire: both ends name
/// each other (the initiator on ACKs that acknowledge new packets, the
/// target on requests whose clear PSN moved: those after the first
/// window, which went out as SYN packets before any ACK), and no third
/// address.
#[test]
fn forward_progress_confirms_the_peer_both_ways() {
    let (st, net) = write(5, 1 << 20, None, 1);
    assert_eq!(st, Status::Ok);
    let (r0, r1) = (&net.nodes[0].env.reachable, &net.nodes[1].env.reachable);
    assert!(of(r0, 1) > 0 && of(r1, 0) > 0, "{r0:?} {r1:?}");
    assert_eq!((r0.len(), r1.len()), (1, 1));
    // Every proof went out on a packet to the peer that gave it.
    for (i, peer) in [(0, 1), (1, 0)] {
        let env = &net.nodes[i].env;
        assert_eq!(of(&env.confirmed, peer), of(&env.reachable, peer));
    }
}

/// Every packet from node 1 (the target's ACKs) is lost: neither end
/// names its peer, although the target receives new packets (the
/// initiator's first window) and resends until the PDC fails: only a
/// request whose clear PSN moved past PSNs we acknowledged shows that our
/// ACKs reach the initiator.
#[test]
fn no_confirmation_without_acks() {
    let drop = std::boxed::Box::new(|src, _, _: &[u8]| src == 1);
    let (st, net) = write(6, 4 << 20, Some(drop), 60);
    assert_eq!(st, Status::PdcError);
    let (s0, s1) = (net.nodes[0].eng.stats, net.nodes[1].eng.stats);
    assert!(s0.retx > 0 && s1.dup > 0 && s1.rx > s1.dup, "{s0:?} {s1:?}");
    for n in &net.nodes {
        assert!(n.env.reachable.is_empty() && n.env.confirmed.is_empty());
    }
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
    for (op, len) in [(write_op(), 100), (read, 100), (atomic, 8)] {
        let before = of(&net.nodes[0].env.confirmed, 1);
        for _ in 0..20 {
            send(&mut net, 0, 1, 1, Mode::Rud, op, vec![0; len], done as u64).unwrap();
            done += 1;
            assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == done));
            assert_eq!(comps(&net, 0)[done - 1].status, Status::Ok);
        }
        let after = of(&net.nodes[0].env.confirmed, 1);
        // The first post of the PDC has nothing to carry; each later one
        // carries the previous operation's proof.
        assert!(after - before >= 19, "{op:?}: {before} -> {after}");
    }
    // The target confirms with the ACK of each request after the first
    // of the PDC (59 measured).
    let t = of(&net.nodes[1].env.confirmed, 0);
    assert!(t >= 50, "{t}");
}

/// The target's ACKs are lost until the initiator has sent its first
/// window, then get through: the target names its peer only from then on
/// (its first confirmation comes with a request sent after an ACK
/// arrived).
#[test]
fn target_confirms_once_its_acks_arrive() {
    let mut lost = 0u32;
    let drop = std::boxed::Box::new(move |src, _, _: &[u8]| {
        if src == 1 && lost < 40 {
            lost += 1;
            return true;
        }
        false
    });
    let (st, net) = write(7, 1 << 20, Some(drop), 10);
    assert_eq!(st, Status::Ok);
    let (t, i) = (
        of(&net.nodes[1].env.reachable, 0),
        of(&net.nodes[0].env.reachable, 1),
    );
    assert!(t > 0 && i > 0, "{t} {i}");
}
