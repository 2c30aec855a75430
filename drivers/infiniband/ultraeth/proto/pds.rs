// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! PDS building blocks: PSN arithmetic, the receive window (cumulative ACK
//! plus a 64-PSN bitmap), SACK encoding with the 8-PSN alignment, and the
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

/// Receive side of a PDC: every PSN up to `cack` was received; bit `i` of
/// `bits` says whether `cack + 1 + i` was received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RxWindow {
    /// Cumulative ACK PSN.
    pub(crate) cack: u32,
    /// Out-of-order PSNs above `cack`.
    pub(crate) bits: u64,
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
    pub(crate) const SPAN: u32 = 64;

    /// A window expecting `start` as the first PSN.
    pub(crate) fn new(start: u32) -> Self {
        Self {
            cack: start.wrapping_sub(1),
            bits: 0,
        }
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
        if self.bits & (1u64 << d) != 0 {
            RxCheck::Duplicate
        } else {
            RxCheck::New
        }
    }

    /// Records `psn` (which must be [`RxCheck::New`]) and advances `cack`
    /// over every contiguous received PSN.
    pub(crate) fn mark(&mut self, psn: u32) {
        let d = psn.wrapping_sub(self.cack).wrapping_sub(1);
        if d >= Self::SPAN {
            return;
        }
        self.bits |= 1u64 << d;
        let run = self.bits.trailing_ones();
        if run == 64 {
            self.bits = 0;
        } else {
            self.bits >>= run;
        }
        self.cack = self.cack.wrapping_add(run);
    }

    /// SACK for an ACK_CC: `(sack_psn_offset, bitmap)` where the base
    /// `cack + sack_psn_offset` is aligned down to a multiple of 8 and bit
    /// `i` reports PSN `base + i`.
    pub(crate) fn sack(&self) -> (i16, u64) {
        let first = self.cack.wrapping_add(1);
        let base = first & !7;
        let below = first.wrapping_sub(base); // 0..=7 PSNs at or below cack
        let mut map = (1u64 << below) - 1;
        map |= self.bits << below;
        // CAST: `below` is at most 7, the offset is in -7..=1.
        (1 - below as i16, map)
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
    pub(crate) fn sample(&mut self, rtt: u64, min: u64, max: u64) {
        let rtt = rtt.max(1);
        if self.srtt == 0 {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
        } else {
            let err = self.srtt.abs_diff(rtt);
            self.rttvar = (3 * self.rttvar + err) / 4;
            self.srtt = (7 * self.srtt + rtt) / 8;
        }
        self.rto = (self.srtt + 4 * self.rttvar).clamp(min, max);
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
        assert_eq!(w.check(u32::MAX), RxCheck::Duplicate);
        w.mark(u32::MAX - 2);
        w.mark(u32::MAX - 1);
        assert_eq!(w.cack, u32::MAX);
        assert_eq!(w.bits, 0);
        assert_eq!(w.check(64), RxCheck::OutOfWindow);
        assert_eq!(w.check(63), RxCheck::New);
        for p in 0..64 {
            w.mark(p);
        }
        assert_eq!(w.cack, 63);
    }

    #[test]
    fn sack_alignment() {
        let mut w = RxWindow::new(100);
        w.mark(100);
        w.mark(102);
        w.mark(110);
        // cack = 100, base = 96 (aligned), offset -4.
        let (off, map) = w.sack();
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
