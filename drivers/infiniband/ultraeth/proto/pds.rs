// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! PDS building blocks: PSN arithmetic, the receive window (cumulative ACK
//! plus a 1024-PSN bitmap), SACK encoding with the 8-PSN alignment, and the
//! RTT estimator with adaptive RTO and exponential backoff.
//!
//! The PDC state machines that use them live in `engine.rs`.

/// True when PSN `a` is before PSN `b` (serial-number arithmetic).
pub(crate) fn psn_lt(a: u32, b: u32) -> bool {
    // CAST: reinterpreting the wrapped difference as signed is the point.
    (a.wrapping_sub(b) as i32) < 0
}

/// True when PSN `a` is at or before PSN `b`.
pub(crate) fn psn_le(a: u32, b: u32) -> bool {
    a == b || psn_lt(a, b)
}

/// Receive side of a PDC: every PSN up to `cack` was received; above it,
/// a ring of [`RxWindow::SPAN`] bits (bit `psn % SPAN`) records what
/// arrived out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RxWindow {
    /// Cumulative ACK PSN.
    pub(crate) cack: u32,
    /// PSNs received above `cack` (0: no holes).
    above: u16,
    /// Received PSNs above `cack`, bit `psn % SPAN`.
    ring: [u64; 16],
}

/// What the receive window says about an arriving PSN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RxCheck {
    /// Not seen before and inside the window.
    New,
    /// Already received.
    Duplicate,
    /// Beyond the tracking window.
    OutOfWindow,
}

impl RxWindow {
    /// Window size in PSNs above `cack`.
    pub(crate) const SPAN: u32 = 1024;

    /// A window expecting `start` as the first PSN.
    pub(crate) const fn new(start: u32) -> Self {
        Self {
            cack: start.wrapping_sub(1),
            above: 0,
            ring: [0; 16],
        }
    }

    fn bit(psn: u32) -> (usize, u64) {
        let b = psn % Self::SPAN;
        // CAST: b / 64 < 16.
        ((b / 64) as usize, 1u64 << (b % 64))
    }

    fn has(&self, psn: u32) -> bool {
        let (w, m) = Self::bit(psn);
        self.ring[w] & m != 0
    }

    /// PSNs received above `cack`.
    pub(crate) fn above(&self) -> u32 {
        u32::from(self.above)
    }

    /// True when PSNs above `cack` were received (there are holes).
    pub(crate) fn holes(&self) -> bool {
        self.above != 0
    }

    /// Classifies `psn` without changing the window.
    pub(crate) fn check(&self, psn: u32) -> RxCheck {
        if psn_le(psn, self.cack) {
            return RxCheck::Duplicate;
        }
        let d = psn.wrapping_sub(self.cack).wrapping_sub(1);
        if d >= Self::SPAN {
            return RxCheck::OutOfWindow;
        }
        if self.has(psn) {
            RxCheck::Duplicate
        } else {
            RxCheck::New
        }
    }

    /// Records `psn` (which must be [`RxCheck::New`]) and advances `cack`
    /// over every contiguous received PSN (amortised O(1)).
    pub(crate) fn mark(&mut self, psn: u32) {
        if self.check(psn) != RxCheck::New {
            return;
        }
        if psn == self.cack.wrapping_add(1) {
            self.cack = psn;
        } else {
            let (w, m) = Self::bit(psn);
            self.ring[w] |= m;
            self.above += 1;
            return;
        }
        while self.above > 0 {
            let next = self.cack.wrapping_add(1);
            let (w, m) = Self::bit(next);
            if self.ring[w] & m == 0 {
                break;
            }
            self.ring[w] &= !m;
            self.above -= 1;
            self.cack = next;
        }
    }

    /// Delivers `psn`, which must be `cack + 1`, without moving past the
    /// PSNs received above it (ROD: those are held, not yet delivered):
    /// `cack` becomes `psn`, and `psn`'s own bit is cleared if it was set.
    pub(crate) fn advance(&mut self, psn: u32) {
        if psn != self.cack.wrapping_add(1) {
            return;
        }
        let (w, m) = Self::bit(psn);
        if self.ring[w] & m != 0 {
            self.ring[w] &= !m;
            self.above -= 1;
        }
        self.cack = psn;
    }

    /// True when `psn` was received.
    pub(crate) fn received(&self, psn: u32) -> bool {
        psn_le(psn, self.cack) || (self.check(psn) == RxCheck::Duplicate)
    }

    /// SACK for an ACK_CC: `(sack_psn_offset, bitmap)` for a 64-PSN block
    /// that holds `near` (the PSN that triggered the ACK) where possible,
    /// starting no lower than the first missing PSN; the base `cack +
    /// sack_psn_offset` is aligned down to a multiple of 8 and bit `i`
    /// reports PSN `base + i`. The sender accumulates the blocks of
    /// successive ACKs.
    pub(crate) fn sack(&self, near: u32) -> (i16, u64) {
        let lo = self.cack.wrapping_add(1) & !7;
        let hi = (near & !7).wrapping_sub(56);
        // Only a PSN inside the window (above cack, within SPAN) moves the
        // block: a duplicate far below (or a PSN far above) must not pick
        // a base whose offset does not fit the i16.
        let d = near.wrapping_sub(self.cack);
        let base = if d == 0 || d > Self::SPAN || psn_lt(hi, lo) {
            lo
        } else {
            hi
        };
        let map = self.sack_map(base);
        // CAST: base is within [cack - 7, cack + SPAN]: fits i16.
        (base.wrapping_sub(self.cack) as i32 as i16, map)
    }
}

impl RxWindow {
    /// Bit `i` set when PSN `base + i` was received, for `i` in 0..64:
    /// the same as asking [`RxWindow::received`] 64 times, built from two
    /// shifted words of the ring. `base` is at least `cack - 7` (as
    /// [`RxWindow::sack`] chooses it).
    fn sack_map(&self, base: u32) -> u64 {
        // CAST: the signed distance of base above cack + 1 is the point.
        let k = base.wrapping_sub(self.cack).wrapping_sub(1) as i32;
        // CAST: SPAN = 1024 fits i32.
        let span = Self::SPAN as i32;
        if !(-63..=span).contains(&k) {
            // Far from the window (no ACK asks for such a block): the
            // bit-by-bit definition, wraparound included.
            let mut map = 0u64;
            for i in 0..64u32 {
                if self.received(base.wrapping_add(i)) {
                    map |= 1 << i;
                }
            }
            return map;
        }
        // Bits 0..-k are at or below cack: received.
        let below = if k < 0 {
            // CAST: 0 < -k < 64.
            (1u64 << (-k) as u32) - 1
        } else {
            0
        };
        // Bits with base + i - cack - 1 < SPAN are in the ring.
        let room = span - k;
        let inside = if room >= 64 {
            u64::MAX
        } else {
            // CAST: 0 <= room < 64.
            (1u64 << room as u32) - 1
        };
        // The 64 ring bits from bit `base % SPAN` on, wrapping at the end
        // of the ring (SPAN is a multiple of 64).
        let s = base % Self::SPAN;
        // CAST: s / 64 < 16.
        let w = (s / 64) as usize;
        let sh = s % 64;
        let lo = self.ring.get(w).copied().unwrap_or(0);
        let bits = if sh == 0 {
            lo
        } else {
            let hi = self
                .ring
                .get((w + 1) % self.ring.len())
                .copied()
                .unwrap_or(0);
            (lo >> sh) | (hi << (64 - sh))
        };
        below | (bits & inside & !below)
    }
}

/// Decodes a SACK into the set of acknowledged PSNs, calling `f` for each.
pub(crate) fn sack_for_each(cack: u32, offset: i16, bitmap: u64, mut f: impl FnMut(u32)) {
    let base = cack.wrapping_add_signed(i32::from(offset));
    let mut m = bitmap;
    while m != 0 {
        let i = m.trailing_zeros();
        f(base.wrapping_add(i));
        m &= m - 1;
    }
}

/// RTT estimator (RFC 6298 style) with exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rtt {
    /// Smoothed RTT in ns (0: no sample yet).
    pub(crate) srtt: u64,
    /// RTT variance in ns.
    pub(crate) rttvar: u64,
    /// Current RTO in ns, including backoff.
    pub(crate) rto: u64,
}

impl Rtt {
    /// Fresh estimator starting at `init` ns.
    pub(crate) fn new(init: u64) -> Self {
        Self {
            srtt: 0,
            rttvar: 0,
            rto: init,
        }
    }

    /// Feeds one RTT sample (ns) and recomputes the RTO within bounds.
    ///
    /// RFC 6298, except that the variance falls slowly: a deviation above
    /// it counts with gain 1/4 as in RFC 6298, one below it with gain
    /// 1/32. With RFC 6298's symmetric gain the variance of a jittery
    /// path follows the mean deviation and dips after a few calm samples,
    /// and the RTO with it: on a lossless wire with RTTs of 0.3-3 ms it
    /// often fell below 3 ms, and timed out spuriously. Falling slowly it
    /// settles near the 90th percentile of the deviation instead (Linux
    /// keeps the largest deviation of the last RTT for the same reason).
    pub(crate) fn sample(&mut self, rtt: u64, min: u64, max: u64) {
        let rtt = rtt.max(1);
        if self.srtt == 0 {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
        } else {
            let err = self.srtt.abs_diff(rtt);
            if err >= self.rttvar {
                self.rttvar = (3 * self.rttvar + err) / 4;
            } else {
                self.rttvar -= (self.rttvar - err) / 32;
            }
            self.srtt = (7 * self.srtt + rtt) / 8;
        }
        self.rto = self.base_rto().clamp(min, max);
    }

    /// SRTT + 4 RTTVAR (ns), before bounds and backoff.
    pub(crate) fn base_rto(&self) -> u64 {
        self.srtt.saturating_add(self.rttvar.saturating_mul(4))
    }

    /// Doubles the RTO after a timeout, up to `max`.
    pub(crate) fn backoff(&mut self, max: u64) {
        self.rto = self.rto.saturating_mul(2).min(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psn_compare_wraps() {
        assert!(psn_lt(u32::MAX, 0));
        assert!(psn_lt(5, 6));
        assert!(!psn_lt(6, 6));
        assert!(psn_le(6, 6));
        assert!(psn_lt(0x7fff_ffff, 0x8000_0000));
    }

    #[test]
    fn rx_window_in_and_out_of_order() {
        let mut w = RxWindow::new(u32::MAX - 2);
        assert_eq!(w.check(u32::MAX - 3), RxCheck::Duplicate);
        assert_eq!(w.check(u32::MAX - 2), RxCheck::New);
        w.mark(u32::MAX);
        assert_eq!(w.cack, u32::MAX - 3);
        assert!(w.holes());
        assert_eq!(w.check(u32::MAX), RxCheck::Duplicate);
        w.mark(u32::MAX - 2);
        w.mark(u32::MAX - 1);
        assert_eq!(w.cack, u32::MAX);
        assert!(!w.holes());
        // The window spans 1024 PSNs above cack, across the wrap.
        assert_eq!(w.check(1024), RxCheck::OutOfWindow);
        assert_eq!(w.check(1023), RxCheck::New);
        for p in (0..1024).rev() {
            w.mark(p);
        }
        assert_eq!(w.cack, 1023);
        assert!(!w.holes());
        // The ring reuses its bits after the window moves.
        w.mark(1025);
        assert_eq!(w.check(1024), RxCheck::New);
        assert_eq!(w.check(1025), RxCheck::Duplicate);
        assert_eq!(w.check(2047), RxCheck::New);
        assert_eq!(w.check(2048), RxCheck::OutOfWindow);
    }

    #[test]
    fn sack_alignment() {
        let mut w = RxWindow::new(100);
        w.mark(100);
        w.mark(102);
        w.mark(110);
        // cack = 100, base = 96 (aligned), offset -4.
        let (off, map) = w.sack(110);
        assert_eq!(off, -4);
        let base = 100u32.wrapping_add_signed(i32::from(off));
        assert_eq!(base % 8, 0);
        let mut got = [0u32; 8];
        let mut n = 0;
        sack_for_each(w.cack, off, map, |p| {
            got[n] = p;
            n += 1;
        });
        assert_eq!(&got[..n], &[96, 97, 98, 99, 100, 102, 110]);
        // Far above a hole, the block follows the triggering PSN.
        w.mark(700);
        let (off, map) = w.sack(700);
        let base = w.cack.wrapping_add_signed(i32::from(off));
        assert_eq!(base, 640);
        assert_eq!(map, 1 << 60);
    }

    #[test]
    fn rto_adapts_and_backs_off() {
        let mut r = Rtt::new(1_000_000);
        r.sample(10_000, 5_000, 1_000_000_000);
        assert_eq!(r.srtt, 10_000);
        assert_eq!(r.rto, 30_000);
        for _ in 0..50 {
            r.sample(10_000, 5_000, 1_000_000_000);
        }
        assert!(r.rto < 15_000);
        r.backoff(40_000);
        r.backoff(40_000);
        assert_eq!(r.rto, 40_000);
    }
}
