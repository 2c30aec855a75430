// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Kernel memory shared with user space through a uverbs context's mmap
//! (`struct rdma_user_mmap_entry`).
//!
//! C header: [`include/rdma/ib_verbs.h`](srctree/include/rdma/ib_verbs.h)
//!
//! A [`UserBuffer`] is zeroed `vmalloc_user()` memory. Inserting it into a
//! user context ([`super::device::UContext::insert_mmap`]) returns an
//! [`MmapEntry`] whose offset user space passes to `mmap()`. The entry holds
//! a reference to the buffer until ib_core frees the entry, which happens
//! only once the driver removed it and no mapping of it is left (mappings
//! are made with `rdma_user_mmap_vmalloc()`, which holds the entry), so a
//! buffer can be dropped by the driver at any time.
//!
//! User space may write the buffer at any moment: the kernel only accesses
//! it with volatile byte copies and atomic 32-bit loads and stores.
//!
//! Calling contexts: [`UserBuffer::new`], [`MmapEntry`] creation and
//! dropping an [`MmapEntry`] (`rdma_user_mmap_entry_remove()` takes a
//! mutex) run in process context and may sleep; reading, writing and
//! dropping a [`UserBuffer`] (the last drop frees it with `vfree_atomic()`)
//! never sleep, so the receive path may do them.

use crate::{
    bindings,
    prelude::*,
    sync::Arc,
    types::Opaque, //
};
use core::{
    ptr::NonNull,
    sync::atomic::{
        AtomicU32,
        Ordering, //
    },
};

/// Zeroed, page-aligned kernel memory that can be mapped into user space.
///
/// # Invariants
///
/// `ptr` is a `vmalloc_user()` allocation of `len` bytes (a multiple of the
/// page size), freed in `drop`.
pub struct UserBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain memory owned by this object (type invariant);
// all accesses go through raw pointers with volatile or atomic operations,
// and `vfree_atomic()` may free it from any thread.
unsafe impl Send for UserBuffer {}
// SAFETY: `&UserBuffer` only reads `ptr` and `len`, which never change, and
// accesses the memory only with marked accesses: volatile byte accesses
// (the kernel's READ_ONCE/WRITE_ONCE) and atomics. User space may race with
// them at any time, as the memory is shared with it; on the kernel side,
// concurrent writers of the same bytes must be serialised by the driver
// (`CqRing` writes only under its producer lock), which this type documents
// but does not enforce, exactly as for memory shared with user space in C.
unsafe impl Sync for UserBuffer {}

impl UserBuffer {
    /// Allocates `len` bytes, rounded up to whole pages. May sleep.
    pub fn new(len: usize) -> Result<Arc<Self>> {
        if len == 0 {
            return Err(EINVAL);
        }
        let len = len
            .checked_next_multiple_of(bindings::PAGE_SIZE)
            .ok_or(EINVAL)?;
        // SAFETY: `vmalloc_user_noprof` has no preconditions; we are in
        // process context (may sleep), as documented above.
        let raw = unsafe { bindings::vmalloc_user_noprof(len) };
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: allocated with vmalloc_user above.
        Ok(Arc::new(Self { ptr, len }, GFP_KERNEL)?)
    }

    /// Size in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a buffer has at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn check(&self, off: usize, n: usize) -> Result {
        match off.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Copies `data` into the buffer at `off`.
    pub fn write(&self, off: usize, data: &[u8]) -> Result {
        self.check(off, data.len())?;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: `off + i < self.len` (checked above), inside the live
            // allocation of the type invariant; volatile because user space
            // writes the same memory concurrently.
            unsafe { self.ptr.as_ptr().add(off + i).write_volatile(*b) };
        }
        Ok(())
    }

    /// Copies bytes at `off` out of the buffer.
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result {
        self.check(off, out.len())?;
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: `off + i < self.len` (checked above), inside the live
            // allocation; volatile as in `write`.
            *b = unsafe { self.ptr.as_ptr().add(off + i).read_volatile() };
        }
        Ok(())
    }

    fn atomic_u32(&self, off: usize) -> Result<&AtomicU32> {
        self.check(off, 4)?;
        if off % 4 != 0 {
            return Err(EINVAL);
        }
        // SAFETY: in bounds and 4-byte aligned (vmalloc memory is page
        // aligned); the memory lives as long as `self` and is only accessed
        // atomically at this offset by the kernel.
        Ok(unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast()) })
    }

    /// Loads a 32-bit little-endian host value at `off` with acquire order.
    pub fn load_u32_acquire(&self, off: usize) -> Result<u32> {
        Ok(self.atomic_u32(off)?.load(Ordering::Acquire))
    }

    /// Stores a 32-bit value at `off` with release order.
    pub fn store_u32_release(&self, off: usize, val: u32) -> Result {
        self.atomic_u32(off)?.store(val, Ordering::Release);
        Ok(())
    }

    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr().cast()
    }
}

impl Drop for UserBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated by vmalloc_user per the type invariant, freed
        // once. Pages still mapped into a process keep their own references.
        // `vfree_atomic` defers the work, so the last reference may go in
        // any context (e.g. a CQ destroyed while the receive path held it).
        unsafe { bindings::vfree_atomic(self.ptr.as_ptr().cast()) };
    }
}

/// The C entry plus the buffer it maps; allocated by [`MmapEntry::insert`],
/// freed by ib_core's `mmap_free` callback.
///
/// # Invariants
///
/// `raw` is at offset 0 and, once inserted, is an entry of a context of this
/// module's devices whose length is at most `buf.len()`; the object is a
/// leaked `KBox` from insertion until `mmap_free`.
#[repr(C)]
pub(crate) struct EntryInner {
    pub(crate) raw: Opaque<bindings::rdma_user_mmap_entry>,
    pub(crate) buf: Arc<UserBuffer>,
}

/// A buffer registered for mmap in a user context. Dropping it removes the
/// entry: later `mmap()` calls with its offset fail, existing mappings stay
/// (and keep the buffer) until unmapped or zapped by disassociation.
///
/// # Invariants
///
/// `entry` was inserted with `rdma_user_mmap_entry_insert` and this object
/// owns the driver's reference to it.
pub struct MmapEntry {
    entry: NonNull<EntryInner>,
    offset: u64,
}

// SAFETY: `rdma_user_mmap_entry_remove()`, the only thing done with the
// entry (in `drop`), may run on any thread in process context.
unsafe impl Send for MmapEntry {}
// SAFETY: only immutable data is read through `&MmapEntry`.
unsafe impl Sync for MmapEntry {}

impl MmapEntry {
    /// Inserts `buf` into the mmap table of `ucontext`. May sleep.
    ///
    /// # Safety
    ///
    /// `ucontext` must be a valid user context that outlives the entry: the
    /// entry must be dropped before ib_core deallocates the context.
    pub(crate) unsafe fn insert(
        ucontext: *mut bindings::ib_ucontext,
        buf: Arc<UserBuffer>,
    ) -> Result<Self> {
        let len = buf.len();
        let inner = KBox::new(
            EntryInner {
                raw: Opaque::zeroed(),
                buf,
            },
            GFP_KERNEL,
        )?;
        let inner = KBox::into_raw(inner);
        // SAFETY: `inner` is a live, zeroed entry that ib_core may free
        // through `mmap_free` once inserted; `ucontext` is valid (caller).
        let ret =
            unsafe { bindings::rdma_user_mmap_entry_insert(ucontext, (*inner).raw.get(), len) };
        if ret != 0 {
            // SAFETY: insertion failed, so we still own the allocation.
            drop(unsafe { KBox::from_raw(inner) });
            return Err(Error::from_errno(ret));
        }
        // SAFETY: the entry was inserted and we hold the driver's reference,
        // so it is valid until `rdma_user_mmap_entry_remove` in `drop`.
        let offset = unsafe { bindings::rdma_user_mmap_get_offset((*inner).raw.get()) };
        // INVARIANT: inserted above.
        Ok(Self {
            // SAFETY: `into_raw` never returns null.
            entry: unsafe { NonNull::new_unchecked(inner) },
            offset,
        })
    }

    /// The offset user space passes to `mmap()`.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Drop for MmapEntry {
    fn drop(&mut self) {
        // `rdma_user_mmap_entry_remove()` takes the entry's dma-buf mutex
        // (and a spinlock that is not softirq-safe): process context only.
        // Say so at every drop, not only when the mutex is contended.
        crate::task::might_sleep();
        // SAFETY: inserted per the type invariant, and the context is still
        // alive (contract of `MmapEntry::insert`); this drops the driver's
        // reference once, and ib_core calls `mmap_free` when no mapping
        // holds the entry any more. We are in process context (above).
        unsafe { bindings::rdma_user_mmap_entry_remove((*self.entry.as_ptr()).raw.get()) };
    }
}
