// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! UDP tunnel sockets: kernel UDP sockets whose datagrams go to a callback
//! instead of a socket queue, as VXLAN and Geneve use them.
//!
//! C header: [`include/net/udp_tunnel.h`](srctree/include/net/udp_tunnel.h)
//!
//! A [`UdpTunnelSocket`] binds a UDP port in a network namespace and hands
//! every datagram for it to its [`EncapHandler`] (in softirq, under RCU);
//! [`UdpTunnelSocket::send4`] routes an skb and sends it with UDP and IPv4
//! headers in front. IPv4 only for now.

use crate::{
    bindings,
    error::to_result,
    net::skb::SkBuff,
    prelude::*,
    rdma::netdev::NetDevice,
    sync::Arc, //
};
use core::ptr::NonNull;

/// Receiver of the datagrams of a [`UdpTunnelSocket`].
pub trait EncapHandler: Send + Sync + 'static {
    /// A datagram arrived: `skb`'s data starts at its UDP header, whose
    /// checksum the UDP layer verified. Called in softirq with the RCU read
    /// lock held: must not sleep. Consumes the skb.
    fn recv(&self, skb: SkBuff);
}

/// A bound UDP tunnel socket; released on drop.
///
/// # Invariants
///
/// `sock` is a kernel UDP socket created by `udp_sock_create4()` and set up
/// with `setup_udp_tunnel_sock()`, whose `sk_user_data` is `user` until
/// `drop` releases the socket. `user` is a leaked `KBox<Arc<T>>` (8-byte
/// aligned, as `sk_user_data` needs: its low bits are flags) holding a
/// reference to `handler`, freed an RCU grace period after the release.
pub struct UdpTunnelSocket<T: EncapHandler> {
    sock: NonNull<bindings::socket>,
    user: NonNull<Arc<T>>,
    handler: Arc<T>,
    port: u16,
}

// SAFETY: the socket may be used and released from any thread in process
// context; `T` is `Send + Sync`, and `user` only holds an `Arc<T>`.
unsafe impl<T: EncapHandler> Send for UdpTunnelSocket<T> {}
// SAFETY: `&UdpTunnelSocket` only sends packets, which the networking core
// allows concurrently on one socket.
unsafe impl<T: EncapHandler> Sync for UdpTunnelSocket<T> {}

impl<T: EncapHandler> UdpTunnelSocket<T> {
    /// Binds UDP `port` on every IPv4 address of the network namespace of
    /// `netdev` and delivers its datagrams to `handler`. `EADDRINUSE` if
    /// the port is taken. Process context; may sleep.
    ///
    /// # Safety
    ///
    /// The socket does not keep its namespace alive: it must be dropped
    /// before the namespace exits, and `netdev` must not move to another
    /// namespace during the call (hold RTNL, or use a netdev that cannot
    /// move, such as `lo`). Dropping the socket when `netdev` unregisters
    /// (`NETDEV_UNREGISTER`, which every netdev of a dying namespace and a
    /// moving netdev get) satisfies the first part.
    pub unsafe fn bind(netdev: &NetDevice, port: u16, handler: Arc<T>) -> Result<Self> {
        // SAFETY: `netdev` is valid and does not change namespace during the
        // call (caller), so its namespace is alive while we bind.
        let net = unsafe { bindings::dev_net(netdev.as_raw()) };
        // SAFETY: all-zero is a valid `udp_port_cfg` (any address, no
        // checksum options).
        let mut cfg: bindings::udp_port_cfg = unsafe { core::mem::zeroed() };
        // CAST: AF_INET is 2.
        cfg.family = bindings::AF_INET as u8;
        cfg.local_udp_port = port.to_be();
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `net` is live (above); `cfg` and `sock` are valid for the
        // call, which may sleep (we are in process context).
        to_result(unsafe { bindings::udp_sock_create4(net, &mut cfg, &mut sock) })?;
        let sock = NonNull::new(sock).ok_or(ENOMEM)?;
        let user = match KBox::new(handler.clone(), GFP_KERNEL) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: the socket we just created, not set up yet.
                unsafe { bindings::udp_tunnel_sock_release((*sock.as_ptr()).sk) };
                return Err(e.into());
            }
        };
        let user = NonNull::from(KBox::leak(user));
        // SAFETY: all-zero is a valid `udp_tunnel_sock_cfg` (no callbacks).
        let mut tcfg: bindings::udp_tunnel_sock_cfg = unsafe { core::mem::zeroed() };
        tcfg.sk_user_data = user.as_ptr().cast();
        tcfg.encap_type = 1;
        tcfg.encap_rcv = Some(Self::encap_rcv);
        // SAFETY: `sock` is the socket just created; `user` stays allocated
        // until an RCU grace period after the socket's release (`drop`),
        // which covers every callback that read `sk_user_data`.
        unsafe { bindings::setup_udp_tunnel_sock(net, (*sock.as_ptr()).sk, &mut tcfg) };
        // INVARIANT: created and set up with `user` as user data.
        Ok(Self {
            sock,
            user,
            handler,
            port,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<T> {
        &self.handler
    }

    /// Routes `skb` (whose data is the UDP payload) to `dst` and sends it
    /// from `src_port` to `dst_port`, with the UDP checksum, `tos` and the
    /// route's hop limit as TTL. Never sleeps (transmits with bottom halves
    /// off, as the IP tunnel code requires). Errors: `EMSGSIZE` (more than
    /// an IPv4 datagram holds), `ENETUNREACH` (no route), `ENOMEM` (no
    /// headroom could be made); the skb is freed either way.
    pub fn send4(
        &self,
        mut skb: SkBuff,
        dst: [u8; 4],
        src_port: u16,
        dst_port: u16,
        tos: u8,
    ) -> Result {
        // IPv4 and UDP headers included, a datagram is at most 65535 bytes.
        if skb.len() > 65535 - 20 - 8 {
            return Err(EMSGSIZE);
        }
        let sk = self.sk();
        let daddr = u32::from_ne_bytes(dst);
        // SAFETY: all-zero is a valid `flowi4` (any source, no mark).
        let mut fl4: bindings::flowi4 = unsafe { core::mem::zeroed() };
        fl4.daddr = daddr;
        // CAST: IPPROTO_UDP is 17.
        fl4.__fl_common.flowic_proto = bindings::IPPROTO_UDP as u8;
        fl4.uli.ports.sport = src_port.to_be();
        fl4.uli.ports.dport = dst_port.to_be();
        // SAFETY: `sk` is our live socket, whose namespace is alive (type
        // invariant and the contract of `bind`); `fl4` is valid.
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

    fn sk(&self) -> *mut bindings::sock {
        // SAFETY: `sock` is live until `drop` (type invariant); `sk` never
        // changes for a kernel socket.
        unsafe { (*self.sock.as_ptr()).sk }
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
        // SAFETY: `sk_user_data` is the `user` box of a live
        // `UdpTunnelSocket`, or null once its release began; the box is
        // freed only an RCU grace period after the release, and we are
        // inside a read-side critical section.
        let handler = unsafe { &*data.cast::<Arc<T>>() };
        handler.recv(skb);
        0
    }
}

impl<T: EncapHandler> Drop for UdpTunnelSocket<T> {
    fn drop(&mut self) {
        // Releasing the socket and waiting for a grace period sleep.
        crate::task::might_sleep();
        // SAFETY: `sock` is our live socket (type invariant); this clears
        // `sk_user_data`, shuts it down and releases it, once.
        unsafe { bindings::udp_tunnel_sock_release(self.sk()) };
        // Callbacks that read `sk_user_data` before it was cleared are done
        // after a grace period; only then may `handler` go.
        // SAFETY: plain call; we are in process context (may sleep).
        unsafe { bindings::synchronize_rcu() };
        // SAFETY: leaked in `bind`; no callback can see it any more.
        drop(unsafe { KBox::from_raw(self.user.as_ptr()) });
    }
}
