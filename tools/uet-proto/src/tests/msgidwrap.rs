// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Message ids are 16 bits per PDC and wrap (review 69): a late copy of
//! one of a PDC's own ACKs, from 65536 messages earlier, names the id of a
//! message pending now. Its response must not complete that message: the
//! initiator takes a response only from an ACK triggered by one of the
//! message's own PSNs.

use super::*;

#[test]
fn stale_ack_after_message_id_wrap_completes_nothing() {
    use crate::proto::wire::{
        parse,
        pds::PdsHeader,
        ses::{RespBody, SesHeader},
    };
    let cfg = Config {
        implied_ok: false,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 69);
    let wr = Op::Write {
        key: MR_RW,
        offset: 0,
    };
    // The first message, its ACK (carrying its OK response) kept.
    net.capture = Some(Vec::new());
    send(&mut net, 0, 1, 1, Mode::Rud, wr, vec![1; 8], 0).unwrap();
    assert!(net.run_until(net.now + 10_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    let cap = net.capture.take().unwrap();
    let (stale, first_id) = cap
        .iter()
        .find_map(|(f, _, b)| {
            let p = parse(b).ok()?;
            match (*f, p.pds, p.ses) {
                (
                    1,
                    PdsHeader::Ack(_),
                    Some(SesHeader::Resp(
                        r @ crate::proto::wire::ses::SesResp {
                            body: RespBody::Plain { msg_id, .. },
                            ..
                        },
                    )),
                ) if r.rc == rc::OK => Some((b.clone(), msg_id)),
                _ => None,
            }
        })
        .expect("the ACK of the first message carries its response");
    // 65535 more messages on the same PDC, in batches: the next one
    // takes the first one's message id again.
    let pdc = pdc_id(&net, 0);
    let mut left = 65_535u32;
    while left > 0 {
        let n = left.min(32);
        net.nodes[0].env.completions.clear();
        for k in 0..n {
            send(&mut net, 0, 1, 1, Mode::Rud, wr, vec![2; 8], u64::from(k)).unwrap();
        }
        assert!(net.run_until(net.now + 10_000_000, |x| comps(x, 0).len() == n as usize));
        assert!(comps(&net, 0).iter().all(|c| c.status == Status::Ok));
        left -= n;
    }
    assert_eq!(pdc_id(&net, 0), pdc, "one PDC throughout");
    // The message that reuses the id, a WRITE the target refuses (a
    // read-only region): its request is lost for now, so it waits.
    net.nodes[0].env.completions.clear();
    net.drop_if = Some(std::boxed::Box::new(|src, _, _| src == 0));
    net.capture = Some(Vec::new());
    let ro = Op::Write {
        key: MR_RO,
        offset: 0,
    };
    send(&mut net, 0, 1, 1, Mode::Rud, ro, vec![3; 8], 99).unwrap();
    net.run_for(net.now + 1_000);
    let reused = net.capture.take().unwrap().iter().find_map(|(f, _, b)| {
        let p = parse(b).ok()?;
        match (*f, p.ses) {
            (0, Some(SesHeader::Req(q))) => match q.body {
                crate::proto::wire::ses::ReqBody::Std { msg_id, .. } => Some(msg_id),
                _ => None,
            },
            _ => None,
        }
    });
    assert_eq!(reused, Some(first_id), "the message id wrapped");
    assert!(comps(&net, 0).is_empty());
    // The late copy of the first message's ACK, with its OK response
    // (before the fix it completed the message `OK` at once, though the
    // target never had it).
    inject_raw(&mut net, 0, addr(1), &stale);
    assert!(
        comps(&net, 0).is_empty(),
        "a stale response completed a message: {:?}",
        comps(&net, 0)
    );
    // Its own answer completes it.
    net.drop_if = None;
    assert!(net.run_until(net.now + 100_000_000, |n| comps(n, 0).len() == 1));
    let c = comps(&net, 0)[0];
    assert_eq!(c.user, 99);
    assert_ne!(
        c.status,
        Status::Ok,
        "a stale response answered a message the target refused"
    );
}
