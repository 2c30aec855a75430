// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! RDMA devices implemented in Rust, registered with the RDMA core (ib_core).
//!
//! C header: [`include/rdma/ib_verbs.h`](srctree/include/rdma/ib_verbs.h)
//!
//! A driver implements [`device::Operations`] for its device type; the
//! abstraction turns it into a `struct ib_device_ops`, allocates the driver's
//! objects (device, user context, PD, CQ, MR) in memory that ib_core sizes
//! from the driver's types, and initialises them in place. Soft devices are
//! created through [`link`] (`rdma link add NAME type TYPE netdev DEV`).
//! Everything that touches C lives here: drivers built on these modules need
//! no `unsafe` beyond lifetime contracts.

pub mod device;
pub mod job;
pub mod link;
pub mod mmap;
pub mod netdev;
pub mod udata;
pub mod umem;

pub use device::{
    Device,
    Operations, //
};
