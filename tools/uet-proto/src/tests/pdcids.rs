// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! PDC ids (slot indexes) and their reuse: the id of a PDC that ended
//! without the CLOSE handshake is not given to a new PDC to the same peer
//! while that peer may still hold the old one.

use super::*;

/// Fails node 0's PDC to node 1 (one message lost until the retry limit)
/// after one that completed; returns the time it failed.
fn fail_one_pdc(net: &mut Net) -> u64 {
    recv(net, 1, 1, 4096, 10, None);
    send(
        net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(1, 4096),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 1_000_000_000, |n| comps(n, 0).len() == 1));
    net.link.loss = 1.0;
    send(
        net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(2, 4096),
        2,
    )
    .unwrap();
    assert!(net.run_until(net.now + 20_000_000_000, |n| comps(n, 0).len() == 2));
    assert_eq!(comps(net, 0)[1].status, Status::PdcError);
    net.link.loss = 0.0;
    net.now
}

/// Review of 0c73f13 (S1): the FIFO free list only delayed the reuse of
/// a failed PDC's SPDCID by the number of free slots. A node that opens
/// and closes PDCs to another peer walks the free list round in far less
/// than the quiet time, and its next PDC to the first peer got the failed
/// id again while that target still held the failed PDC: its SYNs were
/// dropped as stale. The failed slot is quarantined for `reap_after`.
#[test]
fn a_failed_pdc_id_is_not_reused_while_the_peer_may_hold_it() {
    let cfg = Config {
        quiet_start: false,
        ..Config::SOFTWARE
    };
    let link = Link {
        delay: 50_000,
        ..Link::CLEAN
    };
    let mut net = net(3, cfg, link, 95);
    let slots = net.nodes[0].eng.pdcs().len();
    let failed_at = fail_one_pdc(&mut net);
    // Node 0 opens and closes one PDC after another to node 2: each takes
    // the head of the free list and goes back to its tail.
    for k in 0..slots - 1 {
        recv(&mut net, 2, 1, 4096, 100 + k as u64, None);
        let n0 = comps(&net, 0).len();
        let p = pattern(3, 64);
        send(
            &mut net,
            0,
            2,
            1,
            Mode::Rud,
            Op::Send { tag: None },
            p,
            100 + k as u64,
        )
        .unwrap();
        assert!(net.run_until(net.now + 1_000_000_000, |n| comps(n, 0).len() == n0 + 1));
        // Until the initiator closed it (idle_close + the CLOSE handshake).
        assert!(net.run_until(net.now + 1_000_000_000, |n| n.nodes[0].eng.usage().0 == 0));
    }
    let cycled = net.now - failed_at;
    // Well inside the quiet time: the target still holds the failed PDC.
    assert!(cycled < cfg.quiet_time() / 2, "{cycled}");
    assert!(net.nodes[1]
        .eng
        .pdcs()
        .iter()
        .any(|p| p.state() == PdcState::Open));
    let rb = recv(&mut net, 1, 1, 4096, 11, None);
    let third = pattern(4, 4096);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        third.clone(),
        3,
    )
    .unwrap();
    let n0 = comps(&net, 0).len();
    let ok = net.run_until(net.now + 100_000_000, |n| comps(n, 0).len() == n0 + 1);
    assert!(
        ok && comps(&net, 0)[n0].status == Status::Ok,
        "cycled in {} ms; initiator {:?}; target rx_drop {} stale_syn {}",
        cycled / 1_000_000,
        comps(&net, 0).get(n0),
        net.nodes[1].eng.stats.rx_drop,
        net.nodes[1].eng.stats.stale_syn
    );
    assert_eq!(net.nodes[1].env.bufs[rb as usize], third);
    assert_eq!(net.nodes[1].eng.stats.rx_drop, 0);
}

/// A quarantined slot is not handed out to a PDC to its peer before its
/// time. Review of 5264c5f (S1): it was handed out to no PDC at all, so
/// a hostile target that fails PDCs fast quarantined the whole table for
/// every peer. Now a PDC to another peer borrows it (with the free list
/// empty), and the slot goes back to the quarantine when that PDC ends,
/// for `reap_after` from then. With the only slot quarantined for node
/// 1, a post to node 1 is refused and one to node 2 completes; node 1
/// gets the slot once its quarantine is over, and then at once.
#[test]
fn a_quarantined_slot_waits_for_reap_after_for_its_peer_only() {
    use crate::sim::tables_pooled;
    let cfg = fast_cfg();
    let mut net = net(3, cfg, Link::CLEAN, 96);
    for n in net.nodes.iter_mut() {
        let c = *n.eng.config();
        *n.eng = crate::proto::engine::Engine::new(c, tables_pooled(1, 64, 64, 4)).unwrap();
    }
    fail_one_pdc(&mut net);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    let post = |net: &mut Net, dst: usize, user: u64| {
        send(
            net,
            0,
            dst,
            1,
            Mode::Rud,
            Op::Send { tag: None },
            pattern(user, 64),
            user,
        )
    };
    assert_eq!(post(&mut net, 1, 5), Err(PostError::NoPdc));
    // Another peer borrows the slot (before the fix: refused too).
    let rb2 = recv(&mut net, 2, 1, 4096, 20, None);
    post(&mut net, 2, 6).expect("a PDC to another peer");
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 3));
    assert_eq!(comps(&net, 0)[2].status, Status::Ok);
    assert_eq!(
        net.nodes[2].env.bufs[rb2 as usize][..64],
        pattern(6, 64)[..]
    );
    // Closed: the slot is quarantined again, still for node 1.
    assert!(net.run_until(net.now + 10_000_000, |n| n.nodes[0].eng.usage().0 == 0));
    let back = net.now;
    assert_eq!(post(&mut net, 1, 7), Err(PostError::NoPdc));
    net.run_for(back + cfg.reap_after() - 1_000_000);
    assert_eq!(post(&mut net, 1, 7), Err(PostError::NoPdc));
    net.run_for(back + cfg.reap_after() + 1_000_000);
    // Node 1 reaped the failed PDC long before.
    assert_eq!(net.nodes[1].eng.usage().0, 0);
    let rb = recv(&mut net, 1, 1, 4096, 21, None);
    post(&mut net, 1, 7).unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 4));
    assert_eq!(comps(&net, 0)[3].status, Status::Ok);
    assert_eq!(net.nodes[1].env.bufs[rb as usize][..64], pattern(7, 64)[..]);
}

/// Review S1: a fresh engine handed out slot 0 first, so a device
/// deleted and added back on the same address (a new engine, another
/// seed) opened its first PDC to a peer under the SPDCID its predecessor
/// used first, which that peer still held (until its reap): the new
/// PDC's SYNs were dropped as stale and its messages failed. The free
/// list now starts at a slot drawn from the seed.
#[test]
fn an_engine_created_again_does_not_start_at_its_predecessors_id() {
    let cfg = fast_cfg();
    let mut net = net(2, cfg, Link::CLEAN, 97);
    recv(&mut net, 1, 1, 4096, 10, None);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(1, 64),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
    let old = net.nodes[0]
        .eng
        .pdcs()
        .iter()
        .position(|p| p.state() != PdcState::Free);
    // The device goes away and comes back with another seed; node 1 still
    // holds the old PDC.
    let seed = net.nodes[0].eng.config().seed ^ 0x5a5a_0000;
    *net.nodes[0].eng = crate::sim::new_engine(Config { seed, ..cfg });
    assert_ne!(Some(net.nodes[0].eng.first_pdc_slot()), old);
    assert_eq!(net.nodes[1].eng.usage().0, 1);
    let rb = recv(&mut net, 1, 1, 4096, 11, None);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(2, 64),
        2,
    )
    .unwrap();
    let n0 = comps(&net, 0).len();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == n0 + 1));
    assert_eq!(comps(&net, 0)[n0].status, Status::Ok);
    assert_eq!(net.nodes[1].env.bufs[rb as usize][..64], pattern(2, 64)[..]);
    assert_eq!(net.nodes[1].eng.stats.rx_drop, 0);
}

/// A slot borrowed from node 1's quarantine whose PDC to node 2 fails
/// too may be held by either peer: it is quarantined for every peer
/// until `reap_after` after the second failure.
#[test]
fn a_borrowed_slot_that_fails_again_is_kept_from_every_peer() {
    use crate::sim::tables_pooled;
    let cfg = fast_cfg();
    let mut net = net(3, cfg, Link::CLEAN, 98);
    for n in net.nodes.iter_mut() {
        let c = *n.eng.config();
        *n.eng = crate::proto::engine::Engine::new(c, tables_pooled(1, 64, 64, 4)).unwrap();
    }
    fail_one_pdc(&mut net);
    net.link.loss = 1.0;
    send(
        &mut net,
        0,
        2,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(8, 64),
        8,
    )
    .expect("borrowed from node 1's quarantine");
    assert!(net.run_until(net.now + 20_000_000_000, |n| comps(n, 0).len() == 3));
    assert_eq!(comps(&net, 0)[2].status, Status::PdcError);
    net.link.loss = 0.0;
    let failed = net.now;
    for dst in [1, 2, 1] {
        let r = send(
            &mut net,
            0,
            dst,
            1,
            Mode::Rud,
            Op::Send { tag: None },
            pattern(9, 64),
            9,
        );
        assert_eq!(r, Err(PostError::NoPdc), "to node {dst}");
    }
    net.run_for(failed + cfg.reap_after() + 1_000_000);
    recv(&mut net, 2, 1, 4096, 30, None);
    send(
        &mut net,
        0,
        2,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(10, 64),
        10,
    )
    .unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 4));
    assert_eq!(comps(&net, 0)[3].status, Status::Ok);
}
