// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The fabric end point (FEP) of a device: the part of the device model
//! that moves data. It owns the protocol engine, the endpoints' queues as
//! the engine sees them, the UDP tunnel on port 4793 and the engine's
//! timer.
//!
//! Packet path (see `Documentation/infiniband/ultraeth.rst`, "Data path"):
//!
//! * send: user space writes an SQE into the mapped send ring and rings the
//!   doorbell (`POST_SEND` with no work requests) -> [`Fep::doorbell_sq`]
//!   fetches the SQE once, checks it and its memory keys, and posts it to
//!   the engine -> the engine segments the message and calls
//!   [`Env::transmit`] per packet, reading the payload through
//!   [`Env::read_local`] from the pinned pages of the MR -> the packets are
//!   sent through the UDP tunnel after the engine's lock is dropped.
//! * receive: the tunnel's callback ([`Fep::recv`], softirq) hands the UDP
//!   payload to the engine, which resolves the target endpoint
//!   ([`Env::resolve`]: JobID, PIDonFEP, resource index), matches a posted
//!   receive and writes the payload into its pages ([`Env::write_local`]).
//! * completion: the engine reports [`Env::complete`]; the FEP writes the
//!   CQE into the endpoint's mapped CQ ring and signals the completion
//!   channel if the CQ was armed.
//! * time: one soft hrtimer per FEP runs [`Fep::on_timer`] at the engine's
//!   next deadline (retransmissions, ACK coalescing, PDC close).
//!
//! Locking: the engine and the endpoints' queue state live in one
//! [`Shard`] behind an irq-safe spinlock (the engine is one shard: every
//! job of the device shares it). Under it only innermost locks are taken:
//! the key table, the CQ producer and CQ event locks. Packets are sent
//! after it is dropped (`dev_queue_xmit` must not run with interrupts off).

use super::{
    tunnel::NetTunnel,
    Counter,
    Counters,
    CqRing,
    JobScope,
    KeyTable,
    MemError,
    MrEntry,
    RemoteError, //
};
use crate::proto::{
    engine::{
        Config,
        PostError,
        PKT_BUF, //
    },
    ses::{
        Addr,
        AtomicOp,
        CompKind,
        Completion,
        Env,
        Mode,
        Op,
        Post,
        Status, //
    },
    wire::{
        pds::PdsType,
        ses::{
            rc,
            SesAddr, //
        },
    },
};
use core::sync::atomic::{
    AtomicBool,
    Ordering, //
};
use kernel::{
    impl_has_hr_timer,
    net::skb::{
        IpAddrs,
        SkBuff,
        SkbChain, //
    },
    new_spinlock_irq,
    prelude::*,
    rdma::{
        device::{
            Access,
            CqEvents, //
        },
        mmap::UserBuffer,
        netdev::{
            NetDevice,
            Rtnl, //
        },
    },
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        SpinLockIrq, //
    },
    time::{
        hrtimer::{
            ArcHrTimerHandle,
            HrTimer,
            HrTimerCallback,
            HrTimerCallbackContext,
            HrTimerPointer,
            HrTimerRestart,
            RelativeSoftMode, //
        },
        Delta,
        Instant,
        Monotonic, //
    },
    uapi,
};

/// Endpoint slots: one per PIDonFEP value (12 bits).
pub(crate) const MAX_EP: usize = 4096;
/// Largest send or receive ring, in entries.
pub(crate) const MAX_WQE: u32 = 4096;
/// Bytes of the ring header (uapi `UET_WQ_RING_ENTRIES_OFFSET`).
pub(crate) const WQ_RING_ENTRIES_OFFSET: usize =
    kernel::num::casts::u32_as_usize(uapi::UET_WQ_RING_ENTRIES_OFFSET);
const WQ_PROD_OFFSET: usize = core::mem::offset_of!(uapi::uet_wq_ring_hdr, prod_idx);
const WQ_CONS_OFFSET: usize = core::mem::offset_of!(uapi::uet_wq_ring_hdr, cons_idx);
/// Bytes per send ring entry.
pub(crate) const SQE_SIZE: usize = core::mem::size_of::<uapi::uet_sqe>();
/// Bytes per receive ring entry.
pub(crate) const RQE_SIZE: usize = core::mem::size_of::<uapi::uet_rqe>();
/// Scatter/gather entries per send request.
pub(crate) const MAX_SEND_SGE: u32 = uapi::UET_SQE_MAX_SGE;
/// Scatter/gather entries per receive request.
pub(crate) const MAX_RECV_SGE: u32 = uapi::UET_RQE_MAX_SGE;
/// Inline bytes per send request.
pub(crate) const MAX_INLINE: u32 = uapi::UET_SQE_MAX_INLINE;

const _: () = assert!(SQE_SIZE == 128);
const _: () = assert!(RQE_SIZE == 64);
// The SQE fields the device reads by offset.
const _: () = assert!(core::mem::offset_of!(uapi::uet_sqe, header_data) == SQE_HDR_DATA);
const _: () = assert!(core::mem::offset_of!(uapi::uet_sqe, remote_key) == SQE_RKEY);
const _: () = assert!(core::mem::offset_of!(uapi::uet_sqe, remote_addr) == SQE_RADDR);
const _: () = assert!(core::mem::offset_of!(uapi::uet_sqe, swap) == SQE_SWAP);
// The fields in anonymous unions sit between named ones.
const _: () = assert!(SQE_MATCH + 8 == SQE_RKEY && SQE_SGE == SQE_RADDR + 8);
const _: () = assert!(SQE_SGE + 16 * MAX_SEND_SGE as usize == SQE_SWAP);
const SQE_HDR_DATA: usize = 40;
const SQE_MATCH: usize = 48;
const SQE_RKEY: usize = 56;
const SQE_RADDR: usize = 64;
const SQE_SGE: usize = 72;
const SQE_SWAP: usize = 120;
const _: () = assert!(WQ_CONS_OFFSET == 64);
const _: () = assert!(core::mem::size_of::<uapi::uet_wq_ring_hdr>() == WQ_RING_ENTRIES_OFFSET);

/// Work completion status values (`enum ib_wc_status`, the same numbers
/// as rdma-core's `enum ibv_wc_status`).
mod wc {
    pub(crate) const SUCCESS: u8 = 0;
    pub(crate) const LOC_LEN_ERR: u8 = 1;
    pub(crate) const LOC_QP_OP_ERR: u8 = 2;
    pub(crate) const LOC_PROT_ERR: u8 = 4;
    pub(crate) const WR_FLUSH_ERR: u8 = 5;
    pub(crate) const LOC_ACCESS_ERR: u8 = 8;
    pub(crate) const REM_INV_REQ_ERR: u8 = 9;
    pub(crate) const REM_ACCESS_ERR: u8 = 10;
    pub(crate) const REM_OP_ERR: u8 = 11;
    pub(crate) const RETRY_EXC_ERR: u8 = 12;
}

/// Unexpected-message buffers: how many, and the largest message each
/// holds. An untagged or tagged send that finds no receive posted waits in
/// one of them; a longer one, or one that finds them all taken, is refused
/// by the engine (`NO_SES_MSG_AVAIL`-style retry, then an error at the
/// sender): see "Unexpected messages" in the documentation.
pub(crate) const OVERFLOW_BUFS: usize = 64;
/// Bytes per unexpected-message buffer.
pub(crate) const OVERFLOW_BYTES: usize = 64 * 1024;

/// Ring entries a doorbell fetches while the FEP's lock is held (interrupts
/// are off meanwhile); it takes the lock again for the rest.
const FETCH_BUDGET: u32 = 64;
/// Ring entries fetched for the endpoints kicked by completions while the
/// lock is held; the timer goes on with the rest.
const KICK_BUDGET: u32 = 128;

/// Shortest and longest timer period while the engine has deadlines (ns).
const TIMER_MIN_NS: u64 = 10_000;
const TIMER_MAX_NS: u64 = 1_000_000;

/// A CQ as the device model sees it: the ring, the event reporter and the
/// arm bit. Shared by the CQ object and the endpoints bound to it.
///
/// Calling context: [`CqShared::push`] never sleeps.
pub(crate) struct CqShared {
    pub(crate) ring: Pin<KBox<CqRing>>,
    pub(crate) events: Arc<CqEvents>,
    pub(crate) armed: AtomicBool,
    /// Set once the ring overflowed: the CQ is in error for good.
    pub(crate) error: AtomicBool,
    pub(crate) counters: Arc<Counters>,
}

impl CqShared {
    /// Writes a completion and signals the channel if the CQ was armed. A
    /// full ring puts the CQ in error for good: the error is reported
    /// once, and every later completion is dropped (counted). Never
    /// sleeps.
    pub(crate) fn push(&self, cqe: &uapi::uet_cqe) {
        if self.error.load(Ordering::Acquire) || self.ring.push(cqe).is_err() {
            self.counters.inc(Counter::CqOverflow);
            if !self.error.swap(true, Ordering::AcqRel) {
                self.events.report(kernel::rdma::device::CqEvent::Error);
            }
            return;
        }
        if self.armed.swap(false, Ordering::AcqRel) {
            self.events.notify();
        }
    }
}

/// The rings of an endpoint and the CQs it reports to, shared by the QP
/// object (which maps them) and the FEP (which reads and completes them).
pub(crate) struct EpRings {
    pub(crate) sq: Arc<UserBuffer>,
    pub(crate) sq_entries: u32,
    pub(crate) rq: Arc<UserBuffer>,
    pub(crate) rq_entries: u32,
    pub(crate) scq: Arc<CqShared>,
    pub(crate) rcq: Arc<CqShared>,
}

/// Rounds a requested queue size up to a ring size: a power of two, at
/// least two entries. `None` above [`MAX_WQE`].
pub(crate) fn wq_ring_entries(requested: u32) -> Option<u32> {
    if requested > MAX_WQE {
        return None;
    }
    Some(requested.max(2).next_power_of_two())
}

/// Bytes of a ring of `entries` entries of `size` bytes.
pub(crate) fn wq_ring_bytes(entries: u32, size: usize) -> usize {
    WQ_RING_ENTRIES_OFFSET + kernel::num::casts::u32_as_usize(entries) * size
}

/// One scatter/gather entry, as fetched from a ring.
#[derive(Clone, Copy, Default)]
struct Sge {
    addr: u64,
    len: u32,
    lkey: u32,
}

/// What a send-queue request does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SqOp {
    Send,
    TaggedSend,
    Write,
    Read,
    FetchAdd,
    CmpSwap,
    /// Non-fetching add.
    Add,
}

impl SqOp {
    fn from_uapi(op: u8) -> Option<Self> {
        Some(match u32::from(op) {
            uapi::uet_sqe_opcode_UET_SQE_OP_SEND => Self::Send,
            uapi::uet_sqe_opcode_UET_SQE_OP_TAGGED_SEND => Self::TaggedSend,
            uapi::uet_sqe_opcode_UET_SQE_OP_WRITE => Self::Write,
            uapi::uet_sqe_opcode_UET_SQE_OP_READ => Self::Read,
            uapi::uet_sqe_opcode_UET_SQE_OP_ATOMIC_FETCH_ADD => Self::FetchAdd,
            uapi::uet_sqe_opcode_UET_SQE_OP_ATOMIC_CMP_SWP => Self::CmpSwap,
            uapi::uet_sqe_opcode_UET_SQE_OP_ATOMIC_ADD => Self::Add,
            _ => return None,
        })
    }

    /// The CQE opcode of its completion.
    fn cqe_opcode(self) -> u8 {
        let op = match self {
            Self::Send => uapi::uet_cqe_opcode_UET_CQE_OP_SEND,
            Self::TaggedSend => uapi::uet_cqe_opcode_UET_CQE_OP_TAGGED_SEND,
            Self::Write => uapi::uet_cqe_opcode_UET_CQE_OP_WRITE,
            Self::Read => uapi::uet_cqe_opcode_UET_CQE_OP_READ,
            Self::FetchAdd | Self::Add => uapi::uet_cqe_opcode_UET_CQE_OP_ATOMIC,
            Self::CmpSwap => uapi::uet_cqe_opcode_UET_CQE_OP_CMP_SWP,
        };
        // CAST: small uapi enum values.
        op as u8
    }

    /// Whether it names remote memory (`remote_key`, `remote_addr`).
    fn is_remote(self) -> bool {
        !matches!(self, Self::Send | Self::TaggedSend)
    }

    /// Whether it is an atomic.
    fn is_atomic(self) -> bool {
        matches!(self, Self::FetchAdd | Self::CmpSwap | Self::Add)
    }

    /// Whether its SGEs receive data (a read's sink, a fetched value).
    fn fills_sges(self) -> bool {
        matches!(self, Self::Read | Self::FetchAdd | Self::CmpSwap)
    }

    /// Whether an endpoint of delivery mode `mode` may post it.
    fn allowed_in(self, mode: Mode) -> bool {
        match mode {
            Mode::Rud | Mode::Rod => true,
            Mode::Rudi => matches!(self, Self::Write | Self::Read),
            Mode::Uud => matches!(self, Self::Send | Self::TaggedSend),
        }
    }
}

/// What the device keeps of a fetched send request until it completes.
#[derive(Clone, Copy)]
struct SendSlot {
    used: bool,
    wr_id: u64,
    signaled: bool,
    op: SqOp,
    /// A payload read failed (the MR went away): the completion reports
    /// `IB_WC_LOC_PROT_ERR` instead of success.
    faulted: bool,
    inline: bool,
    nsge: u8,
    len: u32,
    sge: [Sge; 3],
    data: [u8; 48],
    next_free: u16,
}

impl SendSlot {
    const EMPTY: Self = Self {
        used: false,
        wr_id: 0,
        signaled: false,
        op: SqOp::Send,
        faulted: false,
        inline: false,
        nsge: 0,
        len: 0,
        sge: [Sge {
            addr: 0,
            len: 0,
            lkey: 0,
        }; 3],
        data: [0; 48],
        next_free: NO_SLOT,
    };
}

/// What the device keeps of a fetched receive request.
#[derive(Clone, Copy)]
struct RecvSlot {
    used: bool,
    wr_id: u64,
    tagged: bool,
    faulted: bool,
    nsge: u8,
    len: u32,
    sge: [Sge; 2],
    next_free: u16,
}

impl RecvSlot {
    const EMPTY: Self = Self {
        used: false,
        wr_id: 0,
        tagged: false,
        faulted: false,
        nsge: 0,
        len: 0,
        sge: [Sge {
            addr: 0,
            len: 0,
            lkey: 0,
        }; 2],
        next_free: NO_SLOT,
    };
}

const NO_SLOT: u16 = u16::MAX;

/// One of an endpoint's two work queues.
#[derive(Clone, Copy)]
enum Wq {
    Send,
    Recv,
}

impl Ep {
    /// Whether every fetched request completes with `IB_WC_WR_FLUSH_ERR`
    /// before any other check, and nothing is sent: the endpoint is in
    /// error, or its job was revoked (REVOKE may not have put it in error
    /// yet).
    fn flushes(&self) -> bool {
        self.error || self.scope.is_revoked()
    }

    /// Ring, entries and entry size of queue `wq`.
    fn ring(&self, wq: Wq) -> (Arc<UserBuffer>, u32, usize) {
        match wq {
            Wq::Send => (self.rings.sq.clone(), self.rings.sq_entries, SQE_SIZE),
            Wq::Recv => (self.rings.rq.clone(), self.rings.rq_entries, RQE_SIZE),
        }
    }

    /// The device's consumer index of queue `wq`.
    fn cons(&mut self, wq: Wq) -> &mut u32 {
        match wq {
            Wq::Send => &mut self.sq_cons,
            Wq::Recv => &mut self.rq_cons,
        }
    }

    /// Whether queue `wq` has a free request slot.
    fn has_free_slot(&self, wq: Wq) -> bool {
        match wq {
            Wq::Send => self.send_free != NO_SLOT,
            Wq::Recv => self.recv_free != NO_SLOT,
        }
    }

    /// The endpoint's id in the engine: the PIDonFEP and 20 bits of the
    /// generation, so that an unexpected message held for an endpoint
    /// that is gone never matches a later one with the same PIDonFEP.
    fn engine_id(&self) -> u32 {
        ((self.gen & 0xf_ffff) << 12) | (self.qpn & 0xfff)
    }
}

/// An endpoint as the FEP sees it.
struct Ep {
    rings: Arc<EpRings>,
    scope: Arc<JobScope>,
    /// The protection domain of the QP: local keys must be of its MRs.
    pd: u64,
    job: u32,
    qpn: u32,
    /// The SES initiator field of the endpoint's requests, which the
    /// target reports as the source (`uet_cqe.src_qpn`): the QP number
    /// unless the creator chose another (`UET_CREATE_QP_MASK_INITIATOR`).
    initiator: u32,
    tc: u8,
    /// Delivery mode of every request of the endpoint.
    mode: Mode,
    /// Distinguishes this endpoint's cookies from those of an earlier
    /// endpoint with the same PIDonFEP.
    gen: u32,
    sq_cons: u32,
    rq_cons: u32,
    sends: KVVec<SendSlot>,
    send_free: u16,
    recvs: KVVec<RecvSlot>,
    recv_free: u16,
    /// A fetched send the engine could not take yet (its tables were full).
    send_blocked: Option<(u16, Post)>,
    /// A fetched receive the engine could not take yet.
    recv_blocked: Option<(u16, Option<(u64, u64)>)>,
    /// In error (`IBV_QPS_ERR`, or its job was revoked): new work is
    /// flushed.
    error: bool,
}

/// A cookie names a request for the engine: `user` and `buf` handles.
///
/// bits 63..32 generation, 31..20 PIDonFEP, 19 receive, 15..0 slot.
/// Overflow buffers have bit 18 set and their index in 15..0.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Cookie {
    gen: u32,
    pid: u16,
    recv: bool,
    slot: u16,
}

const COOKIE_RECV: u64 = 1 << 19;
const COOKIE_OVERFLOW: u64 = 1 << 18;

impl Cookie {
    fn encode(self) -> u64 {
        (u64::from(self.gen) << 32)
            | (u64::from(self.pid & 0xfff) << 20)
            | if self.recv { COOKIE_RECV } else { 0 }
            | u64::from(self.slot)
    }

    fn decode(v: u64) -> Option<Self> {
        if v & COOKIE_OVERFLOW != 0 {
            return None;
        }
        // CAST: masked to the field widths.
        Some(Self {
            gen: (v >> 32) as u32,
            pid: ((v >> 20) & 0xfff) as u16,
            recv: v & COOKIE_RECV != 0,
            slot: (v & 0xffff) as u16,
        })
    }
}

/// The state behind the FEP's lock.
struct Shard {
    engine: KBox<super::engine::DevEngine>,
    /// Copy of a received packet (the engine parses a flat buffer).
    rxbuf: KVVec<u8>,
    rest: Rest,
    /// The timer is running (or about to be started).
    armed: bool,
}

/// The shard without the engine: what the environment works on.
struct Rest {
    eps: KVVec<Option<Ep>>,
    /// Unexpected-message buffers and which are taken.
    overflow: KVVec<u8>,
    overflow_used: [bool; OVERFLOW_BUFS],
    /// Endpoints whose queues should be fetched again (a slot was freed).
    kick: [u64; MAX_EP / 64],
    kicked: bool,
    /// Endpoints with a request the engine could not take yet: fetched
    /// again whenever anything completes.
    blocked: [u64; MAX_EP / 64],
    next_gen: u32,
    /// Where the search for a free PIDonFEP starts (allocation is cyclic,
    /// so a QP number is not reused at once).
    pid_cursor: u16,
    /// A peer that proved reachable ([`Env::reachable`]) and got no packet
    /// since: the next packet to it, which the engine sends right after
    /// telling us, confirms its neighbour entry. Cleared when the engine
    /// call ends, in case that packet could not be built.
    confirm: Option<Addr>,
}

/// The fabric end point of a device.
#[pin_data]
pub(crate) struct Fep {
    netdev: ARef<NetDevice>,
    keys: Arc<KeyTable>,
    counters: Arc<Counters>,
    /// Engine time is nanoseconds since this instant (plus one).
    epoch: Instant<Monotonic>,
    #[pin]
    state: SpinLockIrq<Shard>,
    /// The namespace's UDP tunnel once the first endpoint joined it; left
    /// by [`Fep::shutdown`]. Innermost; senders clone the reference.
    #[pin]
    tunnel: SpinLockIrq<Option<Arc<NetTunnel>>>,
    #[pin]
    timer: HrTimer<Fep>,
    /// The timer's handle (holds a reference to the FEP while the timer
    /// may run); taken by [`Fep::shutdown`]. Innermost.
    #[pin]
    handle: SpinLockIrq<Option<ArcHrTimerHandle<Fep>>>,
    /// Set once by [`Fep::shutdown`]: no timer is started afterwards.
    dying: AtomicBool,
}

impl_has_hr_timer! {
    impl HasHrTimer<Fep> for Fep {
        mode: RelativeSoftMode<Monotonic>,
        field: self.timer
    }
}

/// The engine's configuration on a netdev whose UET payload per packet is
/// `mtu` bytes.
fn engine_config(mtu: u32) -> Config {
    Config {
        mtu,
        // Start PSNs, the first PDC slot (PDC ids are slot indexes, handed
        // out from there) and the hash key come from the seed: a device
        // created again on the same address (or a peer host) must not
        // repeat them, or its peers take its new PDCs for stale ones.
        seed: kernel::random::get_random_u32().max(1),
        // The secret of the rendezvous keys: never derived from, or
        // visible in, anything on the wire.
        key_seed: kernel::random::get_random_u64(),
        // Sends above the eager limit go as rendezvous sends: the target
        // holds no more than this of an unexpected message (one overflow
        // buffer) and pulls the rest once a receive matched.
        // CAST: 64 KiB.
        eager_limit: OVERFLOW_BYTES as u32,
        max_msg: MAX_MSG,
        ..Config::SOFTWARE
    }
}

/// Longest message (send or RMA) an endpoint takes.
pub(crate) const MAX_MSG: u32 = 64 << 20;

/// PDCs of a device (both roles).
pub(crate) const MAX_PDC: usize = 1024;

/// Messages in flight per device (initiator side).
pub(crate) const MAX_ENGINE_MSGS: u32 = 4096;

/// Capacities of a device's engine.
const SIZES: super::engine::Sizes = super::engine::Sizes {
    pdcs: MAX_PDC,
    // CAST: 4096.
    msgs: MAX_ENGINE_MSGS as usize,
    recvs: 4096,
    windows: 256,
};

impl Fep {
    /// Builds the FEP of a device on `netdev`; `payload_mtu` is the UET
    /// payload per packet. May sleep (allocates the engine's tables).
    pub(crate) fn new(
        netdev: &NetDevice,
        payload_mtu: u32,
        keys: Arc<KeyTable>,
        counters: Arc<Counters>,
    ) -> Result<Arc<Self>> {
        let engine = super::engine::new_engine(engine_config(payload_mtu), SIZES)?;
        let mut eps = KVVec::with_capacity(MAX_EP, GFP_KERNEL)?;
        for _ in 0..MAX_EP {
            eps.push(None, GFP_KERNEL)?;
        }
        let shard = Shard {
            engine,
            rxbuf: KVVec::from_elem(0u8, PKT_BUF, GFP_KERNEL)?,
            rest: Rest {
                eps,
                overflow: KVVec::from_elem(0u8, OVERFLOW_BUFS * OVERFLOW_BYTES, GFP_KERNEL)?,
                overflow_used: [false; OVERFLOW_BUFS],
                kick: [0; MAX_EP / 64],
                kicked: false,
                blocked: [0; MAX_EP / 64],
                next_gen: 1,
                pid_cursor: 0,
                confirm: None,
            },
            armed: false,
        };
        Arc::pin_init(
            pin_init!(Self {
                netdev: netdev.into(),
                keys,
                counters,
                epoch: Instant::now(),
                state <- new_spinlock_irq!(shard, "uet_soft::Fep::state"),
                tunnel <- new_spinlock_irq!(None, "uet_soft::Fep::tunnel"),
                timer <- HrTimer::new(),
                handle <- new_spinlock_irq!(None, "uet_soft::Fep::handle"),
                dying: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// Engine time: nanoseconds since the FEP was built, never 0.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(0) + 1
    }

    /// Joins the namespace's UDP tunnel if this FEP has not yet (the first
    /// endpoint does): the tunnel another uet device of the namespace
    /// bound, or a new one. `EADDRINUSE` if another socket holds port
    /// 4793. Process context; may sleep; must not be called with RTNL
    /// held.
    pub(crate) fn ensure_bound(self: ArcBorrow<'_, Self>) -> Result {
        if self.tunnel.lock().is_some() {
            return Ok(());
        }
        let this: Arc<Self> = self.into();
        kernel::rdma::netdev::with_rtnl(|rtnl| {
            // RTNL serialises this with NETDEV_UNREGISTER, which shuts the
            // FEP down, and with other FEPs joining.
            if this.dying.load(Ordering::Acquire) || !this.netdev.is_registered() {
                return Err(ENODEV);
            }
            if this.tunnel.lock().is_some() {
                return Ok(());
            }
            let t = NetTunnel::join(rtnl, &this.netdev, &this)?;
            *this.tunnel.lock() = Some(t);
            Ok(())
        })
    }

    /// Whether `addr` (IPv6 or IPv4-mapped) is an address of this FEP's
    /// netdev. Never sleeps.
    pub(crate) fn has_addr(&self, addr: &[u8; 16]) -> bool {
        let mut found = false;
        self.netdev.for_each_ip_gid(|g| found |= g == addr);
        found
    }

    /// The namespace's tunnel this FEP uses, if any. Never sleeps.
    pub(crate) fn tunnel(&self) -> Option<Arc<NetTunnel>> {
        self.tunnel.lock().clone()
    }

    /// Stops the FEP: it leaves the tunnel (the last device of the
    /// namespace releases the sockets), the timer is cancelled and no
    /// packet is sent any more. Endpoints still open get nothing done;
    /// their outstanding work is flushed when they are destroyed. Process
    /// context; may sleep. Idempotent.
    pub(crate) fn shutdown(&self, rtnl: &Rtnl) {
        self.dying.store(true, Ordering::Release);
        let tunnel = self.tunnel.lock().take();
        if let Some(t) = tunnel {
            t.leave(rtnl, self);
        }
        let handle = self.handle.lock().take();
        // Cancels the timer and waits for a running callback; the callback
        // restarts nothing once `dying` is set.
        drop(handle);
        self.state.lock().armed = false;
    }

    /// Starts the timer to fire after `delay_ns`, unless the FEP is dying.
    fn arm(self: ArcBorrow<'_, Self>, delay_ns: u64) {
        // The previous handle's timer restarts no more (the shard's `armed`
        // was false, so its callback decided not to), but the callback may
        // still be finishing: dropping the handle waits for it, which is
        // done without a lock held (interrupts on).
        let old = self.handle.lock().take();
        drop(old);
        let mut h = self.handle.lock();
        if self.dying.load(Ordering::Acquire) {
            return;
        }
        // Only the caller that set `armed` gets here, so no other handle
        // was stored meanwhile.
        drop(h.take());
        let this: Arc<Self> = self.into();
        let d = Delta::from_nanos(i64::try_from(delay_ns).unwrap_or(i64::MAX));
        *h = Some(this.start(d));
    }

    /// Runs `f` on the engine with an environment over the rest of the
    /// shard, fetches the queues that completions unblocked, then sends
    /// the packets all this produced and arms the timer if the engine
    /// needs it. Any context but hardirq.
    fn with_engine<R>(
        self: ArcBorrow<'_, Self>,
        f: impl FnOnce(&mut super::engine::DevEngine, &mut KEnv<'_>, &mut [u8], u64) -> R,
    ) -> R {
        let now = self.now();
        let mut txq = SkbChain::new();
        let (r, arm) = {
            let mut guard = self.state.lock();
            let s = &mut *guard;
            let mut env = KEnv {
                rest: &mut s.rest,
                keys: &self.keys,
                counters: &self.counters,
                txq: &mut txq,
            };
            let r = f(&mut s.engine, &mut env, &mut s.rxbuf, now);
            let more = env.run_kicks(&mut s.engine, now);
            // A proof of reachability is good for the packets of this
            // call only.
            s.rest.confirm = None;
            // Leftover kicks are the timer's next job, at once.
            let next = if more {
                Some(now)
            } else {
                s.engine.next_deadline()
            };
            let arm = match next {
                Some(t) if !s.armed && !self.dying.load(Ordering::Acquire) => {
                    s.armed = true;
                    Some(t.saturating_sub(now).clamp(TIMER_MIN_NS, TIMER_MAX_NS))
                }
                _ => None,
            };
            (r, arm)
        };
        self.send_all(txq);
        if let Some(d) = arm {
            self.arm(d);
        }
        r
    }

    /// Sends packets built under the lock.
    fn send_all(&self, mut txq: SkbChain) {
        while let Some(skb) = txq.pop() {
            self.send_one(skb);
        }
    }

    /// Sends one packet built by [`KEnv::transmit`]: its first
    /// [`TX_META`] bytes are the destination, the entropy, the ECN field
    /// and flags, not payload.
    fn send_one(&self, mut skb: SkBuff) {
        let mut meta = [0u8; TX_META];
        if skb.copy_bits(0, &mut meta).is_err() || skb.pull(TX_META).is_err() {
            self.counters.inc(Counter::TxErrors);
            return;
        }
        let len = skb.len();
        // The UDP source port carries the entropy, in the dynamic range.
        let sport = 0xc000 | (u16::from_be_bytes([meta[16], meta[17]]) & 0x3fff);
        let mut dst = [0u8; 16];
        dst.copy_from_slice(&meta[..16]);
        if meta[19] & TX_CONFIRM != 0 {
            skb.confirm_neighbour();
        }
        // The reference may be the tunnel's last if the FEP is being shut
        // down: a tunnel is shut down before it is let go of, and dropping
        // one that is not bound does not sleep.
        let sent = match self.tunnel() {
            Some(t) => t.send(skb, &dst, sport, meta[18], self.netdev.ifindex()),
            None => Err(ENOTCONN),
        };
        match sent {
            Ok(()) => self.counters.add(Counter::TxBytes, len),
            Err(_) => self.counters.inc(Counter::TxErrors),
        }
    }

    /// The soft timer fired: runs the engine's due timers; the delay to
    /// the next run, if any. Softirq.
    fn on_timer(self: ArcBorrow<'_, Self>) -> Option<u64> {
        let now = self.now();
        let mut txq = SkbChain::new();
        let next = {
            let mut guard = self.state.lock();
            let s = &mut *guard;
            let mut env = KEnv {
                rest: &mut s.rest,
                keys: &self.keys,
                counters: &self.counters,
                txq: &mut txq,
            };
            s.engine.on_timer(now, &mut env);
            let more = env.run_kicks(&mut s.engine, now);
            // A proof of reachability is good for the packets of this
            // call only.
            s.rest.confirm = None;
            let next = if self.dying.load(Ordering::Acquire) {
                None
            } else if more {
                Some(now)
            } else {
                s.engine.next_deadline()
            };
            s.armed = next.is_some();
            next.map(|t| t.saturating_sub(now).clamp(TIMER_MIN_NS, TIMER_MAX_NS))
        };
        self.send_all(txq);
        next
    }

    /// Adds an endpoint with its rings: with QP number `want`, or else the
    /// next free PIDonFEP of `range` (cyclically, resource index 0), and
    /// SES initiator id `initiator` (else its QP number). QP
    /// numbers 0 and 1 are ib_core's (SMI, GSI) and never used. Returns
    /// the PIDonFEP, the endpoint's generation and its QP number;
    /// `EBUSY` if the wanted PIDonFEP is taken, `ENOSPC` if the range is
    /// full. May sleep.
    #[expect(clippy::too_many_arguments)]
    pub(crate) fn add_ep(
        &self,
        want: Option<u32>,
        initiator: Option<u32>,
        range: core::ops::Range<u16>,
        job: u32,
        tc: u8,
        mode: Mode,
        pd: u64,
        rings: Arc<EpRings>,
        scope: Arc<JobScope>,
    ) -> Result<(u16, u32, u32)> {
        let n_send = kernel::num::casts::u32_as_usize(rings.sq_entries);
        let n_recv = kernel::num::casts::u32_as_usize(rings.rq_entries);
        let mut sends = KVVec::from_elem(SendSlot::EMPTY, n_send, GFP_KERNEL)?;
        for (i, s) in sends.iter_mut().enumerate() {
            s.next_free = u16::try_from(i + 1).unwrap_or(NO_SLOT);
        }
        if let Some(last) = sends.last_mut() {
            last.next_free = NO_SLOT;
        }
        let mut recvs = KVVec::from_elem(RecvSlot::EMPTY, n_recv, GFP_KERNEL)?;
        for (i, s) in recvs.iter_mut().enumerate() {
            s.next_free = u16::try_from(i + 1).unwrap_or(NO_SLOT);
        }
        if let Some(last) = recvs.last_mut() {
            last.next_free = NO_SLOT;
        }
        let mut g = self.state.lock();
        let rest = &mut g.rest;
        let (pid, qpn) = match want {
            Some(q) => {
                // CAST: masked to 12 bits.
                let pid = (q & 0xfff) as u16;
                // PIDonFEPs 0 and 1 are never used (QPNs 0 and 1 are
                // ib_core's), whatever the resource index.
                if pid < 2 || !range.contains(&pid) {
                    return Err(EINVAL);
                }
                match rest.eps.get(usize::from(pid)) {
                    Some(None) => (pid, q),
                    Some(Some(_)) => return Err(EBUSY),
                    None => return Err(EINVAL),
                }
            }
            None => {
                let n = range.end.saturating_sub(range.start);
                let start = rest
                    .pid_cursor
                    .clamp(range.start, range.end.max(range.start));
                let found = (0..n)
                    .map(|k| {
                        let off = (start - range.start + k) % n;
                        range.start + off
                    })
                    .find(|p| *p >= 2 && matches!(rest.eps.get(usize::from(*p)), Some(None)));
                let pid = found.ok_or(ENOSPC)?;
                rest.pid_cursor = pid + 1;
                (pid, u32::from(pid))
            }
        };
        let gen = rest.next_gen;
        rest.next_gen = rest.next_gen.wrapping_add(1).max(1);
        rest.eps[usize::from(pid)] = Some(Ep {
            rings,
            scope,
            pd,
            job,
            qpn,
            initiator: initiator.unwrap_or(qpn),
            tc,
            mode,
            gen,
            sq_cons: 0,
            rq_cons: 0,
            sends,
            send_free: 0,
            recvs,
            recv_free: 0,
            send_blocked: None,
            recv_blocked: None,
            error: false,
        });
        drop(g);
        self.counters.inc(Counter::Endpoints);
        Ok((pid, gen, qpn))
    }

    /// Removes endpoint `pid` of generation `gen`: its outstanding requests
    /// complete with `IB_WC_WR_FLUSH_ERR` and the engine forgets them.
    /// Process context; may sleep (the endpoint's tables are freed after
    /// the lock).
    pub(crate) fn remove_ep(self: ArcBorrow<'_, Self>, pid: u16, gen: u32) {
        let ep = self.with_engine(|engine, env, _rx, now| {
            if !matches!(env.ep(pid), Some(e) if e.gen == gen) {
                return None;
            }
            env.flush_ep(engine, pid, now);
            env.rest
                .eps
                .get_mut(usize::from(pid))
                .and_then(Option::take)
        });
        if ep.is_some() {
            self.counters.dec(Counter::Endpoints);
        }
        drop(ep);
    }

    /// Puts endpoint `pid` of generation `gen` in error: outstanding and
    /// new requests complete with `IB_WC_WR_FLUSH_ERR`. The state is final
    /// (moving the QP to another state later does not leave it). Process
    /// context.
    pub(crate) fn error_ep(self: ArcBorrow<'_, Self>, pid: u16, gen: u32) {
        self.with_engine(|engine, env, _rx, now| {
            match env.ep(pid) {
                // Already in error: flushed then, and nothing was taken
                // since (the fetch flushes every new request at once).
                Some(ep) if ep.gen == gen && !ep.error => ep.error = true,
                _ => return,
            }
            env.flush_ep(engine, pid, now);
        });
    }

    /// The send ring's doorbell: fetches what user space published, in
    /// bounded batches (the lock is taken again between them). Process
    /// context.
    pub(crate) fn doorbell_sq(self: ArcBorrow<'_, Self>, pid: u16) -> Result {
        let mut limit = None;
        while self.with_engine(|engine, env, _rx, now| {
            let mut budget = FETCH_BUDGET;
            env.fetch(engine, pid, Wq::Send, now, &mut budget, &mut limit)
        })? {}
        Ok(())
    }

    /// The receive ring's doorbell. Process context.
    pub(crate) fn doorbell_rq(self: ArcBorrow<'_, Self>, pid: u16) -> Result {
        let mut limit = None;
        while self.with_engine(|engine, env, _rx, now| {
            let mut budget = FETCH_BUDGET;
            env.fetch(engine, pid, Wq::Recv, now, &mut budget, &mut limit)
        })? {}
        Ok(())
    }

    /// Engine counters and the number of PDCs in use, for `rdma
    /// statistic`. Never sleeps; scans the PDC table under the lock.
    pub(crate) fn stats(&self) -> (crate::proto::engine::Stats, u64) {
        let s = self.state.lock();
        // O(1) under the lock: any user may read the counters (netlink
        // RDMA_NLDEV_CMD_STAT_GET needs no privilege).
        (
            s.engine.stats,
            kernel::num::casts::usize_as_u64(s.engine.pdcs_in_use()),
        )
    }
}

impl HrTimerCallback for Fep {
    type Pointer<'a> = Arc<Fep>;

    fn run(this: ArcBorrow<'_, Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        match this.on_timer() {
            Some(d) => {
                ctx.forward_now(Delta::from_nanos(i64::try_from(d).unwrap_or(i64::MAX)));
                HrTimerRestart::Restart
            }
            None => HrTimerRestart::NoRestart,
        }
    }
}

impl Fep {
    /// A datagram for this FEP came through the namespace's tunnel; its
    /// data starts at the UDP header. Softirq.
    pub(crate) fn recv(self: ArcBorrow<'_, Self>, skb: SkBuff, addrs: &IpAddrs) {
        let this = self;
        // The data starts at the UDP header.
        const UDP_HDR: usize = 8;
        let (src, ecn) = (addrs.src, addrs.ecn);
        let len = skb.len();
        if len <= UDP_HDR || len - UDP_HDR > PKT_BUF {
            this.counters.inc(Counter::RxDropMalformed);
            return;
        }
        let n = len - UDP_HDR;
        this.counters.add(Counter::RxBytes, n);
        // ECN Congestion Experienced.
        let ce = ecn == 3;
        this.with_engine(|engine, env, rx, now| {
            // A linear skb (the common case) is parsed where it is; a paged
            // one is copied into the FEP's receive buffer first.
            let buf: &[u8] = if skb.headlen() == len {
                match skb.data().get(UDP_HDR..) {
                    Some(b) => b,
                    None => return,
                }
            } else {
                let Some(buf) = rx.get_mut(..n) else {
                    return;
                };
                if skb.copy_bits(UDP_HDR, buf).is_err() {
                    env.counters.inc(Counter::RxDropMalformed);
                    return;
                }
                buf
            };
            if ce {
                engine.receive_ecn(now, &src, buf, true, env);
            } else {
                engine.receive(now, &src, buf, env);
            }
        });
        skb.consume();
    }
}

/// Bytes in front of each packet [`Env::transmit`] queues: the
/// destination address (16), the entropy (2), the ECN field (1) and flags
/// (1, [`TX_CONFIRM`]).
const TX_META: usize = 20;

/// Flag of [`TX_META`]: the packet confirms its neighbour entry
/// ([`SkBuff::confirm_neighbour`]).
const TX_CONFIRM: u8 = 1;

/// ECN field of a packet with PDS header `pkt` (RFC 3168): RUD and ROD
/// requests, whose CE marks the target echoes to congestion control, are
/// ECN capable (ECT(0)); RUDI and UUD requests, ACKs, NACKs and control
/// packets are not, as nothing acts on a mark they carry.
fn ecn_of(pkt: &[u8]) -> u8 {
    if PdsType::of(pkt).is_some_and(PdsType::echoes_ecn) {
        0b10
    } else {
        0
    }
}
/// Headroom of a packet skb: link layer, IPv4 and UDP headers.
const TX_HEADROOM: usize = 128;
/// Payloads at least this long are sent as page fragments of the pinned
/// pages; shorter ones are copied into the skb.
const FRAG_MIN: usize = 1024;

/// Maps an engine completion status to a work completion status and the
/// UET return code reported with it.
fn wc_status(st: Status) -> (u8, u8) {
    match st {
        Status::Ok => (wc::SUCCESS, 0),
        Status::Truncated => (wc::LOC_LEN_ERR, 0),
        Status::PdcError => (wc::RETRY_EXC_ERR, 0),
        Status::Cancelled => (wc::WR_FLUSH_ERR, 0),
        Status::Remote(code) => {
            let w = match code {
                rc::PERM_VIOLATION | rc::BAD_MKEY | rc::BAD_ADDR => wc::REM_ACCESS_ERR,
                rc::BAD_JOB_ID
                | rc::BAD_PID
                | rc::BAD_INDEX
                | rc::UNSUPPORTED_OP
                | rc::UNSUPPORTED_SIZE
                | rc::TOO_LONG
                | rc::NO_MATCH
                | rc::AMO_UNALIGNED => wc::REM_INV_REQ_ERR,
                _ => wc::REM_OP_ERR,
            };
            (w, code)
        }
    }
}

/// The native-endian `u64` at `at` of a fetched ring entry.
fn ne_u64(e: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&e[at..at + 8]);
    u64::from_ne_bytes(b)
}

/// The native-endian `u32` at `at` of a fetched ring entry.
fn ne_u32(e: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&e[at..at + 4]);
    u32::from_ne_bytes(b)
}

/// The `struct uet_sge` at `at` of a fetched ring entry.
fn sge_at(e: &[u8], at: usize) -> Sge {
    Sge {
        addr: ne_u64(e, at),
        len: ne_u32(e, at + 8),
        lkey: ne_u32(e, at + 12),
    }
}

/// Why a fetched request failed before reaching the engine.
enum Refused {
    /// `IB_WC_*` status.
    Status(u8),
}

/// The engine's environment: the shard without the engine, and what the
/// FEP shares without a lock.
pub(crate) struct KEnv<'a> {
    rest: &'a mut Rest,
    keys: &'a KeyTable,
    counters: &'a Counters,
    txq: &'a mut SkbChain,
}

impl KEnv<'_> {
    fn ep(&mut self, pid: u16) -> Option<&mut Ep> {
        self.rest.eps.get_mut(usize::from(pid))?.as_mut()
    }

    fn ep_of(&mut self, c: Cookie) -> Option<&mut Ep> {
        self.ep(c.pid).filter(|e| e.gen == c.gen)
    }

    /// The [`TX_META`] bytes in front of a packet to `dst`: the address,
    /// the entropy, the ECN field and [`TX_CONFIRM`] if `dst` proved
    /// reachable since the last packet to it (see [`KEnv::queue`]).
    fn tx_meta(&self, dst: &Addr, entropy: u16, ecn: u8) -> [u8; TX_META] {
        let mut m = [0u8; TX_META];
        m[..16].copy_from_slice(dst);
        m[16..18].copy_from_slice(&entropy.to_be_bytes());
        m[18] = ecn;
        if self.rest.confirm.as_ref() == Some(dst) {
            m[19] = TX_CONFIRM;
        }
        m
    }

    /// Queues a packet built with `meta` for sending after the lock is
    /// dropped; the confirmation it carries, if any, is used up.
    fn queue(&mut self, skb: SkBuff, meta: &[u8; TX_META]) {
        if meta[19] & TX_CONFIRM != 0 {
            self.rest.confirm = None;
        }
        self.txq.push(skb);
    }

    fn kick(&mut self, pid: u16) {
        let i = usize::from(pid);
        if let Some(w) = self.rest.kick.get_mut(i / 64) {
            *w |= 1 << (i % 64);
            self.rest.kicked = true;
        }
    }

    /// Checks that every SGE resolves for `job` and lies inside its region
    /// (with local write access when `write`).
    fn check_sges(&self, job: u32, pd: u64, sges: &[Sge], write: bool) -> Result<u32, Refused> {
        let mut total: u32 = 0;
        for sg in sges {
            let len = kernel::num::casts::u32_as_usize(sg.len);
            let r = self.keys.with(job, sg.lkey, |mr| {
                // A local key must be of the QP's PD (another process of
                // the job may know the key, as an rkey).
                if mr.pd != pd {
                    return Err(MemError::Prot);
                }
                mr.offset_of(sg.addr, len)?;
                if write && mr.write(sg.addr, &[]).is_err() {
                    return Err(MemError::Access);
                }
                Ok(())
            });
            match r {
                Some(Ok(())) => {}
                Some(Err(MemError::Access)) => return Err(Refused::Status(wc::LOC_ACCESS_ERR)),
                _ => return Err(Refused::Status(wc::LOC_PROT_ERR)),
            }
            total = total
                .checked_add(sg.len)
                .ok_or(Refused::Status(wc::LOC_LEN_ERR))?;
        }
        Ok(total)
    }

    /// Writes a completion for a request that never reached the engine.
    fn complete_early(&mut self, pid: u16, recv: bool, wr_id: u64, status: u8) {
        let Some(ep) = self.ep(pid) else {
            return;
        };
        let cqe = uapi::uet_cqe {
            wr_id,
            status,
            opcode: if recv {
                // CAST: small uapi enum values.
                uapi::uet_cqe_opcode_UET_CQE_OP_RECV as u8
            } else {
                uapi::uet_cqe_opcode_UET_CQE_OP_SEND as u8
            },
            ep_num: ep.qpn,
            ..Default::default()
        };
        let cq = if recv { &ep.rings.rcq } else { &ep.rings.scq };
        cq.push(&cqe);
    }

    /// Marks endpoint `pid` as waiting for engine resources.
    fn block(&mut self, pid: u16) {
        let i = usize::from(pid);
        if let Some(w) = self.rest.blocked.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Retries the queued request of endpoint `pid` the engine could not
    /// take; `false` if it still cannot.
    fn retry_blocked(&mut self, engine: &mut super::engine::DevEngine, pid: u16, now: u64) -> bool {
        let Some(ep) = self.ep(pid) else {
            return true;
        };
        if let Some((slot, post)) = ep.send_blocked.take() {
            match engine.post(now, &post, self) {
                Ok(()) => {}
                Err(PostError::NoMsg | PostError::NoPdc) => {
                    if let Some(ep) = self.ep(pid) {
                        ep.send_blocked = Some((slot, post));
                    }
                    self.block(pid);
                    return false;
                }
                Err(_) => self.fail_send(pid, slot, wc::LOC_LEN_ERR),
            }
        }
        let Some(ep) = self.ep(pid) else {
            return true;
        };
        if let Some((slot, tag)) = ep.recv_blocked.take() {
            let (id, len) = (ep.engine_id(), ep.recvs[usize::from(slot)].len);
            let cookie = Cookie {
                gen: ep.gen,
                pid,
                recv: true,
                slot,
            }
            .encode();
            if engine
                .post_recv(id, cookie, cookie, len, tag, self)
                .is_err()
            {
                if let Some(ep) = self.ep(pid) {
                    ep.recv_blocked = Some((slot, tag));
                }
                self.block(pid);
                return false;
            }
        }
        true
    }

    /// Fetches new requests of queue `wq` of endpoint `pid` and posts
    /// them, using up `budget`; `Ok(true)` if more are pending when the
    /// budget ran out. `limit` bounds the whole fetch (one doorbell may
    /// take the lock several times): it is set to what was published when
    /// the fetch began, so user space cannot keep the device fetching
    /// forever.
    fn fetch(
        &mut self,
        engine: &mut super::engine::DevEngine,
        pid: u16,
        wq: Wq,
        now: u64,
        budget: &mut u32,
        limit: &mut Option<u32>,
    ) -> Result<bool> {
        if self.ep(pid).is_none() {
            return Err(EINVAL);
        }
        if !self.retry_blocked(engine, pid, now) {
            return Ok(false);
        }
        let Some(ep) = self.ep(pid) else {
            return Ok(false);
        };
        let (ring, entries, size) = ep.ring(wq);
        let prod = ring.load_u32_acquire(WQ_PROD_OFFSET)?;
        let pending = prod.wrapping_sub(*ep.cons(wq));
        if pending > entries {
            // A producer index beyond what the ring holds: garbage from
            // user space. Nothing is fetched until it is sane.
            return Err(EINVAL);
        }
        // Never beyond what is published now: completions between two
        // lock holds of one doorbell may have fetched some already.
        let left = limit.get_or_insert(pending);
        *left = (*left).min(pending);
        while *left > 0 {
            if *budget == 0 {
                return Ok(true);
            }
            let Some(ep) = self.ep(pid) else {
                return Ok(false);
            };
            if !ep.has_free_slot(wq) {
                // Every slot is in flight: fetched again on completion.
                return Ok(false);
            }
            *budget -= 1;
            *left -= 1;
            let cons = ep.cons(wq);
            let idx = kernel::num::casts::u32_as_usize(*cons & (entries - 1));
            // The entry is read once, into a local copy; user space may
            // rewrite the ring as soon as the consumer index moves on.
            let mut e = [0u8; SQE_SIZE];
            let e = &mut e[..size];
            ring.read(WQ_RING_ENTRIES_OFFSET + idx * size, e)?;
            *cons = cons.wrapping_add(1);
            ring.store_u32_release(WQ_CONS_OFFSET, *cons)?;
            let blocked = match wq {
                Wq::Send => <&[u8; SQE_SIZE]>::try_from(&*e)
                    .is_ok_and(|e| self.take_sqe(engine, pid, e, now)),
                Wq::Recv => {
                    <&[u8; RQE_SIZE]>::try_from(&*e).is_ok_and(|e| self.take_rqe(engine, pid, e))
                }
            };
            if blocked {
                // The engine is full: the request waits, and nothing
                // overtakes it (receives match in posting order); fetched
                // again when resources free up.
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Checks one fetched SQE and posts it to the engine, or completes it
    /// with an error. `true` if the engine could not take it (it is kept
    /// as the endpoint's blocked request).
    fn take_sqe(
        &mut self,
        engine: &mut super::engine::DevEngine,
        pid: u16,
        e: &[u8; SQE_SIZE],
        now: u64,
    ) -> bool {
        let wr_id = ne_u64(e, 0);
        let (op, flags, nsge, rsvd) = (e[8], e[9], e[10], e[11]);
        let len = ne_u32(e, 12);
        let mut dst: Addr = [0; 16];
        dst.copy_from_slice(&e[16..32]);
        let dst_qpn = ne_u32(e, 32);
        let hdr = ne_u64(e, SQE_HDR_DATA);
        let bits = ne_u64(e, SQE_MATCH);
        let (rkey, raddr) = (ne_u64(e, SQE_RKEY), ne_u64(e, SQE_RADDR));
        let swap = ne_u64(e, SQE_SWAP);
        // CAST: small uapi constants.
        let f_signaled = uapi::uet_sqe_flags_UET_SQE_F_SIGNALED as u8;
        let f_inline = uapi::uet_sqe_flags_UET_SQE_F_INLINE as u8;
        let f_data = uapi::uet_sqe_flags_UET_SQE_F_WITH_DATA as u8;
        let Some(ep) = self.ep(pid) else {
            return false;
        };
        let (mode, flush) = (ep.mode, ep.flushes());
        if flush {
            self.complete_early(pid, false, wr_id, wc::WR_FLUSH_ERR);
            return false;
        }
        let Some(sq_op) = SqOp::from_uapi(op).filter(|o| o.allowed_in(mode)) else {
            self.complete_early(pid, false, wr_id, wc::LOC_QP_OP_ERR);
            return false;
        };
        // Reserved fields, unknown flags and the fields the operation does
        // not use must be zero, so that they can be given a meaning later.
        // Reads and atomics carry no header data and no inline payload;
        // RUDI requests no header data (its medium header has no room).
        let no_data = sq_op == SqOp::Read || sq_op.is_atomic();
        // Memory keys are 32 bits (the upper half of UET's 64-bit key is
        // the engine's own key space for rendezvous reads).
        let reserved_zero = rsvd == 0
            && rkey >> 32 == 0
            && e[36..40] == [0; 4]
            && (sq_op == SqOp::CmpSwap || swap == 0)
            && dst_qpn >> 24 == 0
            && (sq_op.is_remote() || (rkey == 0 && raddr == 0))
            && (!no_data || (flags & (f_data | f_inline) == 0 && hdr == 0))
            && (!matches!(sq_op, SqOp::Write | SqOp::Read) || bits == 0)
            && (mode != Mode::Rudi || flags & f_data == 0);
        if flags & !(f_signaled | f_inline | f_data) != 0 || !reserved_zero {
            self.complete_early(pid, false, wr_id, wc::LOC_QP_OP_ERR);
            return false;
        }
        let mut s = SendSlot::EMPTY;
        s.wr_id = wr_id;
        s.signaled = flags & f_signaled != 0;
        s.op = sq_op;
        let total = if flags & f_inline != 0 {
            if len > MAX_INLINE || nsge != 0 {
                self.complete_early(pid, false, wr_id, wc::LOC_LEN_ERR);
                return false;
            }
            s.inline = true;
            let n = kernel::num::casts::u32_as_usize(len);
            s.data[..n].copy_from_slice(&e[SQE_SGE..SQE_SGE + n]);
            len
        } else {
            if u32::from(nsge) > MAX_SEND_SGE {
                self.complete_early(pid, false, wr_id, wc::LOC_LEN_ERR);
                return false;
            }
            for k in 0..usize::from(nsge) {
                s.sge[k] = sge_at(e, SQE_SGE + 16 * k);
            }
            s.nsge = nsge;
            let Some(ep) = self.ep(pid) else {
                return false;
            };
            let (job, pd) = (ep.job, ep.pd);
            let sges = &s.sge[..usize::from(nsge)];
            match self.check_sges(job, pd, sges, sq_op.fills_sges()) {
                Ok(t) => t,
                Err(Refused::Status(st)) => {
                    self.complete_early(pid, false, wr_id, st);
                    return false;
                }
            }
        };
        // An atomic works on 8 bytes: a fetching one has one 8-byte SGE
        // for the previous value, a non-fetching one none.
        let atomic_len_ok = match sq_op {
            SqOp::FetchAdd | SqOp::CmpSwap => nsge == 1 && total == 8,
            SqOp::Add => nsge == 0,
            _ => true,
        };
        if !atomic_len_ok {
            self.complete_early(pid, false, wr_id, wc::LOC_LEN_ERR);
            return false;
        }
        let total = if sq_op.is_atomic() { 8 } else { total };
        // No message beyond the limit, no remote range that wraps.
        if total > MAX_MSG || raddr.checked_add(u64::from(total)).is_none() {
            self.complete_early(pid, false, wr_id, wc::LOC_LEN_ERR);
            return false;
        }
        s.len = total;
        let Some(ep) = self.ep(pid) else {
            return false;
        };
        // Take a slot (the caller checked there is one).
        let slot = ep.send_free;
        let Some(next) = ep.sends.get(usize::from(slot)).map(|x| x.next_free) else {
            return false;
        };
        ep.send_free = next;
        s.used = true;
        ep.sends[usize::from(slot)] = s;
        let cookie = Cookie {
            gen: ep.gen,
            pid,
            recv: false,
            slot,
        }
        .encode();
        let op = match sq_op {
            SqOp::Send => Op::Send { tag: None },
            SqOp::TaggedSend => Op::Send { tag: Some(bits) },
            SqOp::Write => Op::Write {
                key: rkey,
                offset: raddr,
            },
            SqOp::Read => Op::Read {
                key: rkey,
                offset: raddr,
            },
            SqOp::FetchAdd | SqOp::CmpSwap | SqOp::Add => Op::Atomic {
                key: rkey,
                offset: raddr,
                op: match sq_op {
                    SqOp::FetchAdd => AtomicOp::FetchAdd,
                    SqOp::CmpSwap => AtomicOp::CmpSwap,
                    _ => AtomicOp::Add,
                },
                // `compare_add` is the addend, or CmpSwap's compare value;
                // the engine's operand is what is added or swapped in.
                operand: if sq_op == SqOp::CmpSwap { swap } else { bits },
                compare: bits,
            },
        };
        let post = Post {
            user: cookie,
            dst,
            target: SesAddr {
                ri_gen: 0,
                job: ep.job,
                // CAST: masked to 12 bits.
                pid: (dst_qpn & 0xfff) as u16,
                ri: ((dst_qpn >> 12) & 0xfff) as u16,
            },
            mode,
            op,
            buf: cookie,
            len: total,
            hdr_data: if flags & f_data != 0 { hdr } else { 0 },
            with_data: flags & f_data != 0,
            tc: ep.tc,
            initiator: ep.initiator,
        };
        match engine.post(now, &post, self) {
            Ok(()) => {}
            Err(PostError::NoMsg | PostError::NoPdc) => {
                if let Some(ep) = self.ep(pid) {
                    ep.send_blocked = Some((slot, post));
                }
                self.block(pid);
                return true;
            }
            // Too long for the mode (RUDI and UUD carry one packet).
            Err(_) => self.fail_send(pid, slot, wc::LOC_LEN_ERR),
        }
        false
    }

    /// Completes send slot `slot` of `pid` with `status` and frees it.
    fn fail_send(&mut self, pid: u16, slot: u16, status: u8) {
        let Some(ep) = self.ep(pid) else {
            return;
        };
        let si = usize::from(slot);
        let Some(s) = ep.sends.get_mut(si) else {
            return;
        };
        let wr_id = s.wr_id;
        s.used = false;
        s.next_free = ep.send_free;
        ep.send_free = slot;
        self.complete_early(pid, false, wr_id, status);
    }

    /// Checks one fetched RQE and posts it to the engine, or completes it
    /// with an error.
    fn take_rqe(
        &mut self,
        engine: &mut super::engine::DevEngine,
        pid: u16,
        e: &[u8; RQE_SIZE],
    ) -> bool {
        let wr_id = ne_u64(e, 0);
        let (flags, nsge) = (e[8], e[9]);
        let bits = ne_u64(e, 16);
        let ignore = ne_u64(e, 24);
        let Some(ep) = self.ep(pid) else {
            return false;
        };
        let (job, pd, flush) = (ep.job, ep.pd, ep.flushes());
        if flush {
            self.complete_early(pid, true, wr_id, wc::WR_FLUSH_ERR);
            return false;
        }
        // CAST: small uapi constant.
        let f_tagged = uapi::uet_rqe_flags_UET_RQE_F_TAGGED as u8;
        if flags & !f_tagged != 0 || e[10..16] != [0; 6] {
            self.complete_early(pid, true, wr_id, wc::LOC_QP_OP_ERR);
            return false;
        }
        let tagged = flags & f_tagged != 0;
        if u32::from(nsge) > MAX_RECV_SGE {
            self.complete_early(pid, true, wr_id, wc::LOC_LEN_ERR);
            return false;
        }
        let mut r = RecvSlot::EMPTY;
        r.wr_id = wr_id;
        r.tagged = tagged;
        for k in 0..usize::from(nsge) {
            r.sge[k] = sge_at(e, 32 + 16 * k);
        }
        r.nsge = nsge;
        let total = match self.check_sges(job, pd, &r.sge[..usize::from(nsge)], true) {
            Ok(t) => t,
            Err(Refused::Status(st)) => {
                self.complete_early(pid, true, wr_id, st);
                return false;
            }
        };
        r.len = total;
        r.used = true;
        let Some(ep) = self.ep(pid) else {
            return false;
        };
        let slot = ep.recv_free;
        let Some(next) = ep.recvs.get(usize::from(slot)).map(|x| x.next_free) else {
            return false;
        };
        ep.recv_free = next;
        ep.recvs[usize::from(slot)] = r;
        let cookie = Cookie {
            gen: ep.gen,
            pid,
            recv: true,
            slot,
        }
        .encode();
        let id = ep.engine_id();
        let tag = tagged.then_some((bits, ignore));
        if engine
            .post_recv(id, cookie, cookie, total, tag, self)
            .is_err()
        {
            if let Some(ep) = self.ep(pid) {
                ep.recv_blocked = Some((slot, tag));
            }
            self.block(pid);
            return true;
        }
        false
    }

    /// Completes every outstanding request of endpoint `pid` with
    /// `IB_WC_WR_FLUSH_ERR`: the engine cancels those it holds (and
    /// reports them through [`Env::complete`]), the others are completed
    /// here.
    fn flush_ep(&mut self, engine: &mut super::engine::DevEngine, pid: u16, now: u64) {
        let Some(ep) = self.ep(pid) else {
            return;
        };
        let gen = ep.gen;
        let blocked_send = ep.send_blocked.take().map(|(slot, _)| slot);
        let blocked_recv = ep.recv_blocked.take().map(|(slot, _)| slot);
        engine.cancel(
            now,
            |user| Cookie::decode(user).is_some_and(|c| c.pid == pid && c.gen == gen),
            self,
        );
        if let Some(slot) = blocked_send {
            self.fail_send(pid, slot, wc::WR_FLUSH_ERR);
        }
        if let Some(slot) = blocked_recv {
            if let Some(ep) = self.ep(pid) {
                let si = usize::from(slot);
                let wr_id = ep.recvs[si].wr_id;
                ep.recvs[si].used = false;
                ep.recvs[si].next_free = ep.recv_free;
                ep.recv_free = slot;
                self.complete_early(pid, true, wr_id, wc::WR_FLUSH_ERR);
            }
        }
    }

    /// Fetches the queues of the endpoints whose slots were freed or that
    /// wait for engine resources, at most [`KICK_BUDGET`] entries per
    /// call; `true` if some are left (the caller runs the timer at once to
    /// go on: the lock is dropped in between).
    fn run_kicks(&mut self, engine: &mut super::engine::DevEngine, now: u64) -> bool {
        // Endpoints blocked on the engine retry on every pass: PDCs and
        // messages are freed by timers and peers too, not only by
        // completions.
        for w in 0..MAX_EP / 64 {
            let b = core::mem::take(&mut self.rest.blocked[w]);
            if b != 0 {
                self.rest.kick[w] |= b;
                self.rest.kicked = true;
            }
        }
        let mut budget = KICK_BUDGET;
        while self.rest.kicked {
            self.rest.kicked = false;
            for w in 0..MAX_EP / 64 {
                let mut bits = core::mem::take(&mut self.rest.kick[w]);
                while bits != 0 {
                    if budget == 0 {
                        // The rest waits for the next call.
                        self.rest.kick[w] |= bits;
                        self.rest.kicked = true;
                        return true;
                    }
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    // CAST: below 4096.
                    let pid = (w * 64) as u16 + b as u16;
                    // Errors are user-space garbage in a ring: they stop
                    // fetching from it until the next doorbell.
                    let more_sq = self.fetch(engine, pid, Wq::Send, now, &mut budget, &mut None);
                    let more_rq = self.fetch(engine, pid, Wq::Recv, now, &mut budget, &mut None);
                    if matches!(more_sq, Ok(true)) || matches!(more_rq, Ok(true)) {
                        self.kick(pid);
                    }
                }
            }
        }
        false
    }

    /// Finds the region byte range `[off, off + out.len())` of the request
    /// in `sges` and runs `f` on each piece with its SGE.
    fn for_sges(
        sges: &[Sge],
        mut off: u64,
        mut len: usize,
        mut f: impl FnMut(&Sge, u64, usize, usize) -> bool,
    ) -> bool {
        let mut done = 0usize;
        for sg in sges {
            let sl = u64::from(sg.len);
            if off >= sl {
                off -= sl;
                continue;
            }
            // CAST: `sl - off` is at most a u32.
            let n = len.min((sl - off) as usize);
            // The SGE was checked against its region when it was fetched,
            // but the region may be gone: never trust the sum.
            let Some(addr) = sg.addr.checked_add(off) else {
                return false;
            };
            if !f(sg, addr, done, n) {
                return false;
            }
            done += n;
            len -= n;
            off = 0;
            if len == 0 {
                break;
            }
        }
        len == 0
    }

    /// Serves a remote access to the memory `key` names at engine endpoint
    /// `ep` (the one [`Env::resolve`] returned for the request): the key
    /// must be one of the job's, registered in the endpoint's protection
    /// domain, and `f` checks the access flags and the range. Runs `f`
    /// under the key table's lock, so a deregistration that returned
    /// never sees it run. Refusals are counted and answered with the SES
    /// return code.
    fn remote_access<R>(
        &mut self,
        ep: u32,
        key: u64,
        f: impl FnOnce(&MrEntry) -> Result<R, RemoteError>,
    ) -> Result<R, u8> {
        let counters = self.counters;
        let keys = self.keys;
        // CAST: masked to 12 bits.
        let pid = (ep & 0xfff) as u16;
        let Some(e) = self.ep(pid).filter(|e| e.engine_id() == ep) else {
            // The endpoint went away since the request was resolved.
            counters.inc(Counter::RmaDenied);
            return Err(rc::BAD_PID);
        };
        let (job, pd) = (e.job, e.pd);
        let r = u32::try_from(key)
            .ok()
            .and_then(|k| keys.with(job, k, |mr| if mr.pd == pd { Some(f(mr)) } else { None }))
            .flatten();
        match r {
            Some(Ok(v)) => Ok(v),
            r => {
                counters.inc(Counter::RmaDenied);
                Err(match r {
                    Some(Err(RemoteError::Access)) => rc::PERM_VIOLATION,
                    Some(Err(RemoteError::Range)) => rc::BAD_ADDR,
                    _ => rc::BAD_MKEY,
                })
            }
        }
    }

    /// Writes the target completion of an RMA write that carried header
    /// data into the receive CQ of the endpoint written (engine id
    /// `c.ep`); no receive is consumed.
    fn complete_write_data(&mut self, c: &Completion) {
        let counters = self.counters;
        // CAST: masked to 12 bits.
        let pid = (c.ep & 0xfff) as u16;
        let Some(ep) = self.ep(pid).filter(|e| e.engine_id() == c.ep) else {
            counters.inc(Counter::StaleCompletions);
            return;
        };
        let (status, uet_rc) = wc_status(c.status);
        let cqe = uapi::uet_cqe {
            wr_id: 0,
            status,
            uet_rc,
            // CAST: small uapi enum values.
            opcode: uapi::uet_cqe_opcode_UET_CQE_OP_WRITE as u8,
            flags: uapi::uet_cqe_flags_UET_CQE_F_WITH_DATA as u8,
            byte_len: c.len,
            ep_num: ep.qpn,
            job_id: c.job,
            src_qpn: c.initiator,
            header_data: c.hdr_data,
            src_addr: c.src,
            ..Default::default()
        };
        ep.rings.rcq.push(&cqe);
    }

    /// Builds the packet of [`Env::transmit_local`] with the payload as
    /// page fragments of the pinned pages (no copy); `false` (nothing
    /// queued) if that is not possible: inline data, a short payload, a
    /// key that no longer resolves, too many pieces.
    fn transmit_frags(
        &mut self,
        dst: &Addr,
        entropy: u16,
        hdr: &[u8],
        buf: u64,
        offset: u64,
        len: usize,
    ) -> bool {
        if len < FRAG_MIN {
            return false;
        }
        let keys = self.keys;
        let Some(ck) = Cookie::decode(buf).filter(|c| !c.recv) else {
            return false;
        };
        let Some(ep) = self.ep_of(ck) else {
            return false;
        };
        // A UUD send completes as soon as its packet is queued: its
        // payload is copied, so that the buffer may be reused at once.
        if ep.mode == Mode::Uud {
            return false;
        }
        let (job, pd) = (ep.job, ep.pd);
        let Some(s) = ep
            .sends
            .get(usize::from(ck.slot))
            .filter(|s| s.used && !s.inline)
        else {
            return false;
        };
        let sges = s.sge;
        let nsge = usize::from(s.nsge);
        let Ok(mut skb) = SkBuff::alloc(TX_HEADROOM + TX_META + hdr.len(), GFP_ATOMIC) else {
            return false;
        };
        let meta = self.tx_meta(dst, entropy, ecn_of(hdr));
        let Ok(b) = skb
            .reserve(TX_HEADROOM)
            .and_then(|()| skb.put(TX_META + hdr.len()))
        else {
            skb.drop_any();
            return false;
        };
        b[..TX_META].copy_from_slice(&meta);
        b[TX_META..].copy_from_slice(hdr);
        let ok = Self::for_sges(&sges[..nsge], offset, len, |sg, addr, _at, n| {
            keys.with(job, sg.lkey, |mr| {
                mr.pd == pd && mr.append_to_skb(&mut skb, addr, n).is_ok()
            })
            .unwrap_or(false)
        });
        if !ok {
            // Under the FEP's lock, interrupts off: the free is deferred.
            skb.drop_any();
            return false;
        }
        self.queue(skb, &meta);
        true
    }
}

impl Env for KEnv<'_> {
    fn transmit(&mut self, dst: &Addr, entropy: u16, pkt: &[u8]) {
        let Ok(mut skb) = SkBuff::alloc(TX_HEADROOM + TX_META + pkt.len(), GFP_ATOMIC) else {
            self.counters.inc(Counter::TxErrors);
            return;
        };
        let meta = self.tx_meta(dst, entropy, ecn_of(pkt));
        let built = skb.reserve(TX_HEADROOM).and_then(|()| {
            let b = skb.put(TX_META + pkt.len())?;
            b[..TX_META].copy_from_slice(&meta);
            b[TX_META..].copy_from_slice(pkt);
            Ok(())
        });
        if built.is_err() {
            self.counters.inc(Counter::TxErrors);
            // Under the FEP's lock, interrupts off: the free is deferred.
            skb.drop_any();
            return;
        }
        self.queue(skb, &meta);
    }

    fn transmit_local(
        &mut self,
        dst: &Addr,
        entropy: u16,
        scratch: &mut [u8],
        hdr_len: usize,
        buf: u64,
        offset: u64,
        len: usize,
    ) {
        // The payload goes from the pinned pages into the skb, as page
        // fragments when it is long enough to be worth it, else copied
        // into the skb: never through the engine's packet buffer.
        let Some(hdr) = scratch.get(..hdr_len) else {
            return;
        };
        if self.transmit_frags(dst, entropy, hdr, buf, offset, len) {
            return;
        }
        let total = TX_META + hdr_len + len;
        let Ok(mut skb) = SkBuff::alloc(TX_HEADROOM + total, GFP_ATOMIC) else {
            self.counters.inc(Counter::TxErrors);
            return;
        };
        let meta = self.tx_meta(dst, entropy, ecn_of(hdr));
        let Ok(b) = skb.reserve(TX_HEADROOM).and_then(|()| skb.put(total)) else {
            self.counters.inc(Counter::TxErrors);
            skb.drop_any();
            return;
        };
        b[..TX_META].copy_from_slice(&meta);
        b[TX_META..TX_META + hdr_len].copy_from_slice(hdr);
        self.read_local(buf, offset, &mut b[TX_META + hdr_len..]);
        self.queue(skb, &meta);
    }

    fn reachable(&mut self, dst: &Addr) {
        self.rest.confirm = Some(*dst);
    }

    fn complete(&mut self, c: &Completion) {
        if c.kind == CompKind::WriteData {
            self.complete_write_data(c);
            return;
        }
        let Some(ck) = Cookie::decode(c.user) else {
            return;
        };
        let counters = self.counters;
        let Some(ep) = self.ep_of(ck) else {
            counters.inc(Counter::StaleCompletions);
            return;
        };
        let si = usize::from(ck.slot);
        let (mut status, uet_rc) = wc_status(c.status);
        let mut cqe = uapi::uet_cqe {
            status,
            uet_rc,
            byte_len: c.len,
            ep_num: ep.qpn,
            ..Default::default()
        };
        let recv = matches!(c.kind, CompKind::Recv);
        if recv {
            let Some(r) = ep.recvs.get_mut(si).filter(|r| r.used) else {
                counters.inc(Counter::StaleCompletions);
                return;
            };
            if r.faulted && status == wc::SUCCESS {
                status = wc::LOC_PROT_ERR;
            }
            cqe.wr_id = r.wr_id;
            // CAST: small uapi enum values.
            cqe.opcode = if r.tagged {
                uapi::uet_cqe_opcode_UET_CQE_OP_TAGGED_RECV as u8
            } else {
                uapi::uet_cqe_opcode_UET_CQE_OP_RECV as u8
            };
            if r.tagged {
                cqe.flags |= uapi::uet_cqe_flags_UET_CQE_F_TAGGED as u8;
                cqe.match_bits = c.tag;
            }
            if c.with_data {
                cqe.flags |= uapi::uet_cqe_flags_UET_CQE_F_WITH_DATA as u8;
                cqe.header_data = c.hdr_data;
            }
            cqe.job_id = c.job;
            cqe.src_qpn = c.initiator;
            cqe.src_addr = c.src;
            r.used = false;
            r.next_free = ep.recv_free;
            ep.recv_free = ck.slot;
            cqe.status = status;
            ep.rings.rcq.push(&cqe);
        } else {
            let Some(s) = ep.sends.get_mut(si).filter(|s| s.used) else {
                counters.inc(Counter::StaleCompletions);
                return;
            };
            if s.faulted && status == wc::SUCCESS {
                status = wc::LOC_PROT_ERR;
            }
            cqe.wr_id = s.wr_id;
            cqe.byte_len = s.len;
            cqe.opcode = s.op.cqe_opcode();
            let signaled = s.signaled;
            s.used = false;
            s.next_free = ep.send_free;
            ep.send_free = ck.slot;
            cqe.status = status;
            if signaled || status != wc::SUCCESS {
                ep.rings.scq.push(&cqe);
            }
        }
        self.kick(ck.pid);
    }

    fn read_local(&mut self, buf: u64, offset: u64, out: &mut [u8]) {
        let keys = self.keys;
        let Some(ck) = Cookie::decode(buf).filter(|c| !c.recv) else {
            out.fill(0);
            return;
        };
        let Some(ep) = self.ep_of(ck) else {
            out.fill(0);
            return;
        };
        let (job, pd) = (ep.job, ep.pd);
        let Some(s) = ep.sends.get_mut(usize::from(ck.slot)).filter(|s| s.used) else {
            out.fill(0);
            return;
        };
        if s.inline {
            let from = usize::try_from(offset).unwrap_or(usize::MAX);
            match s.data.get(from..).and_then(|d| d.get(..out.len())) {
                Some(d) => out.copy_from_slice(d),
                None => out.fill(0),
            }
            return;
        }
        let n = out.len();
        let sges = s.sge;
        let ok = Self::for_sges(
            &sges[..usize::from(s.nsge)],
            offset,
            n,
            |sg, addr, at, len| {
                let piece = &mut out[at..at + len];
                keys.with(job, sg.lkey, |mr| {
                    mr.pd == pd && mr.read(addr, piece).is_ok()
                })
                .unwrap_or(false)
            },
        );
        if !ok {
            out.fill(0);
            s.faulted = true;
        }
    }

    fn write_local(&mut self, buf: u64, offset: u64, data: &[u8]) {
        let keys = self.keys;
        if buf & COOKIE_OVERFLOW != 0 {
            // CAST: masked to the index bits.
            let i = (buf & 0xffff) as usize;
            let from = i * OVERFLOW_BYTES;
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            if let Some(dst) = at
                .checked_add(data.len())
                .filter(|end| *end <= OVERFLOW_BYTES)
                .and_then(|end| self.rest.overflow.get_mut(from + at..from + end))
            {
                dst.copy_from_slice(data);
            }
            return;
        }
        let Some(ck) = Cookie::decode(buf) else {
            return;
        };
        let Some(ep) = self.ep_of(ck) else {
            return;
        };
        let (job, pd) = (ep.job, ep.pd);
        // A receive's buffer, or the sink of a read.
        let si = usize::from(ck.slot);
        let (faulted, sges) = if ck.recv {
            let Some(r) = ep.recvs.get_mut(si).filter(|r| r.used) else {
                return;
            };
            (&mut r.faulted, &r.sge[..usize::from(r.nsge)])
        } else {
            let Some(s) = ep.sends.get_mut(si).filter(|s| s.used && s.op.fills_sges()) else {
                return;
            };
            (&mut s.faulted, &s.sge[..usize::from(s.nsge)])
        };
        let ok = Self::for_sges(sges, offset, data.len(), |sg, addr, at, len| {
            keys.with(job, sg.lkey, |mr| {
                mr.pd == pd && mr.write(addr, &data[at..at + len]).is_ok()
            })
            .unwrap_or(false)
        });
        if !ok {
            *faulted = true;
        }
    }

    fn resolve(&mut self, _src: &Addr, addr: &SesAddr) -> Result<u32, u8> {
        let counters = self.counters;
        let Some(ep) = self.ep(addr.pid) else {
            counters.inc(Counter::RxDropNoEndpoint);
            return Err(rc::BAD_PID);
        };
        if ep.job != addr.job || ep.scope.is_revoked() {
            counters.inc(Counter::RxDropBadJob);
            return Err(rc::BAD_JOB_ID);
        }
        if ep.error {
            // An endpoint in the error state takes nothing, RMA included.
            counters.inc(Counter::RxDropNoEndpoint);
            return Err(rc::UNDELIVERABLE);
        }
        if u32::from(addr.ri) != (ep.qpn >> 12) & 0xfff {
            return Err(rc::BAD_INDEX);
        }
        Ok(ep.engine_id())
    }

    fn traffic_class(&mut self, ep: u32) -> u8 {
        // CAST: masked to 12 bits.
        let pid = (ep & 0xfff) as u16;
        self.ep(pid)
            .filter(|e| e.engine_id() == ep)
            .map_or(0, |e| e.tc)
    }

    fn rma_write(&mut self, ep: u32, key: u64, off: u64, data: &[u8]) -> Result<(), u8> {
        self.remote_access(ep, key, |mr| mr.remote_write(off, data))
    }

    fn rma_atomic(
        &mut self,
        ep: u32,
        key: u64,
        off: u64,
        op: AtomicOp,
        operand: u64,
        compare: u64,
    ) -> Result<u64, u8> {
        self.remote_access(ep, key, |mr| mr.remote_atomic(off, op, operand, compare))
    }

    fn rma_check_write(&mut self, ep: u32, key: u64, off: u64, len: u32) -> Result<(), u8> {
        let len = kernel::num::casts::u32_as_usize(len);
        self.remote_access(ep, key, |mr| {
            mr.remote_offset(off, len, Access::RemoteWrite).map(|_| ())
        })
    }

    fn rma_read(&mut self, ep: u32, key: u64, off: u64, out: &mut [u8]) -> Result<(), u8> {
        let r = self.remote_access(ep, key, |mr| mr.remote_read(off, out));
        if r.is_err() {
            // Nothing of the region leaves the device on a refusal.
            out.fill(0);
        }
        r
    }

    fn overflow_alloc(&mut self, _slot: u16, len: u32) -> Option<u64> {
        if kernel::num::casts::u32_as_usize(len) > OVERFLOW_BYTES {
            self.counters.inc(Counter::UnexpectedRefused);
            return None;
        }
        let Some(i) = self.rest.overflow_used.iter().position(|u| !*u) else {
            self.counters.inc(Counter::UnexpectedRefused);
            return None;
        };
        self.rest.overflow_used[i] = true;
        // CAST: below OVERFLOW_BUFS.
        Some(COOKIE_OVERFLOW | i as u64)
    }

    fn overflow_drain(&mut self, from: u64, to: u64, len: u32) {
        // CAST: masked to the index bits.
        let i = (from & 0xffff) as usize;
        let n = kernel::num::casts::u32_as_usize(len).min(OVERFLOW_BYTES);
        if i >= OVERFLOW_BUFS {
            return;
        }
        // Copied out first: the receive's pages are written through the
        // key table, and the overflow area is borrowed from `self`.
        let mut off = 0usize;
        let mut chunk = [0u8; 256];
        while off < n {
            let m = (n - off).min(chunk.len());
            chunk[..m].copy_from_slice(&self.rest.overflow[i * OVERFLOW_BYTES + off..][..m]);
            self.write_local(to, kernel::num::casts::usize_as_u64(off), &chunk[..m]);
            off += m;
        }
        self.rest.overflow_used[i] = false;
    }

    fn overflow_free(&mut self, buf: u64) {
        // CAST: masked to the index bits.
        let i = (buf & 0xffff) as usize;
        if let Some(u) = self.rest.overflow_used.get_mut(i) {
            *u = false;
        }
    }
}
