// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The UET engine of one FEP: PDC table and PDS state machines (RUD, ROD,
//! RUDI, UUD), and the SES message, receive and unexpected tables.
//!
//! Events in: [`Engine::post`], [`Engine::post_recv`], [`Engine::receive`]
//! and [`Engine::on_timer`], each given the current time in ns. Actions
//! out: calls on the [`Env`] (transmit, complete, memory access) and
//! [`Engine::next_deadline`]. Every table lives in storage the caller
//! provides ([`Tables`], see [`Slab`]) and has a fixed capacity; nothing
//! allocates.

use core::ops::DerefMut;

use super::pds::{
    psn_lt,
    Rtt,
    RxWindow, //
};
use super::ses::{
    Addr,
    Env,
    Mode,
    Op,
    Post, //
};
use super::wire::pds::{
    NackHdr,
    PdcDst,
    PdsHeader, //
};
use super::wire::ses::{
    op,
    rc,
    ReqBody,
    SesAddr,
    SesHeader,
    SesReq, //
};
use super::wire::{
    self, //
};

#[path = "engine/atomic.rs"]
mod atomic;
#[path = "engine/cc.rs"]
mod cc;
#[path = "engine/index.rs"]
mod index;
#[path = "engine/msg.rs"]
mod msg;
#[path = "engine/pdc.rs"]
mod pdc;
#[path = "engine/recovery.rs"]
mod recovery;
#[path = "engine/rma.rs"]
mod rma;
#[path = "engine/rndv.rs"]
mod rndv;

/// Largest PSN span of a send window: the receive bitmap's size.
pub(crate) const MAX_TX_WINDOW: u32 = RxWindow::SPAN;
/// Largest payload per packet the engine supports.
pub(crate) const MAX_MTU: usize = 8192;
/// Room reserved for headers in a packet.
pub(crate) const MAX_HDR: usize = 128;
/// Entropy values (paths) an RUD PDC sprays its packets over.
pub(crate) const PATHS: usize = 8;
/// Losses on one path (decayed as packets go by) after which the PDC
/// moves that path to a new entropy value.
const PATH_BAD: u8 = 3;

/// Guaranteed-delivery responses a target PDC keeps until cleared (error
/// responses and atomic results: see [`RespEnt`]).
const RESP_RING: usize = 6;
/// Rendezvous error answers a target PDC keeps outside its response
/// ring (`Dest::Answered`) at most: past that, the eager part of a new
/// rendezvous send is refused (`NO_GTD_DEL_AVAIL`, resent later) until
/// the initiator clears some, so a peer that never clears cannot make
/// the chain long.
const ANSWERED_MAX: u8 = 8;
const NONE: u16 = u16::MAX;
/// Unit of a PDC's failure time (`Pdc::fail_at`): 2^24 ns (about 17 ms).
pub(crate) const FAIL_TICK: u64 = 1 << 24;

/// Largest [`Config::min_fail_time`] (ns), 2^15 - 1 ticks of
/// [`FAIL_TICK`] (9 min): a PDC keeps its failure time in 16 bits of
/// ticks, rounded up, and compares it with the time wrapping (as an
/// `i16` difference). From the first counted timeout the failure time
/// is then at most 2^15 ticks ahead, which still reads as ahead; one tick
/// more reads as past and the PDC could fail at once. The bound was
/// 2^39 - 1 ns, with which it did for a first timeout 2 ns or more into
/// a tick (review S3).
pub(crate) const MAX_MIN_FAIL_TIME: u64 = ((1 << 15) - 1) * FAIL_TICK;

/// Engine parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Payload bytes per packet (both sides must agree).
    pub(crate) mtu: u32,
    /// Initial retransmission timeout (ns).
    pub(crate) rto_init: u64,
    /// Lower bound of the adaptive RTO (ns).
    pub(crate) rto_min: u64,
    /// Upper bound of the RTO including backoff (ns).
    pub(crate) rto_max: u64,
    /// Consecutive timeouts before a PDC is put in error.
    pub(crate) max_retries: u8,
    /// Least time from a PDC's first counted timeout to its failure (ns):
    /// it fails after `max_retries` timeouts and no sooner than this. A
    /// path that is cut for a moment must not fail it, and on a host
    /// network stack a short link flap costs about a second: the carrier
    /// loss flushes the neighbour entries, and a neighbour solicitation
    /// lost while the link was down is only retried after the neighbour
    /// table's retransmit time (1 s by default).
    /// At most [`MAX_MIN_FAIL_TIME`].
    pub(crate) min_fail_time: u64,
    /// Timeouts forgiven (not counted in `max_retries`) after resource
    /// NACKs such as `NO_SES_MSG_AVAIL` since the PDC last made progress.
    /// Beyond this they count: a peer that is short of resources forever
    /// still makes the PDC fail instead of keeping its messages forever.
    pub(crate) max_transient: u8,
    /// Send an ACK at least every this many packets.
    pub(crate) ack_every: u8,
    /// Longest an ACK is held back for coalescing (ns). 0: no coalescing,
    /// every request packet is acknowledged as it arrives (`ack_every`
    /// then has no effect; a ROD target that delivers a run of held
    /// packets still acknowledges the run with one ACK).
    pub(crate) ack_delay: u64,
    /// Idle time after which an initiator closes its PDC (ns).
    pub(crate) idle_close: u64,
    /// Idle time after which a target reaps its PDC (ns). The engine
    /// never reaps sooner than [`Config::quiet_time`]: until then the peer
    /// may still be retransmitting.
    pub(crate) reap: u64,
    /// Longest a packet may live in the network (ns): delayed duplicates
    /// older than this are assumed gone.
    pub(crate) max_pkt_life: u64,
    /// After start (the first event), answer SYNs of unknown PDCs with
    /// NEW_START_PSN (1-RTT) for [`Config::quiet_time`]: packets of PDCs
    /// from before a restart may still arrive, and without their
    /// tombstones only the 1-RTT handshake tells them from new ones.
    pub(crate) quiet_start: bool,
    /// Eager limit (bytes). Initiator: a SEND (tagged or not) longer than
    /// this goes as a rendezvous send (RNDV_SEND, RNDV_TSEND) carrying
    /// its first `eager_limit` bytes; the target pulls the rest with
    /// READs. Target: the longest eager SEND, and the longest eager part
    /// of a rendezvous send, it accepts (longer ones are answered
    /// `UNSUPPORTED_SIZE` without taking any state), so that no overflow
    /// buffer is ever asked for more than this. Both ends should agree.
    pub(crate) eager_limit: u32,
    /// Longest message the target accepts (bytes): a rendezvous send
    /// longer than this is answered `UNSUPPORTED_SIZE` without taking any
    /// state. RMA writes and reads are not limited (registered memory).
    pub(crate) max_msg: u32,
    /// Share of each target table (PDCs, inbound and unexpected
    /// messages) one peer may hold, in 256ths (at least one entry).
    pub(crate) peer_share: u8,
    /// Share of the inbound and unexpected tables one JobID may hold, in
    /// 256ths (at least one entry).
    pub(crate) job_share: u8,
    /// Share of the target PDC table one JobID may hold while other
    /// JobIDs hold target PDCs, in 256ths (at least one PDC), whatever
    /// the peers its SYNs come from; a JobID alone may take the whole
    /// table (a server of one job keeps its capacity). 0: no per-JobID
    /// limit on PDCs (the per-peer one, `peer_share`, holds).
    pub(crate) job_pdc_share: u8,
    /// Fill level, in 256ths, from which a SYN that would open a target
    /// PDC gets the 1-RTT handshake without taking one (issue 13, finding
    /// 2): when the PDC slots in use (both roles), the PDCs its peer holds
    /// (of its `peer_share`) or, while `job_pdc_share` holds, those its
    /// JobID holds (of that share) reach this fraction, the SYN is
    /// answered `NEW_START_PSN` with an offer kept in the offer ring, and
    /// only its echo (a SYN at the offered start PSN) opens a PDC. A blind
    /// sender of forged SYNs, which never hears the offer, then holds at
    /// most this fraction of the table, and the rest stays for PDCs whose
    /// initiator answers. 0: never (every SYN may take a PDC up to the
    /// shares). Default 192 (three quarters).
    pub(crate) syn_pressure: u8,
    /// A complete unexpected message no receive claimed within this time
    /// (ns) is dropped and its overflow buffer freed
    /// (`stats.unexp_reclaimed`); the sender was already answered.
    pub(crate) unexp_life: u64,
    /// Lifetime of a half-open target PDC (ns).
    pub(crate) half_open: u64,
    /// Targets answer SYN with NACK NEW_START_PSN (1-RTT establishment).
    pub(crate) one_rtt: bool,
    /// Successful messages need no SES response of their own: the
    /// target coalesces their ACKs, and an ACK that carries no response
    /// tells the initiator that every message it acknowledges succeeded
    /// (a target attaches its oldest uncleared error response to every
    /// ACK until the initiator has seen it). Not UEC 1.0 behaviour (UEC
    /// expects a SES response per message): off by default, and only for
    /// peers that are instances of this engine configured the same way.
    pub(crate) implied_ok: bool,
    /// Most due timers (PDC, RUDI message or unexpected-message entries of
    /// the deadline heap) one [`Engine::on_timer`] call handles, so that a
    /// call from softirq does bounded work whatever the table sizes; what
    /// is left stays due, and [`Engine::next_deadline`] reports it as due
    /// (at or before the time of that call). 0: no limit.
    pub(crate) timer_budget: u32,
    /// Seed of the PSN/packet-id generator. Not secret: its outputs
    /// (initiators' start PSNs, packet ids) are on the wire. The start
    /// PSNs a target offers come from [`Config::key_seed`] instead.
    pub(crate) seed: u32,
    /// Secret key of the rendezvous key nonces (a keyed hash of a counter,
    /// see `engine/rndv.rs`), of the start PSNs offered in `NEW_START_PSN`
    /// NACKs ([`Engine::offer_psn`]) and of the hash tables' seed: from a strong
    /// random source (the kernel's `get_random_u64()`), never derived
    /// from [`Config::seed`] nor from anything a peer sees. The default
    /// is a constant, for the host tests only: with it the nonces are
    /// predictable.
    pub(crate) key_seed: u64,
    /// Sharding: `shard_bits` high bits of every PDC id (and of every
    /// RUDI packet id) on the wire name the shard, this engine is shard
    /// `shard`; 0 bits: not sharded. See [`shard_of`].
    pub(crate) shard_bits: u8,
    pub(crate) shard: u8,
    /// PSN span of a PDC's send window (a power of two, at most
    /// [`MAX_TX_WINDOW`]): packets from the oldest unacknowledged one.
    pub(crate) tx_window: u32,
    /// Most packets a PDC keeps in flight (sent, neither acknowledged nor
    /// deemed lost), whatever the PSN span; SACKed packets free room.
    pub(crate) max_inflight: u32,
    /// Smallest reordering window (ns) of the time-based loss detection:
    /// a packet is lost once one sent this much after it was acknowledged.
    pub(crate) reorder_min: u64,
    /// NSCC congestion control (see `engine/cc.rs`); off, every PDC keeps
    /// `max_inflight` packets in flight.
    pub(crate) cc: bool,
    /// Initial congestion window (packets).
    pub(crate) cc_init_window: u32,
    /// Queueing delay NSCC aims at (ns above the base RTT).
    pub(crate) cc_target_qdelay: u64,
    /// The fabric's base RTT (ns), as NSCC is configured with it; 0: each
    /// PDC uses the smallest RTT it has seen (which a flow that starts
    /// behind a queue overestimates).
    pub(crate) cc_base_rtt: u64,
    /// The sender's line rate (bit/s), as a NIC knows it; 0: unknown.
    /// With [`Config::cc_base_rtt`] it sets the initial window to one
    /// bandwidth-delay product (NSCC starts at line rate), instead of
    /// [`Config::cc_init_window`].
    pub(crate) cc_line_rate: u64,
}

impl Config {
    /// Defaults for a 4 KiB MTU data-centre network.
    pub(crate) const DEFAULT: Self = Self {
        mtu: 4096,
        rto_init: 1_000_000,
        rto_min: 300_000,
        rto_max: 100_000_000,
        max_retries: 12,
        min_fail_time: 0,
        max_transient: 32,
        ack_every: 4,
        ack_delay: 2_000,
        idle_close: 50_000_000,
        reap: 500_000_000,
        max_pkt_life: 10_000_000,
        quiet_start: true,
        eager_limit: 64 << 10,
        max_msg: 64 << 20,
        peer_share: 64,
        job_share: 128,
        job_pdc_share: 128,
        syn_pressure: 192,
        unexp_life: 1_000_000_000,
        half_open: 10_000_000,
        one_rtt: false,
        implied_ok: false,
        timer_budget: 64,
        seed: 1,
        key_seed: 0x6b65_795f_7365_6564,
        shard_bits: 0,
        shard: 0,
        tx_window: 1024,
        max_inflight: 512,
        reorder_min: 2_000,
        cc: true,
        cc_init_window: 64,
        cc_target_qdelay: 8_000,
        cc_base_rtt: 0,
        cc_line_rate: 0,
    };
}

impl Config {
    /// Defaults for a software path (the kernel's FEPs over a host
    /// network stack; the host tests and benchmarks that mirror them).
    pub(crate) const SOFTWARE: Self = Self {
        // ACK at once. Coalescing (one ACK per 4 packets or 50 us) was
        // measured slower in the TCG guest (make bench: 64 KiB writes
        // 17.4 against 24.6 MiB/s, 64 KiB send latency 6.0 against 3.2
        // ms): the delayed ACK timer fires late there.
        ack_delay: 0,
        // Queueing delay congestion control aims at: a software path's
        // own delay noise (softirq and task scheduling, virtualisation)
        // is tens of microseconds on hardware and milliseconds in an
        // emulated guest, far above a fabric's 8 us. The window is judged
        // by each RTT's smallest sample (engine/cc.rs); with 8 us, a 4 MiB
        // stream on the guest-like simulated wire ran at one packet per
        // RTT (`uet-bench jitter`, ultraeth-engine.rst).
        cc_target_qdelay: 250_000,
        // Ride out a link flap and the neighbour solicitation it may cost
        // (a lost ARP request is retried after 1 s): 12 timeouts alone
        // span 0.5-1.3 s. Measured: 30 flaps of 20 ms under a transfer
        // between two guests failed its PDC at the 4th with 0, and were
        // ridden out with permanent neighbour entries.
        min_fail_time: 3_000_000_000,
        ..Self::DEFAULT
    };

    /// Upper bound on how long an initiator keeps retransmitting after the
    /// target last heard from it (ns): every timeout lasts at most
    /// `rto_max`, and it gives up after `max_retries` counted and
    /// `max_transient` forgiven timeouts, and no sooner than
    /// `min_fail_time` after the first counted one. That time is rounded
    /// up to a [`FAIL_TICK`] and the PDC fails at the first timeout after
    /// it (at most `rto_max` later, which the counted timeouts cover when
    /// there is at least one beyond the first): with `min_fail_time`, one
    /// tick more and at least two counted timeouts (review S3).
    pub(crate) const fn retry_span(&self) -> u64 {
        let (retries, round) = if self.min_fail_time == 0 {
            (self.max_retries as u64, 0)
        } else if self.max_retries == 0 {
            (1, FAIL_TICK)
        } else {
            (self.max_retries as u64, FAIL_TICK)
        };
        let n = retries + self.max_transient as u64 + 1;
        n.saturating_mul(self.rto_max)
            .saturating_add(self.min_fail_time)
            .saturating_add(round)
    }

    /// How long a packet of a PDC may still arrive after the target last
    /// heard from it: the retry span plus the packet lifetime. Target PDCs
    /// are not reaped, tombstones not dropped and restarts not trusted
    /// before this.
    pub(crate) const fn quiet_time(&self) -> u64 {
        self.retry_span().saturating_add(self.max_pkt_life)
    }

    /// Idle time after which a target PDC is reaped: `reap`, but never
    /// less than [`Config::quiet_time`].
    pub(crate) const fn reap_after(&self) -> u64 {
        if self.reap > self.quiet_time() {
            self.reap
        } else {
            self.quiet_time()
        }
    }
}

/// Why a post was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PostError {
    /// The message table is full.
    NoMsg,
    /// The PDC table is full.
    NoPdc,
    /// The receive table is full.
    NoRecv,
    /// The operation is not valid for the mode or too long.
    Invalid,
    /// The operation's JobID belongs to another shard ([`job_shard`]).
    WrongShard,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Packets transmitted.
    pub(crate) tx: u64,
    /// Packets received and parsed.
    pub(crate) rx: u64,
    /// Packets refused by the parser.
    pub(crate) rx_bad: u64,
    /// Packets dropped for another reason (unknown PDC, stale...).
    pub(crate) rx_drop: u64,
    /// Duplicate request packets.
    pub(crate) dup: u64,
    /// Retransmitted packets.
    pub(crate) retx: u64,
    /// Packets deemed lost by the time-based detection (RACK) and resent.
    pub(crate) fast_retx: u64,
    /// Resends found spurious (the original arrived).
    pub(crate) spurious_retx: u64,
    /// Messages failed because a packet awaiting its answer (a READ's or
    /// fetching atomic's data; with `implied_ok` off, a SEND's or
    /// WRITE's response), resent `max_retries` times at the front of the
    /// window and for `min_fail_time`, was acknowledged but never
    /// answered.
    pub(crate) answer_lost: u64,
    /// Tail-loss probes sent.
    pub(crate) tlp: u64,
    /// Packets resent at once on a loss NACK (trimmed, not received).
    pub(crate) nack_retx: u64,
    /// Loss NACKs not acted on: the packet was resent less than half an
    /// RTT before (a NACK of an earlier copy, or a storm).
    pub(crate) nack_retx_limited: u64,
    /// Paths moved to a new entropy value after losses.
    pub(crate) path_moves: u64,
    /// Retransmission timeouts.
    pub(crate) rto: u64,
    /// ACKs sent.
    pub(crate) ack_tx: u64,
    /// ACKs received.
    pub(crate) ack_rx: u64,
    /// NACKs sent.
    pub(crate) nack_tx: u64,
    /// NACKs received.
    pub(crate) nack_rx: u64,
    /// PDCs opened (both roles).
    pub(crate) pdc_open: u64,
    /// PDCs closed by handshake.
    pub(crate) pdc_close: u64,
    /// PDCs put in error.
    pub(crate) pdc_error: u64,
    /// Target PDCs reaped (idle or half-open).
    pub(crate) pdc_reaped: u64,
    /// Target PDCs ended because their initiator came back as a new
    /// incarnation under the same SPDCID (counted in `pdc_reaped` too).
    pub(crate) pdc_replaced: u64,
    /// SYN packets of closed or reaped PDCs (tombstones) dropped.
    pub(crate) stale_syn: u64,
    /// SYNs answered with the 1-RTT handshake, without taking a PDC,
    /// because the table or a share was nearly full
    /// ([`Config::syn_pressure`]).
    pub(crate) syn_offered: u64,
    /// Requests refused because their peer or JobID is over its share.
    pub(crate) over_quota: u64,
    /// Unexpected messages dropped after `unexp_life` without a receive.
    pub(crate) unexp_reclaimed: u64,
    /// Continuation packets whose addressing differs from their message.
    pub(crate) mismatched: u64,
    /// Requests refused because their JobID is not the one their target
    /// PDC was opened with (NACK PDC_HDR_MISMATCH).
    pub(crate) bad_job: u64,
    /// RUDI requests refused for a non-idempotent opcode (UNSUPPORTED_OP).
    pub(crate) rudi_bad_op: u64,
    /// Messages that arrived before a matching receive.
    pub(crate) unexpected: u64,
    /// UUD messages dropped for want of a receive.
    pub(crate) uud_drop: u64,
    /// ROD packets held out of order until their predecessors arrived.
    pub(crate) rod_held: u64,
    /// Target: rendezvous sends whose rest was read (pull READs posted).
    pub(crate) rndv_reads: u64,
    /// Target: error answers of rendezvous sends kept outside a full
    /// response ring (see `Dest::Answered`).
    pub(crate) answers_held: u64,
    /// Target: atomic requests processed (applied, or refused with a
    /// return code), each once; duplicates answered from the response
    /// ring are not counted.
    pub(crate) atomics: u64,
    /// Target: request packets that arrived ECN marked (CE).
    pub(crate) ce_rx: u64,
    /// Initiator: packets newly acknowledged by ACKs that echoed an ECN
    /// mark, i.e. counted as marked by congestion control.
    pub(crate) ecn_acked: u64,
}

/// State of a PDC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PdcState {
    /// Unused slot.
    Free,
    /// Initiator: SYN packets sent, no ACK yet.
    SynSent,
    /// Initiator: established.
    Established,
    /// Initiator: CLOSE sent.
    Closing,
    /// Target: answered NEW_START_PSN, waiting for the restarted SYN.
    HalfOpen,
    /// Target: established.
    Open,
}

const D_USED: u8 = 1;
const D_ACKED: u8 = 2;
const D_NEED_RESP: u8 = 4;
const D_GOT_RESP: u8 = 8;
/// Deemed lost, waiting for its retransmission.
const D_LOST: u8 = 16;
const D_CLOSE: u8 = 32;
/// Counted in the PDC's packets in flight.
const D_INFL: u8 = 64;
/// Sent more than once (no RTT sample from it, Karn).
const D_RETX: u8 = 128;

/// One packet of a send window: enough to rebuild it from the message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxDesc {
    msg: u16,
    flags: u8,
    /// Path (index in the PDC's entropy values) of the last transmission.
    path: u8,
    seg: u32,
    /// Time of the last transmission (ns / 16, wrapping).
    sent: u32,
}

impl TxDesc {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        msg: 0,
        flags: 0,
        path: 0,
        seg: 0,
        sent: 0,
    };
}

/// `now` in the 16 ns units of [`TxDesc::sent`] (wrapping every 68 s).
fn stamp(now: u64) -> u32 {
    // CAST: wrapping time stamp, compared by wrapping difference only.
    (now >> 4) as u32
}

impl TxDesc {
    fn done(&self) -> bool {
        self.flags & D_ACKED != 0 && (self.flags & D_NEED_RESP == 0 || self.flags & D_GOT_RESP != 0)
    }

    fn pending(&self) -> bool {
        self.flags & D_USED != 0 && !self.done()
    }
}

/// A guaranteed-delivery SES response kept by a target PDC until the
/// initiator's clear PSN passes it: an error response (`rc` not OK, `val`
/// its modified length), or the result of an atomic (`rc` OK, `val` the
/// previous value the target held), which a duplicate of the request gets
/// again without the atomic being applied again.
#[derive(Clone, Copy, Debug, Default)]
struct RespEnt {
    used: bool,
    rc: u8,
    msg_id: u16,
    psn: u32,
    val: u64,
}

/// [`Pdc::flags`]: a target PDC sent its CTRL CLOSE_REQ.
const PF_CLOSE_REQ_SENT: u8 = 1;
/// [`Pdc::flags`]: an initiator PDC has used half the PSN space
/// ([`Pdc::lapped`]).
const PF_LAPPED: u8 = 2;
/// [`Pdc::flags`]: the peer proved that our packets reach it since the
/// PDC last sent one ([`Pdc::set_proven`]).
const PF_PROVEN: u8 = 4;

/// A packet delivery context. One slot serves either role.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pdc {
    state: PdcState,
    ordered: bool,
    /// `PF_*` bits.
    flags: u8,
    transient: bool,
    retries: u8,
    stalls: u8,
    ack_pending: u8,
    peer_id: u16,
    msg_id: u16,
    q_head: u16,
    q_tail: u16,
    peer: Addr,
    start_psn: u32,
    next_psn: u32,
    tx_base: u32,
    nack_ooo: u32,
    last_psn: u32,
    /// Send stamp, PSN and RTT (in send stamp units, 16 ns) of the most
    /// recently sent packet acknowledged (RACK).
    rack_sent: u32,
    rack_psn: u32,
    rack_rtt: u32,
    /// That packet was a resend (then resends are judged too).
    rack_resend: bool,
    /// RACK reordering timer (0: none).
    rack_at: u64,
    /// Congestion window (1/256 packets), smallest RTT seen, and the
    /// earliest time of the next decrease.
    cwnd: u32,
    /// (ns, saturating at 4 s)
    base_rtt: u32,
    cc_at: u64,
    /// Packets acknowledged and ECN-marked in the current RTT, and the
    /// average marked fraction (1/1024).
    cc_acked: u32,
    cc_marked: u32,
    cc_alpha: u16,
    cc_steady: bool,
    /// Smallest RTT sample of the current RTT (ns, `u32::MAX`: none yet,
    /// or above 4 s), and how the queueing delay (above `base_rtt`) of the
    /// previous RTT's smallest sample compared with the target (`Q_*`).
    cc_min: u32,
    cc_q: u8,
    /// Pacing: earliest time of the next new packet (ns), and whether the
    /// pump is waiting for it (then it is one of the PDC's timers).
    pace_at: u64,
    pace_wait: bool,
    /// Entropy values of the paths (RUD sprays over all of them, ROD and
    /// the target's ACKs use the first), losses seen per path, the next
    /// path to use, and packets sent since the loss counts last decayed.
    paths: [u16; PATHS],
    path_loss: [u8; PATHS],
    path_next: u8,
    path_sent: u8,
    /// Target (ROD): packets held out of order, in PSN order (a list
    /// through [`Held::next`]), and how many.
    hold_head: u16,
    hold_tail: u16,
    nheld: u16,
    /// Initiator: the highest cumulative ACK PSN seen. On a ROD PDC a
    /// SACKed packet is only held by the target, not yet delivered: the
    /// window slides and messages complete up to this PSN only.
    /// Target: the start PSN of its SYN ([`Pdc::syn_psn`]; one field for
    /// both keeps a PDC within its size budget).
    acked_to: u32,
    /// Initiator (ROD): the target's maximum PSN range from its last
    /// ACK_CC, in 8 PSNs (0: none said): no packet goes beyond
    /// `acked_to` plus this, so the target can hold whatever follows a
    /// hole.
    rod_span: u8,
    /// Target: bytes received since the last ACK, an ECN mark seen since
    /// then, and when the first packet it answers arrived.
    /// Initiator: [`Pdc::held_scan`] (one field for both keeps a PDC
    /// within its size budget).
    rx_bytes: u32,
    ce_pending: bool,
    ack_first: u64,
    /// Reordering window of the loss detection (ns).
    reo_wnd: u32,
    /// PSNs below this were already judged by the loss detection.
    lost_scan: u32,
    /// Packets in flight (flag `D_INFL`).
    inflight: u32,
    /// Packets marked lost and not yet resent.
    nlost: u32,
    rx: RxWindow,
    rtt: Rtt,
    rto_at: u64,
    /// Tail-loss probe deadline (0: none).
    tlp_at: u64,
    /// Probes sent since the last progress.
    tlp_count: u8,
    /// The last request received was a retransmission (echoed in ACKs).
    last_retx: bool,
    /// Send window slot, or `NONE` (idle PDCs hold none).
    win: u16,
    /// Waiting for a send window: neighbours in the wait list.
    wprev: u16,
    wnext: u16,
    waiting: bool,
    ack_at: u64,
    last_active: u64,
    /// Not failed before this time, in units of 2^24 ns (about 17 ms),
    /// wrapping: set at the first counted timeout since the PDC last made
    /// progress, see [`Config::min_fail_time`]. 16 bits keep a PDC within
    /// its size budget.
    fail_at: u16,
    resp: [RespEnt; RESP_RING],
    /// Next in the hash bucket or on the free list.
    hnext: u16,
    /// The first of this PDC's inbound messages, chained through
    /// `InMsg::pnext` (`NONE`: none), so that a PDC's end frees them
    /// without looking at anyone else's.
    inb_head: u16,
    /// Target: first of the finished inbound messages kept for their
    /// error answer ([`Dest::Answered`]), chained by `InMsg::anext`;
    /// `NONE` if none.
    answered: u16,
    /// Length of that chain (at most [`ANSWERED_MAX`]).
    nanswered: u8,
    /// Hash bucket, or `NOPOS` when not in the map.
    hb: u32,
    /// JobID of every message on this PDC (target: that of its SYN).
    job: u32,
    /// Initiator: traffic class.
    tc: u8,
    /// Target: quota entries of the peer and of the JobID, or `NONE`.
    peer_q: u16,
    job_q: u16,
    /// Position in the deadline heap, or `NOPOS`.
    hpos: u32,
    /// Deadline the heap holds for this PDC.
    when: u64,
    /// Quarantine of this slot's id ([`Engine::pdc_quarantine`]), which
    /// outlives a PDC that borrowed the slot: 0 none, else the peer that
    /// may still hold the id ([`Engine::quar_tag`], 16 bits of a keyed
    /// hash of its address), or `QUAR_ALL` for every peer.
    quar: u16,
}

impl Pdc {
    /// Target: the start PSN of the SYN that made this PDC (a half-open
    /// one offered `start_psn` in answer to it).
    pub(super) fn syn_psn(&self) -> u32 {
        self.acked_to
    }

    /// Target: sets [`Pdc::syn_psn`].
    pub(super) fn set_syn_psn(&mut self, psn: u32) {
        self.acked_to = psn;
    }

    /// The peer proved that our packets reach it: an ACK made progress
    /// (acknowledged new packets, brought a READ's data or an atomic's
    /// result: initiator), or a request's clear PSN moved on our ACKs
    /// (target). The PDC's next packet tells the environment
    /// ([`Engine::confirm_peer`]), as TCP's pending confirmation waits for
    /// the next transmit.
    pub(super) fn set_proven(&mut self) {
        self.flags |= PF_PROVEN;
    }

    /// Takes the flag [`Pdc::set_proven`] set.
    fn take_proven(&mut self) -> bool {
        let p = self.flags & PF_PROVEN != 0;
        self.flags &= !PF_PROVEN;
        p
    }

    /// Target: the highest clear PSN the initiator's requests carried
    /// (its window's base minus one: everything up to it was acknowledged
    /// by ACKs of ours that reached it). Kept in `lost_scan`, which only
    /// an initiator uses (one field for both keeps a PDC within its size
    /// budget).
    pub(super) fn peer_clear(&self) -> u32 {
        self.lost_scan
    }

    /// Target: sets [`Pdc::peer_clear`].
    pub(super) fn set_peer_clear(&mut self, psn: u32) {
        self.lost_scan = psn;
    }

    /// Initiator: the packets below `lost_scan` that the loss detection
    /// passed while the target held them (ROD: acknowledged without the
    /// data they wait for, SACKed above `acked_to`), or while a SEND's or
    /// WRITE's response may still come (`Engine::response_wait`), are at
    /// or above this PSN; they are judged again once `acked_to` reaches
    /// them ([`Engine::detect_lost`]). Equal to `lost_scan`: none.
    pub(super) fn held_scan(&self) -> u32 {
        self.rx_bytes
    }

    /// Initiator: sets [`Pdc::held_scan`].
    pub(super) fn set_held_scan(&mut self, psn: u32) {
        self.rx_bytes = psn;
    }

    /// Initiator: this PDC has used half the PSN space or more since its
    /// start PSN, and `on_ack` no longer bounds a CACK below by the start
    /// PSN (the count of PSNs used would wrap, and drop every ACK when it
    /// is 0).
    pub(super) fn lapped(&self) -> bool {
        self.flags & PF_LAPPED != 0
    }

    /// Initiator: sets [`Pdc::lapped`] once the next PSN is half the PSN
    /// space or more from the start PSN (called wherever `next_psn`
    /// advances).
    pub(super) fn note_lap(&mut self) {
        if self.next_psn.wrapping_sub(self.start_psn) >= 1 << 31 {
            self.flags |= PF_LAPPED;
        }
    }

    /// Target: the idle PDC sent its CTRL CLOSE_REQ.
    pub(super) fn close_req_sent(&self) -> bool {
        self.flags & PF_CLOSE_REQ_SENT != 0
    }

    /// Target: notes that the idle PDC sent its CTRL CLOSE_REQ.
    pub(super) fn set_close_req_sent(&mut self) {
        self.flags |= PF_CLOSE_REQ_SENT;
    }

    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        state: PdcState::Free,
        ordered: false,
        flags: 0,
        transient: false,
        retries: 0,
        stalls: 0,
        ack_pending: 0,
        peer_id: 0,
        msg_id: 0,
        q_head: NONE,
        q_tail: NONE,
        peer: [0; 16],
        start_psn: 0,
        next_psn: 0,
        tx_base: 0,
        nack_ooo: 0,
        last_psn: 0,
        rack_sent: 0,
        rack_psn: 0,
        rack_rtt: 0,
        rack_resend: false,
        rack_at: 0,
        cwnd: 0,
        base_rtt: 0,
        cc_at: 0,
        cc_acked: 0,
        cc_marked: 0,
        cc_alpha: 0,
        cc_steady: false,
        cc_min: u32::MAX,
        cc_q: cc::Q_LOW,
        pace_at: 0,
        pace_wait: false,
        paths: [0; PATHS],
        path_loss: [0; PATHS],
        path_next: 0,
        path_sent: 0,
        hold_head: NONE,
        hold_tail: NONE,
        nheld: 0,
        acked_to: 0,
        rod_span: 0,
        rx_bytes: 0,
        ce_pending: false,
        ack_first: 0,
        reo_wnd: 0,
        lost_scan: 0,
        inflight: 0,
        nlost: 0,
        rx: RxWindow::new(0),
        rtt: Rtt {
            srtt: 0,
            rttvar: 0,
            rto: 0,
        },
        rto_at: 0,
        tlp_at: 0,
        tlp_count: 0,
        last_retx: false,
        win: NONE,
        wprev: NONE,
        wnext: NONE,
        waiting: false,
        ack_at: 0,
        last_active: 0,
        fail_at: 0,
        resp: [RespEnt {
            used: false,
            rc: 0,
            msg_id: 0,
            psn: 0,
            val: 0,
        }; RESP_RING],
        hnext: NONE,
        inb_head: NONE,
        answered: NONE,
        nanswered: 0,
        hb: index::NOPOS,
        job: 0,
        tc: 0,
        peer_q: NONE,
        job_q: NONE,
        hpos: index::NOPOS,
        when: u64::MAX,
        quar: 0,
    };

    fn in_flight(&self, psn: u32) -> bool {
        !psn_lt(psn, self.tx_base) && psn_lt(psn, self.next_psn)
    }

    fn idle(&self) -> bool {
        self.q_head == NONE && self.tx_base == self.next_psn
    }

    /// State of this PDC.
    pub(crate) fn state(&self) -> PdcState {
        self.state
    }

    /// The JobID of every message on this PDC (target: that of its SYN).
    pub(crate) fn job(&self) -> u32 {
        self.job
    }

    /// Initiator: the traffic class of its messages.
    pub(crate) fn traffic_class(&self) -> u8 {
        self.tc
    }

    /// Target: when the held-back ACK goes out (0: none waits).
    pub(crate) fn ack_timer(&self) -> u64 {
        self.ack_at
    }

    /// Initiator: the congestion window (1/256 packets).
    pub(crate) fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// Initiator: the smoothed RTT (ns; 0 before the first sample).
    pub(crate) fn srtt(&self) -> u64 {
        self.rtt.srtt
    }

    /// Initiator: the RTT variance and the current RTO (ns), and the
    /// reordering window the time-based loss detection widened to (ns).
    pub(crate) fn rtt_state(&self) -> (u64, u64, u32) {
        (self.rtt.rttvar, self.rtt.rto, self.reo_wnd)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MsgState {
    Free,
    Active,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Msg {
    state: MsgState,
    /// Its completion was reported: from now on the engine neither reads
    /// nor writes its buffer (packets still in flight go out without
    /// payload, see `send_desc`) nor reports it again.
    completed: bool,
    /// Cancelled by [`Engine::cancel`] (and so `completed`).
    cancelled: bool,
    in_queue: bool,
    /// RUDI: timeouts so far. RUD/ROD: resends of packet `sent` at the
    /// front of the window for an answer it never got
    /// ([`Engine::detect_lost`]).
    retries: u8,
    pdc: u16,
    msg_id: u16,
    next: u16,
    refs: u16,
    resp: Option<u8>,
    seg_next: u32,
    /// RUD/ROD: the PSN of its first packet (its packets have the PSNs
    /// from it on, in a row), once sent, as an offset from its PDC's start
    /// PSN (a NEW_START_PSN NACK renumbers the packets in flight). A
    /// response names its message by a 16-bit message id, which wraps:
    /// [`Engine::on_response`] takes one only from an ACK triggered at or
    /// after this PSN.
    first_off: u32,
    nsegs: u32,
    /// A READ's segments answered; a SEND's or WRITE's (any message but a
    /// fetching one) packets acknowledged.
    done_segs: u32,
    /// A SEND or WRITE: when the last of its packets to be acknowledged
    /// was (ns / 16, wrapping, as `TxDesc::sent`), see
    /// [`Engine::response_wait`].
    acked_at: u32,
    pkt_id: u32,
    /// RUDI: when the message times out. A pull READ waiting for a PDC:
    /// when it tries again. RUD/ROD on a PDC (no timer of its own): time
    /// of the first of the `retries` resends (`min_fail_time` counts
    /// from it).
    deadline: u64,
    /// RUDI: time of the first transmission (RTT sample if not resent);
    /// once resent, of the first timeout (`min_fail_time` counts from
    /// it). RUD/ROD: the PSN `retries` counts the resends of.
    sent: u64,
    /// Bytes the message's packets carry: `post.len`, or for a
    /// rendezvous send its eager part.
    slen: u32,
    /// Initiator of a rendezvous send: the engine-internal key the target
    /// reads the rest with (see `engine/rndv.rs`); 0 otherwise.
    rkey: u64,
    /// Target: this READ pulls the rest of rendezvous message `pull` (an
    /// inbound index; `NONE` for a posted operation), landing at offset
    /// `base` of the receive buffer `post.buf`. It completes no post.
    pull: u16,
    base: u32,
    post: Post,
    /// Next in the hash bucket or on the free list.
    hnext: u16,
    /// Position in the deadline heap, or `NOPOS`.
    hpos: u32,
    /// Deadline the heap holds for this message.
    when: u64,
}

impl Msg {
    /// Whether the loss detection waits for this message's SES response
    /// in the ACK of its last packet ([`Engine::awaits_answer`]): a SEND
    /// or WRITE (not a fetching message, whose data is judged per
    /// packet), not a rendezvous send (answered after the target's
    /// reads), with `implied_ok` off (with it on, no response comes).
    fn response_judged(&self, implied_ok: bool) -> bool {
        !implied_ok && self.rkey == 0 && !atomic::wants_data(&self.post.op)
    }

    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        state: MsgState::Free,
        completed: false,
        cancelled: false,
        in_queue: false,
        retries: 0,
        pdc: NONE,
        msg_id: 0,
        next: NONE,
        refs: 0,
        resp: None,
        seg_next: 0,
        first_off: 0,
        nsegs: 0,
        done_segs: 0,
        acked_at: 0,
        pkt_id: 0,
        deadline: 0,
        sent: 0,
        slen: 0,
        rkey: 0,
        pull: NONE,
        base: 0,
        post: Post {
            user: 0,
            dst: [0; 16],
            target: SesAddr {
                ri_gen: 0,
                job: 0,
                pid: 0,
                ri: 0,
            },
            mode: Mode::Rud,
            op: Op::Send { tag: None },
            buf: 0,
            len: 0,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: 0,
        },
        hnext: NONE,
        hpos: index::NOPOS,
        when: u64::MAX,
    };
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Recv {
    used: bool,
    claimed: bool,
    /// Being cancelled (claimed: its message is detached first).
    cancel: bool,
    tagged: bool,
    ep: u32,
    len: u32,
    user: u64,
    buf: u64,
    tag: u64,
    ignore: u64,
    seq: u64,
    /// Next on the free list.
    hnext: u16,
    /// Neighbours in its matching list (unclaimed receives of a bucket of
    /// `{endpoint, tagged}`, in posting order), and whether it is listed.
    lnext: u16,
    lprev: u16,
    listed: bool,
}

impl Recv {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        used: false,
        claimed: false,
        cancel: false,
        tagged: false,
        ep: 0,
        len: 0,
        user: 0,
        buf: 0,
        tag: 0,
        ignore: 0,
        seq: 0,
        hnext: NONE,
        lnext: NONE,
        lprev: NONE,
        listed: false,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    Failed,
    /// Finished with an error answer that the PDC's response ring had no
    /// room for: the slot stays (it holds the answer, `rc`) until the
    /// initiator's clear PSN passes `eom_psn`, so that a duplicate of the
    /// message's last packet gets the error again, never an implied OK.
    Answered,
    Write {
        ep: u32,
        key: u64,
    },
    Recv(u16),
    Unexp(u16),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct InMsg {
    used: bool,
    pdc: u16,
    msg_id: u16,
    rc: u8,
    total: u32,
    got: u32,
    eom_psn: Option<u32>,
    hdr: u64,
    /// The first packet carried header data (SES HD flag).
    hd: bool,
    dest: Dest,
    /// In the inbound map. A single-packet message that completes as it
    /// arrives is not: it is released before anything could look it up.
    mapped: bool,
    /// Next in the hash bucket or on the free list.
    hnext: u16,
    /// Neighbours on its PDC's chain of inbound messages (`NONE`: none).
    pnext: u16,
    pprev: u16,
    /// [`Dest::Answered`]: next such message of the same PDC.
    anext: u16,
    /// Opcode of the first packet; every packet must carry the same.
    opcode: u8,
    /// Addressing of the first packet; every packet must carry the same.
    addr: SesAddr,
    /// SES initiator id of the first packet; every packet must carry the
    /// same.
    initiator: u32,
    /// Quota entries of the peer and of the JobID (`NONE`: none).
    peer_q: u16,
    job_q: u16,
    /// Match bits (tagged sends).
    bits: u64,
    /// A rendezvous send: its extension and pull state.
    rndv: Option<Rndv>,
}

/// Target state of a rendezvous send (see `engine/rndv.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rndv {
    /// Bytes carried by the message's own packets.
    eager: u32,
    /// Where the rest is read: `{RI generation, PIDonFEP, RI}` at the
    /// initiator, the offset of the rest in its buffer and the key.
    ri_gen: u8,
    pid: u16,
    ri: u16,
    offset: u64,
    key: u64,
    /// The message slot reserved for the pull READ (taken when the
    /// message arrived, so that a pull never waits for one).
    pull: u16,
    /// The pull READ is posted.
    pulling: bool,
}

impl InMsg {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        used: false,
        pdc: 0,
        msg_id: 0,
        rc: 0,
        total: 0,
        got: 0,
        eom_psn: None,
        hdr: 0,
        hd: false,
        dest: Dest::Failed,
        mapped: false,
        hnext: NONE,
        pnext: NONE,
        pprev: NONE,
        anext: NONE,
        opcode: 0,
        addr: SesAddr {
            ri_gen: 0,
            job: 0,
            pid: 0,
            ri: 0,
        },
        initiator: 0,
        peer_q: NONE,
        job_q: NONE,
        bits: 0,
        rndv: None,
    };
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Unexp {
    used: bool,
    complete: bool,
    tagged: bool,
    ep: u32,
    len: u32,
    matched: u16,
    bits: u64,
    hdr: u64,
    /// The message carried header data (SES HD flag).
    hd: bool,
    buf: u64,
    seq: u64,
    /// Where the message came from, for its receive completion: source
    /// FEP, SES initiator id and JobID.
    src: Addr,
    initiator: u32,
    job: u32,
    /// Next on the free list.
    hnext: u16,
    /// Quota entries of the peer and of the JobID.
    peer_q: u16,
    job_q: u16,
    /// Position in the deadline heap, or `NOPOS`.
    hpos: u32,
    /// Reclaim deadline the heap holds.
    when: u64,
    /// Neighbours in its matching list (unmatched messages of a bucket of
    /// `{endpoint, tagged}`, in arrival order), and whether it is listed.
    lnext: u16,
    lprev: u16,
    listed: bool,
    /// A rendezvous send (its inbound index; `NONE`: an eager one): the
    /// overflow buffer holds its eager part only (`len` bytes), and its
    /// receive pulls the rest.
    rndv: u16,
}

impl Unexp {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        used: false,
        complete: false,
        tagged: false,
        ep: 0,
        len: 0,
        matched: NONE,
        bits: 0,
        hdr: 0,
        hd: false,
        buf: 0,
        seq: 0,
        src: [0; 16],
        initiator: 0,
        job: 0,
        hnext: NONE,
        peer_q: NONE,
        job_q: NONE,
        hpos: index::NOPOS,
        when: u64::MAX,
        lnext: NONE,
        lprev: NONE,
        listed: false,
        rndv: NONE,
    };
}

/// A ROD request packet a target PDC holds because it arrived out of
/// order; its bytes are in [`Tables::held_buf`] at its slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    /// Owning PDC, or `NONE` when free.
    pdc: u16,
    /// Next in the PDC's list (PSN order) or on the free list.
    next: u16,
    psn: u32,
    len: u16,
}

impl Held {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        pdc: NONE,
        next: NONE,
        psn: 0,
        len: 0,
    };
}

/// Usage counters of one peer or JobID, for the per-peer and per-job
/// shares of the target tables.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quota {
    /// 0 free, 1 peer, 2 JobID (in the first 4 bytes of `key`).
    kind: u8,
    key: Addr,
    hnext: u16,
    pdcs: u16,
    inb: u16,
    unexp: u16,
}

impl Quota {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        kind: 0,
        key: [0; 16],
        hnext: NONE,
        pdcs: 0,
        inb: 0,
        unexp: 0,
    };
}

/// A closed or reaped target PDC, remembered for [`Config::quiet_time`] so
/// that its delayed or replayed SYN packets cannot open it again; or (an
/// *offer*, in a ring of its own) the start PSN offered in a
/// `NEW_START_PSN` NACK naming no PDC (a reaped half-open PDC's, or one
/// made under [`Config::syn_pressure`] or for an open PDC's key), so
/// that the initiator's SYN at that PSN, which shows it heard the NACK,
/// still opens the PDC.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tomb {
    peer: Addr,
    spdcid: u16,
    hnext: u16,
    start_psn: u32,
    /// An offer: the start PSN of the SYN it answered. That SYN's packets
    /// get the same offer again while it lives
    /// ([`Engine::offer_for_syn`]), a tombstone once it is taken
    /// ([`Engine::offer_take`]), and 1-RTT if it goes before its time.
    syn_psn: u32,
    offer: bool,
    /// In its hash chain (a used, superseded or expired entry leaves it
    /// before its ring slot is freed).
    linked: bool,
    /// An offer whose time a SYN it answered moved on
    /// ([`Engine::offer_for_syn`]) since it last went to the back of its
    /// ring: at the head of a full ring it goes to the back instead of
    /// out.
    fresh: bool,
    /// A key-wide tombstone: older tombstones of the key folded into one
    /// (beyond `index::TOMBS_PER_KEY`), for the latest of their times. It
    /// names no start PSN: while it lives, a SYN of the key that no other
    /// entry answers gets the 1-RTT handshake, never a PDC at its own
    /// PSN.
    wide: bool,
    until: u64,
}

impl Tomb {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        peer: [0; 16],
        spdcid: 0,
        hnext: NONE,
        start_psn: 0,
        syn_psn: 0,
        offer: false,
        linked: false,
        fresh: false,
        wide: false,
        until: 0,
    };
}

/// The payload of a request being processed: in the received packet, or
/// (ROD) in the reorder buffer at `(offset, length)`.
#[derive(Clone, Copy, Debug)]
enum Data<'a> {
    Slice(&'a [u8]),
    Held(usize, usize),
}

impl Data<'_> {
    fn len(&self) -> usize {
        match self {
            Data::Slice(b) => b.len(),
            Data::Held(_, n) => *n,
        }
    }
}

/// Answer the target attaches to an ACK (or RUDI response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// A READ of a rendezvous send, served from the local buffer `buf`
    /// (as `Read` is from registered memory).
    Local {
        msg_id: u16,
        job: u32,
        buf: u64,
        offset: u64,
        total: u32,
        msg_off: u32,
        len: u32,
    },
    None,
    Plain {
        msg_id: u16,
        /// JobID of the request, echoed in the response.
        job: u32,
        rc: u8,
        len: u32,
    },
    Read {
        msg_id: u16,
        /// JobID of the request, echoed in the response.
        job: u32,
        ep: u32,
        key: u64,
        offset: u64,
        total: u32,
        msg_off: u32,
        len: u32,
    },
    /// The result of a fetching atomic: a response with data carrying the
    /// previous value.
    Atomic {
        msg_id: u16,
        /// JobID of the request, echoed in the response.
        job: u32,
        value: u64,
    },
}

/// Owner of the engine's tables.
///
/// The environment allocates the tables (`KVec` from kvmalloc in the
/// kernel, `Vec` on the host) and hands them to [`Engine::new`], which
/// initialises every slot in place: no table is ever built on the stack or
/// moved by value, and the engine value itself stays small (a few hundred
/// bytes of configuration, counters and table handles).
pub(crate) trait Slab {
    /// A table of `T`s, indexed as a slice.
    type Of<T>: DerefMut<Target = [T]>;
}

/// Size of the scratch packet buffer the engine needs.
pub(crate) const PKT_BUF: usize = MAX_MTU + MAX_HDR;

/// The tables an engine works on; their lengths are its capacities.
pub(crate) struct Tables<S: Slab> {
    /// PDCs (both roles), fewer than 65535.
    pub(crate) pdcs: S::Of<Pdc>,
    /// Initiator messages, fewer than 65535.
    pub(crate) msgs: S::Of<Msg>,
    /// Posted receives, fewer than 65535.
    pub(crate) recvs: S::Of<Recv>,
    /// Inbound (partially received) messages, fewer than 65535.
    pub(crate) inb: S::Of<InMsg>,
    /// Unexpected messages, fewer than 65535.
    pub(crate) unexp: S::Of<Unexp>,
    /// Scratch packet buffer, at least [`PKT_BUF`] bytes.
    pub(crate) buf: S::Of<u8>,
    /// Hash buckets of the PDC map: a power of two (at least the PDC
    /// count for short chains).
    pub(crate) pdc_map: S::Of<u16>,
    /// Hash buckets of the initiator message map: a power of two.
    pub(crate) msg_map: S::Of<u16>,
    /// Hash buckets of the inbound message map: a power of two.
    pub(crate) inb_map: S::Of<u16>,
    /// Deadline heap: at least `pdcs.len() + msgs.len() + unexp.len()`
    /// entries.
    pub(crate) heap: S::Of<u32>,
    /// Per-peer and per-JobID usage counters: `pdcs.len() + 2 *
    /// (inb.len() + unexp.len())` entries never run out (fewer are
    /// allowed: a request that finds no free entry is refused as over
    /// quota).
    pub(crate) quotas: S::Of<Quota>,
    /// Hash buckets of the quota counters: a power of two.
    pub(crate) quota_map: S::Of<u16>,
    /// Tombstones of closed and reaped target PDCs (three quarters) and
    /// offers of reaped half-open ones (the last quarter): fewer than
    /// 65535; with none, every new PDC within the quiet time uses 1-RTT.
    pub(crate) tombs: S::Of<Tomb>,
    /// Hash buckets of the tombstones: a power of two.
    pub(crate) tomb_map: S::Of<u16>,
    /// Send windows, `Config::tx_window` descriptors each, lent to PDCs
    /// while they have packets in flight (at most 65534 windows).
    pub(crate) txq: S::Of<TxDesc>,
    /// Matching lists of posted receives and of unexpected messages, by
    /// `{endpoint, tagged}` (head and tail packed in a `u32`): powers of
    /// two.
    pub(crate) recv_map: S::Of<u32>,
    pub(crate) unexp_map: S::Of<u32>,
    /// ROD reorder buffer: slots for request packets that arrived out of
    /// order on ROD PDCs (fewer than 65535; empty: ROD targets drop them
    /// and the initiator goes back N), and their bytes, [`Tables::held_bytes`]
    /// per slot.
    pub(crate) held: S::Of<Held>,
    pub(crate) held_buf: S::Of<u8>,
    /// Fingerprints of the last UUD datagrams delivered, so that copies
    /// the network made are dropped (any length; a copy arriving after
    /// this many other datagrams is delivered again; empty: no filter).
    pub(crate) uud_seen: S::Of<u64>,
}

impl<S: Slab> Tables<S> {
    /// Bytes of [`Tables::held_buf`] per held packet at MTU `mtu`.
    pub(crate) const fn held_bytes(mtu: u32) -> usize {
        // CAST: u32 to usize widens on every target the module builds for.
        MAX_HDR + mtu as usize
    }

    /// Bucket count for a map over `n` entries (a power of two, >= n).
    pub(crate) const fn buckets(n: usize) -> usize {
        if n <= 1 {
            1
        } else {
            n.next_power_of_two()
        }
    }
}

/// Why [`Engine::new`] refused its configuration or tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InitError {
    /// A table holds 65535 entries or more.
    TooLarge,
    /// The MTU is 0 or above [`MAX_MTU`].
    BadMtu,
    /// The scratch buffer is shorter than [`PKT_BUF`].
    SmallBuf,
    /// `tx_window` is not a power of two up to [`MAX_TX_WINDOW`], or
    /// `max_inflight` is 0.
    BadWindow,
    /// `shard_bits` above 8, `shard` beyond them, or more PDCs than the
    /// id bits left.
    BadShard,
    /// `min_fail_time` above [`MAX_MIN_FAIL_TIME`].
    BadTime,
    /// A map's bucket count is not a power of two, or the heap is shorter
    /// than `pdcs.len() + msgs.len() + unexp.len()`.
    BadIndex,
}

/// The engine of one FEP (or of one shard of a FEP).
pub(crate) struct Engine<S: Slab> {
    cfg: Config,
    rng: u32,
    pkt_id: u32,
    seq: u64,
    pdcs: S::Of<Pdc>,
    msgs: S::Of<Msg>,
    recvs: S::Of<Recv>,
    inb: S::Of<InMsg>,
    unexp: S::Of<Unexp>,
    buf: S::Of<u8>,
    pdc_map: S::Of<u16>,
    msg_map: S::Of<u16>,
    inb_map: S::Of<u16>,
    heap: S::Of<u32>,
    heap_len: usize,
    tombs: S::Of<Tomb>,
    tomb_map: S::Of<u16>,
    tomb_head: usize,
    tomb_len: usize,
    offer_head: usize,
    offer_len: usize,
    quotas: S::Of<Quota>,
    quota_map: S::Of<u16>,
    free_quota: u16,
    /// JobIDs holding target PDCs (their quota entry counts some; only
    /// with `job_pdc_share`).
    job_pdc_jobs: u16,
    txq: S::Of<TxDesc>,
    recv_map: S::Of<u32>,
    unexp_map: S::Of<u32>,
    held: S::Of<Held>,
    held_buf: S::Of<u8>,
    free_held: u16,
    /// Slots of the reorder buffer in use.
    held_used: u16,
    free_win: u16,
    wait_head: u16,
    wait_tail: u16,
    /// RTT of RUDI exchanges (one estimator per engine).
    rudi_rtt: Rtt,
    /// Fingerprints of the last UUD datagrams delivered
    /// ([`Tables::uud_seen`]) and where the next one goes.
    uud_seen: S::Of<u64>,
    uud_next: usize,
    /// RTT sample taken by the ACK being processed.
    ack_sample: Option<u64>,
    /// Packets newly acknowledged by the ACK being processed.
    ack_count: u32,
    /// Until then SYNs of unknown PDCs get 1-RTT (quiet time after start,
    /// or after a tombstone was dropped before its time).
    syn_1rtt_until: u64,
    /// The latest time an entry point was given (`post_recv` takes none:
    /// a rendezvous pull it starts uses this).
    now: u64,
    /// ROD rendezvous sends not completed yet (while there are some, a
    /// ROD PDC starts no message behind one: see `engine/rndv.rs`).
    rod_rndv: u32,
    started: bool,
    hseed: u64,
    /// Rendezvous keys made so far (the nonce's counter).
    rndv_keys: u64,
    /// Offers made so far (the counter of [`Engine::offer_psn`]).
    offers_made: u64,
    free_pdc: u16,
    /// Slots on the PDC free list.
    free_pdc_n: u16,
    /// PDCs in use, of either role: slots handed out by
    /// [`Engine::pdc_alloc`] and not yet cleared (`pdc_clear`).
    pdcs_live: u16,
    /// Last PDC of the free list: a released PDC goes to the end, so that
    /// its id (the SPDCID its peer knows it by) is the last to be reused.
    free_pdc_tail: u16,
    /// Quarantined PDC slots, oldest first ([`Engine::pdc_quarantine`]),
    /// chained through `hnext`.
    quar_head: u16,
    quar_tail: u16,
    free_msg: u16,
    free_recv: u16,
    free_inb: u16,
    free_unexp: u16,
    /// Counters.
    pub(crate) stats: Stats,
    /// Host tests: packets the loss detection looked at (its cost).
    #[cfg(test)]
    pub(crate) scan_steps: u64,
    /// Host tests: entries of the tombstone and offer hash chains walked
    /// (lookups of a key, and unlinking an entry its ring drops), what a
    /// peer's SYNs cost there.
    #[cfg(test)]
    pub(crate) tomb_steps: u32,
}

fn to_u16(v: usize) -> u16 {
    u16::try_from(v).unwrap_or(NONE)
}

fn clamp_i16(v: i64) -> i16 {
    // CAST: clamped to the i16 range first.
    v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

fn psn_diff(a: u32, b: u32) -> i64 {
    // CAST: signed serial difference.
    i64::from(a.wrapping_sub(b) as i32)
}

/// `id` with its high `bits` bits (of 32) replaced by `shard`.
fn shard_tag(id: u32, bits: u8, shard: u8) -> u32 {
    if bits == 0 {
        return id;
    }
    let k = 32 - u32::from(bits);
    (u32::from(shard) << k) | (id & ((1u32 << k) - 1))
}

/// The shard that owns JobID `job` when an FEP is split into `1 << bits`
/// engines: initiators post a job's operations to it, and the receives
/// of the job's endpoints go to it.
pub(crate) fn job_shard(job: u32, bits: u8) -> u8 {
    if bits == 0 {
        return 0;
    }
    // CAST: the top `bits` (<= 8) bits of a u32.
    (job.wrapping_mul(0x9e37_79b1) >> (32 - u32::from(bits))) as u8
}

/// The shard a received UDP payload belongs to (`bits` as in
/// `Config::shard_bits`): the one whose PDC id (or RUDI packet id) it
/// names, or for a packet that opens a PDC or needs none (SYN, RUDI and
/// UUD requests) the shard of its JobID. A packet that does not parse
/// goes to shard 0, which counts it as bad. Pure: the receive path calls
/// it before taking any shard's lock.
pub(crate) fn shard_of(pkt: &[u8], bits: u8) -> u8 {
    if bits == 0 {
        return 0;
    }
    let Ok(p) = wire::parse(pkt) else {
        return 0;
    };
    let id16 = |id: u16| -> u8 {
        // CAST: the top `bits` (<= 8) bits of a u16.
        (id >> (16 - u16::from(bits))) as u8
    };
    // CAST: the top `bits` (<= 8) bits of a u32.
    let id32 = |id: u32| -> u8 { (id >> (32 - u32::from(bits))) as u8 };
    let job = |s: &Option<SesHeader>| match s {
        Some(SesHeader::Req(r)) => job_shard(r.addr.job, bits),
        _ => 0,
    };
    match p.pds {
        PdsHeader::Req(r) => match r.dst {
            PdcDst::Dpdcid(id) => id16(id),
            PdcDst::Syn { .. } => job(&p.ses),
        },
        PdsHeader::Ctrl(c) => match c.dst {
            PdcDst::Dpdcid(id) => id16(id),
            PdcDst::Syn { .. } => 0,
        },
        PdsHeader::Ack(a) => id16(a.dpdcid),
        PdsHeader::Nack(n) if n.rudi => id32(n.psn),
        PdsHeader::Nack(n) => id16(n.dpdcid),
        PdsHeader::RudiReq { .. } | PdsHeader::Uud { .. } => job(&p.ses),
        PdsHeader::RudiResp { pkt_id, .. } => id32(pkt_id),
    }
}

impl<S: Slab> Engine<S> {
    /// PDC `pi`'s id on the wire (the shard in its high bits).
    fn wire_id(&self, pi: usize) -> u16 {
        let bits = self.cfg.shard_bits;
        let id = to_u16(pi);
        if bits == 0 {
            return id;
        }
        (u16::from(self.cfg.shard) << (16 - u16::from(bits))) | id
    }

    /// The local index of the PDC a wire id names, if it is this shard's.
    fn local_id(&self, id: u16) -> Option<usize> {
        let bits = self.cfg.shard_bits;
        if bits == 0 {
            return Some(usize::from(id));
        }
        let k = 16 - u16::from(bits);
        // CAST: the top `bits` (<= 8) bits of a u16.
        if (id >> k) as u8 != self.cfg.shard {
            return None;
        }
        Some(usize::from(id & ((1 << k) - 1)))
    }

    /// The next RUDI packet id (the shard in its high bits).
    /// What names a UUD datagram: its source, JobID, initiator and message
    /// id (never 0, the empty slot of `uud_seen`). Only standard requests
    /// have a message id; others are not told apart.
    fn uud_fingerprint(&self, src: &Addr, s: &SesReq) -> Option<u64> {
        let ReqBody::Std {
            msg_id, initiator, ..
        } = s.body
        else {
            return None;
        };
        let (lo, hi) = index::addr_words(src);
        let id = (u64::from(s.addr.job) << 40) | (u64::from(initiator) << 16) | u64::from(msg_id);
        Some(index::mix(self.hseed ^ lo ^ index::mix(hi ^ id)) | 1)
    }

    fn next_pkt_id(&mut self) -> u32 {
        let id = self.pkt_id;
        self.pkt_id = shard_tag(id.wrapping_add(1), self.cfg.shard_bits, self.cfg.shard);
        id
    }

    /// An engine working on `t`, whose slots it resets in place (the
    /// tables' previous contents do not matter).
    pub(crate) fn new(cfg: Config, mut t: Tables<S>) -> Result<Self, InitError> {
        let max = usize::from(NONE);
        if t.pdcs.len() >= max
            || t.msgs.len() >= max
            || t.recvs.len() >= max
            || t.inb.len() >= max
            || t.unexp.len() >= max
        {
            return Err(InitError::TooLarge);
        }
        let mtu = usize::try_from(cfg.mtu).unwrap_or(usize::MAX);
        if mtu == 0 || mtu > MAX_MTU {
            return Err(InitError::BadMtu);
        }
        if cfg.shard_bits > 8
            || u32::from(cfg.shard) >> cfg.shard_bits != 0
            || t.pdcs.len() >= (1usize << (16 - cfg.shard_bits)) - 1
        {
            return Err(InitError::BadShard);
        }
        if !cfg.tx_window.is_power_of_two()
            || cfg.tx_window > MAX_TX_WINDOW
            || cfg.max_inflight == 0
        {
            return Err(InitError::BadWindow);
        }
        if t.buf.len() < PKT_BUF {
            return Err(InitError::SmallBuf);
        }
        if cfg.min_fail_time > MAX_MIN_FAIL_TIME {
            return Err(InitError::BadTime);
        }
        let pow2 = |n: usize| n.is_power_of_two() && u32::try_from(n).is_ok();
        if !pow2(t.pdc_map.len())
            || !pow2(t.msg_map.len())
            || !pow2(t.inb_map.len())
            || !pow2(t.tomb_map.len())
            || !pow2(t.quota_map.len())
            || !pow2(t.recv_map.len())
            || !pow2(t.unexp_map.len())
            || t.tombs.len() >= max
            || t.quotas.len() >= max
            || t.txq.len() / usize::try_from(cfg.tx_window).unwrap_or(usize::MAX) >= max
            || t.heap.len() < t.pdcs.len() + t.msgs.len() + t.unexp.len()
            || t.held.len() >= max
            || t.held_buf.len() / Tables::<S>::held_bytes(cfg.mtu) < t.held.len()
        {
            return Err(InitError::BadIndex);
        }
        t.pdcs.fill(Pdc::EMPTY);
        t.uud_seen.fill(0);
        t.msgs.fill(Msg::EMPTY);
        t.recvs.fill(Recv::EMPTY);
        t.inb.fill(InMsg::EMPTY);
        t.unexp.fill(Unexp::EMPTY);
        Ok(Self {
            cfg,
            rng: cfg.seed | 1,
            pkt_id: shard_tag(cfg.seed, cfg.shard_bits, cfg.shard),
            seq: 0,
            pdcs: t.pdcs,
            msgs: t.msgs,
            recvs: t.recvs,
            inb: t.inb,
            unexp: t.unexp,
            buf: t.buf,
            pdc_map: t.pdc_map,
            msg_map: t.msg_map,
            inb_map: t.inb_map,
            heap: t.heap,
            heap_len: 0,
            tombs: t.tombs,
            tomb_map: t.tomb_map,
            tomb_head: 0,
            tomb_len: 0,
            offer_head: 0,
            offer_len: 0,
            quotas: t.quotas,
            quota_map: t.quota_map,
            free_quota: NONE,
            job_pdc_jobs: 0,
            txq: t.txq,
            recv_map: t.recv_map,
            unexp_map: t.unexp_map,
            held: t.held,
            held_buf: t.held_buf,
            free_held: NONE,
            held_used: 0,
            free_win: NONE,
            wait_head: NONE,
            wait_tail: NONE,
            rudi_rtt: Rtt::new(cfg.rto_init),
            uud_seen: t.uud_seen,
            uud_next: 0,
            ack_sample: None,
            ack_count: 0,
            syn_1rtt_until: 0,
            now: 0,
            rod_rndv: 0,
            started: false,
            // Keyed by the secret too: `seed` shows on the wire (start
            // PSNs), and a peer that knows the hash can flood one bucket.
            hseed: index::siphash(cfg.key_seed, 0x5545_5420_6861_7368, u64::from(cfg.seed)),
            rndv_keys: 0,
            offers_made: 0,
            free_pdc: NONE,
            free_pdc_n: 0,
            pdcs_live: 0,
            free_pdc_tail: NONE,
            quar_head: NONE,
            quar_tail: NONE,
            free_msg: NONE,
            free_recv: NONE,
            free_inb: NONE,
            free_unexp: NONE,
            stats: Stats::default(),
            #[cfg(test)]
            scan_steps: 0,
            #[cfg(test)]
            tomb_steps: 0,
        }
        .with_indexes())
    }

    /// Notes the time of the first event: the quiet time starts there.
    fn start(&mut self, now: u64) {
        if now > self.now {
            self.now = now;
        }
        if !self.started {
            self.started = true;
            if self.cfg.quiet_start {
                self.syn_1rtt_until = now.saturating_add(self.cfg.quiet_time());
            }
        }
    }

    fn with_indexes(mut self) -> Self {
        self.build_indexes();
        self
    }

    /// Flags of the packets PDC `pi` has in its send window, oldest first
    /// (for inspection in tests and benchmarks).
    pub(crate) fn window_flags(&self, pi: usize) -> impl Iterator<Item = (u32, u8)> + '_ {
        let d = &self.pdcs[pi];
        let n = if d.win == NONE {
            0
        } else {
            d.next_psn.wrapping_sub(d.tx_base)
        };
        (0..n).map(move |k| {
            let p = d.tx_base.wrapping_add(k);
            (p, self.txq[self.txi(pi, p)].flags)
        })
    }

    /// Messages in use: `(user cookie, PDC, completed, packets still
    /// referring to it, still queued)` (for inspection in tests).
    pub(crate) fn msgs_in_use(&self) -> impl Iterator<Item = (u64, u16, bool, u16, bool)> + '_ {
        self.msgs
            .iter()
            .filter(|m| m.state != MsgState::Free)
            .map(|m| (m.post.user, m.pdc, m.completed, m.refs, m.in_queue))
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.cfg
    }

    /// The PDC table (for inspection).
    pub(crate) fn pdcs(&self) -> &[Pdc] {
        &self.pdcs[..]
    }

    /// Number of PDCs in use, of either role. O(1): the device reads it
    /// for `rdma statistic` under the FEP's lock.
    pub(crate) fn pdcs_in_use(&self) -> usize {
        usize::from(self.pdcs_live)
    }

    /// Number of slots in use: (PDCs, messages, receives, inbound,
    /// unexpected), by scanning the tables (for tests and teardown). The
    /// PDC count is checked against [`Self::pdcs_in_use`]'s counter.
    pub(crate) fn usage(&self) -> (usize, usize, usize, usize, usize) {
        let pdcs = self
            .pdcs
            .iter()
            .filter(|p| p.state != PdcState::Free)
            .count();
        assert_eq!(pdcs, self.pdcs_in_use(), "PDC counter out of step");
        (
            pdcs,
            self.msgs
                .iter()
                .filter(|m| m.state != MsgState::Free)
                .count(),
            self.recvs.iter().filter(|r| r.used).count(),
            self.inb.iter().filter(|r| r.used).count(),
            self.unexp.iter().filter(|r| r.used).count(),
        )
    }

    fn random(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// Before PDC `pi` sends a packet: if its peer proved reachable since
    /// its last packet, tells the environment ([`Env::reachable`]), whose
    /// next packet to the peer, the one being sent, may confirm it.
    pub(super) fn confirm_peer(&mut self, pi: usize, env: &mut impl Env) {
        let d = &mut self.pdcs[pi];
        if d.take_proven() {
            env.reachable(&d.peer);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transmit_with_local(
        &mut self,
        dst: &Addr,
        entropy: u32,
        h: &PdsHeader,
        ses: &SesHeader,
        buf: u64,
        off: u64,
        len: u32,
        env: &mut impl Env,
    ) {
        let Ok(n) = wire::emit_headers(h, Some(ses), &mut self.buf) else {
            return;
        };
        let len = usize::try_from(len).unwrap_or(0).min(MAX_MTU);
        self.stats.tx += 1;
        // CAST: entropy is a 16-bit path selector.
        env.transmit_local(dst, entropy as u16, &mut self.buf, n, buf, off, len);
    }

    /// Sends headers `h` and `ses` followed by `data` (a few bytes built
    /// by the engine, such as an atomic operand).
    fn transmit_inline(
        &mut self,
        dst: &Addr,
        entropy: u32,
        h: &PdsHeader,
        ses: &SesHeader,
        data: &[u8],
        env: &mut impl Env,
    ) {
        let Ok(n) = wire::emit_headers(h, Some(ses), &mut self.buf) else {
            return;
        };
        let Some(out) = self.buf.get_mut(n..n + data.len()) else {
            return;
        };
        out.copy_from_slice(data);
        self.stats.tx += 1;
        // CAST: entropy is a 16-bit path selector.
        env.transmit(dst, entropy as u16, &self.buf[..n + data.len()]);
    }

    fn transmit(
        &mut self,
        dst: &Addr,
        entropy: u32,
        h: &PdsHeader,
        ses: Option<&SesHeader>,
        _len: usize,
        env: &mut impl Env,
    ) {
        if let Ok(n) = wire::emit_headers(h, ses, &mut self.buf) {
            self.stats.tx += 1;
            // CAST: entropy is a 16-bit path selector.
            env.transmit(dst, entropy as u16, &self.buf[..n]);
        }
    }

    /// Processes one received UDP payload from `src`.
    pub(crate) fn receive(&mut self, now: u64, src: &Addr, pkt: &[u8], env: &mut impl Env) {
        self.receive_ecn(now, src, pkt, false, env);
    }

    /// Processes one received UDP payload from `src` whose IP header was
    /// ECN marked (Congestion Experienced) when `ce`.
    pub(crate) fn receive_ecn(
        &mut self,
        now: u64,
        src: &Addr,
        pkt: &[u8],
        ce: bool,
        env: &mut impl Env,
    ) {
        self.start(now);
        self.receive_inner(now, src, pkt, ce, env);
        // A window freed while handling the packet (a CLOSE acknowledged,
        // a PDC failed or released) goes to the PDCs waiting for one.
        self.wake_waiters(now, env);
    }

    fn receive_inner(&mut self, now: u64, src: &Addr, pkt: &[u8], ce: bool, env: &mut impl Env) {
        let Ok(p) = wire::parse(pkt) else {
            self.stats.rx_bad += 1;
            return;
        };
        self.stats.rx += 1;
        match (p.pds, p.ses) {
            (PdsHeader::Req(r), Some(SesHeader::Req(s))) => {
                self.on_request(now, src, &r, &s, p.payload, pkt, ce, env)
            }
            (PdsHeader::Ack(a), ses) => self.on_ack(now, src, &a, ses, p.payload, env),
            (PdsHeader::Nack(n), _) => self.on_nack(now, src, &n, env),
            (PdsHeader::Ctrl(c), _) => self.on_ctrl(now, src, &c, env),
            (PdsHeader::RudiReq { pkt_id, .. }, Some(SesHeader::Req(s))) => {
                // RUDI has no duplicate suppression: it carries idempotent
                // operations only (WRITE, READ). Anything else (a SEND would
                // complete a receive once per copy) gets UNSUPPORTED_OP.
                if s.opcode != op::WRITE && s.opcode != op::READ {
                    self.stats.rudi_bad_op += 1;
                    let msg_id = match s.body {
                        ReqBody::Std { msg_id, .. } => msg_id,
                        _ => 0,
                    };
                    let ans = Answer::Plain {
                        msg_id,
                        job: s.addr.job,
                        rc: rc::UNSUPPORTED_OP,
                        len: 0,
                    };
                    self.send_rudi_resp(src, pkt_id, ans, env);
                    return;
                }
                let ans = self.process_ses(now, None, 0, src, &s, Data::Slice(p.payload), env);
                match ans {
                    Ok(a) => self.send_rudi_resp(src, pkt_id, a, env),
                    Err(_) => self.stats.rx_drop += 1,
                }
            }
            (PdsHeader::RudiResp { pkt_id, .. }, Some(SesHeader::Resp(r))) => {
                self.on_rudi_resp(now, src, pkt_id, &r, p.payload, env)
            }
            (PdsHeader::Uud { .. }, Some(SesHeader::Req(s))) => {
                if s.opcode != op::SEND && s.opcode != op::TSEND {
                    self.stats.rx_drop += 1;
                    return;
                }
                // A copy of a datagram delivered lately (the network
                // duplicated it) is dropped: UUD is unreliable, not
                // repetitive.
                let fp = self.uud_fingerprint(src, &s);
                if fp.is_some_and(|f| self.uud_seen.contains(&f)) {
                    self.stats.dup += 1;
                    return;
                }
                match self.process_ses(now, None, 0, src, &s, Data::Slice(p.payload), env) {
                    Ok(Answer::Plain { rc, .. }) if rc == rc::OK => {
                        if let Some(slot) = fp.and_then(|f| {
                            let n = self.uud_seen.len();
                            let i = self.uud_next;
                            self.uud_next = if i + 1 >= n { 0 } else { i + 1 };
                            self.uud_seen.get_mut(i).map(|s| (s, f))
                        }) {
                            *slot.0 = slot.1;
                        }
                    }
                    _ => self.stats.uud_drop += 1,
                }
            }
            _ => self.stats.rx_drop += 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_nack(
        &mut self,
        dst: &Addr,
        code: u8,
        psn: u32,
        spdcid: u16,
        dpdcid: u16,
        payload: u32,
        env: &mut impl Env,
    ) {
        self.stats.nack_tx += 1;
        let h = PdsHeader::Nack(NackHdr {
            ecn: false,
            retx: false,
            rudi: false,
            code,
            vendor_code: 0,
            psn,
            spdcid,
            dpdcid,
            payload,
            ccx: None,
        });
        self.transmit(dst, psn, &h, None, 0, env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_reference_vector() {
        // SipHash-2-4, key 00..0f, message 00..07 (the reference
        // implementation's vectors.h, 8-byte entry).
        let (k0, k1) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        assert_eq!(
            index::siphash(k0, k1, 0x0706_0504_0302_0100),
            0x93f5_f579_9a93_2462
        );
    }

    /// Review S3: at the longest least failure time, a PDC whose first
    /// counted timeout falls anywhere in a tick is not due before that
    /// time has passed, and is due one tick after it. At the old bound
    /// (2^39 - 1 ns) the failure time was 2^15 + 1 ticks ahead for a
    /// first timeout 2 ns or more into a tick, which the wrapping
    /// comparison read as past: due at once.
    #[test]
    fn longest_min_fail_time_is_never_due_early() {
        use recovery::{fail_deadline, fail_due};
        let m = MAX_MIN_FAIL_TIME;
        for base in [0, 5 * FAIL_TICK, 0xffff * FAIL_TICK, 1 << 50] {
            for r in [0, 1, FAIL_TICK / 2, FAIL_TICK - 2, FAIL_TICK - 1] {
                let now = base + r;
                let at = fail_deadline(now, m);
                let mut t = now;
                while t < now + m {
                    assert!(!fail_due(t, at), "due at {} of {m} (from {now})", t - now);
                    t += FAIL_TICK / 3;
                }
                assert!(!fail_due(now + m - 1, at));
                assert!(fail_due(now + m + FAIL_TICK, at), "from {now}");
                // The old bound: from 2 ns into a tick, due at once.
                let old = fail_deadline(now, (1 << 39) - 1);
                assert_eq!(fail_due(now, old), r >= 2, "from {now}");
            }
        }
        // One tick more than the bound can be due at once too.
        let now = FAIL_TICK - 1;
        assert!(fail_due(now, fail_deadline(now, m + 2)));
    }

    /// Review S3: `retry_span` covers the rounding of the failure time up
    /// to a tick, and the timeout after it, however small `rto_max`.
    #[test]
    fn retry_span_covers_the_tick_rounding() {
        let cfg = Config {
            rto_max: 1_000,
            max_retries: 0,
            max_transient: 0,
            min_fail_time: 5 * FAIL_TICK + 1,
            ..Config::DEFAULT
        };
        // First counted timeout at `rto_max` at most (nothing forgiven),
        // failure time rounded up to the next tick, the failing timeout
        // at most `rto_max` after that.
        let worst = cfg.rto_max + (6 * FAIL_TICK) + cfg.rto_max;
        assert!(cfg.retry_span() >= worst, "{} < {worst}", cfg.retry_span());
        let no_mft = Config {
            min_fail_time: 0,
            ..cfg
        };
        assert_eq!(no_mft.retry_span(), no_mft.rto_max);
    }

    #[test]
    fn pdc_fits_budget() {
        // Documented figure: at most 512 bytes per PDC, packet buffers
        // excluded (packets are rebuilt from the message on retransmit).
        assert!(
            core::mem::size_of::<Pdc>() <= 512,
            "{}",
            core::mem::size_of::<Pdc>()
        );
    }
}
