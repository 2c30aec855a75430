// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! A target PDC that ends (reaped idle) frees its partially received
//! messages, and only its own: they are found on the PDC's chain of
//! inbound messages, not by a scan of the inbound table.

use super::*;
use crate::proto::wire::ses::op;

/// Unfinished 4 KiB sends of job [`JOB`] to endpoint 1 of node 1, their
/// first 100 bytes only (nobody receives: each takes an inbound and an
/// unexpected slot), on a PDC of `peer`, message ids `ids`.
fn partial_sends(net: &mut Net, peer: Addr, ids: core::ops::Range<u16>) {
    for k in ids {
        let psn = 1000 + u32::from(k);
        // Every packet carries the SYN until the initiator hears an ACK.
        let p = forged_req(psn, 7, None, op::SEND, JOB, true, false, k, 0, 100, 4096);
        inject_raw(net, 1, peer, &p);
    }
}

#[test]
fn reaped_pdc_frees_its_own_partial_messages() {
    let cfg = fast_cfg();
    let mut net = net(2, cfg, Link::CLEAN, 41);
    let reap = cfg.reap_after();
    partial_sends(&mut net, attacker(1), 0..3);
    let u = net.nodes[1].eng.usage();
    assert_eq!((u.0, u.3, u.4), (1, 3, 3), "{u:?}");
    // Half a reap time later another peer leaves two of its own.
    net.run_for(net.now + reap / 2);
    partial_sends(&mut net, attacker(2), 0..2);
    let u = net.nodes[1].eng.usage();
    assert_eq!((u.0, u.3, u.4), (2, 5, 5), "{u:?}");
    // The first PDC is reaped: its three messages go, the other two stay.
    net.run_for(net.now + reap / 2 + reap / 4);
    let u = net.nodes[1].eng.usage();
    assert_eq!((u.0, u.3, u.4), (1, 2, 2), "{u:?}");
    assert_eq!(net.nodes[1].eng.stats.pdc_reaped, 1);
    // Then the second, and nothing is left.
    net.run_for(net.now + reap);
    let u = net.nodes[1].eng.usage();
    assert_eq!((u.0, u.3, u.4), (0, 0, 0), "{u:?}");
    // A PDC of the first peer again: its tables work as before.
    recv(&mut net, 1, 1, 4096, 5, None);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(5, 3000),
        6,
    )
    .unwrap();
    assert!(net.run_until(net.now + 100_000_000, |n| comps(n, 1).len() == 1));
    assert_eq!(comps(&net, 1)[0].status, Status::Ok);
}
