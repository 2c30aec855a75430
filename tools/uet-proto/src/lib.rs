// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Host build of the `uet_soft` protocol engine.
//!
//! The engine sources live in the kernel tree
//! (`drivers/infiniband/ultraeth/proto.rs` and `proto/`) and are compiled
//! here unchanged for unit tests, the network simulator, property tests,
//! fuzz targets, benchmarks and the capture decoder `uet-dump` (`dump`).
//! The crate is `no_std`; only the simulator, the benchmarks, the fuzz
//! entry points and `dump` use `std` (through an explicit `extern crate`), and a test checks that the engine sources never name
//! `std`, `alloc`, `kernel` or `unsafe`.

#![no_std]

extern crate std;

#[path = "../../../drivers/infiniband/ultraeth/proto.rs"]
#[allow(dead_code)]
pub(crate) mod proto;

#[allow(dead_code)]
pub(crate) mod sim;

pub mod bench;
pub mod dump;
pub mod fuzz;

#[cfg(test)]
mod tests;
