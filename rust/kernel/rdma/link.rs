// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `rdma link` types: how soft RDMA devices are created from user space
//! (`rdma link add NAME type TYPE netdev DEV`).
//!
//! C header: [`include/rdma/rdma_netlink.h`](srctree/include/rdma/rdma_netlink.h)
//!
//! Deletion (`rdma link delete NAME`) is handled by ib_core for devices that
//! report `IBK_ALLOW_USER_UNREG`; see [`super::device::DeviceAttr`].

use super::netdev::NetDevice;
use crate::{
    bindings,
    prelude::*,
    types::Opaque, //
};
use core::marker::PhantomData;

/// A link type.
pub trait LinkType: Sync + 'static {
    /// The type name given to `rdma link add ... type NAME`.
    const TYPE: &'static CStr;

    /// Creates and registers a device called `name` on `netdev`.
    ///
    /// ib_core looked `netdev` up by name (`ENODEV` if it does not exist) and
    /// holds it for the call.
    fn newlink(name: &CStr, netdev: &NetDevice) -> Result;
}

/// A registered link type; unregistered on drop.
///
/// The module must also declare `MODULE_ALIAS("rdma-link-TYPE")` so that
/// `rdma link add` loads it on demand (`module!`'s `alias` field).
///
/// # Invariants
///
/// `ops` is registered with `rdma_link_register` while this object lives.
#[pin_data(PinnedDrop)]
pub struct Registration<T: LinkType> {
    #[pin]
    ops: Opaque<bindings::rdma_link_ops>,
    _p: PhantomData<T>,
}

// SAFETY: the link ops are only used by ib_core under its own lock.
unsafe impl<T: LinkType> Send for Registration<T> {}
// SAFETY: as above.
unsafe impl<T: LinkType> Sync for Registration<T> {}

impl<T: LinkType> Registration<T> {
    /// Registers link type `T`.
    pub fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ops <- Opaque::try_ffi_init(|ops: *mut bindings::rdma_link_ops| {
                // SAFETY: `ops` is valid for writes and pinned; zero is a
                // valid initial value (empty list head is set by register).
                unsafe {
                    ops.write(pin_init::zeroed());
                    (*ops).type_ = T::TYPE.as_char_ptr();
                    (*ops).newlink = Some(Self::newlink);
                    // INVARIANT: registered here, unregistered in drop.
                    bindings::rdma_link_register(ops);
                }
                Ok::<(), Error>(())
            }),
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by ib_core with a NUL-terminated name and a held net device.
    unsafe extern "C" fn newlink(name: *const c_char, ndev: *mut bindings::net_device) -> c_int {
        // SAFETY: ib_core passes a NUL-terminated name buffer.
        let name = unsafe { CStr::from_char_ptr(name) };
        // SAFETY: ib_core holds a reference to `ndev` during the call.
        let ndev = unsafe { NetDevice::from_raw(ndev) };
        match T::newlink(name, ndev) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

#[pinned_drop]
impl<T: LinkType> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered per the type invariant.
        unsafe { bindings::rdma_link_unregister(self.ops.get()) };
    }
}
