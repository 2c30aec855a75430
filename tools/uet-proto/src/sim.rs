// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Network simulator: N engines joined by links with seeded loss,
//! reordering, duplication, corruption, delay and bandwidth, driven
//! through simulated time.
//!
//! Corruption is caught the way UET's optional CRC trailer would catch
//! it: every packet leaves with a CRC-32 (IEEE) of its bytes appended;
//! the receiving side recomputes it and drops the packet on mismatch
//! before the engine sees it (`Net::corrupt_caught`). The engine's own
//! strict parsers and length checks are the second line (fuzzed).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::vec::Vec;

use crate::proto::engine::{Config, Engine, Slab, Tables, PKT_BUF};
use crate::proto::ses::{Addr, AtomicOp, Completion, Env};
use crate::proto::wire::ses::{rc, SesAddr};

/// Host tables: plain vectors (the kernel uses `KVec`).
pub(crate) struct VecSlab;

impl Slab for VecSlab {
    type Of<T> = Vec<T>;
}

/// An engine on the host.
pub(crate) type SimEngine = Engine<VecSlab>;

/// Tables for `pdcs` PDCs, `msgs` messages and `r` entries in each target
/// table, filled with placeholders ([`Engine::new`] resets them).
pub(crate) fn tables(pdcs: usize, msgs: usize, r: usize) -> Tables<VecSlab> {
    tables_pooled(pdcs, msgs, r, pdcs)
}

/// [`tables`] with a pool of `wins` send windows shared by the PDCs (the
/// kernel's layout: fewer windows than PDCs, so PDCs wait for one).
pub(crate) fn tables_pooled(pdcs: usize, msgs: usize, r: usize, wins: usize) -> Tables<VecSlab> {
    use crate::proto::engine::{Held, InMsg, Msg, Pdc, Quota, Recv, Tomb, TxDesc, Unexp, MAX_MTU};
    Tables {
        pdcs: std::vec![Pdc::EMPTY; pdcs],
        msgs: std::vec![Msg::EMPTY; msgs],
        recvs: std::vec![Recv::EMPTY; r],
        inb: std::vec![InMsg::EMPTY; r],
        unexp: std::vec![Unexp::EMPTY; r],
        buf: std::vec![0; PKT_BUF],
        pdc_map: std::vec![0; Tables::<VecSlab>::buckets(pdcs)],
        msg_map: std::vec![0; Tables::<VecSlab>::buckets(msgs)],
        inb_map: std::vec![0; Tables::<VecSlab>::buckets(r)],
        heap: std::vec![0; pdcs + msgs + r],
        quotas: std::vec![Quota::EMPTY; (pdcs + 4 * r).min(65_534)],
        quota_map: std::vec![0; Tables::<VecSlab>::buckets((pdcs + 4 * r).min(65_534))],
        tombs: std::vec![Tomb::EMPTY; pdcs],
        tomb_map: std::vec![0; Tables::<VecSlab>::buckets(pdcs)],
        // Room for `wins` send windows of the largest size.
        txq: std::vec![TxDesc::EMPTY; wins * crate::proto::engine::MAX_TX_WINDOW as usize],
        recv_map: std::vec![0; Tables::<VecSlab>::buckets(r)],
        unexp_map: std::vec![0; Tables::<VecSlab>::buckets(r)],
        // A ROD reorder buffer of 4096 packets (a PDC may hold 1024, its
        // whole receive window).
        held: std::vec![Held::EMPTY; HELD],
        held_buf: std::vec![0; HELD * Tables::<VecSlab>::held_bytes(MAX_MTU as u32)],
        uud_seen: std::vec![0; 256],
    }
}

/// Slots of the simulator's ROD reorder buffer.
pub(crate) const HELD: usize = 4096;

/// Table sizes the simulator uses by default.
pub(crate) const SIM_TABLES: (usize, usize, usize) = (16, 64, 64);

/// A host engine with the simulator's default table sizes.
pub(crate) fn new_engine(cfg: Config) -> SimEngine {
    let (p, m, r) = SIM_TABLES;
    Engine::new(cfg, tables(p, m, r)).expect("valid engine configuration")
}

/// Deterministic PRNG (xorshift64*).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected), bitwise.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Link impairments.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub(crate) loss: f64,
    pub(crate) dup: f64,
    pub(crate) corrupt: f64,
    /// Probability a packet takes a slower path (reordering).
    pub(crate) reorder: f64,
    /// Propagation delay (ns).
    pub(crate) delay: u64,
    /// Extra delay of the slow path (ns).
    pub(crate) reorder_delay: u64,
    /// Bits per second (0: infinite).
    pub(crate) bandwidth: u64,
    /// Delay jitter (ns): every packet gets an extra one-way delay of up
    /// to this much, uniform (or heavy-tailed with `jitter_tail`), drawn
    /// per packet: a slow and jittery wire, such as two guests under TCG
    /// emulation (0.15 ms delay and 1.35 ms jitter each way: RTTs of
    /// 0.3-3 ms). No loss by itself.
    pub(crate) jitter: u64,
    /// Heavy-tailed jitter: Pareto (shape 1.5, scale `jitter` / 10) capped
    /// at `jitter`, instead of uniform: most packets are late by little,
    /// a few by a lot.
    pub(crate) jitter_tail: bool,
    /// Jitter keeps each link's packets in order (a late packet delays
    /// those behind it, as a slow host or a queue does); otherwise every
    /// packet has its own delay and they overtake each other.
    pub(crate) jitter_fifo: bool,
    /// Reordering by position: each packet is overtaken by up to this
    /// many packets sent after it on the same link (uniform), as when
    /// two CPUs each send a batch of a PDC's packets built under its
    /// lock. A held packet waits at most `shuffle_wait` ns for those.
    pub(crate) shuffle: u64,
    pub(crate) shuffle_wait: u64,
}

impl Link {
    pub(crate) const CLEAN: Self = Self {
        loss: 0.0,
        dup: 0.0,
        corrupt: 0.0,
        reorder: 0.0,
        delay: 2_000,
        reorder_delay: 5_000,
        bandwidth: 100_000_000_000,
        jitter: 0,
        jitter_tail: false,
        jitter_fifo: false,
        shuffle: 0,
        shuffle_wait: 1_000,
    };
}

/// A memory region registered at a node's endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub(crate) data: Vec<u8>,
    pub(crate) writable: bool,
    pub(crate) readable: bool,
}

/// Host side of one node: buffers, job table, completions.
#[derive(Default)]
pub(crate) struct HostEnv {
    pub(crate) addr: Addr,
    pub(crate) bufs: Vec<Vec<u8>>,
    /// `(job, pid, ri)` -> endpoint id.
    pub(crate) jobs: HashMap<(u32, u16, u16), u32>,
    pub(crate) regions: HashMap<(u32, u64), Region>,
    pub(crate) completions: Vec<Completion>,
    pub(crate) outbox: Vec<(Addr, u16, Vec<u8>)>,
    pub(crate) overflow: HashMap<u64, Vec<u8>>,
    pub(crate) next_overflow: u64,
    /// Buffers and cookies of cancelled operations and receives
    /// (`Engine::cancel`): no callback may name them again (it panics).
    pub(crate) dead_bufs: HashSet<u64>,
    pub(crate) dead_users: HashSet<u64>,
    /// Atomics applied (`rma_atomic` calls that changed or read memory).
    pub(crate) atomics: u64,
    /// Largest overflow buffer asked for.
    pub(crate) max_overflow: u32,
    /// Traffic class of each endpoint (absent: 0).
    pub(crate) tcs: HashMap<u32, u8>,
    /// `Env::reachable` calls per peer.
    pub(crate) reachable: HashMap<Addr, u64>,
    /// The peer of the last `Env::reachable` call until a packet to it
    /// carries the proof, or the engine call ends (as the kernel's
    /// `Rest::confirm`).
    pub(crate) proof: Option<Addr>,
    /// Packets that carried a proof (would confirm the neighbour entry),
    /// per peer.
    pub(crate) confirmed: HashMap<Addr, u64>,
}

impl HostEnv {
    /// Adds a local buffer and returns its handle.
    pub(crate) fn add_buf(&mut self, data: Vec<u8>) -> u64 {
        self.bufs.push(data);
        (self.bufs.len() - 1) as u64
    }
}

impl Env for HostEnv {
    fn reachable(&mut self, dst: &Addr) {
        *self.reachable.entry(*dst).or_default() += 1;
        self.proof = Some(*dst);
    }
    fn transmit(&mut self, dst: &Addr, entropy: u16, pkt: &[u8]) {
        if let Some(p) = self.proof.take() {
            // The engine tells of a proof right before the packet to
            // that peer: nothing else goes out in between.
            assert_eq!(p, *dst, "a proof for one peer, a packet to another");
            *self.confirmed.entry(*dst).or_default() += 1;
        }
        self.outbox.push((*dst, entropy, pkt.to_vec()));
    }
    fn complete(&mut self, c: &Completion) {
        assert!(!self.dead_users.contains(&c.user), "cancelled: {c:?}");
        self.completions.push(*c);
    }
    fn read_local(&mut self, buf: u64, offset: u64, out: &mut [u8]) {
        assert!(!self.dead_bufs.contains(&buf), "read of cancelled {buf}");
        let b = &self.bufs[buf as usize];
        let o = offset as usize;
        out.copy_from_slice(&b[o..o + out.len()]);
    }
    fn write_local(&mut self, buf: u64, offset: u64, data: &[u8]) {
        assert!(!self.dead_bufs.contains(&buf), "write to cancelled {buf}");
        let b = if buf >= 1 << 40 {
            self.overflow.get_mut(&buf).expect("overflow buffer")
        } else {
            &mut self.bufs[buf as usize]
        };
        let o = offset as usize;
        b[o..o + data.len()].copy_from_slice(data);
    }
    fn traffic_class(&mut self, ep: u32) -> u8 {
        self.tcs.get(&ep).copied().unwrap_or(0)
    }
    fn resolve(&mut self, _src: &Addr, a: &SesAddr) -> Result<u32, u8> {
        if !self.jobs.keys().any(|k| k.0 == a.job) {
            return Err(rc::BAD_JOB_ID);
        }
        if !self.jobs.keys().any(|k| k.0 == a.job && k.1 == a.pid) {
            return Err(rc::BAD_PID);
        }
        self.jobs
            .get(&(a.job, a.pid, a.ri))
            .copied()
            .ok_or(rc::BAD_INDEX)
    }
    fn rma_write(&mut self, ep: u32, key: u64, offset: u64, data: &[u8]) -> Result<(), u8> {
        let r = self.regions.get_mut(&(ep, key)).ok_or(rc::BAD_MKEY)?;
        if !r.writable {
            return Err(rc::PERM_VIOLATION);
        }
        let o = usize::try_from(offset).map_err(|_| rc::BAD_ADDR)?;
        let end = o.checked_add(data.len()).ok_or(rc::BAD_ADDR)?;
        r.data
            .get_mut(o..end)
            .ok_or(rc::BAD_ADDR)?
            .copy_from_slice(data);
        Ok(())
    }
    fn rma_read(&mut self, ep: u32, key: u64, offset: u64, out: &mut [u8]) -> Result<(), u8> {
        let r = self.regions.get(&(ep, key)).ok_or(rc::BAD_MKEY)?;
        if !r.readable {
            return Err(rc::PERM_VIOLATION);
        }
        let o = usize::try_from(offset).map_err(|_| rc::BAD_ADDR)?;
        let end = o.checked_add(out.len()).ok_or(rc::BAD_ADDR)?;
        out.copy_from_slice(r.data.get(o..end).ok_or(rc::BAD_ADDR)?);
        Ok(())
    }
    fn rma_atomic(
        &mut self,
        ep: u32,
        key: u64,
        offset: u64,
        op: AtomicOp,
        operand: u64,
        compare: u64,
    ) -> Result<u64, u8> {
        let r = self.regions.get_mut(&(ep, key)).ok_or(rc::BAD_MKEY)?;
        if !r.writable || !r.readable {
            return Err(rc::PERM_VIOLATION);
        }
        let o = usize::try_from(offset).map_err(|_| rc::BAD_ADDR)?;
        let end = o.checked_add(8).ok_or(rc::BAD_ADDR)?;
        let t: &mut [u8; 8] = r
            .data
            .get_mut(o..end)
            .ok_or(rc::BAD_ADDR)?
            .try_into()
            .map_err(|_| rc::BAD_ADDR)?;
        if o % 8 != 0 {
            return Err(rc::AMO_UNALIGNED);
        }
        let old = u64::from_ne_bytes(*t);
        *t = op.apply(old, operand, compare).to_ne_bytes();
        self.atomics += 1;
        Ok(old)
    }
    fn overflow_alloc(&mut self, _slot: u16, len: u32) -> Option<u64> {
        if len > 4 << 20 {
            return None;
        }
        self.max_overflow = self.max_overflow.max(len);
        self.next_overflow += 1;
        let h = (1u64 << 40) + self.next_overflow;
        self.overflow.insert(h, std::vec![0; len as usize]);
        Some(h)
    }
    fn overflow_free(&mut self, buf: u64) {
        self.overflow.remove(&buf).expect("overflow buffer");
    }
    fn overflow_drain(&mut self, from: u64, to: u64, len: u32) {
        assert!(!self.dead_bufs.contains(&to), "drain to cancelled {to}");
        let v = self.overflow.remove(&from).expect("overflow buffer");
        let n = len as usize;
        self.bufs[to as usize][..n].copy_from_slice(&v[..n]);
    }
}

/// One simulated node.
pub(crate) struct Node {
    pub(crate) eng: std::boxed::Box<SimEngine>,
    pub(crate) env: HostEnv,
}

/// Address of node `i`.
pub(crate) fn addr(i: usize) -> Addr {
    let mut a = [0u8; 16];
    a[10] = 0xff;
    a[11] = 0xff;
    a[12] = 10;
    a[15] = i as u8;
    a
}

fn node_of(a: &Addr) -> Option<usize> {
    Some(a[15] as usize)
}

/// A packet in flight: (arrival, sequence, source, destination, ECN CE
/// mark, bytes).
type Event = (u64, u64, usize, usize, bool, Vec<u8>);

/// A packet held back on a link that reorders by position: packets still
/// to overtake it, latest release time, the packet.
type Held = (u64, u64, Event);

/// A switch egress port in front of every node: the shared bottleneck of
/// incast. Packets queue in it; past `ecn_k` bytes queued they are ECN
/// marked, past `max_q` they are dropped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Port {
    /// Bits per second.
    pub(crate) bandwidth: u64,
    /// Marking threshold (bytes queued).
    pub(crate) ecn_k: u64,
    /// Queue capacity (bytes).
    pub(crate) max_q: u64,
}

/// Per-path impairments: the packet's entropy value picks path
/// `entropy % paths.len()`, which adds its own delay and loss.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Path {
    /// Extra one-way delay (ns).
    pub(crate) delay: u64,
    /// Extra loss probability.
    pub(crate) loss: f64,
}

/// A test's loss filter (see [`Net::drop_if`]).
pub(crate) type DropIf = std::boxed::Box<dyn FnMut(usize, usize, &[u8]) -> bool>;

/// The simulated network.
pub(crate) struct Net {
    pub(crate) now: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) link: Link,
    pub(crate) rng: Rng,
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
    busy: HashMap<(usize, usize), u64>,
    /// Latest arrival scheduled on each link (`Link::jitter_fifo`).
    last_arrival: HashMap<(usize, usize), u64>,
    /// Packets held back on each link (`Link::shuffle`): packets still
    /// to overtake each, latest release time, the packet.
    held: HashMap<(usize, usize), Vec<Held>>,
    /// Packets overtaken on the way (`Link::shuffle`).
    pub(crate) shuffled: u64,
    /// Egress ports (when set): one per destination node.
    pub(crate) port: Option<Port>,
    port_busy: HashMap<usize, u64>,
    /// Largest port queue seen (bytes), and packets dropped by full ports.
    pub(crate) max_queue: u64,
    pub(crate) port_drops: u64,
    /// Packets ECN marked by the ports.
    pub(crate) marked: u64,
    /// Probability that a packet is ECN marked (CE) on the way, whatever
    /// the queues (an AQM that marks at random).
    pub(crate) mark: f64,
    /// Paths (empty: one path without extra impairments).
    pub(crate) paths: Vec<Path>,
    /// Packets sent on each path.
    pub(crate) path_use: Vec<u64>,
    /// Check the CRC trailer (drop corrupted packets before the engine);
    /// false lets corruption reach the parsers.
    pub(crate) crc: bool,
    pub(crate) sent: u64,
    pub(crate) dropped: u64,
    pub(crate) corrupt_caught: u64,
    /// Packets corrupted on the wire.
    pub(crate) corrupted: u64,
    pub(crate) wire_bytes: u64,
    /// When set, every packet sent: (source, destination, UDP payload).
    pub(crate) capture: Option<Vec<(usize, usize, Vec<u8>)>>,
    /// When set, packets for which it returns true are lost on the wire
    /// (source, destination, UDP payload): a test's targeted loss.
    pub(crate) drop_if: Option<DropIf>,
}

impl Net {
    /// Rebuilds every node's engine (same configuration, default table
    /// sizes) with a pool of only `wins` send windows.
    pub(crate) fn pool_windows(&mut self, wins: usize) {
        let (p, m, r) = SIM_TABLES;
        for n in self.nodes.iter_mut() {
            let c = *n.eng.config();
            *n.eng =
                Engine::new(c, tables_pooled(p, m, r, wins)).expect("valid engine configuration");
        }
    }

    pub(crate) fn new(n: usize, cfg: Config, link: Link, seed: u64) -> Self {
        let nodes = (0..n)
            .map(|i| {
                let mut c = cfg;
                c.seed = (seed as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(2 * i as u32)
                    | 1;
                Node {
                    eng: std::boxed::Box::new(new_engine(c)),
                    env: HostEnv {
                        addr: addr(i),
                        ..HostEnv::default()
                    },
                }
            })
            .collect();
        Self {
            now: 0,
            nodes,
            link,
            rng: Rng::new(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            busy: HashMap::new(),
            last_arrival: HashMap::new(),
            held: HashMap::new(),
            shuffled: 0,
            port: None,
            port_busy: HashMap::new(),
            max_queue: 0,
            port_drops: 0,
            marked: 0,
            mark: 0.0,
            paths: Vec::new(),
            path_use: Vec::new(),
            crc: true,
            sent: 0,
            dropped: 0,
            corrupt_caught: 0,
            corrupted: 0,
            wire_bytes: 0,
            capture: None,
            drop_if: None,
        }
    }

    /// Bytes queued now in the egress port towards node `dst`.
    pub(crate) fn port_queue(&self, dst: usize) -> u64 {
        let (Some(port), Some(&b)) = (self.port, self.port_busy.get(&dst)) else {
            return 0;
        };
        (u128::from(b.saturating_sub(self.now)) * u128::from(port.bandwidth) / 8_000_000_000) as u64
    }

    /// Sends `ev` on a link that reorders by position (`Link::shuffle`):
    /// it overtakes the packets held back on the link, which count it, and
    /// is itself held back with a probability, to be overtaken by up to
    /// `shuffle` later ones.
    fn shuffle(&mut self, l: &Link, ev: Event) {
        let key = (ev.2, ev.3);
        let at = ev.0;
        let k = self.rng.below(l.shuffle + 1);
        let held = self.held.entry(key).or_default();
        let mut i = 0;
        let mut out = Vec::new();
        while i < held.len() {
            held[i].0 -= 1;
            if held[i].0 == 0 {
                out.push(held.remove(i).2);
            } else {
                i += 1;
            }
        }
        if k == 0 {
            self.queue.push(Reverse(ev));
        } else {
            self.shuffled += 1;
            held.push((k, at + l.shuffle_wait, ev));
        }
        // Released behind the packet that overtook them, in their order.
        for (j, mut e) in out.into_iter().enumerate() {
            e.0 = e.0.max(at) + 1 + j as u64;
            self.queue.push(Reverse(e));
        }
    }

    /// Releases the held packets due by `t` (`Link::shuffle`), at their
    /// latest release time.
    fn release_held(&mut self, t: u64) {
        for h in self.held.values_mut() {
            let mut i = 0;
            while i < h.len() {
                if h[i].1 <= t {
                    let (_, when, mut e) = h.remove(i);
                    e.0 = e.0.max(when);
                    self.queue.push(Reverse(e));
                } else {
                    i += 1;
                }
            }
        }
    }

    /// Earliest release time of a held packet.
    fn next_release(&self) -> Option<u64> {
        self.held.values().flatten().map(|e| e.1).min()
    }

    /// A packet's extra delay on link `l` (ns).
    fn jitter(&mut self, l: &Link) -> u64 {
        if l.jitter == 0 {
            return 0;
        }
        if l.jitter_tail {
            // Pareto, shape 1.5: scale * (U^(-1/1.5) - 1), capped.
            let u = 1.0 - self.rng.unit();
            let x = (l.jitter as f64 / 10.0) * (u.powf(-1.0 / 1.5) - 1.0);
            (x as u64).min(l.jitter)
        } else {
            self.rng.below(l.jitter + 1)
        }
    }

    /// Moves every node's outbox onto the wire.
    pub(crate) fn flush(&mut self) {
        for src in 0..self.nodes.len() {
            let out = std::mem::take(&mut self.nodes[src].env.outbox);
            for (dst, entropy, mut pkt) in out {
                // Packets to addresses that are not nodes (forged peers in
                // tests) go nowhere.
                let Some(dst) = node_of(&dst).filter(|&d| d < self.nodes.len() && addr(d) == dst)
                else {
                    continue;
                };
                if let Some(c) = self.capture.as_mut() {
                    c.push((src, dst, pkt.clone()));
                }
                if self.drop_if.as_mut().is_some_and(|f| f(src, dst, &pkt)) {
                    self.sent += 1;
                    self.dropped += 1;
                    continue;
                }
                let c = crc32(&pkt);
                pkt.extend_from_slice(&c.to_be_bytes());
                self.sent += 1;
                let bytes = pkt.len() as u64 + 8 + 20 + 14; // UDP, IP, Ethernet
                self.wire_bytes += bytes;
                let l = self.link;
                let ser = (bytes * 8 * 1_000_000_000)
                    .checked_div(l.bandwidth)
                    .unwrap_or(0);
                let b = self.busy.entry((src, dst)).or_insert(0);
                let start = (*b).max(self.now);
                *b = start + ser;
                let depart = start + ser;
                let (pd, pl) = if self.paths.is_empty() {
                    (0, 0.0)
                } else {
                    let k = usize::from(entropy) % self.paths.len();
                    if self.path_use.len() != self.paths.len() {
                        self.path_use = std::vec![0; self.paths.len()];
                    }
                    self.path_use[k] += 1;
                    (self.paths[k].delay, self.paths[k].loss)
                };
                if self.rng.chance(l.loss) || self.rng.chance(pl) {
                    self.dropped += 1;
                    continue;
                }
                // The shared egress port towards `dst`.
                let mut arrive = depart + l.delay + pd + self.jitter(&l);
                if l.jitter_fifo {
                    let last = self.last_arrival.entry((src, dst)).or_insert(0);
                    arrive = arrive.max(*last);
                    *last = arrive;
                }
                let mut ce = false;
                if let Some(port) = self.port {
                    let b = self.port_busy.entry(dst).or_insert(0);
                    let wait = b.saturating_sub(arrive);
                    let queued =
                        (u128::from(wait) * u128::from(port.bandwidth) / 8_000_000_000) as u64;
                    if queued > port.max_q {
                        self.port_drops += 1;
                        self.dropped += 1;
                        continue;
                    }
                    self.max_queue = self.max_queue.max(queued);
                    if queued > port.ecn_k {
                        ce = true;
                        self.marked += 1;
                    }
                    let pser = (bytes * 8 * 1_000_000_000)
                        .checked_div(port.bandwidth)
                        .unwrap_or(0);
                    let st = (*b).max(arrive);
                    *b = st + pser;
                    arrive = st + pser;
                }
                if self.mark > 0.0 && self.rng.chance(self.mark) {
                    ce = true;
                    self.marked += 1;
                }
                let copies = if self.rng.chance(l.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let mut p = pkt.clone();
                    if self.rng.chance(l.corrupt) {
                        let i = self.rng.below(p.len() as u64) as usize;
                        p[i] ^= 1 << self.rng.below(8);
                        self.corrupted += 1;
                    }
                    let extra = if self.rng.chance(l.reorder) {
                        1 + self.rng.below(l.reorder_delay)
                    } else {
                        0
                    };
                    self.seq += 1;
                    let ev = (arrive + extra, self.seq, src, dst, ce, p);
                    if l.shuffle > 0 {
                        self.shuffle(&l, ev);
                    } else {
                        self.queue.push(Reverse(ev));
                    }
                }
            }
        }
    }

    fn deliver(&mut self, src: usize, dst: usize, ce: bool, mut p: Vec<u8>) {
        if p.len() < 4 {
            self.corrupt_caught += 1;
            return;
        }
        let n = p.len() - 4;
        let want = u32::from_be_bytes([p[n], p[n + 1], p[n + 2], p[n + 3]]);
        p.truncate(n);
        if self.crc && crc32(&p) != want {
            self.corrupt_caught += 1;
            return;
        }
        let now = self.now;
        let a = addr(src);
        let node = &mut self.nodes[dst];
        node.eng.receive_ecn(now, &a, &p, ce, &mut node.env);
        node.env.proof = None;
    }

    /// Advances one step: the earliest packet arrival or timer. Returns
    /// false when nothing is left to do before `limit`.
    pub(crate) fn step(&mut self, limit: u64) -> bool {
        self.flush();
        // The deadline heap must agree with a scan of every table.
        #[cfg(test)]
        for n in &self.nodes {
            assert_eq!(n.eng.next_deadline(), n.eng.deadline_scan());
            // So must the PDC free list and quarantine, and their count
            // (small tables only: a walk and a scan per step of the
            // kernel-sized ones cost the SYN-flood tests a minute; they
            // check at their end).
            if n.eng.pdcs().len() <= 256 {
                assert!(n.eng.pdc_lists_ok());
            }
        }
        if let Some(r) = self.next_release() {
            if self.queue.peek().is_none_or(|Reverse(e)| r <= e.0) {
                self.release_held(r);
            }
        }
        let te = self.queue.peek().map(|Reverse(e)| e.0);
        let td = self
            .nodes
            .iter()
            .filter_map(|n| n.eng.next_deadline())
            .min();
        let t = match (te, td) {
            (None, None) => return false,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (Some(a), Some(b)) => a.min(b),
        };
        if t > limit {
            return false;
        }
        self.now = self.now.max(t);
        if te == Some(t) {
            let Reverse((_, _, src, dst, ce, p)) = self.queue.pop().expect("event");
            self.deliver(src, dst, ce, p);
        } else {
            let now = self.now;
            for n in self.nodes.iter_mut() {
                if n.eng.next_deadline().is_some_and(|d| d <= now) {
                    n.eng.on_timer(now, &mut n.env);
                    n.env.proof = None;
                }
            }
        }
        self.flush();
        true
    }

    /// Runs until `done` holds or time passes `limit`. Returns `done`.
    pub(crate) fn run_until(&mut self, limit: u64, mut done: impl FnMut(&Net) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if !self.step(limit) {
                return done(self);
            }
        }
    }

    /// Runs every event until `limit` (or until nothing is left).
    pub(crate) fn run_for(&mut self, limit: u64) {
        while self.step(limit) {}
        self.now = self.now.max(limit);
    }
}
