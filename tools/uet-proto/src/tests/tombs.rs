// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Tombstones per {peer, SPDCID}: a key keeps at most four that name a
//! start PSN; older ones fold into one key-wide entry for the latest of
//! their times, under which a SYN of the key that no entry names gets the
//! 1-RTT handshake (cold review of the SYN pressure, S3).

use super::*;
use crate::proto::engine::Engine;
use crate::proto::wire::{emit_headers, parse, pds::*, ses::*, NextHeader};
use crate::sim::tables_pooled;

/// A one-packet WRITE (64 bytes into [`MR_RW`] of endpoint 1) that opens
/// PDC `spdcid` at start PSN `start` (SYN, ACK requested).
fn syn_write(start: u32, spdcid: u16) -> Vec<u8> {
    let h = PdsHeader::Req(ReqHdr {
        ordered: false,
        cc: None,
        next: NextHeader::ReqStd,
        retx: false,
        ar: true,
        clear_psn_offset: 0,
        psn: start,
        spdcid,
        dst: PdcDst::Syn {
            use_rsv_pdc: false,
            psn_offset: 0,
        },
    });
    let s = SesHeader::Req(SesReq {
        opcode: op::WRITE,
        flags: sflags::SOM | sflags::EOM,
        addr: target(1),
        body: ReqBody::Std {
            msg_id: 0,
            buffer_offset: 0,
            initiator: 0,
            key: MR_RW,
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

/// CTRL CLOSE of initiator PDC `spdcid` at PSN `psn`, to target PDC `id`.
fn close(psn: u32, spdcid: u16, id: u16) -> Vec<u8> {
    let h = PdsHeader::Ctrl(CtrlHdr {
        ctl: CtlType::Close,
        rod: false,
        retx: false,
        ar: true,
        probe_opaque: 0,
        psn,
        spdcid,
        dst: PdcDst::Dpdcid(id),
        payload: 0,
    });
    let mut pkt = vec![0u8; 64];
    let n = emit_headers(&h, None, &mut pkt).unwrap();
    pkt.truncate(n);
    pkt
}

/// The target PDC ids of the ACKs node `node` sent since the last call,
/// and the start PSNs its NEW_START_PSN NACKs offered (its outbox is
/// emptied).
fn answers(net: &mut Net, node: usize) -> (Vec<u16>, Vec<u32>) {
    let out = std::mem::take(&mut net.nodes[node].env.outbox);
    let (mut acks, mut offers) = (Vec::new(), Vec::new());
    for (_, _, p) in &out {
        match parse(p).map(|p| p.pds) {
            Ok(PdsHeader::Ack(a)) => acks.push(a.spdcid),
            Ok(PdsHeader::Nack(n)) if n.code == nack::NEW_START_PSN => offers.push(n.payload),
            _ => {}
        }
    }
    (acks, offers)
}

/// Cold review of the SYN pressure, S3: a peer that opens and closes PDCs
/// under one SPDCID, each at a new start PSN (a SYN and a CLOSE each,
/// 0-RTT), left one tombstone per PDC in one hash chain, all of them
/// walked by every SYN of that key: 400 entries after 400 PDCs. Now the
/// key keeps four that name a start PSN and one key-wide entry. Copies
/// of all 400 SYNs open nothing (the four newest are stale, the others
/// get 1-RTT: an offer or two, then drops), and node 0's SENDs to node 1
/// on another key, meanwhile and after, open at once (0-RTT) and
/// complete in a few microseconds.
#[test]
fn tombstones_of_one_key_keep_its_chain_short() {
    let cfg = fast_cfg();
    let mut net = net(2, cfg, Link::CLEAN, 12);
    *net.nodes[1].eng = Engine::new(cfg, tables_pooled(1024, 64, 64, 16)).unwrap();
    let peer = attacker(3);
    let starts: Vec<u32> = (0..400u32).map(|k| 10_000 + 4096 * k).collect();
    // Node 0's SEND to node 1: its PDC opens with its first packet and
    // the message completes; the time it took.
    let mut user = 0;
    let mut legit = |net: &mut Net| {
        user += 1;
        recv(net, 1, 1, 4096, 1000 + user, None);
        let t = net.now;
        send(
            net,
            0,
            1,
            1,
            Mode::Rud,
            Op::Send { tag: None },
            pattern(user, 100),
            user,
        )
        .unwrap();
        let done = |n: &Net| comps(n, 0).iter().any(|c| c.user == user);
        assert!(net.run_until(t + 100_000_000, done));
        let c = comps(net, 0).iter().find(|c| c.user == user).unwrap();
        assert_eq!(c.status, Status::Ok);
        net.now - t
    };
    let mut slowest = 0;
    let (mut longest, mut walked) = (0, 0);
    let mut one_rtt = 0;
    for (k, &s) in starts.iter().enumerate() {
        let w = net.nodes[1].eng.tomb_steps;
        inject_raw(&mut net, 1, peer, &syn_write(s, 9));
        walked = walked.max(net.nodes[1].eng.tomb_steps - w);
        let (mut id, o) = answers(&mut net, 1);
        let mut at = s;
        if let [o] = o[..] {
            // The key's older tombstones were folded: 1-RTT, and the
            // echo opens the PDC.
            one_rtt += 1;
            at = o;
            inject_raw(&mut net, 1, peer, &syn_write(o, 9));
            id = answers(&mut net, 1).0;
        }
        assert_eq!(id.len(), 1, "PDC {k} opened");
        inject_raw(&mut net, 1, peer, &close(at + 1, 9, id[0]));
        longest = longest.max(net.nodes[1].eng.tomb_chain_len(&peer, 9));
        net.run_for(net.now + 100_000);
        if k % 100 == 50 {
            slowest = slowest.max(legit(&mut net));
        }
    }
    assert!(net.nodes[1].eng.stats.pdc_close >= 400);
    // The first five open at once; then the key holds a key-wide entry.
    assert_eq!(one_rtt, 395);
    assert!(net.now < cfg.quiet_time(), "every tombstone lives");
    assert!(longest <= 5, "a lookup of the key walks {longest} entries");
    assert!(walked <= 25, "a SYN of the key walked {walked} entries");
    // Copies of every SYN: none opens a PDC (no ACK). The two newest
    // (the key keeps the tombstones of the last two SYNs and of the two
    // PSNs their PDCs opened at) are stale.
    let stale = net.nodes[1].eng.stats.stale_syn;
    let mut offers = 0;
    walked = 0;
    for &s in &starts {
        let w = net.nodes[1].eng.tomb_steps;
        inject_raw(&mut net, 1, peer, &syn_write(s, 9));
        walked = walked.max(net.nodes[1].eng.tomb_steps - w);
        let (id, o) = answers(&mut net, 1);
        offers += o.len();
        assert!(id.is_empty(), "a copy opened at {s}");
    }
    assert_eq!(net.nodes[1].eng.stats.stale_syn, stale + 2);
    assert_eq!(offers, 2);
    assert!(walked <= 25, "a copy walked {walked} entries");
    assert!(net.nodes[1].eng.tomb_chain_len(&peer, 9) <= 7);
    slowest = slowest.max(legit(&mut net));
    assert!(slowest < 50_000, "a legitimate SEND took {slowest} ns");
    assert_eq!(recv_count(&net, 1), 5);
    assert!(net.nodes[1].eng.one_rtt_until() <= net.now);
}

/// The key-wide entry keeps the latest time of the tombstones folded into
/// it, and guards every one of their start PSNs until then. Five PDCs of
/// one key, a quiet time / 8 apart, open at once; the sixth takes 1-RTT
/// and leaves two tombstones (its SYN's PSN at the echo, its own at the
/// close), so the key's first three fold into one entry with the third
/// one's time. A copy of each folded SYN, after the first two's own
/// times but before the third's, opens nothing; once that time is over
/// (no 1-RTT period, no tombstone or offer naming it) the third's copy
/// opens a PDC: the quiet time after its PDC closed has passed.
#[test]
fn key_wide_entry_keeps_the_latest_folded_time() {
    let cfg = fast_cfg();
    let q = cfg.quiet_time();
    let gap = q / 8;
    let mut net = net(2, cfg, Link::CLEAN, 13);
    *net.nodes[1].eng = Engine::new(cfg, tables_pooled(1024, 64, 64, 16)).unwrap();
    let peer = attacker(3);
    let starts = [10_000u32, 20_000, 30_000, 40_000, 50_000, 60_000];
    let mut closed = [0u64; 6];
    for (k, &s) in starts.iter().enumerate() {
        inject_raw(&mut net, 1, peer, &syn_write(s, 9));
        let (mut id, o) = answers(&mut net, 1);
        let mut at = s;
        if let [o] = o[..] {
            assert_eq!(k, 5, "PDC {k} took 1-RTT");
            at = o;
            inject_raw(&mut net, 1, peer, &syn_write(o, 9));
            id = answers(&mut net, 1).0;
        }
        assert_eq!(id.len(), 1, "PDC {k} opened");
        inject_raw(&mut net, 1, peer, &close(at + 1, 9, id[0]));
        closed[k] = net.now;
        net.run_for(net.now + gap);
    }
    assert!(net.nodes[1].eng.tomb_chain_len(&peer, 9) <= 5);
    // After the first two folded tombstones' own times, before the
    // third's: nothing opens.
    net.run_for(closed[2] + q - gap / 2);
    assert!(net.now > closed[1] + q);
    assert!(net.nodes[1].eng.one_rtt_until() <= net.now);
    for &s in &starts[..3] {
        inject_raw(&mut net, 1, peer, &syn_write(s, 9));
        let (id, _) = answers(&mut net, 1);
        assert!(id.is_empty(), "a copy opened at {s}");
    }
    // The key-wide entry's time over: the third's copy is new again.
    net.run_for(closed[2] + q + gap / 2);
    assert!(net.nodes[1].eng.one_rtt_until() <= net.now);
    inject_raw(&mut net, 1, peer, &syn_write(starts[2], 9));
    let (id, o) = answers(&mut net, 1);
    assert_eq!((id.len(), o.len()), (1, 0), "opened at once after its time");
}
