// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! PDC lifecycle and the send window: posting onto a PDC, segmentation
//! and (re)transmission, target PDC lookup and establishment, the receive
//! path of a request up to SES, ACK generation, window slide, close.

use super::super::pds::{
    psn_le,
    psn_lt,
    Rtt,
    RxCheck,
    RxWindow, //
};
use super::super::ses::{
    segment,
    segments,
    Addr,
    Env,
    Mode,
    Op,
    Post,
    Status, //
};
use super::super::wire::pds::{
    nack,
    AckExt,
    AckHdr,
    CtlType,
    CtrlHdr,
    PdcDst,
    PdsHeader,
    ReqHdr, //
};
use super::super::wire::ses::{
    op,
    rc,
    sflags,
    ReqBody,
    ReqExt,
    SesHeader,
    SesReq,
    StdData, //
};
use super::super::wire::{
    self,
    NextHeader, //
};

use super::atomic::atomic_request;
use super::cc;
use super::index::PdcKey;
use super::rndv::RNDV_KEY;
use super::{
    clamp_i16,
    job_shard,
    psn_diff,
    stamp,
    to_u16,
    Answer,
    Data,
    Dest,
    Engine,
    Msg,
    MsgState,
    PdcState,
    PostError,
    Slab,
    TxDesc, //
    D_ACKED,
    D_CLOSE,
    D_INFL,
    D_LOST,
    D_NEED_RESP,
    D_RETX,
    D_USED,
    NONE,
    PATHS,
    PATH_BAD,
};

impl<S: Slab> Engine<S> {
    /// Posts an operation. Sends what the window allows right away.
    pub(crate) fn post(&mut self, now: u64, p: &Post, env: &mut impl Env) -> Result<(), PostError> {
        self.start(now);
        let single = p.len <= self.cfg.mtu;
        match (p.mode, p.op) {
            (Mode::Uud, Op::Send { .. }) if single => {}
            (Mode::Uud, _) => return Err(PostError::Invalid),
            // RUDI's medium requests have no room for header data.
            (Mode::Rudi, Op::Write { .. } | Op::Read { .. }) if single && !p.with_data => {}
            (Mode::Rudi, _) => return Err(PostError::Invalid),
            // An atomic works on one u64 and carries no header data.
            (_, Op::Atomic { .. }) if p.len != 8 || p.with_data => return Err(PostError::Invalid),
            _ => {}
        }
        // Keys with bit 63 are the engine's own (rendezvous READs): a
        // user operation may not name one.
        if let Op::Read { key, .. } | Op::Write { key, .. } | Op::Atomic { key, .. } = p.op {
            if key & RNDV_KEY != 0 {
                return Err(PostError::Invalid);
            }
        }
        if p.target.job > 0x00ff_ffff || p.target.pid > 0xfff || p.target.ri > 0xfff {
            return Err(PostError::Invalid);
        }
        if job_shard(p.target.job, self.cfg.shard_bits) != self.cfg.shard {
            return Err(PostError::WrongShard);
        }
        let mi = self.msg_alloc().ok_or(PostError::NoMsg)?;
        let mut m = Msg::EMPTY;
        m.state = MsgState::Active;
        m.post = *p;
        m.slen = p.len;
        if matches!(p.op, Op::Send { .. })
            && matches!(p.mode, Mode::Rud | Mode::Rod)
            && p.len > self.cfg.eager_limit
        {
            // Rendezvous: the packets carry the eager part, the target
            // reads the rest (engine/rndv.rs).
            m.slen = self.cfg.eager_limit;
            m.rkey = self.rndv_key(mi);
            if p.mode == Mode::Rod {
                self.rod_rndv += 1;
            }
        }
        m.nsegs = segments(m.slen, self.cfg.mtu);
        match p.mode {
            Mode::Uud => {
                // The datagram's message id lets the target drop copies.
                m.pkt_id = self.next_pkt_id();
                self.msgs[mi] = m;
                self.send_single(mi, false, env);
                self.finish_msg(mi, Status::Ok, env);
                self.release_msg(mi);
                return Ok(());
            }
            Mode::Rudi => {
                m.pkt_id = self.next_pkt_id();
                m.sent = now;
                m.deadline = now + self.rudi_rtt.rto;
                self.msgs[mi] = m;
                self.msg_map_insert(mi, NONE, m.pkt_id);
                self.schedule(self.pdcs.len() + mi, m.deadline);
                self.send_single(mi, false, env);
                return Ok(());
            }
            Mode::Rud | Mode::Rod => {}
        }
        self.msgs[mi] = m;
        if let Err(e) = self.queue_msg(now, mi, env) {
            if m.rkey != 0 && p.mode == Mode::Rod {
                self.rod_rndv -= 1;
            }
            // `queue_msg` fails before it links the message anywhere: the
            // slot is unused again. It must be marked so first, or
            // `msg_unalloc` refuses it as active and every post refused
            // for want of a PDC leaks a slot, until the message table is
            // full and every post is refused `NoMsg` for good (issue 13:
            // a SYN flood filled the PDC table while an endpoint retried
            // its post on every packet).
            self.msgs[mi].state = MsgState::Free;
            self.msg_unalloc(mi);
            return Err(e);
        }
        Ok(())
    }

    /// Queues RUD or ROD message `mi` (filled in, not yet on a PDC) on
    /// the initiator PDC of its post (created if needed) and sends what
    /// the window allows.
    pub(super) fn queue_msg(
        &mut self,
        now: u64,
        mi: usize,
        env: &mut impl Env,
    ) -> Result<(), PostError> {
        let p = self.msgs[mi].post;
        let ordered = p.mode == Mode::Rod;
        let key = PdcKey::Initiator {
            peer: p.dst,
            job: p.target.job,
            tc: p.tc,
            ordered,
        };
        let pi = match self.pdc_find(key) {
            Some(i) => i,
            None => {
                let Some(i) = self.pdc_alloc(&p.dst) else {
                    return Err(PostError::NoPdc);
                };
                let start = self.random();
                let d = &mut self.pdcs[i];
                d.state = PdcState::SynSent;
                d.ordered = ordered;
                d.peer = p.dst;
                d.job = p.target.job;
                d.tc = p.tc;
                d.start_psn = start;
                d.next_psn = start;
                d.tx_base = start;
                // Nothing acknowledged yet: RACK's reference is "before
                // the first packet".
                d.rack_sent = stamp(now).wrapping_sub(1);
                d.rack_psn = start.wrapping_sub(1);
                d.acked_to = start.wrapping_sub(1);
                d.lost_scan = start;
                d.set_held_scan(start);
                d.rtt = Rtt::new(self.cfg.rto_init);
                self.new_paths(i);
                let w = if self.cfg.cc {
                    self.cc_init_window()
                } else {
                    self.cfg.max_inflight
                };
                let d = &mut self.pdcs[i];
                d.cwnd = w.saturating_mul(256);
                d.last_active = now;
                self.stats.pdc_open += 1;
                self.pdc_map_insert(i);
                i
            }
        };
        let d = &mut self.pdcs[pi];
        let m = &mut self.msgs[mi];
        m.pdc = to_u16(pi);
        m.msg_id = d.msg_id;
        m.in_queue = true;
        d.msg_id = d.msg_id.wrapping_add(1);
        let mi16 = to_u16(mi);
        if d.q_tail == NONE {
            d.q_head = mi16;
        } else {
            self.msgs[usize::from(d.q_tail)].next = mi16;
        }
        d.q_tail = mi16;
        let (pdc, id) = (self.msgs[mi].pdc, self.msgs[mi].msg_id);
        self.msg_map_insert(mi, pdc, u32::from(id));
        self.pump(pi, now, env);
        self.resched_pdc(pi);
        Ok(())
    }

    /// Sends what PDC `pi` may: first the packets deemed lost, then new
    /// packets from its queue, while its packets in flight stay below
    /// `max_inflight` and its PSN span below `tx_window`.
    pub(super) fn pump(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        if !matches!(
            self.pdcs[pi].state,
            PdcState::SynSent | PdcState::Established
        ) {
            return;
        }
        self.resend_lost(pi, now, env);
        loop {
            let d = &self.pdcs[pi];
            let mi = d.q_head;
            if mi == NONE
                || d.inflight >= self.cwnd(pi)
                || d.next_psn.wrapping_sub(d.tx_base) >= self.cfg.tx_window
            {
                return;
            }
            // ROD: not beyond the range the target said it can hold.
            if d.ordered
                && d.rod_span != 0
                && d.next_psn.wrapping_sub(d.acked_to) > 8 * u32::from(d.rod_span)
            {
                return;
            }
            // SYN packets carry a 12-bit offset from the start PSN.
            if d.state == PdcState::SynSent && d.next_psn.wrapping_sub(d.start_psn) > 0xfff {
                return;
            }
            if self.cfg.cc && now < d.pace_at {
                self.pdcs[pi].pace_wait = true;
                return;
            }
            // ROD: no message starts behind a rendezvous send still being
            // read, so that messages complete in order at the target.
            if d.ordered
                && self.rod_rndv > 0
                && self.msgs[usize::from(mi)].seg_next == 0
                && self.rndv_waits_on(pi)
            {
                return;
            }
            if !self.win_acquire(pi) {
                return;
            }
            self.pace_sent(pi, now);
            let m = &mut self.msgs[usize::from(mi)];
            let seg = m.seg_next;
            m.seg_next += 1;
            let last = m.seg_next >= m.nsegs;
            // A completed message's answer no longer matters (its packets
            // go out without payload, see `send_desc`).
            let need_resp = !m.completed && (matches!(m.post.op, Op::Read { .. }) || last);
            m.refs += 1;
            if last {
                m.in_queue = false;
                let next = m.next;
                m.next = NONE;
                let d = &mut self.pdcs[pi];
                d.q_head = next;
                if next == NONE {
                    d.q_tail = NONE;
                }
            }
            let psn = self.pdcs[pi].next_psn;
            if seg == 0 {
                self.msgs[usize::from(mi)].first_off = psn.wrapping_sub(self.pdcs[pi].start_psn);
            }
            let i = self.txi(pi, psn);
            self.txq[i] = TxDesc {
                msg: mi,
                flags: D_USED | if need_resp { D_NEED_RESP } else { 0 },
                path: 0,
                seg,
                sent: 0,
            };
            let d = &mut self.pdcs[pi];
            d.next_psn = psn.wrapping_add(1);
            d.note_lap();
            if d.rto_at == 0 {
                d.rto_at = now + d.rtt.rto;
            }
            d.last_active = now;
            self.send_desc(pi, psn, false, false, now, env);
        }
    }

    /// Packet `i` (index in `txq`) of PDC `pi` needs nothing more: it no
    /// longer counts as in flight or lost.
    pub(super) fn desc_settled(&mut self, pi: usize, i: usize) {
        let f = self.txq[i].flags;
        self.txq[i].flags = f & !(D_INFL | D_LOST);
        let d = &mut self.pdcs[pi];
        if f & D_INFL != 0 {
            d.inflight -= 1;
        }
        if f & D_LOST != 0 {
            d.nlost -= 1;
        }
    }

    /// Resends the packets of PDC `pi` deemed lost, oldest first, while
    /// the in-flight limit allows.
    fn resend_lost(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        let d = &self.pdcs[pi];
        let (mut p, end) = (d.tx_base, d.next_psn);
        while psn_lt(p, end) {
            let d = &self.pdcs[pi];
            if d.nlost == 0 || d.inflight >= self.cwnd(pi) {
                return;
            }
            if self.txq[self.txi(pi, p)].flags & D_LOST != 0 {
                self.send_desc(pi, p, true, false, now, env);
            }
            p = p.wrapping_add(1);
        }
    }

    /// The oldest error response target PDC `pi` keeps, as an answer.
    fn oldest_error(&self, pi: usize) -> Answer {
        let d = &self.pdcs[pi];
        let mut best: Option<&super::RespEnt> = None;
        // Only errors: OK entries are atomic results.
        for e in d.resp.iter().filter(|e| e.used && e.rc != rc::OK) {
            if best.is_none_or(|b| psn_lt(e.psn, b.psn)) {
                best = Some(e);
            }
        }
        let mut ans = match best {
            Some(e) => Answer::Plain {
                msg_id: e.msg_id,
                job: d.job,
                rc: e.rc,
                len: u32::try_from(e.val).unwrap_or(u32::MAX),
            },
            None => Answer::None,
        };
        // Errors kept outside the ring (a rendezvous answer that found it
        // full) count as well: they are usually the oldest.
        let mut best_psn = best.map(|e| e.psn);
        let mut cur = d.answered;
        while cur != NONE {
            let m = &self.inb[usize::from(cur)];
            // Always set on an answered message.
            let Some(p) = m.eom_psn else {
                cur = m.anext;
                continue;
            };
            if best_psn.is_none_or(|b| psn_lt(p, b)) {
                best_psn = Some(p);
                ans = Answer::Plain {
                    msg_id: m.msg_id,
                    job: d.job,
                    rc: m.rc,
                    len: m.total,
                };
            }
            cur = m.anext;
        }
        ans
    }

    /// Entropy values for the paths of PDC `pi`: consecutive values from
    /// a random base (switches hash them apart; a modulo spreads them
    /// over distinct next hops).
    pub(super) fn new_paths(&mut self, pi: usize) {
        // CAST: the low 16 bits of a random word.
        let base = self.random() as u16;
        for (k, e) in self.pdcs[pi].paths.iter_mut().enumerate() {
            // CAST: k < PATHS.
            *e = base.wrapping_add(k as u16);
        }
    }

    /// The path of PDC `pi`'s next packet: round robin over its entropy
    /// values for RUD (spraying), always the first for ROD (one path keeps
    /// the packets in order).
    fn pick_path(&mut self, pi: usize) -> u8 {
        let d = &mut self.pdcs[pi];
        if d.ordered {
            return 0;
        }
        let k = d.path_next;
        // CAST: PATHS is small.
        d.path_next = (k + 1) % PATHS as u8;
        d.path_sent = d.path_sent.wrapping_add(1);
        if d.path_sent == 0 {
            // Every 256 packets, old losses count half.
            for l in d.path_loss.iter_mut() {
                *l /= 2;
            }
        }
        k
    }

    /// Packet `i` (index in `txq`) of PDC `pi` was lost on its path: a
    /// path that keeps losing moves to a new entropy value (RUD only).
    fn path_lost(&mut self, pi: usize, i: usize) {
        let k = usize::from(self.txq[i].path);
        let d = &mut self.pdcs[pi];
        if d.ordered || k >= PATHS {
            return;
        }
        d.path_loss[k] = d.path_loss[k].saturating_add(1);
        if d.path_loss[k] >= PATH_BAD {
            d.path_loss[k] = 0;
            // CAST: the low 16 bits of a random word.
            let e = self.random() as u16;
            self.pdcs[pi].paths[k] = e;
            self.stats.path_moves += 1;
        }
    }

    /// Marks packet `psn` of PDC `pi` lost (resent by the next pump):
    /// unacknowledged, or acknowledged but still waiting for the
    /// response it asked for.
    pub(super) fn mark_lost(&mut self, pi: usize, psn: u32) {
        let i = self.txi(pi, psn);
        let t = &mut self.txq[i];
        if !t.pending() || t.flags & D_LOST != 0 {
            return;
        }
        t.flags |= D_LOST;
        let infl = t.flags & D_INFL != 0;
        t.flags &= !D_INFL;
        let acked = t.flags & D_ACKED != 0;
        let d = &mut self.pdcs[pi];
        d.nlost += 1;
        if infl {
            d.inflight -= 1;
        }
        // An acknowledged packet arrived: it is its answer that was lost,
        // on the way back.
        if !acked {
            self.path_lost(pi, i);
        }
    }

    /// (Re)transmits packet `psn` of PDC `pi`; `probe` asks for an ACK.
    pub(super) fn send_desc(
        &mut self,
        pi: usize,
        psn: u32,
        retx: bool,
        probe: bool,
        now: u64,
        env: &mut impl Env,
    ) {
        self.confirm_peer(pi, env);
        let path = self.pick_path(pi);
        let entropy = u32::from(self.pdcs[pi].paths[usize::from(path)]);
        let i = self.txi(pi, psn);
        let t = &mut self.txq[i];
        t.path = path;
        let was_lost = t.flags & D_LOST != 0;
        let was_out = t.flags & D_INFL == 0;
        t.flags = (t.flags & !D_LOST) | D_INFL | if retx { D_RETX } else { 0 };
        t.sent = stamp(now);
        let desc = *t;
        let d = &mut self.pdcs[pi];
        if was_lost {
            d.nlost -= 1;
        }
        if was_out {
            d.inflight += 1;
        }
        let d = &self.pdcs[pi];
        let dst = if d.state == PdcState::SynSent {
            PdcDst::Syn {
                use_rsv_pdc: false,
                // CAST: checked against 12 bits before the PSN was used.
                psn_offset: (psn.wrapping_sub(d.start_psn) & 0xfff) as u16,
            }
        } else {
            PdcDst::Dpdcid(d.peer_id)
        };
        let clear = clamp_i16(psn_diff(d.tx_base.wrapping_sub(1), psn));
        let peer = d.peer;
        if retx {
            self.stats.retx += 1;
        }
        if desc.flags & D_CLOSE != 0 {
            let h = PdsHeader::Ctrl(CtrlHdr {
                ctl: CtlType::Close,
                rod: d.ordered,
                retx,
                ar: true,
                probe_opaque: 0,
                psn,
                spdcid: self.wire_id(pi),
                dst,
                payload: 0,
            });
            self.transmit(&peer, entropy, &h, None, 0, env);
            return;
        }
        let mi = usize::from(desc.msg);
        let m = &self.msgs[mi];
        let p = m.post;
        let (off, len) = segment(m.slen, self.cfg.mtu, desc.seg);
        let som = desc.seg == 0;
        let eom = desc.seg + 1 >= m.nsegs;
        // A message whose completion was reported (cancelled, or answered
        // early) may no longer be read: what it still has in flight goes
        // out as initiator-error (IE) packets without payload. The target
        // counts such a packet as the bytes of its segment (an EOM one as
        // the rest of the message) without delivering anything, and
        // answers the message INITIATOR_ERROR (see `process_ses`). So the
        // PDC's PSNs all still arrive, each is processed once, and the
        // target's message finishes; a copy of a PSN the target already
        // had is a duplicate, as ever.
        let void = m.completed;
        // Atomics carry their operands in the request (extension and
        // payload), not in the local buffer.
        let (mut ext, mut inline) = (ReqExt::None, None);
        if m.rkey != 0 {
            // The rendezvous extension, on every packet: the eager length,
            // where and with which key the target reads the rest.
            ext = ReqExt::Rendezvous {
                eager_length: m.slen,
                read_ri_gen: 0,
                // CAST: 12-bit fields of the initiator id.
                read_pid: (p.initiator & 0xfff) as u16,
                read_ri: ((p.initiator >> 12) & 0xfff) as u16,
                read_offset: u64::from(m.slen),
                read_match_bits: m.rkey,
            };
        }
        let rndv = m.rkey != 0;
        let (opcode, key, boff, payload) = match p.op {
            Op::Send { tag: Some(t) } if rndv => (op::RNDV_TSEND, t, u64::from(off), len),
            Op::Send { tag: None } if rndv => (op::RNDV_SEND, 0, u64::from(off), len),
            Op::Send { tag: Some(t) } => (op::TSEND, t, u64::from(off), len),
            Op::Send { tag: None } => (op::SEND, 0, u64::from(off), len),
            Op::Write { key, offset } => (op::WRITE, key, offset.wrapping_add(u64::from(off)), len),
            Op::Read { key, offset } => (op::READ, key, offset.wrapping_add(u64::from(off)), 0),
            Op::Atomic {
                key,
                offset,
                op: aop,
                operand,
                compare,
            } => {
                let (opcode, e, data) = atomic_request(aop, operand, compare);
                ext = e;
                inline = Some(data);
                (opcode, key, offset, 0)
            }
        };
        let payload = if void { 0 } else { payload };
        let mut flags = if som { sflags::SOM } else { 0 } | if eom { sflags::EOM } else { 0 };
        if void {
            flags |= sflags::IE;
        }
        let data = if som {
            if p.with_data {
                flags |= sflags::HD;
                StdData::HeaderData(p.hdr_data)
            } else {
                StdData::HeaderData(0)
            }
        } else {
            StdData::Cont {
                // CAST: len <= mtu <= MAX_MTU < 2^14.
                payload_length: payload as u16,
                message_offset: off,
            }
        };
        let ses = SesHeader::Req(SesReq {
            opcode,
            flags,
            addr: p.target,
            body: ReqBody::Std {
                msg_id: m.msg_id,
                buffer_offset: boff,
                initiator: p.initiator,
                key,
                data,
                request_length: p.len,
            },
            ext,
        });
        let h = PdsHeader::Req(ReqHdr {
            ordered: d.ordered,
            cc: None,
            next: NextHeader::ReqStd,
            retx,
            // With implied success, single-packet messages do not ask
            // for an ACK: the target coalesces theirs.
            ar: probe || void || (eom && (!self.cfg.implied_ok || m.nsegs > 1)),
            clear_psn_offset: clear,
            psn,
            spdcid: self.wire_id(pi),
            dst,
        });
        let _ = len;
        if void {
            self.transmit(&peer, entropy, &h, Some(&ses), 0, env);
            return;
        }
        if let Some((b, n)) = inline {
            self.transmit_inline(&peer, entropy, &h, &ses, &b[..n], env);
            return;
        }
        self.transmit_with_local(
            &peer,
            entropy,
            &h,
            &ses,
            p.buf,
            u64::from(off),
            payload,
            env,
        );
    }

    /// Finds or creates the target PDC for a request; `None` if the packet
    /// must be dropped (a NACK has been sent where appropriate).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn target_pdc(
        &mut self,
        now: u64,
        src: &Addr,
        ordered: bool,
        psn: u32,
        spdcid: u16,
        dst: PdcDst,
        job: u32,
        env: &mut impl Env,
    ) -> Option<usize> {
        match dst {
            PdcDst::Dpdcid(id) => {
                let i = self.local_id(id).unwrap_or(usize::MAX);
                let ok = self.pdcs.get(i).is_some_and(|d| {
                    d.state == PdcState::Open && d.peer == *src && d.peer_id == spdcid
                });
                if !ok {
                    self.send_nack(src, nack::INV_DPDCID, psn, id, spdcid, 0, env);
                    return None;
                }
                if self.pdcs[i].ordered != ordered {
                    self.send_nack(src, nack::PDC_MODE_MISMATCH, psn, id, spdcid, 0, env);
                    return None;
                }
                if self.pdcs[i].job != job {
                    self.bad_job(src, psn, id, spdcid, env);
                    return None;
                }
                Some(i)
            }
            PdcDst::Syn { psn_offset, .. } => {
                let start = psn.wrapping_sub(u32::from(psn_offset));
                let found = self.pdc_find(PdcKey::Target { peer: *src, spdcid });
                // Set when an open PDC of this key gave way to a new
                // incarnation that echoed the PSN offered to it.
                let mut proven = false;
                if let Some(i) = found.filter(|&i| {
                    self.pdcs[i].state == PdcState::Open && self.pdcs[i].start_psn != start
                }) {
                    // A SYN of another incarnation of this PDC id than the
                    // open one: a replay, or the initiator started again
                    // (a device deleted and added back) and drew this
                    // SPDCID again while this PDC waits for its reap.
                    // Not while the open PDC still hears its own initiator
                    // (within two `rto_max`: a live one in `SynSent` resends
                    // at least that often): that one would take an offer
                    // (a forged SYN or NACK can make it draw one) and
                    // resend at the offered PSN what was delivered already
                    // (review of b5ccecb, B1). A restarted initiator's old
                    // PDC has been silent since it died.
                    let heard = self.pdcs[i].last_active;
                    if now < heard.saturating_add(self.cfg.rto_max.saturating_mul(2)) {
                        self.stats.rx_drop += 1;
                        return None;
                    }
                    if self.offer_has(src, spdcid, start, now)
                        && !self.quota_pdc_after_release(i, job)
                    {
                        // The echo would end the open PDC, and the new one
                        // be refused (its JobID over its share): keep the
                        // old one and the offer, refuse the new one for now
                        // (review of b5ccecb).
                        self.stats.over_quota += 1;
                        self.send_nack(src, nack::NO_PDC_AVAIL, psn, 0, spdcid, 0, env);
                        return None;
                    }
                    if !self.offer_take(src, spdcid, start, now) {
                        // Nothing of it is delivered; offer it a start PSN
                        // (the key's live offer, so that every SYN of a
                        // window gets the same one). Only a live initiator
                        // at that address that has this SYN's PSN in
                        // flight, still in `SynSent`, takes it; an
                        // established one (the open PDC's own, alive)
                        // ignores it.
                        if self.offer_without_pdc(now, src, psn, spdcid, start, 0, env) {
                            self.stats.rx_drop += 1;
                        }
                        return None;
                    }
                    // The initiator echoed the offer: it is alive and
                    // past the open PDC, whose initiator is gone (that
                    // one would not have taken the offer). End the old
                    // PDC as a reap would (its partial messages freed, a
                    // tombstone for its start PSN) and open the new one.
                    self.stats.pdc_replaced += 1;
                    self.stats.pdc_reaped += 1;
                    self.release_target_pdc(i, now, env);
                    proven = true;
                } else if let Some(i) = found {
                    let d = &mut self.pdcs[i];
                    if d.ordered != ordered {
                        self.send_nack(
                            src,
                            nack::PDC_MODE_MISMATCH,
                            psn,
                            self.wire_id(i),
                            spdcid,
                            0,
                            env,
                        );
                        return None;
                    }
                    if d.job != job {
                        // A target PDC carries the JobID of its SYN only.
                        let pid = self.wire_id(i);
                        self.bad_job(src, psn, pid, spdcid, env);
                        return None;
                    }
                    if self.pdcs[i].state == PdcState::HalfOpen
                        && self.pdcs[i].start_psn != start
                        && self.offer_take(src, spdcid, start, now)
                    {
                        // A PSN an earlier half-open PDC of this peer
                        // offered (the initiator took it after that one
                        // was reaped and this one drawn): the initiator
                        // heard it, so it opens this PDC.
                        self.set_start(i, start);
                    }
                    let d = &mut self.pdcs[i];
                    if d.start_psn != start {
                        if d.state == PdcState::HalfOpen && d.syn_psn() != start {
                            // A SYN at another start PSN than the one
                            // this PDC answered (another incarnation of
                            // the key): an offer of its own, bound to its
                            // PSN, so that it never opens a PDC there
                            // once this one is gone (review of 67a39b2,
                            // B1). The offer this PDC makes, once
                            // reaped, counts against the key's limit.
                            if self.offer_without_pdc(now, src, psn, spdcid, start, 1, env) {
                                self.stats.rx_drop += 1;
                            }
                        } else if d.state == PdcState::HalfOpen {
                            // The initiator's packets are still coming:
                            // keep the offer open while they do.
                            d.last_active = now;
                            self.resched_pdc(i);
                            let s = self.pdcs[i].start_psn;
                            self.send_nack(
                                src,
                                nack::NEW_START_PSN,
                                psn,
                                self.wire_id(i),
                                spdcid,
                                s,
                                env,
                            );
                        } else {
                            // An open PDC with another start PSN is
                            // handled above.
                            self.stats.rx_drop += 1;
                        }
                        return None;
                    }
                    if d.state == PdcState::HalfOpen {
                        // The initiator echoed this PDC's offer. Its
                        // first SYN was not delivered and its messages
                        // come again from here: a copy still in the
                        // network must not open a PDC of its own once
                        // this one has ended (as for a taken offer).
                        d.state = PdcState::Open;
                        let syn = d.syn_psn();
                        if syn != start && !self.tomb_find(src, spdcid, syn, now) {
                            self.tomb_add(*src, spdcid, syn, now);
                        }
                    }
                    return Some(i);
                }
                // `wide`: the key's older tombstones were folded into one
                // key-wide entry, which names no start PSN: this SYN
                // may be a copy of one of theirs, so it gets 1-RTT below
                // (cold review of the SYN pressure, S3).
                let (stale, wide) = if proven {
                    (false, false)
                } else {
                    self.tomb_check(src, spdcid, start, now)
                };
                if stale {
                    // A packet of a PDC closed or reaped within the quiet
                    // time: delayed or replayed, never a new PDC.
                    self.stats.stale_syn += 1;
                    return None;
                }
                // A SYN whose start PSN a live offer answered (another
                // packet of its flight, a resend or a copy) gets that
                // offer again and never opens a PDC at its own PSN: its
                // initiator may have heard the offer and be sending the
                // same messages from the offered PSN, whose echo would
                // then open a second PDC for them (review of 67a39b2,
                // B1: the pressure ended within the SYN's flight).
                if !proven {
                    if let Some(s) = self.offer_for_syn(src, spdcid, start, now) {
                        self.stats.rx_drop += 1;
                        self.send_nack(src, nack::NEW_START_PSN, psn, 0, spdcid, s, env);
                        return None;
                    }
                }
                // Near a full table (or share), only a SYN that echoes an
                // offer (its initiator heard the NACK: not a blind
                // forgery) takes a PDC; the others get an offer and hold
                // nothing (issue 13, finding 2).
                if !proven
                    && self.syn_pressure(src, job)
                    && !self.offer_has(src, spdcid, start, now)
                {
                    if self.offer_without_pdc(now, src, psn, spdcid, start, 0, env) {
                        self.stats.syn_offered += 1;
                    }
                    return None;
                }
                // A half-open PDC makes an offer that guards this SYN's
                // PSN when it is reaped: not beyond the key's limit
                // (review of 10bea4b, S1).
                if !proven
                    && (self.cfg.one_rtt || now < self.syn_1rtt_until || wide)
                    && !self.offer_has(src, spdcid, start, now)
                    && self.offers_full(src, spdcid, 1, now)
                {
                    self.stats.rx_drop += 1;
                    return None;
                }
                // One peer, and one JobID, may hold only its share of the
                // table.
                let Some((pq, jq)) = self.quota_pdc(src, job) else {
                    self.stats.over_quota += 1;
                    self.send_nack(src, nack::NO_PDC_AVAIL, psn, 0, spdcid, 0, env);
                    return None;
                };
                let Some(i) = self.pdc_alloc(src) else {
                    self.quota_pdc_put(pq, jq);
                    self.send_nack(src, nack::NO_PDC_AVAIL, psn, 0, spdcid, 0, env);
                    return None;
                };
                self.pdcs[i].peer_q = pq;
                self.pdcs[i].job_q = jq;
                // Without a tombstone a SYN may still be old while the
                // quiet time after a restart (or after tombstones were
                // dropped for room) lasts: then only 1-RTT is safe.
                // A SYN at the start PSN a reaped half-open PDC offered
                // completes the 1-RTT handshake.
                let proven = proven || self.offer_take(src, spdcid, start, now);
                let one_rtt = !proven && (self.cfg.one_rtt || now < self.syn_1rtt_until || wide);
                let new_start = if one_rtt {
                    self.offer_psn(src, spdcid, start)
                } else {
                    start
                };
                let d = &mut self.pdcs[i];
                d.state = if one_rtt {
                    PdcState::HalfOpen
                } else {
                    PdcState::Open
                };
                d.ordered = ordered;
                d.peer = *src;
                d.peer_id = spdcid;
                d.job = job;
                d.last_active = now;
                d.set_syn_psn(start);
                self.set_start(i, new_start);
                self.stats.pdc_open += 1;
                self.pdc_map_insert(i);
                self.resched_pdc(i);
                if one_rtt {
                    self.send_nack(
                        src,
                        nack::NEW_START_PSN,
                        psn,
                        self.wire_id(i),
                        spdcid,
                        new_start,
                        env,
                    );
                    return None;
                }
                Some(i)
            }
        }
    }

    /// Answers SYN `psn` (start PSN `start`) of PDC {`src`, `spdcid`}
    /// with `NEW_START_PSN` and no target PDC: the live offer that
    /// answered a SYN at `start` (so that every SYN of a window gets the
    /// same one), or a new one bound to `start` and kept in the offer
    /// ring; never an offer that answered another start PSN (review of
    /// 67a39b2, B1). Only a SYN at the offered PSN, i.e. from an
    /// initiator that heard this NACK, opens the PDC
    /// ([`Engine::offer_take`]). False, and the SYN dropped (counted),
    /// if it needs a new offer and a tombstone says it is stale, or the
    /// key holds as many offers as it may with `more` to come (a
    /// half-open PDC's, when reaped).
    #[allow(clippy::too_many_arguments)]
    fn offer_without_pdc(
        &mut self,
        now: u64,
        src: &Addr,
        psn: u32,
        spdcid: u16,
        start: u32,
        more: usize,
        env: &mut impl Env,
    ) -> bool {
        let s = match self.offer_for_syn(src, spdcid, start, now) {
            Some(s) => s,
            None => {
                if self.tomb_find(src, spdcid, start, now) {
                    // A copy of a SYN whose offer was taken (review of
                    // 10bea4b, N5): stale, never offered again.
                    self.stats.stale_syn += 1;
                    return false;
                }
                if self.offers_full(src, spdcid, 1 + more, now) {
                    // The key holds as many offers that guard other SYNs
                    // as it may, none of which may go before its time
                    // (that would make every new PDC use 1-RTT): dropped,
                    // its initiator sends it again (review of 10bea4b,
                    // S1).
                    self.stats.rx_drop += 1;
                    return false;
                }
                let s = self.offer_psn(src, spdcid, start);
                self.offer_add(*src, spdcid, s, start, now);
                s
            }
        };
        self.send_nack(src, nack::NEW_START_PSN, psn, 0, spdcid, s, env);
        true
    }

    /// Sets the start PSN of target PDC `i` and what derives from it.
    fn set_start(&mut self, i: usize, start: u32) {
        let d = &mut self.pdcs[i];
        d.start_psn = start;
        d.rx = RxWindow::new(start);
        d.nack_ooo = start.wrapping_sub(1);
        d.set_peer_clear(start.wrapping_sub(1));
        // CAST: the low 16 bits of the start PSN (the initiator's, or one
        // this target drew) mixed with the SPDCID: the PDC's first
        // entropy value, any 16 bits will do.
        d.paths[0] = (start ^ u32::from(d.peer_id)).rotate_left(7) as u16;
    }

    /// Refuses a request whose JobID is not the one its target PDC was
    /// opened with (by its SYN): NACK PDC_HDR_MISMATCH, nothing delivered.
    fn bad_job(&mut self, src: &Addr, psn: u32, pid: u16, spdcid: u16, env: &mut impl Env) {
        self.stats.bad_job += 1;
        self.send_nack(src, nack::PDC_HDR_MISMATCH, psn, pid, spdcid, 0, env);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_request(
        &mut self,
        now: u64,
        src: &Addr,
        r: &ReqHdr,
        s: &SesReq,
        payload: &[u8],
        pkt: &[u8],
        ce: bool,
        env: &mut impl Env,
    ) {
        let Some(pi) =
            self.target_pdc(now, src, r.ordered, r.psn, r.spdcid, r.dst, s.addr.job, env)
        else {
            return;
        };
        let d = &mut self.pdcs[pi];
        if ce {
            self.stats.ce_rx += 1;
        }
        if d.ack_pending > 0 && d.ce_pending != ce {
            // An ACK covers packets of one ECN state only (as DCTCP's
            // receiver does), so that the initiator counts marks per
            // packet, not per ACK (review F11): the packets waiting for an
            // ACK are acknowledged before this one counts.
            let last = d.last_psn;
            self.send_ack(pi, last, Answer::None, now, env);
        }
        let d = &mut self.pdcs[pi];
        d.ce_pending |= ce;
        if d.ack_pending == 0 && d.ack_at == 0 {
            d.ack_first = now;
        }
        // CAST: a payload is at most one MTU.
        d.rx_bytes = d.rx_bytes.saturating_add(payload.len() as u32);
        self.request_on_pdc(pi, now, src, r, s, payload, pkt, env);
        self.resched_pdc(pi);
    }

    /// The PDS receive path of a request on target PDC `pi`.
    #[allow(clippy::too_many_arguments)]
    fn request_on_pdc(
        &mut self,
        pi: usize,
        now: u64,
        src: &Addr,
        r: &ReqHdr,
        s: &SesReq,
        payload: &[u8],
        pkt: &[u8],
        env: &mut impl Env,
    ) {
        let psn = r.psn;
        self.pdcs[pi].last_active = now;
        // Responses the initiator has seen can be forgotten.
        let clear = psn.wrapping_add_signed(i32::from(r.clear_psn_offset));
        for e in self.pdcs[pi].resp.iter_mut() {
            if e.used && psn_le(e.psn, clear) {
                e.used = false;
            }
        }
        if self.pdcs[pi].answered != NONE {
            self.clear_answered(pi, clear);
        }
        // The initiator's window moved past PSNs that we acknowledged
        // (and no further than we did): our ACKs reach it. A request on an
        // established PDC names our PDC id, which only our ACKs told it.
        let d = &mut self.pdcs[pi];
        if matches!(r.dst, PdcDst::Dpdcid(_))
            && psn_lt(d.peer_clear(), clear)
            && !psn_lt(d.rx.cack, clear)
        {
            d.set_peer_clear(clear);
            d.set_proven();
        }
        let ordered = self.pdcs[pi].ordered;
        if ordered {
            // A held packet that could not be delivered for want of
            // resources (NACKed) is tried again on every arrival.
            self.replay(pi, now, env);
        }
        let (pid, id) = (self.wire_id(pi), self.pdcs[pi].peer_id);
        match self.pdcs[pi].rx.check(psn) {
            RxCheck::OutOfWindow => {
                self.send_nack(src, nack::PSN_OOR_WINDOW, psn, pid, id, 0, env);
                return;
            }
            RxCheck::Duplicate => {
                self.stats.dup += 1;
                let held = ordered && psn_lt(self.pdcs[pi].rx.cack, psn);
                let ans = if held {
                    // Held, not delivered yet: the ACK's SACK says so.
                    Answer::None
                } else if s.opcode == op::READ {
                    // Reads are idempotent: serve them again.
                    self.process_ses(now, Some(pi), psn, src, s, Data::Slice(payload), env)
                        .unwrap_or(Answer::None)
                } else {
                    self.dup_answer(pi, s)
                };
                // The ACK tells whether this copy was a resend (a resent
                // READ whose answer was lost is no spurious resend), then
                // the flag of the last new request is back for its ACKs.
                let last = self.pdcs[pi].last_retx;
                self.pdcs[pi].last_retx = r.retx;
                self.send_ack(pi, psn, ans, now, env);
                self.pdcs[pi].last_retx = last;
                return;
            }
            RxCheck::New => {}
        }
        let expected = self.pdcs[pi].rx.cack.wrapping_add(1);
        if ordered && psn != expected {
            // ROD: hold it until its predecessors arrive (its SACK bit
            // tells the initiator not to resend it). Without room, drop it
            // and NACK ROD_OOO once per expected PSN: the initiator goes
            // back to that PSN.
            if self.hold_insert(pi, psn, pkt) {
                self.stats.rod_held += 1;
                let d = &mut self.pdcs[pi];
                d.rx.mark(psn);
                d.last_psn = psn;
                d.last_retx = r.retx;
                self.send_ack(pi, psn, Answer::None, now, env);
            } else if self.pdcs[pi].nack_ooo != expected {
                self.pdcs[pi].nack_ooo = expected;
                self.send_nack(src, nack::ROD_OOO, psn, pid, id, expected, env);
            } else {
                self.stats.rx_drop += 1;
            }
            return;
        }
        if self.deliver(pi, now, src, r, s, Data::Slice(payload), false, env) && ordered {
            self.replay(pi, now, env);
        }
    }

    /// Delivers request `psn` (the next in order on a ROD PDC) to SES and
    /// acknowledges it; false if SES refused it for want of resources (a
    /// NACK went out, the packet is not received). `replay`: a held packet,
    /// whose ACK the replay sends once at its end.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        pi: usize,
        now: u64,
        src: &Addr,
        r: &ReqHdr,
        s: &SesReq,
        data: Data<'_>,
        replay: bool,
        env: &mut impl Env,
    ) -> bool {
        let psn = r.psn;
        let ans = match self.process_ses(now, Some(pi), psn, src, s, data, env) {
            Ok(a) => a,
            Err(code) => {
                let (pid, id) = (self.wire_id(pi), self.pdcs[pi].peer_id);
                self.send_nack(src, code, psn, pid, id, 0, env);
                return false;
            }
        };
        // Errors and read data go at once; a success is implied by the
        // (coalesced) ACK when `implied_ok`.
        let now_needed = match ans {
            Answer::None => false,
            Answer::Plain { rc: c, .. } => c != rc::OK || !self.cfg.implied_ok,
            Answer::Read { .. } | Answer::Local { .. } | Answer::Atomic { .. } => true,
        };
        let ans = if now_needed { ans } else { Answer::None };
        if self.cfg.implied_ok && !self.keep_error(pi, psn, &ans) {
            let (pid, id) = (self.wire_id(pi), self.pdcs[pi].peer_id);
            self.send_nack(src, nack::NO_GTD_DEL_AVAIL, psn, pid, id, 0, env);
            return false;
        }
        let d = &mut self.pdcs[pi];
        if d.ordered {
            d.rx.advance(psn);
        } else {
            d.rx.mark(psn);
        }
        d.ack_pending = d.ack_pending.saturating_add(1);
        d.last_psn = psn;
        d.last_retx = r.retx;
        // `ack_delay` 0: no coalescing, every request is acknowledged as it
        // arrives (a replay of held ROD packets sends one ACK at its end).
        let at_once = if replay {
            r.ar || now_needed
        } else {
            r.ar || now_needed
                || d.rx.holes()
                || d.ack_pending >= self.cfg.ack_every
                || self.cfg.ack_delay == 0
        };
        if at_once {
            self.send_ack(pi, psn, ans, now, env);
        } else if d.ack_at == 0 {
            // (0 means no timer: never arm one at time 0.)
            d.ack_at = (now + self.cfg.ack_delay).max(1);
        }
        true
    }

    /// ROD: delivers the packets target PDC `pi` holds that are next in
    /// order, then acknowledges them with one ACK. Stops at a gap, or at a
    /// packet SES refuses for want of resources (kept, tried again on the
    /// next arrival).
    fn replay(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        let slot = super::Tables::<S>::held_bytes(self.cfg.mtu);
        let src = self.pdcs[pi].peer;
        let mut last = None;
        loop {
            let d = &self.pdcs[pi];
            let h = usize::from(d.hold_head);
            if d.hold_head == NONE || self.held[h].psn != d.rx.cack.wrapping_add(1) {
                break;
            }
            let (off, len) = (h * slot, usize::from(self.held[h].len));
            // Held packets parsed when they arrived, and their bytes do
            // not change.
            let parsed = match wire::parse(&self.held_buf[off..off + len]) {
                Ok(wire::Packet {
                    pds: PdsHeader::Req(r),
                    ses: Some(SesHeader::Req(s)),
                    payload,
                }) => Some((r, s, payload.len())),
                _ => None,
            };
            let Some((r, s, plen)) = parsed else {
                self.hold_pop(pi);
                break;
            };
            let data = Data::Held(off + len - plen, plen);
            if !self.deliver(pi, now, &src, &r, &s, data, true, env) {
                break;
            }
            self.hold_pop(pi);
            last = Some(r.psn);
        }
        if let Some(p) = last {
            if self.pdcs[pi].ack_pending > 0 {
                self.send_ack(pi, p, Answer::None, now, env);
            }
        }
    }

    /// With implied success every error is kept in PDC `pi`'s response
    /// ring, including those refused before any state was taken (e.g. an
    /// unsupported size), or a lost one would later be implied Ok and an
    /// ACK's error would not be the target's oldest. The entry's PSN is
    /// the highest of the message's packets seen (`psn` is one), so the
    /// initiator cannot clear it while a packet of the message is still
    /// unacknowledged (a duplicate of that packet would then be answered
    /// OK). False if the ring has no room.
    fn keep_error(&mut self, pi: usize, psn: u32, ans: &Answer) -> bool {
        let Answer::Plain {
            msg_id, rc: c, len, ..
        } = *ans
        else {
            return true;
        };
        if c == rc::OK {
            return true;
        }
        let d = &mut self.pdcs[pi];
        if let Some(e) = d.resp.iter_mut().find(|e| e.used && e.msg_id == msg_id) {
            if psn_lt(e.psn, psn) {
                e.psn = psn;
            }
            return true;
        }
        if !self.ring_free(pi, psn) {
            return false;
        }
        self.ring_push(pi, msg_id, psn, c, u64::from(len));
        true
    }

    /// Builds and sends an ACK for PDC `pi`, triggered by `psn`. With
    /// congestion control on, every ACK is an ACK_CC carrying the NSCC
    /// state (see `engine/cc.rs`); otherwise only ACKs with holes to report.
    pub(super) fn send_ack(
        &mut self,
        pi: usize,
        psn: u32,
        ans: Answer,
        now: u64,
        env: &mut impl Env,
    ) {
        // An ACK without an answer carries the oldest error response the
        // initiator has not cleared yet: with implied success, an ACK with
        // no response at all means every message it covers succeeded.
        // A fresh error goes in the ring first (see `deliver`), so the
        // oldest is this one or an older one: an initiator completes the
        // acknowledged messages below the error it gets (review F1), so
        // that must be the oldest.
        let ans = match ans {
            Answer::None if self.cfg.implied_ok => self.oldest_error(pi),
            Answer::Plain { rc: c, .. } if self.cfg.implied_ok && c != rc::OK => {
                match self.oldest_error(pi) {
                    Answer::None => ans,
                    o => o,
                }
            }
            a => a,
        };
        let cc = self.cfg.cc;
        let wid = self.wire_id(pi);
        let mpr = self.mpr(pi);
        self.confirm_peer(pi, env);
        let d = &mut self.pdcs[pi];
        d.ack_pending = 0;
        d.ack_at = 0;
        let cack = d.rx.cack;
        let ext = if d.rx.holes() || cc {
            let (off, map) = d.rx.sack(psn);
            let service = now.saturating_sub(d.ack_first);
            AckExt::Cc {
                cc_type: 0,
                cc_flags: 0,
                mpr,
                sack_psn_offset: off,
                sack_bitmap: map,
                cc_state: cc::cc_state(service, d.rx_bytes, d.rx.above()),
            }
        } else {
            AckExt::None
        };
        let ecn = d.ce_pending;
        d.ce_pending = false;
        d.rx_bytes = 0;
        d.ack_first = now;
        let mut a = AckHdr {
            next: NextHeader::None,
            ecn,
            // Tells the sender whether it was a resent copy that arrived
            // (spurious retransmissions widen its reordering window).
            retx: d.last_retx,
            probe: false,
            request: 0,
            ack_psn_offset: clamp_i16(psn_diff(psn, cack)),
            cack_psn: cack,
            spdcid: wid,
            dpdcid: d.peer_id,
            ext,
            epsn: None,
        };
        let peer = d.peer;
        self.stats.ack_tx += 1;
        // ACKs keep to one path (the first entropy value of the PDC).
        let entropy = u32::from(self.pdcs[pi].paths[0]);
        self.send_answer(&peer, entropy, Some(&mut a), 0, ans, env);
    }

    pub(super) fn initiator_pdc(&self, src: &Addr, id: u16) -> Option<usize> {
        let i = self.local_id(id)?;
        let d = self.pdcs.get(i)?;
        if matches!(
            d.state,
            PdcState::SynSent | PdcState::Established | PdcState::Closing
        ) && d.peer == *src
        {
            Some(i)
        } else {
            None
        }
    }

    /// Retires finished packets from the front of the window, completes
    /// messages and refills the window.
    pub(super) fn slide(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        loop {
            let d = &self.pdcs[pi];
            if d.tx_base == d.next_psn {
                break;
            }
            let base = d.tx_base;
            // ROD: a packet SACKed above the cumulative ACK is only held
            // by the target; it is not delivered (and may still be
            // refused) until the cumulative ACK passes it.
            if d.ordered && psn_lt(d.acked_to, base) {
                break;
            }
            let i = self.txi(pi, base);
            let t = self.txq[i];
            if !t.done() {
                break;
            }
            self.desc_settled(pi, i);
            self.txq[i] = TxDesc::EMPTY;
            let d = &mut self.pdcs[pi];
            d.tx_base = d.tx_base.wrapping_add(1);
            if t.flags & D_CLOSE != 0 {
                self.stats.pdc_close += 1;
                self.pdc_release(pi);
                return;
            }
            let mi = usize::from(t.msg);
            // Never below 0, whatever went wrong (no panic in the kernel).
            self.msgs[mi].refs = self.msgs[mi].refs.saturating_sub(1);
            self.settle(mi, env);
        }
        let d = &mut self.pdcs[pi];
        if d.tx_base == d.next_psn {
            // Nothing in flight: no timers, and the window goes back to
            // the pool until the next packet.
            d.rto_at = 0;
            d.tlp_at = 0;
            d.rack_at = 0;
            self.win_release(pi);
        }
        self.pump(pi, now, env);
        self.wake_waiters(now, env);
    }

    /// Lends freed send windows to the PDCs waiting for one.
    pub(super) fn wake_waiters(&mut self, now: u64, env: &mut impl Env) {
        while let Some(w) = self.wait_pop() {
            self.pump(w, now, env);
            self.resched_pdc(w);
        }
    }

    /// The PDC half of [`Engine::cancel`] for initiator PDC `pi`: its
    /// queue drops the cancelled messages it never started, keeps one
    /// (IE) packet of each partly sent SEND or WRITE to end it at the
    /// target and asks no more of a partly sent READ; its packets in flight
    /// of cancelled messages no longer wait for a response, only for their
    /// ACK.
    pub(super) fn cancel_on_pdc(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        if !matches!(
            self.pdcs[pi].state,
            PdcState::SynSent | PdcState::Established
        ) {
            return;
        }
        let mut touched = false;
        let (mut prev, mut q) = (NONE, self.pdcs[pi].q_head);
        while q != NONE {
            let qi = usize::from(q);
            let m = &mut self.msgs[qi];
            let next = m.next;
            let read = matches!(m.post.op, Op::Read { .. });
            if !m.cancelled {
                prev = q;
            } else if m.seg_next > 0 && !read {
                // The rest of the message: one IE packet (EOM).
                m.nsegs = m.seg_next + 1;
                touched = true;
                prev = q;
            } else {
                touched = true;
                self.queue_unlink(pi, prev, q);
            }
            q = next;
        }
        let d = &self.pdcs[pi];
        let (mut p, end, has_win) = (d.tx_base, d.next_psn, d.win != NONE);
        while has_win && psn_lt(p, end) {
            let i = self.txi(pi, p);
            let t = self.txq[i];
            if t.flags & D_USED != 0
                && t.flags & (D_CLOSE | D_NEED_RESP) == D_NEED_RESP
                && self.msgs[usize::from(t.msg)].cancelled
            {
                touched = true;
                let pending = t.pending();
                self.txq[i].flags &= !D_NEED_RESP;
                if pending && self.txq[i].done() {
                    self.desc_settled(pi, i);
                }
            }
            p = p.wrapping_add(1);
        }
        if touched {
            // Retire what is done now, and send the closing IE packets.
            self.slide(pi, now, env);
            if self.pdcs[pi].state != PdcState::Free {
                self.arm_timers(pi, now, false);
            }
            self.resched_pdc(pi);
        }
    }

    /// Takes message `mi` out of PDC `pi`'s queue if it is there (partly
    /// sent): its unsent segments are never sent, as for a cancelled READ
    /// ([`Engine::cancel_on_pdc`]). O(queue length).
    pub(super) fn unqueue(&mut self, pi: usize, mi: usize) {
        if !self.msgs[mi].in_queue {
            return;
        }
        let (mut prev, mut q) = (NONE, self.pdcs[pi].q_head);
        while q != NONE && usize::from(q) != mi {
            prev = q;
            q = self.msgs[usize::from(q)].next;
        }
        if q != NONE {
            self.queue_unlink(pi, prev, q);
        }
    }

    /// Unlinks message `q` (after `prev`, `NONE` at the head) from PDC
    /// `pi`'s queue: its unsent segments are never sent.
    fn queue_unlink(&mut self, pi: usize, prev: u16, q: u16) {
        let m = &mut self.msgs[usize::from(q)];
        let next = m.next;
        m.nsegs = m.seg_next;
        m.in_queue = false;
        m.next = NONE;
        if prev == NONE {
            self.pdcs[pi].q_head = next;
        } else {
            self.msgs[usize::from(prev)].next = next;
        }
        let d = &mut self.pdcs[pi];
        if d.q_tail == q {
            d.q_tail = prev;
        }
    }

    /// Puts PDC `pi` in error: every message on it completes with
    /// [`Status::PdcError`] and the slot is quarantined
    /// ([`Engine::pdc_quarantine`]).
    pub(super) fn pdc_fail(&mut self, pi: usize, env: &mut impl Env) {
        self.stats.pdc_error += 1;
        let pi16 = to_u16(pi);
        // Every message of the PDC is in its window (sent, possibly
        // waiting for its response) or in its queue (not fully sent).
        let mut fail = |e: &mut Self, mi: usize| {
            let m = e.msgs[mi];
            if m.state == MsgState::Active && m.pdc == pi16 {
                if !m.completed {
                    e.finish_msg(mi, Status::PdcError, env);
                }
                e.release_msg(mi);
            }
        };
        // The queue first: releasing a message destroys its queue link,
        // and a partly sent message is in both (found by the `engine`
        // fuzz target: the messages queued behind it leaked).
        let mut q = self.pdcs[pi].q_head;
        while q != NONE {
            let next = self.msgs[usize::from(q)].next;
            fail(self, usize::from(q));
            q = next;
        }
        let d = &self.pdcs[pi];
        let (mut p, end, has_win) = (d.tx_base, d.next_psn, d.win != NONE);
        while has_win && psn_lt(p, end) {
            let t = self.txq[self.txi(pi, p)];
            if t.flags & D_USED != 0 && t.flags & D_CLOSE == 0 {
                fail(self, usize::from(t.msg));
            }
            p = p.wrapping_add(1);
        }
        self.pdc_quarantine(pi);
    }

    pub(super) fn on_ctrl(&mut self, now: u64, src: &Addr, c: &CtrlHdr, env: &mut impl Env) {
        if let Some(pi) = self.ctrl_on_pdc(now, src, c, env) {
            self.resched_pdc(pi);
        }
    }

    /// Handles a CTRL packet; returns the PDC it changed.
    fn ctrl_on_pdc(
        &mut self,
        now: u64,
        src: &Addr,
        c: &CtrlHdr,
        env: &mut impl Env,
    ) -> Option<usize> {
        match c.ctl {
            CtlType::Close => {
                let PdcDst::Dpdcid(id) = c.dst else {
                    self.stats.rx_drop += 1;
                    return None;
                };
                let i = self.local_id(id).unwrap_or(usize::MAX);
                let ok = self.pdcs.get(i).is_some_and(|d| {
                    d.state == PdcState::Open && d.peer == *src && d.peer_id == c.spdcid
                });
                if !ok {
                    self.send_nack(src, nack::INV_DPDCID, c.psn, id, c.spdcid, 0, env);
                    return None;
                }
                let d = &mut self.pdcs[i];
                if c.psn != d.rx.cack.wrapping_add(1) {
                    // Earlier packets still missing: wait for them.
                    self.stats.rx_drop += 1;
                    return None;
                }
                d.rx.mark(c.psn);
                self.send_ack(i, c.psn, Answer::None, now, env);
                self.release_target_pdc(i, now, env);
                self.stats.pdc_close += 1;
                None
            }
            CtlType::CloseReq => {
                let pi = self.initiator_pdc(src, c.spdcid_as_dpdcid())?;
                if self.pdcs[pi].state == PdcState::Established && self.pdcs[pi].idle() {
                    self.start_close(pi, now, env);
                }
                Some(pi)
            }
            CtlType::AckReq => {
                let PdcDst::Dpdcid(id) = c.dst else {
                    return None;
                };
                let i = self.local_id(id).unwrap_or(usize::MAX);
                if self
                    .pdcs
                    .get(i)
                    .is_some_and(|d| d.state == PdcState::Open && d.peer == *src)
                {
                    let last = self.pdcs[i].rx.cack;
                    self.send_ack(i, last, Answer::None, now, env);
                    return Some(i);
                }
                None
            }
            _ => {
                self.stats.rx_drop += 1;
                None
            }
        }
    }

    /// Frees the finished messages target PDC `pi` keeps for their error
    /// answer ([`Dest::Answered`]) once the initiator's clear PSN `clear`
    /// has passed them. Walks only that PDC's chain of such messages
    /// (rare: an error when the response ring was full; bounded by the
    /// peer's inbound quota).
    fn clear_answered(&mut self, pi: usize, clear: u32) {
        let mut prev = NONE;
        let mut cur = self.pdcs[pi].answered;
        while cur != NONE {
            let c = usize::from(cur);
            let e = self.inb[c];
            if e.eom_psn.is_some_and(|p| psn_le(p, clear)) {
                // Unlinked here, where its predecessor is known, then
                // freed as an ordinary slot.
                if prev == NONE {
                    self.pdcs[pi].answered = e.anext;
                } else {
                    self.inb[usize::from(prev)].anext = e.anext;
                }
                let d = &mut self.pdcs[pi];
                d.nanswered = d.nanswered.saturating_sub(1);
                self.inb[c].dest = Dest::Failed;
                self.inb_release(c);
            } else {
                prev = cur;
            }
            cur = e.anext;
        }
    }

    /// Frees target PDC `i` (closed or reaped) and leaves a tombstone.
    pub(super) fn release_target_pdc(&mut self, i: usize, now: u64, env: &mut impl Env) {
        let d = &self.pdcs[i];
        if d.state == PdcState::Open {
            let (peer, spdcid, start) = (d.peer, d.peer_id, d.start_psn);
            self.tomb_add(peer, spdcid, start, now);
        }
        // Its partially received messages, from its own chain (O(its
        // messages)); each release takes the head off the chain. Bounded
        // by the table, whatever happened to the chain.
        for _ in 0..self.inb.len() {
            let m = usize::from(self.pdcs[i].inb_head);
            if m >= self.inb.len() {
                break;
            }
            self.rndv_abort(m, false, env);
            let dest = self.inb[m].dest;
            self.inb_release(m);
            self.undo_dest(dest, env);
            if usize::from(self.pdcs[i].inb_head) == m {
                debug_assert!(false, "inbound {m} stays on PDC {i}'s chain");
                break;
            }
        }
        self.pdc_release(i);
    }

    pub(super) fn start_close(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        if !self.win_acquire(pi) {
            // No send window free: try again after another idle period.
            self.pdcs[pi].last_active = now;
            return;
        }
        let psn = self.pdcs[pi].next_psn;
        let i = self.txi(pi, psn);
        self.txq[i] = TxDesc {
            msg: NONE,
            flags: D_USED | D_CLOSE,
            path: 0,
            seg: 0,
            sent: 0,
        };
        self.pdc_map_remove(pi);
        let d = &mut self.pdcs[pi];
        d.next_psn = psn.wrapping_add(1);
        d.note_lap();
        d.state = PdcState::Closing;
        d.rto_at = now + d.rtt.rto;
        d.retries = 0;
        self.send_desc(pi, psn, false, false, now, env);
    }
}

impl CtrlHdr {
    /// For CLOSE_REQ sent by a target, the initiator's PDC id is in the
    /// DPDCID position.
    fn spdcid_as_dpdcid(&self) -> u16 {
        match self.dst {
            PdcDst::Dpdcid(d) => d,
            PdcDst::Syn { .. } => NONE,
        }
    }
}
