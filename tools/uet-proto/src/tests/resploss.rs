// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Lost SES responses of SENDs and WRITEs (`implied_ok` off, as the kernel
//! runs): the target answers a message in the ACK triggered by the packet
//! that completes it. When that ACK is lost, the ACKs of the next
//! messages cover the message's last packet without its response.

use super::*;

/// Messages in a stream, one posted every `GAP` ns, of `SEGS` packets.
const MSGS: u64 = 12;
const GAP: u64 = 2_000;
const SEGS: usize = 4;
/// The message whose response is lost.
const LOST: u64 = 4;

/// What a stream loses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Drop {
    None,
    /// The ACK carrying the response of message `LOST` (the `LOST + 1`-th
    /// response, the link being clean).
    Response,
    /// The first transmission of message `LOST`'s first packet (its
    /// resend completes the message after its other packets were
    /// acknowledged).
    Data,
    /// That, and the ACK carrying the response (the resend's).
    DataAndResponse,
}

/// A stream of `MSGS` SENDs (`send_op`) or WRITEs in `mode`, one every
/// `GAP` ns, losing what `drop` says. With
/// `bad`, message `LOST` fails at the target: a WRITE to a read-only
/// region, a SEND to a receive one byte too short. Returns how long each
/// message took from its post to its completion, and the initiator's and
/// the target's counters.
fn stream(
    mode: Mode,
    send_op: bool,
    drop: Drop,
    bad: bool,
) -> (
    Vec<u64>,
    crate::proto::engine::Stats,
    crate::proto::engine::Stats,
) {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 97);
    let wr = |key| Op::Write { key, offset: 0 };
    let mtu = net.nodes[0].eng.config().mtu as usize;
    let len = SEGS * mtu;
    // Warm up (an RTT sample).
    send(&mut net, 0, 1, 1, mode, wr(MR_RW), vec![1; 64], 0).unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
    if send_op {
        for k in 0..MSGS {
            let short = usize::from(bad && k == LOST);
            recv(&mut net, 1, 1, len - short, 1000 + k, None);
        }
    }
    let (mut seen, mut reqs, mut victim, mut gone) = (0, 0, None, false);
    net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
        use crate::proto::wire::{
            parse,
            pds::PdsHeader,
            ses::{ReqBody, RespBody, SesHeader},
        };
        let Ok(p) = parse(pkt) else {
            return false;
        };
        match (drop, src, p.pds, p.ses) {
            (Drop::None, ..) => false,
            // The first transmission of message LOST's first packet.
            (Drop::Data | Drop::DataAndResponse, 0, PdsHeader::Req(r), Some(SesHeader::Req(q)))
                if !r.retx =>
            {
                reqs += 1;
                match q.body {
                    ReqBody::Std { msg_id, .. } if reqs == LOST * SEGS as u64 + 1 => {
                        victim = Some(msg_id);
                        true
                    }
                    _ => false,
                }
            }
            (drop, 1, PdsHeader::Ack(_), Some(SesHeader::Resp(r))) => match r.body {
                RespBody::Plain { .. } if drop == Drop::Data => false,
                RespBody::Plain { msg_id, .. } if drop == Drop::DataAndResponse => {
                    let hit = !gone && victim == Some(msg_id);
                    gone |= hit;
                    hit
                }
                RespBody::Plain { .. } => {
                    seen += 1;
                    seen == LOST + 1
                }
                _ => false,
            },
            _ => false,
        }
    }));
    let want = |k: u64| match (bad && k == LOST, send_op) {
        (false, _) => Status::Ok,
        (true, false) => Status::Remote(rc::PERM_VIOLATION),
        (true, true) => Status::Remote(rc::TOO_LONG),
    };
    let t0 = net.now;
    let mut done = vec![None; MSGS as usize];
    let note = |n: &Net, done: &mut Vec<Option<u64>>| {
        for c in comps(n, 0) {
            if (1..=MSGS).contains(&c.user) {
                let k = c.user - 1;
                let d = &mut done[k as usize];
                if d.is_none() {
                    assert_eq!(c.status, want(k), "{mode:?} {k}");
                    *d = Some(n.now - (t0 + k * GAP));
                }
            }
        }
    };
    for k in 0..MSGS {
        let op = match (send_op, bad && k == LOST) {
            (true, _) => Op::Send { tag: None },
            (false, false) => wr(MR_RW),
            (false, true) => wr(MR_RO),
        };
        send(&mut net, 0, 1, 1, mode, op, pattern(k, len), 1 + k).unwrap();
        let t = t0 + (k + 1) * GAP;
        net.run_until(t, |n| {
            note(n, &mut done);
            false
        });
        net.now = net.now.max(t);
    }
    let ok = net.run_until(t0 + 1_000_000_000, |n| {
        note(n, &mut done);
        done.iter().all(|d| d.is_some())
    });
    assert!(ok, "{mode:?}: {done:?}, {:?}", net.nodes[0].eng.stats);
    assert!(drained_after(&mut net));
    if send_op {
        // Each delivered once.
        let mut r: Vec<u64> = comps(&net, 1)
            .iter()
            .filter(|c| c.kind == CompKind::Recv)
            .map(|c| c.user)
            .collect();
        r.sort_unstable();
        assert_eq!(r, (1000..1000 + MSGS).collect::<Vec<_>>());
    }
    (
        done.into_iter().map(Option::unwrap).collect(),
        net.nodes[0].eng.stats,
        net.nodes[1].eng.stats,
    )
}

/// Drops the response of message `LOST` (successful, or failed with
/// `bad`) of a stream of 4-packet SENDs and WRITEs, RUD and ROD. The ACKs
/// of the next messages cover its last packet, which is then judged as a
/// READ packet acknowledged without its data is: lost by RACK and resent
/// at once; the target answers the duplicate with the same response, and
/// delivers nothing twice. No probe, no RTO: the message completes about
/// an RTT and the reordering wait after the others (15.8 us, lossless
/// 5.3 us). Before, its last packet held the front of the window until
/// the tail-loss probe, which every ACK of the stream put off: 35.8 us,
/// done once the stream stopped.
fn lost_responses(bad: bool) {
    for mode in [Mode::Rud, Mode::Rod] {
        for send_op in [false, true] {
            let what = if send_op { "SEND" } else { "WRITE" };
            let (clean, _, _) = stream(mode, send_op, Drop::None, bad);
            let (t, st, tst) = stream(mode, send_op, Drop::Response, bad);
            std::println!("{mode:?} {what}: lossless {clean:?}, lost {t:?}, {st:?}");
            for k in 0..MSGS as usize {
                if k != LOST as usize {
                    assert_eq!(t[k], clean[k], "{mode:?} {what} {k}");
                }
            }
            let k = LOST as usize;
            assert!(t[k] < clean[k] + 12_000, "{mode:?} {what}: {t:?}");
            assert_eq!((st.tlp, st.rto, st.spurious_retx), (0, 0, 0), "{st:?}");
            assert_eq!((st.retx, st.fast_retx), (1, 1), "{st:?}");
            // The resent last packet, answered again.
            assert_eq!(tst.dup, 1, "{tst:?}");
        }
    }
}

#[test]
fn lost_send_and_write_response_is_resent_without_a_timer() {
    lost_responses(false);
}

/// The same when the message failed at the target: the duplicate gets
/// the error the lost ACK carried, from the target's response ring.
#[test]
fn lost_send_and_write_error_is_resent_without_a_timer() {
    lost_responses(true);
}

/// Message `LOST`'s first packet is lost and resent after its other
/// packets were acknowledged: the resend completes the message at the
/// target, and the ACK carrying its response is lost too. The loss
/// detection had passed the message's last packet (acknowledged, its
/// message not); once the resend is acknowledged by a later ACK, it goes
/// back to it and resends it as above: no probe, no RTO, nothing
/// spurious, the message completes about an RTT and the response's wait
/// after its time when only its packet is lost (22.4 us ROD, 24.0 us RUD;
/// 13.7 us; lossless 5.3 us). Before, 35.0 us, after the tail-loss probe.
#[test]
fn lost_response_of_a_resent_packet() {
    for mode in [Mode::Rud, Mode::Rod] {
        for send_op in [false, true] {
            let what = if send_op { "SEND" } else { "WRITE" };
            let (data, _, _) = stream(mode, send_op, Drop::Data, false);
            let (t, st, tst) = stream(mode, send_op, Drop::DataAndResponse, false);
            std::println!("{mode:?} {what}: data lost {data:?}, and response {t:?}, {st:?}");
            for k in 0..MSGS as usize {
                // ROD: those held behind the lost packet complete with it
                // (their ACKs a few ns apart).
                if k != LOST as usize {
                    assert!(t[k] < data[k] + 100, "{mode:?} {what} {k}: {t:?} {data:?}");
                }
            }
            let k = LOST as usize;
            assert!(t[k] < data[k] + 12_000, "{mode:?} {what}: {t:?}");
            assert_eq!((st.tlp, st.rto, st.spurious_retx), (0, 0, 0), "{st:?}");
            assert_eq!((st.retx, st.fast_retx), (2, 2), "{st:?}");
            assert_eq!(tst.dup, 1, "{tst:?}");
        }
    }
}

/// A hole in message `LOST - 1` (its first packet lost, then resent).
/// Message `LOST` is acknowledged whole before the hole is filled (ROD:
/// SACKed while the target holds it; RUD: delivered and answered). The
/// ACK carrying its response is delayed by `DELAY` ns, much less than the
/// response's wait (half an SRTT and the reordering window), and overtaken
/// by the next ACK: the response is late, not lost, and nothing should be
/// resent for it. Dropped instead, it is resent for as a lost one is.
#[test]
fn late_response_after_a_hole_is_not_resent() {
    use core::cell::RefCell;
    use std::rc::Rc;
    for (mode, lost) in [
        (Mode::Rud, false),
        (Mode::Rod, false),
        (Mode::Rud, true),
        (Mode::Rod, true),
    ] {
        const DELAY: u64 = 300;
        let mut net = net(2, fast_cfg(), Link::CLEAN, 97);
        let wr = |key| Op::Write { key, offset: 0 };
        let mtu = net.nodes[0].eng.config().mtu as usize;
        let len = SEGS * mtu;
        send(&mut net, 0, 1, 1, mode, wr(MR_RW), vec![1; 64], 0).unwrap();
        assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
        let stash: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let s2 = stash.clone();
        let (mut reqs, mut first_id, mut late) = (0u64, None, None);
        net.drop_if = Some(std::boxed::Box::new(move |src, _, pkt| {
            use crate::proto::wire::{
                parse,
                pds::PdsHeader,
                ses::{ReqBody, RespBody, SesHeader},
            };
            let Ok(p) = parse(pkt) else {
                return false;
            };
            match (src, p.pds, p.ses) {
                (0, PdsHeader::Req(r), Some(SesHeader::Req(q))) if !r.retx => {
                    reqs += 1;
                    if let ReqBody::Std { msg_id, .. } = q.body {
                        if reqs == (LOST - 1) * SEGS as u64 + 1 {
                            first_id = Some(msg_id);
                            return true;
                        }
                    }
                    false
                }
                (1, PdsHeader::Ack(_), Some(SesHeader::Resp(r))) => match r.body {
                    // Message LOST's response, once.
                    RespBody::Plain { msg_id, .. }
                        if late.is_none()
                            && first_id.is_some_and(|f| msg_id == f.wrapping_add(1)) =>
                    {
                        late = Some(msg_id);
                        s2.borrow_mut().push(pkt.to_vec());
                        true
                    }
                    _ => false,
                },
                _ => false,
            }
        }));
        // Runs until `until`, delivering the held response `DELAY` ns
        // after it was sent.
        let run = |net: &mut Net, until: u64, done: &dyn Fn(&Net) -> bool| loop {
            if !net.run_until(until, |n| done(n) || !stash.borrow().is_empty()) {
                net.now = net.now.max(until);
                return false;
            }
            if stash.borrow().is_empty() {
                return true;
            }
            let t = net.now + DELAY;
            net.run_until(t, |_| false);
            net.now = net.now.max(t);
            for pkt in stash.borrow_mut().drain(..) {
                if !lost {
                    net.nodes[1].env.outbox.push((addr(0), 0, pkt));
                }
            }
        };
        let t0 = net.now;
        for k in 0..MSGS {
            send(&mut net, 0, 1, 1, mode, wr(MR_RW), pattern(k, len), 1 + k).unwrap();
            run(&mut net, t0 + (k + 1) * GAP, &|_| false);
        }
        let all = |n: &Net| comps(n, 0).iter().filter(|c| c.user >= 1).count() == MSGS as usize;
        assert!(run(&mut net, t0 + 1_000_000_000, &all), "{mode:?}: stuck");
        let st = net.nodes[0].eng.stats;
        let tst = net.nodes[1].eng.stats;
        std::println!("{mode:?} lost {lost}: {st:?}");
        assert_eq!((st.tlp, st.rto), (0, 0), "{mode:?} {st:?}");
        // The hole's resend only: the late response was not lost.
        // Lost: its message's last packet too, answered again.
        let n = u64::from(lost);
        assert_eq!(
            (st.retx, tst.dup),
            (1 + n, n),
            "{mode:?} {lost} {st:?} {tst:?}"
        );
    }
}
