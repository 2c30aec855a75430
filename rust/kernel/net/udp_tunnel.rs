// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! UDP tunnel sockets: kernel UDP sockets whose datagrams go to a callback
//! instead of a socket queue, as VXLAN and Geneve use them.
//!
//! C header: [`include/net/udp_tunnel.h`](srctree/include/net/udp_tunnel.h)
//!
//! A [`UdpTunnel`] binds a UDP port in a network namespace and hands
//! every datagram for it to its [`EncapHandler`] (in softirq, under RCU);
//! [`UdpTunnel::send4`] and [`UdpTunnel::send6`] route an skb and send it
//! with UDP and IPv4 or IPv6 headers in front. A tunnel has one socket per
//! address family on the same port (the IPv6 one IPv6-only, and absent
//! when the kernel has no IPv6).

use crate::{
    bindings,
    error::to_result,
    net::skb::SkBuff,
    prelude::*,
    rdma::netdev::NetDevice,
    sync::{
        Arc,
        ArcBorrow,
        Mutex, //
    },
};
use core::{
    ptr::NonNull,
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    }, //
};

/// Receiver of the datagrams of a [`UdpTunnel`].
pub trait EncapHandler: Send + Sync + 'static {
    /// A datagram arrived: `skb`'s data starts at its UDP header, whose
    /// checksum the UDP layer verified. Called in softirq with the RCU read
    /// lock held: must not sleep. Consumes the skb.
    fn recv(this: ArcBorrow<'_, Self>, skb: SkBuff);
}

/// A UDP tunnel: a kernel UDP socket, bound on demand, whose datagrams go
/// to an [`EncapHandler`].
///
/// Dropping a bound tunnel shuts it down, which sleeps; a tunnel that is
/// not bound is dropped in any context.
///
/// The tunnel object lives as long as its owner; the socket inside is
/// bound by [`UdpTunnel::bind`] and released by [`UdpTunnel::shutdown`]
/// (or on drop), possibly long before the object goes: a device may have
/// to let go of its socket when its namespace dies while user space still
/// holds the device. [`UdpTunnel::send4`] may run concurrently with
/// `shutdown` from any context; it fails with `ENOTCONN` once the socket
/// is gone. The handler is held only while the socket is bound, so a
/// handler may own the tunnel that calls it.
///
/// # Invariants
///
/// `sock` (`sock6`) is null or a kernel UDP socket created by
/// `udp_sock_create4()` (`udp_sock_create6()`, IPv6-only) and set up with
/// `setup_udp_tunnel_sock()`, whose `sk_user_data` is `inner.user`, a
/// leaked `KBox<Arc<T>>` (8-byte aligned, as `sk_user_data` needs: its low
/// bits are flags) that both sockets share. Both are published and cleared
/// under `inner`'s mutex (`sock6` is only set while `sock` is); readers
/// load them inside an RCU read-side critical section, and `shutdown`
/// waits for a grace period after clearing them before releasing the
/// sockets, and for another after the release before freeing `user`.
#[pin_data(PinnedDrop)]
pub struct UdpTunnel<T: EncapHandler> {
    sock: AtomicPtr<bindings::socket>,
    sock6: AtomicPtr<bindings::socket>,
    #[pin]
    inner: Mutex<TunnelInner<T>>,
}

/// What only `bind` and `shutdown` touch, under the tunnel's mutex.
pub struct TunnelInner<T> {
    user: Option<NonNull<Arc<T>>>,
    port: u16,
}

// SAFETY: `user` is only touched under the mutex, and is an `Arc<T>` with
// `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for TunnelInner<T> {}

// SAFETY: the socket may be used and released from any thread; `T` is
// `Send + Sync`, and the rest is an atomic pointer and a mutex.
unsafe impl<T: EncapHandler> Send for UdpTunnel<T> {}
// SAFETY: `&UdpTunnel` sends packets (the networking core allows that
// concurrently on one socket, and `send4` reads the socket under RCU),
// or binds and shuts down under the mutex.
unsafe impl<T: EncapHandler> Sync for UdpTunnel<T> {}

impl<T: EncapHandler> UdpTunnel<T> {
    /// A tunnel with no socket yet.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            sock: AtomicPtr::new(core::ptr::null_mut()),
            sock6: AtomicPtr::new(core::ptr::null_mut()),
            inner <- crate::new_mutex!(
                TunnelInner {
                    user: None,
                    port: 0,
                },
                "UdpTunnel::inner"
            ),
        })
    }

    /// Binds UDP `port` on every IPv4 and IPv6 address of the network
    /// namespace of `netdev` and delivers its datagrams to `handler`.
    /// `EADDRINUSE` if the port is taken, `EBUSY` if the tunnel is bound
    /// already. Without IPv6 in the kernel, only IPv4 is bound. Process
    /// context; may sleep.
    ///
    /// # Safety
    ///
    /// The socket does not keep its namespace alive: [`Self::shutdown`]
    /// must be called (or the tunnel dropped) before the namespace exits,
    /// and `netdev` must not move to another namespace during the call
    /// (hold RTNL, or use a netdev that cannot move, such as `lo`). Shutting
    /// down when `netdev` unregisters (`NETDEV_UNREGISTER`, which every
    /// netdev of a dying namespace and a moving netdev get) satisfies the
    /// first part.
    pub unsafe fn bind(&self, netdev: &NetDevice, port: u16, handler: Arc<T>) -> Result {
        let mut inner = self.inner.lock();
        if !self.sock.load(Ordering::Acquire).is_null() {
            return Err(EBUSY);
        }
        // SAFETY: `netdev` is valid and does not change namespace during the
        // call (caller), so its namespace is alive while we bind.
        let net = unsafe { bindings::dev_net(netdev.as_raw()) };
        let sock = Self::create(net, port, false)?;
        let sock6 = match Self::create(net, port, true) {
            Ok(s) => Some(s),
            Err(e) if e == EAFNOSUPPORT || e == EPFNOSUPPORT => None,
            Err(e) => {
                // SAFETY: the socket we just created, not set up yet.
                unsafe { bindings::udp_tunnel_sock_release((*sock.as_ptr()).sk) };
                return Err(e);
            }
        };
        let user = match KBox::new(handler, GFP_KERNEL) {
            Ok(b) => b,
            Err(e) => {
                for s in [Some(sock), sock6].into_iter().flatten() {
                    // SAFETY: sockets we just created, not set up yet.
                    unsafe { bindings::udp_tunnel_sock_release((*s.as_ptr()).sk) };
                }
                return Err(e.into());
            }
        };
        let user = NonNull::from(KBox::leak(user));
        for s in [Some(sock), sock6].into_iter().flatten() {
            // SAFETY: all-zero is a valid `udp_tunnel_sock_cfg` (no
            // callbacks).
            let mut tcfg: bindings::udp_tunnel_sock_cfg = unsafe { core::mem::zeroed() };
            tcfg.sk_user_data = user.as_ptr().cast();
            tcfg.encap_type = 1;
            tcfg.encap_rcv = Some(Self::encap_rcv);
            // SAFETY: `s` is a socket just created; `user` stays allocated
            // until an RCU grace period after the sockets' release
            // (`shutdown`), which covers every callback that read
            // `sk_user_data`.
            unsafe { bindings::setup_udp_tunnel_sock(net, (*s.as_ptr()).sk, &mut tcfg) };
        }
        inner.user = Some(user);
        inner.port = port;
        // INVARIANT: created and set up with `user` as user data, published
        // under the mutex, the IPv6 socket first.
        if let Some(s6) = sock6 {
            self.sock6.store(s6.as_ptr(), Ordering::Release);
        }
        self.sock.store(sock.as_ptr(), Ordering::Release);
        Ok(())
    }

    /// Creates a kernel UDP socket bound to `port` in `net`, IPv6-only if
    /// `v6`. Process context.
    fn create(net: *mut bindings::net, port: u16, v6: bool) -> Result<NonNull<bindings::socket>> {
        // SAFETY: all-zero is a valid `udp_port_cfg` (any address, no
        // checksum options).
        let mut cfg: bindings::udp_port_cfg = unsafe { core::mem::zeroed() };
        cfg.local_udp_port = port.to_be();
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        if v6 {
            // CAST: AF_INET6 is 10.
            cfg.family = bindings::AF_INET6 as u8;
            // SAFETY: `cfg` is valid for the call.
            unsafe { bindings::udp_port_cfg_set_v6only(&mut cfg) };
            // SAFETY: `net` is live (the caller holds it); `cfg` and `sock`
            // are valid for the call, which may sleep (process context).
            to_result(unsafe { bindings::udp_sock_create6(net, &mut cfg, &mut sock) })?;
        } else {
            // CAST: AF_INET is 2.
            cfg.family = bindings::AF_INET as u8;
            // SAFETY: as above.
            to_result(unsafe { bindings::udp_sock_create4(net, &mut cfg, &mut sock) })?;
        }
        NonNull::new(sock).ok_or(ENOMEM)
    }

    /// Releases the socket, if bound: when this returns, no callback runs
    /// or will run, the handler was dropped and [`Self::send4`] fails.
    /// Process context; may sleep (waits for RCU grace periods).
    pub fn shutdown(&self) {
        crate::task::might_sleep();
        let mut inner = self.inner.lock();
        let sock = self.sock.swap(core::ptr::null_mut(), Ordering::AcqRel);
        let sock6 = self.sock6.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if sock.is_null() {
            return;
        }
        // Senders that loaded the pointers are inside RCU read-side
        // critical sections: after a grace period none uses them any more.
        crate::sync::rcu::synchronize_rcu();
        for s in [sock, sock6] {
            if !s.is_null() {
                // SAFETY: `s` was our live socket (type invariant) and
                // nobody else can reach it now; this clears
                // `sk_user_data`, shuts it down and releases it, once.
                unsafe { bindings::udp_tunnel_sock_release((*s).sk) };
            }
        }
        // Callbacks that read `sk_user_data` before it was cleared are done
        // after a grace period; only then may the handler go.
        crate::sync::rcu::synchronize_rcu();
        if let Some(user) = inner.user.take() {
            // SAFETY: leaked in `bind`; no callback can see it any more.
            drop(unsafe { KBox::from_raw(user.as_ptr()) });
        }
        inner.port = 0;
    }

    /// The bound port; 0 when no socket is bound. May sleep.
    pub fn port(&self) -> u16 {
        self.inner.lock().port
    }

    /// Whether a socket is bound.
    pub fn is_bound(&self) -> bool {
        !self.sock.load(Ordering::Acquire).is_null()
    }

    /// Routes `skb` (whose data is the UDP payload) to `dst` and sends it
    /// from `src_port` to `dst_port`, with the UDP checksum, `tos` and the
    /// route's hop limit as TTL; `oif`, if not 0, is the ifindex of the
    /// netdev the route must leave through (the source address is then
    /// one of its addresses). Never sleeps (transmits with bottom halves
    /// off, as the IP tunnel code requires); must not be called with
    /// interrupts off. Errors: `ENOTCONN` (no socket bound), `EMSGSIZE`
    /// (more than an IPv4 datagram holds), `ENETUNREACH` (no route),
    /// `ENOMEM` (no headroom could be made); the skb is freed either way.
    pub fn send4(
        &self,
        mut skb: SkBuff,
        dst: [u8; 4],
        src_port: u16,
        dst_port: u16,
        tos: u8,
        oif: i32,
    ) -> Result {
        // IPv4 and UDP headers included, a datagram is at most 65535 bytes.
        if skb.len() > 65535 - 20 - 8 {
            return Err(EMSGSIZE);
        }
        let _rcu = crate::sync::rcu::read_lock();
        let sock = self.sock.load(Ordering::Acquire);
        if sock.is_null() {
            return Err(ENOTCONN);
        }
        // SAFETY: a published socket stays alive until a grace period after
        // it is cleared (type invariant), and we are inside a read-side
        // critical section; `sk` never changes for a kernel socket.
        let sk = unsafe { (*sock).sk };
        let daddr = u32::from_ne_bytes(dst);
        // SAFETY: all-zero is a valid `flowi4` (any source, no mark).
        let mut fl4: bindings::flowi4 = unsafe { core::mem::zeroed() };
        fl4.daddr = daddr;
        fl4.__fl_common.flowic_oif = oif;
        // CAST: IPPROTO_UDP is 17.
        fl4.__fl_common.flowic_proto = bindings::IPPROTO_UDP as u8;
        fl4.uli.ports.sport = src_port.to_be();
        fl4.uli.ports.dport = dst_port.to_be();
        // SAFETY: `sk` is our live socket (above), whose namespace is alive
        // (the contract of `bind`); `fl4` is valid.
        let rt = unsafe { bindings::udp_tunnel_route4(sk, &mut fl4) };
        let rt = NonNull::new(rt).ok_or(ENETUNREACH)?;
        // Room for the UDP and IPv4 headers and the link layer's.
        // SAFETY: `rt` is a held route.
        let room = unsafe { bindings::udp_tunnel_headroom4(rt.as_ptr()) };
        if let Err(e) = skb.make_headroom(usize::try_from(room).unwrap_or(usize::MAX)) {
            // SAFETY: drops the route reference we hold.
            unsafe { bindings::ip_rt_put(rt.as_ptr()) };
            return Err(e);
        }
        let saddr = fl4.saddr;
        // SAFETY: `rt` is a held route.
        let ttl = u8::try_from(unsafe { bindings::udp_tunnel_ttl4(rt.as_ptr()) }).unwrap_or(64);
        let skb = skb.into_raw();
        // The skb is sent from no device of ours: a received skb reused here
        // must not make the tunnel code count statistics on its old device.
        // SAFETY: we own the only reference to `skb`.
        unsafe { bindings::udp_tunnel_skb_clear_dev(skb.as_ptr()) };
        // SAFETY: `rt` is a held route whose reference and `skb` (the only
        // reference, with the headroom the headers need) pass to
        // `udp_tunnel_xmit_skb`, which consumes both; `sk` is our socket.
        // `iptunnel_xmit` updates a per-CPU recursion counter: bottom
        // halves are off around it.
        unsafe {
            bindings::udp_tunnel_bh_disable();
            bindings::udp_tunnel_xmit_skb(
                rt.as_ptr(),
                sk,
                skb.as_ptr(),
                saddr,
                daddr,
                tos,
                ttl,
                0,
                src_port.to_be(),
                dst_port.to_be(),
                false,
                false,
                0,
            );
            bindings::udp_tunnel_bh_enable();
        }
        Ok(())
    }

    /// Routes `skb` (whose data is the UDP payload) to the IPv6 address
    /// `dst` and sends it from `src_port` to `dst_port`, with the UDP
    /// checksum, traffic class `tclass` and the route's hop limit. The
    /// calling context and errors are those of [`Self::send4`];
    /// `EAFNOSUPPORT` without an IPv6 socket.
    #[cfg(CONFIG_IPV6)]
    pub fn send6(
        &self,
        mut skb: SkBuff,
        dst: [u8; 16],
        src_port: u16,
        dst_port: u16,
        tclass: u8,
        oif: i32,
    ) -> Result {
        // The UDP header included, an IPv6 payload is at most 65535 bytes.
        if skb.len() > 65535 - 8 {
            return Err(EMSGSIZE);
        }
        let _rcu = crate::sync::rcu::read_lock();
        if self.sock.load(Ordering::Acquire).is_null() {
            return Err(ENOTCONN);
        }
        let sock = self.sock6.load(Ordering::Acquire);
        if sock.is_null() {
            return Err(EAFNOSUPPORT);
        }
        // SAFETY: as in `send4`.
        let sk = unsafe { (*sock).sk };
        // SAFETY: all-zero is a valid `flowi6` (any source, no mark).
        let mut fl6: bindings::flowi6 = unsafe { core::mem::zeroed() };
        // SAFETY: `in6_addr` is a union of byte, word and dword arrays of
        // the same 16 bytes: any bytes are valid.
        fl6.daddr = unsafe { core::mem::transmute::<[u8; 16], bindings::in6_addr>(dst) };
        fl6.__fl_common.flowic_oif = oif;
        // CAST: IPPROTO_UDP is 17.
        fl6.__fl_common.flowic_proto = bindings::IPPROTO_UDP as u8;
        fl6.uli.ports.sport = src_port.to_be();
        fl6.uli.ports.dport = dst_port.to_be();
        // SAFETY: `sk` is our live socket, whose namespace is alive (the
        // contract of `bind`); `fl6` is valid.
        let dst_entry = unsafe { bindings::udp_tunnel_route6(sk, &mut fl6) };
        let dst_entry = NonNull::new(dst_entry).ok_or(ENETUNREACH)?;
        // SAFETY: `dst_entry` is a held route.
        let room = unsafe { bindings::udp_tunnel_headroom6(dst_entry.as_ptr()) };
        if let Err(e) = skb.make_headroom(usize::try_from(room).unwrap_or(usize::MAX)) {
            // SAFETY: drops the route reference we hold.
            unsafe { bindings::dst_release(dst_entry.as_ptr()) };
            return Err(e);
        }
        // SAFETY: `dst_entry` is a held route.
        let ttl =
            u8::try_from(unsafe { bindings::udp_tunnel_ttl6(dst_entry.as_ptr()) }).unwrap_or(64);
        let saddr = fl6.saddr;
        let daddr = fl6.daddr;
        let skb = skb.into_raw();
        // SAFETY: we own the only reference to `skb`.
        unsafe { bindings::udp_tunnel_skb_clear_dev(skb.as_ptr()) };
        // SAFETY: `dst_entry` is a held route whose reference and `skb`
        // (the only reference, with the headroom the headers need) pass to
        // `udp_tunnel6_xmit_skb`, which consumes both; `sk` is our socket;
        // no device is named (no tunnel device statistics). Bottom halves
        // are off around it, as around `iptunnel_xmit` in `send4`.
        unsafe {
            bindings::udp_tunnel_bh_disable();
            bindings::udp_tunnel6_xmit_skb(
                dst_entry.as_ptr(),
                sk,
                skb.as_ptr(),
                core::ptr::null_mut(),
                &saddr,
                &daddr,
                tclass,
                ttl,
                0,
                src_port.to_be(),
                dst_port.to_be(),
                false,
                0,
            );
            bindings::udp_tunnel_bh_enable();
        }
        Ok(())
    }

    /// # Safety
    ///
    /// Called by the UDP layer in softirq, under the RCU read lock, for a
    /// socket set up by `bind`, with an skb it gives to us.
    unsafe extern "C" fn encap_rcv(sk: *mut bindings::sock, skb: *mut bindings::sk_buff) -> c_int {
        // SAFETY: `sk` is valid for the call; RCU read lock held.
        let data = unsafe { bindings::udp_tunnel_sk_user_data_rcu(sk) };
        let Some(skb) = NonNull::new(skb) else {
            return 0;
        };
        // SAFETY: the UDP layer passes the only reference of `skb` to the
        // encap handler, which must consume it.
        let skb = unsafe { SkBuff::from_raw(skb) };
        if data.is_null() {
            // The socket is being released: drop the datagram.
            drop(skb);
            return 0;
        }
        // SAFETY: `sk_user_data` is the `user` box of a bound `UdpTunnel`,
        // or null once its release began; the box is
        // freed only an RCU grace period after the release, and we are
        // inside a read-side critical section.
        let handler = unsafe { &*data.cast::<Arc<T>>() };
        T::recv(handler.as_arc_borrow(), skb);
        0
    }
}

#[pinned_drop]
impl<T: EncapHandler> PinnedDrop for UdpTunnel<T> {
    fn drop(self: Pin<&mut Self>) {
        // A tunnel that was shut down (or never bound) is dropped without
        // sleeping, so its owner may go in any context once it shut it
        // down in process context.
        if self.is_bound() {
            self.shutdown();
        }
    }
}
