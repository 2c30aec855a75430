// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The UDP tunnel on port 4793 of a network namespace, shared by the uet
//! devices in it.
//!
//! UET has one well-known port, so a namespace has one socket pair (IPv4
//! and IPv6) for all its devices: the first device that creates an
//! endpoint binds it, the others join it, and the last one to leave
//! releases it. Received datagrams go to the device of the netdev they
//! came in on.
//!
//! There is no global registry: a device looking for its namespace's
//! tunnel asks the uet devices of the other netdevs of the namespace
//! (under RTNL, which also serialises joining and binding).

use super::fep::Fep;
use kernel::{
    net::{
        skb::SkBuff,
        udp_tunnel::{
            EncapHandler,
            UdpTunnel, //
        },
    },
    new_spinlock_irq,
    prelude::*,
    rdma::netdev::{
        NetDevice,
        Rtnl, //
    },
    sync::{
        Arc,
        ArcBorrow,
        SpinLockIrq, //
    },
};

/// The UDP port of UET (UEC 1.0).
pub(crate) const UET_UDP_PORT: u16 = 4793;

/// A namespace's UDP tunnel and the devices that use it.
///
/// Calling context: joining, binding and leaving run in process context
/// under RTNL; receiving runs in softirq.
#[pin_data]
pub(crate) struct NetTunnel {
    #[pin]
    tunnel: UdpTunnel<NetTunnel>,
    /// The FEPs using the tunnel, by the ifindex of their netdev: the
    /// receive path's demultiplexer. Irq-safe, innermost.
    #[pin]
    feps: SpinLockIrq<KVec<(i32, Arc<Fep>)>>,
}

impl NetTunnel {
    /// The tunnel of `netdev`'s namespace, joined by `fep`: another uet
    /// device's tunnel of the namespace if one is bound, else a new one,
    /// bound now. `EADDRINUSE` if something else holds port 4793.
    pub(crate) fn join(rtnl: &Rtnl, netdev: &NetDevice, fep: &Arc<Fep>) -> Result<Arc<Self>> {
        let mut found: Option<Arc<Self>> = None;
        rtnl.for_each_in_net_of(netdev, |nd| {
            if found.is_some() || nd.ifindex() == netdev.ifindex() {
                return;
            }
            if let Some(t) = crate::verbs::tunnel_of(nd) {
                if t.tunnel.is_bound() {
                    found = Some(t);
                }
            }
        });
        let entry = (netdev.ifindex(), fep.clone());
        let Some(this) = found else {
            // A new tunnel: its list has room for the first FEP before the
            // socket is bound, so that nothing can fail after binding.
            let mut first = KVec::with_capacity(4, GFP_KERNEL)?;
            first.push(entry, GFP_KERNEL)?;
            let t = Arc::pin_init(
                pin_init!(Self {
                    tunnel <- UdpTunnel::new(),
                    feps <- new_spinlock_irq!(first, "uet_soft::NetTunnel::feps"),
                }),
                GFP_KERNEL,
            )?;
            // SAFETY: RTNL is held (`rtnl`), so `netdev` does not move to
            // another namespace meanwhile. The tunnel is shut down before
            // the namespace goes: every device that joined leaves it at its
            // netdev's NETDEV_UNREGISTER (which every netdev of a dying
            // namespace, and one leaving it, gets) or earlier, and the last
            // one to leave shuts it down.
            unsafe { t.tunnel.bind(netdev, UET_UDP_PORT, t.clone()) }?;
            return Ok(t);
        };
        // Joining a bound tunnel: nothing joins concurrently (RTNL), but a
        // FEP may leave meanwhile. The list grows outside its lock (which
        // must not be held while allocating) and is moved over under it.
        let len = this.feps.lock().len();
        let mut bigger = KVec::with_capacity(len + 4, GFP_KERNEL)?;
        let old = {
            let mut feps = this.feps.lock();
            if feps.len() < feps.capacity() {
                let _ = feps.push_within_capacity(entry);
                None
            } else {
                for x in feps.drain_all() {
                    let _ = bigger.push_within_capacity(x);
                }
                let _ = bigger.push_within_capacity(entry);
                Some(core::mem::replace(&mut *feps, bigger))
            }
        };
        // References and memory go after the lock.
        drop(old);
        Ok(this)
    }

    /// `fep` stops using the tunnel; the last one to leave releases the
    /// sockets. Under RTNL, as joining is: a tunnel found by a joiner
    /// still has a user. Process context; may sleep.
    pub(crate) fn leave(&self, _rtnl: &Rtnl, fep: &Fep) {
        let (gone, empty) = {
            let mut feps = self.feps.lock();
            let gone = feps
                .iter()
                .position(|(_, f)| core::ptr::eq(&**f, fep))
                .and_then(|i| feps.remove(i).ok());
            (gone, feps.is_empty())
        };
        // The FEP's reference goes after the lock.
        drop(gone);
        if empty {
            self.tunnel.shutdown();
        }
    }

    /// Sends `skb` to `dst` (IPv4-mapped or IPv6) from UDP port `sport`,
    /// with DSCP 0 and ECN field `ecn` (ECT(0) on requests, whose CE
    /// marks congestion control reads). Never sleeps; must not be called
    /// with interrupts off.
    /// The route leaves through netdev `oif` (the sending device's), so a
    /// peer answers the device that sent.
    pub(crate) fn send(
        &self,
        skb: SkBuff,
        dst: &[u8; 16],
        sport: u16,
        ecn: u8,
        oif: i32,
    ) -> Result {
        let tos = ecn & 3;
        if dst[..10] == [0u8; 10] && dst[10..12] == [0xff, 0xff] {
            let v4 = [dst[12], dst[13], dst[14], dst[15]];
            self.tunnel.send4(skb, v4, sport, UET_UDP_PORT, tos, oif)
        } else {
            self.tunnel.send6(skb, *dst, sport, UET_UDP_PORT, tos, oif)
        }
    }
}

impl EncapHandler for NetTunnel {
    fn recv(this: ArcBorrow<'_, Self>, skb: SkBuff) {
        let Ok(addrs) = skb.ip_addrs() else {
            return;
        };
        let iif = skb.iif();
        // The device of the netdev the datagram came in on; or, for one
        // that came through another netdev (`lo` for a local address), the
        // device whose netdev has the destination address; or the only
        // device. The FEP is taken out of the list before it runs: its
        // receive path sends packets, which must not happen under an
        // irq-safe lock. If its device goes meanwhile, this reference may
        // be the last one: a FEP whose device was deallocated holds
        // nothing whose release sleeps (no endpoints, no memory keys, its
        // timer cancelled).
        let fep = {
            let feps = this.feps.lock();
            let by_iif = feps.iter().find(|(i, _)| *i == iif);
            let found = match by_iif {
                Some(f) => Some(f),
                None if feps.len() == 1 => feps.first(),
                None => feps.iter().find(|(_, f)| f.has_addr(&addrs.dst)),
            };
            found.map(|(_, f)| f.clone())
        };
        match fep {
            Some(fep) => fep.as_arc_borrow().recv(skb, &addrs),
            // Not for a uet device of the namespace.
            None => drop(skb),
        }
    }
}
