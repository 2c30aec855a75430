// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Pinned user memory (`struct ib_umem`).
//!
//! C header: [`include/rdma/ib_umem.h`](srctree/include/rdma/ib_umem.h)
//!
//! Software RDMA devices register with ib_core without a DMA device, so the
//! "DMA address" of each mapped block is the kernel virtual address of the
//! pinned page (`ib_dma_virt_map_sg()`); [`Umem::dma_blocks`] yields them.

use crate::{
    bindings,
    prelude::*,
    scatterlist::SGTable, //
};
use core::ptr::NonNull;

/// Pinned user memory, released on drop.
///
/// A `Umem` may outlive the memory region it was pinned for, and even the
/// device's registration: it holds a reference on the `ib_device`'s
/// `struct device`, so the `ib_device` that `ib_umem_release()` reads stays
/// allocated until the `Umem` is dropped.
///
/// # Calling context
///
/// Dropping a `Umem` unpins its pages, which may sleep (dirty pages are
/// locked to be marked dirty): drop it in process context only, never
/// under a spinlock or in the receive path.
///
/// # Invariants
///
/// `ptr` was returned by a successful `ib_umem_get()` and is released only
/// in `drop`; `ibdev` is the device it was pinned for, on which this object
/// holds a `get_device()` reference until `drop`.
pub struct Umem {
    ptr: NonNull<bindings::ib_umem>,
    ibdev: NonNull<bindings::ib_device>,
}

// SAFETY: an ib_umem may be released from any thread (in process context),
// and the device reference may be dropped from any thread.
unsafe impl Send for Umem {}
// SAFETY: `&Umem` only reads fields that do not change after ib_umem_get.
unsafe impl Sync for Umem {}

impl Umem {
    /// Pins `len` bytes of the caller's memory at `addr` with IB access
    /// flags `access`. Faults give `EFAULT`; exceeding the memlock limit
    /// gives `ENOMEM`. May sleep.
    ///
    /// # Safety
    ///
    /// `ibdev` must be a valid, registered `ib_device` and the call must be
    /// made in the context of the process owning the memory (a uverbs
    /// command).
    pub unsafe fn get(
        ibdev: *mut bindings::ib_device,
        addr: u64,
        len: usize,
        access: i32,
    ) -> Result<Self> {
        // SAFETY: `ibdev` is a valid, registered device and we run in the
        // owning process, both guaranteed by the caller; a null attribute
        // bundle makes ib_umem_get pin `addr` itself.
        let raw = unsafe {
            bindings::ib_umem_get_attr_or_va(ibdev, core::ptr::null(), 0, addr, len, access)
        };
        let raw = crate::error::from_err_ptr(raw)?;
        let Some(ptr) = NonNull::new(raw) else {
            return Err(ENOMEM);
        };
        // SAFETY: `ibdev` is valid (caller); the reference keeps the
        // `ib_device` allocated until `put_device` in `drop`.
        unsafe { bindings::get_device(&raw mut (*ibdev).__bindgen_anon_1.dev) };
        // INVARIANT: successful ib_umem_get; device reference taken above.
        Ok(Self {
            ptr,
            // SAFETY: `ibdev` is valid, hence not null.
            ibdev: unsafe { NonNull::new_unchecked(ibdev) },
        })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: `ptr` is a live umem per the type invariant; `length` is
        // set once by ib_umem_get.
        unsafe { (*self.ptr.as_ptr()).length }
    }

    /// Whether the region is empty (never, ib_umem_get refuses that).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// User virtual address of the first byte.
    pub fn address(&self) -> u64 {
        // SAFETY: `ptr` is a live umem per the type invariant; `address` is
        // set once by ib_umem_get.
        let addr = unsafe { (*self.ptr.as_ptr()).address };
        crate::num::casts::usize_as_u64(addr)
    }

    /// Whether the memory was pinned writable.
    pub fn writable(&self) -> bool {
        // SAFETY: `ptr` is a live umem per the type invariant; `writable` is
        // set once by ib_umem_get.
        unsafe { (*self.ptr.as_ptr()).writable() != 0 }
    }

    /// Number of pages spanned by the region.
    pub fn num_pages(&self) -> usize {
        let page = bindings::PAGE_SIZE;
        // SAFETY: `ptr` is a live umem per the type invariant; `address` is
        // set once by ib_umem_get.
        let start = unsafe { (*self.ptr.as_ptr()).address };
        let first = start & !(page - 1);
        // ib_umem_get refused regions that wrap the address space.
        let end = (start + self.len()).next_multiple_of(page);
        (end - first) / page
    }

    /// Copies `out.len()` bytes at byte `offset` of the region into `out`.
    /// `EINVAL` if the range is not inside the region. Never sleeps (pages
    /// are mapped with `kmap_local_page()`): callable from any context
    /// but hardirq.
    pub fn copy_from(&self, offset: usize, out: &mut [u8]) -> Result {
        let skip = self.check_range(offset, out.len())?;
        // CAST: `skip` is below the region's length, at most `isize::MAX`
        // (an allocation's size), so it fits `off_t`.
        // SAFETY: the sg table is set up by ib_umem_get and not changed
        // until `drop` (type invariant); its pages are pinned. `out` is
        // valid for `out.len()` bytes; the range lies inside the table
        // (checked above). `sg_pcopy_to_buffer` maps each page with
        // `kmap_local_page()`, which does not sleep.
        let n = unsafe {
            let sgt = &raw mut (*self.ptr.as_ptr()).sgt_append.sgt;
            bindings::sg_pcopy_to_buffer(
                (*sgt).sgl,
                (*sgt).orig_nents,
                out.as_mut_ptr().cast(),
                out.len(),
                skip as isize,
            )
        };
        if n != out.len() {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Copies `data` into the region at byte `offset`. `EINVAL` if the
    /// range is not inside the region, `EPERM` if the memory was not pinned
    /// writable. Never sleeps; callable from any context but hardirq.
    pub fn copy_to(&self, offset: usize, data: &[u8]) -> Result {
        if !self.writable() {
            return Err(EPERM);
        }
        let skip = self.check_range(offset, data.len())?;
        // CAST: as in `copy_from`.
        // SAFETY: as in `copy_from`; the pages were pinned writable
        // (checked above), and `sg_pcopy_from_buffer` flushes the data
        // cache of each page it wrote.
        let n = unsafe {
            let sgt = &raw mut (*self.ptr.as_ptr()).sgt_append.sgt;
            bindings::sg_pcopy_from_buffer(
                (*sgt).sgl,
                (*sgt).orig_nents,
                data.as_ptr().cast(),
                data.len(),
                skip as isize,
            )
        };
        if n != data.len() {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// Appends bytes `[offset, offset + len)` of the region to `skb` as page
    /// fragments, without copying them. The skb takes a reference on each
    /// page, so it may outlive the pin (a deregistered MR) safely; what it
    /// sends is whatever the pages hold when the device reads them.
    /// `EINVAL` if the range is not inside the region or the skb is
    /// cloned, `EMSGSIZE` if the skb has not enough fragment slots
    /// (fragments added so far stay: drop the skb). Never sleeps.
    pub fn append_to_skb(
        &self,
        skb: &mut crate::net::skb::SkBuff,
        offset: usize,
        len: usize,
    ) -> Result {
        self.check_range(offset, len)?;
        // SAFETY: the sg table is set up by ib_umem_get and not changed
        // until `drop` (type invariant); the range lies inside it (checked
        // above); we own the skb's only reference (the `SkBuff` invariant),
        // and the helper takes a page reference for every fragment.
        let r = unsafe {
            bindings::rdma_umem_to_skb_frags(self.ptr.as_ptr(), skb.as_raw(), offset, len)
        };
        crate::error::to_result(r)
    }

    /// Checks that `[offset, offset + len)` lies inside the region and
    /// returns the offset of its first byte in the sg table (the region
    /// starts `ib_umem_offset()` bytes into its first page).
    fn check_range(&self, offset: usize, len: usize) -> Result<usize> {
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if end > self.len() {
            return Err(EINVAL);
        }
        // SAFETY: `ptr` is a live umem per the type invariant; `address`
        // is set once by ib_umem_get.
        let start = unsafe { (*self.ptr.as_ptr()).address };
        // `ib_umem_offset()`: the sg table maps whole pages.
        Ok((start & (bindings::PAGE_SIZE - 1)) + offset)
    }

    /// Iterates over the mapped blocks as `(dma address, length)` pairs.
    pub fn dma_blocks(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        // SAFETY: the umem's sg table is set up by ib_umem_get and not
        // changed until ib_umem_release, which runs only in `drop`, after
        // the borrow of `self` this iterator holds.
        let sgt = unsafe { SGTable::from_raw(&raw mut (*self.ptr.as_ptr()).sgt_append.sgt) };
        sgt.iter().map(|sg| {
            // CAST: `sg_dma_len()` is an `unsigned int`, which `dma_len()`
            // only widened to `ResourceSize`; it fits in `usize`.
            (sg.dma_address(), sg.dma_len() as usize)
        })
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // Unpinning may sleep (dirty pages are locked): flag a drop in atomic
        // context every time, not only when a page happens to be dirty.
        crate::task::might_sleep();
        // SAFETY: obtained from ib_umem_get per the type invariant and not
        // released before; the device it reads is still allocated thanks to
        // our device reference.
        unsafe { bindings::ib_umem_release(self.ptr.as_ptr()) };
        // SAFETY: the reference taken in `get`, dropped once.
        unsafe { bindings::put_device(&raw mut (*self.ibdev.as_ptr()).__bindgen_anon_1.dev) };
    }
}
