// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Isolation between JobIDs at a target: while other jobs hold target
//! PDCs, one job's SYNs from many peers (each within its own per-peer
//! share) take at most `job_pdc_share` of the target PDC table, so that
//! another job still gets PDCs at once instead of waiting for the first
//! job's PDCs to be reaped. A job alone may take the whole table.

use super::*;
use crate::proto::engine::Engine;
use crate::proto::wire::ses::op;
use crate::sim::tables_pooled;

/// JobID of the hogging job (an endpoint on node 0).
const HOG: u32 = 9;
/// Target PDCs of node 0.
const PDCS: usize = 32;

/// Node 0 with a PDC table of [`PDCS`] and an endpoint of [`HOG`]; nodes
/// 1 and 2 legitimate initiators of job [`JOB`].
///
/// The SYN pressure ([`Config::syn_pressure`]) is off: these tests fill
/// the table with SYNs to show the shares, which hold behind it
/// (`synflood.rs` has the pressure's own tests).
fn setup(cfg: Config) -> Net {
    let cfg = Config {
        syn_pressure: 0,
        ..cfg
    };
    let mut net = net(3, cfg, Link::CLEAN, 5);
    *net.nodes[0].eng = Engine::new(cfg, tables_pooled(PDCS, 256, 256, 16)).unwrap();
    net.nodes[0].env.jobs.insert((HOG, 1, 1), 50);
    net
}

/// Peer `i` of the hogging job (addresses no node of the net has).
fn hog_peer(i: usize) -> Addr {
    let mut a = addr(0);
    a[12] = 0x77;
    a[15] = i as u8;
    a
}

/// One SYN+SEND of job [`HOG`] from each of `peers` peers to node 0;
/// returns the target PDCs of that job then open or half-open.
fn flood(net: &mut Net, peers: usize) -> usize {
    for i in 0..peers {
        let pkt = forged_req(1000, 1, None, op::SEND, HOG, true, true, 0, 0, 64, 64);
        let now = net.now;
        let node = &mut net.nodes[0];
        node.eng.receive(now, &hog_peer(i), &pkt, &mut node.env);
        node.env.outbox.clear();
    }
    job_pdcs(net, HOG)
}

fn job_pdcs(net: &Net, job: u32) -> usize {
    net.nodes[0]
        .eng
        .pdcs()
        .iter()
        .filter(|p| matches!(p.state(), PdcState::Open | PdcState::HalfOpen) && p.job() == job)
        .count()
}

/// A write of job [`JOB`] from node `from` to node 0 completes within
/// `limit` ns of simulated time.
fn legit_write(net: &mut Net, from: usize, limit: u64) -> bool {
    let data = pattern(3, 512);
    send(
        net,
        from,
        0,
        1,
        Mode::Rud,
        Op::Write {
            key: MR_RW,
            offset: 0,
        },
        data,
        42,
    )
    .unwrap();
    let t0 = net.now;
    net.run_until(t0 + limit, |n| comps(n, from).iter().any(|c| c.user == 42));
    comps(net, from)
        .iter()
        .any(|c| c.user == 42 && c.status == Status::Ok)
}

#[test]
fn one_job_keeps_within_its_share_of_target_pdcs() {
    let cfg = Config::DEFAULT;
    let mut net = setup(cfg);
    // Job JOB holds a PDC (node 1's write); then 64 peers of job HOG, one
    // SYN each: every peer is far below its own share (`peer_share`
    // 64/256: 8 PDCs), the job is not.
    assert!(legit_write(&mut net, 1, 1_000_000));
    let held = flood(&mut net, 2 * PDCS);
    let share = PDCS * usize::from(cfg.job_pdc_share) / 256;
    assert_eq!(held, share, "{:?}", net.nodes[0].eng.stats);
    assert_eq!(net.nodes[0].eng.stats.over_quota, (2 * PDCS - share) as u64);
    // Another PDC of job JOB (node 2) still opens at once: the write
    // completes within a few round trips, long before the flood's PDCs
    // are reaped.
    assert!(
        legit_write(&mut net, 2, 1_000_000),
        "{:?}",
        net.nodes[0].eng.stats
    );
    assert_eq!(job_pdcs(&net, JOB), 2);
}

#[test]
fn without_a_job_share_one_job_fills_the_table() {
    // The same flood with no per-JobID limit takes every PDC left, and
    // the other job's new PDC waits (what the share prevents).
    let cfg = Config {
        job_pdc_share: 0,
        ..Config::DEFAULT
    };
    let mut net = setup(cfg);
    assert!(legit_write(&mut net, 1, 1_000_000));
    assert_eq!(flood(&mut net, 2 * PDCS), PDCS - 1);
    assert!(!legit_write(&mut net, 2, 1_000_000));
}

/// Review S5: `job_pdc_share` (a half by default) halved the target PDC
/// capacity of a server of one job: its PDCs stopped at the share with
/// the rest of the table empty. A job alone may take the whole table.
#[test]
fn a_lone_job_may_take_the_whole_table() {
    let cfg = Config::DEFAULT;
    let mut net = setup(cfg);
    assert_eq!(
        flood(&mut net, 2 * PDCS),
        PDCS,
        "{:?}",
        net.nodes[0].eng.stats
    );
    // Once another job arrives, the lone job's PDCs beyond its share
    // stay (nothing is taken back), and it gets no more while the
    // other job holds one.
    net.run_for(net.now + cfg.reap_after().max(cfg.half_open) + 1_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    assert!(legit_write(&mut net, 1, 1_000_000));
    let share = PDCS * usize::from(cfg.job_pdc_share) / 256;
    let mut a = hog_peer(0);
    a[14] = 2;
    for i in 0..2 * PDCS {
        a[15] = i as u8;
        let pkt = forged_req(1000, 3, None, op::SEND, HOG, true, true, 0, 0, 64, 64);
        let now = net.now;
        let node = &mut net.nodes[0];
        node.eng.receive(now, &a, &pkt, &mut node.env);
        node.env.outbox.clear();
    }
    assert_eq!(job_pdcs(&net, HOG), share);
}

#[test]
fn a_released_pdc_gives_back_its_job_share() {
    // The job's quota follows its PDCs: reaped, they are counted no more.
    let cfg = Config {
        half_open: 1_000_000,
        ..Config::DEFAULT
    };
    let mut net = setup(cfg);
    let share = PDCS * usize::from(cfg.job_pdc_share) / 256;
    assert!(legit_write(&mut net, 1, 1_000_000));
    assert_eq!(flood(&mut net, 2 * PDCS), share);
    // Long enough for the half-open and idle PDCs to go.
    let reap = cfg.reap_after().max(cfg.half_open) + 1_000_000;
    let t = net.now + reap;
    net.run_until(t, |_| false);
    assert_eq!(job_pdcs(&net, HOG), 0, "{:?}", net.nodes[0].eng.stats);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    // Fresh peers of the same job get the whole share again (job JOB
    // holds a PDC again, so the share holds).
    assert!(legit_write(&mut net, 2, 1_000_000));
    for i in 0..2 * PDCS {
        let pkt = forged_req(5000, 2, None, op::SEND, HOG, true, true, 0, 0, 64, 64);
        let now = net.now;
        let node = &mut net.nodes[0];
        let mut a = hog_peer(i);
        a[14] = 1;
        node.eng.receive(now, &a, &pkt, &mut node.env);
        node.env.outbox.clear();
    }
    assert_eq!(job_pdcs(&net, HOG), share);
}
