// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! A path cut for a moment does not fail a PDC ([`Config::min_fail_time`]):
//! on a host network stack a 20 ms link flap costs about a second when the
//! neighbour solicitation sent while the link was down is lost, far longer
//! than the retry budget's timeouts alone (found by uet_fault_cycles.sh).
//! A peer that is gone for good still fails the PDC within the retry span.

use super::*;

const LEN: usize = 1 << 20;

fn flap_cfg(min_fail_time: u64) -> Config {
    Config {
        min_fail_time,
        eager_limit: 8 << 20,
        ..fast_cfg()
    }
}

/// Starts a 1 MiB send from node 0 to node 1 and cuts the wire when part
/// of it is on the way; the network and the received buffer.
fn cut_mid_send(cfg: Config) -> (Net, u64, Vec<u8>) {
    let mut net = net(2, cfg, Link::CLEAN, 61);
    let data = pattern(61, LEN);
    let rb = recv(&mut net, 1, 1, LEN, 9, None);
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
    // 1 MiB at 100 Gb/s takes about 85 us: cut it half way.
    net.run_for(net.now + 40_000);
    assert!(comps(&net, 0).is_empty(), "sent before the cut");
    net.link.loss = 1.0;
    (net, rb, data)
}

/// A 200 ms cut is longer than 12 timeouts of at most 5 ms: without a
/// least failure time the PDC fails; with 300 ms it rides the cut out and
/// the message arrives intact, once.
#[test]
fn a_short_cut_does_not_fail_the_pdc() {
    let cut = 200_000_000;
    for (min_fail_time, want) in [(0, Status::PdcError), (300_000_000, Status::Ok)] {
        let cfg = flap_cfg(min_fail_time);
        assert!(cfg.rto_max * (u64::from(cfg.max_retries) + 1) < cut);
        let (mut net, rb, data) = cut_mid_send(cfg);
        net.run_until(net.now + cut, |n| !comps(n, 0).is_empty());
        net.link.loss = 0.0;
        assert!(net.run_until(net.now + 10_000_000_000, |n| comps(n, 0).len() == 1));
        assert_eq!(
            comps(&net, 0)[0].status,
            want,
            "min_fail_time {min_fail_time}"
        );
        assert!(net.nodes[0].eng.stats.rto > u64::from(cfg.max_retries));
        if want == Status::Ok {
            assert_eq!(recv_count(&net, 1), 1);
            assert_eq!(net.nodes[1].env.bufs[rb as usize], data);
            assert_eq!(net.nodes[0].eng.stats.pdc_error, 0);
        }
        // A failed PDC's half-received message goes when the target
        // reaps the PDC; the receive stays posted.
        net.run_for(net.now + cfg.reap_after() + 1_000_000);
        let posted = usize::from(want != Status::Ok);
        assert_eq!(net.nodes[0].eng.usage(), (0, 0, 0, 0, 0));
        assert_eq!(net.nodes[1].eng.usage(), (0, 0, posted, 0, 0));
    }
}

/// A peer that never answers again still fails the PDC: no sooner than
/// `min_fail_time` after the cut and within the retry span, which the
/// target's reap and tombstone times are derived from.
#[test]
fn a_lasting_cut_fails_within_the_retry_span() {
    let cfg = flap_cfg(300_000_000);
    let (mut net, _, _) = cut_mid_send(cfg);
    let t0 = net.now;
    assert!(net.run_until(t0 + 60_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::PdcError);
    let gave_up = net.now - t0;
    assert!(gave_up >= cfg.min_fail_time, "{gave_up}");
    assert!(gave_up <= cfg.retry_span(), "{gave_up}");
    assert_eq!(
        net.nodes[1].eng.stats.pdc_reaped, 0,
        "reaped while retrying"
    );
}

/// The least failure time is kept in 16 bits of 2^24 ns per PDC: a longer
/// one is refused when the engine is built, the longest one works.
#[test]
fn the_least_failure_time_has_a_limit() {
    use crate::proto::engine::{Engine, InitError, MAX_MIN_FAIL_TIME};
    use crate::sim::tables;
    let cfg = |min_fail_time| Config {
        min_fail_time,
        ..Config::DEFAULT
    };
    assert_eq!(
        Engine::new(cfg(MAX_MIN_FAIL_TIME + 1), tables(4, 4, 4)).err(),
        Some(InitError::BadTime)
    );
    assert!(Engine::new(cfg(MAX_MIN_FAIL_TIME), tables(4, 4, 4)).is_ok());
    // The longest one still waits: a cut PDC has not failed half way.
    let c = Config {
        min_fail_time: MAX_MIN_FAIL_TIME,
        ..flap_cfg(0)
    };
    let (mut net, _, _) = cut_mid_send(c);
    let t0 = net.now;
    net.run_for(t0 + MAX_MIN_FAIL_TIME / 2);
    assert!(comps(&net, 0).is_empty());
    assert!(net.run_until(t0 + c.retry_span(), |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::PdcError);
    assert!(net.now - t0 >= MAX_MIN_FAIL_TIME);
}

/// Review S2: a RUDI request gave up after `max_retries` timeouts alone
/// (12 of at most 5 ms here: about 60 ms), whatever `min_fail_time`, where
/// a PDC rides out a cut of that long. Now it fails no sooner than
/// `min_fail_time` after its first timeout (and within the retry span),
/// and a write across a 200 ms cut completes.
#[test]
fn rudi_waits_for_the_least_failure_time() {
    let cfg = flap_cfg(300_000_000);
    // A peer gone for good: the write fails, not before the least
    // failure time, within the retry span.
    let mut gone = net(2, cfg, Link::CLEAN, 62);
    gone.link.loss = 1.0;
    let t0 = gone.now;
    send(&mut gone, 0, 1, 1, Mode::Rudi, write_op(), vec![3; 512], 1).unwrap();
    assert!(gone.run_until(t0 + 10_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&gone, 0)[0].status, Status::PdcError);
    let gave_up = gone.now - t0;
    assert!(gave_up >= cfg.min_fail_time, "gave up after {gave_up} ns");
    assert!(gave_up <= cfg.retry_span(), "gave up after {gave_up} ns");
    // A 200 ms cut is ridden out.
    let mut cut = net(2, cfg, Link::CLEAN, 63);
    cut.link.loss = 1.0;
    let t0 = cut.now;
    send(&mut cut, 0, 1, 1, Mode::Rudi, write_op(), vec![4; 512], 2).unwrap();
    cut.run_for(t0 + 200_000_000);
    assert!(comps(&cut, 0).is_empty());
    cut.link.loss = 0.0;
    assert!(cut.run_until(t0 + 10_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&cut, 0)[0].status, Status::Ok);
}
