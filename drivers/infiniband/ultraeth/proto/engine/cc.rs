// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Congestion control: an NSCC-style sender window.
//!
//! UEC 1.0 describes NSCC (network-signal congestion control) publicly as
//! a sender window driven by two signals: ECN marks echoed by the target
//! and the queueing delay the sender measures (RTT above the smallest RTT
//! seen). The four combinations are handled as NSCC does:
//!
//! * no mark, low delay: the window grows, fast (doubling per RTT) while
//!   the delay is under half the target, by one packet per RTT above;
//! * mark, high delay: multiplicative decrease in proportion to the excess
//!   delay, at most once per RTT;
//! * mark, low delay: transient (a queue that is already draining): hold;
//! * no mark, high delay: a gentler decrease (half of the marked one), so
//!   that a path without ECN still keeps its queue near the target.
//!
//! Random loss does not shrink the window (UET sprays packets and relies
//! on the signals above); a retransmission timeout halves it.
//!
//! The window is kept in 1/256 packets. The target fills the NSCC state of
//! ACK_CC: bytes received since its previous ACK (24 bits), the number of
//! PSNs it holds out of order (16 bits), and the time it held the ACK
//! (service time, 16 bits, in 64 ns units, saturating), which the sender
//! subtracts from its RTT samples. The public sources give the field
//! names and sizes (Wireshark's `packet-uet.c`), not their units: the
//! units here are this engine's choice.

use super::{
    Engine,
    Slab, //
};

/// One packet in the window's fixed-point unit.
const ONE: u32 = 256;

/// NSCC fields of the ACK_CC state (64 bits, big endian on the wire):
/// service time (16) | restore cwnd (1) | cwnd penalty (7) | received
/// bytes (24) | out-of-order count (16).
pub(crate) fn cc_state(service_ns: u64, rcvd_bytes: u32, ooo: u32) -> u64 {
    let st = (service_ns >> 6).min(0xffff);
    let rb = u64::from(rcvd_bytes.min(0x00ff_ffff));
    let oo = u64::from(ooo.min(0xffff));
    (st << 48) | (rb << 16) | oo
}

/// Service time (ns) of an NSCC ACK_CC state.
pub(crate) fn cc_service_ns(state: u64) -> u64 {
    (state >> 48) << 6
}

impl<S: Slab> Engine<S> {
    /// Packets PDC `pi` may have in flight: its congestion window, within
    /// `max_inflight`.
    pub(super) fn cwnd(&self, pi: usize) -> u32 {
        (self.pdcs[pi].cwnd / ONE).clamp(1, self.cfg.max_inflight)
    }

    /// Feeds one ACK to PDC `pi`'s window: `acked` packets newly
    /// acknowledged, an RTT sample if the ACK gave one, and whether the
    /// target saw an ECN mark.
    pub(super) fn cc_on_ack(
        &mut self,
        pi: usize,
        now: u64,
        acked: u32,
        rtt: Option<u64>,
        ecn: bool,
    ) {
        if !self.cfg.cc {
            return;
        }
        let tq = self.cfg.cc_target_qdelay;
        let max = self.cfg.max_inflight.saturating_mul(ONE);
        let d = &mut self.pdcs[pi];
        if let Some(r) = rtt {
            if d.base_rtt == 0 || r < d.base_rtt {
                d.base_rtt = r;
            }
        }
        let Some(r) = rtt.or((d.rtt.srtt > 0).then_some(d.rtt.srtt)) else {
            return;
        };
        let delay = r.saturating_sub(d.base_rtt);
        let high = delay > tq;
        match (ecn, high) {
            (false, false) => {
                let step = if delay < tq / 2 {
                    // Far below the target: double per RTT.
                    acked.saturating_mul(ONE)
                } else {
                    // Near it: one packet per RTT.
                    acked.saturating_mul(ONE).saturating_mul(ONE) / d.cwnd.max(ONE)
                };
                d.cwnd = d.cwnd.saturating_add(step).min(max);
            }
            (true, false) => {}
            (_, true) => {
                if now < d.cc_at {
                    return;
                }
                // Decrease in proportion to the excess delay, at most by
                // half (a quarter without an ECN mark), once per RTT.
                let excess = (delay - tq).min(r);
                let cut = u64::from(d.cwnd) * excess / (2 * r.max(1));
                let cut = if ecn { cut } else { cut / 2 };
                // CAST: cut <= cwnd / 2, a u32.
                d.cwnd = (d.cwnd - cut as u32).max(ONE);
                d.cc_at = now + r;
            }
        }
    }

    /// A retransmission timeout halves PDC `pi`'s window.
    pub(super) fn cc_on_rto(&mut self, pi: usize) {
        let d = &mut self.pdcs[pi];
        d.cwnd = (d.cwnd / 2).max(ONE);
    }
}
