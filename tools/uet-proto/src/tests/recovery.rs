// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Loss recovery on the kernel data path's first runs: NEW_START_PSN
//! naming the start PSN in use, spurious retransmissions on a slow and
//! jittery wire, and reordering of a window's worth of packets.

use super::*;
use crate::proto::wire::pds::nack;

/// Runs `net` until node 0 has `n` completions; every one must be `Ok`.
fn complete(net: &mut Net, n: usize) {
    let limit = net.now + 10_000_000_000;
    assert!(
        net.run_until(limit, |net| comps(net, 0).len() >= n),
        "{} of {n} completions, {:?}",
        comps(net, 0).len(),
        net.nodes[0].eng.stats
    );
    assert!(comps(net, 0).iter().all(|c| c.status == Status::Ok));
}

/// Item 1: the target NACKs the first SYN packet with NEW_START_PSN
/// naming the start PSN the initiator already uses (in the kernel, two
/// engines seeded alike drew the same random PSN). The PSN was not taken:
/// it must be resent at once, not after the RTO.
#[test]
fn new_start_psn_equal_to_the_start_resends_at_once() {
    for pkts in [1usize, 8] {
        let mut net = net(2, fast_cfg(), Link::CLEAN, 70);
        let rb = recv(&mut net, 1, 1, 1 << 16, 1, None);
        let data = pattern(5, pkts * 4096 - 100);
        send(
            &mut net,
            0,
            1,
            1,
            Mode::Rud,
            Op::Send { tag: None },
            data.clone(),
            1,
        )
        .unwrap();
        let psn = first_req_psn(&net, 0);
        // The first SYN never reaches the target; its NACK does.
        let out = std::mem::take(&mut net.nodes[0].env.outbox);
        let mut spdcid = None;
        for (d, e, p) in out {
            use crate::proto::wire::{parse, pds::PdsHeader};
            match parse(&p).map(|q| q.pds) {
                Ok(PdsHeader::Req(r)) if r.psn == psn => spdcid = Some(r.spdcid),
                _ => net.nodes[0].env.outbox.push((d, e, p)),
            }
        }
        let mut h = nack_hdr(nack::NEW_START_PSN, psn, 0, spdcid.unwrap());
        if let crate::proto::wire::pds::PdsHeader::Nack(n) = &mut h {
            n.payload = psn;
        }
        net.now = 5_000;
        inject(&mut net, 0, 1, &h);
        complete(&mut net, 1);
        assert_eq!(net.nodes[1].env.bufs[rb as usize][..data.len()], data[..]);
        let st = net.nodes[0].eng.stats;
        assert_eq!(st.rto, 0, "{pkts} packets: {st:?}");
        assert_eq!(st.tlp, 0, "{pkts} packets: {st:?}");
        assert!(net.now < 100_000, "{pkts} packets: done at {}", net.now);
    }
}

/// Item 1 as the kernel met it: two engines with the same seed (the
/// module's default), the target in its quiet time after start (1-RTT):
/// its random start PSN is the initiator's.
#[test]
fn same_seed_one_rtt_completes_without_timeout() {
    let cfg = Config {
        quiet_start: true,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 71);
    for n in net.nodes.iter_mut() {
        let c = Config {
            seed: 1,
            ..*n.eng.config()
        };
        *n.eng = crate::sim::new_engine(c);
    }
    let rb = recv(&mut net, 1, 1, 4096, 1, None);
    let data = pattern(6, 4000);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        data.clone(),
        1,
    )
    .unwrap();
    complete(&mut net, 1);
    assert_eq!(net.nodes[1].env.bufs[rb as usize][..data.len()], data[..]);
    let st = net.nodes[0].eng.stats;
    assert_eq!((st.nack_rx, st.rto), (1, 0), "{st:?}");
}
