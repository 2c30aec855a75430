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

// SAFETY: `rdma_link_register()` and `rdma_link_unregister()` may be called
// from any thread; ib_core reads the ops only under `link_ops_rwsem`, which
// both take for writing. `T` is only used through its `'static` functions.
unsafe impl<T: LinkType> Send for Registration<T> {}
// SAFETY: `&Registration` gives access to nothing (no method reads `ops`).
unsafe impl<T: LinkType> Sync for Registration<T> {}

impl<T: LinkType> Registration<T> {
    /// Registers link type `T`.
    pub fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ops <- Opaque::try_ffi_init(|ops: *mut bindings::rdma_link_ops| {
                // SAFETY: `ops` is valid for writes and pinned (it lives at
                // this address until `drop` unregisters it); all-zero is a
                // valid `rdma_link_ops` (the list head is initialised by
                // `rdma_link_register()`), and `T::TYPE` is `'static`.
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
    /// Called by `nldev_newlink()` (`rdma link add`, process context, may
    /// sleep) with `link_ops_rwsem` read-held, `name` pointing at its
    /// NUL-terminated `ibdev_name` array and `ndev` a net device it holds
    /// (`dev_get_by_name()`) for the call.
    unsafe extern "C" fn newlink(name: *const c_char, ndev: *mut bindings::net_device) -> c_int {
        // SAFETY: `name` is NUL terminated and valid for the call (function
        // contract); the `CStr` does not outlive the call.
        let name = unsafe { CStr::from_char_ptr(name) };
        // SAFETY: `nldev_newlink()` holds a reference to `ndev` for the
        // call (function contract); the borrow does not outlive the call.
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
        // SAFETY: `ops` is registered (type invariant); unregistering takes
        // `link_ops_rwsem` for writing, so no `newlink` runs afterwards.
        unsafe { bindings::rdma_link_unregister(self.ops.get()) };
    }
}
