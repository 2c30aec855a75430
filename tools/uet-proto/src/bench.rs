// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Benchmarks of the engine, printed one figure per line (`engine:
//! name=value`), in sections ([`SECTIONS`]; `uet-bench only rate,events`
//! runs some). Timed figures are the median of [`ROUNDS`] runs.
//!
//! - `rate`: `rud_4k_mpps_per_core` and `msg_64b_mpps_per_core`: RUD
//!   sends of 4 KiB (one 4 KiB segment each at the default MTU) and of 64
//!   bytes from one engine to another on one thread, packets moved
//!   straight between them through a fixed ring (no simulator, no
//!   allocation per packet; the ring copies headers and leaves the payload
//!   in place, as a NIC sends it from the pages it was gathered from; the
//!   engine still gathers each payload into its packet buffer and the
//!   target copies it out; the ring has 256 slots, small enough to stay in
//!   cache as a NIC ring does). Million data packets per second of the
//!   core's time in both engines: each data packet is counted once, after
//!   it went through the initiator (posting, segmentation, headers, ACK
//!   and response processing, completion, timers) and the target
//!   (parsing, matching, copying, ACKing, timers); ACKs and responses are
//!   not counted, their cost is in the time. `_initiator_only` and
//!   `_target_only` divide by one engine's time alone;
//!   `rud_4k_mpps_per_core_copying_tx` copies whole packets into the ring.
//! - `memory`: `bytes_per_pdc`: heap bytes per established PDC, counted by
//!   the allocator of `uet-bench` ([`LIVE_BYTES`]): an engine laid out as
//!   the kernel's (`dev/fep.rs` `SIZES`) with 1024 PDCs established minus
//!   the same engine with room for none, over 1024 (every table that
//!   grows with the PDCs: PDC slot, hash bucket, deadline heap slot,
//!   tombstone, quota entry); `_with_65k_pdcs` the same at the most one
//!   engine holds (`max_pdcs_per_engine`). `bytes_allocated_opening_1k_pdcs`
//!   (establishing allocates nothing), `kernel_engine_bytes` (the whole
//!   engine of a kernel device, 1024 PDCs, messages, receives and 256 send
//!   windows) and its share per PDC, `bytes_per_pdc_slot`
//!   (`size_of::<Pdc>()`), `bytes_per_send_window` (lent to a PDC while it
//!   has packets in flight) and `bytes_per_busy_pdc`.
//! - `events`: `event_ns_with_N_pdcs`, `next_deadline_ns_with_N_pdcs`,
//!   `establish_us_per_pdc_with_N_pdcs`: cost per packet event (receive,
//!   plus the deadline query and any due timers) of an engine that has N
//!   other PDCs established, the cost of `next_deadline` alone, and the
//!   time to open each of those PDCs (one SYN each). Flat is the goal. N
//!   is 10, 1k, 16k and 65k (65533: 100k PDCs do not fit in one engine's
//!   16-bit PDC ids, see [`MAX_PDCS`]).
//! - `incast`: `incast_16_to_1_*`: 16 senders, 64 x 64 KiB each, into one
//!   receiver through a shared 100 Gbit/s port ([`incast`]), with and
//!   without congestion control.
//! - `goodput`: `lossless_fraction_of_line_rate_*`,
//!   `rud_goodput_ratio_at_1pct_loss_*` and
//!   `rod_goodput_ratio_at_1pct_loss_*`: 16 x 1 MiB sends on one PDC
//!   through the simulator at 10, 100 and 400 Gbit/s with 2 and 5 us
//!   one-way delay, Bernoulli loss on every packet both ways; mean of
//!   three seeds (`UET_BENCH_SEEDS` others); ratio to the lossless goodput
//!   of the same mode. `read_goodput_ratio_at_1pct_loss_*`: the same for
//!   16 x 1 MiB RMA READs (RUD), whose data rides in the ACKs;
//!   `write_goodput_ratio_at_1pct_loss_*` for 16 x 1 MiB RMA WRITEs (RUD).
//! - `jitter`: `jitter_{pingpong,stream}_{fifo,spread,tail}_{tx,retx,...}`:
//!   resends, timeouts, probes and RACK losses of both engines over a
//!   slow, jittery and lossless wire ([`Wire`]: RTTs of 0.3-3 ms, as
//!   between two guests under TCG emulation), for 1000 ping-pongs of 4 KiB
//!   and a stream of 16 x 256 KiB writes, with the kernel's configuration:
//!   every resend there is unnecessary.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use std::vec::Vec;
use std::{format, print, println, vec};

use crate::proto::engine::{Config, MAX_HDR, PKT_BUF};
use crate::proto::ses::{Addr, AtomicOp, CompKind, Completion, Env, Mode, Op, Post};
use crate::proto::wire::ses::{rc, SesAddr};
use crate::sim::{addr, Link, Net, SimEngine};

const TARGET: SesAddr = SesAddr {
    ri_gen: 0,
    job: 7,
    pid: 1,
    ri: 1,
};

fn setup(net: &mut Net) {
    for n in net.nodes.iter_mut() {
        n.env.jobs.insert((7, 1, 1), 1);
    }
}

/// An environment that never allocates per packet: sent packets go to a
/// fixed ring of buffers, memory accesses copy from and to one buffer.
struct BenchEnv {
    ring: Vec<Vec<u8>>,
    /// Copy whole packets into the ring (a transmit that copies).
    copy_all: bool,
    full: Vec<bool>,
    lens: Vec<usize>,
    head: usize,
    len: usize,
    comps: u64,
    data: Vec<u8>,
}

impl BenchEnv {
    fn new(copy_all: bool) -> Self {
        Self {
            copy_all,
            ring: (0..256).map(|_| vec![0u8; PKT_BUF]).collect(),
            full: vec![false; 256],
            lens: vec![0; 256],
            head: 0,
            len: 0,
            comps: 0,
            data: vec![0x5a; 1 << 16],
        }
    }

    fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let k = self.head;
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
        Some(k)
    }
}

impl Env for BenchEnv {
    fn transmit(&mut self, _dst: &Addr, _entropy: u16, pkt: &[u8]) {
        assert!(self.len < self.ring.len(), "bench ring full");
        let k = (self.head + self.len) % self.ring.len();
        // As a NIC sends the payload from the pages it was gathered from
        // (page fragments), the ring takes the headers only once it has
        // seen a full packet: every payload is the same buffer here.
        let n = if self.full[k] && !self.copy_all {
            pkt.len().min(MAX_HDR)
        } else {
            pkt.len()
        };
        self.ring[k][..n].copy_from_slice(&pkt[..n]);
        self.full[k] = true;
        self.lens[k] = pkt.len();
        self.len += 1;
    }
    fn complete(&mut self, _c: &Completion) {
        self.comps += 1;
    }
    fn read_local(&mut self, _buf: u64, _offset: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.data[..out.len()]);
    }
    fn write_local(&mut self, _buf: u64, _offset: u64, data: &[u8]) {
        self.data[..data.len()].copy_from_slice(data);
    }
    fn resolve(&mut self, _src: &Addr, _a: &SesAddr) -> Result<u32, u8> {
        Ok(1)
    }
    fn rma_write(&mut self, _ep: u32, _key: u64, _offset: u64, data: &[u8]) -> Result<(), u8> {
        self.data[..data.len()].copy_from_slice(data);
        Ok(())
    }
    fn rma_read(&mut self, _ep: u32, _key: u64, _offset: u64, out: &mut [u8]) -> Result<(), u8> {
        out.copy_from_slice(&self.data[..out.len()]);
        Ok(())
    }
    fn rma_atomic(
        &mut self,
        _ep: u32,
        _key: u64,
        _offset: u64,
        _op: AtomicOp,
        _operand: u64,
        _compare: u64,
    ) -> Result<u64, u8> {
        Err(rc::UNSUPPORTED_OP)
    }
    fn overflow_alloc(&mut self, _slot: u16, _len: u32) -> Option<u64> {
        None
    }
    fn overflow_free(&mut self, _buf: u64) {}
    fn overflow_drain(&mut self, _from: u64, _to: u64, _len: u32) {}
}

/// Packet rates of one core driving an initiator and a target engine
/// back to back (see [`rate`]).
struct Rate {
    /// Million data packets per second of the initiator's time alone.
    initiator: f64,
    /// Million data packets per second of the target's time alone.
    target: f64,
    /// Million data packets per second of both engines' time: what one
    /// core that runs both ends moves.
    both: f64,
}

/// RUD sends of `len` bytes (one packet each: `len` is at most the MTU)
/// from engine A to engine B on one thread, packets moved straight
/// between them (no simulator, no allocation per packet), up to 48
/// messages in flight.
///
/// What is counted: data packets, each once, when its send completed at
/// A; ACKs and SES responses are not counted, their cost is in the time.
/// A's time is its posting, segmentation, header building, ACK and
/// response processing, completions and timers; B's time is parsing,
/// matching, copying out, ACKing and timers. The receives B needs are
/// posted outside the timed sections (the application's work).
fn rate(len: u32, total: u64, copy_all: bool) -> Rate {
    let cfg = Config {
        quiet_start: false,
        ..Config::DEFAULT
    };
    assert!(len <= cfg.mtu, "one packet per message");
    let mut a = crate::sim::new_engine(Config { seed: 3, ..cfg });
    let mut b = crate::sim::new_engine(Config { seed: 5, ..cfg });
    let (mut ea, mut eb) = (BenchEnv::new(copy_all), BenchEnv::new(copy_all));
    let (aa, ab) = (addr(0), addr(1));
    let (mut ta, mut tb) = (0f64, 0f64);
    let mut posted = 0u64;
    let mut now = 1u64;
    while ea.comps < total {
        let t = Instant::now();
        while posted < total && posted - ea.comps < 48 {
            let p = Post {
                user: posted,
                dst: ab,
                target: TARGET,
                mode: Mode::Rud,
                op: Op::Send { tag: None },
                buf: 0,
                len,
                hdr_data: 0,
                with_data: false,
                tc: 0,
                initiator: 0,
            };
            a.post(now, &p, &mut ea).unwrap();
            posted += 1;
        }
        ta += t.elapsed().as_secs_f64();
        // Receives are the application's work, not the engine's.
        while b.usage().2 < 48 {
            b.post_recv(1, 0, 0, len, None, &mut eb).unwrap();
        }
        now += 1_000;
        let t = Instant::now();
        while let Some(k) = ea.pop() {
            let n = ea.lens[k];
            b.receive(now, &aa, &ea.ring[k][..n], &mut eb);
        }
        if b.next_deadline().is_some_and(|d| d <= now) {
            b.on_timer(now, &mut eb);
        }
        tb += t.elapsed().as_secs_f64();
        let t = Instant::now();
        while let Some(k) = eb.pop() {
            let n = eb.lens[k];
            a.receive(now, &ab, &eb.ring[k][..n], &mut ea);
        }
        if a.next_deadline().is_some_and(|d| d <= now) {
            a.on_timer(now, &mut ea);
        }
        ta += t.elapsed().as_secs_f64();
    }
    assert_eq!(eb.comps, total, "every message received");
    let n = total as f64 / 1e6;
    Rate {
        initiator: n / ta,
        target: n / tb,
        both: n / (ta + tb),
    }
}

/// [`rate`] of 200000 messages, median of [`ROUNDS`] runs (each figure
/// on its own).
fn median_rate(len: u32, copy_all: bool) -> Rate {
    let runs: Vec<Rate> = (0..ROUNDS).map(|_| rate(len, 200_000, copy_all)).collect();
    let m = |f: fn(&Rate) -> f64| median(runs.iter().map(f).collect());
    Rate {
        initiator: m(|r| r.initiator),
        target: m(|r| r.target),
        both: m(|r| r.both),
    }
}

/// What a goodput run moves: 1 MiB sends, RMA WRITEs or RMA READs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    Send,
    Write,
    Read,
}

/// Simulated goodput in Gbit/s of `count` 1 MiB operations of kind `work`
/// on one PDC over a link of `bw` bit/s and `delay` ns each way, with
/// Bernoulli loss `loss` on every packet in both directions (a READ's
/// data flows from the target to the initiator, in the ACKs of its
/// requests).
pub(crate) fn goodput_of(
    work: Work,
    bw: u64,
    delay: u64,
    loss: f64,
    mode: Mode,
    count: u64,
    seed: u64,
) -> f64 {
    let link = Link {
        loss,
        delay,
        bandwidth: bw,
        ..Link::CLEAN
    };
    let cfg = Config {
        rto_min: 50_000,
        rto_init: 200_000,
        quiet_start: false,
        // As NSCC is configured: the fabric's base RTT (two hops and a
        // packet's serialization). The line rate is left unknown: the
        // initial window is `cc_init_window` (see ultraeth-engine.rst).
        cc_base_rtt: 2 * delay + 4300 * 8 * 1_000_000_000 / bw,
        // Eager 1 MiB sends, as the figures in ultraeth-engine.rst were
        // taken (rendezvous adds the READs' round trips).
        eager_limit: 1 << 20,
        ..Config::DEFAULT
    };
    let mut net = Net::new(2, cfg, link, seed);
    setup(&mut net);
    let len = 1u32 << 20;
    net.nodes[1].env.regions.insert(
        (1, RMA_KEY),
        crate::sim::Region {
            data: vec![0x5a; len as usize],
            writable: true,
            readable: true,
        },
    );
    let src = net.nodes[0].env.add_buf(vec![0xcd; len as usize]);
    for i in 0..count {
        let op = match work {
            Work::Send => {
                let dst = net.nodes[1].env.add_buf(vec![0; len as usize]);
                let n = &mut net.nodes[1];
                n.eng.post_recv(1, i, dst, len, None, &mut n.env).unwrap();
                Op::Send { tag: None }
            }
            Work::Write => Op::Write {
                key: RMA_KEY,
                offset: 0,
            },
            Work::Read => Op::Read {
                key: RMA_KEY,
                offset: 0,
            },
        };
        let node = &mut net.nodes[0];
        let p = Post {
            user: i,
            dst: addr(1),
            target: TARGET,
            mode,
            op,
            buf: src,
            len,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: 0,
        };
        node.eng.post(0, &p, &mut node.env).unwrap();
    }
    let ok = net.run_until(100_000_000_000, |n| {
        let (node, kind) = match work {
            Work::Send => (1, CompKind::Recv),
            Work::Write => (0, CompKind::Write),
            Work::Read => (0, CompKind::Read),
        };
        n.nodes[node]
            .env
            .completions
            .iter()
            .filter(|c| c.kind == kind)
            .count() as u64
            == count
    });
    assert!(ok, "goodput run did not finish");
    (count * u64::from(len) * 8) as f64 / net.now as f64
}

/// The memory key of the target's 1 MiB region in [`goodput_of`].
const RMA_KEY: u64 = 0x40;

/// Mean over three seeds (`UET_BENCH_SEEDS` others: single runs are
/// chaotic, one event more or less moves a run by several percent).
fn goodput3(bw: u64, delay: u64, loss: f64, mode: Mode) -> f64 {
    goodput3_of(Work::Send, bw, delay, loss, mode)
}

/// [`goodput3`] of operations of kind `work`.
fn goodput3_of(work: Work, bw: u64, delay: u64, loss: f64, mode: Mode) -> f64 {
    let n = std::env::var("UET_BENCH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3u64)
        .max(1);
    (1..=n)
        .map(|s| goodput_of(work, bw, delay, loss, mode, 16, s))
        .sum::<f64>()
        / n as f64
}

/// Result of an incast run.
pub(crate) struct Incast {
    /// Goodput into the receiver, Gbit/s.
    pub(crate) gbps: f64,
    /// Smallest over largest per-sender share, counted when half of all
    /// messages arrived.
    pub(crate) fairness: f64,
    /// Largest queue in the receiver's port (bytes).
    pub(crate) max_queue: u64,
    /// Mean queue (bytes) sampled at every step after the first RTTs.
    pub(crate) mean_queue: u64,
    /// Packets dropped by the full port.
    pub(crate) drops: u64,
}

/// `n` senders each send `msgs` messages of 64 KiB to one receiver
/// through a shared 100 Gbit/s egress port (ECN marking above 120 KB,
/// 4 MB of buffer); every link is 100 Gbit/s with 2 us delay.
pub(crate) fn incast(n: usize, msgs: u64, seed: u64, cc: bool) -> Incast {
    use crate::sim::Port;
    let bw = 100_000_000_000u64;
    let link = Link {
        delay: 2_000,
        bandwidth: bw,
        ..Link::CLEAN
    };
    let cfg = Config {
        quiet_start: false,
        cc,
        // Two 2 us hops and a packet's serialization each way.
        cc_base_rtt: 4_700,
        cc_line_rate: bw,
        ..Config::DEFAULT
    };
    let mut net = Net::new(n + 1, cfg, link, seed);
    net.port = Some(Port {
        bandwidth: bw,
        ecn_k: 120_000,
        max_q: 4_000_000,
    });
    setup(&mut net);
    let c0 = *net.nodes[0].eng.config();
    *net.nodes[0].eng = crate::proto::engine::Engine::new(
        c0,
        crate::sim::tables(2 * n + 16, 64, (n * msgs as usize).max(64) * 2),
    )
    .unwrap();
    let len = 64u32 << 10;
    for s in 1..=n {
        let src = net.nodes[s].env.add_buf(vec![s as u8; len as usize]);
        for i in 0..msgs {
            let dst = net.nodes[0].env.add_buf(vec![0; len as usize]);
            let r = &mut net.nodes[0];
            r.eng.post_recv(1, i, dst, len, None, &mut r.env).unwrap();
            let node = &mut net.nodes[s];
            let p = Post {
                user: i,
                dst: addr(0),
                target: TARGET,
                mode: Mode::Rud,
                op: Op::Send { tag: None },
                buf: src,
                len,
                hdr_data: s as u64,
                with_data: true,
                tc: 0,
                initiator: 0,
            };
            node.eng.post(0, &p, &mut node.env).unwrap();
        }
    }
    let total = n as u64 * msgs;
    let mut first: Option<Vec<u64>> = None;
    let (mut qsum, mut qn) = (0u128, 0u64);
    let count = |net: &Net| {
        let mut v = vec![0u64; n + 1];
        for c in net.nodes[0].env.completions.iter() {
            v[c.hdr_data as usize] += 1;
        }
        v
    };
    while (net.nodes[0].env.completions.len() as u64) < total {
        if !net.step(10_000_000_000) {
            break;
        }
        if net.now > 20_000 {
            qsum += u128::from(net.port_queue(0));
            qn += 1;
        }
        // Shares are compared when half of all messages arrived (the
        // start-up transient is over, every sender is still sending).
        if first.is_none() && net.nodes[0].env.completions.len() as u64 >= total / 2 {
            first = Some(count(&net));
            if std::env::var("INCAST_DEBUG").is_ok() {
                for s in 1..=n {
                    let e = &net.nodes[s].eng;
                    let d = format!("{:?}", e.pdcs()[e.first_pdc_slot()]);
                    let f = |k: &str| {
                        let i = d.find(k).unwrap();
                        std::string::String::from(d[i..].split(',').next().unwrap())
                    };
                    println!(
                        "{s}: {} {} {} {} {}",
                        f("cwnd:"),
                        f("base_rtt:"),
                        f("cc_alpha:"),
                        f("inflight:"),
                        f("srtt:")
                    );
                }
            }
        }
    }
    let got = first.unwrap_or_else(|| count(&net));
    if std::env::var("INCAST_DEBUG").is_ok() {
        println!("per sender at half: {:?}", &got[1..]);
        for s in 1..=n {
            let st = net.nodes[s].eng.stats;
            println!(
                "  {s}: rto {} tlp {} rack {} retx {} spurious {} nack {}",
                st.rto, st.tlp, st.fast_retx, st.retx, st.spurious_retx, st.nack_retx
            );
        }
        println!("time {} ns", net.now);
    }
    let (lo, hi) = got[1..]
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    Incast {
        gbps: (total * u64::from(len) * 8) as f64 / net.now as f64,
        fairness: lo as f64 / hi.max(1) as f64,
        max_queue: net.max_queue,
        mean_queue: (qsum / u128::from(qn.max(1))) as u64,
        drops: net.port_drops,
    }
}

/// Opens `n` target PDCs on `eng` from as many peers (10.x.y.z, outside
/// the simulator's node range), one SYN each (a one-byte RMA write to key
/// 0x10 of endpoint 1); `drain` empties `env` after each packet.
fn open_pdcs<E: Env>(eng: &mut SimEngine, env: &mut E, n: usize, mut drain: impl FnMut(&mut E)) {
    use crate::proto::wire::pds::{PdcDst, PdsHeader, ReqHdr};
    use crate::proto::wire::ses::{op, sflags, ReqBody, ReqExt, SesHeader, SesReq, StdData};
    use crate::proto::wire::{emit_headers, NextHeader};
    let h = PdsHeader::Req(ReqHdr {
        ordered: false,
        cc: None,
        next: NextHeader::ReqStd,
        retx: false,
        ar: true,
        clear_psn_offset: 0,
        psn: 1000,
        spdcid: 1,
        dst: PdcDst::Syn {
            use_rsv_pdc: false,
            psn_offset: 0,
        },
    });
    let ses = SesHeader::Req(SesReq {
        opcode: op::WRITE,
        flags: sflags::SOM | sflags::EOM,
        addr: TARGET,
        body: ReqBody::Std {
            msg_id: 0,
            buffer_offset: 0,
            initiator: 0,
            key: 0x10,
            data: StdData::HeaderData(0),
            request_length: 1,
        },
        ext: ReqExt::None,
    });
    let mut pkt = [0u8; 256];
    let len = emit_headers(&h, Some(&ses), &mut pkt).unwrap();
    pkt[len] = 1;
    for i in 0..n {
        let mut a = addr(0);
        a[13] = 1 + (i >> 8) as u8;
        a[14] = (i >> 16) as u8;
        a[15] = i as u8;
        eng.receive(0, &a, &pkt[..len + 1], env);
        drain(env);
    }
}

/// Largest number of PDCs one engine holds: PDC ids are 16 bits on the
/// wire (UET's SPDCID/DPDCID) and in the engine's tables, which keep
/// 0xffff for "none" ([`Engine::new`] refuses a PDC table of 65535 or
/// more; sharding splits the same 16-bit space between the shards).
const MAX_PDCS: usize = 65_534;

/// Per-event cost of engine A with `idle` other PDCs open: returns (ns per
/// packet handled by A on a 4 KiB RUD write flow from B, including the
/// `next_deadline` call after each, ns per `next_deadline` call, us to
/// establish each idle PDC). A's tables hold `idle` + 16 PDCs (at most
/// [`MAX_PDCS`]) and, as the kernel's, 256 send windows.
fn event_cost(idle: usize) -> (f64, f64, f64) {
    use crate::proto::engine::Engine;
    use crate::sim::{tables_pooled, Region};
    let cfg = Config {
        idle_close: u64::MAX / 4,
        reap: u64::MAX / 4,
        half_open: u64::MAX / 4,
        // Every SYN establishes its PDC at once (0-RTT).
        quiet_start: false,
        // The idle PDCs are all of one JobID (from as many peers): no
        // per-JobID limit, so that they fill the table.
        job_pdc_share: 0,
        // Their SYNs fill the table beyond the SYN pressure's level,
        // and the bench answers no offer: every SYN opens its PDC.
        syn_pressure: 0,
        ..Config::DEFAULT
    };
    let mut net = Net::new(2, cfg, Link::CLEAN, 1);
    setup(&mut net);
    *net.nodes[0].eng = Engine::new(
        Config { seed: 11, ..cfg },
        tables_pooled((idle + 16).min(MAX_PDCS), 256, 256, 256),
    )
    .unwrap();
    net.nodes[0].env.regions.insert(
        (1, 0x10),
        Region {
            data: vec![0; 1 << 20],
            writable: true,
            readable: true,
        },
    );
    let t0 = Instant::now();
    let node = &mut net.nodes[0];
    open_pdcs(&mut node.eng, &mut node.env, idle, |e| e.outbox.clear());
    let est = t0.elapsed().as_secs_f64() * 1e6 / idle.max(1) as f64;
    let open = net.nodes[0]
        .eng
        .pdcs()
        .iter()
        .filter(|p| p.state() == crate::proto::engine::PdcState::Open)
        .count();
    assert_eq!(
        open,
        idle,
        "{:?} {:?}",
        net.nodes[0].eng.usage(),
        net.nodes[0].eng.stats
    );
    // next_deadline alone.
    let reps = 1_000_000u32;
    let t = Instant::now();
    let mut sink = 0u64;
    for _ in 0..reps {
        let e = std::hint::black_box(&net.nodes[0].eng);
        sink = sink.wrapping_add(e.next_deadline().unwrap_or(0));
    }
    let nd = t.elapsed().as_secs_f64() * 1e9 / f64::from(reps);
    assert!(sink > 0);
    // A 4 KiB write flow from B to A: time only A's work, in ROUNDS
    // rounds of 20000 writes (one packet each), the median round counts.
    let src = net.nodes[1].env.add_buf(vec![0xab; 4096]);
    let total = 20_000u64;
    let mut now = 1u64;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let done = net.nodes[1].env.completions.len() as u64;
        let mut posted = 0u64;
        let mut handled = 0u64;
        let mut a_time = 0f64;
        while (net.nodes[1].env.completions.len() as u64) - done < total {
            while posted < total && posted - (net.nodes[1].env.completions.len() as u64 - done) < 32
            {
                let node = &mut net.nodes[1];
                let p = Post {
                    user: posted,
                    dst: addr(0),
                    target: TARGET,
                    mode: Mode::Rud,
                    op: Op::Write {
                        key: 0x10,
                        offset: 0,
                    },
                    buf: src,
                    len: 4096,
                    hdr_data: 0,
                    with_data: false,
                    tc: 0,
                    initiator: 0,
                };
                node.eng.post(now, &p, &mut node.env).unwrap();
                posted += 1;
            }
            now += 1_000;
            let out: Vec<_> = std::mem::take(&mut net.nodes[1].env.outbox);
            let t = Instant::now();
            for (_, _, p) in &out {
                let n = &mut net.nodes[0];
                n.eng.receive(now, &addr(1), p, &mut n.env);
                if n.eng.next_deadline().is_some_and(|d| d <= now) {
                    n.eng.on_timer(now, &mut n.env);
                }
            }
            a_time += t.elapsed().as_secs_f64();
            handled += out.len() as u64;
            let back: Vec<_> = std::mem::take(&mut net.nodes[0].env.outbox);
            for (_, _, p) in &back {
                let n = &mut net.nodes[1];
                n.eng.receive(now, &addr(0), p, &mut n.env);
            }
            let n = &mut net.nodes[1];
            if n.eng.next_deadline().is_some_and(|d| d <= now) {
                n.eng.on_timer(now, &mut n.env);
            }
        }
        rounds.push(a_time * 1e9 / handled as f64);
    }
    (median(rounds), nd, est)
}

/// Rounds of each timed figure; the median one is printed (the build
/// machine is shared: single rounds move with its load).
const ROUNDS: usize = 5;

/// The median of `v` (the upper one of an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Link models of a slow, jittery and lossless wire (two guests under
/// TCG emulation over a veth): 0.15 ms each way plus up to 1.35 ms of
/// jitter each way, RTTs of 0.3-3 ms; 10 Gbit/s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Uniform jitter, packets kept in order per direction.
    Fifo,
    /// Uniform jitter drawn per packet: packets overtake each other.
    Spread,
    /// Heavy-tailed (Pareto) jitter drawn per packet.
    Tail,
}

impl Wire {
    /// All the models, with their figure names.
    pub const ALL: [(Self, &'static str); 3] = [
        (Self::Fifo, "fifo"),
        (Self::Spread, "spread"),
        (Self::Tail, "tail"),
    ];

    pub(crate) fn link(self) -> Link {
        Link {
            delay: 150_000,
            jitter: 1_350_000,
            jitter_fifo: self == Self::Fifo,
            jitter_tail: self == Self::Tail,
            bandwidth: 10_000_000_000,
            ..Link::CLEAN
        }
    }
}

/// Counters of a run over a lossless wire (both engines added up): every
/// retransmission is unnecessary there.
#[derive(Clone, Copy, Debug, Default)]
pub struct Jittery {
    /// Request packets transmitted, first copies and resends.
    pub tx: u64,
    /// Resends (`stats.retx`), all unnecessary: nothing is lost.
    pub retx: u64,
    /// Resends the engines found spurious (`stats.spurious_retx`).
    pub spurious: u64,
    /// Retransmission timeouts, tail-loss probes and RACK losses.
    pub rto: u64,
    pub tlp: u64,
    pub fast: u64,
    /// Simulated time to finish (ms).
    pub ms: f64,
}

/// The kernel's engine configuration (`Config::SOFTWARE`, as
/// `dev/fep.rs` uses it) at a 1400-byte payload MTU (a 1500-byte veth); PDCs open
/// with 0-RTT (no quiet time), so that every resend counted is one of
/// loss recovery.
fn kernel_cfg() -> Config {
    Config {
        mtu: 1400,
        quiet_start: false,
        ..Config::SOFTWARE
    }
}

fn jittery(net: &Net) -> Jittery {
    let mut j = Jittery {
        ms: net.now as f64 / 1e6,
        ..Jittery::default()
    };
    for n in &net.nodes {
        let s = n.eng.stats;
        j.tx += s.tx - s.ack_tx - s.nack_tx;
        j.retx += s.retx;
        j.spurious += s.spurious_retx;
        j.rto += s.rto;
        j.tlp += s.tlp;
        j.fast += s.fast_retx;
    }
    j
}

/// `rounds` ping-pongs of 4 KiB sends (three packets each) between two
/// nodes over `wire`.
pub fn pingpong(wire: Wire, rounds: u64, seed: u64) -> Jittery {
    pingpong_dbg(wire, rounds, seed, false)
}

/// [`pingpong`], printing every timeout, probe and RACK loss with `debug`.
pub fn pingpong_dbg(wire: Wire, rounds: u64, seed: u64, debug: bool) -> Jittery {
    let mut net = Net::new(2, kernel_cfg(), wire.link(), seed);
    setup(&mut net);
    let len = 4096u32;
    let bufs: Vec<u64> = (0..2)
        .map(|i| net.nodes[i].env.add_buf(vec![i as u8; len as usize]))
        .collect();
    let mut user = 0u64;
    let post_recv = |net: &mut Net, i: usize, user: &mut u64| {
        *user += 1;
        let n = &mut net.nodes[i];
        let b = n.env.add_buf(vec![0; len as usize]);
        n.eng.post_recv(1, *user, b, len, None, &mut n.env).unwrap();
    };
    let send = |net: &mut Net, i: usize, user: u64| {
        let now = net.now;
        let n = &mut net.nodes[i];
        let p = Post {
            user,
            dst: addr(1 - i),
            target: TARGET,
            mode: Mode::Rud,
            op: Op::Send { tag: None },
            buf: bufs[i],
            len,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: 0,
        };
        n.eng.post(now, &p, &mut n.env).unwrap();
    };
    post_recv(&mut net, 0, &mut user);
    post_recv(&mut net, 1, &mut user);
    send(&mut net, 0, 0);
    let mut seen = [0usize; 2];
    let mut done = 0;
    while done < rounds {
        let before: Vec<_> = net.nodes.iter().map(|n| n.eng.stats).collect();
        let ok = net.run_until(net.now + 10_000_000_000, |net| {
            (0..2).any(|i| net.nodes[i].env.completions.len() > seen[i])
        });
        if debug {
            for (i, n) in net.nodes.iter().enumerate() {
                let (s, b) = (n.eng.stats, before[i]);
                if (s.rto, s.tlp, s.fast_retx, s.spurious_retx)
                    != (b.rto, b.tlp, b.fast_retx, b.spurious_retx)
                {
                    let d = n.eng.pdcs().iter().find(|d| d.srtt() > 0);
                    println!(
                        "{} node {i}: rto {} tlp {} rack {} spurious {}; srtt {:?} rttvar/rto/reo {:?}",
                        net.now,
                        s.rto - b.rto,
                        s.tlp - b.tlp,
                        s.fast_retx - b.fast_retx,
                        s.spurious_retx - b.spurious_retx,
                        d.map(|d| d.srtt()),
                        d.map(|d| d.rtt_state())
                    );
                }
            }
        }
        assert!(ok, "ping-pong stalled after {done} rounds");
        for (i, seen) in seen.iter_mut().enumerate() {
            while *seen < net.nodes[i].env.completions.len() {
                let c = net.nodes[i].env.completions[*seen];
                *seen += 1;
                if c.kind != CompKind::Recv {
                    continue;
                }
                post_recv(&mut net, i, &mut user);
                if i == 0 {
                    done += 1;
                    if done == rounds {
                        break;
                    }
                }
                send(&mut net, i, user);
            }
        }
    }
    jittery(&net)
}

/// `count` RMA writes of 256 KiB (188 packets each), posted at once, from
/// one node to another over `wire`.
pub fn stream(wire: Wire, count: u64, seed: u64) -> Jittery {
    let mut net = Net::new(2, kernel_cfg(), wire.link(), seed);
    setup(&mut net);
    let len = 256u32 << 10;
    net.nodes[1].env.regions.insert(
        (1, 0x10),
        crate::sim::Region {
            data: vec![0; len as usize],
            writable: true,
            readable: true,
        },
    );
    let src = net.nodes[0].env.add_buf(vec![7; len as usize]);
    for i in 0..count {
        let n = &mut net.nodes[0];
        let p = Post {
            user: i,
            dst: addr(1),
            target: TARGET,
            mode: Mode::Rud,
            op: Op::Write {
                key: 0x10,
                offset: 0,
            },
            buf: src,
            len,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: 0,
        };
        n.eng.post(0, &p, &mut n.env).unwrap();
    }
    let ok = net.run_until(100_000_000_000, |n| {
        n.nodes[0].env.completions.len() as u64 == count
    });
    assert!(ok, "stream did not finish");
    assert!(net.nodes[0]
        .env
        .completions
        .iter()
        .all(|c| c.status == crate::proto::ses::Status::Ok));
    jittery(&net)
}

/// Prints the jittery-wire figures.
pub fn print_jitter() {
    for (w, name) in Wire::ALL {
        for (kind, j) in [
            ("pingpong", pingpong(w, 1000, 1)),
            ("stream", stream(w, 16, 1)),
        ] {
            let tag = format!("jitter_{kind}_{name}");
            fig(&format!("{tag}_tx"), j.tx);
            fig(&format!("{tag}_retx"), j.retx);
            fig(&format!("{tag}_spurious"), j.spurious);
            fig(&format!("{tag}_rto"), j.rto);
            fig(&format!("{tag}_tlp"), j.tlp);
            fig(&format!("{tag}_rack"), j.fast);
            fig(&format!("{tag}_ms"), format!("{:.0}", j.ms));
        }
    }
}

/// Prints one figure: `engine: name=value`.
fn fig(name: &str, value: impl core::fmt::Display) {
    println!("engine: {name}={value}");
}

/// Live heap bytes of the process, kept by the counting global allocator
/// of the `uet-bench` binary (0 without it: the memory figures need it).
pub static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The kernel's engine tables (`dev/engine.rs` `new_engine` with
/// `dev/fep.rs` `SIZES`: 4096 messages, 4096 receives, inbound and
/// unexpected messages, 256 send windows, no ROD reorder buffer, 256 UUD
/// fingerprints) with `pdcs` PDC slots (the kernel's `MAX_PDC` is 1024).
fn kernel_tables(pdcs: usize) -> crate::proto::engine::Tables<crate::sim::VecSlab> {
    use crate::proto::engine::{Held, InMsg, Msg, Pdc, Quota, Recv, Tables, Tomb, TxDesc, Unexp};
    use crate::sim::VecSlab;
    let (msgs, recvs, windows) = (4096, 4096, 256);
    let b = Tables::<VecSlab>::buckets;
    let quotas = (pdcs + 4 * recvs).min(65_534);
    Tables {
        pdcs: vec![Pdc::EMPTY; pdcs],
        msgs: vec![Msg::EMPTY; msgs],
        recvs: vec![Recv::EMPTY; recvs],
        inb: vec![InMsg::EMPTY; recvs],
        unexp: vec![Unexp::EMPTY; recvs],
        buf: vec![0; PKT_BUF],
        pdc_map: vec![0; b(pdcs)],
        msg_map: vec![0; b(msgs)],
        inb_map: vec![0; b(recvs)],
        heap: vec![0; pdcs + msgs + recvs],
        quotas: vec![Quota::EMPTY; quotas],
        quota_map: vec![0; b(quotas)],
        tombs: vec![Tomb::EMPTY; pdcs],
        tomb_map: vec![0; b(pdcs)],
        txq: vec![TxDesc::EMPTY; windows * crate::proto::engine::MAX_TX_WINDOW as usize],
        recv_map: vec![0; b(recvs)],
        unexp_map: vec![0; b(recvs)],
        held: Vec::<Held>::new(),
        held_buf: Vec::new(),
        uud_seen: vec![0; 256],
    }
}

/// Heap bytes (counted by the allocator) of an engine laid out as the
/// kernel's ([`kernel_tables`]) with `pdcs` PDC slots, boxed as the kernel
/// boxes it, after `open` target PDCs were established on it (one SYN
/// each, see [`open_pdcs`]): (bytes after building it, bytes after
/// opening the PDCs). Every table is counted: PDCs, hash buckets, deadline
/// heap, tombstones, quotas, messages, receives, send windows.
fn engine_bytes(pdcs: usize, open: usize) -> (usize, usize) {
    use crate::proto::engine::{Engine, PdcState};
    let mut env = BenchEnv::new(false);
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    // Without the quiet time a SYN establishes its PDC at once (0-RTT).
    // The PDCs are all of one JobID: no per-JobID limit, so that they
    // fill the table.
    let cfg = Config {
        quiet_start: false,
        job_pdc_share: 0,
        // Every SYN opens its PDC (the bench answers no offer).
        syn_pressure: 0,
        ..Config::DEFAULT
    };
    let mut eng = std::boxed::Box::new(Engine::new(cfg, kernel_tables(pdcs)).unwrap());
    let built = LIVE_BYTES.load(Ordering::Relaxed);
    open_pdcs(&mut eng, &mut env, open, |e| while e.pop().is_some() {});
    let opened = LIVE_BYTES.load(Ordering::Relaxed);
    let est = eng
        .pdcs()
        .iter()
        .filter(|p| p.state() == PdcState::Open)
        .count();
    assert_eq!(est, open, "{:?}", eng.stats);
    drop(eng);
    (built - before, opened - before)
}

/// Memory figures: bytes per established PDC, measured by the counting
/// allocator as (bytes of an engine with N PDCs established) - (bytes of
/// the same engine with room for no PDC), divided by N.
fn print_memory() {
    let probe = LIVE_BYTES.load(Ordering::Relaxed);
    let v = std::hint::black_box(vec![0u8; 4096]);
    assert!(
        LIVE_BYTES.load(Ordering::Relaxed) >= probe + 4096,
        "the memory figures need the counting allocator of uet-bench"
    );
    drop(v);
    let (empty, _) = engine_bytes(0, 0);
    let pdc = core::mem::size_of::<crate::proto::engine::Pdc>();
    let win =
        Config::DEFAULT.tx_window as usize * core::mem::size_of::<crate::proto::engine::TxDesc>();
    for (name, n) in [("", 1024), ("_with_65k_pdcs", MAX_PDCS)] {
        let (built, opened) = engine_bytes(n, n);
        let per = (opened - empty) as f64 / n as f64;
        fig(&format!("bytes_per_pdc{name}"), format!("{per:.0}"));
        if n == 1024 {
            fig("bytes_allocated_opening_1k_pdcs", opened - built);
            fig("bytes_per_busy_pdc", format!("{:.0}", per + win as f64));
            fig("kernel_engine_bytes", built);
            fig(
                "kernel_engine_bytes_per_pdc",
                format!("{:.0}", built as f64 / n as f64),
            );
        }
    }
    fig("bytes_per_pdc_slot", pdc);
    fig("bytes_per_send_window", win);
    fig("max_pdcs_per_engine", MAX_PDCS);
}

/// Sections of [`run`], in order.
pub const SECTIONS: [&str; 6] = ["rate", "memory", "events", "incast", "goodput", "jitter"];

/// Runs the benchmarks of `only` (every one in [`SECTIONS`] when empty)
/// and prints one `engine: name=value` line per figure.
pub fn run(only: &[&str]) {
    let on = |s: &str| only.is_empty() || only.contains(&s);
    if on("rate") {
        // One core driving both engines (see `rate` for what is counted).
        for (name, len) in [("rud_4k", 4096), ("msg_64b", 64)] {
            let r = median_rate(len, false);
            fig(&format!("{name}_mpps_per_core"), format!("{:.2}", r.both));
            fig(
                &format!("{name}_mpps_initiator_only"),
                format!("{:.2}", r.initiator),
            );
            fig(
                &format!("{name}_mpps_target_only"),
                format!("{:.2}", r.target),
            );
        }
        let r = median_rate(4096, true);
        fig("rud_4k_mpps_per_core_copying_tx", format!("{:.2}", r.both));
    }
    if on("memory") {
        print_memory();
    }
    if on("events") {
        for (name, idle) in [
            ("10", 10),
            ("1k", 1_000),
            ("16k", 16_000),
            // The most one engine holds (`MAX_PDCS`): 100k PDCs do not
            // fit in 16-bit PDC ids.
            ("65k", MAX_PDCS - 1),
        ] {
            let (ev, nd, est) = event_cost(idle);
            fig(&format!("event_ns_with_{name}_pdcs"), format!("{ev:.0}"));
            fig(
                &format!("next_deadline_ns_with_{name}_pdcs"),
                format!("{nd:.1}"),
            );
            fig(
                &format!("establish_us_per_pdc_with_{name}_pdcs"),
                format!("{est:.2}"),
            );
        }
    }
    if on("incast") {
        for cc in [true, false] {
            let r = incast(16, 64, 1, cc);
            let tag = if cc { "" } else { "_without_cc" };
            fig(
                &format!("incast_16_to_1_goodput_gbps{tag}"),
                format!("{:.1}", r.gbps),
            );
            fig(
                &format!("incast_16_to_1_fairness{tag}"),
                format!("{:.3}", r.fairness),
            );
            fig(
                &format!("incast_16_to_1_max_queue_kb{tag}"),
                r.max_queue / 1000,
            );
            fig(
                &format!("incast_16_to_1_mean_queue_kb{tag}"),
                r.mean_queue / 1000,
            );
            fig(&format!("incast_16_to_1_port_drops{tag}"), r.drops);
        }
    }
    if on("goodput") {
        for (gbps, delay) in [
            (10u64, 2_000u64),
            (100, 2_000),
            (400, 2_000),
            (10, 5_000),
            (100, 5_000),
            (400, 5_000),
        ] {
            let bw = gbps * 1_000_000_000;
            let tag = format!("{gbps}g_{}us", delay / 1000);
            let base = goodput3(bw, delay, 0.0, Mode::Rud);
            fig(
                &format!("lossless_fraction_of_line_rate_{tag}"),
                format!("{:.3}", base / gbps as f64),
            );
            let rud = goodput3(bw, delay, 0.01, Mode::Rud);
            fig(
                &format!("rud_goodput_ratio_at_1pct_loss_{tag}"),
                format!("{:.3}", rud / base),
            );
            let rod0 = goodput3(bw, delay, 0.0, Mode::Rod);
            let rod = goodput3(bw, delay, 0.01, Mode::Rod);
            fig(
                &format!("rod_goodput_ratio_at_1pct_loss_{tag}"),
                format!("{:.3}", rod / rod0),
            );
            let rd0 = goodput3_of(Work::Read, bw, delay, 0.0, Mode::Rud);
            let rd = goodput3_of(Work::Read, bw, delay, 0.01, Mode::Rud);
            fig(
                &format!("read_goodput_ratio_at_1pct_loss_{tag}"),
                format!("{:.3}", rd / rd0),
            );
            let wr0 = goodput3_of(Work::Write, bw, delay, 0.0, Mode::Rud);
            let wr = goodput3_of(Work::Write, bw, delay, 0.01, Mode::Rud);
            fig(
                &format!("write_goodput_ratio_at_1pct_loss_{tag}"),
                format!("{:.3}", wr / wr0),
            );
        }
    }
    if on("jitter") {
        print_jitter();
    }
    print!("");
}

/// Counters of one goodput run, for investigating the figures.
pub fn debug_run(gbps: u64, delay: u64, loss: f64, rod: bool) {
    let link = Link {
        loss,
        delay,
        bandwidth: gbps * 1_000_000_000,
        ..Link::CLEAN
    };
    let cfg = Config {
        rto_min: std::env::var("RTO_MIN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50_000),
        rto_init: 200_000,
        quiet_start: false,
        tx_window: std::env::var("TXW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::DEFAULT.tx_window),
        max_inflight: std::env::var("INFL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::DEFAULT.max_inflight),
        // Eager 1 MiB sends, as in `goodput`.
        eager_limit: 1 << 20,
        ..Config::DEFAULT
    };
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut net = Net::new(2, cfg, link, seed);
    setup(&mut net);
    let len = 1u32 << 20;
    let src = net.nodes[0].env.add_buf(vec![0xcd; len as usize]);
    for i in 0..16 {
        let dst = net.nodes[1].env.add_buf(vec![0; len as usize]);
        let n = &mut net.nodes[1];
        n.eng.post_recv(1, i, dst, len, None, &mut n.env).unwrap();
        let node = &mut net.nodes[0];
        let p = Post {
            user: i,
            dst: addr(1),
            target: TARGET,
            mode: if rod { Mode::Rod } else { Mode::Rud },
            op: Op::Send { tag: None },
            buf: src,
            len,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: 0,
        };
        node.eng.post(0, &p, &mut node.env).unwrap();
    }
    // The one PDC node 0 opens (at its seed-derived first slot).
    let ip = net.nodes[0].eng.first_pdc_slot();
    let mut rto = 0;
    let mut max_held = 0;
    while net.nodes[1].env.completions.len() < 16 && net.step(100_000_000_000) {
        max_held = max_held.max(net.nodes[1].eng.held_count());
        let st = net.nodes[0].eng.stats;
        if st.fast_retx > 0 && std::env::var("FIRST").is_ok() {
            let d = &net.nodes[0].eng.pdcs()[ip];
            println!("first fast_retx at {}: {:?}", net.now, d);
            let w: Vec<(u32, u8)> = net.nodes[0].eng.window_flags(ip).collect();
            println!("  window: {:?}", &w[..w.len().min(40)]);
            return;
        }
        if st.rto > rto {
            rto = st.rto;
            let d = &net.nodes[0].eng.pdcs()[ip];
            println!("RTO at {}: {:?}", net.now, (d.state(),));
            let w: Vec<(u32, u8)> = net.nodes[0]
                .eng
                .window_flags(ip)
                .filter(|(_, f)| f & 2 == 0 || f & 4 != 0 && f & 8 == 0)
                .collect();
            println!("  pending: {:?}", &w[..w.len().min(20)]);
            println!("  {:?}", st);
        }
    }
    println!(
        "now {} ns, sent {}, dropped {}, most ROD packets held {}",
        net.now, net.sent, net.dropped, max_held
    );
    println!("ini {:?}", net.nodes[0].eng.stats);
    println!("tgt {:?}", net.nodes[1].eng.stats);
    let d = &net.nodes[0].eng.pdcs()[ip];
    println!("{:?}", d);
}

/// The goodput figures of one rate and delay (`uet-bench goodput GBPS
/// DELAY_NS`): lossless fraction of line rate, RUD and ROD ratios at 1%
/// loss.
pub fn debug_goodput(gbps: u64, delay: u64) {
    let bw = gbps * 1_000_000_000;
    let base = goodput3(bw, delay, 0.0, Mode::Rud);
    let rud = goodput3(bw, delay, 0.01, Mode::Rud);
    let rod0 = goodput3(bw, delay, 0.0, Mode::Rod);
    let rod = goodput3(bw, delay, 0.01, Mode::Rod);
    println!(
        "lossless {:.3} rud {:.3} rod {:.3} (rod lossless {:.3})",
        base / gbps as f64,
        rud / base,
        rod / rod0,
        rod0 / gbps as f64
    );
    for work in [Work::Write, Work::Read] {
        let l0 = goodput3_of(work, bw, delay, 0.0, Mode::Rud);
        let l = goodput3_of(work, bw, delay, 0.01, Mode::Rud);
        println!(
            "{work:?}: lossless {:.3} ratio at 1% loss {:.3}",
            l0 / gbps as f64,
            l / l0
        );
    }
}

/// One incast run with its per-sender counts printed.
pub fn debug_incast() {
    for cc in [true, false] {
        let r = incast(16, 64, 1, cc);
        println!(
            "cc {cc}: gbps {:.1} fairness {:.3} maxq {} meanq {} drops {}",
            r.gbps, r.fairness, r.max_queue, r.mean_queue, r.drops
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory and event sections fill an engine's table with PDCs
    /// opened by one SYN each and assert that all of them opened (they
    /// did not under the SYN pressure's default, and `make bench-engine`
    /// stopped there while `make check` passed). Small tables: this
    /// checks the setup, not the figures.
    #[test]
    fn bench_tables_fill_with_established_pdcs() {
        // engine_bytes asserts that every PDC opened (the byte counts
        // are 0 here: the counting allocator is uet-bench's).
        engine_bytes(64, 64);
        let (ev, _, _) = event_cost(200);
        assert!(ev > 0.0);
    }
}
