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
        netdev::{
            Inet4AddrNotifier,
            Inet6AddrNotifier,
            NetdevNotifier, //
        },
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
/// They are made in the reverse of declaration order (see `init`) and
/// dropped in declaration order: the netdev and address notifiers come
/// first, so that no device or job can exist before they see a netdev go
/// away or its addresses (the device's GIDs) change, and go last; the UET job protocol comes last (no job before everything else is
/// up) and goes first. In between, the link type (no new devices) goes
/// before the driver registration, whose drop unregisters every device.
#[pin_data]
struct UetSoft {
    _jobs: ProtocolRegistration<job::UetJobs>,
    #[pin]
    link: link::Registration<verbs::UetLink>,
    driver: DriverRegistration<verbs::UetDevice>,
    #[pin]
    inet6: Inet6AddrNotifier<verbs::UetLink>,
    #[pin]
    inet4: Inet4AddrNotifier<verbs::UetLink>,
    #[pin]
    notifier: NetdevNotifier<verbs::UetLink>,
}

impl kernel::InPlaceModule for UetSoft {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("Ultra Ethernet Transport software provider loaded\n");
        // Fields are initialised in the order written here; if one fails,
        // those before it are dropped.
        try_pin_init!(Self {
            notifier <- NetdevNotifier::new(),
            inet4 <- Inet4AddrNotifier::new(),
            inet6 <- Inet6AddrNotifier::new(),
            driver: DriverRegistration::new(),
            link <- link::Registration::new(),
            _jobs: ProtocolRegistration::new(module)?,
        })
    }
}
