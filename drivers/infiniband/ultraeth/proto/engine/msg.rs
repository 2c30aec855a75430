// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! SES messages and matching: receives, unexpected messages, RUDI and
//! UUD single-packet messages, reassembly of inbound messages and their
//! guaranteed-delivery responses, completions.

use super::super::ses::{
    Addr,
    CompKind,
    Completion,
    Env,
    Mode,
    Op,
    Status, //
};
use super::super::wire::pds::{
    nack,
    PdsHeader, //
};
use super::super::wire::ses::{
    op,
    rc,
    sflags,
    ReqBody,
    ReqExt,
    RespBody,
    SesHeader,
    SesReq,
    SesResp,
    StdData, //
};
use super::super::wire::{
    self,
    NextHeader, //
};

use super::index;
use super::rndv::RNDV_KEY;
use super::{
    to_u16,
    Answer,
    Data,
    Dest,
    Engine,
    InMsg,
    MsgState,
    PostError,
    Recv,
    RespEnt,
    Rndv,
    Slab,
    Unexp, //
    ANSWERED_MAX,
    NONE,
};

/// True when two packets of a message carry the same rendezvous
/// extension (or neither carries one).
fn same_rndv(a: Option<Rndv>, b: Option<Rndv>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (a.eager, a.ri_gen, a.pid, a.ri, a.offset, a.key)
                == (b.eager, b.ri_gen, b.pid, b.ri, b.offset, b.key)
        }
        _ => false,
    }
}

impl<S: Slab> Engine<S> {
    /// Posts a receive buffer on endpoint `ep`; `tag` is `(match bits,
    /// ignore bits)` for tagged receives.
    pub(crate) fn post_recv(
        &mut self,
        ep: u32,
        user: u64,
        buf: u64,
        len: u32,
        tag: Option<(u64, u64)>,
        env: &mut impl Env,
    ) -> Result<(), PostError> {
        let ri = self.recv_alloc().ok_or(PostError::NoRecv)?;
        let (tagged, t, ig) = match tag {
            Some((t, i)) => (true, t, i),
            None => (false, 0, 0),
        };
        self.seq += 1;
        self.recvs[ri] = Recv {
            used: true,
            claimed: false,
            cancel: false,
            tagged,
            ep,
            len,
            user,
            buf,
            tag: t,
            ignore: ig,
            seq: self.seq,
            hnext: self.recvs[ri].hnext,
            lnext: NONE,
            lprev: NONE,
            listed: false,
        };
        self.recv_list(ri);
        self.match_unexp(ri, env);
        Ok(())
    }

    /// Cancels every initiator message (RUD, ROD, RUDI; queued or in
    /// flight) and every posted receive (claimed or not) whose `user`
    /// cookie satisfies `pred`: each completes at once through
    /// [`Env::complete`] with [`Status::Cancelled`] and length 0, and from
    /// then on the engine never names its buffer or cookie in an [`Env`]
    /// call (the caller may free them as soon as this returns). Returns
    /// how many completed. Messages and receives that already completed
    /// are not asked about; unexpected messages belong to no receive and
    /// stay.
    ///
    /// What is on the wire stays consistent (ultraeth-engine.rst,
    /// "Cancel"): packets of a cancelled message still in flight are
    /// resent, if they must be, as initiator-error (IE) packets without
    /// payload, and a partly sent SEND or WRITE gets one more IE packet
    /// that ends it at the target, which answers it INITIATOR_ERROR and
    /// gives back whatever receive it had claimed. A cancelled message's
    /// slot is freed once the packets that refer to it are acknowledged.
    /// A claimed receive is detached from its message: the rest of that
    /// message is acknowledged and discarded, no receive completes for it,
    /// and its sender is answered `CANCELLED`.
    ///
    /// O(table sizes): meant for endpoint teardown.
    pub(crate) fn cancel(
        &mut self,
        now: u64,
        mut pred: impl FnMut(u64) -> bool,
        env: &mut impl Env,
    ) -> usize {
        self.start(now);
        let mut n = 0;
        let mut on_pdc = false;
        for mi in 0..self.msgs.len() {
            let m = self.msgs[mi];
            if m.state != MsgState::Active || m.completed || m.pull != NONE || !pred(m.post.user) {
                continue;
            }
            n += 1;
            self.finish_msg(mi, Status::Cancelled, env);
            self.msgs[mi].cancelled = true;
            if m.pdc == NONE {
                // RUDI: no PDC, nothing else refers to it.
                self.release_msg(mi);
            } else {
                on_pdc = true;
            }
        }
        if on_pdc {
            for pi in 0..self.pdcs.len() {
                self.cancel_on_pdc(pi, now, env);
            }
            // Cancelled messages nothing refers to any more go now; the
            // others when their last packet is retired.
            for mi in 0..self.msgs.len() {
                if self.msgs[mi].state == MsgState::Active && self.msgs[mi].cancelled {
                    self.settle(mi, env);
                }
            }
        }
        n += self.cancel_recvs(&mut pred, env);
        self.wake_waiters(now, env);
        n
    }

    /// The receive half of [`Engine::cancel`].
    fn cancel_recvs(&mut self, pred: &mut impl FnMut(u64) -> bool, env: &mut impl Env) -> usize {
        let mut n = 0;
        let mut claimed = false;
        for ri in 0..self.recvs.len() {
            let r = self.recvs[ri];
            if !r.used || !pred(r.user) {
                continue;
            }
            n += 1;
            if r.claimed {
                // Completed below, once detached from its message.
                self.recvs[ri].cancel = true;
                claimed = true;
            } else {
                self.recv_cancelled(ri, env);
            }
        }
        if !claimed {
            return n;
        }
        let gone = |e: &Self, r: u16| e.recvs.get(usize::from(r)).is_some_and(|r| r.cancel);
        // A message arriving into a cancelled receive: the rest of it is
        // acknowledged and dropped, and its sender is told CANCELLED.
        for i in 0..self.inb.len() {
            let m = self.inb[i];
            if let (true, Dest::Recv(r)) = (m.used, m.dest) {
                if gone(self, r) && m.rndv.is_some_and(|x| x.pulling) {
                    // Its rest is being read: stop, answer CANCELLED.
                    self.rndv_abort(i, true, env);
                } else if gone(self, r) {
                    let m = &mut self.inb[i];
                    m.dest = Dest::Failed;
                    if m.rc == rc::OK {
                        m.rc = rc::CANCELLED;
                    }
                }
            }
        }
        // An unexpected message still arriving for a cancelled receive
        // goes back to waiting for one (its place in arrival order kept).
        for ui in 0..self.unexp.len() {
            let u = self.unexp[ui];
            if u.used && u.matched != NONE && gone(self, u.matched) {
                self.unexp[ui].matched = NONE;
                match self.match_recv(u.ep, u.tagged, u.bits) {
                    Some(r) => self.unexp[ui].matched = r,
                    None => self.unexp_list(ui),
                }
            }
        }
        for ri in 0..self.recvs.len() {
            if self.recvs[ri].used && self.recvs[ri].cancel {
                self.recv_cancelled(ri, env);
            }
        }
        n
    }

    /// Completes receive `ri` as cancelled and frees it.
    fn recv_cancelled(&mut self, ri: usize, env: &mut impl Env) {
        let r = self.recvs[ri];
        env.complete(&Completion {
            user: r.user,
            kind: CompKind::Recv,
            status: Status::Cancelled,
            len: 0,
            tag: 0,
            hdr_data: 0,
            with_data: false,
            ep: r.ep,
            src: [0; 16],
            initiator: 0,
            job: 0,
        });
        self.recv_release(ri);
    }

    /// Gives the unclaimed receive `ri` the oldest matching unexpected
    /// message, if any (delivered at once when complete).
    pub(super) fn match_unexp(&mut self, ri: usize, env: &mut impl Env) {
        if let Some(ui) = self.unexp_first(ri) {
            self.recvs[ri].claimed = true;
            self.recv_unlist(ri);
            self.unexp_unlist(ui);
            self.unexp[ui].matched = to_u16(ri);
            if self.unexp[ui].complete {
                self.deliver_unexp(ui, env);
            }
        }
    }

    /// Unexpected messages held for the application: `(endpoint, match
    /// bits if tagged, length, complete)`. Complete ones wait for a
    /// matching receive; incomplete ones belong to a live PDC.
    pub(crate) fn unexpected(&self) -> impl Iterator<Item = (u32, Option<u64>, u32, bool)> + '_ {
        self.unexp
            .iter()
            .filter(|u| u.used)
            .map(|u| (u.ep, u.tagged.then_some(u.bits), u.len, u.complete))
    }

    pub(super) fn deliver_unexp(&mut self, ui: usize, env: &mut impl Env) {
        let u = self.unexp[ui];
        if u.rndv != NONE {
            self.rndv_deliver_unexp(ui, env);
            return;
        }
        let ri = usize::from(u.matched);
        let r = self.recvs[ri];
        let n = u.len.min(r.len);
        env.overflow_drain(u.buf, r.buf, n);
        env.complete(&Completion {
            user: r.user,
            kind: CompKind::Recv,
            status: if u.len > r.len {
                Status::Truncated
            } else {
                Status::Ok
            },
            len: n,
            tag: u.bits,
            hdr_data: u.hdr,
            with_data: u.hd,
            ep: r.ep,
            src: u.src,
            initiator: u.initiator,
            job: u.job,
        });
        self.recv_release(ri);
        self.unexp_release(ui);
    }

    /// Sends the single packet of a UUD or RUDI message.
    pub(super) fn send_single(&mut self, mi: usize, retx: bool, env: &mut impl Env) {
        let m = &self.msgs[mi];
        let p = m.post;
        let (opcode, key, boff, payload) = match p.op {
            Op::Send { tag: Some(t) } => (op::TSEND, t, 0, p.len),
            Op::Send { tag: None } => (op::SEND, 0, 0, p.len),
            Op::Write { key, offset } => (op::WRITE, key, offset, p.len),
            Op::Read { key, offset } => (op::READ, key, offset, 0),
            // Refused in RUDI and UUD by `post`.
            Op::Atomic { .. } => return,
        };
        let flags = sflags::SOM | sflags::EOM;
        let (h, ses) = if p.mode == Mode::Uud {
            (
                PdsHeader::Uud {
                    next: NextHeader::ReqStd,
                },
                SesHeader::Req(SesReq {
                    opcode,
                    flags: flags | if p.with_data { sflags::HD } else { 0 },
                    addr: p.target,
                    body: ReqBody::Std {
                        // CAST: the low 16 bits name the datagram.
                        msg_id: m.pkt_id as u16,
                        buffer_offset: 0,
                        initiator: p.initiator,
                        key,
                        data: StdData::HeaderData(if p.with_data { p.hdr_data } else { 0 }),
                        request_length: p.len,
                    },
                    ext: wire::ses::ReqExt::None,
                }),
            )
        } else {
            (
                PdsHeader::RudiReq {
                    ecn: false,
                    next: NextHeader::ReqMedium,
                    retx,
                    pkt_id: m.pkt_id,
                },
                SesHeader::Req(SesReq {
                    opcode,
                    flags,
                    addr: p.target,
                    body: ReqBody::Medium {
                        // CAST: RUDI messages are at most one MTU (< 2^14).
                        request_length: p.len as u16,
                        buffer_offset: boff,
                        initiator: p.initiator,
                        key,
                    },
                    ext: wire::ses::ReqExt::None,
                }),
            )
        };
        if retx {
            self.stats.retx += 1;
        }
        // CAST: entropy only needs to vary.
        let ent = m.pkt_id;
        self.transmit_with_local(&p.dst, ent, &h, &ses, p.buf, 0, payload, env);
    }

    /// Answer to a duplicate request packet: a kept error response, nothing
    /// while the message is still arriving, success once it completed
    /// (only error responses are kept: a completed message with no kept
    /// response succeeded).
    pub(super) fn dup_answer(&self, pi: usize, s: &SesReq) -> Answer {
        let (msg_id, len) = match s.body {
            ReqBody::Std {
                msg_id,
                request_length,
                ..
            } => (msg_id, request_length),
            ReqBody::Medium { request_length, .. } | ReqBody::Small { request_length, .. } => {
                (0, u32::from(request_length))
            }
        };
        if let Some(e) = self.pdcs[pi]
            .resp
            .iter()
            .find(|e| e.used && e.msg_id == msg_id)
        {
            if e.rc == rc::OK {
                // A kept atomic result: the same previous value again.
                return Answer::Atomic {
                    msg_id,
                    job: s.addr.job,
                    value: e.val,
                };
            }
            return Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: e.rc,
                len: u32::try_from(e.val).unwrap_or(u32::MAX),
            };
        }
        if let Some(i) = self.inb_find(to_u16(pi), msg_id) {
            let m = &self.inb[i];
            if m.dest == Dest::Answered {
                return Answer::Plain {
                    msg_id,
                    job: s.addr.job,
                    rc: m.rc,
                    len: m.total,
                };
            }
            return Answer::None;
        }
        Answer::Plain {
            msg_id,
            job: s.addr.job,
            rc: rc::OK,
            len,
        }
    }

    /// Room in PDC `pi`'s response ring for a message completed by
    /// `psn`. The last free entry is kept for the oldest PSN not received
    /// (`cack + 1`): later messages (RUD completes them out of order) could
    /// otherwise fill the ring with responses the initiator cannot clear
    /// until that PSN is accepted, which needs an entry (a deadlock found
    /// at 20% loss by `implied_success_never_hides_an_error`).
    pub(super) fn ring_free(&self, pi: usize, psn: u32) -> bool {
        let d = &self.pdcs[pi];
        let free = d.resp.iter().filter(|e| !e.used).count();
        free > 1 || (free == 1 && psn == d.rx.cack.wrapping_add(1))
    }

    /// Keeps response `rc` (`val`: see [`RespEnt`]) of message `msg_id`,
    /// completed by `psn`, in PDC `pi`'s ring (checked with
    /// [`Self::ring_free`] first).
    pub(super) fn ring_push(&mut self, pi: usize, msg_id: u16, psn: u32, rc: u8, val: u64) {
        if let Some(e) = self.pdcs[pi].resp.iter_mut().find(|e| !e.used) {
            *e = RespEnt {
                used: true,
                rc,
                msg_id,
                psn,
                val,
            };
        }
    }

    /// Target side of SES for one new request packet. `pdc` is `None` for
    /// RUDI and UUD. `Err` is a NACK code: the packet was not consumed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_ses(
        &mut self,
        now: u64,
        pdc: Option<usize>,
        psn: u32,
        src: &Addr,
        s: &SesReq,
        data: Data<'_>,
        env: &mut impl Env,
    ) -> Result<Answer, u8> {
        let som = s.flags & sflags::SOM != 0;
        let eom = s.flags & sflags::EOM != 0;
        // Initiator error: the initiator abandoned the message (cancelled,
        // see `Engine::cancel`) and sends its remaining packets without
        // payload. Such a packet delivers nothing; it stands for the bytes
        // of its segment, or with EOM for the rest of the message, so
        // that the message still finishes (answered INITIATOR_ERROR)
        // once every PSN of it arrived.
        let ie = s.flags & sflags::IE != 0;
        let (msg_id, boff, key, total, msg_off, hdr) = match s.body {
            ReqBody::Std {
                msg_id,
                buffer_offset,
                key,
                data,
                request_length,
                ..
            } => match data {
                StdData::HeaderData(h) => (msg_id, buffer_offset, key, request_length, 0, h),
                StdData::Cont { message_offset, .. } => (
                    msg_id,
                    buffer_offset,
                    key,
                    request_length,
                    message_offset,
                    0,
                ),
            },
            ReqBody::Medium {
                request_length,
                buffer_offset,
                key,
                ..
            } => (0, buffer_offset, key, u32::from(request_length), 0, 0),
            ReqBody::Small {
                request_length,
                buffer_offset,
            } => (0, buffer_offset, 0, u32::from(request_length), 0, 0),
        };
        // A rendezvous send's packets carry its eager part only.
        let rndv = match (op::is_rendezvous(s.opcode), s.ext) {
            (
                true,
                ReqExt::Rendezvous {
                    eager_length,
                    read_ri_gen,
                    read_pid,
                    read_ri,
                    read_offset,
                    read_match_bits,
                },
            ) => Some(Rndv {
                eager: eager_length,
                ri_gen: read_ri_gen,
                pid: read_pid,
                ri: read_ri,
                offset: read_offset,
                key: read_match_bits,
                pull: NONE,
                pulling: false,
            }),
            _ => None,
        };
        let need = rndv.map_or(total, |x| x.eager.min(total));
        // CAST: payloads are at most one packet.
        let plen = if ie {
            let rest = need.saturating_sub(msg_off);
            if eom {
                rest
            } else {
                rest.min(self.cfg.mtu)
            }
        } else {
            data.len() as u32
        };
        let initiator = match s.body {
            ReqBody::Std { initiator, .. } | ReqBody::Medium { initiator, .. } => initiator,
            ReqBody::Small { .. } => 0,
        };
        if op::is_atomic(s.opcode) {
            return self.process_atomic(pdc, psn, src, s, data, env);
        }
        if s.opcode == op::READ && key & RNDV_KEY != 0 {
            // A READ of one of our rendezvous sends (engine/rndv.rs).
            if ie {
                return Ok(Answer::None);
            }
            return Ok(self.rndv_serve(src, s, initiator, msg_id, (boff, key), total, msg_off));
        }
        let ep = env.resolve(src, &s.addr);
        if s.opcode == op::READ && ie {
            // An abandoned read: nothing to serve.
            return Ok(Answer::None);
        }
        if s.opcode == op::READ {
            let (len, a) = match ep {
                Err(code) => (
                    0,
                    Answer::Plain {
                        msg_id,
                        job: s.addr.job,
                        rc: code,
                        len: 0,
                    },
                ),
                Ok(ep) => {
                    if msg_off > total {
                        (
                            0,
                            Answer::Plain {
                                msg_id,
                                job: s.addr.job,
                                rc: rc::BAD_ADDR,
                                len: 0,
                            },
                        )
                    } else {
                        let len = (total - msg_off).min(self.cfg.mtu);
                        (
                            len,
                            Answer::Read {
                                msg_id,
                                job: s.addr.job,
                                ep,
                                key,
                                offset: boff,
                                total,
                                msg_off,
                                len,
                            },
                        )
                    }
                }
            };
            let _ = len;
            return Ok(a);
        }
        if !matches!(
            s.opcode,
            op::WRITE | op::SEND | op::TSEND | op::RNDV_SEND | op::RNDV_TSEND
        ) {
            return Ok(Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: rc::UNSUPPORTED_OP,
                len: 0,
            });
        }
        let too_long = match (s.opcode, rndv) {
            (op::WRITE, _) => false,
            // The eager part must fit in an overflow buffer, the message
            // in the limit, and the rendezvous needs a PDC to read over.
            (op::RNDV_SEND | op::RNDV_TSEND, Some(x)) => {
                x.eager > total
                    || x.eager > self.cfg.eager_limit
                    || total > self.cfg.max_msg
                    || pdc.is_none()
            }
            (op::RNDV_SEND | op::RNDV_TSEND, None) => true,
            _ => total > self.cfg.eager_limit || total > self.cfg.max_msg,
        };
        if too_long {
            // Refuse before taking state.
            return Ok(Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: rc::UNSUPPORTED_SIZE,
                len: 0,
            });
        }
        if ie && pdc.is_none() {
            // This engine sends IE packets on PDCs only.
            return Ok(Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: rc::INITIATOR_ERROR,
                len: 0,
            });
        }
        let single = som && eom;
        // RUDI and UUD carry single-packet messages only, and a
        // single-packet message must carry exactly its request length:
        // otherwise it could never complete, and its inbound slot would be
        // held forever (UUD and RUDI have no PDC whose end would free it).
        if (pdc.is_none() && !single) || (single && plen != need) {
            return Ok(Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: rc::UNSUPPORTED_SIZE,
                len: 0,
            });
        }
        let pi16 = pdc.map_or(NONE, to_u16);
        let existing = if single {
            None
        } else {
            self.inb_find(pi16, msg_id)
        };
        if let Some(i) = existing {
            // An inbound message that has all its (eager) data is only
            // kept while a rendezvous send is read or waits for a
            // receive: no packet belongs to it any more. A new PSN with
            // its message id is hostile (a legitimate initiator resends
            // only with the same PSN, which the PDC drops): it must not
            // complete the message a second time (another pull READ over
            // the one in flight) nor fail it under its pull.
            let m = &self.inb[i];
            let lim = m.rndv.map_or(m.total, |x| x.eager.min(m.total));
            if m.dest == Dest::Answered || m.got >= lim || m.rndv.is_some_and(|x| x.pulling) {
                self.stats.mismatched += 1;
                return Ok(Answer::None);
            }
        }
        let completes = match existing {
            Some(i) => self.inb[i].got.saturating_add(plen) >= need,
            None => plen >= need,
        };
        if let Some(pi) = pdc {
            let full = rndv.is_some() && self.pdcs[pi].nanswered >= ANSWERED_MAX;
            if completes && (full || !self.ring_free(pi, psn)) {
                return Err(nack::NO_GTD_DEL_AVAIL);
            }
        }
        let ii = match existing {
            Some(i) => {
                // Every packet of a message must carry the addressing and
                // the opcode of its first packet: a continuation cannot
                // borrow another job's (or endpoint's) destination.
                let m = &mut self.inb[i];
                if m.addr != s.addr
                    || m.opcode != s.opcode
                    || m.initiator != initiator
                    || !same_rndv(m.rndv, rndv)
                {
                    self.stats.mismatched += 1;
                    if m.rc == rc::OK {
                        m.rc = rc::PERM_VIOLATION;
                    }
                } else if let (Err(code), true) = (ep, m.rc == rc::OK) {
                    // The job went away (or changed) mid-message.
                    m.rc = code;
                }
                i
            }
            None => {
                let Some((peer_q, job_q)) = self.quota_msg(src, s.addr.job, false, pdc) else {
                    self.stats.over_quota += 1;
                    return Err(nack::NO_SES_MSG_AVAIL);
                };
                let release = |e: &mut Self| {
                    e.quota_put(peer_q, |q| q.inb -= 1);
                    e.quota_put(job_q, |q| q.inb -= 1);
                };
                // A write is checked whole when its first packet (of any
                // offset) arrives: it lands entirely or not at all.
                let mut refused = rc::OK;
                let dest = match ep {
                    Err(_) => Dest::Failed,
                    // Abandoned: it never claims a receive or a buffer.
                    Ok(_) if ie => Dest::Failed,
                    Ok(ep) if s.opcode == op::WRITE => {
                        let base = boff.wrapping_sub(u64::from(msg_off));
                        match env.rma_check_write(ep, key, base, total) {
                            Ok(()) => Dest::Write { ep, key },
                            Err(code) => {
                                refused = code;
                                Dest::Failed
                            }
                        }
                    }
                    Ok(ep) => {
                        let tagged = matches!(s.opcode, op::TSEND | op::RNDV_TSEND);
                        if pdc.is_none() && s.opcode != op::SEND && s.opcode != op::TSEND {
                            Dest::Failed
                        } else {
                            match self.match_recv(ep, tagged, key) {
                                Some(r) => Dest::Recv(r),
                                None => {
                                    if pdc.is_none() {
                                        // UUD: no receive, no buffering.
                                        release(self);
                                        return Ok(Answer::Plain {
                                            msg_id,
                                            job: s.addr.job,
                                            rc: rc::NO_MATCH,
                                            len: 0,
                                        });
                                    }
                                    let from = (src, initiator, pdc);
                                    match self.alloc_unexp(from, s, ep, tagged, key, need, env) {
                                        Some(u) => Dest::Unexp(u),
                                        None => {
                                            release(self);
                                            return Err(nack::NO_SES_MSG_AVAIL);
                                        }
                                    }
                                }
                            }
                        }
                    }
                };
                // A rendezvous send that will be read reserves the message
                // slot of its READ now.
                let mut rndv = rndv;
                if let (Some(x), Dest::Recv(_) | Dest::Unexp(_)) = (rndv.as_mut(), dest) {
                    let Some(mi) = self.msg_alloc() else {
                        release(self);
                        self.undo_dest(dest, env);
                        return Err(nack::NO_SES_MSG_AVAIL);
                    };
                    x.pull = to_u16(mi);
                }
                // Released below before anything could look it up.
                let mapped = !(single && completes && rndv.is_none());
                let Some(i) = self.inb_alloc(pi16, msg_id, mapped) else {
                    release(self);
                    self.undo_dest(dest, env);
                    if let Some(x) = rndv.filter(|x| x.pull != NONE) {
                        self.msg_unalloc(usize::from(x.pull));
                    }
                    return Err(nack::NO_SES_MSG_AVAIL);
                };
                let (hnext, pnext, pprev) =
                    (self.inb[i].hnext, self.inb[i].pnext, self.inb[i].pprev);
                self.inb[i] = InMsg {
                    used: true,
                    pdc: pi16,
                    msg_id,
                    rc: match ep {
                        Err(code) => code,
                        Ok(_) if ie => rc::INITIATOR_ERROR,
                        Ok(_) => refused,
                    },
                    total,
                    got: 0,
                    eom_psn: None,
                    hdr: 0,
                    hd: false,
                    dest,
                    mapped,
                    hnext,
                    pnext,
                    pprev,
                    anext: NONE,
                    opcode: s.opcode,
                    addr: s.addr,
                    initiator,
                    peer_q,
                    job_q,
                    bits: key,
                    rndv,
                };
                i
            }
        };
        if ie {
            // The message is abandoned: no more data goes anywhere, and a
            // receive (or unexpected buffer) it had claimed is given back.
            let dest = self.inb[ii].dest;
            if matches!(dest, Dest::Recv(_) | Dest::Unexp(_)) {
                self.inb[ii].dest = Dest::Failed;
                self.undo_dest(dest, env);
            }
            if self.inb[ii].rc == rc::OK {
                self.inb[ii].rc = rc::INITIATOR_ERROR;
            }
        }
        // Apply this packet.
        let m = self.inb[ii];
        let mut code = m.rc;
        let payload: &[u8] = match data {
            Data::Slice(b) => b,
            Data::Held(o, n) => &self.held_buf[o..o + n],
        };
        if code == rc::OK {
            match m.dest {
                Dest::Failed | Dest::Answered => {}
                Dest::Write { ep, key } => {
                    if let Err(c) = env.rma_write(ep, key, boff, payload) {
                        code = c;
                    }
                }
                Dest::Recv(r) => {
                    let rv = self.recvs[usize::from(r)];
                    let end = u64::from(msg_off) + u64::from(plen);
                    if end <= u64::from(rv.len) {
                        env.write_local(rv.buf, u64::from(msg_off), payload);
                    } else if u64::from(msg_off) < u64::from(rv.len) {
                        let n = usize::try_from(rv.len - msg_off).unwrap_or(0);
                        env.write_local(rv.buf, u64::from(msg_off), &payload[..n]);
                    }
                }
                Dest::Unexp(u) => {
                    let ub = self.unexp[usize::from(u)];
                    if u64::from(msg_off) + u64::from(plen) <= u64::from(ub.len) {
                        env.write_local(ub.buf, u64::from(msg_off), payload);
                    }
                }
            }
        }
        let m = &mut self.inb[ii];
        let before = m.got;
        m.rc = code;
        m.got = m.got.saturating_add(plen);
        if som {
            // Header data only counts with the HD flag: without it the
            // field means nothing (and is reported as 0).
            m.hd = s.flags & sflags::HD != 0 && matches!(s.body, ReqBody::Std { .. });
            m.hdr = if m.hd { hdr } else { 0 };
        }
        if eom {
            m.eom_psn = Some(psn);
        }
        let lim = m.rndv.map_or(m.total, |x| x.eager.min(m.total));
        // Complete once: on the packet that brings it from below its
        // length to it (checked above for a known message).
        if m.got < lim || (existing.is_some() && before >= lim) {
            return Ok(Answer::None);
        }
        // Message complete (a rendezvous send: its eager part).
        let m = *m;
        if let Some(x) = m.rndv {
            if m.rc == rc::OK && matches!(m.dest, Dest::Recv(_) | Dest::Unexp(_)) {
                // Answered once the rest is read (engine/rndv.rs).
                self.rndv_arrived(ii, env);
                return Ok(Answer::None);
            }
            // Not read (yet): the slot reserved for its READ was never
            // used. A pulling message never gets here (refused above).
            if x.pull != NONE && !x.pulling {
                self.msg_unalloc(usize::from(x.pull));
            }
        }
        self.inb_release(ii);
        let mut sender_rc = m.rc;
        match m.dest {
            Dest::Recv(r) => {
                let rv = self.recvs[usize::from(r)];
                let trunc = m.total > rv.len;
                if trunc && sender_rc == rc::OK {
                    sender_rc = rc::TOO_LONG;
                }
                // A message that went wrong on the way (a continuation
                // that did not match it) completes its receive in error.
                let (status, len) = if m.rc != rc::OK {
                    (Status::Remote(m.rc), 0)
                } else if trunc {
                    (Status::Truncated, m.total.min(rv.len))
                } else {
                    (Status::Ok, m.total)
                };
                env.complete(&Completion {
                    user: rv.user,
                    kind: CompKind::Recv,
                    status,
                    len,
                    tag: if op::is_tagged(s.opcode) { key } else { 0 },
                    hdr_data: m.hdr,
                    with_data: m.hd,
                    ep: rv.ep,
                    src: *src,
                    initiator: m.initiator,
                    job: m.addr.job,
                });
                self.recv_release(usize::from(r));
            }
            Dest::Unexp(_) if m.rc != rc::OK => self.undo_dest(m.dest, env),
            Dest::Unexp(u) => {
                let ui = usize::from(u);
                self.unexp[ui].hdr = m.hdr;
                self.unexp[ui].hd = m.hd;
                self.unexp[ui].complete = true;
                if self.unexp[ui].matched != NONE {
                    self.deliver_unexp(ui, env);
                } else {
                    // Nobody may ever receive it: reclaim it after a while.
                    let t = now.saturating_add(self.cfg.unexp_life);
                    self.schedule(self.unexp_timer(ui), t);
                }
            }
            // A write with header data that landed whole completes at
            // the target too (FI_REMOTE_CQ_DATA). Once: the PDC delivers
            // each PSN once, and the inbound message is gone now. Not for
            // RUDI, which may apply a write more than once.
            Dest::Write { ep, .. } if m.hd && sender_rc == rc::OK && pdc.is_some() => {
                env.complete(&Completion {
                    user: 0,
                    kind: CompKind::WriteData,
                    status: Status::Ok,
                    len: m.total,
                    tag: 0,
                    hdr_data: m.hdr,
                    with_data: true,
                    ep,
                    src: *src,
                    initiator: m.initiator,
                    job: m.addr.job,
                });
            }
            Dest::Write { .. } | Dest::Failed | Dest::Answered => {}
        }
        if let Some(pi) = pdc {
            if sender_rc != rc::OK {
                let p = m.eom_psn.unwrap_or(psn);
                self.ring_push(pi, msg_id, p, sender_rc, u64::from(m.total));
            }
        }
        Ok(Answer::Plain {
            msg_id,
            job: s.addr.job,
            rc: sender_rc,
            len: m.total,
        })
    }

    /// Abandons the destination of an inbound message that will not
    /// complete (no inbound slot, or its PDC went away): the overflow
    /// buffer of an unexpected message is released, and a receive it had
    /// claimed (directly, or through the unexpected message) is free again
    /// and takes the oldest matching unexpected message, if any.
    pub(super) fn undo_dest(&mut self, dest: Dest, env: &mut impl Env) {
        let ri = match dest {
            Dest::Recv(r) => r,
            Dest::Unexp(u) => {
                let e = self.unexp[usize::from(u)];
                self.unexp_release(usize::from(u));
                env.overflow_free(e.buf);
                e.matched
            }
            Dest::Write { .. } | Dest::Failed | Dest::Answered => NONE,
        };
        if ri != NONE {
            self.recvs[usize::from(ri)].claimed = false;
            self.recv_list(usize::from(ri));
            self.match_unexp(usize::from(ri), env);
        }
    }

    pub(super) fn match_recv(&mut self, ep: u32, tagged: bool, bits: u64) -> Option<u16> {
        let i = self.recv_first(ep, tagged, bits)?;
        self.recvs[i].claimed = true;
        self.recv_unlist(i);
        Some(to_u16(i))
    }

    /// An unexpected message from `src` (`initiator`) arrived on target
    /// PDC `pdc`, whose quota entries it is counted in (no lookup).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn alloc_unexp(
        &mut self,
        (src, initiator, pdc): (&Addr, u32, Option<usize>),
        s: &SesReq,
        ep: u32,
        tagged: bool,
        bits: u64,
        len: u32,
        env: &mut impl Env,
    ) -> Option<u16> {
        let Some((peer_q, job_q)) = self.quota_msg(src, s.addr.job, true, pdc) else {
            self.stats.over_quota += 1;
            return None;
        };
        let give_back = |e: &mut Self| {
            e.quota_put(peer_q, |q| q.unexp -= 1);
            e.quota_put(job_q, |q| q.unexp -= 1);
        };
        let Some(i) = self.unexp_alloc() else {
            give_back(self);
            return None;
        };
        let Some(buf) = env.overflow_alloc(to_u16(i), len) else {
            give_back(self);
            self.unexp_unalloc(i);
            return None;
        };
        self.seq += 1;
        self.unexp[i] = Unexp {
            used: true,
            complete: false,
            tagged,
            ep,
            len,
            matched: NONE,
            bits,
            hdr: 0,
            hd: false,
            buf,
            seq: self.seq,
            src: *src,
            initiator,
            job: s.addr.job,
            hnext: NONE,
            peer_q,
            job_q,
            hpos: index::NOPOS,
            when: u64::MAX,
            lnext: NONE,
            lprev: NONE,
            listed: false,
            rndv: NONE,
        };
        self.unexp_list(i);
        self.stats.unexpected += 1;
        Some(to_u16(i))
    }

    pub(super) fn finish_msg(&mut self, mi: usize, status: Status, env: &mut impl Env) {
        let m = &mut self.msgs[mi];
        m.completed = true;
        if m.pull != NONE {
            // The READ of a rendezvous message: no post completes.
            let ii = usize::from(m.pull);
            self.rndv_pulled(ii, mi, status, env);
            return;
        }
        if m.rkey != 0 && m.post.mode == Mode::Rod {
            self.rod_rndv = self.rod_rndv.saturating_sub(1);
        }
        let m = &mut self.msgs[mi];
        let kind = match m.post.op {
            Op::Send { .. } => CompKind::Send,
            Op::Write { .. } => CompKind::Write,
            Op::Read { .. } => CompKind::Read,
            Op::Atomic { .. } => CompKind::Atomic,
        };
        env.complete(&Completion {
            user: m.post.user,
            kind,
            status,
            len: if status == Status::Ok { m.post.len } else { 0 },
            tag: 0,
            hdr_data: 0,
            with_data: false,
            ep: 0,
            src: [0; 16],
            initiator: 0,
            job: 0,
        });
    }

    pub(super) fn release_msg(&mut self, mi: usize) {
        self.msg_release(mi);
    }

    /// Completes message `mi` once it has its answer, and frees it once
    /// no packet in flight refers to it.
    pub(super) fn settle(&mut self, mi: usize, env: &mut impl Env) {
        let m = self.msgs[mi];
        if m.state != MsgState::Active {
            return;
        }
        if !m.completed {
            if let Some(code) = m.resp {
                let st = if code == rc::OK {
                    Status::Ok
                } else {
                    Status::Remote(code)
                };
                self.finish_msg(mi, st, env);
            }
        }
        let m = self.msgs[mi];
        if m.completed && m.refs == 0 && !m.in_queue {
            self.release_msg(mi);
        }
    }

    pub(super) fn on_rudi_resp(
        &mut self,
        now: u64,
        src: &Addr,
        pkt_id: u32,
        r: &SesResp,
        payload: &[u8],
        env: &mut impl Env,
    ) {
        let Some(mi) = self
            .msg_find(NONE, pkt_id)
            .filter(|&i| self.msgs[i].post.mode == Mode::Rudi && self.msgs[i].post.dst == *src)
        else {
            self.stats.rx_drop += 1;
            return;
        };
        let m = self.msgs[mi];
        if m.retries == 0 {
            // Karn: only a request sent once times the exchange.
            let (lo, hi) = (self.cfg.rto_min, self.cfg.rto_max);
            self.rudi_rtt.sample(now.saturating_sub(m.sent), lo, hi);
        }
        let st = if r.rc != rc::OK {
            Status::Remote(r.rc)
        } else {
            if let (Op::Read { .. }, RespBody::Data { .. }) = (m.post.op, r.body) {
                if usize::try_from(m.post.len).ok() != Some(payload.len()) {
                    return;
                }
                env.write_local(m.post.buf, 0, payload);
            }
            Status::Ok
        };
        self.finish_msg(mi, st, env);
        self.release_msg(mi);
    }
}
