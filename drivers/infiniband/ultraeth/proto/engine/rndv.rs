// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Rendezvous sends: a SEND longer than `Config::eager_limit` goes as
//! RNDV_SEND or RNDV_TSEND carrying its first `eager_limit` bytes and the
//! rendezvous extension; the target matches it as a send and, once it has
//! a receive, reads the rest from the initiator with a READ over its own
//! PDC towards the initiator, then answers the rendezvous message.
//!
//! Initiator. The extension names the initiator's endpoint (`{PIDonFEP,
//! RI}` from `Post::initiator`), the offset of the rest in the send buffer
//! (the eager length) and a key: bit 63 set (the engine-internal key
//! space: a READ with such a key is never passed to `Env::rma_read`), a
//! 47-bit nonce (keyed with the secret `Config::key_seed`, see
//! [`Engine::rndv_key`]) and the message slot. A READ with such a key is
//! served from the send buffer (`Env::read_local`) only if the slot holds
//! that live rendezvous send with that nonce, the READ comes from the
//! FEP the send went to, carries its JobID, names the initiator's
//! endpoint and is made by the send's destination endpoint (its SES
//! initiator field: another endpoint of the job on that FEP may not
//! pull), and the range lies in the send; anything else is answered
//! `BAD_MKEY` (or `BAD_ADDR` for the range). So a peer can read only what
//! was sent to it, while the send is pending, and has to guess a 47-bit
//! nonce to read another peer's pending send addressed to it... which it
//! cannot, since the FEP check comes first. The send completes when the
//! rendezvous message's SES response arrives: the target sends it once
//! it has all the data (the last eager packet waits for it). While it
//! waits, every READ the target makes is progress (the retry count
//! starts again), and a timeout whose resent packet the target
//! acknowledges is forgiven as after a resource NACK (`max_transient`
//! times without progress): an unexpected message waits for a receive,
//! at most `Config::unexp_life`, which must stay below the initiator's
//! retry span (1 s against 4.4 s by default).
//!
//! Target. The inbound message counts the eager bytes only. Its first
//! packet reserves a message slot for the pull READ (or is NACKed
//! `NO_SES_MSG_AVAIL`), so that a pull never waits for one. Once the eager
//! part arrived, a message with a receive posts the READ of the rest that
//! fits in the receive (RUD, towards the initiator's FEP, JobID and
//! endpoint, with the key; its responses land in the receive buffer after
//! the eager part); an unexpected one keeps its eager part in an overflow
//! buffer (of the eager length, not the message's) and starts its READ
//! when a receive takes it. When the READ completes the receive completes
//! (truncated to the receive's length, the sender then being answered
//! `TOO_LONG`, as for an eager send), and the rendezvous message is
//! answered on an ACK of its PDC (an error answer is kept in the response
//! ring; until the answer, duplicates of its packets get none, and after
//! it a duplicate gets the kept error or `OK`). A READ that fails (the
//! initiator refused it, cancelled, or the PDC towards it failed) gives the
//! receive back (it takes the next matching message, as when an eager
//! sender abandons its message) and answers `INITIATOR_ERROR` or
//! `UNDELIVERABLE`. A receive cancelled while its rendezvous message is
//! being read stops the READ and the sender is answered `CANCELLED`.
//! While the READ makes progress, each response that lands counts as
//! traffic of the target PDC the message came on (`rndv_progress`): that
//! PDC gets no packet of the message meanwhile (the initiator's READs
//! keep its RTO pushed out), and must not be reaped under a pull that
//! outlasts the retry span.

use super::super::pds::psn_lt;
use super::super::ses::{
    segments,
    Addr,
    CompKind,
    Completion,
    Env,
    Mode,
    Op,
    Post,
    Status, //
};
use super::super::wire::ses::{
    op,
    rc,
    SesAddr,
    SesReq, //
};

use super::index::{
    mix,
    siphash, //
};
use super::{
    to_u16,
    Answer,
    Dest,
    Engine,
    Msg,
    MsgState,
    PdcState,
    Rndv,
    Slab, //
    D_ACKED,
    D_CLOSE,
    D_GOT_RESP,
    D_NEED_RESP,
    D_USED,
    NONE,
};

/// Bit 63 of a READ's key: the engine-internal (rendezvous) key space.
pub(super) const RNDV_KEY: u64 = 1 << 63;

impl<S: Slab> Engine<S> {
    /// A fresh rendezvous key for the send in message slot `mi`: its
    /// 47-bit nonce is SipHash-2-4, keyed with `Config::key_seed`, of a
    /// counter of the keys made and the slot. Not the PSN generator,
    /// whose seed and outputs are on the wire: a peer that saw any number
    /// of keys (those of the sends addressed to it) or start PSNs cannot
    /// tell another key's nonce.
    pub(super) fn rndv_key(&mut self, mi: usize) -> u64 {
        self.rndv_keys = self.rndv_keys.wrapping_add(1);
        let k = self.cfg.key_seed;
        let k1 = mix(k ^ 0x7565_745f_726e_6476);
        // CAST: message slots are below NONE.
        let slot = mi as u64 & 0xffff;
        let nonce = siphash(k, k1, self.rndv_keys << 16 | slot) << 16;
        RNDV_KEY | (nonce & !RNDV_KEY) | slot
    }

    /// Initiator: a READ with a rendezvous key `key` from `src`, made by
    /// endpoint `initiator` there (its SES initiator field), for `len`
    /// bytes at offset `boff` of the send (its message `msg_id`, message
    /// offset `msg_off` of `total`): the answer serving it from the send
    /// buffer, or refusing it.
    #[expect(clippy::too_many_arguments)]
    pub(super) fn rndv_serve(
        &mut self,
        src: &Addr,
        s: &SesReq,
        initiator: u32,
        msg_id: u16,
        (boff, key): (u64, u64),
        total: u32,
        msg_off: u32,
    ) -> Answer {
        let job = s.addr.job;
        let refuse = |code: u8| Answer::Plain {
            msg_id,
            job,
            rc: code,
            len: 0,
        };
        // CAST: the low 16 bits name the slot.
        let mi = usize::from(key as u16);
        let Some(m) = self.msgs.get(mi).copied() else {
            return refuse(rc::BAD_MKEY);
        };
        let p = m.post;
        // CAST: 12-bit fields of the initiator id.
        let (pid, ri) = (
            (p.initiator & 0xfff) as u16,
            ((p.initiator >> 12) & 0xfff) as u16,
        );
        if m.state != MsgState::Active
            || m.completed
            || m.rkey != key
            || p.dst != *src
            || p.target.job != job
            || (s.addr.pid, s.addr.ri) != (pid, ri)
            || initiator != (u32::from(p.target.ri) << 12 | u32::from(p.target.pid))
        {
            return refuse(rc::BAD_MKEY);
        }
        let len = total.saturating_sub(msg_off).min(self.cfg.mtu);
        let end = boff.checked_add(u64::from(len));
        if msg_off > total || end.is_none_or(|e| e > u64::from(p.len)) {
            return refuse(rc::BAD_ADDR);
        }
        // The target is reading: the send is alive, however long it
        // waits for its answer.
        self.rndv_alive(usize::from(m.pdc));
        Answer::Local {
            msg_id,
            job,
            buf: p.buf,
            offset: boff,
            total,
            msg_off,
            len,
        }
    }

    /// Initiator PDC `pi`'s target showed it is alive while a rendezvous
    /// send waits for its answer: its retry count starts again, and the
    /// timeout is pushed out.
    fn rndv_alive(&mut self, pi: usize) {
        let now = self.now;
        let Some(d) = self.pdcs.get_mut(pi) else {
            return;
        };
        d.retries = 0;
        d.stalls = 0;
        if d.rto_at != 0 {
            d.rto_at = d.rto_at.max(now + d.rtt.rto);
        }
        self.resched_pdc(pi);
    }

    /// Initiator: an ACK triggered by `psn` of PDC `pi` that acknowledged
    /// nothing new: if `psn` is the packet of a rendezvous send waiting
    /// for its answer (a resent copy the target acknowledged again), the
    /// target holds the message: the timeout that resent it is forgiven
    /// as after a resource NACK (at most `max_transient` times without
    /// progress). Only the target's READs reset the retry count: a target
    /// that acknowledges but never answers (its message stuck) must not
    /// keep the send forever (found by the `engine` fuzz target).
    pub(super) fn rndv_ack(&mut self, pi: usize, psn: u32) {
        let d = &self.pdcs[pi];
        if d.win == NONE || psn_lt(psn, d.tx_base) || !psn_lt(psn, d.next_psn) {
            return;
        }
        let t = self.txq[self.txi(pi, psn)];
        let waiting = D_USED | D_ACKED | D_NEED_RESP;
        if t.flags & (waiting | D_GOT_RESP) == waiting
            && self
                .msgs
                .get(usize::from(t.msg))
                .is_some_and(|m| m.rkey != 0 && !m.completed)
        {
            self.pdcs[pi].transient = true;
        }
    }

    /// Initiator: true when ROD PDC `pi` has a rendezvous send in its
    /// window that has not completed (O(window); only while ROD
    /// rendezvous sends are pending).
    pub(super) fn rndv_waits_on(&self, pi: usize) -> bool {
        let d = &self.pdcs[pi];
        if d.win == NONE {
            return false;
        }
        let mut p = d.tx_base;
        while psn_lt(p, d.next_psn) {
            let t = self.txq[self.txi(pi, p)];
            if t.flags & D_USED != 0
                && t.flags & D_CLOSE == 0
                && self
                    .msgs
                    .get(usize::from(t.msg))
                    .is_some_and(|m| m.rkey != 0 && !m.completed)
            {
                return true;
            }
            p = p.wrapping_add(1);
        }
        false
    }

    /// Target: the eager part of rendezvous message `ii` (inbound index)
    /// arrived, without error, for a receive or an unexpected buffer.
    pub(super) fn rndv_arrived(&mut self, ii: usize, env: &mut impl Env) {
        match self.inb[ii].dest {
            Dest::Recv(_) => self.rndv_pull(ii, env),
            Dest::Unexp(u) => {
                let ui = usize::from(u);
                self.unexp[ui].complete = true;
                self.unexp[ui].rndv = to_u16(ii);
                if self.unexp[ui].matched != NONE {
                    self.deliver_unexp(ui, env);
                } else {
                    // Nobody may ever receive it: after a while its sender,
                    // which waits, is answered NO_MATCH.
                    let t = self.now.saturating_add(self.cfg.unexp_life);
                    self.schedule(self.unexp_timer(ui), t);
                }
            }
            Dest::Write { .. } | Dest::Failed | Dest::Answered => {}
        }
    }

    /// Target: unexpected rendezvous message `ui` found no receive within
    /// `Config::unexp_life`: it is dropped and its sender answered
    /// `NO_MATCH`.
    pub(super) fn rndv_unclaimed(&mut self, ui: usize, env: &mut impl Env) {
        let u = self.unexp[ui];
        let ii = usize::from(u.rndv);
        env.overflow_free(u.buf);
        self.unexp_release(ui);
        let m = &mut self.inb[ii];
        m.dest = Dest::Failed;
        if m.rc == rc::OK {
            m.rc = rc::NO_MATCH;
        }
        self.rndv_finish(ii, Ok(()), env);
    }

    /// Target: unexpected rendezvous message `ui` was matched by a
    /// receive: its eager part goes there and the rest is read.
    pub(super) fn rndv_deliver_unexp(&mut self, ui: usize, env: &mut impl Env) {
        let u = self.unexp[ui];
        let ii = usize::from(u.rndv);
        let r = self.recvs[usize::from(u.matched)];
        env.overflow_drain(u.buf, r.buf, u.len.min(r.len));
        self.inb[ii].dest = Dest::Recv(u.matched);
        self.unexp_release(ui);
        self.rndv_pull(ii, env);
    }

    /// Target: reads the rest of rendezvous message `ii`, which has its
    /// receive (or finishes it if the eager part is all that fits).
    fn rndv_pull(&mut self, ii: usize, env: &mut impl Env) {
        let m = self.inb[ii];
        let (Dest::Recv(r), Some(x)) = (m.dest, m.rndv) else {
            return;
        };
        // One pull per message, into the slot reserved for it: never over
        // a READ already in flight.
        if x.pulling || x.pull == NONE || self.msgs[usize::from(x.pull)].state != MsgState::Free {
            debug_assert!(false, "rndv_pull of message {ii} twice");
            return;
        }
        let rv = self.recvs[usize::from(r)];
        let fits = m.total.min(rv.len);
        if fits <= x.eager {
            self.rndv_finish(ii, Ok(()), env);
            return;
        }
        let pi = usize::from(m.pdc);
        let mi = usize::from(x.pull);
        let len = fits - x.eager;
        let mut p = Msg::EMPTY;
        p.state = MsgState::Active;
        p.post = Post {
            user: 0,
            dst: self.pdcs[pi].peer,
            target: SesAddr {
                ri_gen: x.ri_gen,
                job: m.addr.job,
                pid: x.pid,
                ri: x.ri,
            },
            // A ROD message is read over a ROD PDC (one path each way).
            mode: if self.pdcs[pi].ordered {
                Mode::Rod
            } else {
                Mode::Rud
            },
            op: Op::Read {
                key: x.key,
                offset: x.offset,
            },
            buf: rv.buf,
            len,
            hdr_data: 0,
            with_data: false,
            // The receiving endpoint's: its job is the message's.
            tc: env.traffic_class(rv.ep),
            initiator: (u32::from(m.addr.ri) << 12) | u32::from(m.addr.pid),
        };
        p.slen = len;
        p.nsegs = segments(len, self.cfg.mtu);
        p.pull = to_u16(ii);
        p.base = x.eager;
        self.msgs[mi] = p;
        if let Some(x) = self.inb[ii].rndv.as_mut() {
            x.pulling = true;
        }
        self.stats.rndv_reads += 1;
        let now = self.now;
        if self.queue_msg(now, mi, env).is_err() {
            // No PDC towards the initiator now: try again later.
            let id = self.pdcs.len() + mi;
            let t = now + self.cfg.rto_init;
            self.msgs[mi].deadline = t;
            self.schedule(id, t);
        }
    }

    /// Target: pull READ `mi` of rendezvous message `ii` received data.
    /// That is traffic of the message, from its initiator: the target PDC
    /// the message came on is active, however long the pull takes. It is
    /// neither asked to close (`idle_close`) nor reaped (`reap_after`,
    /// about the retry span) while the pull makes progress: a PDC reaped
    /// under a pull lost the message (its receive given back, the answer
    /// never sent) and the initiator's next resend of the last eager
    /// packet was refused `INV_DPDCID`, failing the send (64 MiB at
    /// 6 MB/s take twice the retry span).
    pub(super) fn rndv_progress(&mut self, ii: usize, mi: usize) {
        let Some(m) = self.inb.get(ii).copied() else {
            return;
        };
        let ours = m
            .rndv
            .is_some_and(|x| x.pulling && usize::from(x.pull) == mi);
        if !m.used || !ours {
            return;
        }
        let pi = usize::from(m.pdc);
        let now = self.now;
        if let Some(d) = self.pdcs.get_mut(pi) {
            if d.state == PdcState::Open {
                d.last_active = now;
                self.resched_pdc(pi);
            }
        }
    }

    /// Target: the message timer of pull READ `mi`, not yet on a PDC.
    pub(super) fn rndv_pull_retry(&mut self, mi: usize, now: u64, env: &mut impl Env) {
        let id = self.pdcs.len() + mi;
        self.unschedule(id);
        if self.queue_msg(now, mi, env).is_err() {
            let t = now + self.cfg.rto_init;
            self.msgs[mi].deadline = t;
            self.schedule(id, t);
        }
    }

    /// True when message `mi` is a pull READ waiting for a PDC (its timer
    /// retries).
    pub(super) fn pull_waits(m: &Msg) -> bool {
        m.state == MsgState::Active && m.pull != NONE && m.pdc == NONE
    }

    /// Target: pull READ `mi` of rendezvous message `ii` finished with
    /// `status` (called as it completes).
    pub(super) fn rndv_pulled(&mut self, ii: usize, mi: usize, status: Status, env: &mut impl Env) {
        let ours = self.inb.get(ii).is_some_and(|m| {
            m.used
                && m.rndv
                    .is_some_and(|x| x.pulling && usize::from(x.pull) == mi)
        });
        if !ours {
            return;
        }
        self.rndv_finish(
            ii,
            if status == Status::Ok {
                Ok(())
            } else {
                Err(status)
            },
            env,
        );
    }

    /// Target: rendezvous message `ii` has all its data (`Ok`) or its READ
    /// failed: completes its receive (or gives it back), answers the
    /// sender and frees the inbound entry.
    fn rndv_finish(&mut self, ii: usize, res: Result<(), Status>, env: &mut impl Env) {
        let m = self.inb[ii];
        let Some(x) = m.rndv else {
            return;
        };
        if !x.pulling && x.pull != NONE {
            self.msg_unalloc(usize::from(x.pull));
        }
        let pi = usize::from(m.pdc);
        let src = self.pdcs[pi].peer;
        let mut sender_rc = m.rc;
        match (res, m.dest) {
            (Ok(()), Dest::Recv(r)) => {
                let rv = self.recvs[usize::from(r)];
                let trunc = m.total > rv.len;
                if trunc && sender_rc == rc::OK {
                    sender_rc = rc::TOO_LONG;
                }
                env.complete(&Completion {
                    user: rv.user,
                    kind: CompKind::Recv,
                    status: if trunc { Status::Truncated } else { Status::Ok },
                    len: m.total.min(rv.len),
                    tag: if m.opcode == op::RNDV_TSEND {
                        m.bits
                    } else {
                        0
                    },
                    hdr_data: m.hdr,
                    with_data: m.hd,
                    ep: rv.ep,
                    src,
                    initiator: m.initiator,
                    job: m.addr.job,
                });
                self.recv_release(usize::from(r));
            }
            (Err(st), dest) => {
                // The rest cannot be had: the receive takes the next
                // message, as when an eager sender abandons its message.
                self.undo_dest(dest, env);
                if sender_rc == rc::OK {
                    sender_rc = match st {
                        Status::Remote(_) => rc::INITIATOR_ERROR,
                        Status::Cancelled => rc::CANCELLED,
                        _ => rc::UNDELIVERABLE,
                    };
                }
            }
            (Ok(()), _) => {}
        }
        let psn = m.eom_psn.unwrap_or(self.pdcs[pi].rx.cack);
        if sender_rc == rc::OK {
            self.inb_release(ii);
        } else if self.ring_free(pi, psn) {
            self.inb_release(ii);
            self.ring_push(pi, m.msg_id, psn, sender_rc, u64::from(m.total));
        } else {
            // The error must outlive a lost answer, and the ring is full
            // (a rendezvous send finishes long after its packets: later
            // messages may have taken every entry meanwhile). The slot
            // keeps the answer until the initiator clears `psn`.
            let head = self.pdcs[pi].answered;
            debug_assert_eq!(self.inb[ii].anext, NONE);
            let e = &mut self.inb[ii];
            e.dest = Dest::Answered;
            e.rc = sender_rc;
            e.rndv = None;
            e.eom_psn = Some(psn);
            e.anext = head;
            let d = &mut self.pdcs[pi];
            d.answered = to_u16(ii);
            d.nanswered = d.nanswered.saturating_add(1);
            self.stats.answers_held += 1;
        }
        let ans = Answer::Plain {
            msg_id: m.msg_id,
            job: m.addr.job,
            rc: sender_rc,
            len: m.total,
        };
        let now = self.now;
        self.send_ack(pi, psn, ans, now, env);
        self.resched_pdc(pi);
    }

    /// Target: rendezvous message `ii` will not finish by its own packets
    /// (its PDC goes away, or its receive was cancelled): stops its pull
    /// READ, or frees the slot reserved for it. With `answer`, the message
    /// is answered `CANCELLED` and freed; otherwise the caller frees it.
    pub(super) fn rndv_abort(&mut self, ii: usize, answer: bool, env: &mut impl Env) {
        let Some(x) = self.inb[ii].rndv else {
            return;
        };
        if x.pulling {
            self.pull_stop(usize::from(x.pull), env);
        } else if x.pull != NONE {
            self.msg_unalloc(usize::from(x.pull));
        }
        self.inb[ii].rndv = Some(Rndv {
            pull: NONE,
            pulling: false,
            ..x
        });
        if answer {
            let m = &mut self.inb[ii];
            m.dest = Dest::Failed;
            if m.rc == rc::OK {
                m.rc = rc::CANCELLED;
            }
            self.rndv_finish(ii, Ok(()), env);
        }
    }

    /// Stops pull READ `mi`: it completes silently and its slot is freed
    /// once no packet refers to it.
    fn pull_stop(&mut self, mi: usize, env: &mut impl Env) {
        let m = self.msgs[mi];
        if m.state != MsgState::Active {
            return;
        }
        self.msgs[mi].completed = true;
        self.msgs[mi].cancelled = true;
        self.msgs[mi].pull = NONE;
        if m.pdc == NONE {
            self.release_msg(mi);
            return;
        }
        let now = self.now;
        let pi = usize::from(m.pdc);
        self.cancel_on_pdc(pi, now, env);
        self.settle(mi, env);
    }
}
