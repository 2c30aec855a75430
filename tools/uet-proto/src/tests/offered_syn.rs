// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! A SYN answered with an offer (a `NEW_START_PSN` NACK) is never
//! delivered at its own start PSN: its initiator, once it hears the
//! offer, sends the same messages again from the offered PSN, and a PDC
//! opened at the first PSN as well would deliver them twice (review of
//! 67a39b2, B1 and B2; `Config::syn_pressure` was off by default until
//! these held).

use super::*;
use crate::proto::engine::{Engine, Tomb};
use crate::proto::wire::ses::op;
use std::boxed::Box;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::string::String;

/// Node 0's engine with 16 PDCs and room for 64 tombstones and offers
/// (so that the reaped forged PDCs' tombstones push nothing out early:
/// the 1-RTT period that would follow hides what is tested here).
fn roomy_target(net: &mut Net, cfg: Config) {
    let mut t = crate::sim::tables(16, 64, 64);
    t.tombs = vec![Tomb::EMPTY; 64];
    t.tomb_map = vec![0; 64];
    *net.nodes[0].eng = Engine::new(cfg, t).unwrap();
}

/// What [`pressure_ends_within_a_flight`] saw.
struct Seen {
    /// Header data of every message node 0 received (the sends carry
    /// `1..=n`), in order.
    delivered: Vec<u64>,
    /// Completions of node 1's sends and how they finished.
    sent: Vec<(u64, Status)>,
    /// Messages node 0 holds unexpected (a copy delivered beyond the
    /// posted receives would be one).
    unexpected: usize,
    /// SYNs node 0 answered with an offer under pressure.
    offered: u64,
}

/// The hole of the review of 67a39b2 (B1). Node 0's table is at the SYN
/// pressure (12 forged PDCs of 16, three quarters) when node 1 sends
/// `n` one-packet SENDs (one SYN flight at start PSN S). The first
/// `during` packets of the flight reach node 0 while the pressure lasts
/// and are answered with an offer O; node 1 hears it and sends the
/// messages again from O, but those packets are lost until the forged
/// PDCs are reaped (the pressure ends). Then the rest of the first
/// flight arrives (at start PSN S), and only after it node 1's packets
/// at O, on `link`. Once every send completed and the PDC closed, every
/// packet node 1 ever sent to node 0 arrives again in an order drawn
/// from `seed`.
fn pressure_ends_within_a_flight(n: usize, during: usize, link: Link, seed: u64) -> Seen {
    let cfg = Config {
        syn_pressure: 192,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, seed);
    roomy_target(&mut net, cfg);
    for k in 0..12u16 {
        let p = forged_req(1000, k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    let t0 = net.now;
    assert_eq!(net.nodes[0].eng.usage().0, 12);
    // The flight leaves 2 ms before the forged PDCs are reaped.
    net.run_for(t0 + cfg.reap_after() - 2_000_000);
    for k in 0..n + 4 {
        recv(&mut net, 0, 1, 4096, 100 + k as u64, None);
    }
    let hold = Rc::new(Cell::new(true));
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let (h, store) = (hold.clone(), held.clone());
    net.drop_if = Some(Box::new(move |s, d, pkt| {
        if s == 1 && d == 0 {
            store.borrow_mut().push(pkt.to_vec());
            return h.get();
        }
        false
    }));
    for k in 1..=n as u64 {
        let data = pattern(k, 100);
        send(
            &mut net,
            1,
            0,
            1,
            Mode::Rud,
            Op::Send { tag: None },
            data,
            k,
        )
        .unwrap();
    }
    net.run_for(net.now + 10_000);
    let first: Vec<Vec<u8>> = held.borrow()[..n].to_vec();
    // Under pressure: an offer, no PDC.
    for p in &first[..during] {
        inject_raw(&mut net, 0, addr(1), p);
    }
    assert_eq!(net.nodes[0].eng.usage().0, 12);
    let offered = net.nodes[0].eng.stats.syn_offered;
    assert!(offered >= 1);
    // Node 1 hears the offer; its packets at O are lost while the forged
    // PDCs are reaped.
    net.run_for(t0 + cfg.reap_after() + 1_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0, "the pressure is over");
    // The rest of the first flight, then node 1's resends at O.
    for p in &first[during..] {
        inject_raw(&mut net, 0, addr(1), p);
    }
    hold.set(false);
    net.link = link;
    net.run_until(net.now + 2_000_000_000, |net| comps(net, 1).len() >= n);
    // The PDC closes; every packet of the flight comes again, within the
    // quiet time (a copy may live that long).
    net.run_for(net.now + 20_000_000);
    net.link = Link::CLEAN;
    let all = held.borrow().clone();
    let mut order: Vec<usize> = (0..all.len()).collect();
    let mut r = crate::sim::Rng::new(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, r.below(i as u64 + 1) as usize);
    }
    for i in order {
        inject_raw(&mut net, 0, addr(1), &all[i]);
        net.run_for(net.now + 1_000);
    }
    net.run_for(net.now + 20_000_000);
    Seen {
        delivered: comps(&net, 0)
            .iter()
            .filter(|c| c.kind == CompKind::Recv)
            .map(|c| c.hdr_data)
            .collect(),
        sent: comps(&net, 1).iter().map(|c| (c.user, c.status)).collect(),
        unexpected: net.nodes[0].eng.unexpected().count(),
        offered,
    }
}

/// Each of `n` messages completed once at node 1, and was delivered
/// exactly once at node 0.
fn exactly_once(s: &Seen, n: usize) -> Result<(), String> {
    let mut sent = s.sent.clone();
    sent.sort_unstable_by_key(|c| c.0);
    let want: Vec<(u64, Status)> = (1..=n as u64).map(|k| (k, Status::Ok)).collect();
    if sent != want {
        return Err(format!("sends completed {:?}", s.sent));
    }
    let mut got = s.delivered.clone();
    got.sort_unstable();
    if got != (1..=n as u64).collect::<Vec<_>>() || s.unexpected != 0 {
        return Err(format!(
            "delivered {:?} (+{} unexpected)",
            s.delivered, s.unexpected
        ));
    }
    Ok(())
}

/// Review of 67a39b2, B1: the SYN of the first message gets an offer
/// under pressure, the pressure ends, and the SYN of the second message
/// (same flight, same start PSN) arrives before the resends at the
/// offered PSN. It opened a PDC at its own PSN and delivered the second
/// message; the echo at the offered PSN replaced that PDC once it had
/// been idle for two `rto_max` and delivered it again. Now it gets the
/// same offer again and opens nothing.
#[test]
fn syn_answered_with_an_offer_never_opens_at_its_own_psn() {
    let s = pressure_ends_within_a_flight(2, 1, Link::CLEAN, 97);
    assert_eq!(s.offered, 1);
    if let Err(e) = exactly_once(&s, 2) {
        panic!("{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 50, ..ProptestConfig::default() })]

    /// [`syn_answered_with_an_offer_never_opens_at_its_own_psn`] for
    /// flights of 2 to 6 messages, the pressure ending after any of
    /// their packets, on a wire that loses, duplicates and reorders
    /// once the pressure is over, and with every packet replayed at the
    /// end: each message is delivered once.
    #[test]
    fn a_flight_split_by_the_end_of_the_pressure_is_delivered_once(
        n in 2..7usize,
        during in 1..6usize,
        lossy in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let during = 1 + (during - 1) % (n - 1);
        let link = if lossy {
            Link { loss: 0.05, dup: 0.05, reorder: 0.1, ..Link::CLEAN }
        } else {
            Link::CLEAN
        };
        let s = pressure_ends_within_a_flight(n, during, link, seed);
        prop_assert!(s.offered >= 1);
        if let Err(e) = exactly_once(&s, n) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// Review of 67a39b2, B2: an offer pushed out of the offer ring before
/// its time (a flood of SYNs under pressure turns the ring over in
/// milliseconds) forgot the start PSN it answered, and a late copy of
/// that SYN could open a PDC there (0-RTT) once the pressure was over.
/// The initiator, which heard the offer, echoes it; that offer is gone,
/// so the open PDC's key answers with another, which the initiator (no
/// ACK heard yet) takes, and that echo replaced the first PDC once it
/// had been idle for two `rto_max`: the message delivered twice. Now an
/// offer pushed out early extends the 1-RTT period to its own time, as
/// a tombstone does: the copy gets a half-open PDC, which the second
/// echo opens, and the message is delivered once.
#[test]
fn offer_pushed_out_early_keeps_its_syn_from_opening() {
    use super::offers::{new_start_nacks, syn_send};
    let cfg = Config {
        syn_pressure: 192,
        ..fast_cfg()
    };
    // 16 PDCs and 16 entries: an offer ring of 4.
    let mut net = net(2, cfg, Link::CLEAN, 98);
    for k in 0..12u16 {
        let p = forged_req(1000, k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    let t0 = net.now;
    // Node 1's SYN (a one-packet SEND) under pressure, 5 ms before the
    // forged PDCs are reaped: an offer.
    net.run_for(t0 + cfg.reap_after() - 5_000_000);
    let t1 = net.now;
    recv(&mut net, 0, 1, 4096, 10, None);
    recv(&mut net, 0, 1, 4096, 11, None);
    let syn = syn_send(1000, 1000, 40, 1);
    net.nodes[0].env.outbox.clear();
    inject_raw(&mut net, 0, addr(1), &syn);
    let o = new_start_nacks(&mut net, 0);
    assert_eq!(o.len(), 1);
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 1);
    let before = net.nodes[0].eng.one_rtt_until();
    // Forged SYNs from other addresses push it out of the ring.
    for k in 0..8u16 {
        let p = forged_req(1000, 200 + k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker(20 + k as u8), &p);
    }
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 9);
    let after = net.nodes[0].eng.one_rtt_until();
    // The pressure over (the forged PDCs reaped), a copy of the SYN.
    net.run_for(t0 + cfg.reap_after() + 1_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    let copy_at = net.now;
    net.nodes[0].env.outbox.clear();
    inject_raw(&mut net, 0, addr(1), &syn);
    let copy_offer = new_start_nacks(&mut net, 0);
    // The echo of the offer, then of the offer its echo draws, each
    // after two `rto_max`.
    let mut echo = o[0];
    for _ in 0..2 {
        net.run_for(net.now + 2 * cfg.rto_max + 1_000_000);
        inject_raw(&mut net, 0, addr(1), &syn_send(echo, echo, 40, 1));
        match new_start_nacks(&mut net, 0)[..] {
            [next] => echo = next,
            _ => break,
        }
    }
    net.run_for(net.now + 1_000_000);
    assert_eq!(recv_count(&net, 0), 1, "delivered twice or never");
    assert_eq!(net.nodes[0].eng.stats.pdc_replaced, 0);
    // How: the 1-RTT period, which had not begun, lasts the evicted
    // offer's time, and the copy got a half-open PDC and an offer.
    assert!(before <= t1, "no 1-RTT period before");
    assert!(after >= t1 + cfg.quiet_time(), "the evicted offer's time");
    assert!(copy_at < after);
    assert_eq!(copy_offer.len(), 1, "the copy got an offer");
}

/// The same hole through a half-open PDC (1-RTT, here the quiet time
/// after start): its initiator echoed the offer and the PDC opened there,
/// but a copy of the first SYN, arriving once that PDC had closed and
/// the 1-RTT period was over, opened a PDC at its own PSN (0-RTT) and
/// delivered the message again. A half-open PDC that opens now leaves a
/// tombstone for the start PSN of the SYN it answered, as a taken offer
/// does.
#[test]
fn first_syn_of_a_half_open_pdc_is_not_delivered_again() {
    let cfg = Config {
        quiet_start: true,
        ..fast_cfg()
    };
    let q = cfg.quiet_time();
    let mut net = net(2, cfg, Link::CLEAN, 99);
    roomy_target(&mut net, cfg);
    net.capture = Some(Vec::new());
    // Node 0 starts; node 1's SYN comes near the end of its quiet time.
    inject_raw(&mut net, 0, attacker(99), &[0u8; 4]);
    let t0 = net.now;
    net.run_for(t0 + q - 5_000_000);
    recv(&mut net, 0, 1, 4096, 10, None);
    recv(&mut net, 0, 1, 4096, 11, None);
    send(
        &mut net,
        1,
        0,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(5, 100),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 100_000_000, |n| !comps(n, 1).is_empty()));
    assert_eq!(comps(&net, 1)[0].status, Status::Ok);
    assert_eq!(recv_count(&net, 0), 1);
    let first = net
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .find(|(s, _, _)| *s == 1)
        .unwrap()
        .2
        .clone();
    // The PDC closes, the 1-RTT period ends; the copy comes within the
    // quiet time of the handshake.
    assert!(net.run_until(net.now + 100_000_000, |n| n.nodes[0].eng.usage().0 == 0));
    net.run_for(t0 + q + 1_000_000);
    assert!(net.nodes[0].eng.one_rtt_until() < net.now);
    let stale = net.nodes[0].eng.stats.stale_syn;
    inject_raw(&mut net, 0, addr(1), &first);
    net.run_for(net.now + 10_000_000);
    assert_eq!(recv_count(&net, 0), 1, "delivered twice");
    assert_eq!(net.nodes[0].eng.stats.stale_syn, stale + 1);
}

/// The start PSN of request `pkt` if it is a SYN.
fn syn_start(pkt: &[u8]) -> Option<u32> {
    use crate::proto::wire::{parse, pds::PdcDst, pds::PdsHeader};
    match parse(pkt).ok()?.pds {
        PdsHeader::Req(r) => match r.dst {
            PdcDst::Syn { psn_offset, .. } => Some(r.psn.wrapping_sub(u32::from(psn_offset))),
            PdcDst::Dpdcid(_) => None,
        },
        _ => None,
    }
}

/// Cold review of the SYN pressure, S2. Node 1's SYN (start PSN S) gets
/// an offer O under pressure, and node 0's NACKs are lost for 2.5 s
/// while node 1 sends the SYN again and again, each answered with O.
/// The last one's NACK gets through; before node 1's echo at O arrives,
/// SYNs of 16 other keys turn the offer ring over (O goes before its
/// time), the pressure ends, and the echo draws a half-open PDC (the
/// 1-RTT period O's eviction set) whose offer opens the PDC: the message
/// is delivered once. Then a copy of node 1's last SYN at S, aged the
/// quiet time less 1 s, arrives. O's time was set by the first SYN and
/// never refreshed, so the 1-RTT period its eviction set was over, no
/// tombstone named S, and the copy opened a PDC at S (0-RTT) and
/// delivered the message a second time. Now every SYN an offer answers
/// refreshes its time, and its eviction keeps new PDCs at 1-RTT for the
/// quiet time after the last of them: the copy draws an offer.
#[test]
fn an_offer_answering_a_syn_for_seconds_guards_its_last_copy() {
    let cfg = Config {
        syn_pressure: 192,
        min_fail_time: 3_000_000_000,
        ..fast_cfg()
    };
    let q = cfg.quiet_time();
    let mut net = net(2, cfg, Link::CLEAN, 101);
    roomy_target(&mut net, cfg);
    net.capture = Some(Vec::new());
    // The pressure: 12 forged PDCs of 16, until their reap.
    for k in 0..12u16 {
        let p = forged_req(1000, k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    let t0 = net.now;
    let pressure_end = t0 + cfg.reap_after();
    // 0: every packet passes; 1: node 0's packets to node 1 are lost;
    // 2: node 1's SYNs at another start PSN than its first are lost.
    let mode = Rc::new(Cell::new(0u8));
    let first: Rc<Cell<Option<u32>>> = Rc::default();
    let (m, f) = (mode.clone(), first.clone());
    net.drop_if = Some(Box::new(move |s, d, pkt| match m.get() {
        1 => s == 0 && d == 1,
        2 if s == 1 && d == 0 => {
            let st = syn_start(pkt);
            if f.get().is_none() {
                f.set(st);
            }
            st.is_some() && st != f.get()
        }
        _ => false,
    }));
    // Node 1's SEND leaves 2.55 s before the pressure ends; node 0's
    // answers are lost for 2.5 s.
    net.run_for(pressure_end - 2_550_000_000);
    recv(&mut net, 0, 1, 4096, 10, None);
    recv(&mut net, 0, 1, 4096, 11, None);
    mode.set(1);
    send(
        &mut net,
        1,
        0,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(7, 100),
        1,
    )
    .unwrap();
    let s = syn_start(&net.nodes[1].env.outbox[0].2).unwrap();
    first.set(Some(s));
    net.run_for(net.now + 2_500_000_000);
    assert!(comps(&net, 1).is_empty(), "node 1 gave up");
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 1);
    let syns = net
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .filter(|(f, _, p)| *f == 1 && syn_start(p) == Some(s))
        .count();
    assert!(syns > 100, "{syns} SYNs at S in 2.5 s");
    // The NACKs pass again: the next SYN at S is answered, and its
    // NACK goes out.
    mode.set(2);
    let seen = net.capture.as_ref().unwrap().len();
    let answered = |n: &Net| {
        let c = n.capture.as_ref().unwrap();
        c[seen..].iter().any(|(f, _, _)| *f == 0)
    };
    assert!(net.run_until(net.now + 50_000_000, answered));
    let ta = net.now;
    let last = net
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .rev()
        .find(|(f, _, p)| *f == 1 && syn_start(p) == Some(s))
        .unwrap()
        .2
        .clone();
    // SYNs of 16 other keys under pressure turn the offer ring (16)
    // over.
    for k in 0..16u16 {
        let p = forged_req(1000, 300 + k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker(20 + (k % 4) as u8), &p);
    }
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 17);
    // The pressure ends; node 1's echo comes through and its message is
    // delivered once.
    net.run_for(pressure_end + 2_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0, "the pressure is over");
    mode.set(0);
    assert!(net.run_until(net.now + 200_000_000, |n| !comps(n, 1).is_empty()));
    assert_eq!(comps(&net, 1)[0].status, Status::Ok);
    assert_eq!(recv_count(&net, 0), 1);
    // The copy of the last SYN at S, aged the quiet time less 1 s.
    net.run_for(ta + q - 1_000_000_000);
    let before = net.nodes[0].eng.stats;
    inject_raw(&mut net, 0, addr(1), &last);
    net.run_for(net.now + 20_000_000);
    assert_eq!(recv_count(&net, 0), 1, "delivered twice");
    assert_eq!(net.nodes[0].eng.unexpected().count(), 0);
    // How (RING_TURNS): refreshed, O went to the back of the full ring
    // and another key's offer went instead; node 1's echo took O, which
    // left a tombstone for S.
    assert_eq!(net.nodes[0].eng.stats.stale_syn, before.stale_syn + 1);
}

/// [`an_offer_answering_a_syn_for_seconds_guards_its_last_copy`] with the
/// offer pushed out. An offer O answers node 1's SYN (start PSN S) under
/// pressure, three other keys' offers fill the ring (4), and 2.5 s later
/// the SYN comes again and gets O again. Offers of four more keys push
/// out the three others and then O, which had kept the time of the
/// first SYN: the 1-RTT period it set ended a quiet time after that,
/// and a copy of the second SYN, aged the quiet time less 1 s, opened a
/// PDC at S and delivered the message (node 1 takes O and delivers it
/// from there). Now O's time is the quiet time after the second SYN: it
/// goes to the back of the ring once (a refreshed offer, while the
/// others' offers go), is pushed out by the fourth, and the 1-RTT period
/// lasts until then; the copy draws an offer.
#[test]
fn offer_refreshed_by_its_syn_guards_it_when_pushed_out() {
    use super::offers::{new_start_nacks, syn_send};
    let cfg = Config {
        syn_pressure: 192,
        min_fail_time: 3_000_000_000,
        ..fast_cfg()
    };
    let q = cfg.quiet_time();
    // 16 PDCs and 16 entries: an offer ring of 4.
    let mut net = net(2, cfg, Link::CLEAN, 102);
    for k in 0..12u16 {
        let p = forged_req(1000, k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    let t0 = net.now;
    net.run_for(t0 + 1_000_000);
    recv(&mut net, 0, 1, 4096, 10, None);
    let syn = syn_send(1000, 1000, 40, 1);
    net.nodes[0].env.outbox.clear();
    inject_raw(&mut net, 0, addr(1), &syn);
    let o = new_start_nacks(&mut net, 0);
    assert_eq!(o.len(), 1);
    let forged = |net: &mut Net, k: u16| {
        let p = forged_req(1000, 200 + k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(net, 0, attacker(20 + k as u8), &p);
    };
    for k in 0..3 {
        forged(&mut net, k);
    }
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 4);
    assert!(net.nodes[0].eng.one_rtt_until() <= t0);
    // The SYN again 2.5 s later: the same offer.
    net.run_for(net.now + 2_500_000_000);
    let ta = net.now;
    net.nodes[0].env.outbox.clear();
    inject_raw(&mut net, 0, addr(1), &syn);
    assert_eq!(new_start_nacks(&mut net, 0), o);
    // Three more keys: the three other offers go (1-RTT for their time),
    // O stays.
    for k in 3..6 {
        forged(&mut net, k);
    }
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 7);
    assert_eq!(net.nodes[0].eng.one_rtt_until(), t0 + 1_000_000 + q);
    // The fourth pushes O out: 1-RTT for the quiet time after the SYN.
    forged(&mut net, 6);
    assert_eq!(net.nodes[0].eng.one_rtt_until(), ta + q);
    // The pressure over (the forged PDCs reaped), the copy.
    net.run_for(ta + q - 1_000_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    net.nodes[0].env.outbox.clear();
    inject_raw(&mut net, 0, addr(1), &syn);
    assert_eq!(
        new_start_nacks(&mut net, 0).len(),
        1,
        "the copy got an offer"
    );
    net.run_for(net.now + 1_000_000);
    assert_eq!(recv_count(&net, 0), 0, "delivered at S");
}
