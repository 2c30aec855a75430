// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Indexes over the engine's tables: free lists, hash chains and the
//! deadline heap, so that every event costs O(1) (or O(log n) for the
//! heap) whatever the table sizes.
//!
//! Free slots of every table are chained through their `hnext` field.
//! PDCs, initiator messages and inbound messages in use are chained in
//! hash buckets through the same field (a slot is either free or in use,
//! never both). Bucket arrays are caller-provided [`Tables`] whose lengths
//! are powers of two; the hash is keyed with a per-engine secret so that a
//! peer cannot aim its packets at one bucket. The heap holds one entry per
//! PDC or RUDI message with a deadline, ordered by that deadline; each
//! entry knows its heap position (`hpos`), so rescheduling is O(log n).
//!
//! [`Tables`]: super::Tables

use super::super::pds::psn_lt;
use super::super::ses::{
    tag_matches,
    Addr, //
};

use super::{
    Dest,
    Engine,
    Held,
    InMsg,
    Msg,
    MsgState,
    Pdc,
    PdcState,
    Quota,
    Recv,
    Slab,
    Tables,
    Tomb,
    TxDesc,
    Unexp, //
    NONE,
};

/// "Not in the heap".
pub(super) const NOPOS: u32 = u32::MAX;

/// Most live offers ([`Engine::offer_add`]) a target keeps per {peer,
/// SPDCID}: the newest, and the one before it (an initiator may still
/// answer the previous NACK while the next one is on its way).
const OFFERS_PER_KEY: usize = 2;

/// Most live tombstones that name a start PSN a target keeps per {peer,
/// SPDCID}; older ones are folded into one key-wide entry
/// ([`Tomb::wide`]), so that a key's hash chain stays short whatever its
/// peer sends (cold review of the SYN pressure, S3).
const TOMBS_PER_KEY: usize = 4;

/// Refreshed offers ([`Tomb::fresh`]) a push onto a full offer ring moves
/// to the back of the ring, at most, before it drops the oldest entry.
const RING_TURNS: usize = 4;

/// [`Pdc::quar`] of a slot quarantined for every peer (two peers' PDCs
/// failed on it within `reap_after`).
const QUAR_ALL: u16 = u16::MAX;

/// Quarantined slots a PDC to another peer looks at, from the oldest,
/// for one it may borrow ([`Engine::pdc_alloc`]).
const QUAR_WALK: usize = 16;

/// A finalizer with good avalanche (splitmix64).
pub(super) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// SipHash-2-4 of the one 8-byte (little-endian) word `m` under the
/// 128-bit key (`k0`, `k1`): a keyed pseudo-random function, unlike
/// [`mix`] (invertible: its output gives its input away).
pub(super) fn siphash(k0: u64, k1: u64, m: u64) -> u64 {
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    // The message word, then the last block: its length (8) in the top
    // byte.
    for w in [m, 8 << 56] {
        v[3] ^= w;
        round(&mut v);
        round(&mut v);
        v[0] ^= w;
    }
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

pub(super) fn addr_words(a: &Addr) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&a[..8]);
    hi.copy_from_slice(&a[8..]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// Key of a PDC in the PDC map.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PdcKey {
    /// Initiator PDC towards `peer` in a delivery mode (open for new
    /// messages: SYN sent or established).
    Initiator {
        peer: Addr,
        job: u32,
        tc: u8,
        ordered: bool,
    },
    /// Target PDC of `peer`'s PDC `spdcid` (open or half-open).
    Target { peer: Addr, spdcid: u16 },
}

impl PdcKey {
    fn of(d: &Pdc) -> Option<Self> {
        match d.state {
            PdcState::SynSent | PdcState::Established => Some(Self::Initiator {
                peer: d.peer,
                job: d.job,
                tc: d.tc,
                ordered: d.ordered,
            }),
            PdcState::Open | PdcState::HalfOpen => Some(Self::Target {
                peer: d.peer,
                spdcid: d.peer_id,
            }),
            PdcState::Free | PdcState::Closing => None,
        }
    }
}

fn pop_free(head: &mut u16, next: u16) -> usize {
    let i = usize::from(*head);
    *head = next;
    i
}

impl<S: Slab> Engine<S> {
    /// Chains every slot of every table on its free list and empties the
    /// maps and the heap.
    pub(super) fn build_indexes(&mut self) {
        fn chain<T>(t: &mut [T], mut set: impl FnMut(&mut T, u16)) -> u16 {
            let n = t.len();
            for (i, e) in t.iter_mut().enumerate() {
                // CAST: tables are shorter than NONE (checked by new()).
                set(e, if i + 1 < n { (i + 1) as u16 } else { NONE });
            }
            if n == 0 {
                NONE
            } else {
                0
            }
        }
        // The PDC free list starts at a slot drawn from the seed and goes
        // round from there: an engine started again on the same address
        // (a device deleted and added back) does not hand out the ids its
        // predecessor used first, which its peers may still hold.
        let n = self.pdcs.len();
        let first = self.first_pdc_slot();
        for k in 0..n {
            let next = if k + 1 < n {
                // CAST: tables are shorter than NONE (checked by new()).
                ((first + k + 1) % n) as u16
            } else {
                NONE
            };
            self.pdcs[(first + k) % n].hnext = next;
        }
        // CAST: tables are shorter than NONE (checked by new()).
        (self.free_pdc, self.free_pdc_tail) = match n {
            0 => (NONE, NONE),
            _ => (first as u16, ((first + n - 1) % n) as u16),
        };
        self.free_pdc_n = super::to_u16(n);
        self.quar_head = NONE;
        self.quar_tail = NONE;
        self.free_msg = chain(&mut self.msgs, |e, n| e.hnext = n);
        self.free_recv = chain(&mut self.recvs, |e, n| e.hnext = n);
        self.free_inb = chain(&mut self.inb, |e, n| e.hnext = n);
        self.free_unexp = chain(&mut self.unexp, |e, n| e.hnext = n);
        self.held.fill(Held::EMPTY);
        self.free_held = chain(&mut self.held, |e, n| e.next = n);
        self.held_used = 0;
        self.quotas.fill(Quota::EMPTY);
        self.free_quota = chain(&mut self.quotas, |e, n| e.hnext = n);
        self.quota_map.fill(NONE);
        self.job_pdc_jobs = 0;
        self.txq.fill(TxDesc::EMPTY);
        let w = self.window();
        // No panic path: `window()` is never 0 (checked by new()), and
        // objtool does not know `panic_const_div_by_zero` as noreturn.
        let nwin = self.txq.len().checked_div(w).unwrap_or(0);
        for k in 0..nwin {
            // CAST: nwin < NONE (checked by new()).
            self.txq[k * w].msg = if k + 1 < nwin { (k + 1) as u16 } else { NONE };
        }
        self.free_win = if nwin == 0 { NONE } else { 0 };
        self.wait_head = NONE;
        self.wait_tail = NONE;
        self.recv_map.fill(u32::MAX);
        self.unexp_map.fill(u32::MAX);
        self.pdc_map.fill(NONE);
        self.msg_map.fill(NONE);
        self.inb_map.fill(NONE);
        self.tomb_map.fill(NONE);
        self.tombs.fill(Tomb::EMPTY);
        self.tomb_head = 0;
        self.tomb_len = 0;
        self.offer_head = 0;
        self.offer_len = 0;
        self.heap_len = 0;
    }

    /// The slot a fresh engine's first PDC takes: derived from
    /// [`Config::seed`] (random in the kernel, and shown on the wire by
    /// the start PSNs anyway), 0 for an empty table.
    ///
    /// [`Config::seed`]: super::Config::seed
    pub(crate) fn first_pdc_slot(&self) -> usize {
        match self.pdcs.len() {
            0 => 0,
            // CAST: reduced below the table length, a usize.
            n => (mix(u64::from(self.cfg.seed) ^ 0x7064_635f_736c_6f74) % n as u64) as usize,
        }
    }

    fn bucket(&self, len: usize, h: u64) -> usize {
        // CAST: masked to the (power of two) bucket count, a usize.
        (mix(h ^ self.hseed) & (len as u64 - 1)) as usize
    }

    fn pdc_bucket(&self, k: &PdcKey) -> usize {
        let (peer, x) = match k {
            PdcKey::Initiator {
                peer,
                job,
                tc,
                ordered,
            } => (
                peer,
                1 | (u64::from(*ordered) << 1) | (u64::from(*tc) << 8) | (u64::from(*job) << 16),
            ),
            PdcKey::Target { peer, spdcid } => (peer, 4 | (u64::from(*spdcid) << 8)),
        };
        let (lo, hi) = addr_words(peer);
        self.bucket(self.pdc_map.len(), lo ^ mix(hi ^ mix(x)))
    }

    // ----------------------------------------------------------------
    // PDCs.

    /// Takes a free PDC slot for a PDC to `peer` (left `Free`; the caller
    /// fills it and then calls [`Self::pdc_map_insert`]). Quarantined
    /// slots whose time is over join the free list first. With the free
    /// list empty, a PDC borrows a quarantined slot of another peer (the
    /// oldest of the first [`QUAR_WALK`]): a quarantine keeps an id from
    /// the peer that may still hold it only (review of 5264c5f, S1: a
    /// hostile target that fails PDCs fast quarantined the whole table for
    /// every peer). The slot keeps its quarantine ([`Pdc::quar`]) and
    /// goes back to the quarantine when the borrowing PDC ends, for
    /// `reap_after` from then (its first end is not kept: later, never
    /// sooner).
    pub(super) fn pdc_alloc(&mut self, peer: &Addr) -> Option<usize> {
        self.quar_drain();
        if self.free_pdc == NONE {
            let q = self.quar_borrow(peer);
            if q.is_some() {
                self.pdcs_live += 1;
            }
            return q;
        }
        let next = self.pdcs[usize::from(self.free_pdc)].hnext;
        let i = pop_free(&mut self.free_pdc, next);
        self.free_pdc_n -= 1;
        if self.free_pdc == NONE {
            self.free_pdc_tail = NONE;
        }
        self.pdcs[i] = Pdc::EMPTY;
        self.pdcs_live += 1;
        Some(i)
    }

    /// 16 bits of a keyed hash of `peer` for [`Pdc::quar`] (never 0 nor
    /// [`QUAR_ALL`]). Two peers with one tag keep each other's
    /// quarantined slots: more waiting, never less.
    pub(super) fn quar_tag(&self, peer: &Addr) -> u16 {
        let (lo, hi) = addr_words(peer);
        // CAST: 16 bits of the hash.
        let t = mix(lo ^ mix(hi ^ mix(self.hseed ^ 0x7175_6172))) as u16;
        t.clamp(1, QUAR_ALL - 1)
    }

    /// A quarantined slot whose quarantine is not for `peer`, taken out
    /// of the quarantine FIFO (its [`Pdc::quar`] kept), or `None`.
    fn quar_borrow(&mut self, peer: &Addr) -> Option<usize> {
        let tag = self.quar_tag(peer);
        let mut prev = NONE;
        let mut cur = self.quar_head;
        let mut n = 0;
        while cur != NONE && n < QUAR_WALK {
            let q = usize::from(cur);
            let (t, next) = (self.pdcs[q].quar, self.pdcs[q].hnext);
            if t != tag && t != QUAR_ALL {
                if prev == NONE {
                    self.quar_head = next;
                } else {
                    self.pdcs[usize::from(prev)].hnext = next;
                }
                if self.quar_tail == cur {
                    self.quar_tail = prev;
                }
                self.pdcs[q] = Pdc::EMPTY;
                self.pdcs[q].quar = t;
                return Some(q);
            }
            prev = cur;
            cur = next;
            n += 1;
        }
        None
    }

    /// Whether the PDC free list and the quarantine FIFO agree with the
    /// table: `free_pdc_n` is the free list's length, their tails are
    /// their last entries, and together they hold every free slot (a walk
    /// of both and a scan, for the simulator's checks).
    pub(crate) fn pdc_lists_ok(&self) -> bool {
        let walk = |head: u16| {
            let (mut n, mut last, mut cur) = (0, NONE, head);
            while cur != NONE && n <= self.pdcs.len() {
                n += 1;
                last = cur;
                cur = self.pdcs[usize::from(cur)].hnext;
            }
            (n, last)
        };
        let (nf, tf) = walk(self.free_pdc);
        let (nq, tq) = walk(self.quar_head);
        let free = self
            .pdcs
            .iter()
            .filter(|p| p.state == PdcState::Free)
            .count();
        nf == usize::from(self.free_pdc_n)
            && tf == self.free_pdc_tail
            && tq == self.quar_tail
            && nf + nq == free
    }

    /// Moves the quarantined slots whose time is over to the free list.
    fn quar_drain(&mut self) {
        while self.quar_head != NONE {
            let q = usize::from(self.quar_head);
            if self.pdcs[q].last_active > self.now {
                break;
            }
            self.quar_head = self.pdcs[q].hnext;
            if self.quar_head == NONE {
                self.quar_tail = NONE;
            }
            self.pdcs[q] = Pdc::EMPTY;
            self.free_push(q);
        }
    }

    /// True when a new target PDC for `peer` and JobID `job` would be
    /// taken at or above [`Config::syn_pressure`]: of the PDC table (slots
    /// in use or quarantined), of the peer's share or of the JobID's
    /// share (while it holds). Such a SYN gets the 1-RTT handshake without
    /// a PDC. O(1): two quota lookups.
    pub(super) fn syn_pressure(&mut self, peer: &Addr, job: u32) -> bool {
        let t = usize::from(self.cfg.syn_pressure);
        if t == 0 {
            return false;
        }
        let n = self.pdcs.len();
        self.quar_drain();
        let used = n - usize::from(self.free_pdc_n);
        if used * 256 >= n * t {
            return true;
        }
        let lim = usize::from(Self::share(n, self.cfg.peer_share));
        if let Some(q) = self.quota_find(1, peer) {
            if usize::from(self.quotas[q].pdcs) * 256 >= lim * t {
                return true;
            }
        }
        if self.cfg.job_pdc_share != 0 {
            let jl = usize::from(Self::share(n, self.cfg.job_pdc_share));
            let mine = self
                .quota_find(2, &Self::job_key(job))
                .map_or(0, |j| self.quotas[j].pdcs);
            let others = self.job_pdc_jobs.saturating_sub(u16::from(mine != 0));
            if others != 0 && usize::from(mine) * 256 >= jl * t {
                return true;
            }
        }
        false
    }

    /// Takes PDC `pi` out of the map, the heap and the window pool, gives
    /// back what it holds and empties it; false if it was free already.
    fn pdc_clear(&mut self, pi: usize) -> bool {
        if self.pdcs[pi].state == PdcState::Free {
            return false;
        }
        self.pdc_map_remove(pi);
        self.unschedule(pi);
        self.wait_remove(pi);
        self.win_release(pi);
        self.hold_drop(pi);
        let (pq, jq) = (self.pdcs[pi].peer_q, self.pdcs[pi].job_q);
        self.quota_pdc_put(pq, jq);
        self.pdcs[pi] = Pdc::EMPTY;
        self.pdcs_live -= 1;
        true
    }

    /// Appends free slot `pi` to the free list.
    fn free_push(&mut self, pi: usize) {
        self.pdcs[pi].hnext = NONE;
        self.free_pdc_n += 1;
        // CAST: pi < table length < NONE.
        let me = pi as u16;
        match self.free_pdc_tail {
            NONE => self.free_pdc = me,
            t => self.pdcs[usize::from(t)].hnext = me,
        }
        self.free_pdc_tail = me;
    }

    /// Frees PDC `pi`: out of the map and the heap, back on the free list
    /// (at its end: see [`Self::pdc_quarantine`] for why ids are not
    /// reused at once).
    /// A slot borrowed from the quarantine goes back to it.
    pub(super) fn pdc_release(&mut self, pi: usize) {
        let (peer, quar) = (self.pdcs[pi].peer, self.pdcs[pi].quar);
        if self.pdc_clear(pi) {
            if quar == 0 {
                self.free_push(pi);
            } else {
                self.quar_push(pi, peer, quar);
            }
        }
    }

    /// Frees initiator PDC `pi` that ended without the CLOSE handshake
    /// (failed, or its CLOSE never acknowledged): its target may hold it
    /// until it reaps it, `reap_after` after it last heard from us, and
    /// would take a new PDC under the same SPDCID (with another start
    /// PSN) for a stale one and drop its SYNs until then. So the slot,
    /// whose index is that SPDCID, is not given to a PDC to the same peer
    /// for `reap_after`: it waits in a FIFO (in order of release, so of
    /// the end of its quarantine) and joins the free list after that. A
    /// PDC to another peer may borrow the slot meanwhile
    /// ([`Self::pdc_alloc`]); a table whose free slots are all
    /// quarantined for a peer refuses new PDCs to that peer
    /// (`NO_PDC_AVAIL`, `PostError::NoPdc`) meanwhile. A slot that was
    /// borrowed from another peer's quarantine is quarantined for every
    /// peer.
    pub(super) fn pdc_quarantine(&mut self, pi: usize) {
        let peer = self.pdcs[pi].peer;
        let mine = self.quar_tag(&peer);
        let quar = match self.pdcs[pi].quar {
            0 => mine,
            t if t == mine => mine,
            _ => QUAR_ALL,
        };
        if !self.pdc_clear(pi) {
            return;
        }
        self.quar_push(pi, peer, quar);
    }

    /// Appends cleared slot `pi` to the quarantine FIFO with tag `quar`
    /// for `reap_after` from now.
    fn quar_push(&mut self, pi: usize, peer: Addr, quar: u16) {
        let d = &mut self.pdcs[pi];
        d.quar = quar;
        // A free slot keeps the peer and, in `last_active`, the end of its
        // quarantine.
        d.peer = peer;
        d.last_active = self.now.saturating_add(self.cfg.reap_after());
        d.hnext = NONE;
        // CAST: pi < table length < NONE.
        let me = pi as u16;
        match self.quar_tail {
            NONE => self.quar_head = me,
            t => self.pdcs[usize::from(t)].hnext = me,
        }
        self.quar_tail = me;
    }

    /// Holds ROD request packet `pkt` (PSN `psn`, out of order) for target
    /// PDC `pi` until its predecessors arrive; false if there is no room
    /// (no free slot, the packet is longer than a slot, or the PDC holds
    /// its share already: `peer_share`/256 of the slots, at least one).
    /// The PDC's list stays in PSN order; packets mostly arrive in order,
    /// so the insertion is at the tail (O(1)).
    pub(super) fn hold_insert(&mut self, pi: usize, psn: u32, pkt: &[u8]) -> bool {
        let slot = Tables::<S>::held_bytes(self.cfg.mtu);
        let share = (self.held.len() * usize::from(self.cfg.peer_share) / 256).max(1);
        let h = self.free_held;
        let (Some(len), true, true) = (
            u16::try_from(pkt.len())
                .ok()
                .filter(|&l| usize::from(l) <= slot),
            h != NONE,
            usize::from(self.pdcs[pi].nheld) < share,
        ) else {
            return false;
        };
        let hu = usize::from(h);
        self.free_held = self.held[hu].next;
        self.held_used += 1;
        self.held_buf[hu * slot..hu * slot + pkt.len()].copy_from_slice(pkt);
        // CAST: pi < table length < NONE.
        let pi16 = pi as u16;
        self.held[hu] = Held {
            pdc: pi16,
            next: NONE,
            psn,
            len,
        };
        let d = &mut self.pdcs[pi];
        d.nheld += 1;
        let tail = d.hold_tail;
        if tail == NONE {
            d.hold_head = h;
            d.hold_tail = h;
        } else if psn_lt(self.held[usize::from(tail)].psn, psn) {
            self.held[usize::from(tail)].next = h;
            self.pdcs[pi].hold_tail = h;
        } else {
            // Reordered in the network: walk to its place.
            let mut prev = NONE;
            let mut cur = self.pdcs[pi].hold_head;
            while cur != NONE && psn_lt(self.held[usize::from(cur)].psn, psn) {
                prev = cur;
                cur = self.held[usize::from(cur)].next;
            }
            self.held[hu].next = cur;
            if prev == NONE {
                self.pdcs[pi].hold_head = h;
            } else {
                self.held[usize::from(prev)].next = h;
            }
        }
        true
    }

    /// Frees the first packet PDC `pi` holds.
    pub(super) fn hold_pop(&mut self, pi: usize) {
        let h = self.pdcs[pi].hold_head;
        if h == NONE {
            return;
        }
        let hu = usize::from(h);
        let d = &mut self.pdcs[pi];
        d.hold_head = self.held[hu].next;
        if d.hold_head == NONE {
            d.hold_tail = NONE;
        }
        d.nheld -= 1;
        self.held[hu] = Held {
            next: self.free_held,
            ..Held::EMPTY
        };
        self.free_held = h;
        self.held_used -= 1;
    }

    /// Frees every packet PDC `pi` holds (the PDC goes away).
    pub(super) fn hold_drop(&mut self, pi: usize) {
        while self.pdcs[pi].hold_head != NONE {
            self.hold_pop(pi);
        }
    }

    /// The maximum PSN range target PDC `pi` advertises (in 8 PSNs; 0:
    /// none): for a ROD PDC, the packets it can still hold (its share of
    /// the reorder buffer, or the free slots if fewer), so that an
    /// initiator that keeps within it never sends a packet the target
    /// must drop; nothing for RUD or without a buffer.
    pub(super) fn mpr(&self, pi: usize) -> u8 {
        let d = &self.pdcs[pi];
        if !d.ordered || self.held.is_empty() {
            return 0;
        }
        let share = (self.held.len() * usize::from(self.cfg.peer_share) / 256).max(1);
        let free = self.held.len() - usize::from(self.held_used);
        let room = share.min(usize::from(d.nheld) + free);
        u8::try_from(room / 8).unwrap_or(u8::MAX).max(1)
    }

    /// Packets held in the ROD reorder buffer (for inspection).
    pub(crate) fn held_count(&self) -> usize {
        self.held.iter().filter(|h| h.pdc != NONE).count()
    }

    /// Puts PDC `pi` in the map under its current key.
    pub(super) fn pdc_map_insert(&mut self, pi: usize) {
        let Some(k) = PdcKey::of(&self.pdcs[pi]) else {
            return;
        };
        let b = self.pdc_bucket(&k);
        self.pdcs[pi].hnext = self.pdc_map[b];
        // CAST: bucket counts are below 2^32 (checked by new()).
        self.pdcs[pi].hb = b as u32;
        // CAST: pi < NONE.
        self.pdc_map[b] = pi as u16;
    }

    /// Takes PDC `pi` out of the map (call before its key changes).
    pub(super) fn pdc_map_remove(&mut self, pi: usize) {
        let hb = self.pdcs[pi].hb;
        if hb == NOPOS {
            return;
        }
        // CAST: a u32 bucket index fits in usize.
        let b = hb as usize;
        let next = self.pdcs[pi].hnext;
        self.pdcs[pi].hb = NOPOS;
        self.pdcs[pi].hnext = NONE;
        let mut cur = self.pdc_map[b];
        if usize::from(cur) == pi {
            self.pdc_map[b] = next;
            return;
        }
        while cur != NONE {
            let c = usize::from(cur);
            if usize::from(self.pdcs[c].hnext) == pi {
                self.pdcs[c].hnext = next;
                return;
            }
            cur = self.pdcs[c].hnext;
        }
    }

    /// The PDC with key `k`, if any.
    pub(super) fn pdc_find(&self, k: PdcKey) -> Option<usize> {
        let mut cur = self.pdc_map[self.pdc_bucket(&k)];
        while cur != NONE {
            let c = usize::from(cur);
            if PdcKey::of(&self.pdcs[c]) == Some(k) {
                return Some(c);
            }
            cur = self.pdcs[c].hnext;
        }
        None
    }

    // ----------------------------------------------------------------
    // Initiator messages: keyed by (PDC, message id), RUDI messages by
    // (NONE, packet id).

    fn msg_bucket(&self, pdc: u16, id: u32) -> usize {
        self.bucket(self.msg_map.len(), (u64::from(pdc) << 32) | u64::from(id))
    }

    /// Takes a free message slot.
    pub(super) fn msg_alloc(&mut self) -> Option<usize> {
        if self.free_msg == NONE {
            return None;
        }
        let next = self.msgs[usize::from(self.free_msg)].hnext;
        Some(pop_free(&mut self.free_msg, next))
    }

    /// Gives back a slot from [`Self::msg_alloc`] that was never used.
    pub(super) fn msg_unalloc(&mut self, mi: usize) {
        // An active slot is linked (message map, PDC queue) and referred
        // to by its packets: freeing it here would give it two owners.
        if self.msgs[mi].state == MsgState::Active {
            debug_assert!(false, "msg_unalloc of active message {mi}");
            return;
        }
        self.msgs[mi] = Msg::EMPTY;
        self.msgs[mi].hnext = self.free_msg;
        // CAST: mi < NONE.
        self.free_msg = mi as u16;
    }

    /// Puts active message `mi` in the map under (`pdc`, `id`).
    pub(super) fn msg_map_insert(&mut self, mi: usize, pdc: u16, id: u32) {
        let b = self.msg_bucket(pdc, id);
        self.msgs[mi].hnext = self.msg_map[b];
        // CAST: mi < NONE.
        self.msg_map[b] = mi as u16;
    }

    fn msg_key(m: &Msg) -> (u16, u32) {
        if m.pdc == NONE {
            (NONE, m.pkt_id)
        } else {
            (m.pdc, u32::from(m.msg_id))
        }
    }

    /// Frees message `mi`: out of the map and the heap, back on the free
    /// list.
    pub(super) fn msg_release(&mut self, mi: usize) {
        if self.msgs[mi].state == MsgState::Free {
            return;
        }
        let (pdc, id) = Self::msg_key(&self.msgs[mi]);
        let b = self.msg_bucket(pdc, id);
        let next = self.msgs[mi].hnext;
        let mut cur = self.msg_map[b];
        if usize::from(cur) == mi {
            self.msg_map[b] = next;
        } else {
            while cur != NONE {
                let c = usize::from(cur);
                if usize::from(self.msgs[c].hnext) == mi {
                    self.msgs[c].hnext = next;
                    break;
                }
                cur = self.msgs[c].hnext;
            }
        }
        self.unschedule(self.pdcs.len() + mi);
        self.msgs[mi] = Msg::EMPTY;
        self.msgs[mi].hnext = self.free_msg;
        // CAST: mi < NONE.
        self.free_msg = mi as u16;
    }

    /// The active, not yet completed message (`pdc`, `id`).
    pub(super) fn msg_find(&self, pdc: u16, id: u32) -> Option<usize> {
        let mut cur = self.msg_map[self.msg_bucket(pdc, id)];
        while cur != NONE {
            let c = usize::from(cur);
            let m = &self.msgs[c];
            if m.state == MsgState::Active && Self::msg_key(m) == (pdc, id) {
                return Some(c);
            }
            cur = m.hnext;
        }
        None
    }

    // ----------------------------------------------------------------
    // Inbound messages: keyed by (PDC, message id).

    fn inb_bucket(&self, pdc: u16, msg_id: u16) -> usize {
        self.bucket(
            self.inb_map.len(),
            (1 << 40) | (u64::from(pdc) << 16) | u64::from(msg_id),
        )
    }

    /// Takes a free inbound slot and, if `mapped`, maps it under (`pdc`,
    /// `msg_id`); the caller fills it, keeping `hnext` and setting
    /// `mapped` as given here. A message released before anything can
    /// look it up (one packet, complete on arrival) needs no mapping.
    pub(super) fn inb_alloc(&mut self, pdc: u16, msg_id: u16, mapped: bool) -> Option<usize> {
        if self.free_inb == NONE {
            return None;
        }
        let next = self.inb[usize::from(self.free_inb)].hnext;
        let i = pop_free(&mut self.free_inb, next);
        if mapped {
            let b = self.inb_bucket(pdc, msg_id);
            self.inb[i].hnext = self.inb_map[b];
            // CAST: i < NONE.
            self.inb_map[b] = i as u16;
        } else {
            self.inb[i].hnext = NONE;
        }
        if pdc != NONE {
            let d = &mut self.pdcs[usize::from(pdc)];
            let head = d.inb_head;
            // CAST: i < NONE.
            d.inb_head = i as u16;
            self.inb[i].pnext = head;
            self.inb[i].pprev = NONE;
            if head != NONE {
                // CAST: as above.
                self.inb[usize::from(head)].pprev = i as u16;
            }
        }
        Some(i)
    }

    /// Takes inbound slot `i` (followed by `next`) off the chain of
    /// answered messages of PDC `pi`.
    fn answered_unlink(&mut self, pi: usize, i: usize, next: u16) {
        let d = &mut self.pdcs[pi];
        d.nanswered = d.nanswered.saturating_sub(1);
        let mut cur = d.answered;
        if usize::from(cur) == i {
            d.answered = next;
            return;
        }
        while cur != NONE {
            let c = usize::from(cur);
            if usize::from(self.inb[c].anext) == i {
                self.inb[c].anext = next;
                return;
            }
            cur = self.inb[c].anext;
        }
        debug_assert!(false, "answered message {i} not on PDC {pi}'s chain");
    }

    /// Frees inbound slot `i`.
    pub(super) fn inb_release(&mut self, i: usize) {
        let m = self.inb[i];
        if !m.used {
            return;
        }
        if m.mapped {
            let b = self.inb_bucket(m.pdc, m.msg_id);
            let mut cur = self.inb_map[b];
            if usize::from(cur) == i {
                self.inb_map[b] = m.hnext;
            } else {
                while cur != NONE {
                    let c = usize::from(cur);
                    if usize::from(self.inb[c].hnext) == i {
                        self.inb[c].hnext = m.hnext;
                        break;
                    }
                    cur = self.inb[c].hnext;
                }
            }
        }
        if m.pdc != NONE {
            if m.pprev == NONE {
                self.pdcs[usize::from(m.pdc)].inb_head = m.pnext;
            } else {
                self.inb[usize::from(m.pprev)].pnext = m.pnext;
            }
            if m.pnext != NONE {
                self.inb[usize::from(m.pnext)].pprev = m.pprev;
            }
            if m.dest == Dest::Answered {
                self.answered_unlink(usize::from(m.pdc), i, m.anext);
            }
        }
        self.quota_put(m.peer_q, |q| q.inb -= 1);
        self.quota_put(m.job_q, |q| q.inb -= 1);
        self.inb[i] = InMsg::EMPTY;
        self.inb[i].hnext = self.free_inb;
        // CAST: i < NONE.
        self.free_inb = i as u16;
    }

    /// The inbound message (`pdc`, `msg_id`) being received.
    pub(super) fn inb_find(&self, pdc: u16, msg_id: u16) -> Option<usize> {
        let mut cur = self.inb_map[self.inb_bucket(pdc, msg_id)];
        while cur != NONE {
            let c = usize::from(cur);
            let m = &self.inb[c];
            if m.used && m.pdc == pdc && m.msg_id == msg_id {
                return Some(c);
            }
            cur = m.hnext;
        }
        None
    }

    // ----------------------------------------------------------------
    // Receives and unexpected messages (free lists only).

    /// Takes a free receive slot.
    pub(super) fn recv_alloc(&mut self) -> Option<usize> {
        if self.free_recv == NONE {
            return None;
        }
        let next = self.recvs[usize::from(self.free_recv)].hnext;
        Some(pop_free(&mut self.free_recv, next))
    }

    /// Frees receive slot `ri`.
    pub(super) fn recv_release(&mut self, ri: usize) {
        if !self.recvs[ri].used {
            return;
        }
        self.recv_unlist(ri);
        self.recvs[ri] = Recv::EMPTY;
        self.recvs[ri].hnext = self.free_recv;
        // CAST: ri < NONE.
        self.free_recv = ri as u16;
    }

    /// Takes a free unexpected-message slot.
    pub(super) fn unexp_alloc(&mut self) -> Option<usize> {
        if self.free_unexp == NONE {
            return None;
        }
        let next = self.unexp[usize::from(self.free_unexp)].hnext;
        Some(pop_free(&mut self.free_unexp, next))
    }

    /// Gives back a slot from [`Self::unexp_alloc`] that was never used.
    pub(super) fn unexp_unalloc(&mut self, ui: usize) {
        self.unexp[ui] = Unexp::EMPTY;
        self.unexp[ui].hnext = self.free_unexp;
        // CAST: ui < NONE.
        self.free_unexp = ui as u16;
    }

    /// Frees unexpected-message slot `ui`.
    pub(super) fn unexp_release(&mut self, ui: usize) {
        if !self.unexp[ui].used {
            return;
        }
        self.unschedule(self.unexp_timer(ui));
        self.unexp_unlist(ui);
        let u = self.unexp[ui];
        self.quota_put(u.peer_q, |q| q.unexp -= 1);
        self.quota_put(u.job_q, |q| q.unexp -= 1);
        self.unexp[ui] = Unexp::EMPTY;
        self.unexp[ui].hnext = self.free_unexp;
        // CAST: ui < NONE.
        self.free_unexp = ui as u16;
    }

    // ----------------------------------------------------------------
    // Deadline heap. Timer ids: PDC `i` is id `i`, message `m` is id
    // `pdcs.len() + m`, unexpected message `u` is id `pdcs.len() +
    // msgs.len() + u`.

    /// Timer id of unexpected message `ui`.
    pub(super) fn unexp_timer(&self, ui: usize) -> usize {
        self.pdcs.len() + self.msgs.len() + ui
    }

    fn slot_of(&mut self, id: usize) -> (&mut u32, &mut u64) {
        let (np, nm) = (self.pdcs.len(), self.msgs.len());
        if id < np {
            let d = &mut self.pdcs[id];
            (&mut d.hpos, &mut d.when)
        } else if id < np + nm {
            let m = &mut self.msgs[id - np];
            (&mut m.hpos, &mut m.when)
        } else {
            let u = &mut self.unexp[id - np - nm];
            (&mut u.hpos, &mut u.when)
        }
    }

    fn when(&self, id: usize) -> u64 {
        let (np, nm) = (self.pdcs.len(), self.msgs.len());
        if id < np {
            self.pdcs[id].when
        } else if id < np + nm {
            self.msgs[id - np].when
        } else {
            self.unexp[id - np - nm].when
        }
    }

    fn pos(&self, id: usize) -> u32 {
        let (np, nm) = (self.pdcs.len(), self.msgs.len());
        if id < np {
            self.pdcs[id].hpos
        } else if id < np + nm {
            self.msgs[id - np].hpos
        } else {
            self.unexp[id - np - nm].hpos
        }
    }

    fn set_pos(&mut self, id: usize, pos: u32) {
        *self.slot_of(id).0 = pos;
    }

    fn set_when(&mut self, id: usize, when: u64) {
        *self.slot_of(id).1 = when;
    }

    fn heap_put(&mut self, at: usize, id: usize) {
        // CAST: ids and positions are below pdcs + msgs < 2^17.
        self.heap[at] = id as u32;
        self.set_pos(id, at as u32);
    }

    fn heap_id(&self, at: usize) -> usize {
        // CAST: a u32 id fits in usize.
        self.heap[at] as usize
    }

    fn sift_up(&mut self, mut at: usize) {
        let id = self.heap_id(at);
        let w = self.when(id);
        while at > 0 {
            let parent = (at - 1) / 2;
            let pid = self.heap_id(parent);
            if self.when(pid) <= w {
                break;
            }
            self.heap_put(at, pid);
            at = parent;
        }
        self.heap_put(at, id);
    }

    fn sift_down(&mut self, mut at: usize) {
        let id = self.heap_id(at);
        let w = self.when(id);
        loop {
            let l = 2 * at + 1;
            if l >= self.heap_len {
                break;
            }
            let r = l + 1;
            let c = if r < self.heap_len && self.when(self.heap_id(r)) < self.when(self.heap_id(l))
            {
                r
            } else {
                l
            };
            let cid = self.heap_id(c);
            if self.when(cid) >= w {
                break;
            }
            self.heap_put(at, cid);
            at = c;
        }
        self.heap_put(at, id);
    }

    /// Sets the deadline of timer `id`; `u64::MAX` takes it off the heap.
    pub(super) fn schedule(&mut self, id: usize, when: u64) {
        let pos = self.pos(id);
        if when == u64::MAX {
            if pos != NOPOS {
                self.unschedule(id);
            }
            return;
        }
        if pos == NOPOS {
            let at = self.heap_len;
            self.heap_len += 1;
            self.set_when(id, when);
            self.heap_put(at, id);
            self.sift_up(at);
            return;
        }
        let old = self.when(id);
        self.set_when(id, when);
        // CAST: heap positions fit in usize.
        let at = pos as usize;
        if when < old {
            self.sift_up(at);
        } else if when > old {
            self.sift_down(at);
        }
    }

    /// Takes timer `id` off the heap.
    pub(super) fn unschedule(&mut self, id: usize) {
        let pos = self.pos(id);
        if pos == NOPOS {
            return;
        }
        // CAST: heap positions fit in usize.
        let at = pos as usize;
        self.set_pos(id, NOPOS);
        self.heap_len -= 1;
        if at == self.heap_len {
            return;
        }
        let last = self.heap_id(self.heap_len);
        self.heap_put(at, last);
        self.sift_down(at);
        let at = self.pos(last) as usize;
        self.sift_up(at);
    }

    /// The earliest deadline and its timer id.
    pub(super) fn heap_min(&self) -> Option<(u64, usize)> {
        (self.heap_len > 0).then(|| {
            let id = self.heap_id(0);
            (self.when(id), id)
        })
    }

    // ----------------------------------------------------------------
    // Tombstones and offers: two rings over the `tombs` table, each in
    // order of arrival (of expiry for tombstones; an offer a SYN
    // refreshed expires later, see `Tomb::fresh`), hashed together by
    // {peer, SPDCID}. Offers have
    // their own ring (the last quarter of the table), so that they never
    // push a live tombstone out (which makes every new PDC use 1-RTT
    // until that tombstone's time): a flood of half-open PDCs only
    // evicts offers. Used, superseded and expired entries leave their
    // hash chain as soon as a walk meets them (their ring slot is freed
    // in its turn), and a key keeps at most [`OFFERS_PER_KEY`] live
    // offers, so that a lookup walks a few entries whatever one peer
    // sends.

    fn tomb_bucket(&self, peer: &Addr, spdcid: u16) -> usize {
        let (lo, hi) = addr_words(peer);
        self.bucket(
            self.tomb_map.len(),
            lo ^ mix(hi ^ mix(8 | (u64::from(spdcid) << 8))),
        )
    }

    /// First slot and length of the offer ring (`offer`) or of the
    /// tombstone ring.
    fn ring(&self, offer: bool) -> (usize, usize) {
        let n = self.tombs.len();
        let oc = n / 4;
        if offer {
            (n - oc, oc)
        } else {
            (0, n - oc)
        }
    }

    /// Head and length of the offer ring (`offer`) or of the tombstone
    /// ring.
    fn ring_at(&self, offer: bool) -> (usize, usize) {
        if offer {
            (self.offer_head, self.offer_len)
        } else {
            (self.tomb_head, self.tomb_len)
        }
    }

    fn set_ring_at(&mut self, offer: bool, head: usize, len: usize) {
        if offer {
            (self.offer_head, self.offer_len) = (head, len);
        } else {
            (self.tomb_head, self.tomb_len) = (head, len);
        }
    }

    /// Takes entry `i`, whose predecessor in its hash chain is `prev`
    /// (`NONE`: it heads bucket `b`), out of the chain.
    fn tomb_unlink_at(&mut self, b: usize, prev: u16, i: usize) {
        let next = self.tombs[i].hnext;
        if prev == NONE {
            self.tomb_map[b] = next;
        } else {
            self.tombs[usize::from(prev)].hnext = next;
        }
        let t = &mut self.tombs[i];
        t.linked = false;
        t.hnext = NONE;
        t.until = 0;
    }

    /// Drops the oldest entry of a ring. A tombstone dropped before its
    /// time makes every new PDC use 1-RTT until that time, and so does an
    /// offer that answered a SYN at another start PSN
    /// ([`Engine::guard_gone`]); otherwise an offer dropped early only
    /// costs its initiator another handshake.
    fn tomb_pop(&mut self, offer: bool, now: u64) {
        let (base, cap) = self.ring(offer);
        let (head, len) = self.ring_at(offer);
        let i = base + head;
        let t = self.tombs[i];
        if t.linked {
            self.guard_gone(&t, now);
            let b = self.tomb_bucket(&t.peer, t.spdcid);
            let mut prev = NONE;
            let mut cur = self.tomb_map[b];
            while cur != NONE && usize::from(cur) != i {
                #[cfg(test)]
                {
                    self.tomb_steps = self.tomb_steps.wrapping_add(1);
                }
                prev = cur;
                cur = self.tombs[usize::from(cur)].hnext;
            }
            if cur != NONE {
                self.tomb_unlink_at(b, prev, i);
            }
        }
        self.tombs[i] = Tomb::EMPTY;
        self.set_ring_at(offer, (head + 1) % cap, len - 1);
    }

    /// Entry `t` leaves before its time (`now`) for want of room or
    /// because another took its place. A tombstone kept the SYNs of its
    /// start PSN out; an offer, those of the start PSN it answered (its
    /// `syn_psn`, review of 67a39b2, B2): their initiator heard the offer
    /// and sends the same messages again from the offered PSN, so a late
    /// copy must not open a PDC of its own (0-RTT) either. Until `t`'s
    /// time every new PDC uses 1-RTT, which never opens one at the SYN's
    /// own PSN.
    fn guard_gone(&mut self, t: &Tomb, now: u64) {
        let guards = !t.offer || t.syn_psn != t.start_psn;
        if guards && t.until > now && t.until > self.syn_1rtt_until {
            self.syn_1rtt_until = t.until;
        }
    }

    /// Remembers the target PDC {`peer`, `spdcid`} that started at
    /// `start_psn` for the quiet time.
    pub(super) fn tomb_add(&mut self, peer: Addr, spdcid: u16, start_psn: u32, now: u64) {
        self.tomb_push(peer, spdcid, start_psn, start_psn, false, now);
    }

    /// Remembers, for the quiet time, that the half-open PDC {`peer`,
    /// `spdcid`} being reaped offered `start_psn` ([`Engine::offer_take`]);
    /// the key's older offers beyond [`OFFERS_PER_KEY`] go.
    /// `syn_psn` is the start PSN of the SYN the offer answered.
    pub(super) fn offer_add(
        &mut self,
        peer: Addr,
        spdcid: u16,
        start_psn: u32,
        syn_psn: u32,
        now: u64,
    ) {
        self.tomb_push(peer, spdcid, start_psn, syn_psn, true, now);
    }

    fn tomb_push(
        &mut self,
        peer: Addr,
        spdcid: u16,
        start_psn: u32,
        syn_psn: u32,
        offer: bool,
        now: u64,
    ) {
        let until = now.saturating_add(self.cfg.quiet_time());
        let (base, cap) = self.ring(offer);
        if cap == 0 {
            let t = Tomb {
                peer,
                spdcid,
                start_psn,
                syn_psn,
                offer,
                until,
                ..Tomb::EMPTY
            };
            self.guard_gone(&t, now);
            return;
        }
        // The expired entries at the head go; on a full ring, the oldest.
        // A live offer at the head that a SYN refreshed since it got
        // there goes to the back of the full ring instead (the ring turns
        // one slot; amortised O(1): each turn uses up one refresh), so
        // that refreshed offers, out of order in time, do not push out
        // live ones while expired ones wait behind them.
        let mut turns = 0;
        loop {
            let (head, len) = self.ring_at(offer);
            if len == 0 {
                break;
            }
            let h = &mut self.tombs[base + head];
            if h.until > now && len < cap {
                break;
            }
            if h.until > now && h.fresh && turns < RING_TURNS {
                h.fresh = false;
                turns += 1;
                self.set_ring_at(offer, (head + 1) % cap, len);
                continue;
            }
            self.tomb_pop(offer, now);
        }
        if !offer {
            // The key's newest tombstones that name a start PSN stay, one
            // fewer than the limit: the new one makes it up. The next one
            // becomes the key-wide entry, and the older ones (and an
            // older key-wide entry) go: tombstones are pushed in time
            // order, so its time is the latest of theirs. A SYN of the
            // key at a start PSN they named then gets 1-RTT instead of
            // being dropped as stale: it still opens no PDC at that PSN.
            let mut named = 0;
            let mut wide = None;
            self.tomb_walk(&peer, spdcid, now, |t, _| {
                if t.offer {
                    return false;
                }
                if t.wide {
                    // Older than the new key-wide entry, so not later.
                    return wide.is_some_and(|u| t.until <= u);
                }
                named += 1;
                if named < TOMBS_PER_KEY {
                    return false;
                }
                if let Some(u) = wide {
                    return t.until <= u;
                }
                t.wide = true;
                wide = Some(t.until);
                false
            });
        } else {
            // The newest offers of the key stay, one fewer than the
            // limit: the new one makes it up. An offer that answered a
            // SYN at another start PSN (one that guards) stays while
            // fewer than the limit do: the callers refuse a SYN that
            // would need a new one beyond it ([`Engine::offers_full`]),
            // so that the key's own SYNs never push the 1-RTT time of the
            // whole target out (review of 10bea4b, S1). Should one go all
            // the same, it does so as ring turnover would.
            let mut gone = Tomb::EMPTY;
            let mut guards = 0;
            self.tomb_walk(&peer, spdcid, now, |t, seen| {
                if !t.offer {
                    return false;
                }
                *seen += 1;
                let guard = t.syn_psn != t.start_psn;
                guards += usize::from(guard);
                let drop = *seen >= OFFERS_PER_KEY && (!guard || guards >= OFFERS_PER_KEY);
                if drop && guard && t.until > gone.until {
                    gone = *t;
                }
                drop
            });
            self.guard_gone(&gone, now);
        }
        let (head, len) = self.ring_at(offer);
        let i = base + (head + len) % cap;
        let b = self.tomb_bucket(&peer, spdcid);
        self.tombs[i] = Tomb {
            peer,
            spdcid,
            hnext: self.tomb_map[b],
            start_psn,
            syn_psn,
            offer,
            linked: true,
            fresh: false,
            wide: false,
            until,
        };
        // CAST: i < tombs.len() < NONE.
        self.tomb_map[b] = i as u16;
        self.set_ring_at(offer, head, len + 1);
    }

    /// Walks the live entries of key {`peer`, `spdcid`}, newest first;
    /// `drop(entry, count)` says which to take out of the chain
    /// (`count` is the walk's own counter) and may change the entry in
    /// place. Entries met that have expired (or were used) leave the
    /// chain on the way.
    fn tomb_walk(
        &mut self,
        peer: &Addr,
        spdcid: u16,
        now: u64,
        mut drop: impl FnMut(&mut Tomb, &mut usize) -> bool,
    ) {
        let b = self.tomb_bucket(peer, spdcid);
        let mut seen = 0;
        let mut prev = NONE;
        let mut cur = self.tomb_map[b];
        while cur != NONE {
            #[cfg(test)]
            {
                self.tomb_steps = self.tomb_steps.wrapping_add(1);
            }
            let c = usize::from(cur);
            let t = &mut self.tombs[c];
            let next = t.hnext;
            let mine = t.peer == *peer && t.spdcid == spdcid;
            if t.until <= now || (mine && drop(t, &mut seen)) {
                self.tomb_unlink_at(b, prev, c);
            } else {
                prev = cur;
            }
            cur = next;
        }
    }

    /// True if a live tombstone says PDC {`peer`, `spdcid`} starting at
    /// `start_psn` was closed or reaped.
    pub(super) fn tomb_find(&mut self, peer: &Addr, spdcid: u16, start_psn: u32, now: u64) -> bool {
        self.tomb_check(peer, spdcid, start_psn, now).0
    }

    /// [`Engine::tomb_find`], and whether key {`peer`, `spdcid`} has a
    /// live key-wide tombstone ([`Tomb::wide`]): then a SYN of it at a
    /// start PSN that no tombstone or offer names gets 1-RTT.
    pub(super) fn tomb_check(
        &mut self,
        peer: &Addr,
        spdcid: u16,
        start_psn: u32,
        now: u64,
    ) -> (bool, bool) {
        let (mut found, mut wide) = (false, false);
        self.tomb_walk(peer, spdcid, now, |t, _| {
            found |= !t.offer && !t.wide && t.start_psn == start_psn;
            wide |= t.wide;
            false
        });
        (found, wide)
    }

    /// True, and the offer used up, if this target offered `start_psn` to
    /// PDC {`peer`, `spdcid`} in a `NEW_START_PSN` NACK within the quiet
    /// time and reaped the half-open PDC since. Its start PSN is drawn
    /// from the engine's generator (random in the kernel): a peer that
    /// did not hear the NACK has to guess it, and could only open a PDC
    /// as its own (its source address) anyway. The key's other offers go
    /// too: the initiator has settled on this one. The start PSN of the
    /// SYN the offer answered gets a tombstone: its packets were never
    /// delivered, the initiator sends them again from the offered PSN, and
    /// a copy of one still in the network must not open a PDC of its own
    /// (and deliver its message a second time) once this one has ended.
    /// Those of them that answered a SYN at another start PSN leave a
    /// tombstone for that PSN in their place, which keeps a copy of that
    /// SYN from opening a PDC at its own PSN for the quiet time: they
    /// used to make every new PDC of the target use 1-RTT instead
    /// (review of 10bea4b, S1).
    pub(super) fn offer_take(
        &mut self,
        peer: &Addr,
        spdcid: u16,
        start_psn: u32,
        now: u64,
    ) -> bool {
        let mut found = None;
        self.tomb_walk(peer, spdcid, now, |t, _| {
            if t.offer && t.start_psn == start_psn {
                found = Some(t.syn_psn);
            }
            false
        });
        let Some(syn) = found else {
            return false;
        };
        let mut syns = [0u32; OFFERS_PER_KEY];
        let mut n = 0;
        let mut gone = Tomb::EMPTY;
        self.tomb_walk(peer, spdcid, now, |t, _| {
            if t.offer && t.start_psn != start_psn && t.syn_psn != syn && t.syn_psn != t.start_psn {
                if n < syns.len() {
                    syns[n] = t.syn_psn;
                    n += 1;
                } else if t.until > gone.until {
                    gone = *t;
                }
            }
            t.offer
        });
        // Not reached: a key holds no more guarding offers than that.
        self.guard_gone(&gone, now);
        for &s in &syns[..n] {
            if !self.tomb_find(peer, spdcid, s, now) {
                self.tomb_add(*peer, spdcid, s, now);
            }
        }
        if syn != start_psn {
            self.tomb_add(*peer, spdcid, syn, now);
        }
        true
    }

    /// A start PSN to offer (`NEW_START_PSN`) to PDC {`peer`, `spdcid`}
    /// whose SYN started at `start`: SipHash under [`Config::key_seed`] of
    /// the SYN's fields and of a counter of the offers made. Only the
    /// initiator that heard the NACK may echo it, so it must not be
    /// predictable: the engine's xorshift generator, whose output is its
    /// state, gave the next offer away to whoever saw one (review of issue
    /// 9, B2). The counter keeps the offers to one key distinct.
    pub(super) fn offer_psn(&mut self, peer: &Addr, spdcid: u16, start: u32) -> u32 {
        self.offers_made = self.offers_made.wrapping_add(1);
        let k = self.cfg.key_seed;
        let k1 = mix(k ^ 0x6f66_6665_725f_7073);
        let (lo, hi) = addr_words(peer);
        let f = siphash(
            k,
            k1,
            lo ^ mix(hi ^ mix((u64::from(spdcid) << 32) | u64::from(start))),
        );
        // CAST: 32 bits of the keyed hash.
        siphash(k, f, self.offers_made) as u32
    }

    /// True if a live offer of `start_psn` to PDC {`peer`, `spdcid`} is
    /// kept (left in place).
    pub(super) fn offer_has(&mut self, peer: &Addr, spdcid: u16, start_psn: u32, now: u64) -> bool {
        let mut found = false;
        self.tomb_walk(peer, spdcid, now, |t, _| {
            found |= t.offer && t.start_psn == start_psn;
            false
        });
        found
    }

    /// The start PSN of the newest live offer to PDC {`peer`, `spdcid`}
    /// that answered a SYN at `syn_psn` (another start PSN), left in
    /// place, for the SYN being answered with it. While it lives, that
    /// SYN's packets get the same offer again and never open a PDC at
    /// their own PSN (review of 67a39b2, B1). The SYN refreshes its
    /// time: the offer lives for the quiet time after the last packet it
    /// answered, as a tombstone does after its PDC last heard from its
    /// initiator. Before, it kept the time of its first SYN, and an
    /// initiator that went on sending that SYN for seconds (its NACKs
    /// lost) outlived it: once the offer had gone (pushed out of a turning
    /// ring, or expired), a copy of a late packet of that SYN, younger
    /// than the quiet time, opened a PDC at its own PSN (cold review of
    /// the SYN pressure, S2).
    pub(super) fn offer_for_syn(
        &mut self,
        peer: &Addr,
        spdcid: u16,
        syn_psn: u32,
        now: u64,
    ) -> Option<u32> {
        let mut found = None;
        let until = now.saturating_add(self.cfg.quiet_time());
        self.tomb_walk(peer, spdcid, now, |t, _| {
            if t.offer && t.syn_psn == syn_psn && t.start_psn != syn_psn && found.is_none() {
                found = Some(t.start_psn);
                t.until = until;
                t.fresh = true;
            }
            false
        });
        found
    }

    /// True if PDC {`peer`, `spdcid`} holds so many live offers that
    /// answered a SYN at another start PSN (which guard that SYN: none
    /// may go before its time but as ring turnover) that `more` new ones
    /// would take it beyond [`OFFERS_PER_KEY`]: a SYN that needs a new
    /// one is dropped (its initiator sends it again; review of 10bea4b,
    /// S1).
    pub(super) fn offers_full(&mut self, peer: &Addr, spdcid: u16, more: usize, now: u64) -> bool {
        let mut guards = 0;
        self.tomb_walk(peer, spdcid, now, |t, _| {
            guards += usize::from(t.offer && t.syn_psn != t.start_psn);
            false
        });
        guards + more > OFFERS_PER_KEY
    }

    /// Entries a lookup of key {`peer`, `spdcid`} walks (its whole hash
    /// chain; for inspection).
    pub(crate) fn tomb_chain_len(&self, peer: &Addr, spdcid: u16) -> usize {
        let mut n = 0;
        let mut cur = self.tomb_map[self.tomb_bucket(peer, spdcid)];
        while cur != NONE && n <= self.tombs.len() {
            n += 1;
            cur = self.tombs[usize::from(cur)].hnext;
        }
        n
    }

    /// Until then SYNs of unknown PDCs get 1-RTT (for inspection).
    pub(crate) fn one_rtt_until(&self) -> u64 {
        self.syn_1rtt_until
    }

    // ----------------------------------------------------------------
    // Quotas: usage of the target tables per peer and per JobID.

    fn quota_bucket(&self, kind: u8, key: &Addr) -> usize {
        let (lo, hi) = addr_words(key);
        self.bucket(
            self.quota_map.len(),
            lo ^ mix(hi ^ mix(16 | u64::from(kind))),
        )
    }

    /// The quota entry of (`kind`, `key`), if there is one.
    fn quota_find(&self, kind: u8, key: &Addr) -> Option<usize> {
        let b = self.quota_bucket(kind, key);
        let mut cur = self.quota_map[b];
        while cur != NONE {
            let c = usize::from(cur);
            if self.quotas[c].kind == kind && self.quotas[c].key == *key {
                return Some(c);
            }
            cur = self.quotas[c].hnext;
        }
        None
    }

    /// The quota entry of (`kind`, `key`), created if needed; `None` when
    /// the quota table is full.
    fn quota_get(&mut self, kind: u8, key: &Addr) -> Option<usize> {
        if let Some(c) = self.quota_find(kind, key) {
            return Some(c);
        }
        let b = self.quota_bucket(kind, key);
        if self.free_quota == NONE {
            return None;
        }
        let next = self.quotas[usize::from(self.free_quota)].hnext;
        let i = pop_free(&mut self.free_quota, next);
        self.quotas[i] = Quota {
            kind,
            key: *key,
            hnext: self.quota_map[b],
            pdcs: 0,
            inb: 0,
            unexp: 0,
        };
        // CAST: i < quotas.len() < NONE.
        self.quota_map[b] = i as u16;
        Some(i)
    }

    /// Drops one use of quota entry `q` (`NONE`: nothing) through `f`;
    /// frees the entry when nothing uses it any more.
    pub(super) fn quota_put(&mut self, q: u16, f: impl FnOnce(&mut Quota)) {
        if q == NONE {
            return;
        }
        let i = usize::from(q);
        f(&mut self.quotas[i]);
        let e = self.quotas[i];
        if e.pdcs != 0 || e.inb != 0 || e.unexp != 0 {
            return;
        }
        let b = self.quota_bucket(e.kind, &e.key);
        let mut cur = self.quota_map[b];
        if usize::from(cur) == i {
            self.quota_map[b] = e.hnext;
        } else {
            while cur != NONE {
                let c = usize::from(cur);
                if usize::from(self.quotas[c].hnext) == i {
                    self.quotas[c].hnext = e.hnext;
                    break;
                }
                cur = self.quotas[c].hnext;
            }
        }
        self.quotas[i] = Quota::EMPTY;
        self.quotas[i].hnext = self.free_quota;
        self.free_quota = q;
    }

    fn share(len: usize, share: u8) -> u16 {
        let n = (len * usize::from(share) / 256).max(1);
        u16::try_from(n).unwrap_or(u16::MAX)
    }

    /// Key of JobID `job`'s quota entry (kind 2).
    fn job_key(job: u32) -> Addr {
        let mut jk = [0u8; 16];
        jk[..4].copy_from_slice(&job.to_be_bytes());
        jk
    }

    /// Takes one target PDC for `peer` and JobID `job`; returns the quota
    /// entries of both (the JobID's `NONE` when `job_pdc_share` is 0), or
    /// `None` when either holds its share (or the quota table is full).
    /// The JobID's share holds only while other JobIDs hold target PDCs:
    /// a server of one job may give it the whole table (the peer's share
    /// still holds).
    pub(super) fn quota_pdc(&mut self, peer: &Addr, job: u32) -> Option<(u16, u16)> {
        let lim = Self::share(self.pdcs.len(), self.cfg.peer_share);
        let i = self.quota_get(1, peer)?;
        // CAST: i < quotas.len() < NONE.
        let q = i as u16;
        if self.quotas[i].pdcs >= lim {
            self.quota_put(q, |_| {});
            return None;
        }
        let mut jq = NONE;
        if self.cfg.job_pdc_share != 0 {
            let jl = Self::share(self.pdcs.len(), self.cfg.job_pdc_share);
            let Some(j) = self.quota_get(2, &Self::job_key(job)) else {
                self.quota_put(q, |_| {});
                return None;
            };
            // CAST: j < quotas.len() < NONE.
            jq = j as u16;
            let mine = self.quotas[j].pdcs;
            let others = self.job_pdc_jobs.saturating_sub(u16::from(mine != 0));
            if others != 0 && mine >= jl {
                self.quota_put(q, |_| {});
                self.quota_put(jq, |_| {});
                return None;
            }
            if mine == 0 {
                self.job_pdc_jobs += 1;
            }
            self.quotas[j].pdcs += 1;
        }
        self.quotas[i].pdcs += 1;
        Some((q, jq))
    }

    /// Whether [`Self::quota_pdc`] would give a target PDC of JobID `job`
    /// to the peer of target PDC `i` once `i` is released (its peer's and
    /// its JobID's counts given back): a PDC replaced by a new incarnation
    /// of its key ends only if the new one is taken. The peer is the same,
    /// so its count does not change; nor does the JobID's, if it is the
    /// same.
    pub(super) fn quota_pdc_after_release(&self, i: usize, job: u32) -> bool {
        if self.cfg.job_pdc_share == 0 || self.pdcs[i].job == job {
            return true;
        }
        let oq = self.pdcs[i].job_q;
        let old_last = oq != NONE && self.quotas[usize::from(oq)].pdcs == 1;
        let (mine, entry) = match self.quota_find(2, &Self::job_key(job)) {
            Some(j) => (self.quotas[j].pdcs, true),
            None => (0, false),
        };
        // A new entry needs a free one (or the one the old JobID leaves,
        // if nothing else holds it).
        let e = oq != NONE
            && old_last
            && self.quotas[usize::from(oq)].inb == 0
            && self.quotas[usize::from(oq)].unexp == 0;
        if !entry && self.free_quota == NONE && !e {
            return false;
        }
        let jobs = self.job_pdc_jobs.saturating_sub(u16::from(old_last));
        let others = jobs.saturating_sub(u16::from(mine != 0));
        let jl = Self::share(self.pdcs.len(), self.cfg.job_pdc_share);
        others == 0 || mine < jl
    }

    /// Gives back a target PDC taken by [`Self::quota_pdc`] (its peer's
    /// and its JobID's entries, `NONE`: none).
    pub(super) fn quota_pdc_put(&mut self, pq: u16, jq: u16) {
        self.quota_put(pq, |q| q.pdcs -= 1);
        if jq != NONE && self.quotas[usize::from(jq)].pdcs == 1 {
            self.job_pdc_jobs = self.job_pdc_jobs.saturating_sub(1);
        }
        self.quota_put(jq, |q| q.pdcs -= 1);
    }

    /// Takes one inbound (`unexp` false) or unexpected (`unexp` true)
    /// message for `peer` and `job`, arrived on target PDC `pdc` (if
    /// any); returns the two quota entries, or `None` when either holds
    /// its share.
    pub(super) fn quota_msg(
        &mut self,
        peer: &Addr,
        job: u32,
        unexp: bool,
        pdc: Option<usize>,
    ) -> Option<(u16, u16)> {
        let len = if unexp {
            self.unexp.len()
        } else {
            self.inb.len()
        };
        let (pl, jl) = (
            Self::share(len, self.cfg.peer_share),
            Self::share(len, self.cfg.job_share),
        );
        // The entries of the peer and of the JobID are those its PDC
        // holds (kept while the PDC lives): no lookup on the packet path.
        let d = pdc.and_then(|pi| self.pdcs.get(pi));
        let nq = self.quotas.len();
        let held_p = d
            .filter(|d| d.peer == *peer && usize::from(d.peer_q) < nq)
            .map(|d| usize::from(d.peer_q));
        let held_j = d
            .filter(|d| d.job == job && usize::from(d.job_q) < nq)
            .map(|d| usize::from(d.job_q));
        let p = match held_p {
            Some(p) => p,
            None => self.quota_get(1, peer)?,
        };
        // CAST: p < quotas.len() < NONE.
        let pq = p as u16;
        let j = match held_j {
            Some(j) => Some(j),
            None => self.quota_get(2, &Self::job_key(job)),
        };
        let Some(j) = j else {
            self.quota_put(pq, |_| {});
            return None;
        };
        // CAST: j < quotas.len() < NONE.
        let jq = j as u16;
        let used = |q: &Quota| if unexp { q.unexp } else { q.inb };
        if used(&self.quotas[p]) >= pl || used(&self.quotas[j]) >= jl {
            self.quota_put(pq, |_| {});
            self.quota_put(jq, |_| {});
            return None;
        }
        for q in [p, j] {
            if unexp {
                self.quotas[q].unexp += 1;
            } else {
                self.quotas[q].inb += 1;
            }
        }
        Some((pq, jq))
    }

    // ----------------------------------------------------------------
    // Send windows: `tx_window` descriptors each, lent to PDCs with
    // packets in flight, and a FIFO of PDCs waiting for one.

    /// Descriptors per window.
    pub(super) fn window(&self) -> usize {
        // CAST: tx_window <= MAX_TX_WINDOW (checked by new()).
        self.cfg.tx_window as usize
    }

    /// Index in `txq` of PSN `psn` of PDC `pi` (which holds a window).
    pub(super) fn txi(&self, pi: usize, psn: u32) -> usize {
        let d = &self.pdcs[pi];
        let w = self.window();
        // CAST: masked below the window size.
        usize::from(d.win) * w + (psn.wrapping_sub(d.start_psn) as usize & (w - 1))
    }

    /// Lends PDC `pi` a send window; false when none is free (the PDC is
    /// then queued for the next one).
    pub(super) fn win_acquire(&mut self, pi: usize) -> bool {
        if self.pdcs[pi].win != NONE {
            return true;
        }
        if self.free_win == NONE {
            self.wait_push(pi);
            return false;
        }
        let w = self.window();
        let k = usize::from(self.free_win);
        self.free_win = self.txq[k * w].msg;
        self.txq[k * w] = TxDesc::EMPTY;
        // CAST: k < NONE.
        self.pdcs[pi].win = k as u16;
        true
    }

    /// Takes PDC `pi`'s window back, clearing what is left in it.
    pub(super) fn win_release(&mut self, pi: usize) {
        let d = self.pdcs[pi];
        if d.win == NONE {
            return;
        }
        let mut p = d.tx_base;
        while psn_lt(p, d.next_psn) {
            let i = self.txi(pi, p);
            self.txq[i] = TxDesc::EMPTY;
            p = p.wrapping_add(1);
        }
        let w = self.window();
        let k = usize::from(d.win);
        self.txq[k * w].msg = self.free_win;
        self.free_win = d.win;
        self.pdcs[pi].win = NONE;
    }

    fn wait_push(&mut self, pi: usize) {
        if self.pdcs[pi].waiting {
            return;
        }
        // CAST: pi < NONE.
        let p16 = pi as u16;
        let d = &mut self.pdcs[pi];
        d.waiting = true;
        d.wnext = NONE;
        d.wprev = self.wait_tail;
        if self.wait_tail == NONE {
            self.wait_head = p16;
        } else {
            self.pdcs[usize::from(self.wait_tail)].wnext = p16;
        }
        self.wait_tail = p16;
    }

    fn wait_remove(&mut self, pi: usize) {
        let d = self.pdcs[pi];
        if !d.waiting {
            return;
        }
        if d.wprev == NONE {
            self.wait_head = d.wnext;
        } else {
            self.pdcs[usize::from(d.wprev)].wnext = d.wnext;
        }
        if d.wnext == NONE {
            self.wait_tail = d.wprev;
        } else {
            self.pdcs[usize::from(d.wnext)].wprev = d.wprev;
        }
        let d = &mut self.pdcs[pi];
        d.waiting = false;
        d.wprev = NONE;
        d.wnext = NONE;
    }

    /// The PDC that has waited longest for a window, if a window is free.
    pub(super) fn wait_pop(&mut self) -> Option<usize> {
        if self.free_win == NONE || self.wait_head == NONE {
            return None;
        }
        let pi = usize::from(self.wait_head);
        self.wait_remove(pi);
        Some(pi)
    }

    // ----------------------------------------------------------------
    // Matching lists: unclaimed receives and unmatched unexpected
    // messages, per bucket of {endpoint, tagged}, oldest first. A bucket
    // may mix keys (the walk skips the others); with at least one bucket
    // per entry it rarely does.

    fn match_bucket(&self, len: usize, ep: u32, tagged: bool) -> usize {
        self.bucket(len, (1 << 48) | (u64::from(tagged) << 40) | u64::from(ep))
    }

    fn heads(v: u32) -> (u16, u16) {
        // CAST: the halves of a u32.
        ((v & 0xffff) as u16, (v >> 16) as u16)
    }

    fn pack(head: u16, tail: u16) -> u32 {
        u32::from(head) | (u32::from(tail) << 16)
    }

    /// Puts unclaimed receive `ri` in its list, in posting order.
    pub(super) fn recv_list(&mut self, ri: usize) {
        if self.recvs[ri].listed {
            return;
        }
        let r = self.recvs[ri];
        let b = self.match_bucket(self.recv_map.len(), r.ep, r.tagged);
        let (head, tail) = Self::heads(self.recv_map[b]);
        // Usually the newest: append; an unclaimed older one goes back
        // to its place.
        let mut after = tail;
        while after != NONE && self.recvs[usize::from(after)].seq > r.seq {
            after = self.recvs[usize::from(after)].lprev;
        }
        // CAST: ri < NONE.
        let me = ri as u16;
        let before = if after == NONE {
            head
        } else {
            self.recvs[usize::from(after)].lnext
        };
        let e = &mut self.recvs[ri];
        e.listed = true;
        e.lprev = after;
        e.lnext = before;
        let (mut head, mut tail) = (head, tail);
        if after == NONE {
            head = me;
        } else {
            self.recvs[usize::from(after)].lnext = me;
        }
        if before == NONE {
            tail = me;
        } else {
            self.recvs[usize::from(before)].lprev = me;
        }
        self.recv_map[b] = Self::pack(head, tail);
    }

    /// Takes receive `ri` out of its list.
    pub(super) fn recv_unlist(&mut self, ri: usize) {
        let r = self.recvs[ri];
        if !r.listed {
            return;
        }
        let b = self.match_bucket(self.recv_map.len(), r.ep, r.tagged);
        let (mut head, mut tail) = Self::heads(self.recv_map[b]);
        if r.lprev == NONE {
            head = r.lnext;
        } else {
            self.recvs[usize::from(r.lprev)].lnext = r.lnext;
        }
        if r.lnext == NONE {
            tail = r.lprev;
        } else {
            self.recvs[usize::from(r.lnext)].lprev = r.lprev;
        }
        self.recv_map[b] = Self::pack(head, tail);
        let e = &mut self.recvs[ri];
        e.listed = false;
        e.lnext = NONE;
        e.lprev = NONE;
    }

    /// The oldest unclaimed receive on `ep` that takes a message with
    /// match bits `bits` (tagged) or any untagged message.
    pub(super) fn recv_first(&self, ep: u32, tagged: bool, bits: u64) -> Option<usize> {
        let b = self.match_bucket(self.recv_map.len(), ep, tagged);
        let mut cur = Self::heads(self.recv_map[b]).0;
        while cur != NONE {
            let r = &self.recvs[usize::from(cur)];
            if r.ep == ep && r.tagged == tagged && (!tagged || tag_matches(bits, r.tag, r.ignore)) {
                return Some(usize::from(cur));
            }
            cur = r.lnext;
        }
        None
    }

    /// Puts unmatched unexpected message `ui` in its list, in arrival
    /// order: usually the newest (appended); one whose receive was
    /// cancelled before it completed goes back to its place.
    pub(super) fn unexp_list(&mut self, ui: usize) {
        if self.unexp[ui].listed {
            return;
        }
        let u = self.unexp[ui];
        let b = self.match_bucket(self.unexp_map.len(), u.ep, u.tagged);
        let (head, tail) = Self::heads(self.unexp_map[b]);
        let mut after = tail;
        while after != NONE && self.unexp[usize::from(after)].seq > u.seq {
            after = self.unexp[usize::from(after)].lprev;
        }
        // CAST: ui < NONE.
        let me = ui as u16;
        let before = if after == NONE {
            head
        } else {
            self.unexp[usize::from(after)].lnext
        };
        let e = &mut self.unexp[ui];
        e.listed = true;
        e.lprev = after;
        e.lnext = before;
        let (mut head, mut tail) = (head, tail);
        if after == NONE {
            head = me;
        } else {
            self.unexp[usize::from(after)].lnext = me;
        }
        if before == NONE {
            tail = me;
        } else {
            self.unexp[usize::from(before)].lprev = me;
        }
        self.unexp_map[b] = Self::pack(head, tail);
    }

    /// Takes unexpected message `ui` out of its list.
    pub(super) fn unexp_unlist(&mut self, ui: usize) {
        let u = self.unexp[ui];
        if !u.listed {
            return;
        }
        let b = self.match_bucket(self.unexp_map.len(), u.ep, u.tagged);
        let (mut head, mut tail) = Self::heads(self.unexp_map[b]);
        if u.lprev == NONE {
            head = u.lnext;
        } else {
            self.unexp[usize::from(u.lprev)].lnext = u.lnext;
        }
        if u.lnext == NONE {
            tail = u.lprev;
        } else {
            self.unexp[usize::from(u.lnext)].lprev = u.lprev;
        }
        self.unexp_map[b] = Self::pack(head, tail);
        let e = &mut self.unexp[ui];
        e.listed = false;
        e.lnext = NONE;
        e.lprev = NONE;
    }

    /// The oldest unmatched unexpected message receive `ri` takes.
    pub(super) fn unexp_first(&self, ri: usize) -> Option<usize> {
        let r = &self.recvs[ri];
        let b = self.match_bucket(self.unexp_map.len(), r.ep, r.tagged);
        let mut cur = Self::heads(self.unexp_map[b]).0;
        while cur != NONE {
            let u = &self.unexp[usize::from(cur)];
            if u.ep == r.ep
                && u.tagged == r.tagged
                && (!r.tagged || tag_matches(u.bits, r.tag, r.ignore))
            {
                return Some(usize::from(cur));
            }
            cur = u.lnext;
        }
        None
    }
}
