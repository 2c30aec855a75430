// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Software Ultra Ethernet Transport (UET) provider.
//!
//! `uet_soft` implements the UET packet delivery (PDS) and semantic (SES)
//! sublayers behind a hardware-shaped interface, over any Ethernet netdev.
//! Devices are created with `rdma link add NAME type uet netdev DEV`.
//! See `Documentation/infiniband/ultraeth.rst`.

use kernel::{
    prelude::*,
    rdma::{
        device::DriverRegistration,
        job::ProtocolRegistration,
        link,
        netdev::NetdevNotifier, //
    },
};

mod dev;
mod job;
// The engine is compiled in now and wired to the data path by the device
// model next; until then most of it is unused here (the host crate
// tools/uet-proto tests all of it).
#[allow(dead_code, reason = "not yet driven by the device model")]
mod proto;
mod verbs;

module! {
    type: UetSoft,
    name: "uet_soft",
    authors: ["The uet_soft developers"],
    description: "Software Ultra Ethernet Transport RDMA provider",
    license: "Dual BSD/GPL",
    alias: ["rdma-link-uet", "rdma-job-proto-1"],
}

/// The module: owns every registration.
///
/// Fields are dropped in declaration order: first the link type (no new
/// devices), then every device (ib_unregister_driver), then the netdev
/// notifier, which devices need until they are gone, and the UET job
/// protocol (realized UET jobs hold a reference to this module).
#[pin_data]
struct UetSoft {
    #[pin]
    link: link::Registration<verbs::UetLink>,
    driver: DriverRegistration<verbs::UetDevice>,
    #[pin]
    notifier: NetdevNotifier<verbs::UetLink>,
    _jobs: ProtocolRegistration<job::UetJobs>,
}

impl kernel::InPlaceModule for UetSoft {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("Ultra Ethernet Transport software provider loaded\n");
        try_pin_init!(Self {
            _jobs: ProtocolRegistration::new(module)?,
            link <- link::Registration::new(),
            driver: DriverRegistration::new(),
            notifier <- NetdevNotifier::new(),
        })
    }
}
