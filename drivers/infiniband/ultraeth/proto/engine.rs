// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The UET engine of one FEP: PDC table and PDS state machines (RUD, ROD,
//! RUDI, UUD), and the SES message, receive and unexpected tables.
//!
//! Events in: [`Engine::post`], [`Engine::post_recv`], [`Engine::receive`]
//! and [`Engine::on_timer`], each given the current time in ns. Actions
//! out: calls on the [`Env`] (transmit, complete, memory access) and
//! [`Engine::next_deadline`]. Every table has a capacity fixed by the const
//! parameters; nothing allocates.

use super::pds::{
    psn_le,
    psn_lt,
    sack_for_each,
    Rtt, //
    RxCheck,
    RxWindow,
};
use super::ses::{
    segment,
    segments,
    tag_matches,
    Addr,
    CompKind,
    Completion,
    Env,
    Mode,
    Op,
    Post,
    Status, //
};
use super::wire::pds::{
    nack,
    AckExt,
    AckHdr,
    CtlType,
    CtrlHdr,
    NackHdr,
    PdcDst,
    PdsHeader,
    ReqHdr, //
};
use super::wire::ses::{
    op,
    rc,
    rsp,
    sflags,
    ReqBody,
    RespBody,
    SesHeader,
    SesReq,
    SesResp,
    StdData, //
};
use super::wire::{
    self,
    NextHeader, //
};

/// Packets a PDC may have in flight (the send window).
pub(crate) const TX_WINDOW: usize = 32;
/// Largest payload per packet the engine supports.
pub(crate) const MAX_MTU: usize = 8192;
/// Room reserved for headers in a packet.
pub(crate) const MAX_HDR: usize = 128;
/// Guaranteed-delivery responses a target PDC keeps until cleared.
const RESP_RING: usize = 8;
/// SACKed PSNs above a hole before it is retransmitted.
const DUPTHRESH: u32 = 3;
const NONE: u16 = u16::MAX;

/// Engine parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// Payload bytes per packet (both sides must agree).
    pub(crate) mtu: u32,
    /// Initiator id carried in requests.
    pub(crate) initiator_id: u32,
    /// Initial retransmission timeout (ns).
    pub(crate) rto_init: u64,
    /// Lower bound of the adaptive RTO (ns).
    pub(crate) rto_min: u64,
    /// Upper bound of the RTO including backoff (ns).
    pub(crate) rto_max: u64,
    /// Consecutive timeouts before a PDC is put in error.
    pub(crate) max_retries: u8,
    /// Timeouts forgiven (not counted in `max_retries`) after resource
    /// NACKs such as `NO_SES_MSG_AVAIL` since the PDC last made progress.
    /// Beyond this they count: a peer that is short of resources forever
    /// still makes the PDC fail instead of keeping its messages forever.
    pub(crate) max_transient: u8,
    /// Send an ACK at least every this many packets.
    pub(crate) ack_every: u8,
    /// Longest an ACK is held back for coalescing (ns).
    pub(crate) ack_delay: u64,
    /// Idle time after which an initiator closes its PDC (ns).
    pub(crate) idle_close: u64,
    /// Idle time after which a target reaps its PDC (ns).
    pub(crate) reap: u64,
    /// Lifetime of a half-open target PDC (ns).
    pub(crate) half_open: u64,
    /// Targets answer SYN with NACK NEW_START_PSN (1-RTT establishment).
    pub(crate) one_rtt: bool,
    /// Seed of the PSN/packet-id generator.
    pub(crate) seed: u32,
}

impl Config {
    /// Defaults for a 4 KiB MTU data-centre network.
    pub(crate) const DEFAULT: Self = Self {
        mtu: 4096,
        initiator_id: 0,
        rto_init: 1_000_000,
        rto_min: 50_000,
        rto_max: 100_000_000,
        max_retries: 12,
        max_transient: 32,
        ack_every: 4,
        ack_delay: 10_000,
        idle_close: 50_000_000,
        reap: 500_000_000,
        half_open: 10_000_000,
        one_rtt: false,
        seed: 1,
    };
}

/// Why a post was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PostError {
    /// The message table is full.
    NoMsg,
    /// The PDC table is full.
    NoPdc,
    /// The receive table is full.
    NoRecv,
    /// The operation is not valid for the mode or too long.
    Invalid,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Packets transmitted.
    pub(crate) tx: u64,
    /// Packets received and parsed.
    pub(crate) rx: u64,
    /// Packets refused by the parser.
    pub(crate) rx_bad: u64,
    /// Packets dropped for another reason (unknown PDC, stale...).
    pub(crate) rx_drop: u64,
    /// Duplicate request packets.
    pub(crate) dup: u64,
    /// Retransmitted packets.
    pub(crate) retx: u64,
    /// Retransmissions triggered by SACK.
    pub(crate) fast_retx: u64,
    /// Retransmission timeouts.
    pub(crate) rto: u64,
    /// ACKs sent.
    pub(crate) ack_tx: u64,
    /// ACKs received.
    pub(crate) ack_rx: u64,
    /// NACKs sent.
    pub(crate) nack_tx: u64,
    /// NACKs received.
    pub(crate) nack_rx: u64,
    /// PDCs opened (both roles).
    pub(crate) pdc_open: u64,
    /// PDCs closed by handshake.
    pub(crate) pdc_close: u64,
    /// PDCs put in error.
    pub(crate) pdc_error: u64,
    /// Target PDCs reaped (idle or half-open).
    pub(crate) pdc_reaped: u64,
    /// Messages that arrived before a matching receive.
    pub(crate) unexpected: u64,
    /// UUD messages dropped for want of a receive.
    pub(crate) uud_drop: u64,
}

/// State of a PDC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PdcState {
    /// Unused slot.
    Free,
    /// Initiator: SYN packets sent, no ACK yet.
    SynSent,
    /// Initiator: established.
    Established,
    /// Initiator: CLOSE sent.
    Closing,
    /// Target: answered NEW_START_PSN, waiting for the restarted SYN.
    HalfOpen,
    /// Target: established.
    Open,
}

const D_USED: u8 = 1;
const D_ACKED: u8 = 2;
const D_NEED_RESP: u8 = 4;
const D_GOT_RESP: u8 = 8;
const D_FAST: u8 = 16;
const D_CLOSE: u8 = 32;

/// One in-flight packet: enough to rebuild it from the message.
#[derive(Clone, Copy, Debug, Default)]
struct TxDesc {
    msg: u16,
    flags: u8,
    seg: u32,
}

impl TxDesc {
    fn done(&self) -> bool {
        self.flags & D_ACKED != 0 && (self.flags & D_NEED_RESP == 0 || self.flags & D_GOT_RESP != 0)
    }

    fn pending(&self) -> bool {
        self.flags & D_USED != 0 && !self.done()
    }
}

/// A guaranteed-delivery SES response kept by a target PDC.
#[derive(Clone, Copy, Debug, Default)]
struct RespEnt {
    used: bool,
    rc: u8,
    msg_id: u16,
    psn: u32,
    len: u32,
}

/// A packet delivery context. One slot serves either role.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pdc {
    state: PdcState,
    ordered: bool,
    close_req_sent: bool,
    timing: bool,
    transient: bool,
    retries: u8,
    stalls: u8,
    ack_pending: u8,
    peer_id: u16,
    msg_id: u16,
    q_head: u16,
    q_tail: u16,
    peer: Addr,
    start_psn: u32,
    next_psn: u32,
    tx_base: u32,
    highest_acked: u32,
    timed_psn: u32,
    nack_ooo: u32,
    last_psn: u32,
    rx: RxWindow,
    rtt: Rtt,
    timed_at: u64,
    rto_at: u64,
    ack_at: u64,
    last_active: u64,
    tx: [TxDesc; TX_WINDOW],
    resp: [RespEnt; RESP_RING],
}

impl Pdc {
    const EMPTY: Self = Self {
        state: PdcState::Free,
        ordered: false,
        close_req_sent: false,
        timing: false,
        transient: false,
        retries: 0,
        stalls: 0,
        ack_pending: 0,
        peer_id: 0,
        msg_id: 0,
        q_head: NONE,
        q_tail: NONE,
        peer: [0; 16],
        start_psn: 0,
        next_psn: 0,
        tx_base: 0,
        highest_acked: 0,
        timed_psn: 0,
        nack_ooo: 0,
        last_psn: 0,
        rx: RxWindow { cack: 0, bits: 0 },
        rtt: Rtt {
            srtt: 0,
            rttvar: 0,
            rto: 0,
        },
        timed_at: 0,
        rto_at: 0,
        ack_at: 0,
        last_active: 0,
        tx: [TxDesc {
            msg: 0,
            flags: 0,
            seg: 0,
        }; TX_WINDOW],
        resp: [RespEnt {
            used: false,
            rc: 0,
            msg_id: 0,
            psn: 0,
            len: 0,
        }; RESP_RING],
    };

    fn slot(&self, psn: u32) -> usize {
        // CAST: the remainder is below TX_WINDOW.
        (psn.wrapping_sub(self.start_psn) % TX_WINDOW as u32) as usize
    }

    fn in_flight(&self, psn: u32) -> bool {
        !psn_lt(psn, self.tx_base) && psn_lt(psn, self.next_psn)
    }

    fn idle(&self) -> bool {
        self.q_head == NONE && self.tx_base == self.next_psn
    }

    /// State of this PDC.
    pub(crate) fn state(&self) -> PdcState {
        self.state
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MsgState {
    Free,
    Active,
}

#[derive(Clone, Copy, Debug)]
struct Msg {
    state: MsgState,
    completed: bool,
    in_queue: bool,
    retries: u8,
    pdc: u16,
    msg_id: u16,
    next: u16,
    refs: u16,
    resp: Option<u8>,
    seg_next: u32,
    nsegs: u32,
    done_segs: u32,
    pkt_id: u32,
    deadline: u64,
    post: Post,
}

impl Msg {
    const EMPTY: Self = Self {
        state: MsgState::Free,
        completed: false,
        in_queue: false,
        retries: 0,
        pdc: NONE,
        msg_id: 0,
        next: NONE,
        refs: 0,
        resp: None,
        seg_next: 0,
        nsegs: 0,
        done_segs: 0,
        pkt_id: 0,
        deadline: 0,
        post: Post {
            user: 0,
            dst: [0; 16],
            target: super::wire::ses::SesAddr {
                ri_gen: 0,
                job: 0,
                pid: 0,
                ri: 0,
            },
            mode: Mode::Rud,
            op: Op::Send { tag: None },
            buf: 0,
            len: 0,
            hdr_data: 0,
        },
    };
}

#[derive(Clone, Copy, Debug)]
struct Recv {
    used: bool,
    claimed: bool,
    tagged: bool,
    ep: u32,
    len: u32,
    user: u64,
    buf: u64,
    tag: u64,
    ignore: u64,
    seq: u64,
}

impl Recv {
    const EMPTY: Self = Self {
        used: false,
        claimed: false,
        tagged: false,
        ep: 0,
        len: 0,
        user: 0,
        buf: 0,
        tag: 0,
        ignore: 0,
        seq: 0,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    Failed,
    Write { ep: u32, key: u64 },
    Recv(u16),
    Unexp(u16),
}

#[derive(Clone, Copy, Debug)]
struct InMsg {
    used: bool,
    pdc: u16,
    msg_id: u16,
    rc: u8,
    total: u32,
    got: u32,
    eom_psn: Option<u32>,
    hdr: u64,
    dest: Dest,
}

impl InMsg {
    const EMPTY: Self = Self {
        used: false,
        pdc: 0,
        msg_id: 0,
        rc: 0,
        total: 0,
        got: 0,
        eom_psn: None,
        hdr: 0,
        dest: Dest::Failed,
    };
}

#[derive(Clone, Copy, Debug)]
struct Unexp {
    used: bool,
    complete: bool,
    tagged: bool,
    ep: u32,
    len: u32,
    matched: u16,
    bits: u64,
    hdr: u64,
    buf: u64,
    seq: u64,
}

impl Unexp {
    const EMPTY: Self = Self {
        used: false,
        complete: false,
        tagged: false,
        ep: 0,
        len: 0,
        matched: NONE,
        bits: 0,
        hdr: 0,
        buf: 0,
        seq: 0,
    };
}

/// Answer the target attaches to an ACK (or RUDI response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    None,
    Plain {
        msg_id: u16,
        /// JobID of the request, echoed in the response.
        job: u32,
        rc: u8,
        len: u32,
    },
    Read {
        msg_id: u16,
        /// JobID of the request, echoed in the response.
        job: u32,
        ep: u32,
        key: u64,
        offset: u64,
        total: u32,
        msg_off: u32,
        len: u32,
    },
}

/// The engine of one FEP with `P` PDCs, `M` initiator messages and `R`
/// entries in each target table (receives, inbound messages, unexpected).
pub(crate) struct Engine<const P: usize, const M: usize, const R: usize> {
    cfg: Config,
    rng: u32,
    pkt_id: u32,
    seq: u64,
    pdcs: [Pdc; P],
    msgs: [Msg; M],
    recvs: [Recv; R],
    inb: [InMsg; R],
    unexp: [Unexp; R],
    buf: [u8; MAX_MTU + MAX_HDR],
    /// Counters.
    pub(crate) stats: Stats,
}

/// True when `seq` is older than the current best candidate (or there is none).
fn older(best: Option<u64>, seq: u64) -> bool {
    match best {
        Some(b) => seq < b,
        None => true,
    }
}

fn to_u16(v: usize) -> u16 {
    u16::try_from(v).unwrap_or(NONE)
}

fn clamp_i16(v: i64) -> i16 {
    // CAST: clamped to the i16 range first.
    v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

fn psn_diff(a: u32, b: u32) -> i64 {
    // CAST: signed serial difference.
    i64::from(a.wrapping_sub(b) as i32)
}

impl<const P: usize, const M: usize, const R: usize> Engine<P, M, R> {
    /// A fresh engine.
    pub(crate) fn new(cfg: Config) -> Self {
        assert!(P < usize::from(NONE) && M < usize::from(NONE) && R < usize::from(NONE));
        let mtu = usize::try_from(cfg.mtu).unwrap_or(usize::MAX);
        assert!(mtu > 0 && mtu <= MAX_MTU);
        Self {
            cfg,
            rng: cfg.seed | 1,
            pkt_id: cfg.seed,
            seq: 0,
            pdcs: [Pdc::EMPTY; P],
            msgs: [Msg::EMPTY; M],
            recvs: [Recv::EMPTY; R],
            inb: [InMsg::EMPTY; R],
            unexp: [Unexp::EMPTY; R],
            buf: [0; MAX_MTU + MAX_HDR],
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.cfg
    }

    /// The PDC table (for inspection).
    pub(crate) fn pdcs(&self) -> &[Pdc] {
        &self.pdcs
    }

    /// Number of slots in use: (PDCs, messages, receives, inbound, unexpected).
    pub(crate) fn usage(&self) -> (usize, usize, usize, usize, usize) {
        (
            self.pdcs
                .iter()
                .filter(|p| p.state != PdcState::Free)
                .count(),
            self.msgs
                .iter()
                .filter(|m| m.state != MsgState::Free)
                .count(),
            self.recvs.iter().filter(|r| r.used).count(),
            self.inb.iter().filter(|r| r.used).count(),
            self.unexp.iter().filter(|r| r.used).count(),
        )
    }

    fn random(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    // ----------------------------------------------------------------
    // Posting.

    /// Posts an operation. Sends what the window allows right away.
    pub(crate) fn post(&mut self, now: u64, p: &Post, env: &mut impl Env) -> Result<(), PostError> {
        let single = p.len <= self.cfg.mtu;
        match (p.mode, p.op) {
            (Mode::Uud, Op::Send { .. }) if single => {}
            (Mode::Uud, _) => return Err(PostError::Invalid),
            (Mode::Rudi, Op::Write { .. } | Op::Read { .. }) if single => {}
            (Mode::Rudi, _) => return Err(PostError::Invalid),
            _ => {}
        }
        if p.target.job > 0x00ff_ffff || p.target.pid > 0xfff || p.target.ri > 0xfff {
            return Err(PostError::Invalid);
        }
        let mi = self
            .msgs
            .iter()
            .position(|m| m.state == MsgState::Free)
            .ok_or(PostError::NoMsg)?;
        let mut m = Msg::EMPTY;
        m.state = MsgState::Active;
        m.post = *p;
        m.nsegs = segments(p.len, self.cfg.mtu);
        match p.mode {
            Mode::Uud => {
                self.msgs[mi] = m;
                self.send_single(mi, false, env);
                self.finish_msg(mi, Status::Ok, env);
                self.release_msg(mi);
                return Ok(());
            }
            Mode::Rudi => {
                m.pkt_id = self.pkt_id;
                self.pkt_id = self.pkt_id.wrapping_add(1);
                m.deadline = now + self.cfg.rto_init;
                self.msgs[mi] = m;
                self.send_single(mi, false, env);
                return Ok(());
            }
            Mode::Rud | Mode::Rod => {}
        }
        let ordered = p.mode == Mode::Rod;
        let pi = match self.pdcs.iter().position(|d| {
            matches!(d.state, PdcState::SynSent | PdcState::Established)
                && d.peer == p.dst
                && d.ordered == ordered
        }) {
            Some(i) => i,
            None => {
                let i = self
                    .pdcs
                    .iter()
                    .position(|d| d.state == PdcState::Free)
                    .ok_or(PostError::NoPdc)?;
                let start = self.random();
                let d = &mut self.pdcs[i];
                *d = Pdc::EMPTY;
                d.state = PdcState::SynSent;
                d.ordered = ordered;
                d.peer = p.dst;
                d.start_psn = start;
                d.next_psn = start;
                d.tx_base = start;
                d.highest_acked = start.wrapping_sub(1);
                d.rtt = Rtt::new(self.cfg.rto_init);
                d.last_active = now;
                self.stats.pdc_open += 1;
                i
            }
        };
        let d = &mut self.pdcs[pi];
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
        self.msgs[mi] = m;
        self.pump(pi, now, env);
        Ok(())
    }

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
        let ri = self
            .recvs
            .iter()
            .position(|r| !r.used)
            .ok_or(PostError::NoRecv)?;
        let (tagged, t, ig) = match tag {
            Some((t, i)) => (true, t, i),
            None => (false, 0, 0),
        };
        self.seq += 1;
        self.recvs[ri] = Recv {
            used: true,
            claimed: false,
            tagged,
            ep,
            len,
            user,
            buf,
            tag: t,
            ignore: ig,
            seq: self.seq,
        };
        self.match_unexp(ri, env);
        Ok(())
    }

    /// Gives the unclaimed receive `ri` the oldest matching unexpected
    /// message, if any (delivered at once when complete).
    fn match_unexp(&mut self, ri: usize, env: &mut impl Env) {
        let r = self.recvs[ri];
        let mut best: Option<usize> = None;
        for (i, u) in self.unexp.iter().enumerate() {
            if u.used
                && u.matched == NONE
                && u.ep == r.ep
                && u.tagged == r.tagged
                && (!r.tagged || tag_matches(u.bits, r.tag, r.ignore))
                && older(best.map(|b| self.unexp[b].seq), u.seq)
            {
                best = Some(i);
            }
        }
        if let Some(ui) = best {
            self.recvs[ri].claimed = true;
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

    fn deliver_unexp(&mut self, ui: usize, env: &mut impl Env) {
        let u = self.unexp[ui];
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
            ep: r.ep,
        });
        self.recvs[ri] = Recv::EMPTY;
        self.unexp[ui] = Unexp::EMPTY;
    }

    // ----------------------------------------------------------------
    // Initiator: segmentation and (re)transmission.

    fn pump(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        loop {
            let d = &self.pdcs[pi];
            if !matches!(d.state, PdcState::SynSent | PdcState::Established) {
                return;
            }
            // CAST: TX_WINDOW is small.
            if d.next_psn.wrapping_sub(d.tx_base) >= TX_WINDOW as u32 {
                return;
            }
            // SYN packets carry a 12-bit offset from the start PSN.
            if d.state == PdcState::SynSent && d.next_psn.wrapping_sub(d.start_psn) > 0xfff {
                return;
            }
            let mi = d.q_head;
            if mi == NONE {
                return;
            }
            let m = &mut self.msgs[usize::from(mi)];
            let seg = m.seg_next;
            m.seg_next += 1;
            let last = m.seg_next >= m.nsegs;
            let need_resp = matches!(m.post.op, Op::Read { .. }) || last;
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
            let d = &mut self.pdcs[pi];
            let psn = d.next_psn;
            d.next_psn = psn.wrapping_add(1);
            let s = d.slot(psn);
            d.tx[s] = TxDesc {
                msg: mi,
                flags: D_USED | if need_resp { D_NEED_RESP } else { 0 },
                seg,
            };
            if !d.timing {
                d.timing = true;
                d.timed_psn = psn;
                d.timed_at = now;
            }
            if d.rto_at == 0 {
                d.rto_at = now + d.rtt.rto;
            }
            d.last_active = now;
            self.send_desc(pi, psn, false, env);
        }
    }

    fn send_desc(&mut self, pi: usize, psn: u32, retx: bool, env: &mut impl Env) {
        let d = &self.pdcs[pi];
        let desc = d.tx[d.slot(psn)];
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
                spdcid: to_u16(pi),
                dst,
                payload: 0,
            });
            self.transmit(&peer, psn, &h, None, 0, env);
            return;
        }
        let mi = usize::from(desc.msg);
        let m = &self.msgs[mi];
        let p = m.post;
        let (off, len) = segment(p.len, self.cfg.mtu, desc.seg);
        let som = desc.seg == 0;
        let eom = desc.seg + 1 >= m.nsegs;
        let (opcode, key, boff, payload) = match p.op {
            Op::Send { tag: Some(t) } => (op::TSEND, t, u64::from(off), len),
            Op::Send { tag: None } => (op::SEND, 0, u64::from(off), len),
            Op::Write { key, offset } => (op::WRITE, key, offset + u64::from(off), len),
            Op::Read { key, offset } => (op::READ, key, offset + u64::from(off), 0),
        };
        let mut flags = if som { sflags::SOM } else { 0 } | if eom { sflags::EOM } else { 0 };
        let data = if som {
            if p.hdr_data != 0 {
                flags |= sflags::HD;
            }
            StdData::HeaderData(p.hdr_data)
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
                initiator: self.cfg.initiator_id,
                key,
                data,
                request_length: p.len,
            },
            ext: wire::ses::ReqExt::None,
        });
        let h = PdsHeader::Req(ReqHdr {
            ordered: d.ordered,
            cc: None,
            next: NextHeader::ReqStd,
            retx,
            ar: eom,
            clear_psn_offset: clear,
            psn,
            spdcid: to_u16(pi),
            dst,
        });
        let _ = len;
        self.transmit_with_local(&peer, psn, &h, &ses, p.buf, u64::from(off), payload, env);
    }

    /// Sends the single packet of a UUD or RUDI message.
    fn send_single(&mut self, mi: usize, retx: bool, env: &mut impl Env) {
        let m = &self.msgs[mi];
        let p = m.post;
        let (opcode, key, boff, payload) = match p.op {
            Op::Send { tag: Some(t) } => (op::TSEND, t, 0, p.len),
            Op::Send { tag: None } => (op::SEND, 0, 0, p.len),
            Op::Write { key, offset } => (op::WRITE, key, offset, p.len),
            Op::Read { key, offset } => (op::READ, key, offset, 0),
        };
        let flags = sflags::SOM | sflags::EOM;
        let (h, ses) = if p.mode == Mode::Uud {
            (
                PdsHeader::Uud {
                    next: NextHeader::ReqStd,
                },
                SesHeader::Req(SesReq {
                    opcode,
                    flags: flags | if p.hdr_data != 0 { sflags::HD } else { 0 },
                    addr: p.target,
                    body: ReqBody::Std {
                        msg_id: 0,
                        buffer_offset: 0,
                        initiator: self.cfg.initiator_id,
                        key,
                        data: StdData::HeaderData(p.hdr_data),
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
                        initiator: self.cfg.initiator_id,
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

    #[allow(clippy::too_many_arguments)]
    fn transmit_with_local(
        &mut self,
        dst: &Addr,
        entropy: u32,
        h: &PdsHeader,
        ses: &SesHeader,
        buf: u64,
        off: u64,
        len: u32,
        env: &mut impl Env,
    ) {
        let Ok(n) = wire::emit_headers(h, Some(ses), &mut self.buf) else {
            return;
        };
        let len = usize::try_from(len).unwrap_or(0).min(MAX_MTU);
        env.read_local(buf, off, &mut self.buf[n..n + len]);
        self.stats.tx += 1;
        // CAST: entropy is a 16-bit path selector.
        env.transmit(dst, entropy as u16, &self.buf[..n + len]);
    }

    fn transmit(
        &mut self,
        dst: &Addr,
        entropy: u32,
        h: &PdsHeader,
        ses: Option<&SesHeader>,
        _len: usize,
        env: &mut impl Env,
    ) {
        if let Ok(n) = wire::emit_headers(h, ses, &mut self.buf) {
            self.stats.tx += 1;
            // CAST: entropy is a 16-bit path selector.
            env.transmit(dst, entropy as u16, &self.buf[..n]);
        }
    }

    // ----------------------------------------------------------------
    // Receive path.

    /// Processes one received UDP payload from `src`.
    pub(crate) fn receive(&mut self, now: u64, src: &Addr, pkt: &[u8], env: &mut impl Env) {
        let Ok(p) = wire::parse(pkt) else {
            self.stats.rx_bad += 1;
            return;
        };
        self.stats.rx += 1;
        match (p.pds, p.ses) {
            (PdsHeader::Req(r), Some(SesHeader::Req(s))) => {
                self.on_request(now, src, &r, &s, p.payload, env)
            }
            (PdsHeader::Ack(a), ses) => self.on_ack(now, src, &a, ses, p.payload, env),
            (PdsHeader::Nack(n), _) => self.on_nack(now, src, &n, env),
            (PdsHeader::Ctrl(c), _) => self.on_ctrl(now, src, &c, env),
            (PdsHeader::RudiReq { pkt_id, .. }, Some(SesHeader::Req(s))) => {
                let ans = self.process_ses(None, 0, src, &s, p.payload, env);
                match ans {
                    Ok(a) => self.send_rudi_resp(src, pkt_id, a, env),
                    Err(_) => self.stats.rx_drop += 1,
                }
            }
            (PdsHeader::RudiResp { pkt_id, .. }, Some(SesHeader::Resp(r))) => {
                self.on_rudi_resp(src, pkt_id, &r, p.payload, env)
            }
            (PdsHeader::Uud { .. }, Some(SesHeader::Req(s))) => {
                if s.opcode != op::SEND && s.opcode != op::TSEND {
                    self.stats.rx_drop += 1;
                    return;
                }
                match self.process_ses(None, 0, src, &s, p.payload, env) {
                    Ok(Answer::Plain { rc, .. }) if rc == rc::OK => {}
                    _ => self.stats.uud_drop += 1,
                }
            }
            _ => self.stats.rx_drop += 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_nack(
        &mut self,
        dst: &Addr,
        code: u8,
        psn: u32,
        spdcid: u16,
        dpdcid: u16,
        payload: u32,
        env: &mut impl Env,
    ) {
        self.stats.nack_tx += 1;
        let h = PdsHeader::Nack(NackHdr {
            ecn: false,
            retx: false,
            rudi: false,
            code,
            vendor_code: 0,
            psn,
            spdcid,
            dpdcid,
            payload,
            ccx: None,
        });
        self.transmit(dst, psn, &h, None, 0, env);
    }

    /// Finds or creates the target PDC for a request; `None` if the packet
    /// must be dropped (a NACK has been sent where appropriate).
    #[allow(clippy::too_many_arguments)]
    fn target_pdc(
        &mut self,
        now: u64,
        src: &Addr,
        ordered: bool,
        psn: u32,
        spdcid: u16,
        dst: PdcDst,
        env: &mut impl Env,
    ) -> Option<usize> {
        match dst {
            PdcDst::Dpdcid(id) => {
                let i = usize::from(id);
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
                Some(i)
            }
            PdcDst::Syn { psn_offset, .. } => {
                let start = psn.wrapping_sub(u32::from(psn_offset));
                let found = self.pdcs.iter().position(|d| {
                    matches!(d.state, PdcState::Open | PdcState::HalfOpen)
                        && d.peer == *src
                        && d.peer_id == spdcid
                });
                if let Some(i) = found {
                    let d = &mut self.pdcs[i];
                    if d.ordered != ordered {
                        self.send_nack(
                            src,
                            nack::PDC_MODE_MISMATCH,
                            psn,
                            to_u16(i),
                            spdcid,
                            0,
                            env,
                        );
                        return None;
                    }
                    if d.start_psn != start {
                        if d.state == PdcState::HalfOpen {
                            let s = d.start_psn;
                            self.send_nack(
                                src,
                                nack::NEW_START_PSN,
                                psn,
                                to_u16(i),
                                spdcid,
                                s,
                                env,
                            );
                        } else {
                            // A SYN from before a restart: stale.
                            self.stats.rx_drop += 1;
                        }
                        return None;
                    }
                    d.state = PdcState::Open;
                    return Some(i);
                }
                let Some(i) = self.pdcs.iter().position(|d| d.state == PdcState::Free) else {
                    self.send_nack(src, nack::NO_PDC_AVAIL, psn, 0, spdcid, 0, env);
                    return None;
                };
                let one_rtt = self.cfg.one_rtt;
                let new_start = if one_rtt { self.random() } else { start };
                let d = &mut self.pdcs[i];
                *d = Pdc::EMPTY;
                d.state = if one_rtt {
                    PdcState::HalfOpen
                } else {
                    PdcState::Open
                };
                d.ordered = ordered;
                d.peer = *src;
                d.peer_id = spdcid;
                d.start_psn = new_start;
                d.rx = RxWindow::new(new_start);
                d.nack_ooo = new_start.wrapping_sub(1);
                d.last_active = now;
                self.stats.pdc_open += 1;
                if one_rtt {
                    self.send_nack(
                        src,
                        nack::NEW_START_PSN,
                        psn,
                        to_u16(i),
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

    fn on_request(
        &mut self,
        now: u64,
        src: &Addr,
        r: &ReqHdr,
        s: &SesReq,
        payload: &[u8],
        env: &mut impl Env,
    ) {
        let Some(pi) = self.target_pdc(now, src, r.ordered, r.psn, r.spdcid, r.dst, env) else {
            return;
        };
        let psn = r.psn;
        self.pdcs[pi].last_active = now;
        // Responses the initiator has seen can be forgotten.
        let clear = psn.wrapping_add_signed(i32::from(r.clear_psn_offset));
        for e in self.pdcs[pi].resp.iter_mut() {
            if e.used && psn_le(e.psn, clear) {
                e.used = false;
            }
        }
        let (pid, id) = (to_u16(pi), self.pdcs[pi].peer_id);
        match self.pdcs[pi].rx.check(psn) {
            RxCheck::OutOfWindow => {
                self.send_nack(src, nack::PSN_OOR_WINDOW, psn, pid, id, 0, env);
                return;
            }
            RxCheck::Duplicate => {
                self.stats.dup += 1;
                let ans = if s.opcode == op::READ {
                    // Reads are idempotent: serve them again.
                    self.process_ses(Some(pi), psn, src, s, payload, env)
                        .unwrap_or(Answer::None)
                } else {
                    self.dup_answer(pi, s)
                };
                self.send_ack(pi, psn, ans, env);
                return;
            }
            RxCheck::New => {}
        }
        let d = &mut self.pdcs[pi];
        let expected = d.rx.cack.wrapping_add(1);
        if d.ordered && psn != expected {
            if d.nack_ooo != expected {
                d.nack_ooo = expected;
                self.send_nack(src, nack::ROD_OOO, psn, pid, id, expected, env);
            } else {
                self.stats.rx_drop += 1;
            }
            return;
        }
        let ans = match self.process_ses(Some(pi), psn, src, s, payload, env) {
            Ok(a) => a,
            Err(code) => {
                self.send_nack(src, code, psn, pid, id, 0, env);
                return;
            }
        };
        let d = &mut self.pdcs[pi];
        d.rx.mark(psn);
        d.ack_pending = d.ack_pending.saturating_add(1);
        d.last_psn = psn;
        if r.ar || ans != Answer::None || d.rx.bits != 0 || d.ack_pending >= self.cfg.ack_every {
            self.send_ack(pi, psn, ans, env);
        } else if d.ack_at == 0 {
            d.ack_at = now + self.cfg.ack_delay;
        }
    }

    /// Answer to a duplicate request packet: a kept error response, nothing
    /// while the message is still arriving, success once it completed
    /// (only error responses are kept: a completed message with no kept
    /// response succeeded).
    fn dup_answer(&self, pi: usize, s: &SesReq) -> Answer {
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
            return Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: e.rc,
                len: e.len,
            };
        }
        let pi16 = to_u16(pi);
        if self
            .inb
            .iter()
            .any(|m| m.used && m.pdc == pi16 && m.msg_id == msg_id)
        {
            return Answer::None;
        }
        Answer::Plain {
            msg_id,
            job: s.addr.job,
            rc: rc::OK,
            len,
        }
    }

    fn ring_free(&self, pi: usize) -> bool {
        self.pdcs[pi].resp.iter().any(|e| !e.used)
    }

    fn ring_push(&mut self, pi: usize, msg_id: u16, psn: u32, rc: u8, len: u32) {
        if let Some(e) = self.pdcs[pi].resp.iter_mut().find(|e| !e.used) {
            *e = RespEnt {
                used: true,
                rc,
                msg_id,
                psn,
                len,
            };
        }
    }

    /// Target side of SES for one new request packet. `pdc` is `None` for
    /// RUDI and UUD. `Err` is a NACK code: the packet was not consumed.
    fn process_ses(
        &mut self,
        pdc: Option<usize>,
        psn: u32,
        src: &Addr,
        s: &SesReq,
        payload: &[u8],
        env: &mut impl Env,
    ) -> Result<Answer, u8> {
        let som = s.flags & sflags::SOM != 0;
        let eom = s.flags & sflags::EOM != 0;
        // CAST: payloads are at most one packet.
        let plen = payload.len() as u32;
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
        let ep = env.resolve(src, &s.addr);
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
        if !matches!(s.opcode, op::WRITE | op::SEND | op::TSEND) {
            return Ok(Answer::Plain {
                msg_id,
                job: s.addr.job,
                rc: rc::UNSUPPORTED_OP,
                len: 0,
            });
        }
        let single = som && eom;
        // RUDI and UUD carry single-packet messages only, and a
        // single-packet message must carry exactly its request length:
        // otherwise it could never complete, and its inbound slot would be
        // held forever (UUD and RUDI have no PDC whose end would free it).
        if (pdc.is_none() && !single) || (single && plen != total) {
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
            self.inb
                .iter()
                .position(|m| m.used && m.pdc == pi16 && m.msg_id == msg_id)
        };
        let completes = match existing {
            Some(i) => self.inb[i].got.saturating_add(plen) >= self.inb[i].total,
            None => plen >= total,
        };
        if let Some(pi) = pdc {
            if completes && !self.ring_free(pi) {
                return Err(nack::NO_GTD_DEL_AVAIL);
            }
        }
        let ii = match existing {
            Some(i) => i,
            None => {
                let dest = match ep {
                    Err(_) => Dest::Failed,
                    Ok(ep) if s.opcode == op::WRITE => Dest::Write { ep, key },
                    Ok(ep) => {
                        let tagged = s.opcode == op::TSEND;
                        if pdc.is_none() && s.opcode != op::SEND && s.opcode != op::TSEND {
                            Dest::Failed
                        } else {
                            match self.match_recv(ep, tagged, key) {
                                Some(r) => Dest::Recv(r),
                                None => {
                                    if pdc.is_none() {
                                        // UUD: no receive, no buffering.
                                        return Ok(Answer::Plain {
                                            msg_id,
                                            job: s.addr.job,
                                            rc: rc::NO_MATCH,
                                            len: 0,
                                        });
                                    }
                                    match self.alloc_unexp(ep, tagged, key, total, env) {
                                        Some(u) => Dest::Unexp(u),
                                        None => return Err(nack::NO_SES_MSG_AVAIL),
                                    }
                                }
                            }
                        }
                    }
                };
                let Some(i) = self.inb.iter().position(|m| !m.used) else {
                    self.undo_dest(dest, env);
                    return Err(nack::NO_SES_MSG_AVAIL);
                };
                self.inb[i] = InMsg {
                    used: true,
                    pdc: pi16,
                    msg_id,
                    rc: match ep {
                        Err(code) => code,
                        Ok(_) => rc::OK,
                    },
                    total,
                    got: 0,
                    eom_psn: None,
                    hdr: 0,
                    dest,
                };
                i
            }
        };
        // Apply this packet.
        let m = self.inb[ii];
        let mut code = m.rc;
        if code == rc::OK {
            match m.dest {
                Dest::Failed => {}
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
        m.rc = code;
        m.got = m.got.saturating_add(plen);
        if som {
            m.hdr = hdr;
        }
        if eom {
            m.eom_psn = Some(psn);
        }
        if m.got < m.total {
            return Ok(Answer::None);
        }
        // Message complete.
        let m = *m;
        self.inb[ii] = InMsg::EMPTY;
        let mut sender_rc = m.rc;
        match m.dest {
            Dest::Recv(r) => {
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
                    tag: if s.opcode == op::TSEND { key } else { 0 },
                    hdr_data: m.hdr,
                    ep: rv.ep,
                });
                self.recvs[usize::from(r)] = Recv::EMPTY;
            }
            Dest::Unexp(u) => {
                let ui = usize::from(u);
                self.unexp[ui].hdr = m.hdr;
                self.unexp[ui].complete = true;
                if self.unexp[ui].matched != NONE {
                    self.deliver_unexp(ui, env);
                }
            }
            Dest::Write { .. } | Dest::Failed => {}
        }
        if let Some(pi) = pdc {
            if sender_rc != rc::OK {
                let p = m.eom_psn.unwrap_or(psn);
                self.ring_push(pi, msg_id, p, sender_rc, m.total);
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
    fn undo_dest(&mut self, dest: Dest, env: &mut impl Env) {
        let ri = match dest {
            Dest::Recv(r) => r,
            Dest::Unexp(u) => {
                let e = self.unexp[usize::from(u)];
                self.unexp[usize::from(u)] = Unexp::EMPTY;
                env.overflow_free(e.buf);
                e.matched
            }
            Dest::Write { .. } | Dest::Failed => NONE,
        };
        if ri != NONE {
            self.recvs[usize::from(ri)].claimed = false;
            self.match_unexp(usize::from(ri), env);
        }
    }

    fn match_recv(&mut self, ep: u32, tagged: bool, bits: u64) -> Option<u16> {
        let mut best: Option<usize> = None;
        for (i, r) in self.recvs.iter().enumerate() {
            if r.used
                && !r.claimed
                && r.ep == ep
                && r.tagged == tagged
                && (!tagged || tag_matches(bits, r.tag, r.ignore))
                && older(best.map(|b| self.recvs[b].seq), r.seq)
            {
                best = Some(i);
            }
        }
        let i = best?;
        self.recvs[i].claimed = true;
        Some(to_u16(i))
    }

    fn alloc_unexp(
        &mut self,
        ep: u32,
        tagged: bool,
        bits: u64,
        len: u32,
        env: &mut impl Env,
    ) -> Option<u16> {
        let i = self.unexp.iter().position(|u| !u.used)?;
        let buf = env.overflow_alloc(to_u16(i), len)?;
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
            buf,
            seq: self.seq,
        };
        self.stats.unexpected += 1;
        Some(to_u16(i))
    }

    /// Builds and sends an ACK for PDC `pi`, triggered by `psn`.
    fn send_ack(&mut self, pi: usize, psn: u32, ans: Answer, env: &mut impl Env) {
        let d = &mut self.pdcs[pi];
        d.ack_pending = 0;
        d.ack_at = 0;
        let cack = d.rx.cack;
        let ext = if d.rx.bits != 0 {
            let (off, map) = d.rx.sack();
            AckExt::Cc {
                cc_type: 0,
                cc_flags: 0,
                mpr: 0,
                sack_psn_offset: off,
                sack_bitmap: map,
                cc_state: 0,
            }
        } else {
            AckExt::None
        };
        let mut a = AckHdr {
            next: NextHeader::None,
            ecn: false,
            retx: false,
            probe: false,
            request: 0,
            ack_psn_offset: clamp_i16(psn_diff(psn, cack)),
            cack_psn: cack,
            spdcid: to_u16(pi),
            dpdcid: d.peer_id,
            ext,
            epsn: None,
        };
        let peer = d.peer;
        self.stats.ack_tx += 1;
        self.send_answer(&peer, psn, Some(&mut a), 0, ans, env);
    }

    fn send_rudi_resp(&mut self, src: &Addr, pkt_id: u32, ans: Answer, env: &mut impl Env) {
        self.send_answer(src, pkt_id, None, pkt_id, ans, env);
    }

    /// Emits an ACK (or a RUDI response when `ack` is `None`) carrying
    /// `ans`; reads RMA data straight into the packet buffer.
    fn send_answer(
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
        let (ses, data) = match ans {
            Answer::None => (None, None),
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
        };
        let mut ses = ses.map(SesHeader::Resp);
        {
            let next = ses
                .as_ref()
                .map_or(NextHeader::None, SesHeader::next_header);
            let h = match &ack {
                Some(a) => PdsHeader::Ack(AckHdr { next, ..**a }),
                None => PdsHeader::RudiResp {
                    next,
                    ecn: false,
                    retx: false,
                    pkt_id,
                },
            };
            let Ok(n) = wire::emit_headers(&h, ses.as_ref(), &mut self.buf) else {
                return;
            };
            let mut total = n;
            if let (Some(SesHeader::Resp(_)), Some((msg_id, job, ep, key, off, len))) = (&ses, data)
            {
                let l = usize::try_from(len).unwrap_or(0).min(MAX_MTU);
                if let Err(code) = env.rma_read(ep, key, off, &mut self.buf[n..n + l]) {
                    // Retry with an error response instead of data.
                    ses = Some(SesHeader::Resp(plain(msg_id, job, code, 0)));
                    if matches!(
                        ses,
                        Some(SesHeader::Resp(SesResp {
                            body: RespBody::Plain { .. },
                            ..
                        }))
                    ) {
                        let next = NextHeader::Resp;
                        let h = match &ack {
                            Some(a) => PdsHeader::Ack(AckHdr { next, ..**a }),
                            None => PdsHeader::RudiResp {
                                next,
                                ecn: false,
                                retx: false,
                                pkt_id,
                            },
                        };
                        let Ok(n) = wire::emit_headers(&h, ses.as_ref(), &mut self.buf) else {
                            return;
                        };
                        self.stats.tx += 1;
                        env.transmit(dst, 0, &self.buf[..n]);
                        return;
                    }
                }
                total = n + l;
            }
            self.stats.tx += 1;
            // CAST: entropy is a 16-bit path selector.
            env.transmit(dst, psn as u16, &self.buf[..total]);
        }
    }

    // ----------------------------------------------------------------
    // Initiator: ACK, NACK, responses.

    fn initiator_pdc(&self, src: &Addr, id: u16) -> Option<usize> {
        let i = usize::from(id);
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

    fn ack_psn(&mut self, pi: usize, psn: u32) -> bool {
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

    fn on_ack(
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
    }

    /// Handles an SES response arriving on PDC `pi`. Returns whether it
    /// was news.
    fn on_response(&mut self, pi: usize, r: &SesResp, payload: &[u8], env: &mut impl Env) -> bool {
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
        let Some(mi) = self.msgs.iter().position(|m| {
            m.state == MsgState::Active && !m.completed && m.pdc == pi16 && m.msg_id == msg_id
        }) else {
            return false;
        };
        let is_read = matches!(self.msgs[mi].post.op, Op::Read { .. });
        let mtu = self.cfg.mtu;
        match data {
            Some(off) if is_read && r.rc == rc::OK => {
                let seg = off / mtu;
                let m = self.msgs[mi];
                let (o, l) = segment(m.post.len, mtu, seg);
                if o != off || usize::try_from(l).ok() != Some(payload.len()) || seg >= m.nsegs {
                    return false;
                }
                // Find the request packet of that segment.
                let d = &mut self.pdcs[pi];
                let mut p = d.tx_base;
                let mut found = false;
                while psn_lt(p, d.next_psn) {
                    let s = d.slot(p);
                    let t = &mut d.tx[s];
                    if t.flags & D_USED != 0 && usize::from(t.msg) == mi && t.seg == seg {
                        if t.flags & D_GOT_RESP == 0 {
                            t.flags |= D_GOT_RESP;
                            found = true;
                        }
                        break;
                    }
                    p = p.wrapping_add(1);
                }
                if !found {
                    return false;
                }
                env.write_local(m.post.buf, u64::from(off), payload);
                let m = &mut self.msgs[mi];
                m.done_segs += 1;
                if m.done_segs >= m.nsegs {
                    m.resp = Some(rc::OK);
                }
                true
            }
            Some(_) => false,
            None => {
                if r.rc == rc::OK && is_read {
                    return false;
                }
                let m = &mut self.msgs[mi];
                if m.resp.is_some() {
                    return false;
                }
                m.resp = Some(r.rc);
                // Every packet of the message has its answer now.
                let d = &mut self.pdcs[pi];
                for t in d.tx.iter_mut() {
                    if t.flags & D_USED != 0 && usize::from(t.msg) == mi {
                        t.flags |= D_GOT_RESP;
                    }
                }
                true
            }
        }
    }

    /// Retires finished packets from the front of the window, completes
    /// messages and refills the window.
    fn slide(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        loop {
            let d = &mut self.pdcs[pi];
            if d.tx_base == d.next_psn {
                break;
            }
            let s = d.slot(d.tx_base);
            let t = d.tx[s];
            if !t.done() {
                break;
            }
            d.tx[s] = TxDesc::default();
            d.tx_base = d.tx_base.wrapping_add(1);
            if t.flags & D_CLOSE != 0 {
                self.stats.pdc_close += 1;
                self.pdcs[pi] = Pdc::EMPTY;
                return;
            }
            let mi = usize::from(t.msg);
            self.msgs[mi].refs -= 1;
        }
        // Complete messages with an answer.
        let pi16 = to_u16(pi);
        for mi in 0..M {
            let m = self.msgs[mi];
            if m.state != MsgState::Active || m.pdc != pi16 {
                continue;
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
        let d = &mut self.pdcs[pi];
        if d.tx_base == d.next_psn {
            d.rto_at = 0;
        } else {
            d.rto_at = now + d.rtt.rto;
        }
        self.pump(pi, now, env);
    }

    fn finish_msg(&mut self, mi: usize, status: Status, env: &mut impl Env) {
        let m = &mut self.msgs[mi];
        m.completed = true;
        let kind = match m.post.op {
            Op::Send { .. } => CompKind::Send,
            Op::Write { .. } => CompKind::Write,
            Op::Read { .. } => CompKind::Read,
        };
        env.complete(&Completion {
            user: m.post.user,
            kind,
            status,
            len: if status == Status::Ok { m.post.len } else { 0 },
            tag: 0,
            hdr_data: 0,
            ep: 0,
        });
    }

    fn release_msg(&mut self, mi: usize) {
        self.msgs[mi] = Msg::EMPTY;
    }

    /// Puts PDC `pi` in error: every message on it completes with
    /// [`Status::PdcError`] and the slot is freed.
    fn pdc_fail(&mut self, pi: usize, env: &mut impl Env) {
        self.stats.pdc_error += 1;
        let pi16 = to_u16(pi);
        for mi in 0..M {
            let m = self.msgs[mi];
            if m.state == MsgState::Active && m.pdc == pi16 {
                if !m.completed {
                    self.finish_msg(mi, Status::PdcError, env);
                }
                self.release_msg(mi);
            }
        }
        self.pdcs[pi] = Pdc::EMPTY;
    }

    fn on_nack(&mut self, now: u64, src: &Addr, n: &NackHdr, env: &mut impl Env) {
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
                    self.pdcs[pi] = Pdc::EMPTY;
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
    fn acked_below(&self, pi: usize, psn: u32) -> bool {
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

    fn on_ctrl(&mut self, now: u64, src: &Addr, c: &CtrlHdr, env: &mut impl Env) {
        match c.ctl {
            CtlType::Close => {
                let PdcDst::Dpdcid(id) = c.dst else {
                    self.stats.rx_drop += 1;
                    return;
                };
                let i = usize::from(id);
                let ok = self.pdcs.get(i).is_some_and(|d| {
                    d.state == PdcState::Open && d.peer == *src && d.peer_id == c.spdcid
                });
                if !ok {
                    self.send_nack(src, nack::INV_DPDCID, c.psn, id, c.spdcid, 0, env);
                    return;
                }
                let d = &mut self.pdcs[i];
                if c.psn != d.rx.cack.wrapping_add(1) {
                    // Earlier packets still missing: wait for them.
                    self.stats.rx_drop += 1;
                    return;
                }
                d.rx.mark(c.psn);
                self.send_ack(i, c.psn, Answer::None, env);
                self.release_target_pdc(i, env);
                self.stats.pdc_close += 1;
            }
            CtlType::CloseReq => {
                let Some(pi) = self.initiator_pdc(src, c.spdcid_as_dpdcid()) else {
                    return;
                };
                if self.pdcs[pi].state == PdcState::Established && self.pdcs[pi].idle() {
                    self.start_close(pi, now, env);
                }
            }
            CtlType::AckReq => {
                let PdcDst::Dpdcid(id) = c.dst else {
                    return;
                };
                let i = usize::from(id);
                if self
                    .pdcs
                    .get(i)
                    .is_some_and(|d| d.state == PdcState::Open && d.peer == *src)
                {
                    let last = self.pdcs[i].rx.cack;
                    self.send_ack(i, last, Answer::None, env);
                }
            }
            _ => self.stats.rx_drop += 1,
        }
    }

    fn release_target_pdc(&mut self, i: usize, env: &mut impl Env) {
        let i16 = to_u16(i);
        for m in 0..R {
            if self.inb[m].used && self.inb[m].pdc == i16 {
                let dest = self.inb[m].dest;
                self.inb[m] = InMsg::EMPTY;
                self.undo_dest(dest, env);
            }
        }
        self.pdcs[i] = Pdc::EMPTY;
    }

    fn start_close(&mut self, pi: usize, now: u64, env: &mut impl Env) {
        let d = &mut self.pdcs[pi];
        let psn = d.next_psn;
        d.next_psn = psn.wrapping_add(1);
        let s = d.slot(psn);
        d.tx[s] = TxDesc {
            msg: NONE,
            flags: D_USED | D_CLOSE,
            seg: 0,
        };
        d.state = PdcState::Closing;
        d.rto_at = now + d.rtt.rto;
        d.retries = 0;
        self.send_desc(pi, psn, false, env);
    }

    fn on_rudi_resp(
        &mut self,
        src: &Addr,
        pkt_id: u32,
        r: &SesResp,
        payload: &[u8],
        env: &mut impl Env,
    ) {
        let Some(mi) = self.msgs.iter().position(|m| {
            m.state == MsgState::Active
                && m.post.mode == Mode::Rudi
                && m.pkt_id == pkt_id
                && m.post.dst == *src
        }) else {
            self.stats.rx_drop += 1;
            return;
        };
        let m = self.msgs[mi];
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

    // ----------------------------------------------------------------
    // Time.

    /// Earliest time at which [`Engine::on_timer`] has work, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let mut t = u64::MAX;
        for d in &self.pdcs {
            match d.state {
                PdcState::Free => {}
                PdcState::SynSent | PdcState::Closing => {
                    if d.rto_at != 0 {
                        t = t.min(d.rto_at);
                    }
                }
                PdcState::Established => {
                    if d.rto_at != 0 {
                        t = t.min(d.rto_at);
                    }
                    if d.idle() {
                        t = t.min(d.last_active + self.cfg.idle_close);
                    }
                }
                PdcState::HalfOpen => t = t.min(d.last_active + self.cfg.half_open),
                PdcState::Open => {
                    if d.ack_at != 0 {
                        t = t.min(d.ack_at);
                    }
                    if !d.close_req_sent {
                        t = t.min(d.last_active + self.cfg.idle_close);
                    }
                    t = t.min(d.last_active + self.cfg.reap);
                }
            }
        }
        for m in &self.msgs {
            if m.state == MsgState::Active && m.post.mode == Mode::Rudi {
                t = t.min(m.deadline);
            }
        }
        (t != u64::MAX).then_some(t)
    }

    /// Runs every timer due at `now`.
    pub(crate) fn on_timer(&mut self, now: u64, env: &mut impl Env) {
        for pi in 0..P {
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
                        self.release_target_pdc(pi, env);
                    }
                }
                PdcState::Open => {
                    if d.ack_at != 0 && now >= d.ack_at {
                        self.send_ack(pi, d.last_psn, Answer::None, env);
                    }
                    if now >= d.last_active + self.cfg.reap {
                        self.stats.pdc_reaped += 1;
                        self.release_target_pdc(pi, env);
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
        for mi in 0..M {
            let m = self.msgs[mi];
            if m.state == MsgState::Active && m.post.mode == Mode::Rudi && now >= m.deadline {
                if m.retries >= self.cfg.max_retries {
                    self.finish_msg(mi, Status::PdcError, env);
                    self.release_msg(mi);
                    continue;
                }
                let shift = u32::from(m.retries.min(16));
                let m = &mut self.msgs[mi];
                m.retries += 1;
                m.deadline = now + (self.cfg.rto_init << shift).min(self.cfg.rto_max);
                self.stats.rto += 1;
                self.send_single(mi, true, env);
            }
        }
    }

    fn on_rto(&mut self, pi: usize, now: u64, env: &mut impl Env) {
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
                self.pdcs[pi] = Pdc::EMPTY;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdc_fits_budget() {
        // Documented figure: at most 512 bytes per PDC, packet buffers
        // excluded (packets are rebuilt from the message on retransmit).
        assert!(
            core::mem::size_of::<Pdc>() <= 512,
            "{}",
            core::mem::size_of::<Pdc>()
        );
    }
}
