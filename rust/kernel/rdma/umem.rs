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
/// # Invariants
///
/// `ptr` was returned by a successful `ib_umem_get()` and is released only
/// in `drop`.
pub struct Umem {
    ptr: NonNull<bindings::ib_umem>,
}

// SAFETY: an ib_umem may be released from any thread.
unsafe impl Send for Umem {}
// SAFETY: `&Umem` only reads fields that do not change after ib_umem_get.
unsafe impl Sync for Umem {}

impl Umem {
    /// Pins `len` bytes of the caller's memory at `addr` with IB access
    /// flags `access`. Faults give `EFAULT`; exceeding the memlock limit
    /// gives `ENOMEM`.
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
        // SAFETY: guaranteed by the caller.
        let raw = unsafe {
            bindings::ib_umem_get_attr_or_va(ibdev, core::ptr::null(), 0, addr, len, access)
        };
        let raw = crate::error::from_err_ptr(raw)?;
        // INVARIANT: successful ib_umem_get.
        Ok(Self {
            ptr: NonNull::new(raw).ok_or(ENOMEM)?,
        })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: valid per the type invariant.
        unsafe { (*self.ptr.as_ptr()).length }
    }

    /// Whether the region is empty (never, ib_umem_get refuses that).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// User virtual address of the first byte.
    pub fn address(&self) -> u64 {
        // SAFETY: valid per the type invariant.
        unsafe { (*self.ptr.as_ptr()).address as u64 }
    }

    /// Whether the memory was pinned writable.
    pub fn writable(&self) -> bool {
        // SAFETY: valid per the type invariant.
        unsafe { (*self.ptr.as_ptr()).writable() != 0 }
    }

    /// Number of pages spanned by the region.
    pub fn num_pages(&self) -> usize {
        let page = bindings::PAGE_SIZE as u64;
        let start = self.address() & !(page - 1);
        let end = (self.address() + self.len() as u64).next_multiple_of(page);
        ((end - start) / page) as usize
    }

    /// Iterates over the mapped blocks as `(dma address, length)` pairs.
    pub fn dma_blocks(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        // SAFETY: the umem's sg table is valid and unchanged while `self`
        // lives.
        let sgt = unsafe { SGTable::from_raw(&raw mut (*self.ptr.as_ptr()).sgt_append.sgt) };
        sgt.iter().map(|sg| (sg.dma_address(), sg.dma_len() as usize))
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: obtained from ib_umem_get per the type invariant.
        unsafe { bindings::ib_umem_release(self.ptr.as_ptr()) };
    }
}
