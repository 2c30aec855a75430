// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Host build of the `uet_soft` protocol engine.
//!
//! The engine sources live in the kernel tree
//! (`drivers/infiniband/ultraeth/proto.rs` and `proto/`) and are compiled
//! here unchanged, without `std`, for unit tests, the network simulator,
//! property tests, fuzz targets and benchmarks.

#![cfg_attr(not(test), no_std)]

#[path = "../../../drivers/infiniband/ultraeth/proto.rs"]
#[allow(dead_code)]
pub(crate) mod proto;
