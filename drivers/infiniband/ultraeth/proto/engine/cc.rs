// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Congestion control: an NSCC-style sender window.
//!
//! UEC 1.0 describes NSCC (network-signal congestion control) publicly as
//! a sender window driven by two signals: ECN marks echoed by the target
//! and the queueing delay the sender measures (RTT above the smallest RTT
//! seen). The four combinations are handled as NSCC does:
//!
//! * no mark, low delay: the window grows, fast (doubling per RTT) during
//!   start-up (until the first mark or high delay) while the delay is
//!   under half the target, by one packet per RTT otherwise;
//! * marks, high delay: once per RTT, a multiplicative decrease by half
//!   the average marked fraction (`alpha`, as DCTCP keeps it);
//! * marks, low delay (a queue already draining, or a base RTT measured
//!   late): a quarter of the marked fraction;
//! * no mark, high delay: a decrease in proportion to the excess delay (at
//!   most a quarter per RTT), so that a path without ECN still keeps its
//!   queue near the target.
//!
//! The delay of the once-per-RTT decisions is that of the RTT's smallest
//! sample: a queue delays every packet, jitter only some (on a software
//! path, scheduling jitter alone exceeds a fabric's target on most
//! samples, which held the window at one packet).
//!
//! Random loss does not shrink the window (UET sprays packets and relies
//! on the signals above); a retransmission timeout halves it.
//!
//! The window starts at one bandwidth-delay product when the line rate
//! and the base RTT are configured (NSCC starts at line rate), and new
//! packets are paced at the window per SRTT (times a gain): the first
//! window does not leave as one burst, and a fractional window becomes a
//! rate. Both are what makes incast shares fair (ultraeth-engine.rst).
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

/// How the queueing delay of an RTT's smallest sample compared with the
/// target: below half of it, below it, above it.
pub(super) const Q_LOW: u8 = 0;
const Q_UNDER: u8 = 1;
const Q_HIGH: u8 = 2;

/// One packet in the window's fixed-point unit.
const ONE: u32 = 256;

/// Pacing gain in steady state (1/256): packets leave at this many times
/// the window per SRTT.
const PACE_GAIN: u32 = 320;

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
        // Rounded up: the pacing rate carries the fraction (a window of
        // 2.3 packets keeps 3 in flight but paces them at 2.3 per SRTT).
        self.pdcs[pi]
            .cwnd
            .div_ceil(ONE)
            .clamp(1, self.cfg.max_inflight)
    }

    /// Initial window (packets): one bandwidth-delay product when the line
    /// rate and the base RTT are configured (NSCC starts at line rate and
    /// lets the signals cut it), `cc_init_window` otherwise.
    pub(super) fn cc_init_window(&self) -> u32 {
        let c = &self.cfg;
        if c.cc_line_rate == 0 || c.cc_base_rtt == 0 {
            return c.cc_init_window;
        }
        // No u128 (the kernel has no 128-bit division): 1.6 Tb/s times 1 ms
        // still fits, and a saturated product only clamps the window.
        let bytes = c.cc_line_rate.saturating_mul(c.cc_base_rtt) / 8_000_000_000;
        let pkts = bytes.div_ceil(u64::from(c.mtu.max(1)));
        u32::try_from(pkts)
            .unwrap_or(u32::MAX)
            .clamp(1, c.max_inflight)
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
            let r = u32::try_from(r).unwrap_or(u32::MAX);
            if d.base_rtt == 0 || r < d.base_rtt {
                d.base_rtt = r;
            }
            d.cc_min = d.cc_min.min(r);
        }
        if self.cfg.cc_base_rtt != 0 {
            d.base_rtt = u32::try_from(self.cfg.cc_base_rtt).unwrap_or(u32::MAX);
        }
        let base = u64::from(d.base_rtt);
        let Some(r) = rtt.or((d.rtt.srtt > 0).then_some(d.rtt.srtt)) else {
            return;
        };
        // The first mark or high delay ends the start-up for good: from
        // then on growth is additive, which is what makes shares fair.
        if ecn || r.saturating_sub(base) > tq {
            d.cc_steady = true;
        }
        d.cc_acked = d.cc_acked.saturating_add(acked);
        if ecn {
            // Every packet this ACK acknowledges was marked: the target
            // never lets one ACK cover packets of both ECN states.
            d.cc_marked = d.cc_marked.saturating_add(acked);
        }
        if now >= d.cc_at {
            // Once per RTT: the marked fraction (DCTCP-style average, gain
            // 1/4) and the delay decide the decrease. The queueing delay
            // is that of the RTT's smallest sample: a queue delays every
            // packet, jitter (a software path's scheduling, a few
            // microseconds to milliseconds) only some, and judged by
            // single samples it kept the window at one packet.
            let delay = u64::from(d.cc_min).min(r).saturating_sub(base);
            d.cc_q = if delay > tq {
                Q_HIGH
            } else if delay >= tq / 2 {
                Q_UNDER
            } else {
                Q_LOW
            };
            d.cc_min = u32::MAX;
            let frac = (u64::from(d.cc_marked) * 1024 / u64::from(d.cc_acked.max(1))).min(1024);
            // CAST: both terms are at most 1024.
            d.cc_alpha = ((3 * u64::from(d.cc_alpha) + frac) / 4) as u16;
            let cwnd = u64::from(d.cwnd);
            let cut = if d.cc_marked > 0 {
                // Marks and high delay: cut by alpha / 2; marks with a low
                // delay (a queue already draining): by alpha / 4.
                let c = cwnd * u64::from(d.cc_alpha) / 2048;
                if delay > tq {
                    c
                } else {
                    c / 2
                }
            } else if delay > tq {
                // No marks (a path without ECN), high delay: in proportion
                // to the excess, at most a quarter.
                cwnd * (delay - tq).min(r) / (4 * r.max(1))
            } else {
                0
            };
            // CAST: cut <= cwnd / 2, a u32.
            d.cwnd = (d.cwnd - cut as u32).max(ONE);
            d.cc_acked = 0;
            d.cc_marked = 0;
            d.cc_at = now + r;
        }
        if !ecn && d.cc_q != Q_HIGH {
            let step = if !d.cc_steady && d.cc_q == Q_LOW {
                // Start-up, far below the target: double per RTT.
                acked.saturating_mul(ONE)
            } else {
                // Otherwise one packet per RTT.
                acked.saturating_mul(ONE).saturating_mul(ONE) / d.cwnd.max(ONE)
            };
            d.cwnd = d.cwnd.saturating_add(step).min(max);
        }
    }

    /// A new packet of PDC `pi` leaves at `now`: the next may leave one
    /// pacing interval later (SRTT / cwnd, sped up by a gain).
    pub(super) fn pace_sent(&mut self, pi: usize, now: u64) {
        if !self.cfg.cc {
            return;
        }
        let d = &mut self.pdcs[pi];
        d.pace_wait = false;
        let rtt = if d.rtt.srtt != 0 {
            d.rtt.srtt
        } else {
            self.cfg.cc_base_rtt
        };
        if rtt == 0 {
            return;
        }
        let gain = if d.cc_steady { PACE_GAIN } else { 2 * ONE };
        let iv =
            rtt * u64::from(ONE) * u64::from(ONE) / (u64::from(d.cwnd.max(ONE)) * u64::from(gain));
        d.pace_at = d.pace_at.max(now.saturating_sub(iv)) + iv;
    }

    /// A packet of PDC `pi` was trimmed (NACK TRIMMED or TRIMMED_LASTHOP):
    /// a switch queue overflowed. It counts as a marked packet of the
    /// current RTT (the decrease follows at the next ACK, once per RTT, as
    /// for ECN marks) and ends the start-up (review F10).
    pub(super) fn cc_on_trim(&mut self, pi: usize) {
        if !self.cfg.cc {
            return;
        }
        let d = &mut self.pdcs[pi];
        d.cc_steady = true;
        d.cc_acked = d.cc_acked.saturating_add(1);
        d.cc_marked = d.cc_marked.saturating_add(1);
    }

    /// A retransmission timeout halves PDC `pi`'s window.
    pub(super) fn cc_on_rto(&mut self, pi: usize) {
        let d = &mut self.pdcs[pi];
        d.cwnd = (d.cwnd / 2).max(ONE);
    }
}
