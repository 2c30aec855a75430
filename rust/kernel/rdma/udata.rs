// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Driver-private data of a uverbs command (`struct ib_udata`).
//!
//! C header: [`include/rdma/ib_verbs.h`](srctree/include/rdma/ib_verbs.h)
//!
//! Request and response structs are the driver's uapi structs, which must be
//! plain bytes ([`FromBytes`]/[`AsBytes`]). Copies are bounded and
//! size-checked the way extensible uverbs structs are: a shorter request from
//! older user space is zero-extended, a longer one must have only zeroes past
//! the part the kernel knows, and a response is truncated to the user's
//! buffer.

use crate::{
    bindings,
    error::to_result,
    prelude::*,
    transmute::{
        AsBytes,
        FromBytes, //
    },
};
use core::mem::size_of;

/// The driver data of one uverbs command.
///
/// # Invariants
///
/// `ptr` is either null (a kernel caller, no user data) or a valid
/// `ib_udata` for the duration of the command.
pub struct UData {
    ptr: *mut bindings::ib_udata,
}

impl UData {
    /// Wraps a raw `ib_udata` pointer (may be null).
    ///
    /// # Safety
    ///
    /// `ptr` must be null or valid for the lifetime of the returned object.
    pub unsafe fn from_raw(ptr: *mut bindings::ib_udata) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { ptr }
    }

    /// Whether the command came from user space.
    pub fn is_user(&self) -> bool {
        !self.ptr.is_null()
    }

    /// Bytes of driver request data user space passed in.
    pub fn in_len(&self) -> usize {
        if self.ptr.is_null() {
            return 0;
        }
        // SAFETY: `ptr` is valid per the type invariant.
        unsafe { (*self.ptr).inlen }
    }

    /// Bytes of driver response space user space provided.
    pub fn out_len(&self) -> usize {
        if self.ptr.is_null() {
            return 0;
        }
        // SAFETY: `ptr` is valid per the type invariant.
        unsafe { (*self.ptr).outlen }
    }

    /// Reads a request struct.
    ///
    /// Missing trailing bytes (older user space) read as zero; extra trailing
    /// bytes (newer user space) must be zero or this fails with `EINVAL`.
    /// A fault reading user memory gives `EFAULT`.
    pub fn read<T: FromBytes + AsBytes + Default>(&self) -> Result<T> {
        let mut val = T::default();
        let inlen = self.in_len();
        let n = inlen.min(size_of::<T>());
        if n > 0 {
            // SAFETY: `val` is a plain-bytes type with `n <= size_of::<T>()`
            // writable bytes; `ptr` is valid (n > 0 implies non-null).
            to_result(unsafe {
                bindings::ib_copy_from_udata(val.as_bytes_mut().as_mut_ptr().cast(), self.ptr, n)
            })?;
        }
        if inlen > size_of::<T>() {
            // SAFETY: `ptr` is valid; the range lies within `inlen`.
            let clear = unsafe {
                bindings::ib_is_udata_cleared(self.ptr, size_of::<T>(), inlen - size_of::<T>())
            };
            if !clear {
                return Err(EINVAL);
            }
        }
        Ok(val)
    }

    /// Writes a response struct, truncated to the space user space gave.
    pub fn write<T: AsBytes>(&mut self, val: &T) -> Result {
        let n = self.out_len().min(size_of::<T>());
        if n == 0 {
            return Ok(());
        }
        let bytes = val.as_bytes();
        // SAFETY: `ptr` is valid (n > 0); `bytes` has at least `n` bytes and
        // is only read.
        to_result(unsafe {
            bindings::ib_copy_to_udata(self.ptr, bytes.as_ptr().cast_mut().cast(), n)
        })
    }
}

/// Checks that a `comp_mask` only uses `known` bits, as uverbs requires of
/// request structs.
///
/// ```
/// use kernel::rdma::udata::check_comp_mask;
/// check_comp_mask(0b01, 0b11)?;
/// assert_eq!(check_comp_mask(0b100, 0b11), Err(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub fn check_comp_mask(mask: u32, known: u32) -> Result {
    if mask & !known != 0 {
        Err(EINVAL)
    } else {
        Ok(())
    }
}

/// Checks that reserved bytes of a request are zero.
///
/// ```
/// use kernel::rdma::udata::check_reserved;
/// check_reserved(&[0, 0, 0])?;
/// assert_eq!(check_reserved(&[0, 1]), Err(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub fn check_reserved(bytes: &[u8]) -> Result {
    if bytes.iter().any(|&b| b != 0) {
        Err(EINVAL)
    } else {
        Ok(())
    }
}

#[kunit_tests(rust_rdma_udata)]
mod tests {
    use super::*;

    #[test]
    fn comp_mask_rejects_unknown_bits() {
        assert_eq!(check_comp_mask(0, 0), Ok(()));
        assert_eq!(check_comp_mask(0b11, 0b11), Ok(()));
        assert_eq!(check_comp_mask(1 << 31, 0b11), Err(EINVAL));
        assert_eq!(check_comp_mask(1, 0), Err(EINVAL));
    }

    #[test]
    fn reserved_must_be_zero() {
        assert_eq!(check_reserved(&[]), Ok(()));
        assert_eq!(check_reserved(&[0; 60]), Ok(()));
        let mut r = [0u8; 60];
        r[59] = 0x80;
        assert_eq!(check_reserved(&r), Err(EINVAL));
    }
}
