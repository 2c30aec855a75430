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
use super::super::wire::ses::SesHeader;

use super::{
    to_u16,
    Answer,
    Engine,
    MsgState,
    Pdc,
    PdcState,
    Slab,
    DUPTHRESH,
    D_ACKED,
    D_FAST,
    D_USED,
    NONE,
    TX_WINDOW, //
};

impl<S: Slab> Engine<S> {
    pub(super) fn ack_psn(&mut self, pi: usize, psn: u32) -> bool {
        let d = &mut self.pdcs[pi];
        if !d.in_flight(psn) {
            return false;
        }
        let s = d.slot(psn);
        let t = &mut d.tx[s];
        if t.flags & D_USED == 0 || t.flags & D_ACKED != 0 {
            return false;
        }
        t.flags |= D_ACKED;
        if psn_lt(d.highest_acked, psn) {
            d.highest_acked = psn;
        }
        true
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
        // target does not have for these PSNs.
        if (!syn && d.peer_id != a.spdcid)
            || !psn_lt(a.cack_psn, d.next_psn)
            || (syn && psn_lt(a.cack_psn, d.tx_base.wrapping_sub(1)))
        {
            self.stats.rx_drop += 1;
            return;
        }
        if syn {
            d.state = PdcState::Established;
            d.peer_id = a.spdcid;
        }
        let mut progress = false;
        let mut p = d.tx_base;
        while psn_le(p, a.cack_psn) {
            progress |= self.ack_psn(pi, p);
            p = p.wrapping_add(1);
        }
        let mut sacked = false;
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
            sacked = true;
            let mut hits = [0u32; 64];
            let mut n = 0;
            sack_for_each(a.cack_psn, sack_psn_offset, sack_bitmap, |q| {
                hits[n] = q;
                n += 1;
            });
            for q in &hits[..n] {
                progress |= self.ack_psn(pi, *q);
            }
        }
        let d = &mut self.pdcs[pi];
        if d.timing {
            let s = d.slot(d.timed_psn);
            if !d.in_flight(d.timed_psn) || d.tx[s].flags & D_ACKED != 0 {
                d.timing = false;
                d.rtt.sample(
                    now.saturating_sub(d.timed_at),
                    self.cfg.rto_min,
                    self.cfg.rto_max,
                );
            }
        }
        if let Some(SesHeader::Resp(r)) = ses {
            progress |= self.on_response(pi, &r, payload, env);
        }
        let d = &mut self.pdcs[pi];
        if progress {
            d.retries = 0;
            d.stalls = 0;
            d.transient = false;
            d.last_active = now;
        }
        // SACK-driven loss recovery.
        if sacked {
            let mut p = d.tx_base;
            let mut lost = [0u32; TX_WINDOW];
            let mut n = 0;
            while psn_lt(p, d.next_psn) && psn_le(p.wrapping_add(DUPTHRESH), d.highest_acked) {
                let s = d.slot(p);
                let t = &mut d.tx[s];
                if t.flags & D_USED != 0 && t.flags & (D_ACKED | D_FAST) == 0 && n < TX_WINDOW {
                    t.flags |= D_FAST;
                    lost[n] = p;
                    n += 1;
                }
                p = p.wrapping_add(1);
            }
            for q in &lost[..n] {
                self.stats.fast_retx += 1;
                if self.pdcs[pi].timed_psn == *q {
                    self.pdcs[pi].timing = false;
                }
                self.send_desc(pi, *q, true, env);
            }
        }
        self.slide(pi, now, env);
        self.resched_pdc(pi);
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
                if d.state != PdcState::SynSent || n.payload == d.start_psn {
                    return;
                }
                // Renumber everything in flight from the new start PSN.
                let delta = n.payload.wrapping_sub(d.start_psn);
                d.start_psn = n.payload;
                d.tx_base = d.tx_base.wrapping_add(delta);
                d.next_psn = d.next_psn.wrapping_add(delta);
                d.highest_acked = d.highest_acked.wrapping_add(delta);
                d.timing = false;
                let mut p = d.tx_base;
                let end = d.next_psn;
                while psn_lt(p, end) {
                    if self.pdcs[pi].tx[self.pdcs[pi].slot(p)].pending() {
                        self.send_desc(pi, p, true, env);
                    }
                    p = p.wrapping_add(1);
                }
                self.pdcs[pi].rto_at = now + self.pdcs[pi].rtt.rto;
            }
            nack::ROD_OOO => {
                // Go back N from the PSN the target expects.
                let mut p = if d.in_flight(n.payload) {
                    n.payload
                } else {
                    d.tx_base
                };
                let end = d.next_psn;
                d.timing = false;
                while psn_lt(p, end) {
                    let s = self.pdcs[pi].slot(p);
                    if self.pdcs[pi].tx[s].flags & (D_USED | D_ACKED) == D_USED {
                        self.send_desc(pi, p, true, env);
                    }
                    p = p.wrapping_add(1);
                }
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

    /// True when every PSN of PDC `pi` from the window base up to (not
    /// including) `psn` was acknowledged.
    pub(super) fn acked_below(&self, pi: usize, psn: u32) -> bool {
        let d = &self.pdcs[pi];
        let mut p = d.tx_base;
        while psn_lt(p, psn) {
            if d.tx[d.slot(p)].flags & D_ACKED == 0 {
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
            PdcState::SynSent | PdcState::Closing => t = at(d.rto_at),
            PdcState::Established => {
                t = at(d.rto_at);
                if d.idle() {
                    t = t.min(d.last_active + self.cfg.idle_close);
                }
            }
            PdcState::HalfOpen => t = d.last_active + self.cfg.half_open,
            PdcState::Open => {
                t = at(d.ack_at).min(d.last_active + self.cfg.reap_after());
                if !d.close_req_sent {
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
            if m.state == MsgState::Active && m.post.mode == Mode::Rudi {
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

    /// Runs every timer due at `now`, earliest first.
    pub(crate) fn on_timer(&mut self, now: u64, env: &mut impl Env) {
        self.start(now);
        // Every handled timer moves past `now` or goes away; the bound
        // only guards against a bug turning this into a busy loop.
        let mut budget = 4 * (self.pdcs.len() + self.msgs.len()) + 16;
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
    }

    /// Runs the due timers of PDC `pi`.
    fn pdc_timer(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        let d = self.pdcs[pi];
        match d.state {
            PdcState::Free => {}
            PdcState::SynSent | PdcState::Established | PdcState::Closing => {
                if d.rto_at != 0 && now >= d.rto_at {
                    self.on_rto(pi, now, env);
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
                    self.release_target_pdc(pi, now, env);
                }
            }
            PdcState::Open => {
                if d.ack_at != 0 && now >= d.ack_at {
                    self.send_ack(pi, d.last_psn, Answer::None, env);
                }
                if now >= d.last_active + self.cfg.reap_after() {
                    self.stats.pdc_reaped += 1;
                    self.release_target_pdc(pi, now, env);
                } else if !d.close_req_sent && now >= d.last_active + self.cfg.idle_close {
                    self.pdcs[pi].close_req_sent = true;
                    let h = PdsHeader::Ctrl(CtrlHdr {
                        ctl: CtlType::CloseReq,
                        rod: d.ordered,
                        retx: false,
                        ar: false,
                        probe_opaque: 0,
                        psn: 0,
                        spdcid: to_u16(pi),
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

    /// Retransmits RUDI message `mi` or fails it after `max_retries`.
    fn rudi_timer(&mut self, mi: usize, now: u64, env: &mut impl Env) {
        let m = self.msgs[mi];
        let id = self.pdcs.len() + mi;
        if m.state != MsgState::Active || m.post.mode != Mode::Rudi {
            self.unschedule(id);
            return;
        }
        if now < m.deadline {
            self.schedule(id, m.deadline);
            return;
        }
        if m.retries >= self.cfg.max_retries {
            self.finish_msg(mi, Status::PdcError, env);
            self.release_msg(mi);
            return;
        }
        let shift = u32::from(m.retries.min(16));
        let m = &mut self.msgs[mi];
        m.retries += 1;
        m.deadline = now + (self.cfg.rto_init << shift).min(self.cfg.rto_max);
        let t = m.deadline;
        self.schedule(id, t);
        self.stats.rto += 1;
        self.send_single(mi, true, env);
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
            d.retries = d.retries.saturating_add(1);
        }
        d.transient = false;
        if d.retries > self.cfg.max_retries {
            if d.state == PdcState::Closing {
                self.stats.pdc_error += 1;
                self.pdc_release(pi);
            } else {
                self.pdc_fail(pi, env);
            }
            return;
        }
        d.rtt.backoff(self.cfg.rto_max);
        d.timing = false;
        d.rto_at = now + d.rtt.rto;
        let mut p = d.tx_base;
        let end = d.next_psn;
        while psn_lt(p, end) {
            let s = self.pdcs[pi].slot(p);
            let t = &mut self.pdcs[pi].tx[s];
            if t.pending() {
                t.flags &= !D_FAST;
                self.send_desc(pi, p, true, env);
            }
            p = p.wrapping_add(1);
        }
    }
}
