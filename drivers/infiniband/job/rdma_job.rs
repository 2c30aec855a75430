// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `/dev/infiniband/job`: registers the RDMA job device at boot.
//!
//! The job core itself (jobs, the protocol registry, the ioctls) is
//! `kernel::rdma::job`, where every Rust RDMA driver can reach it; this
//! built-in crate only owns the device registration.

use kernel::{
    prelude::*,
    rdma::job::JobDevice, //
};

module! {
    type: RdmaJob,
    name: "rdma_job",
    authors: ["The uet_soft developers"],
    description: "RDMA jobs (/dev/infiniband/job)",
    license: "Dual BSD/GPL",
}

#[pin_data]
struct RdmaJob {
    #[pin]
    dev: JobDevice,
}

impl kernel::InPlaceModule for RdmaJob {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            dev <- JobDevice::register(),
        })
    }
}
