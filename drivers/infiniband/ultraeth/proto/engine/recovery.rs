// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Loss recovery and timers: ACK and SACK processing, NACK handling,
//! retransmission timeouts, and the deadlines the environment arms.

use super::super::pds::{
    psn_le,
    psn_lt,
    sack_for_each, //
};
use super::super::ses::{
    Addr,
    Env,
    Mode,
    Status, //
};
use super::super::wire::pds::{
    nack,
    AckExt,
    AckHdr,
    CtlType,
    CtrlHdr,
    NackHdr,
    PdcDst,
    PdsHeader, //
};
use super::super::wire::ses::{
    rc,
    RespBody,
    SesHeader, //
};

use super::atomic::wants_data;
use super::cc;
use super::{
    stamp,
    to_u16,
    Answer,
    Engine,
    MsgState,
    Pdc,
    PdcState,
    Slab,
    TxDesc, //
    D_ACKED,
    D_CLOSE,
    D_GOT_RESP,
    D_LOST,
    D_NEED_RESP,
    D_RETX,
    D_USED,
    FAIL_TICK,
    NONE,
};

/// Reordering by up to this many PSNs is not taken for loss by the
/// time-based detection alone (see [`Engine::detect_lost`]).
const REORDER_PKTS: u32 = 8;

/// RACK's reference for one loss detection pass: the time, the send
/// stamp and PSN of the most recently sent packet acknowledged, and the
/// waits (ns) before a packet sent earlier is lost.
struct Rack {
    now: u64,
    sent: u32,
    psn: u32,
    wait: u64,
    short_wait: u64,
    /// Wait of a SEND's or WRITE's response ([`Engine::response_wait`]).
    resp_wait: u64,
}

/// Time `t` (ns) in the units of `Pdc::fail_at`: [`FAIL_TICK`], wrapping.
fn fail_tick(t: u64) -> u16 {
    // CAST: the low 16 bits of the tick count, compared wrapping.
    (t / FAIL_TICK) as u16
}

/// `Pdc::fail_at` for a first counted timeout at `now`: `min_fail_time`
/// later, rounded up to a tick (never before the least failure time).
pub(super) fn fail_deadline(now: u64, min_fail_time: u64) -> u16 {
    fail_tick(
        now.saturating_add(min_fail_time)
            .saturating_add(FAIL_TICK - 1),
    )
}

/// Whether `now` is at or past failure time `fail_at`. The difference is
/// read as an `i16`: right while `fail_at` is at most 2^15 ticks ahead
/// ([`super::MAX_MIN_FAIL_TIME`]).
pub(super) fn fail_due(now: u64, fail_at: u16) -> bool {
    // CAST: wrapping tick difference as signed.
    fail_tick(now).wrapping_sub(fail_at) as i16 >= 0
}

impl<S: Slab> Engine<S> {
    /// Marks packet `psn` of PDC `pi` acknowledged; returns whether that
    /// is news. `trigger` is the PSN whose arrival sent the ACK and
    /// `copy` whether that arrival was a resent copy.
    pub(super) fn ack_psn(
        &mut self,
        pi: usize,
        psn: u32,
        trigger: u32,
        copy: bool,
        now: u64,
    ) -> bool {
        if !self.pdcs[pi].in_flight(psn) {
            return false;
        }
        let i = self.txi(pi, psn);
        let t = &mut self.txq[i];
        if t.flags & D_USED == 0 {
            return false;
        }
        if t.flags & D_ACKED != 0 {
            if psn == trigger && !copy && t.flags & D_RETX != 0 {
                // A duplicate ACK for the original of a packet we resent
                // and whose resend arrived first (as DSACK tells TCP):
                // that resend was spurious too. Counted once.
                t.flags &= !D_RETX;
                self.spurious(pi);
            }
            return false;
        }
        let f = t.flags;
        t.flags |= D_ACKED;
        if f & D_CLOSE == 0 {
            // A SEND's or WRITE's packets acknowledged so far: once all
            // are, the ACK that completed it at the target carried its
            // response ([`Engine::awaits_answer`]).
            let (seg, mi) = (t.seg, usize::from(t.msg));
            let implied_ok = self.cfg.implied_ok;
            let mut last = None;
            if let Some(m) = self.msgs.get_mut(mi) {
                if !wants_data(&m.post.op) {
                    m.done_segs += 1;
                    if m.done_segs == m.nsegs {
                        m.acked_at = stamp(now);
                        // Only where the response is judged
                        // ([`Engine::awaits_answer`]): otherwise the
                        // cursor would walk back for nothing.
                        if m.response_judged(implied_ok) {
                            last = Some(psn.wrapping_add(m.nsegs.saturating_sub(seg + 1)));
                        }
                    }
                }
            }
            if let Some(l) = last {
                self.rejudge_for_response(pi, mi, l);
            }
        }
        let t = &mut self.txq[i];
        if psn == trigger && f & D_RETX != 0 && !copy {
            // The spurious resend is counted below, once: a duplicate ACK
            // for this PSN must not count it again.
            t.flags &= !D_RETX;
        }
        let sent = t.sent;
        if t.done() {
            self.desc_settled(pi, i);
        }
        let d = &mut self.pdcs[pi];
        // RACK: the most recently sent packet known to have arrived, and
        // its RTT. A resent packet is ambiguous, except the one whose own
        // ACK this is (the target echoes RETX), once at least the
        // smallest RTT has passed since it left (RFC 8985 section 6.2:
        // otherwise the ACK is for an earlier copy).
        let ticks = stamp(now).wrapping_sub(sent);
        let rtt = u64::from(ticks) << 4;
        let resend = psn == trigger && copy && rtt >= u64::from(d.base_rtt);
        if (f & D_RETX == 0 || resend)
            && (psn_lt(d.rack_sent, sent) || (d.rack_sent == sent && psn_lt(d.rack_psn, psn)))
        {
            d.rack_sent = sent;
            d.rack_psn = psn;
            d.rack_rtt = ticks;
            d.rack_resend = f & D_RETX != 0;
        }
        self.ack_count += 1;
        if psn == trigger {
            if f & D_RETX == 0 {
                // Karn: only packets sent once give RTT samples.
                self.ack_sample = Some(u64::from(stamp(now).wrapping_sub(sent)) << 4);
            } else if !copy {
                // We resent it, but the original arrived: the resend was
                // spurious.
                self.spurious(pi);
            }
        }
        true
    }

    /// Every packet of the SEND or WRITE `mi` whose last packet is `last`
    /// (of PDC `pi`) is acknowledged now. If the loss detection passed that
    /// packet before (acknowledged while an earlier one was missing: that
    /// one, resent or overtaken, completed the message at the target and
    /// its ACK carries the response), the held-packet cursor goes back to
    /// it, so that it is judged for its response as any other
    /// ([`Engine::detect_lost`]). Before, a lost response of such a
    /// message waited for the tail-loss probe.
    fn rejudge_for_response(&mut self, pi: usize, mi: usize, last: u32) {
        let d = &self.pdcs[pi];
        if psn_lt(last, d.tx_base) || !psn_lt(last, d.lost_scan) || !psn_lt(last, d.held_scan()) {
            return;
        }
        let t = self.txq[self.txi(pi, last)];
        if t.flags & (D_USED | D_NEED_RESP | D_GOT_RESP | D_CLOSE) == D_USED | D_NEED_RESP
            && usize::from(t.msg) == mi
        {
            self.pdcs[pi].set_held_scan(last);
        }
    }

    /// ROD: packet `psn` of PDC `pi` is cumulatively acknowledged for
    /// the first time, so delivered at the target just now. If it is the
    /// last packet of a SEND or WRITE whose packets were all SACKed before
    /// (held by the target), the message completed at the target only now
    /// and its response rides on an ACK sent now: its wait
    /// ([`Engine::response_wait`]) starts again from now. Otherwise a
    /// response overtaken by the next ACK of the target's replay of held
    /// packets was resent for at once. O(1).
    fn delivered(&mut self, pi: usize, psn: u32, now: u64) {
        let t = self.txq[self.txi(pi, psn)];
        if t.flags & (D_USED | D_ACKED | D_NEED_RESP | D_GOT_RESP | D_CLOSE)
            != D_USED | D_ACKED | D_NEED_RESP
        {
            return;
        }
        if let Some(m) = self.msgs.get_mut(usize::from(t.msg)) {
            if !wants_data(&m.post.op) && t.seg + 1 >= m.nsegs && m.done_segs >= m.nsegs {
                m.acked_at = stamp(now);
            }
        }
    }

    /// A resend of PDC `pi` turned out spurious (the original arrived):
    /// widen the reordering window (RACK, RFC 8985). RFC 8985 caps it at
    /// SRTT; on a path whose RTT varies more than that (a packet sent
    /// later arriving milliseconds earlier) the cap is SRTT + 4 RTTVAR.
    fn spurious(&mut self, pi: usize) {
        let d = &mut self.pdcs[pi];
        let w = u64::from(d.reo_wnd).max(d.rtt.srtt / 4).max(1) * 2;
        let cap = d.rtt.base_rto().max(1);
        d.reo_wnd = u32::try_from(w.min(cap)).unwrap_or(u32::MAX);
        self.stats.spurious_retx += 1;
    }

    /// An ACK without an SES response: every message whose last packet
    /// is acknowledged at the front of the window succeeded (the target
    /// would have attached an error response otherwise). Walks the
    /// acknowledged front only (amortised O(1)). Only messages below PSN
    /// `below` count (`next_psn` for all).
    fn implied_success(&mut self, pi: usize, cack: u32, below: u32, env: &mut impl Env) -> bool {
        let d = &self.pdcs[pi];
        let (mut p, mut end) = (d.tx_base, d.next_psn);
        if psn_lt(below, end) {
            end = below;
        }
        if d.ordered && psn_lt(cack, end) {
            // ROD: SACKed packets above this ACK's cumulative ACK are
            // held, not delivered: their messages have not succeeded yet
            // (and a later ACK that passed them may have carried an error
            // response this one does not).
            end = cack.wrapping_add(1);
        }
        let mut news = false;
        while psn_lt(p, end) {
            let i = self.txi(pi, p);
            let t = self.txq[i];
            if t.flags & D_ACKED == 0 {
                break;
            }
            if t.flags & (D_NEED_RESP | D_GOT_RESP | D_CLOSE) == D_NEED_RESP {
                let mi = usize::from(t.msg);
                let m = &mut self.msgs[mi];
                // A READ or a fetching atomic completes with its data only,
                // a rendezvous send with its explicit answer.
                if !wants_data(&m.post.op) && m.rkey == 0 {
                    self.txq[i].flags |= D_GOT_RESP;
                    self.desc_settled(pi, i);
                    let m = &mut self.msgs[mi];
                    if m.resp.is_none() {
                        m.resp = Some(rc::OK);
                    }
                    self.settle(mi, env);
                    news = true;
                }
            }
            p = p.wrapping_add(1);
        }
        news
    }

    /// The first PSN in PDC `pi`'s send window of its message `msg_id`.
    fn msg_first_psn(&self, pi: usize, msg_id: u16) -> Option<u32> {
        let mi = self.msg_find(to_u16(pi), u32::from(msg_id))?;
        let d = &self.pdcs[pi];
        if d.win == NONE {
            return None;
        }
        let mut p = d.tx_base;
        while psn_lt(p, d.next_psn) {
            let t = self.txq[self.txi(pi, p)];
            if t.flags & D_USED != 0 && t.flags & D_CLOSE == 0 && usize::from(t.msg) == mi {
                return Some(p);
            }
            p = p.wrapping_add(1);
        }
        None
    }

    /// Reordering window (ns) of PDC `pi`'s loss detection.
    fn reo_wnd(&self, pi: usize) -> u64 {
        let d = &self.pdcs[pi];
        (d.rtt.srtt / 4)
            .max(self.cfg.reorder_min)
            .max(u64::from(d.reo_wnd))
    }

    /// Whether packet `t` was acknowledged but still waits for the answer
    /// its ACK carried: a READ's or a fetching atomic's data, which the
    /// target answers packet by packet, at once, and again for a
    /// duplicate; or (`implied_ok` off) the response to the last packet
    /// of a SEND or WRITE once every packet of the message was
    /// acknowledged: the target answered in the ACK of the packet that
    /// completed the message, at once, and answers a duplicate of a
    /// completed message with the same response (`dup_answer`). Not a
    /// rendezvous send, whose answer waits for the target's reads.
    fn awaits_answer(&self, t: &TxDesc) -> bool {
        t.flags & (D_ACKED | D_NEED_RESP | D_GOT_RESP | D_CLOSE) == D_ACKED | D_NEED_RESP
            && self.msgs.get(usize::from(t.msg)).is_some_and(|m| {
                wants_data(&m.post.op)
                    || (m.response_judged(self.cfg.implied_ok)
                        && t.seg + 1 >= m.nsegs
                        && m.done_segs >= m.nsegs)
            })
    }

    /// Whether the data of packet `psn` of PDC `pi`, acknowledged, is due:
    /// not on a ROD PDC while the packet is SACKed above the cumulative
    /// ACK (it is only held by the target).
    fn answer_due(&self, pi: usize, psn: u32) -> bool {
        let d = &self.pdcs[pi];
        !(d.ordered && psn_lt(d.acked_to, psn))
    }

    /// Whether packet `t` (PSN `p`), not acknowledged or acknowledged
    /// without its data, is lost by RACK's reference `r`: `Ok` if so,
    /// else `Err` with the time it will be (0: not sent before the
    /// reference, never by this one).
    fn rack_due(t: &TxDesc, p: u32, r: &Rack) -> Result<(), u64> {
        let before = psn_lt(t.sent, r.sent) || (t.sent == r.sent && psn_lt(p, r.psn));
        if !before {
            return Err(0);
        }
        let age = u64::from(stamp(r.now).wrapping_sub(t.sent)) << 4;
        let w = if r.psn.wrapping_sub(p) > REORDER_PKTS && psn_lt(p, r.psn) {
            r.wait
        } else {
            r.short_wait
        };
        if age < w {
            return Err(r.now + (w - age));
        }
        Ok(())
    }

    /// The last packet `t` of a SEND or WRITE, acknowledged without its
    /// response, also waits half an SRTT and a reordering window from the
    /// time the last of its message's packets was acknowledged: the
    /// response rides on the ACK of the packet that completed the message
    /// at the target, which later ACKs may overtake, and when the
    /// message's packets left in one burst their send times say little
    /// of when they arrived (with RACK alone, 1 MiB and 16 x 64 KiB over a
    /// link reordering by 8 places resent one such packet spuriously).
    /// `Some(time)` until then.
    fn response_wait(&self, t: &TxDesc, r: &Rack) -> Option<u64> {
        let m = self.msgs.get(usize::from(t.msg))?;
        if t.flags & D_ACKED == 0 || wants_data(&m.post.op) {
            return None;
        }
        let age = u64::from(stamp(r.now).wrapping_sub(m.acked_at)) << 4;
        (age < r.resp_wait).then(|| r.now + (r.resp_wait - age))
    }

    /// [`Engine::rack_due`] and [`Engine::response_wait`] for packet `t`
    /// (PSN `p`).
    fn answer_due_at(&self, t: &TxDesc, p: u32, r: &Rack) -> Result<(), u64> {
        Self::rack_due(t, p, r)?;
        match self.response_wait(t, r) {
            Some(at) => Err(at),
            None => Ok(()),
        }
    }

    /// Time-based loss detection (RACK, RFC 8985): a packet still
    /// unacknowledged that was sent before the most recently sent packet
    /// known to have arrived is lost once an RTT plus a reordering window
    /// have passed since it was sent; until then the reordering timer
    /// waits for it. Unless that packet is more than [`REORDER_PKTS`]
    /// PSNs after it, the wait is half an SRTT longer: packets overtaken
    /// by up to that many others (a PDC's batches sent from two CPUs) are
    /// reordered, not lost, whatever the timing. PSNs are judged once
    /// (amortised O(1) per packet); resent packets are judged by
    /// [`Engine::detect_lost_resends`] while the reference is a resend.
    ///
    /// A READ or fetching atomic packet acknowledged without its data,
    /// or the last packet of a SEND or WRITE whose packets were all
    /// acknowledged without its response ([`Engine::awaits_answer`]), is
    /// judged the same way ([`Engine::answer_due_at`]): the ACK that
    /// carried the answer was lost, and the packet is resent for it
    /// (before, it held the front of the window until the tail-loss probe
    /// or the RTO). ROD: one SACKed above the cumulative ACK is not due yet
    /// ([`Engine::answer_due`]), nor is a SEND's or WRITE's last packet
    /// within [`Engine::response_wait`]; the scan passes it and
    /// [`Pdc::held_scan`] remembers the first such PSN, judged again once
    /// the cumulative ACK reached it (each PSN once: amortised O(1) too;
    /// the RACK timer is armed for a response's wait). Once resent, only
    /// the front of the window is judged again (O(1)), by its last
    /// transmission.
    ///
    /// True when a message failed (its packets are settled and the caller
    /// slides the window).
    pub(super) fn detect_lost(&mut self, pi: usize, now: u64, env: &mut impl Env) -> bool {
        let reo = self.reo_wnd(pi);
        let d = &self.pdcs[pi];
        let (rack, rack_psn, wait) = (d.rack_sent, d.rack_psn, (u64::from(d.rack_rtt) << 4) + reo);
        // Fewer than REORDER_PKTS later PSNs delivered: wait half an RTT
        // more (the tail-loss probe is not due before 2 SRTT anyway).
        let short_wait = wait + d.rtt.srtt / 2;
        let r = Rack {
            now,
            sent: rack,
            psn: rack_psn,
            wait,
            short_wait,
            resp_wait: reo + d.rtt.srtt / 2,
        };
        let end = d.next_psn;
        let start = if psn_lt(d.lost_scan, d.tx_base) {
            d.tx_base
        } else {
            d.lost_scan
        };
        let mut timer = 0;
        // ROD: the packets passed while the target held them are due once
        // the cumulative ACK reached them, judged once each (the cursor
        // only advances).
        let mut q = if psn_lt(d.held_scan(), d.tx_base) {
            d.tx_base
        } else {
            d.held_scan()
        };
        let due_to = d.acked_to.wrapping_add(1);
        let lim = if psn_lt(due_to, start) { due_to } else { start };
        while psn_lt(q, lim) {
            #[cfg(test)]
            {
                self.scan_steps += 1;
            }
            let t = self.txq[self.txi(pi, q)];
            if t.flags & (D_LOST | D_RETX) == 0 && self.awaits_answer(&t) {
                if let Err(at) = self.answer_due_at(&t, q, &r) {
                    timer = at;
                    break;
                }
                self.mark_lost(pi, q);
                self.stats.fast_retx += 1;
            }
            q = q.wrapping_add(1);
        }
        let pending = psn_lt(q, start);
        let mut p = start;
        let mut held = None;
        while psn_lt(p, end) {
            #[cfg(test)]
            {
                self.scan_steps += 1;
            }
            let t = self.txq[self.txi(pi, p)];
            if t.flags & (D_LOST | D_RETX) == 0
                && (t.flags & D_ACKED == 0 || self.awaits_answer(&t))
            {
                if let Err(at) = Self::rack_due(&t, p, &r) {
                    if at != 0 && (timer == 0 || at < timer) {
                        timer = at;
                    }
                    break;
                }
                // A SEND's or WRITE's response may still come: passed as
                // a held ROD packet is, judged again from the cursor.
                let wait = self.response_wait(&t, &r);
                if let Some(at) = wait {
                    if timer == 0 || at < timer {
                        timer = at;
                    }
                }
                if t.flags & D_ACKED == 0 || (wait.is_none() && self.answer_due(pi, p)) {
                    self.mark_lost(pi, p);
                    self.stats.fast_retx += 1;
                } else if held.is_none() {
                    held = Some(p);
                }
            }
            p = p.wrapping_add(1);
        }
        // The front of the window, resent for its answer and answered
        // nothing again (the cursor passed it): judged by its last
        // transmission, in O(1). Otherwise, while later packets make
        // progress, no timer fires and it holds the window.
        let base = self.pdcs[pi].tx_base;
        let t = if psn_lt(base, end) {
            self.txq[self.txi(pi, base)]
        } else {
            TxDesc::EMPTY
        };
        let mut fail = None;
        if t.flags & (D_LOST | D_RETX) == D_RETX && self.awaits_answer(&t) && psn_lt(t.sent, rack) {
            let age = u64::from(stamp(now).wrapping_sub(t.sent)) << 4;
            if age < short_wait {
                let at = now + (short_wait - age);
                if timer == 0 || at < timer {
                    timer = at;
                }
            } else if self.answer_due(pi, base) {
                // Resent for its answer again and again while later
                // packets make progress (which resets the PDC's retries):
                // the target acknowledges it but never answers (an answer
                // the initiator refuses, a duplicate the target drops).
                // Counted per message, for its packet at the front; it
                // fails after `max_retries` of them and no sooner than
                // `min_fail_time` after the first (`deadline` keeps its
                // time), as a RUDI request.
                let mi = usize::from(t.msg);
                let m = &mut self.msgs[mi];
                if m.sent != u64::from(base) {
                    m.sent = u64::from(base);
                    m.retries = 0;
                }
                if m.retries == 0 {
                    m.deadline = now;
                }
                let due = now >= m.deadline.saturating_add(self.cfg.min_fail_time);
                if m.retries >= self.cfg.max_retries && due {
                    fail = Some(mi);
                } else {
                    m.retries = m.retries.saturating_add(1);
                    self.mark_lost(pi, base);
                    self.stats.fast_retx += 1;
                }
            }
        }
        let d = &mut self.pdcs[pi];
        d.lost_scan = p;
        d.set_held_scan(if pending { q } else { held.unwrap_or(p) });
        d.rack_at = timer;
        if d.rack_resend {
            self.detect_lost_resends(pi, now);
        }
        if let Some(mi) = fail {
            // No answer after `max_retries` resends and `min_fail_time`:
            // the message fails (as a RUDI request does), and its packets
            // no longer wait for an answer. A READ larger than the window
            // asks no more of the target.
            self.stats.answer_lost += 1;
            self.unqueue(pi, mi);
            if !self.msgs[mi].completed {
                self.finish_msg(mi, Status::PdcError, env);
            }
            self.answered(pi, mi, rc::UNDELIVERABLE, env);
        }
        fail.is_some()
    }

    /// Probe timeout (ns): two RTTs (RFC 8985), or SRTT + 4 RTTVAR when
    /// the RTT varies more than that, and the peer's ACK delay; at most
    /// the RTO.
    pub(super) fn pto(&self, pi: usize) -> u64 {
        let d = &self.pdcs[pi];
        if d.rtt.srtt == 0 {
            return d.rtt.rto;
        }
        let t = (2 * d.rtt.srtt).max(d.rtt.base_rto());
        (t + self.cfg.ack_delay).min(d.rtt.rto)
    }

    /// Re-arms PDC `pi`'s loss timers after an event: the RTO only when
    /// the PDC made progress (or had none armed), the tail-loss probe
    /// while packets are in flight.
    pub(super) fn arm_timers(&mut self, pi: usize, now: u64, progress: bool) {
        let pto = self.pto(pi);
        let d = &mut self.pdcs[pi];
        if d.tx_base == d.next_psn {
            d.rto_at = 0;
            d.tlp_at = 0;
            d.rack_at = 0;
            return;
        }
        if progress || d.rto_at == 0 {
            d.rto_at = now + d.rtt.rto;
        }
        if progress {
            d.tlp_count = 0;
        }
        d.tlp_at = if d.tlp_count < 2 { now + pto } else { 0 };
    }

    pub(super) fn on_ack(
        &mut self,
        now: u64,
        src: &Addr,
        a: &AckHdr,
        ses: Option<SesHeader>,
        payload: &[u8],
        env: &mut impl Env,
    ) {
        let Some(pi) = self.initiator_pdc(src, a.dpdcid) else {
            self.stats.rx_drop += 1;
            return;
        };
        self.stats.ack_rx += 1;
        let d = &mut self.pdcs[pi];
        let syn = d.state == PdcState::SynSent;
        // Check the ACK before it changes anything. Once established it
        // must come from the peer's PDC. A CACK beyond what was sent is
        // bogus; so is a first ACK whose CACK is below the start of the
        // window (the target's CACK starts at start PSN - 1). Adopting the
        // SPDCID of a bogus ACK would establish the PDC towards a PDC the
        // target does not have for these PSNs. Nor may a CACK lie below
        // the PSNs this PDC has used (start PSN - 1): such an ACK is a
        // copy from an earlier PDC under the same two ids, and the
        // response it carries names a message of that PDC by a message
        // id this one may use again (a copy 7.4 s old completed a
        // pending send `OK` before the target had it). The CACK of a
        // stale copy is random, so this is a filter with a pass rate of
        // the span used over 2^32, not a proof. Once the PDC has used
        // half the PSN space, `psn_lt` bounds the CACK as tightly, and
        // past 2^32 PSNs the count below would wrap (to 0 when the next
        // PSN comes back to start PSN - 1: every ACK dropped, the PDC
        // stalls and fails): `lapped` turns the bound off.
        let used = d.next_psn.wrapping_sub(d.start_psn.wrapping_sub(1));
        if (!syn && d.peer_id != a.spdcid)
            || !psn_lt(a.cack_psn, d.next_psn)
            || (syn && psn_lt(a.cack_psn, d.tx_base.wrapping_sub(1)))
            || (!d.lapped() && d.next_psn.wrapping_sub(a.cack_psn) > used)
        {
            self.stats.rx_drop += 1;
            return;
        }
        if syn {
            d.state = PdcState::Established;
            d.peer_id = a.spdcid;
        }
        // ROD: the PSNs this ACK's cumulative ACK passes for the first
        // time were delivered just now (SACKed before, they were held).
        let delivered_from = d.ordered.then_some(d.acked_to);
        if psn_lt(d.acked_to, a.cack_psn) {
            d.acked_to = a.cack_psn;
        }
        if let AckExt::Cc { mpr, .. } | AckExt::Ccx { mpr, .. } = a.ext {
            if d.ordered {
                d.rod_span = mpr;
            }
        }
        let trigger = a.cack_psn.wrapping_add_signed(i32::from(a.ack_psn_offset));
        self.ack_sample = None;
        self.ack_count = 0;
        let mut progress = false;
        let mut p = d.tx_base;
        while psn_le(p, a.cack_psn) {
            progress |= self.ack_psn(pi, p, trigger, a.retx, now);
            if delivered_from.is_some_and(|f| psn_lt(f, p)) {
                self.delivered(pi, p, now);
            }
            p = p.wrapping_add(1);
        }
        if let AckExt::Cc {
            sack_psn_offset,
            sack_bitmap,
            ..
        }
        | AckExt::Ccx {
            sack_psn_offset,
            sack_bitmap,
            ..
        } = a.ext
        {
            let mut hits = [0u32; 64];
            let mut n = 0;
            sack_for_each(a.cack_psn, sack_psn_offset, sack_bitmap, |q| {
                hits[n] = q;
                n += 1;
            });
            for q in &hits[..n] {
                progress |= self.ack_psn(pi, *q, trigger, a.retx, now);
            }
        }
        if !progress {
            // A rendezvous send waiting for its answer: an ACK of its
            // resent packet shows the target alive.
            self.rndv_ack(pi, trigger);
        }
        // The RTT sample, less the time the target held the ACK.
        let service = match a.ext {
            AckExt::Cc {
                cc_type: 0,
                cc_state,
                ..
            } => cc::cc_service_ns(cc_state),
            _ => 0,
        };
        // The peer's word is not trusted (review F9): the service time is
        // at most what this engine's coalescing holds an ACK (`ack_delay`;
        // a peer configured to wait longer only makes our RTT high), and
        // it is taken off only if the sample stays at or above the
        // smallest RTT seen (as QUIC treats its peer's ACK delay, RFC 9002
        // section 5.3). Otherwise a peer claiming milliseconds of service
        // time collapsed the RTT to 1 ns: RTO at its floor, and the
        // queueing delay congestion control sees lost.
        let service = service.min(self.cfg.ack_delay);
        let floor = u64::from(self.pdcs[pi].base_rtt);
        let sample = self.ack_sample.map(|r| {
            if r >= floor.saturating_add(service) {
                (r - service).max(1)
            } else {
                r
            }
        });
        if let Some(r) = sample {
            let (lo, hi) = (self.cfg.rto_min, self.cfg.rto_max);
            self.pdcs[pi].rtt.sample(r, lo, hi);
        }
        if a.ecn {
            self.stats.ecn_acked += u64::from(self.ack_count);
        }
        self.cc_on_ack(pi, now, self.ack_count, sample, a.ecn);
        if let Some(SesHeader::Resp(r)) = ses {
            progress |= self.on_response(pi, &r, trigger, payload, env);
            // With implied success, an error response on an ACK is the
            // target's oldest uncleared one: every acknowledged message
            // below that message succeeded (review F1: without this, a
            // success pinned at the front of the window waited for a tail
            // probe while the target kept attaching the error).
            if let (true, RespBody::Plain { msg_id, .. }) = (self.cfg.implied_ok, r.body) {
                if r.rc != rc::OK {
                    if let Some(first) = self.msg_first_psn(pi, msg_id) {
                        progress |= self.implied_success(pi, a.cack_psn, first, env);
                    }
                }
            }
        } else if self.cfg.implied_ok {
            let all = self.pdcs[pi].next_psn;
            progress |= self.implied_success(pi, a.cack_psn, all, env);
        }
        let d = &mut self.pdcs[pi];
        if progress {
            d.retries = 0;
            d.stalls = 0;
            d.transient = false;
            d.last_active = now;
            d.set_proven();
        }
        self.detect_lost(pi, now, env);
        self.slide(pi, now, env);
        if self.pdcs[pi].state != PdcState::Free {
            self.arm_timers(pi, now, progress);
        }
        self.resched_pdc(pi);
    }

    /// Time-based loss detection of resent packets (RFC 8985 detects lost
    /// retransmissions too), with [`Engine::detect_lost`], while the RACK
    /// reference is a resend (one sent later arrived): resends sent before
    /// it are lost once its RTT plus the reordering window have passed
    /// since they left (the RACK timer waits for the first). Resends are
    /// not in PSN order of their sending, so this walks the whole window:
    /// O(window) per ACK or timer, in loss episodes only (the next
    /// original acknowledged becomes the reference again). Before, a lost
    /// resend waited for a tail-loss probe, whose ACK re-armed the RTO: a
    /// first flight lost at a full port, and then its resends, trickled
    /// out at one packet per probe timeout.
    fn detect_lost_resends(&mut self, pi: usize, now: u64) {
        let reo = self.reo_wnd(pi);
        let d = &self.pdcs[pi];
        let (rack, rack_psn, wait) = (d.rack_sent, d.rack_psn, (u64::from(d.rack_rtt) << 4) + reo);
        let (mut p, end) = (d.tx_base, d.next_psn);
        let mut timer = d.rack_at;
        while psn_lt(p, end) {
            let t = self.txq[self.txi(pi, p)];
            if t.flags & (D_USED | D_ACKED | D_LOST | D_RETX) == D_USED | D_RETX
                && (psn_lt(t.sent, rack) || (t.sent == rack && psn_lt(p, rack_psn)))
            {
                let age = u64::from(stamp(now).wrapping_sub(t.sent)) << 4;
                if age >= wait {
                    self.mark_lost(pi, p);
                    self.stats.fast_retx += 1;
                } else if timer == 0 || now + (wait - age) < timer {
                    timer = now + (wait - age);
                }
            }
            p = p.wrapping_add(1);
        }
        self.pdcs[pi].rack_at = timer;
    }

    pub(super) fn on_nack(&mut self, now: u64, src: &Addr, n: &NackHdr, env: &mut impl Env) {
        self.stats.nack_rx += 1;
        if n.rudi {
            return;
        }
        let Some(pi) = self.initiator_pdc(src, n.dpdcid) else {
            self.stats.rx_drop += 1;
            return;
        };
        let d = &self.pdcs[pi];
        // A NACK answers one of our requests: its PSN must be in flight
        // and, once the PDC is established, it must come from the peer's
        // PDC. Anything else is stale (an earlier incarnation of this PDC
        // id) or forged, and must not fail or stall this PDC.
        if !d.in_flight(n.psn) || (d.state != PdcState::SynSent && n.spdcid != d.peer_id) {
            self.stats.rx_drop += 1;
            return;
        }
        let front = self.acked_below(pi, n.psn);
        self.nack_on_pdc(pi, now, n, front, env);
        self.resched_pdc(pi);
    }

    /// Acts on a NACK for in-flight PSN `n.psn` of PDC `pi`; `front` says
    /// whether every PSN below it was acknowledged.
    fn nack_on_pdc(&mut self, pi: usize, now: u64, n: &NackHdr, front: bool, env: &mut impl Env) {
        let d = &mut self.pdcs[pi];
        match n.code {
            nack::NEW_START_PSN => {
                if n.payload == d.start_psn {
                    // The target keeps (or drew) the start PSN this PDC
                    // already uses, but did not take the NACKed packet
                    // (the SYN that opens a PDC with the 1-RTT handshake
                    // is never delivered). Nothing to renumber: resend
                    // that packet at once, as for a loss NACK. In the
                    // kernel two engines seeded alike drew the same start
                    // PSN, and this packet waited for the RTO.
                    if matches!(d.state, PdcState::SynSent | PdcState::Established) {
                        self.nack_resend(pi, n.psn, now, env);
                    }
                    return;
                }
                if d.state != PdcState::SynSent {
                    return;
                }
                // Renumber everything in flight from the new start PSN.
                let delta = n.payload.wrapping_sub(d.start_psn);
                d.start_psn = n.payload;
                d.tx_base = d.tx_base.wrapping_add(delta);
                d.next_psn = d.next_psn.wrapping_add(delta);
                d.lost_scan = d.lost_scan.wrapping_add(delta);
                d.set_held_scan(d.held_scan().wrapping_add(delta));
                d.rack_psn = d.rack_psn.wrapping_add(delta);
                d.acked_to = d.acked_to.wrapping_add(delta);
                let mut p = d.tx_base;
                let end = d.next_psn;
                while psn_lt(p, end) {
                    if self.txq[self.txi(pi, p)].pending() {
                        self.send_desc(pi, p, true, false, now, env);
                    }
                    p = p.wrapping_add(1);
                }
                self.pdcs[pi].rto_at = now + self.pdcs[pi].rtt.rto;
            }
            nack::ROD_OOO => {
                // The target could not hold this packet (its reorder
                // buffer is full, or it has none): go back N from the PSN
                // it expects. Packets it SACKed are held there and stay.
                let mut p = if d.in_flight(n.payload) {
                    n.payload
                } else {
                    d.tx_base
                };
                let end = d.next_psn;
                while psn_lt(p, end) {
                    if self.txq[self.txi(pi, p)].flags & D_ACKED == 0 {
                        self.mark_lost(pi, p);
                    }
                    p = p.wrapping_add(1);
                }
                self.pump(pi, now, env);
            }
            // The network or the receiver says this packet is gone: resend
            // it at once instead of waiting for a timer.
            // Trimming is also a congestion signal. At most one resend per
            // packet per half RTT comes from NACKs (review F10): a packet
            // resent more recently is on its way again, and the NACK is
            // about an earlier copy, or one of a storm (a peer that NACKs
            // a PSN N times must not get N full-size resends). Resends
            // keep within the congestion window (`pump`), which trims cut.
            nack::TRIMMED | nack::TRIMMED_LASTHOP | nack::PKT_NOT_RCVD | nack::RCVR_INFER_LOSS => {
                if matches!(n.code, nack::TRIMMED | nack::TRIMMED_LASTHOP) {
                    self.cc_on_trim(pi);
                }
                self.nack_resend(pi, n.psn, now, env);
            }
            nack::INV_DPDCID | nack::CLOSING | nack::CLOSING_IN_ERR => {
                if d.state == PdcState::Closing {
                    self.stats.pdc_close += 1;
                    self.pdc_release(pi);
                } else if d.state == PdcState::Established {
                    self.pdc_fail(pi, env);
                }
            }
            // PSN_OOR_WINDOW for a PSN whose predecessors were all
            // acknowledged: the target has every PSN below it, so this one
            // is at the front of its window whatever the window's size.
            // The two ends disagree about this PDC's PSN space, and
            // resending cannot repair that. For a later PSN the target's
            // window may just be smaller than ours: the RTO resends, and
            // counts (last arm).
            nack::PSN_OOR_WINDOW if front => self.pdc_fail(pi, env),
            nack::INVALID_SYN | nack::PDC_MODE_MISMATCH | nack::PDC_HDR_MISMATCH => {
                self.pdc_fail(pi, env);
            }
            // Resource shortages: the RTO resends without using up retries
            // (at most `max_transient` times between two signs of
            // progress, see `on_rto`).
            nack::NO_PDC_AVAIL
            | nack::NO_CCC_AVAIL
            | nack::NO_BITMAP
            | nack::NO_PKT_BUFFER
            | nack::NO_GTD_DEL_AVAIL
            | nack::NO_SES_MSG_AVAIL
            | nack::NO_RESOURCE => d.transient = true,
            // Anything else (trimming, loss hints, vendor codes): the RTO
            // resends and counts as usual.
            _ => {}
        }
    }

    /// Resends in-flight packet `psn` of PDC `pi` at once: a NACK says the
    /// target did not take it. At most once per half RTT (at least
    /// `reorder_min`) per packet (review F10): a packet resent more
    /// recently is on its way again, and the NACK is about an earlier
    /// copy, or one of a storm. A packet the target acknowledged since is
    /// left alone. The resend keeps within the congestion window (`pump`).
    fn nack_resend(&mut self, pi: usize, psn: u32, now: u64, env: &mut impl Env) {
        let t = self.txq[self.txi(pi, psn)];
        if t.flags & D_ACKED != 0 {
            return;
        }
        let age = u64::from(stamp(now).wrapping_sub(t.sent)) << 4;
        let gap = (self.pdcs[pi].rtt.srtt / 2).max(self.cfg.reorder_min);
        if t.flags & D_RETX != 0 && age < gap {
            self.stats.nack_retx_limited += 1;
            return;
        }
        self.mark_lost(pi, psn);
        self.stats.nack_retx += 1;
        self.pump(pi, now, env);
    }

    /// True when every PSN of PDC `pi` from the window base up to (not
    /// including) `psn` was acknowledged.
    pub(super) fn acked_below(&self, pi: usize, psn: u32) -> bool {
        let mut p = self.pdcs[pi].tx_base;
        while psn_lt(p, psn) {
            if self.txq[self.txi(pi, p)].flags & D_ACKED == 0 {
                return false;
            }
            p = p.wrapping_add(1);
        }
        true
    }

    /// Earliest time at which [`Engine::on_timer`] has work, if any.
    /// O(1): the top of the deadline heap.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.heap_min().map(|(t, _)| t)
    }

    /// The deadline of PDC `d` (`u64::MAX` for none): the earliest of its
    /// retransmission, ACK coalescing, idle close, reap and half-open
    /// timers.
    fn pdc_deadline(&self, d: &Pdc) -> u64 {
        let mut t = u64::MAX;
        let at = |v: u64| if v != 0 { v } else { u64::MAX };
        match d.state {
            PdcState::Free => {}
            PdcState::SynSent | PdcState::Closing => {
                t = at(d.rto_at).min(at(d.tlp_at)).min(at(d.rack_at));
                if d.pace_wait {
                    t = t.min(d.pace_at);
                }
            }
            PdcState::Established => {
                t = at(d.rto_at).min(at(d.tlp_at)).min(at(d.rack_at));
                if d.pace_wait {
                    t = t.min(d.pace_at);
                }
                if d.idle() {
                    t = t.min(d.last_active + self.cfg.idle_close);
                }
            }
            PdcState::HalfOpen => t = d.last_active + self.cfg.half_open,
            PdcState::Open => {
                t = at(d.ack_at).min(d.last_active + self.cfg.reap_after());
                if !d.close_req_sent() {
                    t = t.min(d.last_active + self.cfg.idle_close);
                }
            }
        }
        t
    }

    /// Puts PDC `pi` in the deadline heap at its current deadline (or
    /// takes it out). Called after every event that touched the PDC.
    pub(super) fn resched_pdc(&mut self, pi: usize) {
        let t = self.pdc_deadline(&self.pdcs[pi]);
        self.schedule(pi, t);
    }

    /// [`Engine::next_deadline`] computed by scanning every table, for
    /// checking the heap in tests (O(n)).
    pub(crate) fn deadline_scan(&self) -> Option<u64> {
        let mut t = u64::MAX;
        for d in self.pdcs.iter() {
            t = t.min(self.pdc_deadline(d));
        }
        for m in self.msgs.iter() {
            if m.state == MsgState::Active && (m.post.mode == Mode::Rudi || Self::pull_waits(m)) {
                t = t.min(m.deadline);
            }
        }
        for u in self.unexp.iter() {
            if u.used && u.complete && u.matched == NONE {
                t = t.min(u.when);
            }
        }
        (t != u64::MAX).then_some(t)
    }

    /// Runs the timers due at `now`, earliest first: at most
    /// `Config::timer_budget` of them (review F7). The rest stay due:
    /// [`Engine::next_deadline`] then returns a time at or before `now`,
    /// and the caller calls again (the kernel re-arms its timer for it).
    pub(crate) fn on_timer(&mut self, now: u64, env: &mut impl Env) {
        self.start(now);
        // Without a configured budget, every handled timer moves past
        // `now` or goes away; the bound only guards against a bug turning
        // this into a busy loop.
        let mut budget = match self.cfg.timer_budget {
            0 => 4 * (self.pdcs.len() + self.msgs.len()) + 16,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        while let Some((when, id)) = self.heap_min() {
            if when > now || budget == 0 {
                break;
            }
            budget -= 1;
            let (np, nm) = (self.pdcs.len(), self.msgs.len());
            if id < np {
                self.pdc_timer(id, now, env);
                self.resched_pdc(id);
            } else if id < np + nm {
                self.rudi_timer(id - np, now, env);
            } else {
                self.reclaim_unexp(id - np - nm, env);
            }
        }
        // A window freed by a timer (a PDC failed, or released after its
        // CLOSE timed out) goes to the PDCs waiting for one.
        self.wake_waiters(now, env);
    }

    /// Runs the due timers of PDC `pi`.
    fn pdc_timer(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        let d = self.pdcs[pi];
        match d.state {
            PdcState::Free => {}
            PdcState::SynSent | PdcState::Established | PdcState::Closing => {
                // The probe goes first: it is what spares the RTO.
                if d.tlp_at != 0 && now >= d.tlp_at {
                    self.tail_probe(pi, now, env);
                } else if d.rto_at != 0 && now >= d.rto_at {
                    self.on_rto(pi, now, env);
                } else if d.rack_at != 0 && now >= d.rack_at {
                    if self.detect_lost(pi, now, env) {
                        // A message failed: its settled packets leave the
                        // window now, not at an ACK that may never come
                        // (the front would hold the idle close and lead
                        // to a probe and RTOs on a healthy PDC).
                        self.slide(pi, now, env);
                        if self.pdcs[pi].state != PdcState::Free {
                            self.arm_timers(pi, now, false);
                        }
                    } else {
                        self.pump(pi, now, env);
                    }
                } else if d.pace_wait && now >= d.pace_at {
                    self.pdcs[pi].pace_wait = false;
                    self.pump(pi, now, env);
                } else if d.state == PdcState::Established
                    && d.idle()
                    && now >= d.last_active + self.cfg.idle_close
                {
                    self.start_close(pi, now, env);
                }
            }
            PdcState::HalfOpen => {
                if now >= d.last_active + self.cfg.half_open {
                    self.stats.pdc_reaped += 1;
                    self.offer_add(d.peer, d.peer_id, d.start_psn, d.syn_psn(), now);
                    self.release_target_pdc(pi, now, env);
                }
            }
            PdcState::Open => {
                if d.ack_at != 0 && now >= d.ack_at {
                    self.send_ack(pi, d.last_psn, Answer::None, now, env);
                }
                if now >= d.last_active + self.cfg.reap_after() {
                    self.stats.pdc_reaped += 1;
                    self.release_target_pdc(pi, now, env);
                } else if !d.close_req_sent() && now >= d.last_active + self.cfg.idle_close {
                    self.pdcs[pi].set_close_req_sent();
                    let h = PdsHeader::Ctrl(CtrlHdr {
                        ctl: CtlType::CloseReq,
                        rod: d.ordered,
                        retx: false,
                        ar: false,
                        probe_opaque: 0,
                        psn: 0,
                        spdcid: self.wire_id(pi),
                        dst: PdcDst::Dpdcid(d.peer_id),
                        payload: 0,
                    });
                    self.transmit(&d.peer, 0, &h, None, 0, env);
                }
            }
        }
    }

    /// Drops unexpected message `ui`: complete, and no receive claimed it
    /// within `unexp_life`. Its sender was answered long ago; the data is
    /// lost to the application (documented policy, counted).
    fn reclaim_unexp(&mut self, ui: usize, env: &mut impl Env) {
        let u = self.unexp[ui];
        if u.used && u.complete && u.matched == NONE && u.rndv != NONE {
            // A rendezvous send: its sender still waits, and is told.
            self.stats.unexp_reclaimed += 1;
            self.rndv_unclaimed(ui, env);
            return;
        }
        if u.used && u.complete && u.matched == NONE {
            env.overflow_free(u.buf);
            self.stats.unexp_reclaimed += 1;
        }
        // Either way it leaves the heap (release unschedules).
        self.unschedule(self.unexp_timer(ui));
        if u.used && u.complete && u.matched == NONE {
            self.unexp_release(ui);
        }
    }

    /// Retransmits RUDI message `mi`, or fails it after `max_retries`
    /// timeouts and no sooner than `min_fail_time` after the first, as a
    /// PDC (review S2: RUDI gave up after `max_retries` alone, in 60 ms
    /// where a PDC rode out a cut of seconds).
    fn rudi_timer(&mut self, mi: usize, now: u64, env: &mut impl Env) {
        let m = self.msgs[mi];
        let id = self.pdcs.len() + mi;
        if Self::pull_waits(&m) {
            self.rndv_pull_retry(mi, now, env);
            return;
        }
        if m.state != MsgState::Active || m.post.mode != Mode::Rudi {
            self.unschedule(id);
            return;
        }
        if now < m.deadline {
            self.schedule(id, m.deadline);
            return;
        }
        // From the first timeout on, `sent` holds its time (the RTT is
        // sampled only from a message sent once).
        let first = if m.retries == 0 { now } else { m.sent };
        let due = now >= first.saturating_add(self.cfg.min_fail_time);
        if m.retries >= self.cfg.max_retries && due {
            self.finish_msg(mi, Status::PdcError, env);
            self.release_msg(mi);
            return;
        }
        let shift = u32::from(m.retries.min(16));
        let m = &mut self.msgs[mi];
        m.sent = first;
        m.retries = m.retries.saturating_add(1);
        // The engine's RUDI RTT estimate, backed off per retry.
        m.deadline = now + (self.rudi_rtt.rto << shift).min(self.cfg.rto_max);
        let t = m.deadline;
        self.schedule(id, t);
        self.stats.rto += 1;
        self.send_single(mi, true, env);
    }

    /// Tail-loss probe (RFC 8985 section 7): no ACK for a probe timeout
    /// while packets are in flight. Resend the oldest packet still
    /// waiting, asking for an ACK: in a tail loss every waiting packet is
    /// lost, and a resend that was itself lost (which the time-based
    /// detection leaves alone) is the oldest. Its ACK carries SACK
    /// information for the rest, so the RTO is rarely needed.
    fn tail_probe(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        let d = &self.pdcs[pi];
        let (mut p, end) = (d.tx_base, d.next_psn);
        while psn_lt(p, end) {
            if self.txq[self.txi(pi, p)].pending() {
                self.stats.tlp += 1;
                self.send_desc(pi, p, true, true, now, env);
                break;
            }
            p = p.wrapping_add(1);
        }
        let pto = self.pto(pi);
        let d = &mut self.pdcs[pi];
        d.tlp_count += 1;
        d.tlp_at = if d.tlp_count < 2 { now + pto } else { 0 };
        // The probe buys the RTO time.
        d.rto_at = d.rto_at.max(now + d.rtt.rto);
        // Let the next ACK judge every outstanding packet again.
        d.lost_scan = d.tx_base;
        d.set_held_scan(d.tx_base);
    }

    pub(super) fn on_rto(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        self.stats.rto += 1;
        let d = &mut self.pdcs[pi];
        // A resource NACK since the last timeout forgives this one, but
        // only `max_transient` times without progress: the retry budget
        // must stay finite whatever the peer answers, or the PDC and its
        // messages could live forever.
        if d.transient && d.stalls < self.cfg.max_transient {
            d.stalls += 1;
        } else {
            if d.retries == 0 {
                d.fail_at = fail_deadline(now, self.cfg.min_fail_time);
            }
            d.retries = d.retries.saturating_add(1);
        }
        d.transient = false;
        let due = self.cfg.min_fail_time == 0 || fail_due(now, d.fail_at);
        if d.retries > self.cfg.max_retries && due {
            if d.state == PdcState::Closing {
                // The CLOSE was never acknowledged: the target may still
                // hold the PDC.
                self.stats.pdc_error += 1;
                self.pdc_quarantine(pi);
            } else {
                self.pdc_fail(pi, env);
            }
            return;
        }
        // The PDC's first timeout without an RTT sample (not backed off
        // yet): see below.
        let guess = d.rtt.srtt == 0 && d.rtt.rto == self.cfg.rto_init;
        d.rtt.backoff(self.cfg.rto_max);
        d.rto_at = now + d.rtt.rto;
        d.tlp_at = 0;
        if d.ordered {
            // ROD keeps to one path, so it does not move off a lossy one
            // per loss as RUD does; a timeout moves it (review F16): the
            // path may be down. Everything is resent after an RTO anyway,
            // and the target holds what arrives out of order.
            // CAST: the low 16 bits of a random word.
            let e = self.random() as u16;
            self.pdcs[pi].paths[0] = e;
            self.stats.path_moves += 1;
        }
        let d = &mut self.pdcs[pi];
        if guess && d.state != PdcState::Closing {
            // No RTT sample yet: the timeout is only `rto_init`, a guess,
            // and a slow path (0.3-3 ms between two emulated guests) is
            // as likely as a loss. Probe with the oldest packet instead
            // of resending the whole window: the originals' ACKs give
            // the first sample. If the first flight was lost, the probe's
            // ACK makes it the RACK reference, and everything sent before
            // it is found lost (`detect_lost`). Only one timeout per PDC
            // probes: the next one (the RTO is backed off now, and stays
            // so until a sample) resends everything.
            d.tlp_count = 2;
            d.tlp_at = 0;
            d.rto_at = now + d.rtt.rto;
            let (mut p, end) = (d.tx_base, d.next_psn);
            while psn_lt(p, end) {
                if self.txq[self.txi(pi, p)].pending() {
                    self.send_desc(pi, p, true, true, now, env);
                    break;
                }
                p = p.wrapping_add(1);
            }
            return;
        }
        self.cc_on_rto(pi);
        let d = &mut self.pdcs[pi];
        d.tlp_count = 2;
        d.lost_scan = d.tx_base;
        d.set_held_scan(d.tx_base);
        // Everything unacknowledged is presumed lost and resent in order,
        // as the in-flight limit allows.
        let (mut p, end) = (d.tx_base, d.next_psn);
        while psn_lt(p, end) {
            self.mark_lost(pi, p);
            p = p.wrapping_add(1);
        }
        if self.pdcs[pi].state == PdcState::Closing {
            // The CLOSE is not pumped: resend it directly.
            let p = self.pdcs[pi].tx_base;
            if self.txq[self.txi(pi, p)].flags & D_LOST != 0 {
                self.send_desc(pi, p, true, false, now, env);
            }
        } else {
            self.pump(pi, now, env);
        }
    }
}
