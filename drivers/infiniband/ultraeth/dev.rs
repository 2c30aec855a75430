// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The device model: the "silicon" half of `uet_soft`.
//!
//! The verbs half (`verbs.rs`) talks to it the way a driver talks to a NIC:
//! it creates rings in memory shared with user space and registers memory
//! under keys; the model writes completions into the rings and resolves keys
//! when packets need memory. For now it owns completion rings, the memory
//! key table and the counters; the fabric end point (`fep.rs`) moves the
//! data.

pub(crate) mod engine;
pub(crate) mod fep;
pub(crate) mod tunnel;

use crate::proto::ses::AtomicOp;
use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    AtomicU64,
    Ordering, //
};
use kernel::{
    new_spinlock_irq,
    prelude::*,
    random::get_random_u32,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    rdma::{
        device::{
            Access,
            AccessFlags, //
        },
        mmap::UserBuffer,
        netdev::{
            Gid,
            NetDevice, //
        },
        umem::Umem,
    },
    sync::{
        Arc,
        SpinLockIrq, //
    },
    uapi,
};

/// Bytes of the ring header before the first CQE (uapi
/// `UET_CQ_RING_ENTRIES_OFFSET`).
pub(crate) const CQ_RING_ENTRIES_OFFSET: usize =
    kernel::num::casts::u32_as_usize(uapi::UET_CQ_RING_ENTRIES_OFFSET);
/// Offset of `prod_idx` in the ring header.
const CQ_PROD_OFFSET: usize = core::mem::offset_of!(uapi::uet_cq_ring_hdr, prod_idx);
/// Offset of `cons_idx` in the ring header.
const CQ_CONS_OFFSET: usize = core::mem::offset_of!(uapi::uet_cq_ring_hdr, cons_idx);
/// Bytes per completion entry.
pub(crate) const CQE_SIZE: usize = core::mem::size_of::<uapi::uet_cqe>();
/// Largest CQ, in entries.
pub(crate) const MAX_CQE: u32 = 1 << 15;

const _: () = assert!(CQE_SIZE == 64);
const _: () = assert!(CQ_CONS_OFFSET == 64);
const _: () = assert!(core::mem::size_of::<uapi::uet_cq_ring_hdr>() == CQ_RING_ENTRIES_OFFSET);

/// Rounds a requested CQ size up to the ring size: a power of two, at least
/// two entries. `None` for 0 or more than [`MAX_CQE`].
pub(crate) fn cq_ring_entries(requested: u32) -> Option<u32> {
    if requested == 0 || requested > MAX_CQE {
        return None;
    }
    Some(requested.max(2).next_power_of_two())
}

/// Why a completion could not be written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CqFull {
    /// The consumer has not freed an entry: the CQ is in error.
    Overflow,
}

/// A completion ring shared with user space.
///
/// The producer index is private to the device and mirrored into the
/// header; the consumer index is read from the header, where user space
/// writes it.
///
/// Calling context: [`CqRing::new`] may sleep; [`CqRing::push`] never
/// sleeps and may run in the receive path (softirq).
#[pin_data]
pub(crate) struct CqRing {
    buf: Arc<UserBuffer>,
    entries: u32,
    /// Random, nonzero: each entry's `seq` is its index XOR this
    /// (`uet_cqe.seq`), so that user space can tell its entries from the
    /// zeroed page a disassociated context's mappings fault to.
    seq_tag: u32,
    /// Producer index (free running); the lock serialises producers. Irq
    /// safe, innermost (only the ring's memory is touched under it).
    #[pin]
    prod: SpinLockIrq<u32>,
}

impl CqRing {
    /// Allocates a ring of `entries` (a power of two).
    pub(crate) fn new(entries: u32) -> Result<Pin<KBox<Self>>> {
        // No overflow: `entries` is at most `MAX_CQE`.
        let bytes = CQ_RING_ENTRIES_OFFSET + kernel::num::casts::u32_as_usize(entries) * CQE_SIZE;
        let buf = UserBuffer::new(bytes)?;
        KBox::pin_init(
            pin_init!(Self {
                buf,
                entries,
                seq_tag: get_random_u32().max(1),
                prod <- new_spinlock_irq!(0, "uet_soft::CqRing::prod"),
            }),
            GFP_KERNEL,
        )
    }

    /// The tag of the entries' `seq` (`uet_ibv_create_cq_resp.seq_tag`).
    pub(crate) fn seq_tag(&self) -> u32 {
        self.seq_tag
    }

    /// The shared buffer, for mmap.
    pub(crate) fn buffer(&self) -> Arc<UserBuffer> {
        self.buf.clone()
    }

    /// Ring entries.
    pub(crate) fn entries(&self) -> u32 {
        self.entries
    }

    /// Writes one completion; never sleeps.
    pub(crate) fn push(&self, cqe: &uapi::uet_cqe) -> Result<(), CqFull> {
        let mut prod = self.prod.lock();
        let cons = self.buf.load_u32_acquire(CQ_CONS_OFFSET).unwrap_or(0);
        // A consumer index ahead of the producer is garbage from user space:
        // treat it like a full ring rather than overwriting entries.
        if prod.wrapping_sub(cons) >= self.entries {
            return Err(CqFull::Overflow);
        }
        let slot = kernel::num::casts::u32_as_usize(*prod & (self.entries - 1));
        let off = CQ_RING_ENTRIES_OFFSET + slot * CQE_SIZE;
        let bytes = cqe_bytes(cqe, *prod ^ self.seq_tag);
        self.buf.write(off, &bytes).map_err(|_| CqFull::Overflow)?;
        *prod = prod.wrapping_add(1);
        self.buf
            .store_u32_release(CQ_PROD_OFFSET, *prod)
            .map_err(|_| CqFull::Overflow)
    }
}

const _: () = assert!(core::mem::offset_of!(uapi::uet_cqe, seq) == 28);

/// Serialises a CQE in the uapi layout (host byte order, as the header
/// says), with `seq` (`uet_cqe.seq`: its index XOR the ring's tag).
fn cqe_bytes(c: &uapi::uet_cqe, seq: u32) -> [u8; CQE_SIZE] {
    let mut b = [0u8; CQE_SIZE];
    b[0..8].copy_from_slice(&c.wr_id.to_ne_bytes());
    b[8] = c.status;
    b[9] = c.opcode;
    b[10] = c.uet_rc;
    b[11] = c.flags;
    b[12..16].copy_from_slice(&c.byte_len.to_ne_bytes());
    b[16..20].copy_from_slice(&c.ep_num.to_ne_bytes());
    b[20..24].copy_from_slice(&c.job_id.to_ne_bytes());
    b[24..28].copy_from_slice(&c.src_qpn.to_ne_bytes());
    b[28..32].copy_from_slice(&seq.to_ne_bytes());
    b[32..40].copy_from_slice(&c.header_data.to_ne_bytes());
    b[40..48].copy_from_slice(&c.match_bits.to_ne_bytes());
    b[48..64].copy_from_slice(&c.src_addr);
    b
}

/// Device-wide counters, shown by `rdma statistic show link DEV/1`.
pub(crate) struct Counters {
    pub(crate) values: [AtomicU64; Counter::COUNT],
}

/// Counter indexes; names are in `verbs::COUNTERS`, in the same order
/// (the engine's own counters follow them there).
#[repr(usize)]
#[derive(Copy, Clone)]
pub(crate) enum Counter {
    /// Completion queues created.
    CqCreated = 0,
    /// Memory regions registered.
    MrRegistered = 1,
    /// User contexts opened.
    UctxOpened = 2,
    /// UET payload bytes sent (UDP payload).
    TxBytes = 3,
    /// UET payload bytes received (UDP payload).
    RxBytes = 4,
    /// Received datagrams dropped before the engine: not IPv4/IPv6,
    /// empty, or longer than a packet can be.
    RxDropMalformed = 5,
    /// Completions lost to a full CQ (the CQ went to error).
    CqOverflow = 6,
    /// Packets that could not be sent (no memory, no route, IPv6 peer).
    TxErrors = 7,
    /// Requests for a PIDonFEP with no endpoint.
    RxDropNoEndpoint = 8,
    /// Requests whose JobID is not their endpoint's job.
    RxDropBadJob = 9,
    /// Unexpected messages refused for want of a buffer.
    UnexpectedRefused = 10,
    /// Completions for requests the device no longer knows (flushed).
    StaleCompletions = 11,
    /// Endpoints open (a gauge).
    Endpoints = 12,
    /// Remote memory accesses (RMA, atomics) refused at this target: no
    /// such key for the job and endpoint, access not allowed, or outside
    /// the region.
    RmaDenied = 13,
}

impl Counter {
    pub(crate) const COUNT: usize = 14;
}

const _: () = assert!(Counter::RmaDenied as usize + 1 == Counter::COUNT);

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            values: [const { AtomicU64::new(0) }; Counter::COUNT],
        }
    }

    pub(crate) fn inc(&self, c: Counter) {
        // CAST: the discriminants are the indexes 0..COUNT.
        self.values[c as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, c: Counter, n: usize) {
        // CAST: the discriminants are the indexes 0..COUNT; usize fits u64.
        self.values[c as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn dec(&self, c: Counter) {
        // CAST: the discriminants are the indexes 0..COUNT.
        self.values[c as usize].fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, out: &mut [u64]) {
        for (o, v) in out.iter_mut().zip(self.values.iter()) {
            *o = v.load(Ordering::Relaxed);
        }
    }
}

/// The device model's view of a context's job: which job its memory keys
/// belong to, and whether that job still stands. Read without locks, from
/// any context (the receive path checks it for every key it resolves).
pub(crate) struct JobScope {
    /// The JobID once the context joined; 0 before (JobIDs are never 0).
    job_id: AtomicU32,
    /// Set once by REVOKE.
    revoked: AtomicBool,
}

impl JobScope {
    pub(crate) fn new() -> Self {
        Self {
            job_id: AtomicU32::new(0),
            revoked: AtomicBool::new(false),
        }
    }

    /// The context joined job `id`.
    pub(crate) fn set_job(&self, id: u32) {
        self.job_id.store(id, Ordering::Release);
    }

    /// The job was revoked: its keys no longer resolve.
    pub(crate) fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }

    /// Whether the job was revoked.
    pub(crate) fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// The job, if the context joined one that was not revoked.
    pub(crate) fn job_id(&self) -> Option<u32> {
        if self.is_revoked() {
            return None;
        }
        match self.job_id.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }
}

/// What the device model knows of a registered memory region: where it
/// is, what it allows, whose it is, and its pinned pages.
///
/// Calling context: the entry is dropped (its pages unpinned, which may
/// sleep) only in process context: the key table drops it when the MR is
/// deregistered, and the data path reaches it only under the table's lock
/// ([`KeyTable::with`]), never holding a reference of its own.
pub(crate) struct MrEntry {
    /// User address of the first byte (iova).
    pub(crate) iova: u64,
    /// Length in bytes.
    pub(crate) length: u64,
    /// `kernel::rdma::device::Access` flags.
    pub(crate) access: u32,
    /// The job of the context that registered it.
    pub(crate) scope: Arc<JobScope>,
    /// The protection domain it was registered in (device-unique id).
    pub(crate) pd: u64,
    /// The pinned pages (`None` only in tests).
    pub(crate) umem: Option<Umem>,
}

/// Why a remote memory access to a region failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemoteError {
    /// The region does not allow the access.
    Access,
    /// The range is not inside the region.
    Range,
}

/// Why a local memory access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemError {
    /// The key does not resolve for the job, or the range is outside the
    /// region (`IB_WC_LOC_PROT_ERR`).
    Prot,
    /// The region does not allow the access (`IB_WC_LOC_ACCESS_ERR`).
    Access,
}

impl MrEntry {
    /// Offset in the region of `[addr, addr + len)`, if it lies inside.
    pub(crate) fn offset_of(&self, addr: u64, len: usize) -> Result<usize, MemError> {
        let off = addr.checked_sub(self.iova).ok_or(MemError::Prot)?;
        let end = off
            .checked_add(u64::try_from(len).map_err(|_| MemError::Prot)?)
            .ok_or(MemError::Prot)?;
        if end > self.length {
            return Err(MemError::Prot);
        }
        usize::try_from(off).map_err(|_| MemError::Prot)
    }

    /// Copies region bytes at user address `addr` into `out`.
    pub(crate) fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), MemError> {
        let off = self.offset_of(addr, out.len())?;
        let umem = self.umem.as_ref().ok_or(MemError::Prot)?;
        umem.copy_from(off, out).map_err(|_| MemError::Prot)
    }

    /// Appends `len` bytes of the region at user address `addr` to `skb`
    /// as page fragments (no copy).
    pub(crate) fn append_to_skb(
        &self,
        skb: &mut kernel::net::skb::SkBuff,
        addr: u64,
        len: usize,
    ) -> Result<(), MemError> {
        let off = self.offset_of(addr, len)?;
        let umem = self.umem.as_ref().ok_or(MemError::Prot)?;
        umem.append_to_skb(skb, off, len)
            .map_err(|_| MemError::Prot)
    }

    /// Checks a remote access of `len` bytes at `addr` (an address in the
    /// region's iova space, the UET buffer offset) that needs `need`;
    /// returns its offset in the region.
    pub(crate) fn remote_offset(
        &self,
        addr: u64,
        len: usize,
        need: Access,
    ) -> Result<usize, RemoteError> {
        if self.access & u32::from(AccessFlags::from(need)) == 0 {
            return Err(RemoteError::Access);
        }
        self.offset_of(addr, len).map_err(|_| RemoteError::Range)
    }

    /// Serves a remote write: copies `data` into the region at `addr`; the
    /// region must allow remote writes.
    pub(crate) fn remote_write(&self, addr: u64, data: &[u8]) -> Result<(), RemoteError> {
        let off = self.remote_offset(addr, data.len(), Access::RemoteWrite)?;
        let umem = self.umem.as_ref().ok_or(RemoteError::Range)?;
        umem.copy_to(off, data).map_err(|_| RemoteError::Range)
    }

    /// Serves a remote atomic on the native-endian `u64` at `addr`; the
    /// region must allow remote atomics. Returns the previous value. The
    /// caller makes it atomic (it runs under the FEP's lock, as every
    /// remote access of the device does).
    pub(crate) fn remote_atomic(
        &self,
        addr: u64,
        op: AtomicOp,
        operand: u64,
        compare: u64,
    ) -> Result<u64, RemoteError> {
        let off = self.remote_offset(addr, 8, Access::RemoteAtomic)?;
        let umem = self.umem.as_ref().ok_or(RemoteError::Range)?;
        let mut b = [0u8; 8];
        umem.copy_from(off, &mut b)
            .map_err(|_| RemoteError::Range)?;
        let old = u64::from_ne_bytes(b);
        let new = op.apply(old, operand, compare);
        if new != old {
            umem.copy_to(off, &new.to_ne_bytes())
                .map_err(|_| RemoteError::Range)?;
        }
        Ok(old)
    }

    /// Serves a remote read: copies region bytes at `addr` into `out`; the
    /// region must allow remote reads.
    pub(crate) fn remote_read(&self, addr: u64, out: &mut [u8]) -> Result<(), RemoteError> {
        let off = self.remote_offset(addr, out.len(), Access::RemoteRead)?;
        let umem = self.umem.as_ref().ok_or(RemoteError::Range)?;
        umem.copy_from(off, out).map_err(|_| RemoteError::Range)
    }

    /// Copies `data` into the region at user address `addr`; the region
    /// must allow local writes.
    pub(crate) fn write(&self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        if self.access & u32::from(AccessFlags::from(Access::LocalWrite)) == 0 {
            return Err(MemError::Access);
        }
        let off = self.offset_of(addr, data.len())?;
        let umem = self.umem.as_ref().ok_or(MemError::Prot)?;
        umem.copy_to(off, data).map_err(|_| MemError::Access)
    }
}

/// The memory key table: keys are random, so a peer cannot guess the next
/// one from a key it was given.
///
/// Calling context: [`KeyTable::get`] and removal never sleep and may run
/// in the receive path (softirq); the lock is irq-safe and innermost.
/// [`KeyTable::insert`] allocates with `GFP_KERNEL` before taking it, so it
/// runs in process context (`reg_user_mr`).
#[pin_data]
pub(crate) struct KeyTable {
    /// Registered keys. Innermost lock: nothing is taken under it, and
    /// values are dropped after it is released.
    #[pin]
    keys: SpinLockIrq<RBTree<u32, Arc<MrEntry>>>,
}

impl KeyTable {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            keys <- new_spinlock_irq!(RBTree::new(), "uet_soft::KeyTable::keys"),
        })
    }

    /// Registers `entry` under key `want` (`EBUSY` if taken), or a fresh
    /// random key. The key stays registered until the returned guard is
    /// dropped, so an object whose construction fails after this call
    /// never leaves a key behind. May sleep.
    pub(crate) fn insert(
        self: &Arc<Self>,
        entry: Arc<MrEntry>,
        want: Option<u32>,
    ) -> Result<KeyReg> {
        let mut node = Some(RBTreeNodeReservation::new(GFP_KERNEL)?);
        let mut entry = Some(entry);
        let mut keys = self.keys.lock();
        if let Some(key) = want {
            if key == 0 || keys.get(&key).is_some() {
                drop(keys);
                return Err(if key == 0 { EINVAL } else { EBUSY });
            }
            if let (Some(n), Some(e)) = (node.take(), entry.take()) {
                keys.insert(n.into_node(key, e));
            }
            drop(keys);
            // INVARIANT: `key` was inserted above.
            return Ok(KeyReg {
                key,
                table: self.clone(),
            });
        }
        // The table is sparse, so a few draws always find a free key.
        for _ in 0..16 {
            let key = get_random_u32();
            // Key 0 is never handed out: it is what a zeroed request carries.
            if key == 0 || keys.get(&key).is_some() {
                continue;
            }
            if let (Some(n), Some(e)) = (node.take(), entry.take()) {
                keys.insert(n.into_node(key, e));
            }
            drop(keys);
            // INVARIANT: `key` was inserted above.
            return Ok(KeyReg {
                key,
                table: self.clone(),
            });
        }
        drop(keys);
        Err(EAGAIN)
    }

    /// Removes `key`; never sleeps.
    fn remove(&self, key: u32) {
        let node = self.keys.lock().remove_node(&key);
        // Dropped after the lock: it may hold the last reference of an entry.
        drop(node);
    }

    /// Looks a key up for a request of job `job_id` (the data path's
    /// (job, key) check) and runs `f` on its region while the table's lock
    /// is held: only a key registered by a context of that job, whose job
    /// was not revoked, resolves. Deregistration removes the key under the
    /// same lock, so once it returned no `f` touches the region: accesses
    /// land before the MR is gone or fail. Never sleeps; `f` must not
    /// either (it runs with interrupts off).
    pub(crate) fn with<R>(
        &self,
        job_id: u32,
        key: u32,
        f: impl FnOnce(&MrEntry) -> R,
    ) -> Option<R> {
        let keys = self.keys.lock();
        let e = keys.get(&key)?;
        (e.scope.job_id() == Some(job_id)).then(|| f(e))
    }

    /// Whether `key` resolves for job `job_id`. Never sleeps.
    #[cfg_attr(
        not(CONFIG_KUNIT = "y"),
        expect(dead_code, reason = "used by the tests")
    )]
    pub(crate) fn resolves(&self, job_id: u32, key: u32) -> bool {
        self.with(job_id, key, |_| ()).is_some()
    }

    /// Number of registered keys.
    #[cfg_attr(
        not(CONFIG_KUNIT = "y"),
        expect(dead_code, reason = "used by the tests")
    )]
    pub(crate) fn len(&self) -> usize {
        self.keys.lock().iter().count()
    }
}

/// A registered memory key; removed from its table on drop.
///
/// # Invariants
///
/// `key` is registered in `table` until this object is dropped.
pub(crate) struct KeyReg {
    key: u32,
    table: Arc<KeyTable>,
}

impl KeyReg {
    /// The key.
    pub(crate) fn key(&self) -> u32 {
        self.key
    }
}

impl Drop for KeyReg {
    fn drop(&mut self) {
        self.table.remove(self.key);
    }
}

/// Entries of the GID table: one per IP address of the netdev.
pub(crate) const GID_TABLE_LEN: usize = 64;

/// The GID table: the netdev's IP addresses, each in a stable slot.
///
/// A new address takes the lowest free slot and a removed one leaves its
/// slot empty (all zero), so the index of an address never changes while
/// it exists, as in ib_core's RoCE GID table. Addresses beyond
/// [`GID_TABLE_LEN`] are not reported.
///
/// Calling context: every method never sleeps; [`GidTable::resync`] runs
/// from IPv6 address notifiers, possibly in softirq.
#[pin_data]
pub(crate) struct GidTable {
    /// Innermost, irq-safe: nothing else is locked under it, and the
    /// address lists are read under RCU while holding it, so that
    /// concurrent refreshes apply in order.
    #[pin]
    slots: SpinLockIrq<[Gid; GID_TABLE_LEN]>,
}

impl GidTable {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            slots <- new_spinlock_irq!([[0u8; 16]; GID_TABLE_LEN], "uet_soft::GidTable::slots"),
        })
    }

    /// Brings the table in line with `netdev`'s addresses; whether it
    /// changed.
    pub(crate) fn resync(&self, netdev: &NetDevice) -> bool {
        let mut slots = self.slots.lock();
        let mut current = [[0u8; 16]; GID_TABLE_LEN];
        let mut n = 0;
        netdev.for_each_ip_gid(|g| {
            if n < GID_TABLE_LEN && *g != [0u8; 16] && !current[..n].contains(g) {
                current[n] = *g;
                n += 1;
            }
        });
        reconcile(&mut slots[..], &current[..n])
    }

    /// GID `index`; all zero for an empty slot or an index out of range.
    pub(crate) fn get(&self, index: u32) -> Gid {
        let slots = self.slots.lock();
        usize::try_from(index)
            .ok()
            .and_then(|i| slots.get(i).copied())
            .unwrap_or([0u8; 16])
    }
}

/// Makes `slots` hold exactly `current` (no duplicates, at most
/// `slots.len()` entries): stale entries are emptied, new ones take the
/// lowest free slot, the others stay where they are. Whether anything
/// changed.
fn reconcile(slots: &mut [Gid], current: &[Gid]) -> bool {
    const EMPTY: Gid = [0u8; 16];
    let mut changed = false;
    for s in slots.iter_mut() {
        if *s != EMPTY && !current.contains(s) {
            *s = EMPTY;
            changed = true;
        }
    }
    for g in current {
        if slots.contains(g) {
            continue;
        }
        if let Some(free) = slots.iter_mut().find(|s| **s == EMPTY) {
            *free = *g;
            changed = true;
        }
    }
    changed
}

#[kunit_tests(uet_soft_dev)]
mod tests {
    use super::*;
    use kernel::sync::ArcBorrow;

    fn gid(last: u8) -> Gid {
        let mut g = [0u8; 16];
        g[10] = 0xff;
        g[11] = 0xff;
        g[15] = last;
        g
    }

    #[test]
    fn gid_slots_are_stable() {
        let mut slots = [[0u8; 16]; 4];
        assert!(reconcile(&mut slots, &[gid(1), gid(2), gid(3)]));
        assert_eq!(slots[..3], [gid(1), gid(2), gid(3)]);
        // removing the middle one leaves a hole, the others stay put
        assert!(reconcile(&mut slots, &[gid(1), gid(3)]));
        assert_eq!(slots, [gid(1), [0; 16], gid(3), [0; 16]]);
        // a new address takes the lowest free slot
        assert!(reconcile(&mut slots, &[gid(3), gid(4), gid(1)]));
        assert_eq!(slots, [gid(1), gid(4), gid(3), [0; 16]]);
        // nothing new: unchanged
        assert!(!reconcile(&mut slots, &[gid(4), gid(1), gid(3)]));
        // more than fit: the ones that fit are kept, nothing panics
        assert!(reconcile(
            &mut slots,
            &[gid(1), gid(3), gid(4), gid(5), gid(6)]
        ));
        assert_eq!(slots, [gid(1), gid(4), gid(3), gid(5)]);
        assert!(reconcile(&mut slots, &[]));
        assert_eq!(slots, [[0u8; 16]; 4]);
    }

    #[test]
    fn ring_sizes() {
        assert_eq!(cq_ring_entries(0), None);
        assert_eq!(cq_ring_entries(1), Some(2));
        assert_eq!(cq_ring_entries(3), Some(4));
        assert_eq!(cq_ring_entries(1024), Some(1024));
        assert_eq!(cq_ring_entries(MAX_CQE), Some(MAX_CQE));
        assert_eq!(cq_ring_entries(MAX_CQE + 1), None);
        assert_eq!(cq_ring_entries(u32::MAX), None);
    }

    #[test]
    fn cqe_layout_matches_uapi() {
        let c = uapi::uet_cqe {
            wr_id: 0x0102_0304_0506_0708,
            status: 9,
            opcode: 10,
            uet_rc: 11,
            flags: 12,
            byte_len: 0x1314_1516,
            header_data: 0x2122_2324_2526_2728,
            ..Default::default()
        };
        let b = cqe_bytes(&c, 0x3132_3334);
        assert_eq!(b[0..8], 0x0102_0304_0506_0708u64.to_ne_bytes());
        assert_eq!(b[8..12], [9, 10, 11, 12]);
        assert_eq!(b[12..16], 0x1314_1516u32.to_ne_bytes());
        assert_eq!(core::mem::offset_of!(uapi::uet_cqe, header_data), 32);
        assert_eq!(b[32..40], 0x2122_2324_2526_2728u64.to_ne_bytes());
        assert_eq!(core::mem::offset_of!(uapi::uet_cqe, seq), 28);
        assert_eq!(b[28..32], 0x3132_3334u32.to_ne_bytes());
    }

    /// What `UetMr` holds of its key, plus a field whose initialisation
    /// fails, as an allocation after the key was registered would.
    struct KeyProbe {
        _reg: KeyReg,
        _after: u32,
    }

    fn fail_after_key() -> Result<u32> {
        Err(ENOMEM)
    }

    fn entry_of(scope: &Arc<JobScope>) -> Result<Arc<MrEntry>> {
        Ok(Arc::new(
            MrEntry {
                iova: 0x1000,
                length: 4096,
                access: 0,
                scope: scope.clone(),
                pd: 1,
                umem: None,
            },
            GFP_KERNEL,
        )?)
    }

    fn entry() -> Result<Arc<MrEntry>> {
        let scope = Arc::new(JobScope::new(), GFP_KERNEL)?;
        scope.set_job(7);
        entry_of(&scope)
    }

    #[test]
    fn remote_ranges_and_access_are_checked() -> Result {
        let scope = Arc::new(JobScope::new(), GFP_KERNEL)?;
        let mr = MrEntry {
            iova: 0x1000,
            length: 4096,
            access: AccessFlags::from(Access::LocalWrite).bits()
                | AccessFlags::from(Access::RemoteWrite).bits(),
            scope,
            pd: 1,
            umem: None,
        };
        let w = Access::RemoteWrite;
        assert_eq!(mr.remote_offset(0x1000, 4096, w), Ok(0));
        assert_eq!(mr.remote_offset(0x1ff8, 8, w), Ok(0xff8));
        assert_eq!(mr.remote_offset(0x1000, 0, w), Ok(0));
        // outside, across either end, wrapping around 2^64
        assert_eq!(mr.remote_offset(0xfff, 8, w), Err(RemoteError::Range));
        assert_eq!(mr.remote_offset(0x1ff9, 8, w), Err(RemoteError::Range));
        assert_eq!(mr.remote_offset(0x2000, 1, w), Err(RemoteError::Range));
        assert_eq!(
            mr.remote_offset(u64::MAX - 2, 8, w),
            Err(RemoteError::Range)
        );
        assert_eq!(
            mr.remote_offset(0x1000, usize::MAX, w),
            Err(RemoteError::Range)
        );
        // access before range: a read of a write-only region is refused
        assert_eq!(
            mr.remote_offset(0x1000, 8, Access::RemoteRead),
            Err(RemoteError::Access)
        );
        assert_eq!(
            mr.remote_offset(0x1000, 8, Access::RemoteAtomic),
            Err(RemoteError::Access)
        );
        Ok(())
    }

    #[test]
    fn keys_resolve_for_their_job_only() -> Result {
        let keys = Arc::pin_init(KeyTable::new(), GFP_KERNEL)?;
        let scope = Arc::new(JobScope::new(), GFP_KERNEL)?;
        // registered before the context's job is known: resolves for none
        let early = keys.insert(entry_of(&scope)?, None)?;
        assert!(!keys.resolves(5, early.key()));
        scope.set_job(5);
        let reg = keys.insert(entry_of(&scope)?, None)?;
        assert!(keys.resolves(5, reg.key()));
        assert!(!keys.resolves(6, reg.key()));
        assert!(!keys.resolves(5, reg.key().wrapping_add(1)));
        // an application-assigned key: unique, never 0
        let mine = keys.insert(entry_of(&scope)?, Some(0x5eed))?;
        assert_eq!(mine.key(), 0x5eed);
        assert!(keys.resolves(5, 0x5eed));
        assert_eq!(
            keys.insert(entry_of(&scope)?, Some(0x5eed)).err(),
            Some(EBUSY)
        );
        assert_eq!(keys.insert(entry_of(&scope)?, Some(0)).err(), Some(EINVAL));
        drop(mine);
        assert!(!keys.resolves(5, 0x5eed));
        // REVOKE: the keys stay registered but resolve no more
        scope.revoke();
        assert!(!keys.resolves(5, reg.key()));
        assert_eq!(keys.len(), 2);
        Ok(())
    }

    #[test]
    fn key_is_removed_when_its_owner_fails_to_initialise() -> Result {
        let keys = Arc::pin_init(KeyTable::new(), GFP_KERNEL)?;
        let table = keys.clone();
        let ok = KBox::init(
            try_init!(KeyProbe {
                _reg: table.insert(entry()?, None)?,
                _after: 0,
            }? Error),
            GFP_KERNEL,
        )?;
        assert_eq!(keys.len(), 1);
        let k = ok._reg.key();
        assert!(k != 0);
        assert!(keys.resolves(7, k));
        let table = keys.clone();
        let failed = KBox::init(
            try_init!(KeyProbe {
                _reg: table.insert(entry()?, None)?,
                _after: fail_after_key()?,
            }? Error),
            GFP_KERNEL,
        );
        assert!(failed.is_err());
        // the failed object's key is gone, the live one stays
        assert_eq!(keys.len(), 1);
        drop(ok);
        assert_eq!(keys.len(), 0);
        assert!(!keys.resolves(7, k));
        Ok(())
    }

    /// What the receive path will call never sleeps: run it with
    /// interrupts off, where a sleeping call (e.g. `vfree()` for the last
    /// reference of a ring, as before `vfree_atomic()`) is reported by
    /// `CONFIG_DEBUG_ATOMIC_SLEEP` as "BUG: sleeping function called from
    /// invalid context", which fails the run.
    #[test]
    fn data_path_calls_do_not_sleep() -> Result {
        let atomic = KBox::pin_init(new_spinlock_irq!(()), GFP_KERNEL)?;
        let keys = Arc::pin_init(KeyTable::new(), GFP_KERNEL)?;
        let reg = keys.insert(entry()?, None)?;
        let ring = CqRing::new(2)?;
        let c = uapi::uet_cqe::default();
        let guard = atomic.lock();
        assert!(keys.resolves(7, reg.key()));
        assert_eq!(ring.push(&c), Ok(()));
        // the last references: key removal and the ring's memory
        drop(reg);
        drop(ring);
        drop(guard);
        assert_eq!(keys.len(), 0);
        Ok(())
    }

    /// What the loopback test's socket received.
    struct Probe {
        got: AtomicU32,
        intact: AtomicBool,
    }

    impl kernel::net::udp_tunnel::EncapHandler for Probe {
        fn recv(this: ArcBorrow<'_, Self>, skb: kernel::net::skb::SkBuff) {
            // data starts at the UDP header
            let mut b = [0u8; 8];
            if skb.len() == 16 && skb.copy_bits(8, &mut b).is_ok() && &b == b"uet-loop" {
                this.intact.store(true, Ordering::Release);
            }
            this.got.fetch_add(1, Ordering::AcqRel);
            skb.consume();
        }
    }

    /// The UDP tunnel the data path uses: bind, a datagram over loopback
    /// to itself, the port taken while bound and free after shutdown, and
    /// no sending once shut down.
    #[test]
    fn udp_tunnel_round_trip() -> Result {
        use kernel::net::{
            skb::SkBuff,
            udp_tunnel::UdpTunnel, //
        };
        // Below the ephemeral port range, so no other socket takes it.
        const PORT: u16 = 31793;
        let Some(lo) = kernel::rdma::netdev::NetDevice::get_by_name(c"lo") else {
            pr_info!("udp tunnel test: no lo, skipped\n");
            return Ok(());
        };
        let probe = Arc::new(
            Probe {
                got: AtomicU32::new(0),
                intact: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        let tunnel = KBox::pin_init(UdpTunnel::<Probe>::new(), GFP_KERNEL)?;
        let other = KBox::pin_init(UdpTunnel::<Probe>::new(), GFP_KERNEL)?;
        // Every socket is shut down before anything is asserted: a failed
        // assertion ends the test without running destructors, and a socket
        // left bound would call into this module after it is unloaded.
        // SAFETY: `lo` cannot change namespace; the tunnels are shut down at
        // the end of this test, long before the initial namespace could go.
        let bound = unsafe { tunnel.bind(&lo, PORT, probe.clone()) };
        // SAFETY: as above.
        let twice = unsafe { tunnel.bind(&lo, PORT, probe.clone()) };
        // SAFETY: as above.
        let again = unsafe { other.bind(&lo, PORT, probe.clone()) };
        let mut skb = SkBuff::alloc(256, GFP_KERNEL)?;
        skb.reserve(128)?;
        skb.put(8)?.copy_from_slice(b"uet-loop");
        let sent = tunnel.send4(skb, [127, 0, 0, 1], PORT + 1, PORT, 0, 0);
        if sent.is_ok() {
            for _ in 0..200 {
                if probe.got.load(Ordering::Acquire) > 0 {
                    break;
                }
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
            }
        }
        tunnel.shutdown();
        let after = tunnel.send4(
            SkBuff::alloc(64, GFP_KERNEL)?,
            [127, 0, 0, 1],
            1,
            PORT,
            0,
            0,
        );
        // SAFETY: as above.
        let rebound = unsafe { other.bind(&lo, PORT, probe.clone()) };
        other.shutdown();
        assert_eq!(bound, Ok(()));
        assert_eq!(twice, Err(EBUSY));
        assert_eq!(again, Err(EADDRINUSE));
        assert_eq!(sent, Ok(()));
        assert_eq!(after, Err(ENOTCONN));
        assert_eq!(probe.got.load(Ordering::Acquire), 1);
        assert!(probe.intact.load(Ordering::Acquire));
        assert_eq!(rebound, Ok(()));
        assert!(!tunnel.is_bound() && !other.is_bound());
        Ok(())
    }

    #[test]
    fn ring_overflow_is_reported() -> Result {
        let ring = CqRing::new(2)?;
        let c = uapi::uet_cqe::default();
        assert_eq!(ring.push(&c), Ok(()));
        assert_eq!(ring.push(&c), Ok(()));
        assert_eq!(ring.push(&c), Err(CqFull::Overflow));
        // The consumer frees one entry: one more fits.
        ring.buf.store_u32_release(CQ_CONS_OFFSET, 1)?;
        assert_eq!(ring.push(&c), Ok(()));
        assert_eq!(ring.buf.load_u32_acquire(CQ_PROD_OFFSET)?, 3);
        Ok(())
    }
}
