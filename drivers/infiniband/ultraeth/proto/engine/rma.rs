// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! RMA and SES responses: ACKs and RUDI responses carrying SES responses
//! (read data straight from target memory), and their processing at the
//! initiator.

use super::super::pds::psn_lt;
use super::super::ses::{
    segment,
    Addr,
    Env,
    Op, //
};
use super::super::wire::pds::{
    AckHdr,
    PdsHeader, //
};
use super::super::wire::ses::{
    rc,
    rsp,
    RespBody,
    SesHeader,
    SesResp, //
};
use super::super::wire::{
    self,
    NextHeader, //
};

use super::{
    to_u16,
    Answer,
    Engine,
    Slab, //
    D_CLOSE,
    D_GOT_RESP,
    D_USED,
    MAX_MTU,
    NONE,
};

impl<S: Slab> Engine<S> {
    pub(super) fn send_rudi_resp(
        &mut self,
        src: &Addr,
        pkt_id: u32,
        ans: Answer,
        env: &mut impl Env,
    ) {
        self.send_answer(src, pkt_id, None, pkt_id, ans, env);
    }

    /// Emits an ACK (or a RUDI response when `ack` is `None`) carrying
    /// `ans`; reads RMA data straight into the packet buffer.
    pub(super) fn send_answer(
        &mut self,
        dst: &Addr,
        psn: u32,
        ack: Option<&mut AckHdr>,
        pkt_id: u32,
        ans: Answer,
        env: &mut impl Env,
    ) {
        let resp = |rc: u8, body: RespBody| SesResp {
            list: 0,
            opcode: if matches!(body, RespBody::Data { .. }) {
                rsp::WITH_DATA
            } else if rc == rc::OK {
                rsp::DEFAULT
            } else {
                rsp::RESPONSE
            },
            rc,
            body,
        };
        let plain = |msg_id: u16, job: u32, rc: u8, len: u32| {
            resp(
                rc,
                RespBody::Plain {
                    msg_id,
                    ri_gen: 0,
                    job,
                    modified_length: len,
                },
            )
        };
        // The previous value of a fetching atomic, as the payload.
        let mut inline = None;
        // A READ of a rendezvous send: data from the local send buffer.
        let mut local = None;
        let (ses, data) = match ans {
            Answer::None => (None, None),
            Answer::Local {
                msg_id,
                job,
                buf,
                offset,
                total,
                msg_off,
                len,
            } => {
                local = Some((buf, offset, len));
                (
                    Some(resp(
                        rc::OK,
                        RespBody::Data {
                            msg_id: 0,
                            job,
                            read_req_msg_id: msg_id,
                            // CAST: len <= mtu < 2^14.
                            payload_length: len as u16,
                            modified_length: total,
                            message_offset: msg_off,
                        },
                    )),
                    None,
                )
            }
            Answer::Plain {
                msg_id,
                job,
                rc,
                len,
            } => (Some(plain(msg_id, job, rc, len)), None),
            Answer::Read {
                msg_id,
                job,
                ep,
                key,
                offset,
                total,
                msg_off,
                len,
            } => (
                Some(resp(
                    rc::OK,
                    RespBody::Data {
                        msg_id: 0,
                        job,
                        read_req_msg_id: msg_id,
                        // CAST: len <= mtu < 2^14.
                        payload_length: len as u16,
                        modified_length: total,
                        message_offset: msg_off,
                    },
                )),
                Some((msg_id, job, ep, key, offset, len)),
            ),
            Answer::Atomic { msg_id, job, value } => {
                inline = Some(value.to_be_bytes());
                (
                    Some(resp(
                        rc::OK,
                        RespBody::Data {
                            msg_id: 0,
                            job,
                            read_req_msg_id: msg_id,
                            payload_length: 8,
                            modified_length: 8,
                            message_offset: 0,
                        },
                    )),
                    None,
                )
            }
        };
        let mut ses = ses.map(SesHeader::Resp);
        // The PDS header in front of `next`: the ACK, or a RUDI response.
        let pds = |next: NextHeader| match &ack {
            Some(a) => PdsHeader::Ack(AckHdr { next, ..**a }),
            None => PdsHeader::RudiResp {
                next,
                ecn: false,
                retx: false,
                pkt_id,
            },
        };
        {
            let next = ses
                .as_ref()
                .map_or(NextHeader::None, SesHeader::next_header);
            let Ok(n) = wire::emit_headers(&pds(next), ses.as_ref(), &mut self.buf) else {
                return;
            };
            let mut total = n;
            if let (Some(SesHeader::Resp(_)), Some((msg_id, job, ep, key, off, len))) = (&ses, data)
            {
                let l = usize::try_from(len).unwrap_or(0).min(MAX_MTU);
                if let Err(code) = env.rma_read(ep, key, off, &mut self.buf[n..n + l]) {
                    // An error response instead of data, headers only.
                    ses = Some(SesHeader::Resp(plain(msg_id, job, code, 0)));
                    let Ok(n) =
                        wire::emit_headers(&pds(NextHeader::Resp), ses.as_ref(), &mut self.buf)
                    else {
                        return;
                    };
                    total = n;
                } else {
                    total = n + l;
                }
            }
            if let Some((buf, off, len)) = local {
                let l = usize::try_from(len).unwrap_or(0).min(MAX_MTU);
                let Some(out) = self.buf.get_mut(n..n + l) else {
                    return;
                };
                env.read_local(buf, off, out);
                total = n + l;
            }
            if let Some(v) = inline {
                let Some(out) = self.buf.get_mut(n..n + v.len()) else {
                    return;
                };
                out.copy_from_slice(&v);
                total = n + v.len();
            }
            self.stats.tx += 1;
            // CAST: entropy is a 16-bit path selector.
            env.transmit(dst, psn as u16, &self.buf[..total]);
        }
    }

    /// Handles an SES response arriving on PDC `pi` in an ACK triggered by
    /// PSN `trigger`. Returns whether it was news.
    pub(super) fn on_response(
        &mut self,
        pi: usize,
        r: &SesResp,
        trigger: u32,
        payload: &[u8],
        env: &mut impl Env,
    ) -> bool {
        let (msg_id, data) = match r.body {
            RespBody::Plain { msg_id, .. } => (msg_id, None),
            RespBody::Data {
                read_req_msg_id,
                message_offset,
                ..
            } => (read_req_msg_id, Some(message_offset)),
            RespBody::SmallData { .. } => return false,
        };
        let pi16 = to_u16(pi);
        let Some(mi) = self
            .msg_find(pi16, u32::from(msg_id))
            .filter(|&i| !self.msgs[i].completed)
        else {
            return false;
        };
        // Message ids are 16 bits per PDC and wrap: a late copy of this
        // PDC's ACK from 65536 messages earlier names a message id in use
        // again (review 69). The target answers a message in the ACK of
        // one of its own packets: the one that completed it, a duplicate
        // of one (`dup_answer`, a READ served again), the packet itself
        // (READ data, an atomic's result; ROD held packets at replay), or
        // a rendezvous send's EOM packet. So a response whose ACK was
        // triggered below the message's first PSN, or at or beyond the
        // next PSN, is a stale copy. Not checked where the target may
        // name another packet: with implied success an error response is
        // the target's oldest kept error, attached to any ACK; and a
        // rendezvous send answered on a RUD PDC before its EOM packet
        // arrived (its receive cancelled) is answered under the CACK,
        // which may lie below the message. Nor is a message answered
        // before it sent a packet.
        let m = &self.msgs[mi];
        let first = self.pdcs[pi].start_psn.wrapping_add(m.first_off);
        let foreign =
            (self.cfg.implied_ok && r.rc != rc::OK) || (m.rkey != 0 && !self.pdcs[pi].ordered);
        if m.seg_next == 0
            || (!foreign && (psn_lt(trigger, first) || !psn_lt(trigger, self.pdcs[pi].next_psn)))
        {
            return false;
        }
        let is_read = matches!(self.msgs[mi].post.op, Op::Read { .. });
        let fetch = matches!(self.msgs[mi].post.op, Op::Atomic { op, .. } if op.fetches());
        let mtu = self.cfg.mtu;
        match data {
            Some(0) if fetch && r.rc == rc::OK => {
                // The previous value of a fetching atomic.
                let Ok(b) = <[u8; 8]>::try_from(payload) else {
                    return false;
                };
                if self.msgs[mi].resp.is_some() {
                    return false;
                }
                let buf = self.msgs[mi].post.buf;
                env.write_local(buf, 0, &u64::from_be_bytes(b).to_ne_bytes());
                self.answered(pi, mi, rc::OK, env);
                true
            }
            Some(off) if is_read && r.rc == rc::OK => {
                let seg = off / mtu;
                let m = self.msgs[mi];
                let (o, l) = segment(m.post.len, mtu, seg);
                if o != off || usize::try_from(l).ok() != Some(payload.len()) || seg >= m.nsegs {
                    return false;
                }
                // Find the request packet of that segment.
                let (mut p, end) = (self.pdcs[pi].tx_base, self.pdcs[pi].next_psn);
                let mut found = false;
                while psn_lt(p, end) {
                    let i = self.txi(pi, p);
                    let t = &mut self.txq[i];
                    if t.flags & D_USED != 0 && usize::from(t.msg) == mi && t.seg == seg {
                        if t.flags & D_GOT_RESP == 0 {
                            t.flags |= D_GOT_RESP;
                            found = true;
                            if t.done() {
                                self.desc_settled(pi, i);
                            }
                        }
                        break;
                    }
                    p = p.wrapping_add(1);
                }
                if !found {
                    return false;
                }
                // A rendezvous pull lands after the eager part.
                env.write_local(m.post.buf, u64::from(m.base) + u64::from(off), payload);
                if m.pull != NONE {
                    self.rndv_progress(usize::from(m.pull), mi);
                }
                let m = &mut self.msgs[mi];
                m.done_segs += 1;
                if m.done_segs >= m.nsegs {
                    m.resp = Some(rc::OK);
                    self.settle(mi, env);
                }
                true
            }
            Some(_) => false,
            None => {
                // A READ and a fetching atomic complete with their data.
                if r.rc == rc::OK && (is_read || fetch) {
                    return false;
                }
                if self.msgs[mi].resp.is_some() {
                    return false;
                }
                self.answered(pi, mi, r.rc, env);
                true
            }
        }
    }

    /// Message `mi` of PDC `pi` has its answer `code`: every packet of it
    /// has its response now, and it completes.
    pub(super) fn answered(&mut self, pi: usize, mi: usize, code: u8, env: &mut impl Env) {
        self.msgs[mi].resp = Some(code);
        let (mut p, end) = (self.pdcs[pi].tx_base, self.pdcs[pi].next_psn);
        while psn_lt(p, end) {
            let i = self.txi(pi, p);
            let t = &mut self.txq[i];
            if t.flags & D_USED != 0 && t.flags & D_CLOSE == 0 && usize::from(t.msg) == mi {
                t.flags |= D_GOT_RESP;
                if t.done() {
                    self.desc_settled(pi, i);
                }
            }
            p = p.wrapping_add(1);
        }
        self.settle(mi, env);
    }
}
