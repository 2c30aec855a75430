// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `uet-dump --check`: properties every capture of a correct run has.
//!
//! * every UET datagram (UDP, either port 4793) goes to destination port
//!   4793, parses, and is neither an IP fragment nor cut by the snap length;
//! * every SES request carries the expected JobID;
//! * per PDC and direction, the PSNs of requests (and of CTRL packets with
//!   AR, which consume PSNs) form one contiguous range from the PDC's start
//!   PSN (known from a SYN's PSN offset, else the lowest PSN seen). RUD
//!   is unordered: a PSN may first appear after a higher one (sent out of
//!   order, or a retransmission whose original was lost before the
//!   capture point); the report counts those that are not RETX;
//! * every request PSN is acknowledged by an ACK seen later: its cumulative
//!   ACK PSN, or a SACK bitmap bit (a CLOSE may also be answered by a NACK:
//!   the target already released the PDC). A PDC renumbered by a NACK
//!   NEW_START_PSN is excused for the PSNs it gave up; RUDI requests are
//!   answered by a RUDI response with their packet id.
//!
//! A PDC is named by (initiator address, target address, initiator's
//! PDC id): requests carry the id as SPDCID, ACKs and NACKs as DPDCID. A
//! SYN with a new start PSN, or a request after the PDC's CLOSE was
//! acknowledged, starts a new incarnation of the id; a SYN with the start
//! PSN of an earlier incarnation (a packet numbered before a renumbering
//! that reached the wire after it) belongs to that incarnation.

use std::collections::{
    BTreeMap,
    BTreeSet, //
};
use std::format;
use std::net::IpAddr;
use std::string::String;
use std::vec::Vec;

use crate::proto::wire::pds::{
    nack,
    AckExt,
    CtlType,
    PdcDst,
    PdsHeader, //
};
use crate::proto::wire::ses::SesHeader;
use crate::proto::wire::{
    WireError,
    UDP_PORT, //
};

/// (initiator, target, initiator's PDC id).
type Key = (IpAddr, IpAddr, u16);

/// Examples kept per failure kind.
const EXAMPLES: usize = 8;

/// One incarnation of a PDC, as the capture shows it.
#[derive(Debug)]
struct Inst {
    /// Frame of its first packet.
    first_frame: u64,
    /// The first PSN seen: PSNs are kept relative to it.
    anchor: u32,
    /// Start PSN from a SYN.
    start: Option<u32>,
    /// Highest relative PSN seen.
    max: i64,
    /// Relative PSN -> (frame first seen, times seen).
    seen: BTreeMap<i64, (u64, u32)>,
    /// Relative PSNs not acknowledged yet.
    unacked: BTreeSet<i64>,
    /// Packets with RETX.
    retx: u64,
    /// PSNs first seen after a higher PSN without RETX.
    unordered: u64,
    /// The first few of them: (frame, PSN, highest PSN seen before).
    unordered_ex: Vec<(u64, u32, u32)>,
    /// The CLOSE was answered by a NACK (this code).
    close_nack: Option<u8>,
    /// A NACK NEW_START_PSN renumbered it.
    renumbered: bool,
    /// Relative PSN of its CLOSE.
    close: Option<i64>,
    /// Its CLOSE was acknowledged.
    closed: bool,
}

impl Inst {
    fn new(frame: u64, psn: u32) -> Self {
        Self {
            first_frame: frame,
            anchor: psn,
            start: None,
            max: -1,
            seen: BTreeMap::new(),
            unacked: BTreeSet::new(),
            retx: 0,
            unordered: 0,
            unordered_ex: Vec::new(),
            close_nack: None,
            renumbered: false,
            close: None,
            closed: false,
        }
    }

    fn rel(&self, psn: u32) -> i64 {
        // CAST: the wrapped difference read as signed is the serial-number
        // distance.
        i64::from(psn.wrapping_sub(self.anchor) as i32)
    }

    fn abs(&self, rel: i64) -> u32 {
        // CAST: wraps like a PSN.
        self.anchor.wrapping_add(rel as u32)
    }

    fn ack_upto(&mut self, cack: u32) {
        let c = self.rel(cack);
        let done: Vec<i64> = self.unacked.range(..=c).copied().collect();
        for r in done {
            self.unacked.remove(&r);
        }
        if self.close.is_some_and(|x| x <= c) {
            self.closed = true;
        }
    }

    fn ack_one(&mut self, psn: u32) {
        let r = self.rel(psn);
        self.unacked.remove(&r);
        if self.close == Some(r) {
            self.closed = true;
        }
    }

    /// True when relative PSN `r` lies in (or just below) the PSNs seen.
    fn covers(&self, r: i64) -> bool {
        let lo = self.seen.keys().next().copied().unwrap_or(0);
        r >= lo.min(self.start_rel()) - 1 && r <= self.max
    }

    fn start_rel(&self) -> i64 {
        match self.start {
            Some(s) => self.rel(s),
            None => self.seen.keys().next().copied().unwrap_or(0),
        }
    }
}

/// The checker: feed it every UET datagram of a capture in order, then
/// ask for the [`Report`].
#[derive(Debug, Default)]
pub(crate) struct Checker {
    job: Option<u32>,
    uet: u64,
    port_bad: Vec<(u64, u16, u16)>,
    port_bad_n: u64,
    malformed: Vec<(u64, String)>,
    malformed_n: u64,
    requests: u64,
    jobs: BTreeMap<u32, u64>,
    job_bad: Vec<(u64, u32)>,
    job_bad_n: u64,
    acks: u64,
    nacks: u64,
    ctrls: u64,
    stray: u64,
    pdcs: BTreeMap<Key, Vec<Inst>>,
    rudi: BTreeMap<(IpAddr, IpAddr, u32), (u64, bool)>,
}

/// The verdict.
#[derive(Debug)]
pub(crate) struct Report {
    /// Every check passed.
    pub(crate) ok: bool,
    /// What to print, one line each.
    pub(crate) lines: Vec<String>,
}

fn push_ex<T>(v: &mut Vec<T>, n: &mut u64, x: T) {
    *n += 1;
    if v.len() < EXAMPLES {
        v.push(x);
    }
}

impl Checker {
    /// A checker expecting JobID `job` in every request (any JobID if
    /// `None`).
    pub(crate) fn new(job: Option<u32>) -> Self {
        Self {
            job,
            ..Self::default()
        }
    }

    /// A datagram that could not be decoded (IP fragment, cut by the snap
    /// length, or refused by the parser).
    pub(crate) fn undecoded(&mut self, frame: u64, dport: Option<u16>, why: String) {
        self.uet += 1;
        if let Some(p) = dport.filter(|&p| p != UDP_PORT) {
            push_ex(&mut self.port_bad, &mut self.port_bad_n, (frame, 0, p));
        }
        push_ex(&mut self.malformed, &mut self.malformed_n, (frame, why));
    }

    /// A UET datagram from `src:sport` to `dst:dport` and what the parser
    /// said of it.
    pub(crate) fn packet(
        &mut self,
        frame: u64,
        (src, sport): (IpAddr, u16),
        (dst, dport): (IpAddr, u16),
        parsed: Result<(&PdsHeader, Option<&SesHeader>), WireError>,
    ) {
        self.uet += 1;
        if dport != UDP_PORT {
            push_ex(
                &mut self.port_bad,
                &mut self.port_bad_n,
                (frame, sport, dport),
            );
        }
        let (pds, ses) = match parsed {
            Ok(p) => p,
            Err(e) => {
                push_ex(
                    &mut self.malformed,
                    &mut self.malformed_n,
                    (frame, format!("{e:?}")),
                );
                return;
            }
        };
        if let Some(SesHeader::Req(r)) = ses {
            self.requests += 1;
            *self.jobs.entry(r.addr.job).or_default() += 1;
            if self.job.is_some_and(|j| j != r.addr.job) {
                push_ex(&mut self.job_bad, &mut self.job_bad_n, (frame, r.addr.job));
            }
        }
        match pds {
            PdsHeader::Req(r) => {
                let syn = match r.dst {
                    PdcDst::Syn { psn_offset, .. } => Some(psn_offset),
                    PdcDst::Dpdcid(_) => None,
                };
                self.request(frame, (src, dst, r.spdcid), r.psn, syn, r.retx, false);
            }
            PdsHeader::Ctrl(c) => {
                self.ctrls += 1;
                if c.ar {
                    let syn = match c.dst {
                        PdcDst::Syn { psn_offset, .. } => Some(psn_offset),
                        PdcDst::Dpdcid(_) => None,
                    };
                    let close = c.ctl == CtlType::Close;
                    self.request(frame, (src, dst, c.spdcid), c.psn, syn, c.retx, close);
                }
            }
            PdsHeader::Ack(a) => {
                self.acks += 1;
                let Some(v) = self.pdcs.get_mut(&(dst, src, a.dpdcid)) else {
                    self.stray += 1;
                    return;
                };
                let mut psns = Vec::new();
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
                    let base = a.cack_psn.wrapping_add_signed(i32::from(sack_psn_offset));
                    let mut m = sack_bitmap;
                    while m != 0 {
                        psns.push(base.wrapping_add(m.trailing_zeros()));
                        m &= m - 1;
                    }
                }
                // Incarnations have unrelated PSN ranges (random start
                // PSNs): each takes what falls in its range.
                for inst in v.iter_mut().filter(|i| !i.closed) {
                    if inst.covers(inst.rel(a.cack_psn)) {
                        inst.ack_upto(a.cack_psn);
                    }
                    if let Some(e) = a.epsn.map(|e| e.wrapping_sub(1)) {
                        if inst.covers(inst.rel(e)) {
                            inst.ack_upto(e);
                        }
                    }
                    for &p in &psns {
                        inst.ack_one(p);
                    }
                }
            }
            PdsHeader::Nack(n) => {
                self.nacks += 1;
                let Some(v) = self.pdcs.get_mut(&(dst, src, n.dpdcid)).filter(|_| !n.rudi) else {
                    return;
                };
                for inst in v.iter_mut() {
                    let r = inst.rel(n.psn);
                    if !inst.seen.contains_key(&r) {
                        continue;
                    }
                    // The initiator renumbers only to another start PSN.
                    if n.code == nack::NEW_START_PSN && inst.start != Some(n.payload) {
                        inst.renumbered = true;
                    }
                    if inst.close == Some(r) {
                        inst.close_nack = Some(n.code);
                        inst.ack_one(n.psn);
                    }
                }
            }
            PdsHeader::RudiReq { pkt_id, .. } => {
                self.rudi
                    .entry((src, dst, *pkt_id))
                    .or_insert((frame, false));
            }
            PdsHeader::RudiResp { pkt_id, .. } => {
                if let Some(e) = self.rudi.get_mut(&(dst, src, *pkt_id)) {
                    e.1 = true;
                } else {
                    self.stray += 1;
                }
            }
            PdsHeader::Uud { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        frame: u64,
        key: Key,
        psn: u32,
        syn: Option<u16>,
        retx: bool,
        close: bool,
    ) {
        let v = self.pdcs.entry(key).or_default();
        let start = syn.map(|o| psn.wrapping_sub(u32::from(o)));
        let earlier = start.and_then(|s| v.iter().rposition(|i| i.start == Some(s)));
        let fresh = match v.last_mut() {
            _ if earlier.is_some() => false,
            None => true,
            Some(i) => {
                let known = i.seen.contains_key(&i.rel(psn));
                match (start, i.start) {
                    (Some(s), Some(t)) => s != t,
                    (Some(s), None) => {
                        // The capture began after this PDC's SYNs: the
                        // start PSN can only lie at or below what was seen.
                        if i.rel(s) <= i.seen.keys().next().copied().unwrap_or(0) {
                            i.start = Some(s);
                            false
                        } else {
                            true
                        }
                    }
                    (None, _) => i.closed && !known,
                }
            }
        };
        if fresh {
            let mut i = Inst::new(frame, start.unwrap_or(psn));
            i.start = start;
            v.push(i);
        }
        let Some(i) = (match earlier {
            Some(k) => v.get_mut(k),
            None => v.last_mut(),
        }) else {
            return;
        };
        let r = i.rel(psn);
        if retx {
            i.retx += 1;
        }
        if close {
            i.close = Some(r);
        }
        match i.seen.get_mut(&r) {
            Some(e) => e.1 += 1,
            None => {
                if r < i.max && !retx {
                    i.unordered += 1;
                    if i.unordered_ex.len() < 3 {
                        let hi = i.abs(i.max);
                        i.unordered_ex.push((frame, psn, hi));
                    }
                }
                i.seen.insert(r, (frame, 1));
                i.unacked.insert(r);
            }
        }
        i.max = i.max.max(r);
    }

    /// The verdict on everything fed so far.
    pub(crate) fn report(&self) -> Report {
        let mut lines = Vec::new();
        let mut ok = true;
        let insts: usize = self.pdcs.values().map(Vec::len).sum();
        let mut pdc_lines = Vec::new();
        let (mut gaps, mut gap_ex) = (0u64, Vec::new());
        let (mut unacked, mut unacked_ex) = (0u64, Vec::new());
        let mut unordered = 0u64;
        let mut below = Vec::new();
        let (mut psns, mut excused, mut gaps_excused) = (0u64, 0u64, 0u64);
        for (&(ini, tgt, id), v) in &self.pdcs {
            for i in v {
                let s = i.start_rel();
                let lo = i.seen.keys().next().copied().unwrap_or(0);
                let name = format!(
                    "PDC {ini} -> {tgt} spdcid {id} (from frame {})",
                    i.first_frame
                );
                if lo < s {
                    below.push(format!(
                        "{name}: PSN {} below start PSN {}",
                        i.abs(lo),
                        i.abs(s)
                    ));
                }
                // CAST: the range is at most 2^32 long.
                let missing: u64 = (i.max - s + 1) as u64 - i.seen.range(s..).count() as u64;
                // A renumbered incarnation's PSNs were given up: a packet
                // lost before the capture point is sent again under the new
                // numbering, never under its old PSN.
                if i.renumbered {
                    gaps_excused += missing;
                } else {
                    gaps += missing;
                }
                if missing > 0 && !i.renumbered {
                    let mut ex = Vec::new();
                    let mut r = s;
                    while r <= i.max && ex.len() < EXAMPLES {
                        if !i.seen.contains_key(&r) {
                            ex.push(format!("{}", i.abs(r)));
                        }
                        r += 1;
                    }
                    if gap_ex.len() < EXAMPLES {
                        gap_ex.push(format!("{name}: {missing} missing ({} ...)", ex.join(" ")));
                    }
                }
                psns += i.seen.len() as u64;
                if i.renumbered {
                    excused += i.unacked.len() as u64;
                } else {
                    unacked += i.unacked.len() as u64;
                    for r in i.unacked.iter().take(EXAMPLES) {
                        if unacked_ex.len() < EXAMPLES {
                            let f = i.seen.get(r).map_or(0, |e| e.0);
                            unacked_ex.push(format!("PSN {} (frame {f}, {name})", i.abs(*r)));
                        }
                    }
                }
                unordered += i.unordered;
                pdc_lines.push(format!(
                    "  {name}: PSN {}..{} ({} PSNs, start {}), {} retransmitted, \
                     {} first seen after a higher PSN without RETX, {} unacknowledged{}{}",
                    i.abs(lo),
                    i.abs(i.max),
                    i.seen.len(),
                    match i.start {
                        Some(p) => format!("{p} from SYN"),
                        None => "not seen".into(),
                    },
                    i.retx,
                    i.unordered,
                    i.unacked.len(),
                    if i.renumbered {
                        ", renumbered (NEW_START_PSN)"
                    } else {
                        ""
                    },
                    match (i.closed, i.close_nack) {
                        (true, Some(c)) => format!(
                            ", closed (CLOSE answered by NACK {})",
                            super::fields::nack_name(c)
                        ),
                        (true, None) => ", closed".into(),
                        (false, _) => String::new(),
                    },
                ));
                if !i.unordered_ex.is_empty() {
                    let ex: Vec<String> = i
                        .unordered_ex
                        .iter()
                        .map(|(f, p, hi)| format!("PSN {p} in frame {f} after {hi}"))
                        .collect();
                    pdc_lines.push(format!("    first seen out of order: {}", ex.join(", ")));
                }
            }
        }
        let rudi_n = self.rudi.len();
        let rudi_open: Vec<String> = self
            .rudi
            .iter()
            .filter(|(_, e)| !e.1)
            .map(|((s, d, id), e)| format!("RUDI pkt_id {id} {s} -> {d} (frame {})", e.0))
            .collect();
        unacked += rudi_open.len() as u64;
        unacked_ex.extend(rudi_open.into_iter().take(EXAMPLES));
        let jobs: Vec<String> = self
            .jobs
            .iter()
            .map(|(j, n)| format!("{j} ({n})"))
            .collect();

        lines.push(format!(
            "uet-dump check: {} UET datagrams, {} SES requests, {} ACKs, {} NACKs, {} CTRL, {} PDC incarnations, JobIDs seen: {}",
            self.uet,
            self.requests,
            self.acks,
            self.nacks,
            self.ctrls,
            insts,
            if jobs.is_empty() { "none".into() } else { jobs.join(", ") }
        ));
        lines.extend(pdc_lines);
        if self.stray > 0 {
            lines.push(format!(
                "  {} ACKs or RUDI responses name no request in the capture (capture started late?)",
                self.stray
            ));
        }
        let ex = |v: &[String]| v.join("; ");
        let mut check = |good: bool, name: &str, text: String| {
            ok &= good;
            lines.push(format!(
                "{} {name}: {text}",
                if good { "ok  " } else { "FAIL" }
            ));
        };
        check(
            self.uet > 0,
            "traffic",
            format!("{} UET datagrams", self.uet),
        );
        check(
            self.port_bad_n == 0,
            "udp-port",
            if self.port_bad_n == 0 {
                format!("every UET datagram goes to UDP port {UDP_PORT}")
            } else {
                format!(
                    "{} datagrams go elsewhere: {}",
                    self.port_bad_n,
                    ex(&self
                        .port_bad
                        .iter()
                        .map(|(f, s, d)| format!("frame {f} {s} -> {d}"))
                        .collect::<Vec<_>>())
                )
            },
        );
        check(
            self.malformed_n == 0,
            "decoded",
            if self.malformed_n == 0 {
                "every UET datagram parses".into()
            } else {
                format!(
                    "{} not decoded: {}",
                    self.malformed_n,
                    ex(&self
                        .malformed
                        .iter()
                        .map(|(f, e)| format!("frame {f}: {e}"))
                        .collect::<Vec<_>>())
                )
            },
        );
        let job_text = match self.job {
            None => format!("not checked (no --job); {} requests", self.requests),
            Some(j) if self.job_bad_n == 0 => {
                format!("all {} SES requests carry JobID {j}", self.requests)
            }
            Some(j) => format!(
                "{} of {} requests do not carry JobID {j}: {}",
                self.job_bad_n,
                self.requests,
                ex(&self
                    .job_bad
                    .iter()
                    .map(|(f, g)| format!("frame {f} has {g}"))
                    .collect::<Vec<_>>())
            ),
        };
        check(self.job_bad_n == 0, "job", job_text);
        let cont_ok = gaps == 0 && below.is_empty();
        check(
            cont_ok,
            "psn-continuity",
            if cont_ok {
                format!(
                    "{psns} PSNs on {insts} PDCs, contiguous from their start PSNs \
                     ({unordered} first seen after a higher PSN without RETX{})",
                    if gaps_excused > 0 {
                        format!(
                            "; {gaps_excused} never seen, given up by NEW_START_PSN renumbering"
                        )
                    } else {
                        String::new()
                    }
                )
            } else {
                let mut t = Vec::new();
                if gaps > 0 {
                    t.push(format!("{gaps} PSNs never seen: {}", ex(&gap_ex)));
                }
                t.extend(below);
                t.join("; ")
            },
        );
        check(
            unacked == 0,
            "acknowledged",
            if unacked == 0 {
                format!(
                    "every request PSN ({psns}) and RUDI request ({rudi_n}) was acknowledged{}",
                    if excused > 0 {
                        format!(" ({excused} given up by NEW_START_PSN renumbering)")
                    } else {
                        String::new()
                    }
                )
            } else {
                format!("{unacked} never acknowledged: {}", ex(&unacked_ex))
            },
        );
        lines.push(String::from(if ok {
            "result: PASS"
        } else {
            "result: FAIL"
        }));
        Report { ok, lines }
    }
}
