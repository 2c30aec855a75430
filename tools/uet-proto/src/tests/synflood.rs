// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! A flood of forged SYN+SEND packets from spoofed addresses fills a
//! device's PDC table while a ping-pong runs between it and a legitimate
//! peer (issue 13, `uet_pktfuzz.sh` with `UET_FUZZ_ONLY=syn`): once the
//! flood ends and the forged PDCs are reaped, the ping-pong must go on, or
//! fail with an error completion, within a bound derived from the
//! configuration, never hang.
//!
//! The driver plays the kernel's FEP: an operation the engine refuses for
//! want of a PDC or a message slot (`PostError::NoPdc`, `NoMsg`) is kept
//! and posted again after every event (a packet or a timer), as
//! `dev/fep.rs` retries a blocked endpoint on every pass.

use super::*;
use crate::proto::engine::Engine;
use crate::proto::wire::ses::op;
use crate::sim::tables_pooled;
use std::string::String;

/// JobID of the victim endpoint the forged SENDs address (node 0).
const VICTIM: u32 = 8;

/// The kernel's engine configuration (`dev/fep.rs`: `Config::SOFTWARE`,
/// a 1368-byte payload, 64 KiB eager limit, 64 MiB messages), with the
/// quiet time after start: the test waits it out before the flood, as
/// the devices of `uet_pktfuzz.sh` are up long before.
fn kernel_cfg() -> Config {
    Config {
        mtu: 1368,
        eager_limit: 64 << 10,
        max_msg: 64 << 20,
        ..Config::SOFTWARE
    }
}

/// Two nodes with the kernel's table sizes (`dev/fep.rs` `SIZES`: 1024
/// PDCs, 4096 messages, 4096 receives, 256 send windows) on a wire like
/// two emulated guests (0.15 ms each way, some jitter); node 0 has a
/// victim endpoint of JobID [`VICTIM`] that receives nothing.
fn kernel_net(seed: u64) -> Net {
    let link = Link {
        delay: 150_000,
        jitter: 300_000,
        jitter_fifo: true,
        bandwidth: 1_000_000_000,
        ..Link::CLEAN
    };
    let mut net = net(2, kernel_cfg(), link, seed);
    for n in net.nodes.iter_mut() {
        let c = *n.eng.config();
        *n.eng = Engine::new(c, tables_pooled(1024, 4096, 4096, 256)).unwrap();
    }
    net.nodes[0].env.jobs.insert((VICTIM, 1, 1), 50);
    net
}

/// A forged single-packet SEND that opens a PDC (SYN), SPDCID
/// `spdcid`, to the victim endpoint.
fn forged_syn_send(spdcid: u16) -> Vec<u8> {
    forged_req(
        1000,
        spdcid,
        None,
        op::SEND,
        VICTIM,
        true,
        true,
        0,
        0,
        64,
        64,
    )
}

/// One side's operation the engine refused (kept, posted again later).
#[derive(Clone, Copy)]
struct Blocked {
    src: usize,
    dst: usize,
    size: usize,
    user: u64,
    /// The send buffer (made once: retries post the same one).
    buf: Option<u64>,
}

/// A ping-pong of `rounds` messages of `size` bytes between node 0 (the
/// client: receive posted, ping sent, pong awaited) and node 1 (the
/// server: pong sent once the ping arrived), as `uet_pingpong -c`.
struct PingPong {
    /// This run's number, in its cookies: `kind * 1e9 + run * 1e6 +
    /// round` (kind 1 ping, 2 ping receive, 3 pong receive, 4 pong), so
    /// that what an earlier run left behind is told apart.
    run: u64,
    size: usize,
    rounds: u64,
    round: u64,
    /// Completions of each node already looked at.
    seen: [usize; 2],
    /// Client: ping sent (completed) and pong received in this round.
    ping_done: bool,
    pong_done: bool,
    /// Server: pongs sent (completed) and pings received.
    pongs_done: u64,
    pings: u64,
    blocked: Vec<Blocked>,
    /// Posts refused (retries included).
    refused: u64,
    error: Option<String>,
}

impl PingPong {
    fn new(net: &Net, run: u64, size: usize, rounds: u64) -> Self {
        Self {
            run,
            size,
            rounds,
            round: 0,
            seen: [comps(net, 0).len(), comps(net, 1).len()],
            ping_done: false,
            pong_done: false,
            pongs_done: 0,
            pings: 0,
            blocked: Vec::new(),
            refused: 0,
            error: None,
        }
    }

    fn finished(&self) -> bool {
        self.round >= self.rounds || self.error.is_some()
    }

    /// Posts a send, or keeps it for later if the engine is full.
    fn post(&mut self, net: &mut Net, mut b: Blocked) {
        let node = &mut net.nodes[b.src];
        let buf = *b
            .buf
            .get_or_insert_with(|| node.env.add_buf(pattern(b.user, b.size)));
        let p = Post {
            user: b.user,
            dst: addr(b.dst),
            target: target(1),
            mode: Mode::Rud,
            op: Op::Send { tag: None },
            buf,
            len: b.size as u32,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: b.src as u32,
        };
        match node.eng.post(net.now, &p, &mut node.env) {
            Ok(()) => {}
            Err(PostError::NoPdc | PostError::NoMsg) => {
                self.refused += 1;
                self.blocked.push(b);
            }
            Err(e) => self.error = Some(format!("post {}: {e:?}", b.user)),
        }
    }

    /// Starts round `self.round`: the client's receive for the pong and
    /// its ping; the server's receive for the ping.
    fn cookie(&self, kind: u64, round: u64) -> u64 {
        kind * 1_000_000_000 + self.run * 1_000_000 + round
    }

    fn start_round(&mut self, net: &mut Net) {
        let r = self.round;
        self.ping_done = false;
        self.pong_done = false;
        recv(net, 1, 1, self.size.max(1), self.cookie(2, r), None);
        recv(net, 0, 1, self.size.max(1), self.cookie(3, r), None);
        self.post(
            net,
            Blocked {
                src: 0,
                dst: 1,
                size: self.size,
                user: self.cookie(1, r),
                buf: None,
            },
        );
    }

    /// Looks at new completions and moves on; retries what was refused.
    fn poll(&mut self, net: &mut Net) {
        if self.finished() {
            return;
        }
        for b in std::mem::take(&mut self.blocked) {
            self.post(net, b);
        }
        for node in 0..2 {
            while self.seen[node] < comps(net, node).len() {
                let c = comps(net, node)[self.seen[node]];
                self.seen[node] += 1;
                if c.user / 1_000_000 % 1000 != self.run {
                    // An earlier run's, cancelled at its end.
                    continue;
                }
                if c.status != Status::Ok {
                    self.error = Some(format!("node {node}: {c:?}"));
                    return;
                }
                match (node, c.user / 1_000_000_000) {
                    (0, 1) => self.ping_done = true,
                    (0, 3) => self.pong_done = true,
                    (1, 2) => {
                        self.pings += 1;
                        self.post(
                            net,
                            Blocked {
                                src: 1,
                                dst: 0,
                                size: self.size,
                                user: self.cookie(4, c.user % 1_000_000),
                                buf: None,
                            },
                        );
                    }
                    (1, 4) => self.pongs_done += 1,
                    _ => {}
                }
            }
        }
        if self.ping_done && self.pong_done && self.pongs_done > self.round {
            self.round += 1;
            if self.round < self.rounds {
                self.start_round(net);
            }
        }
    }
}

/// The attacker: forged SYN+SEND packets at node 0 from 16 spoofed
/// addresses, one every `gap` ns from `start` to `end`, each with a new
/// SPDCID (a new PDC).
struct Flood {
    next: u64,
    end: u64,
    gap: u64,
    sent: u64,
}

impl Flood {
    /// Injects the packets due by `now`; the time of the next one.
    fn due(&mut self, net: &mut Net) -> u64 {
        while self.next <= net.now && self.next < self.end {
            // CAST: cycles through 16 addresses and 65536 SPDCIDs.
            let k = self.sent as u16;
            let p = forged_syn_send(k);
            inject_raw(net, 0, attacker((k % 16) as u8), &p);
            self.sent += 1;
            self.next += self.gap;
        }
        if self.next < self.end {
            self.next
        } else {
            u64::MAX
        }
    }
}

/// How a ping-pong run ended.
#[derive(Debug)]
enum End {
    /// Every round done.
    Done,
    /// An error completion (acceptable under attack).
    Failed(#[allow(dead_code)] String),
    /// Neither done nor failed by the time limit.
    Hung(String),
}

/// Runs the flood until `until`, nothing else to do meanwhile.
fn idle(net: &mut Net, flood: &mut Flood, until: u64) {
    while net.now < until {
        let f = flood.due(net);
        if !net.step(until.min(f)) {
            net.now = until.min(f);
        }
    }
}

/// Ping-pong run `run` of `rounds` messages of `size` bytes under
/// `flood`, until time `limit` at most. At its end both endpoints are
/// torn down: whatever the run left (receives, blocked or unanswered
/// sends) is cancelled, as when `uet_pingpong` exits.
fn run(net: &mut Net, run: u64, size: usize, rounds: u64, flood: &mut Flood, limit: u64) -> End {
    let mut pp = PingPong::new(net, run, size, rounds);
    pp.start_round(net);
    let end = loop {
        let f = flood.due(net);
        pp.poll(net);
        if let Some(e) = pp.error.take() {
            break End::Failed(e);
        }
        if pp.finished() {
            break End::Done;
        }
        if net.now >= limit {
            break End::Hung(format!(
                "run {run} (size {size}): round {} of {rounds} at {} ms, {} post(s) \
                 blocked after {} refusals, {} pings, {} pongs; usage node 0 {:?}, \
                 node 1 {:?}; node 0 {:?}; node 1 {:?}",
                pp.round,
                net.now / 1_000_000,
                pp.blocked.len(),
                pp.refused,
                pp.pings,
                pp.pongs_done,
                net.nodes[0].eng.usage(),
                net.nodes[1].eng.usage(),
                net.nodes[0].eng.stats,
                net.nodes[1].eng.stats,
            ));
        }
        if !net.step(limit.min(f)) {
            net.now = limit.min(f);
        }
    };
    let now = net.now;
    for n in net.nodes.iter_mut() {
        n.eng
            .cancel(now, |u| u / 1_000_000 % 1000 == run, &mut n.env);
    }
    end
}

/// What [`flood_scenario`] saw.
struct Outcome {
    runs: usize,
    failed: usize,
    done_after: usize,
    /// Longest run during the flood (ns).
    longest: u64,
    sent: u64,
    stats: crate::proto::engine::Stats,
}

/// A ping-pong between two devices (the kernel's configuration with
/// `syn_pressure` as given) while forged SYNs from 16 addresses flood
/// node 0 for 15 s at 3300 per second, as the guest's `uet_pktfuzz.sh`.
/// Panics if a run hangs, or if a run after the flood's quiet time does
/// not finish as fast as before it.
fn flood_scenario(seed: u64, syn_pressure: u8) -> Outcome {
    let cfg = Config {
        syn_pressure,
        ..kernel_cfg()
    };
    let mut net = kernel_net(seed);
    for n in net.nodes.iter_mut() {
        *n.eng = Engine::new(cfg, tables_pooled(1024, 4096, 4096, 256)).unwrap();
    }
    let mut flood = Flood {
        next: u64::MAX,
        end: 0,
        gap: 1,
        sent: 0,
    };
    // Warm up both engines (their quiet time after start begins), then
    // wait it out: the devices of the guest test are up long before.
    assert!(matches!(
        run(&mut net, 0, 4096, 4, &mut flood, 1_000_000_000),
        End::Done
    ));
    net.run_for(net.now + cfg.quiet_time() + 1_000_000);
    let start = net.now + 100_000_000;
    flood = Flood {
        next: start,
        end: start + 15_000_000_000,
        // 3300 packets per second, about the guest's rate.
        gap: 300_000,
        sent: 0,
    };
    // As the guest test's loop: sizes cycling (one packet, several,
    // rendezvous above the 64 KiB eager limit, empty), a pause between
    // runs (idle PDCs close), runs started until the flood ends.
    let sizes = [(4096, 100), (16384, 40), (100_000, 8), (0, 100)];
    let pause = 300_000_000;
    let limit = flood.end + cfg.reap_after() + cfg.retry_span() + pause;
    let (mut k, mut failed, mut done_after, mut longest) = (1, 0, 0, 0);
    while net.now < flood.end {
        let (size, rounds) = sizes[k % sizes.len()];
        let t = net.now + pause;
        idle(&mut net, &mut flood, t);
        let t0 = net.now;
        let end = run(&mut net, k as u64, size, rounds, &mut flood, limit);
        if t0 < flood.end {
            longest = longest.max(net.now - t0);
        }
        match end {
            End::Done if net.now > flood.end => done_after += 1,
            End::Done => {}
            End::Failed(_) => failed += 1,
            End::Hung(e) => panic!("seed {seed}: hung: {e}"),
        }
        k += 1;
    }
    let out = Outcome {
        runs: k - 1,
        failed,
        done_after,
        longest,
        sent: flood.sent,
        stats: net.nodes[0].eng.stats,
    };
    // Nothing the flood took stays taken: a run after the quiet time
    // finishes as fast as before it.
    let quiet = flood.end + cfg.quiet_time();
    idle(&mut net, &mut flood, quiet);
    let t0 = net.now;
    assert!(matches!(
        run(&mut net, 999, 4096, 20, &mut flood, t0 + 1_000_000_000),
        End::Done
    ));
    let u = net.nodes[0].eng.usage();
    assert!(u.1 == 0, "seed {seed}: node 0 messages left: {u:?}");
    assert!(net.nodes.iter().all(|n| n.eng.pdc_lists_ok()));
    out
}

/// Issue 13: a ping-pong between two devices while forged SYNs from 16
/// addresses keep the flooded device's PDC table full for 15 s. Once the
/// flood ends, the forged PDCs are reaped within `reap_after`; the
/// ping-pong must then finish, or fail with an error completion, within
/// another retry span (plus the pauses between its runs). Before the
/// fix, every post refused `NoPdc` leaked a message slot: after 4096
/// retries the flooded side's posts were refused `NoMsg` for good. Run
/// without the SYN pressure, so that the table does fill up.
#[test]
fn syn_flood_does_not_hang_a_legitimate_transfer() {
    let o = flood_scenario(91, 0);
    std::eprintln!(
        "{} runs, {} failed, {} done after the flood ({} packets); node 0 {:?}",
        o.runs,
        o.failed,
        o.done_after,
        o.sent,
        o.stats
    );
    assert!(
        o.stats.nack_tx > 10_000,
        "the table was full: {:?}",
        o.stats
    );
    assert!(
        o.stats.over_quota > 1000,
        "the table was full: {:?}",
        o.stats
    );
}

/// Issue 13, finding 2: forged SYNs held their target PDCs for
/// `reap_after` (7.51 s), so 230 per second kept the 1024-entry table
/// full and a legitimate new PDC got `NO_PDC_AVAIL` until they were
/// reaped. Without the SYN pressure (`syn_pressure: 0`), on every one of
/// these 12 seeds a ping-pong run stalled for 6.99 s, and 22 runs fitted
/// in the 15 s flood (measured before the JobID share of the PDC table,
/// fc956c3, 7 of 12 seeds ended a run with an error completion; the share
/// keeps this flood from failing one now, not from stalling it). With it, a SYN that finds the table (or its peer's or JobID's
/// share) three quarters full gets the 1-RTT handshake without a PDC,
/// the forgeries, which never echo the offer, hold at most three
/// quarters, and every run of every seed must finish as fast as without
/// a flood (about 120 ms), none failing.
#[test]
fn syn_flood_fails_no_legitimate_transfer() {
    let seeds: Vec<u64> = (0..12).map(|k| 91 + k).collect();
    let outs: Vec<(u64, Outcome)> = std::thread::scope(|s| {
        let hs: Vec<_> = seeds
            .chunks(3)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|&k| (k, flood_scenario(k, 192)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut bad = Vec::new();
    for (seed, o) in &outs {
        std::eprintln!(
            "seed {seed}: {} runs, {} failed, {} done after the flood, longest {} ms \
             ({} packets); {} SYNs offered without a PDC, {} over quota",
            o.runs,
            o.failed,
            o.done_after,
            o.longest / 1_000_000,
            o.sent,
            o.stats.syn_offered,
            o.stats.over_quota
        );
        // Offered while the table (or the JobID's share) was three
        // quarters full. Once the flood has turned the offer ring over,
        // every new PDC uses 1-RTT (an offer pushed out early extends
        // that period, review of 67a39b2, B2), so that the forged SYNs
        // below the pressure hold a half-open PDC for `half_open`, not
        // an open one for `reap_after`, and the table fills less often:
        // about 8450 of the 50000 forged SYNs were offered on each seed.
        assert!(o.stats.syn_offered > 5_000, "seed {seed}: {:?}", o.stats);
        // A run is 100 round trips at most: about 120 ms. Without the
        // pressure the longest took 6.99 s (a new PDC refused until the
        // forged ones were reaped) and 22 runs fitted in the flood
        // instead of 40 or 41.
        if o.failed != 0 || o.longest > 1_000_000_000 || o.runs < 35 {
            bad.push(*seed);
        }
    }
    assert!(
        bad.is_empty(),
        "seeds with a failed or stalled run: {bad:?}"
    );
}

/// Under a nearly full PDC table, a forged SYN takes no PDC: it gets a
/// `NEW_START_PSN` offer (no target PDC id) and the live-PDC count stays
/// as it was; only a SYN that echoes the offer opens a PDC.
#[test]
fn forged_syn_takes_no_pdc_from_a_nearly_full_table() {
    use crate::proto::wire::{parse, pds::nack, pds::PdsHeader};
    let cfg = Config {
        syn_pressure: 192,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 93);
    // 16 PDCs, pressure from 12 on: forged SYNs from 4 addresses (3 each,
    // below three quarters of their share of 4) take 12.
    for k in 0..12u16 {
        let p = forged_req(1000, k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    assert_eq!(net.nodes[0].eng.usage().0, 12);
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 0);
    net.nodes[0].env.outbox.clear();
    // From new addresses, each far below its share: the table decides.
    for k in 0..50u16 {
        let p = forged_req(1000, 100 + k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker(10 + (k % 8) as u8), &p);
        assert_eq!(net.nodes[0].eng.usage().0, 12, "SYN {k}");
    }
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 50);
    let out = std::mem::take(&mut net.nodes[0].env.outbox);
    let offers: Vec<_> = out
        .iter()
        .filter_map(|(_, _, p)| match parse(p).ok()?.pds {
            PdsHeader::Nack(n) if n.code == nack::NEW_START_PSN => Some((n.spdcid, n.payload)),
            _ => None,
        })
        .collect();
    assert_eq!(offers.len(), 50);
    assert!(offers.iter().all(|&(id, _)| id == 0), "no target PDC named");
    // A legitimate write from node 1 goes through the handshake: it
    // takes one of the four PDCs left and completes.
    send(&mut net, 1, 0, 1, Mode::Rud, write_op(), vec![9; 100], 5).unwrap();
    assert!(net.run_until(net.now + 100_000_000, |n| !comps(n, 1).is_empty()));
    assert_eq!(comps(&net, 1)[0].status, Status::Ok);
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 51);
    // The write lands once, on a PDC opened by the echo.
    assert_eq!(net.nodes[0].eng.stats.pdc_open, 13);
}

/// A post the engine refuses for want of a PDC takes nothing: not even
/// the message slot it was given while trying. Before the fix each
/// refusal leaked one (`msg_unalloc` refused the slot as active): with
/// the PDC table full, the 65th post (64 message slots) was refused
/// `NoMsg`, and stayed so after the PDCs were freed.
#[test]
fn post_refused_for_want_of_a_pdc_takes_no_message_slot() {
    // The SYN pressure off, so that forged SYNs can fill the table.
    let cfg = Config {
        syn_pressure: 0,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 92);
    // Forged SYNs from 4 addresses fill node 0's 16 PDCs (4 each, their
    // share), 8 in each of two JobIDs (one JobID may hold half).
    for k in 0..16u16 {
        let job = JOB + u32::from(k / 8);
        let p = forged_req(1000, k, None, op::WRITE, job, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    assert_eq!(net.nodes[0].eng.usage().0, 16);
    let msgs = crate::sim::SIM_TABLES.1;
    for user in 0..2 * msgs as u64 {
        let r = send(&mut net, 0, 1, 1, Mode::Rud, write_op(), vec![1; 100], user);
        assert_eq!(r, Err(PostError::NoPdc), "post {user}");
        assert_eq!(net.nodes[0].eng.usage().1, 0, "post {user}");
    }
    // Once the forged PDCs are reaped, a post goes through and completes.
    net.run_for(net.now + cfg.reap_after() + 1_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    send(&mut net, 0, 1, 1, Mode::Rud, write_op(), vec![2; 100], 7).unwrap();
    assert!(net.run_until(net.now + 1_000_000_000, |n| !comps(n, 0).is_empty()));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    assert_eq!(comps(&net, 0)[0].user, 7);
}

/// A SYN answered with an offer under pressure is never delivered: its
/// initiator sends the message again from the offered PSN. A copy of
/// that first SYN still in the network must not open a PDC of its own
/// once the pressure is over and the PDC the echo opened has closed (it
/// would deliver the message twice): taking the offer leaves a tombstone
/// for the first SYN's start PSN.
#[test]
fn first_syn_of_an_offered_pdc_is_not_delivered_again() {
    let cfg = Config {
        syn_pressure: 192,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 94);
    // Room for the forged PDCs' tombstones next to the legitimate ones
    // (with 16, the reaps push them out early, and the 1-RTT fallback
    // after that covers the copy instead).
    let mut t = crate::sim::tables(16, 64, 64);
    t.tombs = vec![crate::proto::engine::Tomb::EMPTY; 64];
    t.tomb_map = vec![0; 64];
    *net.nodes[0].eng = Engine::new(cfg, t).unwrap();
    net.capture = Some(Vec::new());
    for k in 0..12u16 {
        let p = forged_req(1000, k, None, op::WRITE, JOB, true, true, 0, 0, 8, 8);
        inject_raw(&mut net, 0, attacker((k % 4) as u8), &p);
    }
    let t0 = net.now;
    // The legitimate SEND comes 100 ms later: its tombstone outlives the
    // forged PDCs, which are reaped `reap_after` after t0.
    net.run_for(t0 + 100_000_000);
    recv(&mut net, 0, 1, 4096, 10, None);
    recv(&mut net, 0, 1, 4096, 11, None);
    send(
        &mut net,
        1,
        0,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(4, 100),
        1,
    )
    .unwrap();
    assert!(net.run_until(net.now + 100_000_000, |n| !comps(n, 1).is_empty()));
    assert_eq!(comps(&net, 1)[0].status, Status::Ok);
    assert_eq!(net.nodes[0].eng.stats.syn_offered, 1);
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
    // The forged PDCs reaped, the legitimate one closed: no pressure.
    net.run_for(t0 + cfg.reap_after() + 10_000_000);
    assert_eq!(net.nodes[0].eng.usage().0, 0);
    let stale = net.nodes[0].eng.stats.stale_syn;
    inject_raw(&mut net, 0, addr(1), &first);
    net.run_for(net.now + 10_000_000);
    assert_eq!(
        recv_count(&net, 0),
        1,
        "delivered twice: {:?}",
        comps(&net, 0)
    );
    let st = net.nodes[0].eng.stats;
    assert_eq!(st.stale_syn, stale + 1, "{st:?}");
}
