// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Offers: the start PSN a reaped half-open PDC offered in its
//! NEW_START_PSN NACK, kept for the quiet time (a9d71a5). They live in
//! their own ring, never evict a live tombstone, use one entry or two per
//! {peer, SPDCID}, and one taken moves a newer half-open PDC.

use super::*;

/// A one-packet SEND (64 bytes, job [`JOB`], endpoint 1) on PDC
/// `spdcid` that opens it (SYN) with start PSN `start`, at PSN `psn`.
pub(super) fn syn_send(start: u32, psn: u32, spdcid: u16, msg_id: u16) -> Vec<u8> {
    syn_send_job(start, psn, spdcid, msg_id, JOB)
}

/// [`syn_send`] for JobID `job`.
fn syn_send_job(start: u32, psn: u32, spdcid: u16, msg_id: u16, job: u32) -> Vec<u8> {
    use crate::proto::wire::{emit_headers, pds::*, ses::*, NextHeader};
    let h = PdsHeader::Req(ReqHdr {
        ordered: false,
        cc: None,
        next: NextHeader::ReqStd,
        retx: false,
        ar: true,
        clear_psn_offset: 0,
        psn,
        spdcid,
        dst: PdcDst::Syn {
            use_rsv_pdc: false,
            psn_offset: psn.wrapping_sub(start) as u16,
        },
    });
    let s = SesHeader::Req(SesReq {
        opcode: crate::proto::wire::ses::op::SEND,
        flags: sflags::SOM | sflags::EOM,
        addr: SesAddr { job, ..target(1) },
        body: ReqBody::Std {
            msg_id,
            buffer_offset: 0,
            initiator: 0,
            key: 0,
            data: StdData::HeaderData(0),
            request_length: 64,
        },
        ext: ReqExt::None,
    });
    let mut pkt = vec![0u8; 128 + 64];
    let n = emit_headers(&h, Some(&s), &mut pkt).unwrap();
    pkt.truncate(n + 64);
    pkt
}

/// NEW_START_PSN NACKs node `node` sent since the last call (its outbox
/// is emptied).
pub(super) fn new_start_nacks(net: &mut Net, node: usize) -> Vec<u32> {
    use crate::proto::wire::{parse, pds::nack, pds::PdsHeader};
    let out = std::mem::take(&mut net.nodes[node].env.outbox);
    out.iter()
        .filter_map(|(_, _, p)| match parse(p).ok()?.pds {
            PdsHeader::Nack(n) if n.code == nack::NEW_START_PSN => Some(n.payload),
            _ => None,
        })
        .collect()
}

/// Review S3: one forged {peer, SPDCID} that sends a SYN once per
/// `half_open` (and never answers the NACK) left an offer per reaped
/// half-open PDC, all in one hash chain: after a quiet time every SYN of
/// that key walked ~quiet_time/half_open entries (447 in the review).
/// Now a key keeps at most two live offers, and the chain stays short.
/// The offers guard the SYNs they answered, and none goes before its
/// time (which would push the 1-RTT time of the whole target out,
/// review of 10bea4b, S1): a SYN that would need a third is dropped
/// until one has expired.
#[test]
fn offers_of_one_key_keep_its_chain_short() {
    use crate::proto::engine::Engine;
    use crate::sim::tables_pooled;
    let cfg = Config {
        one_rtt: true,
        ..Config::SOFTWARE
    };
    let mut net = net(2, cfg, Link::CLEAN, 8);
    *net.nodes[1].eng = Engine::new(cfg, tables_pooled(1024, 64, 64, 16)).unwrap();
    let peer = attacker(1);
    // The first event starts the engine (and its quiet time).
    inject_raw(&mut net, 1, attacker(9), &[0u8; 4]);
    let until = net.nodes[1].eng.one_rtt_until();
    let end = net.now + 2 * cfg.quiet_time();
    let mut k = 0u32;
    let mut longest = 0;
    let mut nacked = 0;
    while net.now < end {
        inject_raw(&mut net, 1, peer, &syn_send(7000 + k, 7000 + k, 3, 1));
        let n = new_start_nacks(&mut net, 1).len();
        assert!(n <= 1);
        nacked += n;
        k += 1;
        net.run_for(net.now + cfg.half_open + 100_000);
        longest = longest.max(net.nodes[1].eng.tomb_chain_len(&peer, 3));
    }
    let s = &net.nodes[1].eng.stats;
    assert_eq!(s.pdc_reaped as usize, nacked);
    assert!((4..=6).contains(&nacked), "{nacked} of {k}");
    assert!(s.rx_drop as usize >= k as usize - nacked);
    assert!(
        longest <= 3,
        "SYNs {k}: a lookup of one key walks {longest} entries"
    );
    assert_eq!(net.nodes[1].eng.one_rtt_until(), until);
}

/// Review of 10bea4b, S1: with two live offers per key, a third SYN of
/// the key at a new start PSN evicted an offer before its time, which
/// made every new PDC of the target use 1-RTT for the quiet time (three
/// blind packets per quiet time kept it so). SYNs at many start PSNs of
/// one key, next to a half-open PDC of it and to an open one silent for
/// two `rto_max`, leave the 1-RTT time alone and at most two offers:
/// the SYNs beyond are dropped (their initiator sends them again), a
/// SYN an offer answered gets it again, and a copy of a SYN whose offer
/// was taken is stale (N5).
#[test]
fn syns_of_one_key_never_push_the_1rtt_time() {
    use crate::proto::engine::Engine;
    use crate::sim::tables_pooled;
    let cfg = Config {
        one_rtt: true,
        ..Config::SOFTWARE
    };
    let mut net = net(2, cfg, Link::CLEAN, 9);
    *net.nodes[1].eng = Engine::new(cfg, tables_pooled(1024, 64, 64, 16)).unwrap();
    let peer = attacker(2);
    inject_raw(&mut net, 1, attacker(9), &[0u8; 4]);
    let until = net.nodes[1].eng.one_rtt_until();
    // A half-open PDC (SYN at 100), then SYNs at other start PSNs.
    inject_raw(&mut net, 1, peer, &syn_send(100, 100, 5, 1));
    let first = new_start_nacks(&mut net, 1);
    assert_eq!(first.len(), 1);
    let mut offers = std::vec::Vec::new();
    for k in 1..8u32 {
        inject_raw(&mut net, 1, peer, &syn_send(100 + k, 100 + k, 5, 1));
        offers.push(new_start_nacks(&mut net, 1));
        assert!(net.nodes[1].eng.tomb_chain_len(&peer, 5) <= 2);
    }
    assert_eq!(net.nodes[1].eng.one_rtt_until(), until);
    // The half-open PDC's offer to come and one more: the SYN at 101.
    assert_eq!(offers[0].len(), 1);
    assert!(offers[1..].iter().all(|o| o.is_empty()), "{offers:?}");
    // A resend of the SYN at 101 gets the same offer.
    inject_raw(&mut net, 1, peer, &syn_send(101, 101, 5, 1));
    assert_eq!(new_start_nacks(&mut net, 1), offers[0]);
    // Reaped: two offers, and new SYNs are dropped.
    net.run_for(net.now + cfg.half_open + 100_000);
    assert_eq!(net.nodes[1].eng.usage().0, 0);
    for k in 10..16u32 {
        inject_raw(&mut net, 1, peer, &syn_send(100 + k, 100 + k, 5, 1));
        assert!(new_start_nacks(&mut net, 1).is_empty());
    }
    assert!(net.nodes[1].eng.tomb_chain_len(&peer, 5) <= 2);
    assert_eq!(net.nodes[1].eng.one_rtt_until(), until);
    // The echo of the first offer opens the PDC; the other offer leaves
    // a tombstone for the SYN it answered, as the taken one does.
    inject_raw(&mut net, 1, peer, &syn_send(first[0], first[0], 5, 1));
    assert!(new_start_nacks(&mut net, 1).is_empty());
    assert_eq!(net.nodes[1].eng.usage().0, 1);
    assert_eq!(net.nodes[1].eng.one_rtt_until(), until);
    // Silent for two `rto_max`: copies of the SYNs whose offers went are
    // stale (N5), and SYNs at other start PSNs of the key get an offer
    // each up to the limit, then nothing.
    net.run_for(net.now + 2 * cfg.rto_max + 1_000_000);
    assert_eq!(net.nodes[1].eng.usage().0, 1);
    let stale = net.nodes[1].eng.stats.stale_syn;
    for start in [100, 101] {
        inject_raw(&mut net, 1, peer, &syn_send(start, start, 5, 1));
        assert!(new_start_nacks(&mut net, 1).is_empty());
    }
    assert_eq!(net.nodes[1].eng.stats.stale_syn, stale + 2);
    let mut offered = 0;
    for k in 20..26u32 {
        inject_raw(&mut net, 1, peer, &syn_send(100 + k, 100 + k, 5, 1));
        offered += new_start_nacks(&mut net, 1).len();
    }
    assert_eq!(offered, 2);
    assert!(net.nodes[1].eng.tomb_chain_len(&peer, 5) <= 4);
    assert_eq!(recv_count(&net, 1), 0, "nothing delivered at a SYN's PSN");
    assert_eq!(net.nodes[1].eng.one_rtt_until(), until);
}

/// Review S2: offers shared the tombstone ring, and on a full ring a
/// reaped half-open PDC's offer evicted the oldest live tombstone, which
/// pushed the 1-RTT time out (every new PDC then used 1-RTT for up to
/// the quiet time, and for as long as a SYN flood lasts). Offers have
/// their own ring now: after a flood of half-open PDCs the legitimate
/// PDC's tombstones are still there. The offers pushed out of their own
/// ring extend the 1-RTT time to their own time (review of 67a39b2, B2:
/// a copy of the SYN one answered must not open a PDC at its own PSN),
/// never further, and a new PDC after it opens at once.
#[test]
fn offers_never_evict_live_tombstones() {
    use crate::proto::wire::{parse, pds::PdsHeader};
    let cfg = Config {
        quiet_start: true,
        ..fast_cfg() // 16 PDCs, 16 tombstones
    };
    let q = cfg.quiet_time();
    let mut net = net(2, cfg, Link::CLEAN, 9);
    net.capture = Some(Vec::new());
    // Node 1 starts (its quiet time begins).
    inject_raw(&mut net, 1, attacker(99), &[0u8; 4]);
    let t0 = net.now;
    net.run_for(t0 + q - 40_000_000);
    recv(&mut net, 1, 1, 4096, 10, None);
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
    assert!(net.run_until(net.now + 100_000_000, |n| comps(n, 0).len() == 1));
    // The initiator closes: node 1 keeps a tombstone for the quiet time.
    assert!(net.run_until(net.now + 100_000_000, |n| n.nodes[1].eng.usage().0 == 0));
    assert!(net.now < t0 + q);
    // Still in the quiet time: SYNs from 16 spoofed peers, half-open,
    // reaped; their offers would fill the whole ring (in two rounds: one
    // JobID holds at most half the PDC table).
    for round in 0..2u8 {
        for k in 0..8u8 {
            inject_raw(
                &mut net,
                1,
                attacker(8 * round + k),
                &syn_send(100, 100, 1, 1),
            );
        }
        std::mem::take(&mut net.nodes[1].env.outbox);
        net.run_for(net.now + 2 * cfg.half_open);
    }
    assert_eq!(net.nodes[1].eng.stats.pdc_reaped, 16);
    let until = net.nodes[1].eng.one_rtt_until();
    assert!(
        until <= net.now + q,
        "1-RTT forced {} ms past the offers' time",
        (until - net.now - q) / 1_000_000
    );
    // The legitimate PDC's tombstones (its first SYN's start PSN, and
    // the PSN it opened at) are still there: copies of both are stale.
    let reqs: Vec<(u32, Vec<u8>)> = net
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .filter(|(s, _, _)| *s == 0)
        .filter_map(|(_, _, p)| match parse(p).ok()?.pds {
            PdsHeader::Req(r) => Some((r.psn, p.clone())),
            _ => None,
        })
        .collect();
    let echo = reqs.iter().find(|r| r.0 != reqs[0].0).unwrap();
    let stale = net.nodes[1].eng.stats.stale_syn;
    inject_raw(&mut net, 1, addr(0), &reqs[0].1);
    inject_raw(&mut net, 1, addr(0), &echo.1);
    assert_eq!(net.nodes[1].eng.stats.stale_syn, stale + 2);
    // After the 1-RTT time a new PDC opens with its first packet (0-RTT).
    net.run_for(until.max(t0 + q) + 1_000_000);
    let rb = recv(&mut net, 1, 1, 4096, 11, None);
    inject_raw(&mut net, 1, attacker(200), &syn_send(500, 500, 1, 1));
    assert_eq!(new_start_nacks(&mut net, 1), Vec::<u32>::new());
    assert_eq!(net.nodes[1].env.bufs[rb as usize][..64], [0u8; 64][..]);
    assert!(comps(&net, 1)
        .iter()
        .any(|c| c.user == 11 && c.status == Status::Ok));
}

/// Review S4 (a9d71a5's second branch, untested before): a SYN at the
/// start PSN a reaped half-open PDC offered moves a newer half-open PDC
/// of the same {peer, SPDCID} to it; the message is delivered once, and
/// neither the newer PDC's own offer nor replays deliver it again. The
/// first SYN's own packets get the reaped PDC's offer again (review of
/// 67a39b2, B1), so the newer PDC is one a SYN at another start PSN
/// drew.
#[test]
fn offer_moves_a_newer_half_open_pdc() {
    let cfg = Config {
        one_rtt: true,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 7);
    for k in 0..8 {
        recv(&mut net, 1, 1, 64, 100 + k, None);
    }
    let peer = attacker(1);
    let p0 = 5000u32;
    inject_raw(&mut net, 1, peer, &syn_send(p0, p0, 3, 1));
    let x = new_start_nacks(&mut net, 1);
    assert_eq!(x.len(), 1);
    let x = x[0];
    // A is reaped: its offer X stays.
    net.run_for(net.now + 2 * cfg.half_open);
    assert_eq!(net.nodes[1].eng.stats.pdc_reaped, 1);
    // The initiator's SYN at P0 again (sent before it heard X): X again,
    // no PDC.
    inject_raw(&mut net, 1, peer, &syn_send(p0, p0, 3, 1));
    assert_eq!(new_start_nacks(&mut net, 1), [x]);
    assert_eq!(net.nodes[1].eng.usage().0, 0);
    // A SYN of the same key at another start PSN P1: B, at Y.
    let p1 = p0 + 100;
    inject_raw(&mut net, 1, peer, &syn_send(p1, p1, 3, 1));
    let y = new_start_nacks(&mut net, 1);
    assert_eq!(y.len(), 1);
    let y = y[0];
    assert_ne!(x, y);
    // The SYN at X: B moves to X and delivers.
    inject_raw(&mut net, 1, peer, &syn_send(x, x, 3, 1));
    assert_eq!(comps(&net, 1).len(), 1, "{:?}", net.nodes[1].eng.stats);
    // Replays at X, Y, P0 and P1: nothing more.
    for s in [x, y, p0, p1] {
        inject_raw(&mut net, 1, peer, &syn_send(s, s, 3, 1));
    }
    assert_eq!(comps(&net, 1).len(), 1);
    // After B's reap, replays at X (tombstone), Y, P0 and P1 (1-RTT):
    // nothing.
    net.run_for(net.now + cfg.reap_after() + 1_000_000);
    for s in [x, y, p0, p1] {
        inject_raw(&mut net, 1, peer, &syn_send(s, s, 3, 1));
    }
    assert_eq!(comps(&net, 1).len(), 1);
}

/// Review of issue 9, B2: offers came from the engine's xorshift
/// generator, whose output is its state, so one offer seen (an attacker's
/// SYN from its own address) gave the next one, made to another peer,
/// away. Offers are now a keyed hash ([`Config::key_seed`]) of a counter
/// and the SYN: no offer is the xorshift successor of the one before
/// it, they stay distinct, and another key gives other offers for the
/// same SYNs.
#[test]
fn offers_are_unpredictable() {
    fn xorshift(mut x: u32) -> u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    }
    let offers = |key_seed: u64| {
        let cfg = Config {
            one_rtt: true,
            key_seed,
            ..fast_cfg()
        };
        let mut net = net(2, cfg, Link::CLEAN, 95);
        let mut all = Vec::new();
        // SYNs from two peers in turn (the attacker and a victim), each
        // on its own SPDCID; every one draws a half-open PDC and its
        // offer. The half-open PDCs are reaped between rounds.
        for round in 0..40u16 {
            for k in 0..4u16 {
                let id = round * 4 + k;
                let p = syn_send(1000, 1000, id, 0);
                inject_raw(&mut net, 1, attacker((k % 2) as u8), &p);
                let got = new_start_nacks(&mut net, 1);
                assert_eq!(got.len(), 1, "SYN {id}");
                all.push(got[0]);
            }
            net.run_for(net.now + 2 * cfg.half_open + 1_000_000);
            net.nodes[1].env.outbox.clear();
        }
        all
    };
    let a = offers(0x1234_5678_9abc_def0);
    assert_eq!(a.len(), 160);
    for w in a.windows(2) {
        assert_ne!(w[1], xorshift(w[0]), "offer predicted from the one before");
    }
    let mut d = a.clone();
    d.sort_unstable();
    d.dedup();
    assert_eq!(d.len(), a.len(), "offers repeat");
    let b = offers(0x0fed_cba9_8765_4321);
    assert!(
        a.iter().zip(&b).all(|(x, y)| x != y),
        "offers do not depend on the key"
    );
}

/// Review of b5ccecb: the echo of an offer made to replace an open PDC
/// ended that PDC before the new one was taken, and the new one could
/// then be refused (its JobID over its share): the old PDC was gone for
/// nothing. Now the echo is refused (`NO_PDC_AVAIL`) while the new PDC
/// would be, and the old PDC and the offer stay.
#[test]
fn a_replacement_that_would_be_refused_keeps_the_old_pdc() {
    const J2: u32 = 9;
    let cfg = Config {
        syn_pressure: 0,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 96);
    // The old PDC (JobID JOB, start 1000) from the attacker's address 0,
    // another PDC of JOB from address 1, and JobID J2 at its share (8 of
    // 16) from addresses 2 to 5 (2 each, within their shares).
    inject_raw(&mut net, 1, attacker(0), &syn_send(1000, 1000, 1, 0));
    inject_raw(&mut net, 1, attacker(1), &syn_send(1000, 1000, 1, 0));
    for k in 0..8u16 {
        let p = syn_send_job(1000, 1000, 10 + k, 0, J2);
        inject_raw(&mut net, 1, attacker(2 + (k % 4) as u8), &p);
    }
    assert_eq!(net.nodes[1].eng.usage().0, 10);
    net.nodes[1].env.outbox.clear();
    // Silent for more than two `rto_max`: a new incarnation of the old
    // PDC's key, of JobID J2, gets an offer.
    net.run_for(net.now + 3 * cfg.rto_max);
    inject_raw(
        &mut net,
        1,
        attacker(0),
        &syn_send_job(5000, 5000, 1, 0, J2),
    );
    let offer = new_start_nacks(&mut net, 1);
    assert_eq!(offer.len(), 1);
    let echo = syn_send_job(offer[0], offer[0], 1, 0, J2);
    let over = net.nodes[1].eng.stats.over_quota;
    inject_raw(&mut net, 1, attacker(0), &echo);
    // J2 is at its share while JOB holds a PDC: refused, the old PDC kept.
    assert_eq!(
        net.nodes[1].eng.stats.pdc_replaced, 0,
        "old PDC ended for nothing"
    );
    assert_eq!(net.nodes[1].eng.stats.over_quota, over + 1);
    assert_eq!(net.nodes[1].eng.usage().0, 10);
    let job_pdcs = |net: &Net, job: u32| {
        net.nodes[1]
            .eng
            .pdcs()
            .iter()
            .filter(|p| p.state() == PdcState::Open && p.job() == job)
            .count()
    };
    assert_eq!(job_pdcs(&net, JOB), 2);
    assert_eq!(job_pdcs(&net, J2), 8);
    // The offer stays for the echo's next try; refused again as long as
    // the share holds.
    inject_raw(&mut net, 1, attacker(0), &echo);
    assert_eq!(net.nodes[1].eng.stats.pdc_replaced, 0);
    assert_eq!(net.nodes[1].eng.stats.over_quota, over + 2);
    assert_eq!(job_pdcs(&net, JOB), 2);
}
