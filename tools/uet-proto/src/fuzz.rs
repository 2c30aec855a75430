// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Fuzz entry points, called by the `cargo fuzz` targets in `fuzz/`.
//!
//! Each one panics only when a property is broken: a parser accepted bytes
//! it cannot emit back identically, or the engine misbehaved on hostile
//! input (panic, table overflow, state that does not drain).

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::proto::engine::Config;
use crate::proto::ses::{AtomicOp, CompKind, Mode, Op, Post, Status};
use crate::proto::wire::{self, pds, ses, NextHeader};
use crate::sim::{addr, Link, Net};

/// Parses a whole packet; anything accepted must re-emit to the same bytes.
pub fn parse_packet(data: &[u8]) {
    let Ok(p) = wire::parse(data) else {
        return;
    };
    let mut out = [0u8; 256];
    let n =
        wire::emit_headers(&p.pds, p.ses.as_ref(), &mut out).expect("accepted header must emit");
    let hdr = data.len() - p.payload.len();
    assert_eq!(n, hdr);
    assert_eq!(&out[..n], &data[..n]);
}

/// Parses a PDS header alone, with the same round-trip property.
pub fn parse_pds(data: &[u8]) {
    let Ok((h, rest)) = pds::parse(data) else {
        return;
    };
    let mut out = [0u8; 64];
    let n = pds::emit(&h, &mut out).expect("accepted PDS header must emit");
    assert_eq!(n, data.len() - rest.len());
    assert_eq!(&out[..n], &data[..n]);
}

/// Parses an SES header alone; the first byte picks the next-header code.
pub fn parse_ses(data: &[u8]) {
    let Some((&k, data)) = data.split_first() else {
        return;
    };
    let Ok(next) = NextHeader::from_u8(k % 7) else {
        return;
    };
    if next == NextHeader::None {
        return;
    }
    let Ok((h, rest)) = ses::parse(next, data) else {
        return;
    };
    let mut out = [0u8; 128];
    let n = ses::emit(&h, &mut out).expect("accepted SES header must emit");
    assert_eq!(n, data.len() - rest.len());
    assert_eq!(&out[..n], &data[..n]);
}

/// Configuration of the two nodes of the `engine` target.
fn engine_cfg(one_rtt: bool) -> Config {
    Config {
        mtu: 512,
        rto_init: 100_000,
        rto_min: 20_000,
        rto_max: 1_000_000,
        idle_close: 2_000_000,
        reap: 20_000_000,
        half_open: 1_000_000,
        one_rtt,
        // Sends longer than two packets go by rendezvous.
        eager_limit: 1024,
        // Unclaimed unexpected messages go after 20 ms (1 s by default,
        // also within the final 2 s run): a rendezvous send waiting for a
        // receive keeps its PDC busy (resends every `rto_max`) until then,
        // which halved the executions per second.
        unexp_life: 20_000_000,
        ..Config::DEFAULT
    }
}

/// Posts a `len`-byte RUD WRITE from node 0 to node 1 (endpoint 1 of job
/// 7, key 0x10); returns its local buffer.
fn engine_post(net: &mut Net, user: u64, len: usize) -> u64 {
    let node = &mut net.nodes[0];
    let buf = node.env.add_buf(std::vec![0x5a; len]);
    let p = Post {
        user,
        dst: addr(1),
        target: ses::SesAddr {
            ri_gen: 0,
            job: 7,
            pid: 1,
            ri: 1,
        },
        mode: Mode::Rud,
        op: Op::Write {
            key: 0x10,
            offset: 0,
        },
        buf,
        len: len as u32,
        hdr_data: 0,
        with_data: false,
        tc: 0,
        initiator: 0,
    };
    let now = net.now;
    let _ = node.eng.post(now, &p, &mut node.env);
    buf
}

/// Posts operation `user` for a record of length 63, cycling through a
/// 700-byte WRITE, one with header data (it completes at node 1 too), a
/// fetch-add and a compare-and-swap on node 1's region, and a 3000-byte
/// rendezvous SEND, for which node 1 first posts a 4096-byte receive
/// (cookie `3000 + user`, added to `recvs` with its buffer). Returns the
/// operation's local buffer.
fn engine_post_op(net: &mut Net, user: u64, recvs: &mut Vec<(u64, u64)>) -> u64 {
    let atomic = |op| Op::Atomic {
        key: 0x10,
        offset: (user * 8) % (1 << 16),
        op,
        operand: user,
        compare: 0,
    };
    let write = Op::Write {
        key: 0x10,
        offset: 0,
    };
    let (op, len, with_data) = match user % 5 {
        0 => (write, 700, false),
        1 => (write, 700, true),
        2 => (atomic(AtomicOp::FetchAdd), 8, false),
        3 => (atomic(AtomicOp::CmpSwap), 8, false),
        _ => (Op::Send { tag: None }, 3000, false),
    };
    if len == 3000 {
        let n = &mut net.nodes[1];
        let b = n.env.add_buf(std::vec![0; 4096]);
        if n.eng
            .post_recv(1, 3000 + user, b, 4096, None, &mut n.env)
            .is_ok()
        {
            recvs.push((3000 + user, b));
        }
    }
    let node = &mut net.nodes[0];
    let buf = node.env.add_buf(std::vec![0x5a; len]);
    let p = Post {
        user,
        dst: addr(1),
        target: ses::SesAddr {
            ri_gen: 0,
            job: 7,
            pid: 1,
            ri: 1,
        },
        mode: Mode::Rud,
        op,
        buf,
        len: len as u32,
        hdr_data: user,
        with_data,
        tc: 0,
        initiator: 0,
    };
    let now = net.now;
    let _ = node.eng.post(now, &p, &mut node.env);
    buf
}

/// The starting point of the `engine` target: two nodes with endpoint 1
/// of job 7 and a 64 KiB region (key 0x10) each; node 0 has written 1500
/// bytes to node 1, so a PDC is established and idle at 50 us. With
/// `capture`, the packets of that exchange are kept in `Net::capture`.
fn engine_net(one_rtt: bool, capture: bool) -> Net {
    engine_net_with(one_rtt, capture, false, false)
}

/// [`engine_net`], with a single pooled send window per node when `pooled`
/// (PDCs then wait for a window) and implied success (`Config::implied_ok`,
/// off by default) when `implied`.
fn engine_net_with(one_rtt: bool, capture: bool, pooled: bool, implied: bool) -> Net {
    let cfg = Config {
        implied_ok: implied,
        ..engine_cfg(one_rtt)
    };
    let mut net = Net::new(2, cfg, Link::CLEAN, 1);
    if pooled {
        net.pool_windows(1);
    }
    if capture {
        net.capture = Some(Vec::new());
    }
    for n in net.nodes.iter_mut() {
        n.env.jobs.insert((7, 1, 1), 1);
        n.env.regions.insert(
            (1, 0x10),
            crate::sim::Region {
                data: std::vec![0; 1 << 16],
                writable: true,
                readable: true,
            },
        );
    }
    engine_post(&mut net, 1, 1500);
    net.run_for(50_000);
    net
}

/// Feeds an engine with a live PDC both ways arbitrary packets and time
/// steps, interleaved with legitimate traffic, then checks that it still
/// works and drains.
///
/// Input: one byte (bit 0: 1-RTT establishment, bit 1: one send window
/// per node shared by all its PDCs, bit 2: implied success, bit 3:
/// cancels, bit 4: long records), then records of a control byte and up
/// to 63 packet bytes: bits 0-5 the length (63 also posts an operation
/// after the packet: a WRITE, one with header data, a fetch-add, a
/// compare-and-swap or a rendezvous SEND in turn, see `engine_post_op`),
/// bit 6 forces a well-formed PDS prologue, bit 7 the destination node
/// (the other node is the source). With long records, the control byte
/// of a packet record is followed by a byte added to its length, so that
/// a record holds up to 318 bytes: the requests with an atomic (68
/// bytes and up), rendezvous (80) or compare-and-swap (92) extension.
/// 5 us of simulated time pass after each record.
///
/// With cancels, node 1 first posts four receives (two tagged) for the
/// SENDs the packets may carry, and a record of length 0 is a cancel
/// instead (`Engine::cancel`) at the node of bit 7, of the operations
/// and receives whose cookie `u` has bit `u % 8` set in the record's next
/// byte. From then on the simulator's environment panics if the engine
/// names a cancelled cookie or buffer again. No time passes after a
/// record that posts a WRITE, so that a cancel can catch it before it
/// went out. At the end node 1 cancels the receives still posted.
pub fn engine(data: &[u8]) {
    engine_run(data);
}

/// [`engine`], returning the network at the end.
fn engine_run(data: &[u8]) -> Net {
    let first = data.first().copied().unwrap_or(0);
    let mut net = engine_net_with(first & 1 != 0, false, first & 2 != 0, first & 4 != 0);
    let cancels = first & 8 != 0;
    let long = first & 0x10 != 0;
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut user = 2;
    // Cookies and buffers of node 0's operations and node 1's receives.
    let mut bufs: [Vec<(u64, u64)>; 2] = [std::vec![(1, 0)], Vec::new()];
    if cancels {
        for i in 0..4u64 {
            let n = &mut net.nodes[1];
            let b = n.env.add_buf(std::vec![0; 2048]);
            let tag = (i >= 2).then(|| (i - 2, 0));
            if n.eng
                .post_recv(1, 3000 + i, b, 2048, tag, &mut n.env)
                .is_ok()
            {
                bufs[1].push((3000 + i, b));
            }
        }
    }
    while let Some((&ctl, r)) = rest.split_first() {
        if cancels && ctl & 0x3f == 0 {
            let (sel, r2) = r.split_first().map_or((0xff, r), |(s, r2)| (*s, r2));
            rest = r2;
            let node = usize::from(ctl >> 7);
            engine_cancel(&mut net, node, &bufs[node], |u| (sel >> (u % 8)) & 1 != 0);
            net.run_for(net.now + 5_000);
            continue;
        }
        let (extra, r) = match r.split_first() {
            Some((&x, r2)) if long => (usize::from(x), r2),
            _ => (0, r),
        };
        let len = (usize::from(ctl & 0x3f) + extra).min(r.len());
        let (pkt, r2) = r.split_at(len);
        rest = r2;
        let mut p: Vec<u8> = pkt.to_vec();
        // Mostly well-formed prologues, so the fuzzer reaches deep states.
        if ctl & 0x40 != 0 && p.len() >= 2 {
            p[0] = (p[0] & 0x87) | 0x10;
        }
        let dst = usize::from(ctl >> 7);
        let now = net.now;
        let node = &mut net.nodes[dst];
        node.eng.receive(now, &addr(1 - dst), &p, &mut node.env);
        if ctl & 0x3f == 0x3f {
            let b = engine_post_op(&mut net, user, &mut bufs[1]);
            bufs[0].push((user, b));
            user += 1;
            if cancels {
                // No time passes: a cancel may catch the WRITE unsent.
                continue;
            }
        }
        net.run_for(net.now + 5_000);
    }
    // Receives still posted (their message may have failed or gone
    // elsewhere) are cancelled, as an application would at teardown.
    engine_cancel(&mut net, 1, &bufs[1], |u| (3000..4000).contains(&u));
    let posted = bufs[1].len();
    // Whatever happened, a new operation still completes or fails cleanly
    // and every table drains.
    engine_post(&mut net, 1000, 100);
    net.run_for(net.now + 2_000_000_000);
    // Except one: a complete unexpected message (a SEND that arrived
    // before any receive) is data delivered to the endpoint, already
    // answered OK to its sender, waiting for the application to post a
    // receive. It stays by design (the table is bounded; when it is full
    // senders get NO_SES_MSG_AVAIL). Receive those as an application
    // would; incomplete ones must have gone with their PDC.
    let mut recvs = 0u64;
    for n in net.nodes.iter_mut() {
        let held: Vec<_> = n.eng.unexpected().collect();
        for (ep, tag, _len, complete) in held {
            assert!(
                complete,
                "an incomplete unexpected message outlived its PDC"
            );
            let buf = n.env.add_buf(std::vec![0; 16]);
            n.eng
                .post_recv(ep, 5000 + recvs, buf, 16, tag.map(|b| (b, 0)), &mut n.env)
                .expect("a free receive slot");
            recvs += 1;
        }
    }
    for n in &net.nodes {
        if n.eng.usage() != (0, 0, 0, 0, 0) {
            let m: Vec<_> = n.eng.msgs_in_use().collect();
            std::println!("left over: {m:?} {:?}", n.eng.stats);
        }
        assert_eq!(n.eng.usage(), (0, 0, 0, 0, 0));
        assert_eq!(n.eng.held_count(), 0, "held ROD packet leaked");
        assert!(n.env.overflow.is_empty(), "overflow buffer leaked");
    }
    let comps = |kind_recv: bool| {
        net.nodes
            .iter()
            .flat_map(|n| n.env.completions.iter())
            // Writes with header data complete at node 1 too.
            .filter(|c| c.kind != CompKind::WriteData)
            .filter(|c| (c.kind == CompKind::Recv) == kind_recv)
            .count()
    };
    assert_eq!(
        comps(true),
        recvs as usize + posted,
        "every receive completes once"
    );
    let done = net.nodes[0]
        .env
        .completions
        .iter()
        .filter(|c| c.kind != CompKind::Recv && c.kind != CompKind::WriteData)
        .count();
    assert!(done >= 1 && done <= user as usize);
    assert_eq!(comps(false), done, "node 1 posted nothing");
    net
}

/// Cancels at `node` what `pred` selects; checks that every cancelled
/// operation or receive completed once, at the call, and marks the
/// cookies and buffers (`bufs`: cookie, buffer) of those dead: the
/// environment panics if a later callback names one.
fn engine_cancel(net: &mut Net, node: usize, bufs: &[(u64, u64)], pred: impl Fn(u64) -> bool) {
    let now = net.now;
    let n = &mut net.nodes[node];
    let before = n.env.completions.len();
    let k = n.eng.cancel(now, &pred, &mut n.env);
    assert_eq!(n.env.completions.len(), before + k, "one completion each");
    let dead: Vec<u64> = n.env.completions[before..]
        .iter()
        .map(|c| {
            assert!(pred(c.user) && c.status == Status::Cancelled, "{c:?}");
            c.user
        })
        .collect();
    for u in dead {
        n.env.dead_users.insert(u);
        if let Some(&(_, b)) = bufs.iter().find(|b| b.0 == u) {
            n.env.dead_bufs.insert(b);
        }
    }
}

// ---------------------------------------------------------------------
// Seed corpus.

/// Headers plus payload, through the engine's emitter.
fn packet(h: &pds::PdsHeader, s: Option<&ses::SesHeader>, payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; 256];
    let n = wire::emit_headers(h, s, &mut out).expect("seed headers emit");
    let mut v = out[..n].to_vec();
    v.extend_from_slice(payload);
    v
}

/// A short name for the kind of a packet (PDS type, SES header, opcode).
fn kind_name(p: &wire::Packet<'_>) -> String {
    use pds::{AckExt, PdcDst, PdsHeader};
    let mut k = match p.pds {
        PdsHeader::Req(r) => format!(
            "{}{}{}",
            if r.ordered { "rod" } else { "rud" },
            if r.cc.is_some() { "-cc" } else { "" },
            if matches!(r.dst, PdcDst::Syn { .. }) {
                "-syn"
            } else {
                ""
            }
        ),
        PdsHeader::RudiReq { .. } => "rudi".into(),
        PdsHeader::RudiResp { .. } => "rudi-resp".into(),
        PdsHeader::Uud { .. } => "uud".into(),
        PdsHeader::Ack(a) => match a.ext {
            AckExt::None if a.epsn.is_some() => "ack-epsn".into(),
            AckExt::None => "ack".into(),
            AckExt::Cc { .. } => "ack-cc".into(),
            AckExt::Ccx { .. } => "ack-ccx".into(),
        },
        PdsHeader::Nack(n) => format!(
            "nack{}-{:02x}",
            if n.ccx.is_some() { "-ccx" } else { "" },
            n.code
        ),
        PdsHeader::Ctrl(c) => format!("ctrl-{:?}", c.ctl).to_lowercase(),
    };
    match p.ses {
        None => {}
        Some(ses::SesHeader::Req(r)) => {
            let body = match r.body {
                ses::ReqBody::Std { .. } => "std",
                ses::ReqBody::Medium { .. } => "medium",
                ses::ReqBody::Small { .. } => "small",
            };
            let ext = match r.ext {
                ses::ReqExt::None => "",
                ses::ReqExt::Rendezvous { .. } => "-rndv",
                ses::ReqExt::Atomic { .. } => "-atomic",
                ses::ReqExt::Cas { .. } => "-cas",
            };
            k += &format!("-{body}-op{:02x}-f{:02x}{ext}", r.opcode, r.flags);
        }
        Some(ses::SesHeader::Resp(r)) => {
            k += match r.body {
                ses::RespBody::Plain { .. } => "-resp",
                ses::RespBody::Data { .. } => "-resp-data",
                ses::RespBody::SmallData { .. } => "-resp-small",
            };
            k += &format!("-rc{:02x}", r.rc);
        }
    }
    k
}

/// One packet of every kind the engine sends in a small workload (RUD and
/// ROD sends, tagged sends, writes, reads, an error, RUDI, UUD, 1-RTT
/// establishment, SACKs under loss, the close handshake), plus header
/// kinds it parses but does not send (CC requests, ACK_CCX, NACK_CCX,
/// small requests, rendezvous and atomic extensions, small responses).
/// Keyed by [`kind_name`]; the shortest example of each kind is kept.
fn sample_packets() -> std::collections::BTreeMap<String, Vec<u8>> {
    use crate::sim::Region;
    let mut all: Vec<Vec<u8>> = Vec::new();
    for (one_rtt, loss) in [(false, 0.0), (true, 0.0), (false, 0.3)] {
        let link = Link {
            loss,
            reorder: loss,
            ..Link::CLEAN
        };
        let mut net = Net::new(2, engine_cfg(one_rtt), link, 3);
        net.capture = Some(Vec::new());
        for n in net.nodes.iter_mut() {
            n.env.jobs.insert((7, 1, 1), 1);
            n.env.regions.insert(
                (1, 0x10),
                Region {
                    data: std::vec![7; 1 << 16],
                    writable: true,
                    readable: true,
                },
            );
        }
        let target = ses::SesAddr {
            ri_gen: 0,
            job: 7,
            pid: 1,
            ri: 1,
        };
        let write = Op::Write {
            key: 0x10,
            offset: 0,
        };
        let atomic = |op, offset| Op::Atomic {
            key: 0x10,
            offset,
            op,
            operand: 3,
            compare: 7,
        };
        let ops: [(Mode, Op, usize); 15] = [
            (Mode::Rud, write, 40),
            (Mode::Rud, Op::Send { tag: None }, 600),
            (Mode::Rud, Op::Send { tag: Some(5) }, 8),
            (
                Mode::Rud,
                Op::Read {
                    key: 0x10,
                    offset: 0,
                },
                600,
            ),
            (
                Mode::Rud,
                Op::Write {
                    key: 0x99,
                    offset: 0,
                },
                8,
            ),
            (Mode::Rod, Op::Send { tag: None }, 600),
            (Mode::Rod, write, 8),
            (Mode::Rudi, write, 8),
            (
                Mode::Rudi,
                Op::Read {
                    key: 0x10,
                    offset: 0,
                },
                8,
            ),
            (Mode::Uud, Op::Send { tag: None }, 8),
            (Mode::Rud, atomic(AtomicOp::FetchAdd, 0), 8),
            (Mode::Rud, atomic(AtomicOp::CmpSwap, 8), 8),
            (Mode::Rud, atomic(AtomicOp::Add, 16), 8),
            (Mode::Rud, atomic(AtomicOp::FetchAdd, 4), 8),
            (Mode::Rud, Op::Send { tag: Some(6) }, 3000),
        ];
        for (i, (mode, op, len)) in ops.into_iter().enumerate() {
            let n1 = &mut net.nodes[1];
            let rb = n1.env.add_buf(std::vec![0; len.max(1024)]);
            let tag = match op {
                Op::Send { tag: Some(t) } => Some((t, 0)),
                _ => None,
            };
            if matches!(op, Op::Send { .. }) && i != 1 {
                let _ = n1.eng.post_recv(
                    1,
                    100 + i as u64,
                    rb,
                    len.max(1024) as u32,
                    tag,
                    &mut n1.env,
                );
            }
            let n0 = &mut net.nodes[0];
            let buf = n0.env.add_buf(std::vec![0x33; len]);
            let p = Post {
                user: i as u64,
                dst: addr(1),
                target,
                mode,
                op,
                buf,
                len: len as u32,
                hdr_data: 9,
                // RUDI and atomics carry no header data.
                with_data: mode != Mode::Rudi && !matches!(op, Op::Atomic { .. }),
                tc: 0,
                initiator: 0,
            };
            let now = net.now;
            let _ = n0.eng.post(now, &p, &mut n0.env);
            net.run_for(net.now + 200_000);
        }
        // The unexpected send (i == 1) is received late.
        let n1 = &mut net.nodes[1];
        let rb = n1.env.add_buf(std::vec![0; 1024]);
        let _ = n1.eng.post_recv(1, 99, rb, 1024, None, &mut n1.env);
        net.run_for(net.now + 100_000_000);
        all.extend(
            net.capture
                .take()
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.2),
        );
    }
    all.extend(parsed_only_packets());
    let mut out = std::collections::BTreeMap::new();
    for p in all {
        let Ok(pkt) = wire::parse(&p) else {
            panic!("engine sent a packet it does not parse: {p:?}");
        };
        let k = kind_name(&pkt);
        let e = out.entry(k).or_insert_with(|| p.clone());
        if p.len() < e.len() {
            *e = p;
        }
    }
    out
}

/// Header kinds the engine parses but does not send.
fn parsed_only_packets() -> Vec<Vec<u8>> {
    use pds::{AckExt, AckHdr, NackHdr, PdcDst, PdsHeader, ReqHdr};
    use ses::{ReqBody, ReqExt, RespBody, SesHeader, SesReq, SesResp};
    let addr = ses::SesAddr {
        ri_gen: 0,
        job: 7,
        pid: 1,
        ri: 1,
    };
    let req = |cc, next| {
        PdsHeader::Req(ReqHdr {
            ordered: false,
            cc,
            next,
            retx: false,
            ar: true,
            clear_psn_offset: -1,
            psn: 1000,
            spdcid: 1,
            dst: PdcDst::Dpdcid(2),
        })
    };
    let std_req = |opcode, ext| {
        SesHeader::Req(SesReq {
            opcode,
            flags: ses::sflags::SOM | ses::sflags::EOM,
            addr,
            body: ReqBody::Std {
                msg_id: 3,
                buffer_offset: 0,
                initiator: 0,
                key: 0x10,
                data: ses::StdData::HeaderData(0),
                request_length: 4,
            },
            ext,
        })
    };
    let ack = |ext, next| {
        PdsHeader::Ack(AckHdr {
            next,
            ecn: false,
            retx: false,
            probe: false,
            request: 0,
            ack_psn_offset: 0,
            cack_psn: 1000,
            spdcid: 2,
            dpdcid: 1,
            ext,
            epsn: None,
        })
    };
    std::vec![
        packet(
            &req(Some((1, 0x1234)), NextHeader::ReqStd),
            Some(&std_req(ses::op::WRITE, ReqExt::None)),
            &[1, 2, 3, 4],
        ),
        packet(
            &req(None, NextHeader::ReqSmall),
            Some(&SesHeader::Req(SesReq {
                opcode: ses::op::WRITE,
                flags: ses::sflags::SOM | ses::sflags::EOM,
                addr,
                body: ReqBody::Small {
                    request_length: 4,
                    buffer_offset: 0,
                },
                ext: ReqExt::None,
            })),
            &[1, 2, 3, 4],
        ),
        packet(
            &req(None, NextHeader::ReqStd),
            Some(&std_req(
                ses::op::RNDV_SEND,
                ReqExt::Rendezvous {
                    eager_length: 4,
                    read_ri_gen: 0,
                    read_pid: 1,
                    read_ri: 1,
                    read_offset: 0,
                    read_match_bits: 0,
                },
            )),
            &[1, 2, 3, 4],
        ),
        packet(
            &req(None, NextHeader::ReqStd),
            Some(&std_req(
                ses::op::ATOMIC,
                ReqExt::Atomic {
                    code: 0,
                    datatype: 0,
                    ctrl: 0,
                },
            )),
            &[1, 2, 3, 4],
        ),
        packet(
            &ack(
                AckExt::Ccx {
                    ccx_type: 1,
                    cc_flags: 0,
                    mpr: 0,
                    sack_psn_offset: -7,
                    sack_bitmap: 0xff05,
                    ccx_state: [0; 16],
                },
                NextHeader::None,
            ),
            None,
            &[],
        ),
        packet(
            &ack(AckExt::None, NextHeader::RespDataSmall),
            Some(&SesHeader::Resp(SesResp {
                list: 0,
                opcode: ses::rsp::WITH_DATA,
                rc: ses::rc::OK,
                body: RespBody::SmallData {
                    payload_length: 4,
                    job: 7,
                    original_request_psn: 1000,
                },
            })),
            &[1, 2, 3, 4],
        ),
        packet(
            &PdsHeader::Nack(NackHdr {
                ecn: false,
                retx: false,
                rudi: false,
                code: pds::nack::NO_SES_MSG_AVAIL,
                vendor_code: 0,
                psn: 1000,
                spdcid: 2,
                dpdcid: 1,
                payload: 0,
                ccx: Some([0; 16]),
            }),
            None,
            &[],
        ),
        // Fields defined by UEC 1.0 that the engine never sets itself.
        packet(
            &PdsHeader::Ack(AckHdr {
                epsn: Some(1001),
                request: 2,
                ..match ack(AckExt::None, NextHeader::None) {
                    PdsHeader::Ack(a) => a,
                    _ => unreachable!(),
                }
            }),
            None,
            &[],
        ),
        packet(
            &PdsHeader::Ctrl(pds::CtrlHdr {
                ctl: pds::CtlType::Probe,
                rod: true,
                retx: false,
                ar: true,
                probe_opaque: 0xbeef,
                psn: 1000,
                spdcid: 2,
                dst: PdcDst::Dpdcid(1),
                payload: 1000,
            }),
            None,
            &[],
        ),
        packet(
            &PdsHeader::RudiReq {
                next: NextHeader::ReqSmall,
                ecn: true,
                retx: true,
                pkt_id: 9,
            },
            Some(&SesHeader::Req(SesReq {
                opcode: ses::op::WRITE,
                flags: ses::sflags::SOM | ses::sflags::EOM,
                addr,
                body: ReqBody::Small {
                    request_length: 4,
                    buffer_offset: 0,
                },
                ext: ReqExt::None,
            })),
            &[1, 2, 3, 4],
        ),
    ]
}

/// Records of the `engine` target's input (see [`engine`]).
fn record(dst: usize, pkt: &[u8]) -> Vec<u8> {
    assert!(pkt.len() < 0x3f, "engine records hold at most 62 bytes");
    // CAST: checked above.
    let mut v = std::vec![(dst as u8) << 7 | pkt.len() as u8];
    v.extend_from_slice(pkt);
    v
}

/// A long record (first byte bit 4) of the `engine` target's input.
fn record_long(dst: usize, pkt: &[u8]) -> Vec<u8> {
    assert!(
        pkt.len() <= 0x3e + 0xff,
        "long records hold at most 317 bytes"
    );
    let low = pkt.len().min(0x3e);
    // CAST: both checked above.
    let mut v = std::vec![(dst as u8) << 7 | low as u8, (pkt.len() - low) as u8];
    v.extend_from_slice(pkt);
    v
}

/// Seeds of the `engine` target, built from the traffic of its own
/// starting point ([`engine_net`]) so that PDC ids and PSNs are live.
fn engine_seeds(one_rtt: bool) -> Vec<(String, Vec<u8>)> {
    use pds::{AckHdr, CtlType, CtrlHdr, PdcDst, PdsHeader, ReqHdr};
    use ses::{ReqBody, ReqExt, SesHeader, SesReq};
    let mut net = engine_net(one_rtt, true);
    let cap = net.capture.take().unwrap_or_default();
    // The last ACK node 1 sent node 0: the established PDC's ids and CACK.
    let Some(ack) = cap
        .iter()
        .rev()
        .find_map(|(src, _, p)| match wire::parse(p) {
            Ok(wire::Packet {
                pds: PdsHeader::Ack(a),
                ..
            }) if *src == 1 => Some(a),
            _ => None,
        })
    else {
        panic!("no ACK in the engine target's prologue");
    };
    let ack_bytes = cap
        .iter()
        .rev()
        .find(|(src, _, p)| *src == 1 && p.len() < 0x3f)
        .map(|c| c.2.clone())
        .unwrap_or_default();
    let AckHdr {
        cack_psn,
        spdcid: tgt,
        dpdcid: ini,
        ..
    } = ack;
    let next = cack_psn.wrapping_add(1);
    let addr = ses::SesAddr {
        ri_gen: 0,
        job: 7,
        pid: 1,
        ri: 1,
    };
    let std_req = |opcode, flags, len: u32, msg_id| {
        SesHeader::Req(SesReq {
            opcode,
            flags,
            addr,
            body: ReqBody::Std {
                msg_id,
                buffer_offset: 0,
                initiator: 0,
                key: 0x10,
                data: ses::StdData::HeaderData(0),
                request_length: len,
            },
            ext: ReqExt::None,
        })
    };
    let req = |psn, spdcid, dst, ordered| {
        PdsHeader::Req(ReqHdr {
            ordered,
            cc: None,
            next: NextHeader::ReqStd,
            retx: false,
            ar: true,
            clear_psn_offset: -1,
            psn,
            spdcid,
            dst,
        })
    };
    let both = ses::sflags::SOM | ses::sflags::EOM;
    let data = [1u8, 2, 3, 4];
    let on_pdc = req(next, ini, PdcDst::Dpdcid(tgt), false);
    let ctrl = |ctl, psn, spdcid, dst| {
        PdsHeader::Ctrl(CtrlHdr {
            ctl,
            rod: false,
            retx: false,
            ar: false,
            probe_opaque: 0,
            psn,
            spdcid,
            dst,
            payload: 0,
        })
    };
    let syn = PdcDst::Syn {
        use_rsv_pdc: false,
        psn_offset: 0,
    };
    let recs: Vec<(&str, Vec<u8>)> = std::vec![
        ("idle", Vec::new()),
        ("dup-ack", record(0, &ack_bytes)),
        (
            "close-req",
            record(
                0,
                &packet(
                    &ctrl(CtlType::CloseReq, 0, tgt, PdcDst::Dpdcid(ini)),
                    None,
                    &[]
                ),
            ),
        ),
        (
            "ack-req",
            record(
                1,
                &packet(
                    &ctrl(CtlType::AckReq, next, ini, PdcDst::Dpdcid(tgt)),
                    None,
                    &[]
                ),
            ),
        ),
        (
            "write-next-psn",
            record(
                1,
                &packet(&on_pdc, Some(&std_req(ses::op::WRITE, both, 4, 1)), &data),
            ),
        ),
        (
            "send-unexpected",
            record(
                1,
                &packet(&on_pdc, Some(&std_req(ses::op::SEND, both, 4, 1)), &data),
            ),
        ),
        (
            "send-partial",
            record(
                1,
                &packet(
                    &on_pdc,
                    Some(&std_req(ses::op::SEND, ses::sflags::SOM, 100, 1)),
                    &data,
                ),
            ),
        ),
        (
            "syn-from-node1",
            record(
                0,
                &packet(
                    &req(5000, 9, syn, false),
                    Some(&std_req(ses::op::WRITE, both, 4, 0)),
                    &data,
                ),
            ),
        ),
        (
            "rod-syn-send",
            record(
                1,
                &packet(
                    &req(7000, 3, syn, true),
                    Some(&std_req(ses::op::SEND, both, 4, 0)),
                    &data,
                ),
            ),
        ),
        (
            "rudi-write",
            record(
                1,
                &packet(
                    &PdsHeader::RudiReq {
                        next: NextHeader::ReqMedium,
                        ecn: false,
                        retx: false,
                        pkt_id: 77,
                    },
                    Some(&SesHeader::Req(SesReq {
                        opcode: ses::op::WRITE,
                        flags: both,
                        addr,
                        body: ReqBody::Medium {
                            request_length: 4,
                            buffer_offset: 0,
                            initiator: 0,
                            key: 0x10,
                        },
                        ext: ReqExt::None,
                    })),
                    &data,
                ),
            ),
        ),
        (
            "uud-send",
            record(
                1,
                &packet(
                    &PdsHeader::Uud {
                        next: NextHeader::ReqStd,
                    },
                    Some(&std_req(ses::op::SEND, both, 4, 0)),
                    &data,
                ),
            ),
        ),
        (
            "post-then-nack",
            [
                std::vec![0x3f],
                std::vec![0; 0x3f],
                record(
                    0,
                    &packet(
                        &PdsHeader::Nack(pds::NackHdr {
                            ecn: false,
                            retx: false,
                            rudi: false,
                            code: pds::nack::NO_SES_MSG_AVAIL,
                            vendor_code: 0,
                            psn: next,
                            spdcid: tgt,
                            dpdcid: ini,
                            payload: 0,
                            ccx: None,
                        }),
                        None,
                        &[],
                    ),
                ),
            ]
            .concat(),
        ),
    ];
    // With cancels (bit 3 of the first byte): a 700-byte WRITE posted
    // (user 2) and cancelled before it went out, the first packet of a
    // SEND claiming node 1's receive 3000, which node 1 then cancels while
    // it is being filled (the SEND goes on; its sender is answered
    // CANCELLED), and a cancel of everything at node 0.
    let cancels = [
        std::vec![0x3f],
        std::vec![0; 0x3f],
        std::vec![0x00, 0x04],
        record(
            1,
            &packet(
                &on_pdc,
                Some(&std_req(ses::op::SEND, ses::sflags::SOM, 100, 1)),
                &data,
            ),
        ),
        std::vec![0x80, 0x01],
        record(0, &ack_bytes),
        std::vec![0x00, 0xff],
    ]
    .concat();
    // Five records that post an operation each (users 2-6: a fetch-add, a
    // compare-and-swap, a rendezvous SEND, a WRITE, one with header data),
    // and with cancels the same, then a cancel of everything at node 0.
    let ops: Vec<u8> = (0..5)
        .flat_map(|_| [[0x3f].as_slice(), &[0; 0x3f]].concat())
        .collect();
    let ops_cancel = [ops.clone(), std::vec![0x00, 0xff]].concat();
    // Long records (bit 4 of the first byte): requests with an atomic,
    // compare-and-swap or rendezvous extension, injected at node 1 on the
    // live PDC. A rendezvous SEND of 3000 bytes (eager part 100, in two
    // packets) claiming receive 3000 of the cancels mode, then packets
    // with new PSNs and its message id once its eager part arrived (a
    // continuation, an IE packet): the target must refuse them while it
    // reads the rest from node 0 (which refuses the READ).
    let ext_req = |opcode, flags, len: u32, msg_id, off: u32, ext| {
        SesHeader::Req(SesReq {
            opcode,
            flags,
            addr,
            body: ReqBody::Std {
                msg_id,
                buffer_offset: u64::from(off),
                initiator: 0,
                key: 0x10,
                data: if flags & ses::sflags::SOM != 0 {
                    ses::StdData::HeaderData(0)
                } else {
                    ses::StdData::Cont {
                        payload_length: if flags & ses::sflags::IE != 0 { 0 } else { 50 },
                        message_offset: off,
                    }
                },
                request_length: len,
            },
            ext,
        })
    };
    let at = |k: u32| req(next.wrapping_add(k), ini, PdcDst::Dpdcid(tgt), false);
    let sum = ReqExt::Atomic {
        code: ses::amo::SUM,
        datatype: ses::amo::UINT64,
        ctrl: 0,
    };
    let cas = ReqExt::Cas {
        code: ses::amo::CSWAP,
        datatype: ses::amo::UINT64,
        ctrl: 0,
        compare: [0; 16],
        swap: [9; 16],
    };
    let rndv = ReqExt::Rendezvous {
        eager_length: 100,
        read_ri_gen: 0,
        read_pid: 1,
        read_ri: 1,
        read_offset: 100,
        read_match_bits: 1 << 63 | 0x7777_0000,
    };
    let eight = [3u8, 0, 0, 0, 0, 0, 0, 0];
    let fifty = [0x44u8; 50];
    let fa = ses::op::FETCH_ATOMIC;
    let rs = ses::op::RNDV_SEND;
    let (som, eom, ie) = (ses::sflags::SOM, ses::sflags::EOM, ses::sflags::IE);
    let atomic_sum = record_long(
        1,
        &packet(&at(0), Some(&ext_req(fa, both, 8, 1, 0, sum)), &eight),
    );
    let atomic_cas = record_long(
        1,
        &packet(&at(0), Some(&ext_req(fa, both, 8, 1, 0, cas)), &[]),
    );
    let rndv_pkts = [
        packet(&at(0), Some(&ext_req(rs, som, 3000, 1, 0, rndv)), &fifty),
        packet(&at(1), Some(&ext_req(rs, 0, 3000, 1, 50, rndv)), &fifty),
        packet(&at(2), Some(&ext_req(rs, 0, 3000, 1, 100, rndv)), &fifty),
        packet(
            &at(3),
            Some(&ext_req(rs, ie | eom, 3000, 1, 100, rndv)),
            &[],
        ),
    ];
    let rndv_after: Vec<u8> = rndv_pkts.iter().flat_map(|p| record_long(1, p)).collect();
    let long = u8::from(one_rtt) | 0x10;
    let mode = if one_rtt { "1rtt" } else { "rud" };
    let recs: Vec<(&str, Vec<u8>)> = recs.into_iter().chain([("ops", ops)]).collect();
    recs.into_iter()
        .map(|(name, r)| (name, u8::from(one_rtt), r))
        .chain([
            ("cancel", u8::from(one_rtt) | 8, cancels),
            ("ops-cancel", u8::from(one_rtt) | 8, ops_cancel),
            ("long-atomic-sum", long, atomic_sum),
            ("long-atomic-cas", long, atomic_cas),
            ("long-rndv-unexpected", long, rndv_after.clone()),
            ("long-rndv-after-eager", long | 8, rndv_after),
        ])
        .map(|(name, first, r)| {
            let mut v = std::vec![first];
            v.extend(r);
            (format!("{name}-{mode}"), v)
        })
        .collect()
}

/// The seed corpus of every fuzz target, built with the engine's own
/// emitters: `(target, name, input)`. Committed under
/// `fuzz/seeds/TARGET/`; regenerate with
/// `cargo test --manifest-path tools/Cargo.toml -p uet-proto -- --ignored write_fuzz_seeds`
/// (crash inputs kept there as regressions are left alone).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (k, p) in sample_packets() {
        out.push(("parse_packet", k.clone(), p.clone()));
        out.push(("parse_pds", k.clone(), p.clone()));
        if let Ok(pkt) = wire::parse(&p) {
            if pkt.ses.is_some() {
                let n = pkt.pds.len();
                let mut v = std::vec![pkt.pds.next_header() as u8];
                v.extend_from_slice(&p[n..]);
                out.push(("parse_ses", k, v));
            }
        }
    }
    for one_rtt in [false, true] {
        for (k, v) in engine_seeds(one_rtt) {
            out.push(("engine", k, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_entry_points_smoke() {
        let mut x = 12345u64;
        let mut buf = [0u8; 200];
        for _ in 0..2000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let n = (x % 200) as usize;
            parse_packet(&buf[..n]);
            parse_pds(&buf[..n]);
            parse_ses(&buf[..n]);
        }
        for s in 0..20u8 {
            let v: Vec<u8> = (0..120u8)
                .map(|i| i.wrapping_mul(31).wrapping_add(s))
                .collect();
            engine(&v);
        }
    }

    /// The `ops` seeds reach the new operations: node 1 applies the two
    /// atomics, completes the write with header data and reads the rest
    /// of the rendezvous SEND into the receive posted for it.
    #[test]
    fn engine_target_posts_every_operation() {
        for (name, input) in engine_seeds(false) {
            if name != "ops-rud" {
                continue;
            }
            let net = engine_run(&input);
            let n1 = &net.nodes[1];
            assert_eq!(n1.env.atomics, 2);
            assert_eq!(n1.eng.stats.rndv_reads, 1);
            let c = &n1.env.completions;
            assert!(c
                .iter()
                .any(|c| c.kind == CompKind::WriteData && c.hdr_data == 6));
            assert!(c
                .iter()
                .any(|c| c.kind == CompKind::Recv && c.user == 3004 && c.len == 3000));
            let c0 = &net.nodes[0].env.completions;
            for (user, kind) in [
                (2, CompKind::Atomic),
                (3, CompKind::Atomic),
                (4, CompKind::Send),
                (5, CompKind::Write),
                (6, CompKind::Write),
            ] {
                let c = c0.iter().find(|c| c.user == user).unwrap();
                assert_eq!((c.kind, c.status), (kind, Status::Ok));
            }
            return;
        }
        panic!("no ops seed");
    }

    /// The long-record seeds inject what short records cannot: node 1
    /// applies the hostile fetch-add and compare-and-swap, reads the
    /// forged rendezvous send once (into receive 3000 with cancels) and
    /// refuses the packets that come after its eager part.
    #[test]
    fn engine_target_injects_long_requests() {
        for one_rtt in [false, true] {
            let seeds = engine_seeds(one_rtt);
            let get = |n: &str| &seeds.iter().find(|s| s.0.starts_with(n)).unwrap().1;
            for (name, atomics) in [("long-atomic-sum-", 1), ("long-atomic-cas-", 1)] {
                let net = engine_run(get(name));
                assert_eq!(net.nodes[1].eng.stats.atomics, atomics, "{name}");
            }
            for (name, reads) in [("long-rndv-unexpected-", 0), ("long-rndv-after-eager-", 1)] {
                let net = engine_run(get(name));
                let st = &net.nodes[1].eng.stats;
                // The READ may fail (and the message go) before the IE
                // packet arrives: that one is then a new message.
                assert_eq!(st.rndv_reads, reads, "{name}");
                assert!((1..=2).contains(&st.mismatched), "{name}: {st:?}");
            }
        }
    }

    /// Crash inputs kept by name replay (besides `fuzz_seeds_replay`,
    /// which takes whatever is in the directory): a rename or removal of
    /// one fails here. `crash-rndv-send-acked-never-answered` (was
    /// crash-752f0dc4...): a target that only acknowledged the resent
    /// last packet of a rendezvous send kept the send and its PDC forever.
    #[test]
    fn fuzz_named_crash_seeds_replay() {
        let name = "crash-rndv-send-acked-never-answered";
        let data = std::fs::read(seed_dir("engine").join(name)).expect(name);
        engine(&data);
    }

    const TARGETS: [&str; 4] = ["parse_packet", "parse_pds", "parse_ses", "engine"];

    fn run(target: &str, data: &[u8]) {
        match target {
            "parse_packet" => parse_packet(data),
            "parse_pds" => parse_pds(data),
            "parse_ses" => parse_ses(data),
            "engine" => engine(data),
            _ => panic!("unknown fuzz target {target}"),
        }
    }

    fn seed_dir(target: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target)
    }

    /// Replays the committed seed corpus, old crash inputs included, so
    /// fixed crashes stay fixed without cargo-fuzz or nightly.
    #[test]
    fn fuzz_seeds_replay() {
        for t in TARGETS {
            let mut n = 0;
            for e in std::fs::read_dir(seed_dir(t)).expect("fuzz/seeds/TARGET") {
                let p = e.unwrap().path();
                let data = std::fs::read(&p).unwrap();
                let r = std::panic::catch_unwind(|| run(t, &data));
                assert!(r.is_ok(), "{t}: seed {} fails", p.display());
                n += 1;
            }
            assert!(n > 0, "no seeds for {t}");
        }
    }

    /// The generated seeds are well formed (parsers accept them) and pass
    /// their targets.
    #[test]
    fn fuzz_seeds_generate() {
        let seeds = seeds();
        for t in TARGETS {
            assert!(seeds.iter().any(|s| s.0 == t), "no seeds for {t}");
        }
        for (t, name, data) in &seeds {
            match *t {
                "parse_packet" => assert!(wire::parse(data).is_ok(), "{name}"),
                "parse_pds" => assert!(pds::parse(data).is_ok(), "{name}"),
                "parse_ses" => {
                    let next = NextHeader::from_u8(data[0] % 7).unwrap();
                    assert!(ses::parse(next, &data[1..]).is_ok(), "{name}");
                }
                _ => {}
            }
            run(t, data);
        }
    }

    /// Writes [`seeds`] to `fuzz/seeds/TARGET/`, replacing the generated
    /// files and keeping `crash-*` regressions.
    #[test]
    #[ignore = "writes the seed corpus; run on purpose"]
    fn write_fuzz_seeds() {
        for t in TARGETS {
            let d = seed_dir(t);
            std::fs::create_dir_all(&d).unwrap();
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let keep = p
                    .file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with("crash-"));
                if !keep {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        for (t, name, data) in seeds() {
            std::fs::write(seed_dir(t).join(name), data).unwrap();
        }
    }
}
