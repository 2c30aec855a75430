// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Software Ultra Ethernet Transport (UET) provider.
//!
//! `uet_soft` implements the UET packet delivery (PDS) and semantic (SES)
//! sublayers behind a hardware-shaped interface, over any Ethernet netdev.
//! See `Documentation/infiniband/ultraeth.rst`.

use kernel::prelude::*;

module! {
    type: UetSoft,
    name: "uet_soft",
    authors: ["The uet_soft developers"],
    description: "Software Ultra Ethernet Transport RDMA provider",
    license: "Dual BSD/GPL",
}

#[pin_data(PinnedDrop)]
struct UetSoft {}

impl kernel::InPlaceModule for UetSoft {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("Ultra Ethernet Transport software provider loaded\n");
        try_pin_init!(Self {})
    }
}

#[pinned_drop]
impl PinnedDrop for UetSoft {
    fn drop(self: Pin<&mut Self>) {
        pr_info!("Ultra Ethernet Transport software provider unloaded\n");
    }
}
