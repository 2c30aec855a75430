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

/// An RDMA GID: 16 bytes in network byte order (an IPv6 address, or an
/// IPv4-mapped one).
pub type Gid = [u8; 16];

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

    /// The device called `name` in the caller's network namespace, with a
    /// reference held. May sleep.
    pub fn get_by_name(name: &CStr) -> Option<ARef<Self>> {
        // SAFETY: the caller's namespace is alive while it runs;
        // `dev_get_by_name` takes a reference on the device it returns.
        let nd = unsafe {
            bindings::dev_get_by_name(bindings::rdma_current_net_ptr(), name.as_char_ptr())
        };
        let nd = NonNull::new(nd)?;
        // SAFETY: `dev_get_by_name` took a reference for us.
        Some(unsafe { ARef::from_raw(nd.cast::<NetDevice>()) })
    }

    /// Whether the device is registered and not being unregistered. Only
    /// meaningful under RTNL ([`with_rtnl`]), which unregistration takes.
    pub fn is_registered(&self) -> bool {
        // SAFETY: `self` is a valid device; the helper reads one field.
        unsafe { bindings::rdma_netdev_registered(self.as_raw()) }
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
            // SAFETY: as above; `mac` is a distinct local buffer. Address
            // changes (`dev_addr_set()`, under RTNL) rewrite the bytes in
            // place, so without RTNL a racing reader may see a mixed address,
            // as C readers of `dev_addr` do; the buffer itself stays.
            unsafe { core::ptr::copy_nonoverlapping(src, mac.as_mut_ptr(), ETH_ALEN) };
        }
        mac
    }

    /// Calls `f` with each IP address of the device as an RDMA GID: the
    /// IPv4 addresses (mapped into IPv6, `::ffff:a.b.c.d`) in list order,
    /// primaries first, then the IPv6 addresses, including link-local and
    /// tentative ones but not those that failed duplicate address
    /// detection or are being removed.
    ///
    /// Runs in an RCU read-side critical section: never sleeps, may be
    /// called from any context, and `f` must not sleep either.
    pub fn for_each_ip_gid(&self, mut f: impl FnMut(&Gid)) {
        let _rcu = crate::sync::rcu::read_lock();
        // SAFETY: `self` is a valid net_device; we hold the RCU read lock
        // the helper requires.
        let mut ifa = unsafe { bindings::rdma_ifa4_first_rcu(self.as_raw()) };
        while !ifa.is_null() {
            // SAFETY: `ifa` is an entry of the device's RCU-protected IPv4
            // list, valid while we hold the RCU read lock; `ifa_local` is
            // in network byte order, as a GID is.
            let local = unsafe { (*ifa).ifa_local }.to_ne_bytes();
            let mut gid = [0u8; 16];
            gid[10] = 0xff;
            gid[11] = 0xff;
            gid[12..].copy_from_slice(&local);
            f(&gid);
            // SAFETY: as above; the helper reads the next entry under RCU.
            ifa = unsafe { bindings::rdma_ifa4_next_rcu(ifa) };
        }
        // SAFETY: `self` is valid; RCU read lock held.
        let idev = unsafe { bindings::rdma_in6_dev_rcu(self.as_raw()) };
        if idev.is_null() {
            return;
        }
        // SAFETY: `idev` is the device's live inet6_dev (freed only after an
        // RCU grace period), its address list RCU-protected; RCU read lock
        // held.
        let mut ifp = unsafe { bindings::rdma_ifa6_next_rcu(idev, core::ptr::null_mut()) };
        let dead = i32::try_from(bindings::INET6_IFADDR_STATE_DEAD).unwrap_or(i32::MAX);
        while !ifp.is_null() {
            // SAFETY: `ifp` is an entry of `idev`'s RCU-protected address
            // list, valid while we hold the RCU read lock. addrconf changes
            // `flags` and `state` under the entry's lock, which we do not
            // take: read them with volatile loads (the kernel's READ_ONCE),
            // where an old or new value is fine for a GID refresh. `addr`
            // never changes after the entry was published.
            let (flags, state, addr) = unsafe {
                (
                    (&raw const (*ifp).flags).read_volatile(),
                    (&raw const (*ifp).state).read_volatile(),
                    (*ifp).addr.in6_u.u6_addr8,
                )
            };
            if flags & bindings::IFA_F_DADFAILED == 0 && state != dead {
                f(&addr);
            }
            // SAFETY: as above.
            ifp = unsafe { bindings::rdma_ifa6_next_rcu(idev, ifp) };
        }
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
    /// Called (under RTNL, which `rtnl` proves) for each event on any net
    /// device.
    fn event(rtnl: &Rtnl, event: NetdevEvent, dev: &NetDevice);
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

// SAFETY: the C notifier block is only read by the notifier chain, which
// serialises with `register_netdevice_notifier()` and
// `unregister_netdevice_notifier()` (both take RTNL), and these may be
// called from any thread; `T` is only used through its `'static` functions.
unsafe impl<T: NetdevEvents> Send for NetdevNotifier<T> {}
// SAFETY: `&Self` gives access to nothing: no method reads the notifier
// block, and `T` is only used through its `'static` functions.
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
    /// Called by the netdevice notifier chain (`call_netdevice_notifiers()`,
    /// process context with RTNL held) with `ptr` pointing at a
    /// `netdev_notifier_info` (or a struct starting with one) whose `dev`
    /// is valid for the call.
    unsafe extern "C" fn callback(
        _nb: *mut bindings::notifier_block,
        event: usize,
        ptr: *mut c_void,
    ) -> c_int {
        if let Some(ev) = NetdevEvent::from_raw(crate::num::casts::usize_as_u64(event)) {
            // SAFETY: `ptr` is a `netdev_notifier_info`, valid for the call
            // (function contract); the helper only reads its `dev`.
            let dev = unsafe { bindings::netdev_notifier_info_to_dev(ptr.cast()) };
            if !dev.is_null() {
                // SAFETY: `dev` is non-null and, per the function contract,
                // valid for the call; RTNL is held for the whole call, so the
                // device cannot be freed under it.
                // INVARIANT: netdev notifiers run under RTNL.
                T::event(&Rtnl(PhantomData), ev, unsafe { NetDevice::from_raw(dev) });
            }
        }
        // CAST: `NOTIFY_DONE` is 0.
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

/// Receiver of IP address changes of any net device.
pub trait IpAddrEvents: Sync + 'static {
    /// An IPv4 or IPv6 address of `dev` was added or removed (the address
    /// lists already show the change).
    ///
    /// IPv4 events arrive in process context with RTNL held; IPv6 events
    /// may arrive in atomic context (softirq, router advertisements), so
    /// implementations must not sleep.
    fn changed(dev: &NetDevice);
}

/// A registered address notifier: IPv4 (`register_inetaddr_notifier`) if
/// `V6` is false, IPv6 (`register_inet6addr_notifier`) otherwise;
/// unregisters on drop.
///
/// # Invariants
///
/// `nb` is registered on the chain `V6` selects for the lifetime of the
/// object.
#[pin_data(PinnedDrop)]
pub struct IpAddrNotifier<T: IpAddrEvents, const V6: bool> {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
    _p: PhantomData<T>,
}

/// IPv4 address notifier.
pub type Inet4AddrNotifier<T> = IpAddrNotifier<T, false>;
/// IPv6 address notifier.
pub type Inet6AddrNotifier<T> = IpAddrNotifier<T, true>;

// SAFETY: the C notifier block is only read by its notifier chain, which
// serialises with the chain's register and unregister functions (callable
// from any thread); `T` is only used through its `'static` functions.
unsafe impl<T: IpAddrEvents, const V6: bool> Send for IpAddrNotifier<T, V6> {}
// SAFETY: `&Self` gives access to nothing: no method reads the notifier
// block, and `T` is only used through its `'static` functions.
unsafe impl<T: IpAddrEvents, const V6: bool> Sync for IpAddrNotifier<T, V6> {}

impl<T: IpAddrEvents, const V6: bool> IpAddrNotifier<T, V6> {
    /// Registers the notifier, delivering events to `T`. May sleep.
    pub fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            nb <- Opaque::try_ffi_init(|nb: *mut bindings::notifier_block| {
                // SAFETY: `nb` is valid for writes; an all-zero
                // notifier_block is valid before the callback is set.
                unsafe {
                    nb.write(pin_init::zeroed());
                    (*nb).notifier_call = Some(Self::callback);
                }
                // INVARIANT: registered here, unregistered in drop.
                // SAFETY: `nb` is pinned and lives until `drop`.
                to_result(unsafe {
                    if V6 {
                        bindings::register_inet6addr_notifier(nb)
                    } else {
                        bindings::register_inetaddr_notifier(nb)
                    }
                })
            }),
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by the inetaddr chain with a `struct in_ifaddr` (`V6` false)
    /// or the inet6addr chain with a `struct inet6_ifaddr` (`V6` true),
    /// valid for the call. The inetaddr chain is a blocking chain run with
    /// RTNL held; the inet6addr chain is atomic and may run in softirq
    /// context.
    unsafe extern "C" fn callback(
        _nb: *mut bindings::notifier_block,
        _event: usize,
        ptr: *mut c_void,
    ) -> c_int {
        // SAFETY: per the chain (function contract), `ptr` is a live
        // address entry whose interface and net device are valid and held
        // by the networking core for the duration of the call.
        let dev = unsafe {
            if V6 {
                let ifp = ptr.cast::<bindings::inet6_ifaddr>();
                (*(*ifp).idev).dev
            } else {
                let ifa = ptr.cast::<bindings::in_ifaddr>();
                (*(*ifa).ifa_dev).dev
            }
        };
        if !dev.is_null() {
            // SAFETY: the chain holds the device for the call (above).
            T::changed(unsafe { NetDevice::from_raw(dev) });
        }
        // CAST: `NOTIFY_DONE` is 0.
        bindings::NOTIFY_DONE as c_int
    }
}

#[pinned_drop]
impl<T: IpAddrEvents, const V6: bool> PinnedDrop for IpAddrNotifier<T, V6> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered on this chain in `new` per the type invariant.
        unsafe {
            if V6 {
                bindings::unregister_inet6addr_notifier(self.nb.get());
            } else {
                bindings::unregister_inetaddr_notifier(self.nb.get());
            }
        }
    }
}

/// Holds a reference to a net device; convenience for [`ARef`].
pub type NetDeviceRef = ARef<NetDevice>;

/// Proof that the RTNL lock is held: handed to the closure of
/// [`with_rtnl`] and to [`NetdevEvents::event`] (netdev notifiers run
/// under RTNL).
///
/// # Invariants
///
/// An `Rtnl` exists only while the current thread holds RTNL: it is built
/// only in this module, where RTNL is held, and lent by reference for that
/// time; it is neither `Send` nor `Sync`.
pub struct Rtnl(PhantomData<*mut ()>);

impl Rtnl {
    /// Calls `f` for every netdev of the network namespace of `of`
    /// (including `of`). RTNL keeps the list stable; `f` must not take
    /// RTNL, nor register, unregister or move netdevs.
    pub fn for_each_in_net_of<F: FnMut(&NetDevice)>(&self, of: &NetDevice, mut f: F) {
        /// # Safety
        ///
        /// `ctx` must be a live `&mut F` and `nd` a valid netdev.
        unsafe extern "C" fn trampoline<F: FnMut(&NetDevice)>(
            nd: *mut bindings::net_device,
            ctx: *mut c_void,
        ) {
            // SAFETY: `ctx` is the `&mut F` passed below, live for the
            // walk; `nd` is a registered device, valid while RTNL is held.
            unsafe { (*ctx.cast::<F>())(NetDevice::from_raw(nd)) };
        }
        // SAFETY: `of` is valid, and its namespace is alive while RTNL is
        // held (a dying namespace's netdevs are unregistered under RTNL
        // first); the helper walks the namespace's device list, which RTNL
        // keeps stable, and calls the trampoline with `f` for each.
        unsafe {
            let net = bindings::dev_net(of.as_raw());
            bindings::rdma_for_each_netdev(net, Some(trampoline::<F>), (&raw mut f).cast());
        }
    }
}

/// Runs `f` with the RTNL lock held: no netdev is registered, unregistered
/// or moved to another namespace meanwhile. Process context; may sleep.
/// Must not be called with RTNL held (netdev notifiers run with it).
pub fn with_rtnl<R>(f: impl FnOnce(&Rtnl) -> R) -> R {
    // SAFETY: plain lock; process context (caller).
    unsafe { bindings::rtnl_lock() };
    // INVARIANT: RTNL is held until after `f` returns.
    let r = f(&Rtnl(PhantomData));
    // SAFETY: taken above.
    unsafe { bindings::rtnl_unlock() };
    r
}
