// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! An open target PDC whose own initiator is still in `SynSent` (its ACKs
//! lost) is not given way to an offer: one forged SYN of another start
//! PSN used to draw a `NEW_START_PSN` offer that the live initiator took,
//! and the message it had delivered was delivered again (cold review of
//! b5ccecb, B1; test written by the reviewer).

use super::*;
use crate::proto::wire::{emit_headers, parse, pds::*};
use std::{boxed::Box, cell::Cell, rc::Rc};

fn forge_from_syn(syn: &[u8]) -> Vec<u8> {
    let p = parse(syn).unwrap();
    let PdsHeader::Req(mut r) = p.pds else {
        panic!("not a req")
    };
    let PdcDst::Syn {
        use_rsv_pdc,
        psn_offset,
    } = r.dst
    else {
        panic!("not a SYN")
    };
    // Same PSN (in the initiator's flight), another start PSN.
    r.dst = PdcDst::Syn {
        use_rsv_pdc,
        psn_offset: psn_offset.wrapping_add(1) & 0xfff,
    };
    let mut out = vec![0u8; 256 + p.payload.len()];
    let n = emit_headers(&PdsHeader::Req(r), p.ses.as_ref(), &mut out).unwrap();
    out[n..n + p.payload.len()].copy_from_slice(p.payload);
    out.truncate(n + p.payload.len());
    out
}

#[test]
fn a_forged_syn_in_the_first_rtt_delivers_nothing_twice() {
    let link = Link {
        delay: 1_000_000,
        ..Link::CLEAN
    };
    let mut net = net(2, fast_cfg(), link, 3);
    net.capture = Some(Vec::new());
    let hold_acks = Rc::new(Cell::new(true));
    let h = hold_acks.clone();
    net.drop_if = Some(Box::new(move |s, _d, pkt| {
        h.get() && s == 1 && matches!(parse(pkt).map(|p| p.pds), Ok(PdsHeader::Ack(_)))
    }));
    recv(&mut net, 1, 1, 4096, 10, None);
    recv(&mut net, 1, 1, 4096, 11, None);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(1, 100),
        1,
    )
    .unwrap();
    // The target delivers; its ACKs are lost, so the initiator stays SynSent.
    assert!(net.run_until(net.now + 50_000_000, |n| recv_count(n, 1) == 1));
    assert!(comps(&net, 0).is_empty());
    let syn = net
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .find(|(s, _, _)| *s == 0)
        .unwrap()
        .2
        .clone();
    let forged = forge_from_syn(&syn);
    // One spoofed packet (an on-path attacker, or any sender that knows
    // the SPDCID and one PSN in flight).
    inject_raw(&mut net, 1, addr(0), &forged);
    hold_acks.set(false);
    net.run_until(net.now + 500_000_000, |n| comps(n, 0).len() == 1);
    net.run_for(net.now + 100_000_000);
    assert_eq!(net.nodes[1].eng.stats.pdc_replaced, 0);
    assert_eq!(
        recv_count(&net, 1),
        1,
        "delivered twice: {:?}",
        comps(&net, 1)
    );
}
