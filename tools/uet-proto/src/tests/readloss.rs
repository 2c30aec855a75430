// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Lost READ responses: a READ request is answered by the ACK that carries
//! its data. When that ACK is lost and a later ACK covers the request, the
//! request is acknowledged without its data; the loss detection must find
//! it lost then (as RACK does for a packet), not leave it to the tail-loss
//! probe or the RTO while it holds the front of the window.

use super::*;
use crate::bench::{goodput_of, Work};

/// The message offset of the data `pkt` carries, if it is an ACK with a
/// READ's data or a fetching atomic's previous value.
fn data_offset(pkt: &[u8]) -> Option<u32> {
    use crate::proto::wire::{
        parse,
        pds::PdsHeader,
        ses::{RespBody, SesHeader},
    };
    let p = parse(pkt).ok()?;
    match (p.pds, p.ses) {
        (
            PdsHeader::Ack(_),
            Some(SesHeader::Resp(crate::proto::wire::ses::SesResp {
                body: RespBody::Data { message_offset, .. },
                ..
            })),
        ) => Some(message_offset),
        _ => None,
    }
}

/// Reads 64 KiB (16 packets) with the data of segment `lost` dropped once
/// (`None`: nothing dropped); returns the time the READ took and the
/// initiator's counters.
fn read_dropping(mode: Mode, lost: Option<u32>) -> (u64, crate::proto::engine::Stats) {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 90);
    // Warm up: an RTT sample, so that the timers are the steady state's.
    send(
        &mut net,
        0,
        1,
        1,
        mode,
        Op::Read {
            key: MR_RO,
            offset: 0,
        },
        vec![0; 100],
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
    let mtu = net.nodes[0].eng.config().mtu;
    let mut once = lost;
    net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| match once {
        Some(off) if src == 1 && data_offset(pkt) == Some(off * mtu) => {
            once = None;
            true
        }
        _ => false,
    }));
    let len = 16 * mtu as usize;
    let t0 = net.now;
    let rb = send(
        &mut net,
        0,
        1,
        1,
        mode,
        Op::Read {
            key: MR_RO,
            offset: 0,
        },
        vec![0; len],
        2,
    )
    .unwrap();
    assert!(
        net.run_until(t0 + 1_000_000_000, |n| comps(n, 0).len() == 2),
        "{:?}",
        net.nodes[0].eng.stats
    );
    assert!(comps(&net, 0).iter().all(|c| c.status == Status::Ok));
    let want = net.nodes[1].env.regions[&(1, MR_RO)].data[..len].to_vec();
    assert!(net.nodes[0].env.bufs[rb as usize] == want);
    (net.now - t0, net.nodes[0].eng.stats)
}

/// One READ response lost in the middle of a 16-packet READ: the ACK of
/// the next request covers the request, which is acknowledged without its
/// data. It is found lost once the reordering window passed and resent at
/// once: neither the tail-loss probe nor the RTO fires, and the READ takes
/// a few RTTs more than without loss. Before, it waited for the probe
/// after every other response had arrived.
#[test]
fn lost_read_response_is_resent_without_a_timer() {
    let clean = middle_responses_resent_by_rack(Mode::Rud);
    // The last response: no later ACK covers its request, which is left
    // to the tail-loss probe (it resends the oldest packet still waiting,
    // acknowledged or not), not the RTO.
    let (t, st) = read_dropping(Mode::Rud, Some(15));
    std::println!("segment 15: {t} ns (lossless {clean} ns), {st:?}");
    assert_eq!((st.tlp, st.rto), (1, 0), "{st:?}");
}

/// The same on a ROD PDC: the ACK of the next request is cumulative, so
/// the request is due at once (not held by the target), and is resent by
/// RACK without a timer.
#[test]
fn rod_lost_read_response_is_resent_without_a_timer() {
    middle_responses_resent_by_rack(Mode::Rod);
}

/// Drops the response of segment 0, 5 or 14 of the 16-packet READ in
/// `mode`: each is resent by RACK (no probe, no RTO, nothing spurious)
/// within a few RTTs of the lossless time, which is returned.
fn middle_responses_resent_by_rack(mode: Mode) -> u64 {
    let (clean, _) = read_dropping(mode, None);
    for seg in [0u32, 5, 14] {
        let (t, st) = read_dropping(mode, Some(seg));
        std::println!("{mode:?} segment {seg}: {t} ns (lossless {clean} ns), {st:?}");
        assert_eq!((st.tlp, st.rto), (0, 0), "segment {seg}: {st:?}");
        assert_eq!(st.spurious_retx, 0, "segment {seg}: {st:?}");
        assert!(st.fast_retx >= 1, "segment {seg}: {st:?}");
        // The link's RTT is about 4 us (2 us each way); before, 20-21 us
        // more than without loss.
        assert!(
            t < clean + 12_000,
            "segment {seg}: {t} ns, lossless {clean}"
        );
    }
    clean
}

/// The PSN of request `pkt` from the initiator, and whether it is a
/// resend.
fn req_psn(pkt: &[u8]) -> Option<(u32, bool)> {
    use crate::proto::wire::{parse, pds::PdsHeader};
    match parse(pkt).ok()?.pds {
        PdsHeader::Req(r) => Some((r.psn, r.retx)),
        _ => None,
    }
}

/// ROD: a WRITE is lost twice (its first transmission and its first
/// resend), and READs of eight packets and single-packet WRITEs follow it. The target holds
/// the READs (SACKed above the cumulative ACK, no data) until the hole is
/// repaired: they are not lost, and none is resent (nothing spurious).
/// The loss detection passes each held READ once and judges it again only
/// once the cumulative ACK reached it: its work stays within a few steps
/// per packet sent or ACK received (before, every ACK during the hole
/// walked the window again from the first held READ).
#[test]
fn rod_reads_held_behind_a_lost_write_are_not_resent() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 93);
    let rd = Op::Read {
        key: MR_RO,
        offset: 0,
    };
    let wr = Op::Write {
        key: MR_RW,
        offset: 0,
    };
    // Warm up (an RTT sample).
    send(&mut net, 0, 1, 1, Mode::Rod, rd, vec![0; 100], 0).unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
    let mtu = net.nodes[0].eng.config().mtu as usize;
    let hole = std::rc::Rc::new(std::cell::Cell::new(None::<u32>));
    let resent = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let (h, rs) = (hole.clone(), resent.clone());
    let mut drops = 0;
    net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
        let Some((psn, retx)) = req_psn(pkt).filter(|_| src == 0) else {
            return false;
        };
        let first = *h.get().get_or_insert(psn);
        h.set(Some(first));
        if psn != first {
            rs.set(rs.get() + u32::from(retx));
            return false;
        }
        drops += 1;
        drops <= 2
    }));
    // Eight request packets per READ (the engine holds 64 messages).
    let n = 30;
    send(&mut net, 0, 1, 1, Mode::Rod, wr, vec![1; mtu], 1).unwrap();
    for k in 0..n {
        send(
            &mut net,
            0,
            1,
            1,
            Mode::Rod,
            rd,
            vec![0; 8 * mtu],
            2 + 2 * k,
        )
        .unwrap();
        send(&mut net, 0, 1, 1, Mode::Rod, wr, vec![1; mtu], 3 + 2 * k).unwrap();
    }
    let t0 = net.now;
    let steps0 = net.nodes[0].eng.scan_steps;
    let st0 = net.nodes[0].eng.stats;
    let want = 2 + 2 * n as usize;
    assert!(
        net.run_until(t0 + 1_000_000_000, |n| comps(n, 0).len() == want),
        "{:?}",
        net.nodes[0].eng.stats
    );
    assert!(comps(&net, 0).iter().all(|c| c.status == Status::Ok));
    let st = net.nodes[0].eng.stats;
    let steps = net.nodes[0].eng.scan_steps - steps0;
    let (tx, acks) = (st.tx - st0.tx, st.ack_rx - st0.ack_rx);
    std::println!(
        "{} ns, {steps} scan steps, {tx} packets sent, {acks} ACKs, {} other packets resent, {st:?}",
        net.now - t0,
        resent.get()
    );
    assert_eq!(resent.get(), 0, "{st:?}");
    assert_eq!((st.rto, st.spurious_retx), (0, 0), "{st:?}");
    assert!(
        steps <= 2 * (tx + acks),
        "{steps} steps, {tx} sent, {acks} ACKs"
    );
}

/// The same for fetching atomics: the previous value of the second of
/// five FetchAdds on a PDC is lost (five: the target keeps the results of
/// at most `RESP_RING` until they are cleared). The request is resent at
/// once and the target answers the duplicate from the result it keeps,
/// without adding again.
#[test]
fn lost_atomic_result_is_resent_without_a_timer() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 91);
    let fadd = Op::Atomic {
        key: MR_RW,
        offset: 0,
        op: AtomicOp::FetchAdd,
        operand: 1,
        compare: 0,
    };
    // Warm up (an RTT sample).
    send(&mut net, 0, 1, 1, Mode::Rud, fadd, vec![0; 8], 0).unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
    let mut seen = 0;
    net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
        if src == 1 && data_offset(pkt).is_some() {
            seen += 1;
            return seen == 2;
        }
        false
    }));
    let start = u64::from_ne_bytes(
        net.nodes[1].env.regions[&(1, MR_RW)].data[..8]
            .try_into()
            .unwrap(),
    );
    let bufs: Vec<u64> = (1..=5)
        .map(|u| send(&mut net, 0, 1, 1, Mode::Rud, fadd, vec![0; 8], u).unwrap())
        .collect();
    let t0 = net.now;
    assert!(net.run_until(t0 + 1_000_000_000, |n| comps(n, 0).len() == 6));
    let st = net.nodes[0].eng.stats;
    std::println!("{} ns, {st:?}", net.now - t0);
    assert!(comps(&net, 0).iter().all(|c| c.status == Status::Ok));
    let mut got: Vec<u64> = bufs
        .iter()
        .map(|&b| u64::from_ne_bytes(net.nodes[0].env.bufs[b as usize][..8].try_into().unwrap()))
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = (0..5).map(|k| start.wrapping_add(k)).collect();
    assert_eq!(got, want);
    let end = u64::from_ne_bytes(
        net.nodes[1].env.regions[&(1, MR_RW)].data[..8]
            .try_into()
            .unwrap(),
    );
    assert_eq!(end, start.wrapping_add(5));
    assert_eq!((st.tlp, st.rto, st.spurious_retx), (0, 0, 0), "{st:?}");
    assert!(st.fast_retx >= 1, "{st:?}");
}

/// RUD READs of 1 MiB at 1% loss both ways keep most of their lossless
/// goodput (the sends' `rud_goodput_ratio_at_1pct_loss` of
/// ultraeth-engine.rst is about 0.8 there), as WRITEs do.
#[test]
fn read_goodput_at_one_percent_loss() {
    let (bw, delay) = (100_000_000_000u64, 2_000u64);
    let mean = |w: Work, loss: f64| {
        (1..=3u64)
            .map(|s| goodput_of(w, bw, delay, loss, Mode::Rud, 16, s))
            .sum::<f64>()
            / 3.0
    };
    let (r0, r) = (mean(Work::Read, 0.0), mean(Work::Read, 0.01));
    let (w0, w) = (mean(Work::Write, 0.0), mean(Work::Write, 0.01));
    std::println!(
        "read {r0:.2} -> {r:.2} Gbit/s ({:.3}), write {w0:.2} -> {w:.2} Gbit/s ({:.3})",
        r / r0,
        w / w0
    );
    // Before: 0.47 (the sends' 0.99).
    assert!(r / r0 > 0.8, "read ratio {:.3}", r / r0);
}

/// A READ packet the target acknowledges but never answers (its data is
/// lost every time; so it is when the initiator refuses the answer or the
/// target drops the duplicate) while WRITEs behind it keep the PDC making
/// progress: it is resent at the front of the window `max_retries` times
/// more and for at least `min_fail_time`, then the READ fails
/// (`PdcError`, `stats.answer_lost`) and leaves the window; the WRITEs
/// complete and every table drains. Before, it was resent once per RACK
/// wait for as long as the others made progress (which resets the PDC's
/// retries); then it failed after `max_retries` alone.
#[test]
fn read_acked_but_never_answered_fails() {
    let modes = [Mode::Rud, Mode::Rod];
    for (mode, min_fail) in modes
        .map(|m| (m, 0))
        .into_iter()
        .chain(modes.map(|m| (m, 300_000)))
    {
        let cfg = Config {
            min_fail_time: min_fail,
            ..fast_cfg()
        };
        let mut net = net(2, cfg, Link::CLEAN, 94);
        let rd = Op::Read {
            key: MR_RO,
            offset: 0,
        };
        let wr = Op::Write {
            key: MR_RW,
            offset: 0,
        };
        // Warm up (an RTT sample).
        send(&mut net, 0, 1, 1, mode, rd, vec![0; 100], 0).unwrap();
        assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
        let mtu = net.nodes[0].eng.config().mtu;
        net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
            src == 1 && data_offset(pkt) == Some(mtu)
        }));
        let t0 = net.now;
        send(&mut net, 0, 1, 1, mode, rd, vec![0; 4 * mtu as usize], 1).unwrap();
        let n = 500;
        // With `min_fail_time`, fewer WRITEs: the window holds those
        // behind the READ until it fails.
        let gap = if min_fail == 0 { 2_000 } else { 10_000 };
        let mut failed_at = None;
        for k in 0..n {
            send(&mut net, 0, 1, 1, mode, wr, vec![1; 64], 2 + k).unwrap();
            let t = net.now + gap;
            net.run_for(t);
            if failed_at.is_none() && !comps_of(&net, 0, 1).is_empty() {
                failed_at = Some(net.now - t0);
            }
        }
        let want = 2 + n as usize;
        assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == want));
        let st = net.nodes[0].eng.stats;
        std::println!(
            "{mode:?}, min_fail_time {min_fail}: READ failed after {failed_at:?} ns, {st:?}"
        );
        let r = comps_of(&net, 0, 1);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, Status::PdcError, "{st:?}");
        assert!(failed_at.is_some(), "{st:?}");
        for k in 0..n {
            assert_eq!(comps_of(&net, 0, 2 + k)[0].status, Status::Ok, "{k}");
        }
        let max = u64::from(net.nodes[0].eng.config().max_retries);
        assert_eq!(st.answer_lost, 1, "{st:?}");
        if min_fail == 0 {
            // The first resend (the scan), `max_retries` at the front, and
            // perhaps a probe.
            assert!(st.retx <= max + 2, "{st:?}");
        } else {
            // Resent for `min_fail_time` (once per WRITE's ACK, 10 us
            // apart), and failed at the first judgment after it.
            let at = failed_at.unwrap();
            assert!(at >= min_fail && at < min_fail + 50_000, "{at}");
            assert!(st.retx > max + 2, "{st:?}");
        }
        assert_eq!((st.rto, st.pdc_error), (0, 0), "{st:?}");
        // Slots, in flight and lost counts, message references: all
        // freed.
        assert!(drained_after(&mut net), "{mode:?}, {min_fail}");
    }
}

/// The same, but the WRITEs stop once the READ packet was resent
/// `max_retries` times at the front: the READ fails from the RACK timer,
/// and its packets leave the window then. Before, the failure from the
/// timer did not slide the window: the settled READ packet stayed at its
/// front, no idle close, a tail-loss probe with nothing to send, RTOs
/// counting the PDC's retries and at last a PDC error on a healthy PDC.
#[test]
fn read_never_answered_fails_from_the_timer() {
    for mode in [Mode::Rud, Mode::Rod] {
        let mut net = net(2, fast_cfg(), Link::CLEAN, 95);
        let rd = Op::Read {
            key: MR_RO,
            offset: 0,
        };
        let wr = Op::Write {
            key: MR_RW,
            offset: 0,
        };
        // Warm up (an RTT sample).
        send(&mut net, 0, 1, 1, mode, rd, vec![0; 100], 0).unwrap();
        assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
        let mtu = net.nodes[0].eng.config().mtu;
        net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
            src == 1 && data_offset(pkt) == Some(mtu)
        }));
        let max = u64::from(net.nodes[0].eng.config().max_retries);
        send(&mut net, 0, 1, 1, mode, rd, vec![0; 4 * mtu as usize], 1).unwrap();
        let (mut n, mut last) = (0, None);
        // The first resend (the scan), then `max_retries` at the front;
        // then two WRITEs more, sent after the last resend: their ACKs
        // are the reference that judges the READ packet again, by the
        // timer (the last ACK comes before its wait is over).
        while last.is_none_or(|l| n <= l + 2) && n < 500 {
            send(&mut net, 0, 1, 1, mode, wr, vec![1; 64], 2 + n).unwrap();
            let t = net.now + 2_000;
            net.run_for(t);
            if last.is_none() && net.nodes[0].eng.stats.retx >= max + 1 {
                last = Some(n);
            }
            n += 1;
        }
        assert!(n < 500);
        let want = 2 + n as usize;
        let ok = net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == want);
        assert!(ok, "{mode:?}: {n} WRITEs, {:?}", net.nodes[0].eng.stats);
        let st = net.nodes[0].eng.stats;
        std::println!("{mode:?}: {n} WRITEs, {st:?}");
        let r = comps_of(&net, 0, 1);
        assert_eq!(r[0].status, Status::PdcError, "{st:?}");
        for k in 0..n {
            assert_eq!(comps_of(&net, 0, 2 + k)[0].status, Status::Ok, "{k}");
        }
        assert!(drained_after(&mut net));
        let st = net.nodes[0].eng.stats;
        assert_eq!(st.answer_lost, 1, "{st:?}");
        assert_eq!((st.rto, st.pdc_error), (0, 0), "{st:?}");
    }
}

/// A READ larger than what is sent by the time it fails (2 MiB, 512
/// packets; `max_retries` 2) asks no more of the target once it failed:
/// it leaves the PDC's queue and its unsent packets are never sent.
/// Before, it stayed queued and its remaining packets went out (243 here;
/// the simulated target returned no data for them, as their requests
/// went out without wanting an answer).
#[test]
fn failed_read_sends_no_more_of_itself() {
    use core::cell::Cell;
    use std::rc::Rc;
    for mode in [Mode::Rud, Mode::Rod] {
        let cfg = Config {
            max_retries: 2,
            ..fast_cfg()
        };
        // A slow link: the READ takes 1.7 ms to answer in full.
        let link = Link {
            bandwidth: 10_000_000_000,
            ..Link::CLEAN
        };
        let mut net = net(2, cfg, link, 96);
        let rd = Op::Read {
            key: MR_RO,
            offset: 0,
        };
        // Warm up (an RTT sample).
        send(&mut net, 0, 1, 1, mode, rd, vec![0; 100], 0).unwrap();
        assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
        let mtu = net.nodes[0].eng.config().mtu;
        let data = Rc::new(Cell::new(0u32));
        let seen = data.clone();
        net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
            let off = if src == 1 { data_offset(pkt) } else { None };
            if off.is_some() {
                seen.set(seen.get() + 1);
            }
            off == Some(mtu)
        }));
        let segs = MR_LEN as u32 / mtu;
        send(&mut net, 0, 1, 1, mode, rd, vec![0; MR_LEN], 1).unwrap();
        assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 2));
        let (at_fail, tx_at_fail) = (data.get(), net.nodes[0].eng.stats.tx);
        assert!(drained_after(&mut net));
        let st = net.nodes[0].eng.stats;
        std::println!(
            "{mode:?}: {at_fail} of {segs} answered at the failure, {} after; {} packets sent after, {st:?}",
            data.get(),
            st.tx - tx_at_fail
        );
        assert_eq!(comps_of(&net, 0, 1)[0].status, Status::PdcError, "{st:?}");
        // Partly sent at the failure; then no more of it (the CLOSE).
        assert!(at_fail + 128 < segs, "{at_fail}");
        assert!(data.get() < at_fail + 64, "{}", data.get());
        assert!(st.tx <= tx_at_fail + 4, "{st:?}");
        assert_eq!(st.answer_lost, 1, "{st:?}");
        assert_eq!((st.rto, st.pdc_error), (0, 0), "{st:?}");
    }
}
