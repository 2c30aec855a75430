// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Socket buffers (`struct sk_buff`), owned one at a time.
//!
//! C header: [`include/linux/skbuff.h`](srctree/include/linux/skbuff.h)
//!
//! An [`SkBuff`] owns the only reference to an skb (it is never shared,
//! `skb_shared()` is false) and frees it on drop (`kfree_skb`, counted as a
//! drop) unless it is handed on with [`SkBuff::into_raw`] or freed as
//! consumed with [`SkBuff::consume`]. Its data may still be shared with
//! clones (`skb_cloned()`: packet taps, mirrors): every writer first makes
//! the part it writes private (`skb_cow_head()` / `pskb_expand_head()`),
//! as C code must. The operations that grow or shrink the data check their
//! bounds and return `EINVAL` instead of reaching the C functions'
//! `skb_over_panic()` / `skb_under_panic()`.
//!
//! Calling context: allocation with `GFP_ATOMIC` and every other operation
//! never sleep and may run in softirq (the receive path); freeing is
//! allowed in any context but hard interrupts.

use crate::{
    alloc::Flags,
    bindings,
    prelude::*, //
};
use core::ptr::NonNull;

/// An owned socket buffer.
///
/// # Invariants
///
/// `ptr` is a valid `sk_buff` of which this object owns the only reference
/// (`skb->users` is 1); the data between `skb->data` and `skb->tail` is
/// initialised memory of the skb's head buffer, of `skb_headlen()` bytes,
/// which clones of the skb may read concurrently unless `skb_cloned()` is
/// false.
pub struct SkBuff {
    ptr: NonNull<bindings::sk_buff>,
}

// SAFETY: an skb may be handed to and freed by any thread; `&SkBuff` only
// reads the skb's own fields and data, which nobody else changes while we
// own the only reference (clones only read the shared data).
unsafe impl Send for SkBuff {}
// SAFETY: as above.
unsafe impl Sync for SkBuff {}

impl SkBuff {
    /// Allocates an skb with room for `size` bytes of linear data and no
    /// headroom yet (see [`SkBuff::reserve`]).
    pub fn alloc(size: usize, flags: Flags) -> Result<Self> {
        let size = u32::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: `alloc_skb` has no preconditions beyond a valid gfp mask,
        // which `Flags` guarantees.
        let raw = unsafe { bindings::alloc_skb(size, flags.as_raw()) };
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        // INVARIANT: a fresh skb with one reference, empty data.
        Ok(Self { ptr })
    }

    /// Takes ownership of a reference to `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid `sk_buff` whose only reference (not
    /// `skb_shared()`) the caller owns and gives up (e.g. the skb the UDP
    /// layer passes to an `encap_rcv` callback, which consumes it).
    pub unsafe fn from_raw(ptr: NonNull<bindings::sk_buff>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { ptr }
    }

    /// Gives up ownership: the returned reference belongs to the caller
    /// (e.g. the transmit function that consumes it).
    pub fn into_raw(self) -> NonNull<bindings::sk_buff> {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }

    /// The raw skb, still owned by `self`.
    pub fn as_raw(&self) -> *mut bindings::sk_buff {
        self.ptr.as_ptr()
    }

    /// Bytes of data, linear and paged.
    pub fn len(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant); `len` is a plain field.
        let len = unsafe { (*self.as_raw()).len };
        // CAST: a u32 always fits in usize on the architectures Linux runs
        // Rust on.
        len as usize
    }

    /// Whether the skb holds no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of linear data (`skb_headlen()`).
    pub fn headlen(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        let n = unsafe { bindings::skb_headlen(self.as_raw()) };
        // CAST: u32 to usize, lossless (as in `len`).
        n as usize
    }

    /// Free bytes in front of the data (`skb_headroom()`).
    pub fn headroom(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        let n = unsafe { bindings::skb_headroom(self.as_raw()) };
        // CAST: u32 to usize, lossless.
        n as usize
    }

    /// Free bytes after the linear data (`skb_tailroom()`; 0 once the skb
    /// has paged data).
    pub fn tailroom(&self) -> usize {
        // SAFETY: `ptr` is valid (type invariant).
        let n = unsafe { bindings::skb_tailroom(self.as_raw()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Moves the start of an empty skb's data `len` bytes forward, making
    /// headroom for headers pushed later. `EINVAL` if the skb has data or
    /// not enough tailroom.
    pub fn reserve(&mut self, len: usize) -> Result {
        if !self.is_empty() || len > self.tailroom() {
            return Err(EINVAL);
        }
        let n = i32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is valid and ours; the skb is empty and has `len`
        // bytes of tailroom (checked above), so data and tail stay inside
        // the head buffer.
        unsafe { bindings::skb_reserve(self.as_raw(), n) };
        Ok(())
    }

    /// Appends `len` bytes to the linear data and returns them, zeroed.
    /// `EINVAL` without enough tailroom.
    pub fn put(&mut self, len: usize) -> Result<&mut [u8]> {
        if len > self.tailroom() {
            return Err(EINVAL);
        }
        self.unclone()?;
        let n = u32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is valid and ours; `len` fits in the tailroom
        // (checked above), so `skb_put` does not panic and returns the old
        // tail, the start of `len` writable bytes of the head buffer.
        let p = unsafe { bindings::skb_put(self.as_raw(), n) }.cast::<u8>();
        // SAFETY: `p` points to `len` bytes of the head buffer that belong
        // to the skb we own exclusively for the lifetime of `&mut self`;
        // they are zeroed first so the slice is initialised.
        unsafe {
            core::ptr::write_bytes(p, 0, len);
            Ok(core::slice::from_raw_parts_mut(p, len))
        }
    }

    /// Prepends `len` bytes to the data (for a header) and returns them,
    /// zeroed. `EINVAL` without enough headroom; `ENOMEM` if the head is
    /// shared with a clone and copying it fails.
    pub fn push(&mut self, len: usize) -> Result<&mut [u8]> {
        if len > self.headroom() {
            return Err(EINVAL);
        }
        let n = u32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is valid and ours; `skb_cow_head` gives the skb a
        // private head with at least `len` bytes of headroom (it already
        // has them), reallocating the head if a clone shares it.
        crate::error::to_result(unsafe { bindings::skb_cow_head(self.as_raw(), n) })?;
        // SAFETY: `ptr` is valid and ours; `len` fits in the headroom
        // (checked above), so `skb_push` does not panic and returns the new
        // data start, followed by `len` bytes of the head buffer.
        let p = unsafe { bindings::skb_push(self.as_raw(), n) }.cast::<u8>();
        // SAFETY: as in `put`.
        unsafe {
            core::ptr::write_bytes(p, 0, len);
            Ok(core::slice::from_raw_parts_mut(p, len))
        }
    }

    /// Makes sure at least `len` bytes of headroom exist and the head is
    /// private (`skb_cow_head()`); `ENOMEM` if that needs memory that is
    /// not there.
    pub fn make_headroom(&mut self, len: usize) -> Result {
        let n = u32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is valid and ours (type invariant).
        crate::error::to_result(unsafe { bindings::skb_cow_head(self.as_raw(), n) })
    }

    /// Removes `len` bytes from the front of the linear data and returns
    /// them. `EINVAL` if the linear data is shorter (see
    /// [`SkBuff::copy_bits`] for paged data).
    pub fn pull(&mut self, len: usize) -> Result<&[u8]> {
        if len > self.headlen() {
            return Err(EINVAL);
        }
        let old = self.data().as_ptr();
        let n = u32::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is valid and ours; `len` is at most the linear
        // length (checked above), so `skb_pull` only moves `data` forward.
        unsafe { bindings::skb_pull(self.as_raw(), n) };
        // SAFETY: the pulled bytes stay in the head buffer, which lives as
        // long as the skb; they are initialised data we read through
        // `&self` borrowed from `&mut self`.
        Ok(unsafe { core::slice::from_raw_parts(old, len) })
    }

    /// The linear data.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `data` points to `headlen()` initialised bytes of the head
        // buffer (type invariant), valid while we own the skb.
        unsafe { core::slice::from_raw_parts((*self.as_raw()).data, self.headlen()) }
    }

    /// The linear data, writable; `ENOMEM` if the head is shared with a
    /// clone and copying it fails.
    pub fn data_mut(&mut self) -> Result<&mut [u8]> {
        self.unclone()?;
        let n = self.headlen();
        // SAFETY: as in `data`; the head is private to this skb (above) and
        // `&mut self` makes our access to it exclusive.
        Ok(unsafe { core::slice::from_raw_parts_mut((*self.as_raw()).data, n) })
    }

    /// Gives the skb a private head buffer if a clone shares it.
    fn unclone(&mut self) -> Result {
        // SAFETY: `ptr` is valid and ours.
        if unsafe { bindings::skb_cloned(self.as_raw()) } == 0 {
            return Ok(());
        }
        // SAFETY: `ptr` is valid, ours and not shared (type invariant);
        // expanding by nothing copies the head into a private buffer, with
        // the same headroom, tailroom and data. GFP_ATOMIC: callable from
        // the receive path.
        let r = unsafe { bindings::pskb_expand_head(self.as_raw(), 0, 0, GFP_ATOMIC.as_raw()) };
        crate::error::to_result(r)
    }

    /// A clone: a new skb sharing this one's data (`skb_clone()`), e.g. for
    /// a packet tap. Never sleeps with `GFP_ATOMIC`.
    pub fn try_clone(&mut self, flags: Flags) -> Result<Self> {
        // SAFETY: `ptr` is valid and ours; `skb_clone` also writes to the
        // original (its clone state, the fast-clone companion), which
        // `&mut self` makes exclusive; it returns a new skb with one
        // reference, sharing the data, or null.
        let raw = unsafe { bindings::skb_clone(self.as_raw(), flags.as_raw()) };
        // INVARIANT: a new skb whose only reference we own.
        Ok(Self {
            ptr: NonNull::new(raw).ok_or(ENOMEM)?,
        })
    }

    /// Copies `out.len()` bytes starting at `offset` of the data, linear or
    /// paged, into `out`. `EINVAL` if they are not all there.
    pub fn copy_bits(&self, offset: usize, out: &mut [u8]) -> Result {
        match offset.checked_add(out.len()) {
            Some(end) if end <= self.len() => {}
            _ => return Err(EINVAL),
        }
        let off = i32::try_from(offset).map_err(|_| EINVAL)?;
        let n = i32::try_from(out.len()).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is valid; the range lies within the skb's data
        // (checked above) and `out` is valid for `n` bytes of writes.
        let r = unsafe { bindings::skb_copy_bits(self.as_raw(), off, out.as_mut_ptr().cast(), n) };
        crate::error::to_result(r)
    }

    /// Appends `len` bytes of `page` at `offset` as a page fragment (no
    /// copy): the skb takes a reference on the page and drops it when it
    /// is freed. `EINVAL` if the range is not inside the page or the skb
    /// is cloned (clones share the fragment array), `EMSGSIZE` if every
    /// fragment slot is used.
    pub fn append_page(&mut self, page: &crate::page::Page, offset: usize, len: usize) -> Result {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if end > crate::page::PAGE_SIZE || len == 0 {
            return Err(EINVAL);
        }
        // CAST: both are below PAGE_SIZE (checked above).
        let (off, n) = (offset as u32, len as u32);
        // SAFETY: we own the skb's only reference (type invariant); the
        // helper refuses a cloned skb (whose fragment array clones share),
        // so the array it fills is ours; `page` is a live page and the
        // helper takes a reference of its own for the fragment; the range
        // lies inside the page (checked above).
        let r = unsafe { bindings::skb_append_page(self.as_raw(), page.as_ptr(), off, n) };
        crate::error::to_result(r)
    }

    /// Asks the output path to confirm the neighbour entry the skb leaves
    /// through (`skb_set_dst_pending_confirm()`): the sender has proof that
    /// the destination is reachable, so the entry stays valid without
    /// neighbour probes, as TCP's confirmation on forward progress keeps
    /// it (RFC 4861, 7.3.1).
    ///
    /// `ip_finish_output2()` and `ip6_finish_output2()` turn the flag into
    /// `neigh_confirm()` on the entry they send through (the gateway's for
    /// a routed destination). It is in the skb's header group, so clones,
    /// head expansion and GSO segments keep it, and neither
    /// `skb_scrub_packet()` nor the UDP tunnel transmit paths clear it.
    /// The new skbs of IP fragmentation's slow path do not inherit it (so
    /// only an unfragmented packet confirms), and a lightweight tunnel
    /// redirect skips it.
    pub fn confirm_neighbour(&mut self) {
        // SAFETY: `ptr` is valid and we own its only reference (type
        // invariant); `&mut self` excludes any other writer of the skb's
        // header, so the helper's read-modify-write of the bitfield byte
        // holding `dst_pending_confirm` races with nobody. The (maybe
        // shared) data is not touched.
        unsafe { bindings::skb_set_dst_pending_confirm(self.as_raw(), 1) };
    }

    /// The index of the netdev a received skb came in on (`skb_iif`).
    pub fn iif(&self) -> i32 {
        // SAFETY: `ptr` is valid (type invariant); the helper reads a
        // plain field.
        unsafe { bindings::skb_iif(self.as_raw()) }
    }

    /// Source and destination addresses and ECN codepoint (the low two
    /// bits of the traffic class) of a received IPv4 or IPv6 packet: the
    /// addresses as IPv6, IPv4-mapped for IPv4. `EPROTONOSUPPORT` for other
    /// protocols.
    ///
    /// The skb's network header must be set, as it is for every skb the IP
    /// layer hands to a transport (e.g. a UDP encapsulation callback).
    pub fn ip_addrs(&self) -> Result<IpAddrs> {
        let mut a = IpAddrs {
            src: [0; 16],
            dst: [0; 16],
            ecn: 0,
        };
        // SAFETY: `ptr` is valid (type invariant); the helper reads the IP
        // header only for IPv4 and IPv6 skbs, whose network header the IP
        // layer set before handing them on; the outputs are valid for
        // writes of 16, 16 and 1 bytes.
        let r = unsafe {
            bindings::skb_ip_addrs(
                self.as_raw(),
                a.src.as_mut_ptr(),
                a.dst.as_mut_ptr(),
                &mut a.ecn,
            )
        };
        crate::error::to_result(r)?;
        Ok(a)
    }

    /// Frees the skb as dropped, from any context: with interrupts off the
    /// free is deferred to softirq (`dev_kfree_skb_any`), as the skb's
    /// destructor, route and fragments may not be released there.
    pub fn drop_any(self) {
        let ptr = self.into_raw();
        // SAFETY: we owned this reference and give it up here.
        unsafe { bindings::dev_kfree_skb_any(ptr.as_ptr()) };
    }

    /// Frees the skb as consumed (not counted as a drop).
    pub fn consume(self) {
        let ptr = self.into_raw();
        // SAFETY: we owned this reference and give it up here.
        unsafe { bindings::consume_skb(ptr.as_ptr()) };
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant) and give it up.
        unsafe { bindings::kfree_skb(self.as_raw()) };
    }
}

/// The IP addresses and ECN codepoint of a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpAddrs {
    /// Source address (IPv4-mapped for IPv4).
    pub src: [u8; 16],
    /// Destination address (IPv4-mapped for IPv4).
    pub dst: [u8; 16],
    /// ECN codepoint (3: congestion experienced).
    pub ecn: u8,
}

/// A chain of owned skbs linked through `skb->next`, to hand a batch of
/// packets from one context to another without allocating (e.g. packets
/// built under a lock and sent after it is released). The skbs still in
/// the chain are freed on drop.
///
/// # Invariants
///
/// `head` is null or the first of `len` skbs linked through `next`, ending
/// at `tail`, whose `next` is null; the chain owns the only reference to
/// each of them, and no skb is in any other list.
pub struct SkbChain {
    head: *mut bindings::sk_buff,
    tail: *mut bindings::sk_buff,
    len: usize,
}

// SAFETY: the chain owns its skbs, which may be handed to and freed by any
// thread.
unsafe impl Send for SkbChain {}

impl Default for SkbChain {
    fn default() -> Self {
        Self::new()
    }
}

impl SkbChain {
    /// An empty chain.
    pub const fn new() -> Self {
        Self {
            head: core::ptr::null_mut(),
            tail: core::ptr::null_mut(),
            len: 0,
        }
    }

    /// Number of skbs in the chain.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `skb`.
    pub fn push(&mut self, skb: SkBuff) {
        let p = skb.into_raw().as_ptr();
        // SAFETY: we own `p` now (taken from `skb`), so no list holds it;
        // `tail`, if any, is the last skb of our chain (type invariant).
        unsafe {
            bindings::skb_chain_set_next(p, core::ptr::null_mut());
            if self.tail.is_null() {
                self.head = p;
            } else {
                bindings::skb_chain_set_next(self.tail, p);
            }
        }
        // INVARIANT: `p` is linked at the end and ends the chain.
        self.tail = p;
        self.len += 1;
    }

    /// Takes the first skb out of the chain.
    pub fn pop(&mut self) -> Option<SkBuff> {
        let p = NonNull::new(self.head)?;
        // SAFETY: `head` is the first skb of our chain (type invariant).
        let next = unsafe { bindings::skb_chain_next(p.as_ptr()) };
        // SAFETY: `p` leaves the chain: its `next` is cleared so it is in no
        // list, and we own its only reference, which passes to the `SkBuff`.
        unsafe { bindings::skb_chain_set_next(p.as_ptr(), core::ptr::null_mut()) };
        // INVARIANT: the rest of the chain starts at `next`.
        self.head = next;
        if next.is_null() {
            self.tail = core::ptr::null_mut();
        }
        self.len -= 1;
        // SAFETY: we own the only reference to `p` (above).
        Some(unsafe { SkBuff::from_raw(p) })
    }
}

impl Drop for SkbChain {
    fn drop(&mut self) {
        while let Some(skb) = self.pop() {
            drop(skb);
        }
    }
}

#[kunit_tests(rust_net_skb)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_payload() -> Result {
        let mut skb = SkBuff::alloc(256, GFP_KERNEL)?;
        assert!(skb.is_empty());
        skb.reserve(64)?;
        assert_eq!(skb.headroom(), 64);
        // reserving again once there is data is refused
        skb.put(10)?.copy_from_slice(b"0123456789");
        assert_eq!(skb.reserve(1), Err(EINVAL));
        skb.push(4)?.copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(skb.len(), 14);
        assert_eq!(skb.headroom(), 60);
        assert_eq!(&skb.data()[..6], &[0xde, 0xad, 0xbe, 0xef, b'0', b'1']);
        let mut out = [0u8; 3];
        skb.copy_bits(11, &mut out)?;
        assert_eq!(&out, b"789");
        assert_eq!(skb.copy_bits(12, &mut out), Err(EINVAL));
        assert_eq!(skb.pull(4)?, &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(skb.data(), b"0123456789");
        skb.consume();
        Ok(())
    }

    #[test]
    fn writers_never_change_a_clones_data() -> Result {
        let mut skb = SkBuff::alloc(128, GFP_KERNEL)?;
        skb.reserve(32)?;
        skb.put(4)?.copy_from_slice(b"abcd");
        let clone = skb.try_clone(GFP_KERNEL)?;
        skb.data_mut()?[0] = b'X';
        skb.push(2)?.copy_from_slice(b"hh");
        skb.put(2)?.copy_from_slice(b"tt");
        assert_eq!(skb.data(), b"hhXbcdtt");
        // the clone still sees the bytes it was made with
        assert_eq!(clone.data(), b"abcd");
        assert_eq!(clone.len(), 4);
        Ok(())
    }

    #[test]
    fn chains_keep_order_and_free_what_is_left() -> Result {
        let mut chain = SkbChain::new();
        for i in 0..3u8 {
            let mut skb = SkBuff::alloc(16, GFP_KERNEL)?;
            skb.put(1)?[0] = i;
            chain.push(skb);
        }
        assert_eq!(chain.len(), 3);
        let first = chain.pop().ok_or(EINVAL)?;
        assert_eq!(first.data(), &[0]);
        first.consume();
        let second = chain.pop().ok_or(EINVAL)?;
        assert_eq!(second.data(), &[1]);
        chain.push(second);
        assert_eq!(chain.pop().map(|s| s.data()[0]), Some(2));
        assert_eq!(chain.pop().map(|s| s.data()[0]), Some(1));
        assert!(chain.pop().is_none());
        assert!(chain.is_empty());
        let mut skb = SkBuff::alloc(16, GFP_KERNEL)?;
        skb.put(1)?;
        chain.push(skb);
        // dropped with one skb inside: freed, no leak (kmemleak)
        Ok(())
    }

    #[test]
    fn page_fragments_carry_data_without_a_copy() -> Result {
        use crate::page::Page;
        let page = Page::alloc_page(GFP_ATOMIC)?;
        // SAFETY: the source is valid for 4 bytes, the range lies inside
        // the page, and no one else uses the page yet.
        unsafe { page.write_raw(b"frag".as_ptr(), 100, 4)? };
        let mut skb = SkBuff::alloc(64, GFP_KERNEL)?;
        skb.put(3)?.copy_from_slice(b"hdr");
        skb.append_page(&page, 100, 4)?;
        assert_eq!(skb.len(), 7);
        assert_eq!(skb.headlen(), 3);
        let mut all = [0u8; 7];
        skb.copy_bits(0, &mut all)?;
        assert_eq!(&all, b"hdrfrag");
        // the skb holds its own reference: the page may go first
        drop(page);
        skb.copy_bits(0, &mut all)?;
        assert_eq!(&all[3..], b"frag");
        assert_eq!(
            skb.append_page(&Page::alloc_page(GFP_ATOMIC)?, 4000, 200),
            Err(EINVAL)
        );
        Ok(())
    }

    #[test]
    fn bounds_are_errors_not_panics() -> Result {
        let mut skb = SkBuff::alloc(32, GFP_KERNEL)?;
        let room = skb.tailroom();
        assert!(room >= 32);
        assert_eq!(skb.push(1).map(|b| b.len()), Err(EINVAL));
        assert_eq!(skb.put(room + 1).map(|b| b.len()), Err(EINVAL));
        assert_eq!(skb.put(room)?.len(), room);
        assert_eq!(skb.tailroom(), 0);
        assert_eq!(skb.pull(room + 1).map(|b| b.len()), Err(EINVAL));
        assert_eq!(skb.pull(room)?.len(), room);
        assert!(skb.is_empty());
        // dropped here: kfree_skb
        Ok(())
    }
}
