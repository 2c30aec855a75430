// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Network devices as seen by RDMA drivers: the netdev a device is bound to,
//! and notification of netdev events.
//!
//! C header: [`include/linux/netdevice.h`](srctree/include/linux/netdevice.h)

use crate::{
    bindings,
    error::to_result,
    prelude::*,
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    types::Opaque, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// Length of an Ethernet hardware address.
pub const ETH_ALEN: usize = 6;

/// A network device (`struct net_device`).
///
/// # Invariants
///
/// The pointer is a valid `struct net_device`, kept alive by the caller's
/// reference for the lifetime of `&NetDevice`, or by the reference an
/// [`ARef<NetDevice>`] holds.
#[repr(transparent)]
pub struct NetDevice(Opaque<bindings::net_device>);

impl NetDevice {
    /// Borrows a net device from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `net_device` that stays alive for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a Self {
        // SAFETY: `NetDevice` is transparent over the C struct; the caller
        // guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Returns the raw pointer.
    pub fn as_raw(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// The interface name, e.g. `veth0`.
    pub fn name(&self) -> &CStr {
        // SAFETY: `name` is a NUL-terminated array inside a valid net_device.
        unsafe { CStr::from_char_ptr((*self.as_raw()).name.as_ptr()) }
    }

    /// The interface index.
    pub fn ifindex(&self) -> i32 {
        // SAFETY: reading a plain field of a valid net_device.
        unsafe { (*self.as_raw()).ifindex }
    }

    /// The MTU in bytes.
    pub fn mtu(&self) -> u32 {
        // SAFETY: reading a plain field of a valid net_device.
        unsafe { (*self.as_raw()).mtu }
    }

    /// Whether the device is an Ethernet device (`ARPHRD_ETHER`) with an
    /// Ethernet-sized hardware address.
    pub fn is_ethernet(&self) -> bool {
        // SAFETY: reading plain fields of a valid net_device.
        let (ty, len) = unsafe { ((*self.as_raw()).type_, (*self.as_raw()).addr_len) };
        u32::from(ty) == bindings::ARPHRD_ETHER && usize::from(len) == ETH_ALEN
    }

    /// The hardware (MAC) address; zero if the device is not Ethernet.
    pub fn mac(&self) -> [u8; ETH_ALEN] {
        let mut mac = [0u8; ETH_ALEN];
        if self.is_ethernet() {
            // SAFETY: `dev_addr` points to at least `addr_len` (== ETH_ALEN) bytes
            // owned by the net device.
            let src = unsafe { (*self.as_raw()).dev_addr };
            // SAFETY: as above; `mac` is a distinct local buffer.
            unsafe { core::ptr::copy_nonoverlapping(src, mac.as_mut_ptr(), ETH_ALEN) };
        }
        mac
    }

    /// Whether the device is running with carrier, i.e. an RDMA port on it
    /// is active (the C `ib_get_curr_port_state()`).
    pub fn port_active(&self) -> bool {
        // SAFETY: `self` is a valid net_device.
        let st = unsafe { bindings::ib_get_curr_port_state(self.as_raw()) };
        st == bindings::ib_port_state_IB_PORT_ACTIVE
    }
}

// SAFETY: `dev_hold`/`dev_put` maintain the net_device reference count.
unsafe impl AlwaysRefCounted for NetDevice {
    fn inc_ref(&self) {
        // SAFETY: `self` is a valid net_device with a live reference.
        unsafe { bindings::dev_hold(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference.
        unsafe { bindings::dev_put(obj.cast().as_ptr()) };
    }
}

// SAFETY: a net_device may be referenced and released from any thread.
unsafe impl Send for NetDevice {}
// SAFETY: the accessors only read fields that the networking core keeps
// consistent for concurrent readers.
unsafe impl Sync for NetDevice {}

/// A netdev event delivered to a [`NetdevNotifier`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NetdevEvent {
    /// The device is being unregistered (`NETDEV_UNREGISTER`).
    Unregister,
    /// The device's MTU changed (`NETDEV_CHANGEMTU`).
    ChangeMtu,
    /// The device's hardware address changed (`NETDEV_CHANGEADDR`).
    ChangeAddr,
    /// The device went up, down, or changed carrier.
    ChangeState,
}

impl NetdevEvent {
    fn from_raw(ev: u64) -> Option<Self> {
        let ev = u32::try_from(ev).ok()?;
        Some(match ev {
            bindings::netdev_cmd_NETDEV_UNREGISTER => Self::Unregister,
            bindings::netdev_cmd_NETDEV_CHANGEMTU => Self::ChangeMtu,
            bindings::netdev_cmd_NETDEV_CHANGEADDR => Self::ChangeAddr,
            bindings::netdev_cmd_NETDEV_UP
            | bindings::netdev_cmd_NETDEV_DOWN
            | bindings::netdev_cmd_NETDEV_CHANGE => Self::ChangeState,
            _ => return None,
        })
    }
}

/// Receiver of netdev events.
pub trait NetdevEvents: Sync + 'static {
    /// Called (under RTNL) for each event on any net device.
    fn event(event: NetdevEvent, dev: &NetDevice);
}

/// A registered netdevice notifier; unregisters on drop.
///
/// # Invariants
///
/// `nb` is registered with `register_netdevice_notifier` for the lifetime of
/// the object.
#[pin_data(PinnedDrop)]
pub struct NetdevNotifier<T: NetdevEvents> {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
    _p: PhantomData<T>,
}

// SAFETY: the notifier block is only touched by the notifier chain, which
// serialises with registration and unregistration.
unsafe impl<T: NetdevEvents> Send for NetdevNotifier<T> {}
// SAFETY: as above; no shared mutable state in Rust.
unsafe impl<T: NetdevEvents> Sync for NetdevNotifier<T> {}

impl<T: NetdevEvents> NetdevNotifier<T> {
    /// Registers a netdevice notifier delivering events to `T`.
    pub fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            nb <- Opaque::try_ffi_init(|nb: *mut bindings::notifier_block| {
                // SAFETY: `nb` is valid for writes; zeroed is a valid
                // notifier_block before the callback is set.
                unsafe {
                    nb.write(pin_init::zeroed());
                    (*nb).notifier_call = Some(Self::callback);
                }
                // INVARIANT: registered here, unregistered in drop.
                // SAFETY: `nb` is pinned and lives until `drop`.
                to_result(unsafe { bindings::register_netdevice_notifier(nb) })
            }),
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by the netdevice notifier chain with a `netdev_notifier_info`.
    unsafe extern "C" fn callback(
        _nb: *mut bindings::notifier_block,
        event: usize,
        ptr: *mut c_void,
    ) -> c_int {
        if let Some(ev) = NetdevEvent::from_raw(event as u64) {
            // SAFETY: for netdev notifiers `ptr` is a `netdev_notifier_info`.
            let dev = unsafe { bindings::netdev_notifier_info_to_dev(ptr.cast()) };
            if !dev.is_null() {
                // SAFETY: the notifier chain holds the device for the call.
                T::event(ev, unsafe { NetDevice::from_raw(dev) });
            }
        }
        bindings::NOTIFY_DONE as c_int
    }
}

#[pinned_drop]
impl<T: NetdevEvents> PinnedDrop for NetdevNotifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `new` per the type invariant.
        unsafe { bindings::unregister_netdevice_notifier(self.nb.get()) };
    }
}

/// Holds a reference to a net device; convenience for [`ARef`].
pub type NetDeviceRef = ARef<NetDevice>;
