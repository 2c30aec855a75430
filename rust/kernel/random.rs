// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Random numbers from the kernel's CRNG.
//!
//! C header: [`include/linux/random.h`](srctree/include/linux/random.h)

/// Returns a random `u32` from the kernel's cryptographically secure RNG.
///
/// ```
/// let a = kernel::random::get_random_u32();
/// let b = kernel::random::get_random_u32();
/// // Two draws are independent; equal values are possible but rare.
/// let _ = (a, b);
/// ```
pub fn get_random_u32() -> u32 {
    // SAFETY: no preconditions.
    unsafe { crate::bindings::get_random_u32() }
}

/// Returns a random `u64` from the kernel's cryptographically secure RNG.
pub fn get_random_u64() -> u64 {
    // SAFETY: no preconditions.
    unsafe { crate::bindings::get_random_u64() }
}
