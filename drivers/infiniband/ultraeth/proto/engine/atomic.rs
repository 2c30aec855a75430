// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Atomics: their requests (atomic and compare-and-swap extensions, the
//! operand in the payload), their processing at the target, exactly once,
//! and their results at the initiator.
//!
//! Exactly once: an atomic is a single-packet message on a PDC (RUD or
//! ROD; RUDI and UUD refuse it), so the PDC's receive window delivers its
//! PSN to SES once, and every later copy is a duplicate. The target keeps
//! the outcome in the PDC's guaranteed-delivery response ring (the
//! previous value of a fetching atomic, or the error code of any atomic)
//! until the initiator's clear PSN shows it got the response; a duplicate
//! of the request, which is all a lost response leads to, is answered from
//! the ring with the same outcome and never applied again. A full ring
//! refuses the request before it is applied (NACK `NO_GTD_DEL_AVAIL`: not
//! received, resent later). So the environment's
//! [`Env::rma_atomic`] runs once per atomic, whatever is lost, duplicated
//! or reordered. Reads, which are idempotent, are re-executed instead
//! (`request_on_pdc`).

use super::super::ses::{
    Addr,
    AtomicOp,
    Env,
    Op, //
};
use super::super::wire::pds::nack;
use super::super::wire::ses::{
    amo,
    op,
    rc,
    sflags,
    ReqBody,
    ReqExt,
    SesReq, //
};

use super::{
    Answer,
    Data,
    Engine,
    Slab, //
};

/// Size of every atomic's datum (the engine supports `u64` only).
const ATOMIC_LEN: u32 = 8;

/// Opcode, extension and inline payload (bytes, length) of an atomic
/// request: SUM (fetching or not) carries its operand as an 8-byte big
/// endian payload, CSWAP its compare and swap values in the 36-byte
/// extension (big endian, in the low half of each 128-bit field) and no
/// payload.
pub(super) fn atomic_request(
    aop: AtomicOp,
    operand: u64,
    compare: u64,
) -> (u8, ReqExt, ([u8; 8], usize)) {
    let sum = ReqExt::Atomic {
        code: amo::SUM,
        datatype: amo::UINT64,
        ctrl: 0,
    };
    match aop {
        AtomicOp::FetchAdd => (op::FETCH_ATOMIC, sum, (operand.to_be_bytes(), 8)),
        AtomicOp::Add => (op::ATOMIC, sum, (operand.to_be_bytes(), 8)),
        AtomicOp::CmpSwap => (
            op::FETCH_ATOMIC,
            ReqExt::Cas {
                code: amo::CSWAP,
                datatype: amo::UINT64,
                ctrl: 0,
                compare: wide(compare),
                swap: wide(operand),
            },
            ([0; 8], 0),
        ),
    }
}

/// `v` as a 128-bit big endian field.
fn wide(v: u64) -> [u8; 16] {
    let mut w = [0u8; 16];
    w[8..].copy_from_slice(&v.to_be_bytes());
    w
}

/// The low 64 bits of a 128-bit big endian field.
fn narrow(w: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[8..]);
    u64::from_be_bytes(b)
}

/// True when `op`'s answer must carry data (a READ's, a fetching
/// atomic's): a plain success response (or an implied one) does not
/// complete it.
pub(super) fn wants_data(op: &Op) -> bool {
    match op {
        Op::Read { .. } => true,
        Op::Atomic { op, .. } => op.fetches(),
        Op::Send { .. } | Op::Write { .. } => false,
    }
}

/// The operation, operand and compare value of atomic request `s` with
/// request length `total` and `payload`, or the return code refusing it.
fn decode(s: &SesReq, total: u32, payload: &[u8]) -> Result<(AtomicOp, u64, u64), u8> {
    let (aop, dt) = match (s.opcode, s.ext) {
        (
            op::FETCH_ATOMIC,
            ReqExt::Atomic {
                code: amo::SUM,
                datatype,
                ..
            },
        ) => (AtomicOp::FetchAdd, datatype),
        (
            op::ATOMIC,
            ReqExt::Atomic {
                code: amo::SUM,
                datatype,
                ..
            },
        ) => (AtomicOp::Add, datatype),
        (
            op::FETCH_ATOMIC,
            ReqExt::Cas {
                code: amo::CSWAP,
                datatype,
                ..
            },
        ) => (AtomicOp::CmpSwap, datatype),
        (op::ATOMIC | op::FETCH_ATOMIC, _) => return Err(rc::AMO_UNSUPPORTED_OP),
        // TSEND_ATOMIC, TSEND_FETCH_ATOMIC: not implemented.
        _ => return Err(rc::UNSUPPORTED_OP),
    };
    if dt != amo::UINT64 {
        return Err(rc::AMO_UNSUPPORTED_DT);
    }
    if total != ATOMIC_LEN {
        return Err(rc::AMO_UNSUPPORTED_SIZE);
    }
    match s.ext {
        ReqExt::Cas { compare, swap, .. } if payload.is_empty() => {
            Ok((aop, narrow(&swap), narrow(&compare)))
        }
        ReqExt::Cas { .. } => Err(rc::AMO_UNSUPPORTED_SIZE),
        _ => {
            let b = <[u8; 8]>::try_from(payload).map_err(|_| rc::AMO_UNSUPPORTED_SIZE)?;
            Ok((aop, u64::from_be_bytes(b), 0))
        }
    }
}

impl<S: Slab> Engine<S> {
    /// Target side of SES for a new atomic request (delivered once by the
    /// PDC: see the module doc). `Err` is a NACK code: the request was not
    /// taken, nor applied.
    pub(super) fn process_atomic(
        &mut self,
        pdc: Option<usize>,
        psn: u32,
        src: &Addr,
        s: &SesReq,
        data: Data<'_>,
        env: &mut impl Env,
    ) -> Result<Answer, u8> {
        let job = s.addr.job;
        let plain = |msg_id: u16, code: u8| Answer::Plain {
            msg_id,
            job,
            rc: code,
            len: 0,
        };
        // Atomics ride on PDCs (RUDI would apply one per copy), in standard
        // requests: their response names the message id.
        let (
            Some(pi),
            ReqBody::Std {
                msg_id,
                buffer_offset,
                key,
                request_length,
                ..
            },
        ) = (pdc, s.body)
        else {
            return Ok(plain(0, rc::UNSUPPORTED_OP));
        };
        if s.flags & sflags::IE != 0 {
            // Abandoned by its initiator (cancelled): never applied.
            return Ok(plain(msg_id, rc::INITIATOR_ERROR));
        }
        if s.flags & (sflags::SOM | sflags::EOM) != sflags::SOM | sflags::EOM {
            return Ok(plain(msg_id, rc::UNSUPPORTED_SIZE));
        }
        let payload: &[u8] = match data {
            Data::Slice(b) => b,
            Data::Held(o, n) => self.held_buf.get(o..o + n).unwrap_or(&[]),
        };
        let decoded = decode(s, request_length, payload);
        // The outcome is kept until the initiator has seen it: without
        // room, refuse the request before applying it.
        if !self.ring_free(pi, psn) {
            return Err(nack::NO_GTD_DEL_AVAIL);
        }
        let outcome = decoded.and_then(|(aop, operand, compare)| {
            let ep = env.resolve(src, &s.addr)?;
            if buffer_offset % u64::from(ATOMIC_LEN) != 0 {
                return Err(rc::AMO_UNALIGNED);
            }
            let old = env.rma_atomic(ep, key, buffer_offset, aop, operand, compare)?;
            Ok((aop, old))
        });
        self.stats.atomics += 1;
        match outcome {
            Ok((aop, old)) if aop.fetches() => {
                self.ring_push(pi, msg_id, psn, rc::OK, old);
                Ok(Answer::Atomic {
                    msg_id,
                    job,
                    value: old,
                })
            }
            // A non-fetching success needs no kept result: a duplicate of
            // a message that is neither kept nor arriving succeeded.
            Ok(_) => Ok(Answer::Plain {
                msg_id,
                job,
                rc: rc::OK,
                len: ATOMIC_LEN,
            }),
            Err(code) => {
                // An OK entry in the ring is a result: an environment
                // answering "error OK" gets a code that is one.
                let code = if code == rc::OK {
                    rc::UNDELIVERABLE
                } else {
                    code
                };
                self.ring_push(pi, msg_id, psn, code, 0);
                Ok(plain(msg_id, code))
            }
        }
    }
}
