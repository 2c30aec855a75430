// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! SES headers: standard (44 bytes), medium (32) and small (20) requests,
//! the rendezvous (24), atomic (4) and compare-and-swap (36) extensions,
//! and the response (12), response with data (20) and small response with
//! data (12).
//!
//! Checked field by field against Wireshark `epan/dissectors/packet-uet.c`
//! (`uet.ses.*` field masks), the UEC reference provider's
//! `uet_pkt_hdr.h` (ultraethernet/uet-ref-prov) and xdp2
//! `src/include/uet/ses.h`. Disagreements and what we chose:
//!
//! * xdp2 carries a message id in bytes 2-3 of the small and medium
//!   requests; Wireshark and the reference provider carry a 14-bit request
//!   length there, which is what we implement.
//! * Rendezvous extension, second 32-bit word: the reference provider packs
//!   the read RI generation (8 bits), PIDonFEP (12) and resource index (12)
//!   into it; Wireshark shows 2 reserved bits, a 14-bit PIDonFEP, 4 reserved
//!   bits and the resource index, with no generation. We follow the
//!   reference provider: it matches the common request header's
//!   {generation, PIDonFEP, RI} addressing that the read targets.
//! * Extensions follow from the opcode alone (both references): the atomic
//!   extension after every standard, medium or small request of ATOMIC,
//!   FETCH_ATOMIC, TSEND_ATOMIC and TSEND_FETCH_ATOMIC, the rendezvous
//!   extension after every standard request of RNDV_SEND and RNDV_TSEND,
//!   whether or not the packet starts the message. Wireshark's dissector
//!   leaves TSEND_ATOMIC out of its atomic list (an omission: it is an
//!   atomic opcode), and decodes no rendezvous extension after small or
//!   medium requests, as the spec's parsing guide has none there.
//! * Atomic extension size: 36 bytes (compare and swap values) for the six
//!   CSWAP opcodes only; MSWAP (0x13) uses the 4-byte atomic extension, as
//!   in Wireshark.
//! * Atomic operands (engine choice; the public references give the
//!   fields, not the byte order of a payload operand): the 8-byte operand
//!   of SUM travels as the request's payload and the fetched old value as
//!   the payload of a response with data, both big endian; the 128-bit
//!   compare and swap values of CSWAP are big endian with a 64-bit value in
//!   their low half (bytes 8-15), the request carrying no payload. Every
//!   atomic request names the datum's size (8) as its request length.
//! * Response with data: byte 4 is reserved (both references; the
//!   reference provider marks the RI generation valid only in the plain
//!   response), not an RI generation.
//! * The reference provider also lists SYNC_WRITE (0x10) and SYNC_ATOMIC
//!   (0x11) opcodes that UEC 1.0 does not define; they stay refused.

use zerocopy::byteorder::network_endian::{
    U16,
    U32,
    U64, //
};
use zerocopy::{
    FromBytes,
    IntoBytes, //
};

use super::{
    NextHeader,
    WireError, //
};

/// SES request opcodes (6 bits).
pub(crate) mod op {
    /// No operation.
    pub(crate) const NO_OP: u8 = 0x00;
    /// RMA write.
    pub(crate) const WRITE: u8 = 0x01;
    /// RMA read.
    pub(crate) const READ: u8 = 0x02;
    /// Non-fetching atomic.
    pub(crate) const ATOMIC: u8 = 0x03;
    /// Fetching atomic.
    pub(crate) const FETCH_ATOMIC: u8 = 0x04;
    /// Untagged send.
    pub(crate) const SEND: u8 = 0x05;
    /// Rendezvous send.
    pub(crate) const RNDV_SEND: u8 = 0x06;
    /// Datagram send.
    pub(crate) const DGRAM: u8 = 0x07;
    /// Deferrable send.
    pub(crate) const DEFER_SEND: u8 = 0x08;
    /// Tagged send.
    pub(crate) const TSEND: u8 = 0x09;
    /// Rendezvous tagged send.
    pub(crate) const RNDV_TSEND: u8 = 0x0a;
    /// Deferrable tagged send.
    pub(crate) const DEFER_TSEND: u8 = 0x0b;
    /// Deferrable ready-to-restart.
    pub(crate) const DEFER_RTR: u8 = 0x0c;
    /// Tagged send atomic.
    pub(crate) const TSEND_ATOMIC: u8 = 0x0d;
    /// Tagged send fetching atomic.
    pub(crate) const TSEND_FETCH_ATOMIC: u8 = 0x0e;
    /// Terminate message in error.
    pub(crate) const MSG_ERR: u8 = 0x0f;

    /// True for opcodes carrying an atomic extension.
    pub(crate) fn is_atomic(o: u8) -> bool {
        matches!(o, ATOMIC | FETCH_ATOMIC | TSEND_ATOMIC | TSEND_FETCH_ATOMIC)
    }

    /// True for opcodes carrying a rendezvous extension.
    pub(crate) fn is_rendezvous(o: u8) -> bool {
        matches!(o, RNDV_SEND | RNDV_TSEND)
    }

    /// True for tagged opcodes (match bits are a tag).
    pub(crate) fn is_tagged(o: u8) -> bool {
        matches!(
            o,
            TSEND | RNDV_TSEND | DEFER_TSEND | TSEND_ATOMIC | TSEND_FETCH_ATOMIC
        )
    }
}

/// SES response opcodes (6 bits).
pub(crate) mod rsp {
    /// Default response.
    pub(crate) const DEFAULT: u8 = 0x00;
    /// Response other than default.
    pub(crate) const RESPONSE: u8 = 0x01;
    /// Response carrying data.
    pub(crate) const WITH_DATA: u8 = 0x02;
    /// No semantic response available.
    pub(crate) const NONE: u8 = 0x03;
}

/// SES return codes (6 bits).
pub(crate) mod rc {
    /// Null code.
    pub(crate) const NULL: u8 = 0x00;
    /// Success.
    pub(crate) const OK: u8 = 0x01;
    /// Bad resource-index generation.
    pub(crate) const BAD_GENERATION: u8 = 0x02;
    /// Target resource disabled.
    pub(crate) const DISABLED: u8 = 0x03;
    /// No matching receive.
    pub(crate) const NO_MATCH: u8 = 0x05;
    /// Unsupported operation.
    pub(crate) const UNSUPPORTED_OP: u8 = 0x06;
    /// Message too big.
    pub(crate) const UNSUPPORTED_SIZE: u8 = 0x07;
    /// Atomic opcode not supported.
    pub(crate) const AMO_UNSUPPORTED_OP: u8 = 0x0f;
    /// Atomic datatype not supported.
    pub(crate) const AMO_UNSUPPORTED_DT: u8 = 0x10;
    /// Atomic operand size not supported.
    pub(crate) const AMO_UNSUPPORTED_SIZE: u8 = 0x11;
    /// Atomic target not aligned to its datatype.
    pub(crate) const AMO_UNALIGNED: u8 = 0x12;
    /// Permission violation.
    pub(crate) const PERM_VIOLATION: u8 = 0x17;
    /// Operation violation.
    pub(crate) const OP_VIOLATION: u8 = 0x18;
    /// Unconfigured resource index.
    pub(crate) const BAD_INDEX: u8 = 0x19;
    /// PIDonFEP not found.
    pub(crate) const BAD_PID: u8 = 0x1a;
    /// JobID not found at the target.
    pub(crate) const BAD_JOB_ID: u8 = 0x1b;
    /// Memory key does not map to a buffer.
    pub(crate) const BAD_MKEY: u8 = 0x1c;
    /// Invalid address (offset out of the buffer).
    pub(crate) const BAD_ADDR: u8 = 0x1d;
    /// Cancelled by the target.
    pub(crate) const CANCELLED: u8 = 0x1e;
    /// Undeliverable.
    pub(crate) const UNDELIVERABLE: u8 = 0x1f;
    /// Message too long for the receive buffer.
    pub(crate) const TOO_LONG: u8 = 0x22;
    /// Initiator error reflected.
    pub(crate) const INITIATOR_ERROR: u8 = 0x23;
    /// Dropped for another reason.
    pub(crate) const DROPPED: u8 = 0x24;

    /// True for codes the specification defines (incl. vendor ones).
    pub(crate) fn is_valid(c: u8) -> bool {
        matches!(c, 0x00..=0x24 | 0x30..=0x37 | 0x3e)
    }
}

/// Atomic opcodes of the atomic and compare-and-swap extensions (UEC
/// 1.0 numbering, as in the reference provider's `uet_pkt_hdr.h`).
pub(crate) mod amo {
    /// Sum (fetch-and-add, or add).
    pub(crate) const SUM: u8 = 0x02;
    /// Compare and swap if equal.
    pub(crate) const CSWAP: u8 = 0x0d;
    /// Datatype: unsigned 64-bit integer.
    pub(crate) const UINT64: u8 = 0x07;
}

/// SES request flag bits (second byte, below the 2-bit version).
pub(crate) mod sflags {
    /// Delivery complete.
    pub(crate) const DC: u8 = 0x20;
    /// Initiator error.
    pub(crate) const IE: u8 = 0x10;
    /// Relative addressing.
    pub(crate) const REL: u8 = 0x08;
    /// Header data present.
    pub(crate) const HD: u8 = 0x04;
    /// End of message.
    pub(crate) const EOM: u8 = 0x02;
    /// Start of message.
    pub(crate) const SOM: u8 = 0x01;
}

/// Addressing common to every request: `{JobID, PIDonFEP, resource index}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct SesAddr {
    /// Resource index generation.
    pub(crate) ri_gen: u8,
    /// JobID (24 bits).
    pub(crate) job: u32,
    /// PIDonFEP (12 bits).
    pub(crate) pid: u16,
    /// Resource index (12 bits).
    pub(crate) ri: u16,
}

/// What follows the common part of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReqBody {
    /// Standard request.
    Std {
        /// Message id.
        msg_id: u16,
        /// Target buffer offset of this packet's data.
        buffer_offset: u64,
        /// Initiator id.
        initiator: u32,
        /// Memory key (RMA) or match bits (tagged).
        key: u64,
        /// SOM: header data; otherwise (payload length, message offset).
        data: StdData,
        /// Whole message length.
        request_length: u32,
    },
    /// Medium request (single packet).
    Medium {
        /// Request length (14 bits).
        request_length: u16,
        /// Header data or buffer offset.
        buffer_offset: u64,
        /// Initiator id.
        initiator: u32,
        /// Memory key or match bits.
        key: u64,
    },
    /// Small request (single packet).
    Small {
        /// Request length (14 bits).
        request_length: u16,
        /// Buffer offset.
        buffer_offset: u64,
    },
}

/// Variable word of the standard request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StdData {
    /// Header data (SOM packets).
    HeaderData(u64),
    /// Non-SOM packets: payload length (14 bits) and message offset.
    Cont {
        /// Payload bytes in this packet.
        payload_length: u16,
        /// Offset of this packet's data in the message.
        message_offset: u32,
    },
}

/// Request extension headers (present on SOM packets of their opcodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReqExt {
    /// No extension.
    None,
    /// Rendezvous extension (24 bytes).
    Rendezvous {
        /// Eager bytes carried in this message.
        eager_length: u32,
        /// Resource index generation of the buffer to read from.
        read_ri_gen: u8,
        /// PIDonFEP to read the rest from.
        read_pid: u16,
        /// Resource index to read from.
        read_ri: u16,
        /// Offset to read from.
        read_offset: u64,
        /// Match bits / key for the read.
        read_match_bits: u64,
    },
    /// Atomic extension (4 bytes).
    Atomic {
        /// Atomic opcode.
        code: u8,
        /// Atomic datatype.
        datatype: u8,
        /// Semantic control.
        ctrl: u8,
    },
    /// Compare-and-swap extension (36 bytes).
    Cas {
        /// Atomic opcode (a CSWAP variant or MSWAP).
        code: u8,
        /// Atomic datatype.
        datatype: u8,
        /// Semantic control.
        ctrl: u8,
        /// Compare value.
        compare: [u8; 16],
        /// Swap value.
        swap: [u8; 16],
    },
}

/// A parsed SES request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SesReq {
    /// Opcode.
    pub(crate) opcode: u8,
    /// Flags (DC, IE, REL, HD, EOM, SOM).
    pub(crate) flags: u8,
    /// Target addressing.
    pub(crate) addr: SesAddr,
    /// Format-specific body.
    pub(crate) body: ReqBody,
    /// Extension header.
    pub(crate) ext: ReqExt,
}

/// Body of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RespBody {
    /// Response without data (12 bytes).
    Plain {
        /// Message id of the request.
        msg_id: u16,
        /// Resource index generation.
        ri_gen: u8,
        /// JobID.
        job: u32,
        /// Bytes actually written/received.
        modified_length: u32,
    },
    /// Response with data (20 bytes). Byte 4 is reserved.
    Data {
        /// Message id of this response message.
        msg_id: u16,
        /// JobID.
        job: u32,
        /// Message id of the read request.
        read_req_msg_id: u16,
        /// Payload bytes in this packet (14 bits).
        payload_length: u16,
        /// Bytes the target read.
        modified_length: u32,
        /// Offset of this packet's data.
        message_offset: u32,
    },
    /// Small response with data (12 bytes).
    SmallData {
        /// Payload bytes (14 bits).
        payload_length: u16,
        /// JobID.
        job: u32,
        /// PSN of the request answered.
        original_request_psn: u32,
    },
}

/// A parsed SES response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SesResp {
    /// List (2 bits): where the message was delivered.
    pub(crate) list: u8,
    /// Response opcode.
    pub(crate) opcode: u8,
    /// Return code.
    pub(crate) rc: u8,
    /// Format-specific body.
    pub(crate) body: RespBody,
}

/// Any SES header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SesHeader {
    /// A request.
    Req(SesReq),
    /// A response.
    Resp(SesResp),
}

impl SesHeader {
    /// Next-header code naming this header.
    pub(crate) fn next_header(&self) -> NextHeader {
        match self {
            Self::Req(r) => match r.body {
                ReqBody::Std { .. } => NextHeader::ReqStd,
                ReqBody::Medium { .. } => NextHeader::ReqMedium,
                ReqBody::Small { .. } => NextHeader::ReqSmall,
            },
            Self::Resp(r) => match r.body {
                RespBody::Plain { .. } => NextHeader::Resp,
                RespBody::Data { .. } => NextHeader::RespData,
                RespBody::SmallData { .. } => NextHeader::RespDataSmall,
            },
        }
    }

    /// Payload length this header claims for its packet, if it names one.
    pub(crate) fn payload_len(&self) -> Option<usize> {
        match self {
            Self::Req(r) => match r.body {
                ReqBody::Std {
                    data: StdData::Cont { payload_length, .. },
                    ..
                } => Some(usize::from(payload_length)),
                ReqBody::Medium { request_length, .. } | ReqBody::Small { request_length, .. } => {
                    if r.opcode == op::READ {
                        Some(0)
                    } else {
                        Some(usize::from(request_length))
                    }
                }
                ReqBody::Std { .. } => None,
            },
            Self::Resp(r) => match r.body {
                RespBody::Plain { .. } => Some(0),
                RespBody::Data { payload_length, .. }
                | RespBody::SmallData { payload_length, .. } => Some(usize::from(payload_length)),
            },
        }
    }

    /// Encoded length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Req(r) => {
                let base = match r.body {
                    ReqBody::Std { .. } => 44,
                    ReqBody::Medium { .. } => 32,
                    ReqBody::Small { .. } => 20,
                };
                base + match r.ext {
                    ReqExt::None => 0,
                    ReqExt::Rendezvous { .. } => 24,
                    ReqExt::Atomic { .. } => 4,
                    ReqExt::Cas { .. } => 36,
                }
            }
            Self::Resp(r) => match r.body {
                RespBody::Plain { .. } | RespBody::SmallData { .. } => 12,
                RespBody::Data { .. } => 20,
            },
        }
    }
}

/// Common 12 bytes of the standard request.
#[derive(
    zerocopy_derive::FromBytes,
    zerocopy_derive::IntoBytes,
    zerocopy_derive::KnownLayout,
    zerocopy_derive::Immutable,
    zerocopy_derive::Unaligned,
)]
#[repr(C)]
struct RawCommon {
    opcode: u8,
    ver_flags: u8,
    msg_id_or_len: U16,
    gen_job: U32,
    pid: U16,
    ri: U16,
}

/// Standard request after the common part (32 bytes).
#[derive(
    zerocopy_derive::FromBytes,
    zerocopy_derive::IntoBytes,
    zerocopy_derive::KnownLayout,
    zerocopy_derive::Immutable,
    zerocopy_derive::Unaligned,
)]
#[repr(C)]
struct RawStd {
    buffer_offset: U64,
    initiator: U32,
    key: U64,
    header_data: U64,
    request_length: U32,
}

/// Medium request after the common part (20 bytes).
#[derive(
    zerocopy_derive::FromBytes,
    zerocopy_derive::IntoBytes,
    zerocopy_derive::KnownLayout,
    zerocopy_derive::Immutable,
    zerocopy_derive::Unaligned,
)]
#[repr(C)]
struct RawMedium {
    buffer_offset: U64,
    initiator: U32,
    key: U64,
}

/// Rendezvous extension (24 bytes).
#[derive(
    zerocopy_derive::FromBytes,
    zerocopy_derive::IntoBytes,
    zerocopy_derive::KnownLayout,
    zerocopy_derive::Immutable,
    zerocopy_derive::Unaligned,
)]
#[repr(C)]
struct RawRndv {
    eager_length: U32,
    /// RI generation (8) | PIDonFEP (12) | resource index (12).
    gen_pid_ri: U32,
    offset: U64,
    match_bits: U64,
}

/// Response, response with data and small response (first 12 bytes).
#[derive(
    zerocopy_derive::FromBytes,
    zerocopy_derive::IntoBytes,
    zerocopy_derive::KnownLayout,
    zerocopy_derive::Immutable,
    zerocopy_derive::Unaligned,
)]
#[repr(C)]
struct RawResp {
    list_opcode: u8,
    ver_rc: u8,
    w1: U16,
    w2: U32,
    w3: U32,
}

/// Response with data, last 8 bytes.
#[derive(
    zerocopy_derive::FromBytes,
    zerocopy_derive::IntoBytes,
    zerocopy_derive::KnownLayout,
    zerocopy_derive::Immutable,
    zerocopy_derive::Unaligned,
)]
#[repr(C)]
struct RawRespData {
    modified_length: U32,
    message_offset: U32,
}

const MASK12: u16 = 0x0fff;
const MASK14: u16 = 0x3fff;
const MASK24: u32 = 0x00ff_ffff;

fn take<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    buf: &[u8],
) -> Result<(&T, &[u8]), WireError> {
    T::ref_from_prefix(buf).map_err(|_| WireError::Truncated)
}

fn put<T: IntoBytes + zerocopy::Immutable>(v: &T, out: &mut [u8]) -> Result<usize, WireError> {
    let b = v.as_bytes();
    out.get_mut(..b.len())
        .ok_or(WireError::NoRoom)?
        .copy_from_slice(b);
    Ok(b.len())
}

fn field12(v: u16) -> Result<u16, WireError> {
    if v & !MASK12 != 0 {
        return Err(WireError::Reserved);
    }
    Ok(v)
}

fn is_cas(code: u8) -> bool {
    // CSWAP, CSWAP_NE, CSWAP_LE, CSWAP_LT, CSWAP_GE, CSWAP_GT. MSWAP
    // (0x13) carries the 4-byte atomic extension.
    matches!(code, 0x0d..=0x12)
}

/// Extension a request of `opcode` in header format `next` carries.
fn ext_kind(opcode: u8, next: NextHeader) -> (bool, bool) {
    let rndv = next == NextHeader::ReqStd && op::is_rendezvous(opcode);
    (rndv, op::is_atomic(opcode))
}

/// Parses the SES header named by `next`; returns it and the payload.
pub(crate) fn parse(next: NextHeader, buf: &[u8]) -> Result<(SesHeader, &[u8]), WireError> {
    if next.is_response() {
        return parse_resp(next, buf);
    }
    let (c, rest) = take::<RawCommon>(buf)?;
    if c.opcode & 0xc0 != 0 {
        return Err(WireError::Reserved);
    }
    let opcode = c.opcode;
    if opcode > op::MSG_ERR {
        return Err(WireError::BadOpcode(opcode));
    }
    let ver = c.ver_flags >> 6;
    if ver != 0 {
        return Err(WireError::BadVersion(ver));
    }
    let flags = c.ver_flags & 0x3f;
    let gj = c.gen_job.get();
    let addr = SesAddr {
        // CAST: the top byte of a u32 fits in u8.
        ri_gen: (gj >> 24) as u8,
        job: gj & MASK24,
        pid: field12(c.pid.get())?,
        ri: field12(c.ri.get())?,
    };
    let (body, mut rest) = match next {
        NextHeader::ReqStd => {
            let (s, rest) = take::<RawStd>(rest)?;
            let data = if flags & sflags::SOM != 0 {
                StdData::HeaderData(s.header_data.get())
            } else {
                let hd = s.header_data.get();
                let hi = hd >> 32;
                if hi & !u64::from(MASK14) != 0 {
                    return Err(WireError::Reserved);
                }
                if flags & sflags::HD != 0 {
                    // Header data is only carried on SOM packets.
                    return Err(WireError::Reserved);
                }
                StdData::Cont {
                    // CAST: masked to 14 bits above.
                    payload_length: hi as u16,
                    // CAST: low 32 bits.
                    message_offset: hd as u32,
                }
            };
            (
                ReqBody::Std {
                    msg_id: c.msg_id_or_len.get(),
                    buffer_offset: s.buffer_offset.get(),
                    initiator: s.initiator.get(),
                    key: s.key.get(),
                    data,
                    request_length: s.request_length.get(),
                },
                rest,
            )
        }
        NextHeader::ReqMedium => {
            let l = c.msg_id_or_len.get();
            if l & !MASK14 != 0 {
                return Err(WireError::Reserved);
            }
            let (m, rest) = take::<RawMedium>(rest)?;
            (
                ReqBody::Medium {
                    request_length: l,
                    buffer_offset: m.buffer_offset.get(),
                    initiator: m.initiator.get(),
                    key: m.key.get(),
                },
                rest,
            )
        }
        NextHeader::ReqSmall => {
            let l = c.msg_id_or_len.get();
            if l & !MASK14 != 0 {
                return Err(WireError::Reserved);
            }
            if flags & sflags::HD != 0 {
                return Err(WireError::Reserved);
            }
            let (b, rest) = take::<U64>(rest)?;
            (
                ReqBody::Small {
                    request_length: l,
                    buffer_offset: b.get(),
                },
                rest,
            )
        }
        _ => return Err(WireError::BadNextHeader(next as u8)),
    };
    if !matches!(body, ReqBody::Std { .. })
        && flags & (sflags::SOM | sflags::EOM) != (sflags::SOM | sflags::EOM)
    {
        // Small and medium requests are single-packet messages.
        return Err(WireError::BadLength);
    }
    let (rndv, atomic) = ext_kind(opcode, next);
    let ext = if rndv {
        let (r, r2) = take::<RawRndv>(rest)?;
        rest = r2;
        let w = r.gen_pid_ri.get();
        ReqExt::Rendezvous {
            eager_length: r.eager_length.get(),
            // CAST: each value is masked to its field width first.
            read_ri_gen: (w >> 24) as u8,
            // CAST: 12 bits.
            read_pid: ((w >> 12) & 0xfff) as u16,
            // CAST: 12 bits.
            read_ri: (w & 0xfff) as u16,
            read_offset: r.offset.get(),
            read_match_bits: r.match_bits.get(),
        }
    } else if atomic {
        let (a, r2) = take::<[u8; 4]>(rest)?;
        rest = r2;
        if a[3] != 0 {
            return Err(WireError::Reserved);
        }
        if is_cas(a[0]) {
            let (v, r3) = take::<[u8; 32]>(rest)?;
            rest = r3;
            let mut compare = [0u8; 16];
            let mut swap = [0u8; 16];
            compare.copy_from_slice(&v[..16]);
            swap.copy_from_slice(&v[16..]);
            ReqExt::Cas {
                code: a[0],
                datatype: a[1],
                ctrl: a[2],
                compare,
                swap,
            }
        } else {
            ReqExt::Atomic {
                code: a[0],
                datatype: a[1],
                ctrl: a[2],
            }
        }
    } else {
        ReqExt::None
    };
    Ok((
        SesHeader::Req(SesReq {
            opcode,
            flags,
            addr,
            body,
            ext,
        }),
        rest,
    ))
}

/// UET_RESPONSE_W_DATA goes with the two formats that carry data, and only
/// with them (the other response opcodes use the plain response).
fn resp_opcode_fits(opcode: u8, next: NextHeader) -> bool {
    (opcode == rsp::WITH_DATA) == (next != NextHeader::Resp)
}

fn parse_resp(next: NextHeader, buf: &[u8]) -> Result<(SesHeader, &[u8]), WireError> {
    let (r, mut rest) = take::<RawResp>(buf)?;
    let list = r.list_opcode >> 6;
    let opcode = r.list_opcode & 0x3f;
    if opcode > rsp::NONE || !resp_opcode_fits(opcode, next) {
        return Err(WireError::BadOpcode(opcode));
    }
    let ver = r.ver_rc >> 6;
    if ver != 0 {
        return Err(WireError::BadVersion(ver));
    }
    let rc = r.ver_rc & 0x3f;
    if !rc::is_valid(rc) {
        return Err(WireError::BadReturnCode(rc));
    }
    let w2 = r.w2.get();
    let body = match next {
        NextHeader::Resp => RespBody::Plain {
            msg_id: r.w1.get(),
            // CAST: top byte.
            ri_gen: (w2 >> 24) as u8,
            job: w2 & MASK24,
            modified_length: r.w3.get(),
        },
        NextHeader::RespData => {
            let (d, r2) = take::<RawRespData>(rest)?;
            rest = r2;
            let w3 = r.w3.get();
            // CAST: halves of a u32.
            let (read_id, pl) = ((w3 >> 16) as u16, w3 as u16);
            if pl & !MASK14 != 0 {
                return Err(WireError::Reserved);
            }
            if w2 >> 24 != 0 {
                // Byte 4 is reserved in the response with data.
                return Err(WireError::Reserved);
            }
            RespBody::Data {
                msg_id: r.w1.get(),
                job: w2,
                read_req_msg_id: read_id,
                payload_length: pl,
                modified_length: d.modified_length.get(),
                message_offset: d.message_offset.get(),
            }
        }
        NextHeader::RespDataSmall => {
            let pl = r.w1.get();
            if pl & !MASK14 != 0 || w2 >> 24 != 0 {
                return Err(WireError::Reserved);
            }
            RespBody::SmallData {
                payload_length: pl,
                job: w2,
                original_request_psn: r.w3.get(),
            }
        }
        _ => return Err(WireError::BadNextHeader(next as u8)),
    };
    Ok((
        SesHeader::Resp(SesResp {
            list,
            opcode,
            rc,
            body,
        }),
        rest,
    ))
}

fn check12(v: u16) -> Result<u16, WireError> {
    if v & !MASK12 != 0 {
        return Err(WireError::Range);
    }
    Ok(v)
}

fn check14(v: u16) -> Result<u16, WireError> {
    if v & !MASK14 != 0 {
        return Err(WireError::Range);
    }
    Ok(v)
}

fn check24(v: u32) -> Result<u32, WireError> {
    if v & !MASK24 != 0 {
        return Err(WireError::Range);
    }
    Ok(v)
}

/// Emits an SES header into `out`; returns its length.
pub(crate) fn emit(h: &SesHeader, out: &mut [u8]) -> Result<usize, WireError> {
    if out.len() < h.len() {
        return Err(WireError::NoRoom);
    }
    match h {
        SesHeader::Req(r) => emit_req(r, out),
        SesHeader::Resp(r) => {
            if r.list > 3
                || r.opcode > rsp::NONE
                || !rc::is_valid(r.rc)
                || !resp_opcode_fits(r.opcode, h.next_header())
            {
                return Err(WireError::Range);
            }
            let (w1, w2, w3) = match r.body {
                RespBody::Plain {
                    msg_id,
                    ri_gen,
                    job,
                    modified_length,
                } => (
                    msg_id,
                    (u32::from(ri_gen) << 24) | check24(job)?,
                    modified_length,
                ),
                RespBody::Data {
                    msg_id,
                    job,
                    read_req_msg_id,
                    payload_length,
                    ..
                } => (
                    msg_id,
                    check24(job)?,
                    (u32::from(read_req_msg_id) << 16) | u32::from(check14(payload_length)?),
                ),
                RespBody::SmallData {
                    payload_length,
                    job,
                    original_request_psn,
                } => (
                    check14(payload_length)?,
                    check24(job)?,
                    original_request_psn,
                ),
            };
            let raw = RawResp {
                list_opcode: (r.list << 6) | r.opcode,
                ver_rc: r.rc,
                w1: U16::new(w1),
                w2: U32::new(w2),
                w3: U32::new(w3),
            };
            let mut n = put(&raw, out)?;
            if let RespBody::Data {
                modified_length,
                message_offset,
                ..
            } = r.body
            {
                n += put(
                    &RawRespData {
                        modified_length: U32::new(modified_length),
                        message_offset: U32::new(message_offset),
                    },
                    &mut out[n..],
                )?;
            }
            Ok(n)
        }
    }
}

fn emit_req(r: &SesReq, out: &mut [u8]) -> Result<usize, WireError> {
    if r.opcode > op::MSG_ERR || r.flags & 0xc0 != 0 {
        return Err(WireError::Range);
    }
    let som = r.flags & sflags::SOM != 0;
    let single = r.flags & (sflags::SOM | sflags::EOM) == (sflags::SOM | sflags::EOM);
    let (rndv, atomic) = ext_kind(r.opcode, SesHeader::Req(*r).next_header());
    let ok = match r.ext {
        ReqExt::None => !rndv && !atomic,
        ReqExt::Rendezvous { .. } => rndv,
        ReqExt::Atomic { .. } | ReqExt::Cas { .. } => atomic,
    };
    if !ok {
        return Err(WireError::Range);
    }
    let w1 = match r.body {
        ReqBody::Std { msg_id, .. } => msg_id,
        ReqBody::Medium { request_length, .. } | ReqBody::Small { request_length, .. } => {
            if !single {
                return Err(WireError::Range);
            }
            check14(request_length)?
        }
    };
    let c = RawCommon {
        opcode: r.opcode,
        ver_flags: r.flags,
        msg_id_or_len: U16::new(w1),
        gen_job: U32::new((u32::from(r.addr.ri_gen) << 24) | check24(r.addr.job)?),
        pid: U16::new(check12(r.addr.pid)?),
        ri: U16::new(check12(r.addr.ri)?),
    };
    let mut n = put(&c, out)?;
    match r.body {
        ReqBody::Std {
            buffer_offset,
            initiator,
            key,
            data,
            request_length,
            ..
        } => {
            let hd = match data {
                StdData::HeaderData(v) => {
                    if !som {
                        return Err(WireError::Range);
                    }
                    v
                }
                StdData::Cont {
                    payload_length,
                    message_offset,
                } => {
                    if som || r.flags & sflags::HD != 0 {
                        return Err(WireError::Range);
                    }
                    (u64::from(check14(payload_length)?) << 32) | u64::from(message_offset)
                }
            };
            n += put(
                &RawStd {
                    buffer_offset: U64::new(buffer_offset),
                    initiator: U32::new(initiator),
                    key: U64::new(key),
                    header_data: U64::new(hd),
                    request_length: U32::new(request_length),
                },
                &mut out[n..],
            )?;
        }
        ReqBody::Medium {
            buffer_offset,
            initiator,
            key,
            ..
        } => {
            n += put(
                &RawMedium {
                    buffer_offset: U64::new(buffer_offset),
                    initiator: U32::new(initiator),
                    key: U64::new(key),
                },
                &mut out[n..],
            )?;
        }
        ReqBody::Small { buffer_offset, .. } => {
            if r.flags & sflags::HD != 0 {
                return Err(WireError::Range);
            }
            n += put(&U64::new(buffer_offset), &mut out[n..])?;
        }
    }
    match r.ext {
        ReqExt::None => {}
        ReqExt::Rendezvous {
            eager_length,
            read_ri_gen,
            read_pid,
            read_ri,
            read_offset,
            read_match_bits,
        } => {
            let w = (u32::from(read_ri_gen) << 24)
                | (u32::from(check12(read_pid)?) << 12)
                | u32::from(check12(read_ri)?);
            n += put(
                &RawRndv {
                    eager_length: U32::new(eager_length),
                    gen_pid_ri: U32::new(w),
                    offset: U64::new(read_offset),
                    match_bits: U64::new(read_match_bits),
                },
                &mut out[n..],
            )?;
        }
        ReqExt::Atomic {
            code,
            datatype,
            ctrl,
        } => {
            if is_cas(code) {
                return Err(WireError::Range);
            }
            n += put(&[code, datatype, ctrl, 0], &mut out[n..])?;
        }
        ReqExt::Cas {
            code,
            datatype,
            ctrl,
            compare,
            swap,
        } => {
            if !is_cas(code) {
                return Err(WireError::Range);
            }
            n += put(&[code, datatype, ctrl, 0], &mut out[n..])?;
            n += put(&compare, &mut out[n..])?;
            n += put(&swap, &mut out[n..])?;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(h: SesHeader) -> [u8; 96] {
        let mut buf = [0u8; 96];
        let n = emit(&h, &mut buf).unwrap();
        assert_eq!(n, h.len());
        let (back, rest) = parse(h.next_header(), &buf[..n]).unwrap();
        assert_eq!(back, h);
        assert!(rest.is_empty());
        for k in 0..n {
            assert_eq!(
                parse(h.next_header(), &buf[..k]).unwrap_err(),
                WireError::Truncated
            );
        }
        buf
    }

    const ADDR: SesAddr = SesAddr {
        ri_gen: 0x5a,
        job: 0x0a_0b0c,
        pid: 0x123,
        ri: 0x456,
    };

    #[test]
    fn standard_request_vector() {
        let h = SesHeader::Req(SesReq {
            opcode: op::TSEND,
            flags: sflags::SOM | sflags::HD | sflags::REL,
            addr: ADDR,
            body: ReqBody::Std {
                msg_id: 0x0102,
                buffer_offset: 0x1000,
                initiator: 7,
                key: 0xfeed,
                data: StdData::HeaderData(0x99),
                request_length: 8192,
            },
            ext: ReqExt::None,
        });
        let b = roundtrip(h);
        assert_eq!(
            &b[..12],
            &[0x09, 0x0d, 0x01, 0x02, 0x5a, 0x0a, 0x0b, 0x0c, 0x01, 0x23, 0x04, 0x56]
        );
        assert_eq!(&b[12..20], &[0, 0, 0, 0, 0, 0, 0x10, 0]);
        assert_eq!(&b[40..44], &[0, 0, 0x20, 0]);
    }

    #[test]
    fn continuation_and_extensions() {
        let cont = SesHeader::Req(SesReq {
            opcode: op::SEND,
            flags: sflags::EOM,
            addr: ADDR,
            body: ReqBody::Std {
                msg_id: 1,
                buffer_offset: 4096,
                initiator: 0,
                key: 0,
                data: StdData::Cont {
                    payload_length: 0x3fff,
                    message_offset: 4096,
                },
                request_length: 4096 + 0x3fff,
            },
            ext: ReqExt::None,
        });
        let b = roundtrip(cont);
        assert_eq!(&b[32..40], &[0, 0, 0x3f, 0xff, 0, 0, 0x10, 0]);
        assert_eq!(cont.payload_len(), Some(0x3fff));
        let rndv = SesHeader::Req(SesReq {
            opcode: op::RNDV_TSEND,
            flags: sflags::SOM,
            addr: ADDR,
            body: ReqBody::Std {
                msg_id: 2,
                buffer_offset: 0,
                initiator: 0,
                key: 1,
                data: StdData::HeaderData(0),
                request_length: 1 << 20,
            },
            ext: ReqExt::Rendezvous {
                eager_length: 4096,
                read_ri_gen: 9,
                read_pid: 3,
                read_ri: 4,
                read_offset: 5,
                read_match_bits: 6,
            },
        });
        roundtrip(rndv);
        let atomic = SesHeader::Req(SesReq {
            opcode: op::FETCH_ATOMIC,
            flags: sflags::SOM | sflags::EOM,
            addr: ADDR,
            body: ReqBody::Medium {
                request_length: 8,
                buffer_offset: 0,
                initiator: 1,
                key: 2,
            },
            ext: ReqExt::Atomic {
                code: 2,
                datatype: 7,
                ctrl: 0,
            },
        });
        roundtrip(atomic);
        let cas = SesHeader::Req(SesReq {
            ext: ReqExt::Cas {
                code: 0x0d,
                datatype: 7,
                ctrl: 0x80,
                compare: [1; 16],
                swap: [2; 16],
            },
            ..match atomic {
                SesHeader::Req(r) => r,
                SesHeader::Resp(_) => unreachable!(),
            }
        });
        let b = roundtrip(cas);
        assert_eq!(&b[32..36], &[0x0d, 7, 0x80, 0]);
    }

    #[test]
    fn small_medium() {
        let small = SesHeader::Req(SesReq {
            opcode: op::WRITE,
            flags: sflags::SOM | sflags::EOM | sflags::DC,
            addr: ADDR,
            body: ReqBody::Small {
                request_length: 64,
                buffer_offset: 0x10,
            },
            ext: ReqExt::None,
        });
        let b = roundtrip(small);
        assert_eq!(&b[..4], &[0x01, 0x23, 0x00, 0x40]);
        // Small requests must be single-packet.
        let mut bad = b;
        bad[1] = sflags::SOM;
        assert_eq!(
            parse(NextHeader::ReqSmall, &bad[..20]).unwrap_err(),
            WireError::BadLength
        );
    }

    #[test]
    fn responses() {
        let p = SesHeader::Resp(SesResp {
            list: 1,
            opcode: rsp::RESPONSE,
            rc: rc::BAD_JOB_ID,
            body: RespBody::Plain {
                msg_id: 9,
                ri_gen: 0,
                job: 42,
                modified_length: 0,
            },
        });
        let b = roundtrip(p);
        assert_eq!(&b[..4], &[0x41, 0x1b, 0, 9]);
        roundtrip(SesHeader::Resp(SesResp {
            list: 0,
            opcode: rsp::WITH_DATA,
            rc: rc::OK,
            body: RespBody::Data {
                msg_id: 1,
                job: 3,
                read_req_msg_id: 4,
                payload_length: 4096,
                modified_length: 8192,
                message_offset: 4096,
            },
        }));
        roundtrip(SesHeader::Resp(SesResp {
            list: 0,
            opcode: rsp::WITH_DATA,
            rc: rc::OK,
            body: RespBody::SmallData {
                payload_length: 8,
                job: 3,
                original_request_psn: 77,
            },
        }));
    }

    #[test]
    fn strictness() {
        let mut b = [0u8; 44];
        b[0] = 0x10; // reserved opcode
        b[1] = sflags::SOM;
        assert_eq!(
            parse(NextHeader::ReqStd, &b).unwrap_err(),
            WireError::BadOpcode(0x10)
        );
        b[0] = 0x45; // reserved top bits
        assert_eq!(
            parse(NextHeader::ReqStd, &b).unwrap_err(),
            WireError::Reserved
        );
        b[0] = op::SEND;
        b[1] = 0x40 | sflags::SOM; // version 1
        assert_eq!(
            parse(NextHeader::ReqStd, &b).unwrap_err(),
            WireError::BadVersion(1)
        );
        b[1] = sflags::SOM;
        b[8] = 0x10; // PIDonFEP above 12 bits
        assert_eq!(
            parse(NextHeader::ReqStd, &b).unwrap_err(),
            WireError::Reserved
        );
        let mut r = [0u8; 12];
        r[1] = 0x25; // reserved return code
        assert_eq!(
            parse(NextHeader::Resp, &r).unwrap_err(),
            WireError::BadReturnCode(0x25)
        );
    }

    /// Parses `bytes` (written by hand from the UEC 1.0 field layout, not
    /// produced by `emit`) as `next`, checks that the whole header was
    /// consumed and that emitting the result gives the same bytes back.
    fn vector(next: NextHeader, bytes: &[u8]) -> SesHeader {
        let (h, rest) = parse(next, bytes).unwrap();
        assert!(rest.is_empty(), "{h:?} left {} bytes", rest.len());
        assert_eq!(h.len(), bytes.len());
        let mut out = [0u8; 96];
        let n = emit(&h, &mut out).unwrap();
        assert_eq!(&out[..n], bytes, "{h:?}");
        h
    }

    #[test]
    fn spec_vector_standard_request_with_rendezvous() {
        // RNDV_SEND (6), a middle packet (EOM only, no SOM): the rendezvous
        // extension follows from the opcode on every packet.
        let b = [
            0x06, 0x02, 0x00, 0x11, // opcode, ver/flags, message id
            0x01, 0x00, 0x02, 0x03, // RI generation 1, JobID 0x000203
            0x00, 0x04, 0x00, 0x05, // PIDonFEP 4, resource index 5
            0, 0, 0, 0, 0, 0, 0x20, 0x00, // buffer offset
            0x00, 0x00, 0x00, 0x09, // initiator
            0, 0, 0, 0, 0, 0, 0xab, 0xcd, // memory key / match bits
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x10, 0x00, // payload 16 @ 4096
            0x00, 0x00, 0x10, 0x10, // request length
            0x00, 0x00, 0x01, 0x00, // eager length
            0x02, 0x12, 0x34, 0x56, // read RI gen 2, PIDonFEP 0x123, RI 0x456
            0, 0, 0, 0, 0, 0, 0, 0x40, // read offset
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // read match bits
        ];
        let h = vector(NextHeader::ReqStd, &b);
        assert_eq!(h.payload_len(), Some(16));
        let SesHeader::Req(r) = h else { panic!() };
        assert_eq!(
            r.addr,
            SesAddr {
                ri_gen: 1,
                job: 0x203,
                pid: 4,
                ri: 5
            }
        );
        assert_eq!(
            r.ext,
            ReqExt::Rendezvous {
                eager_length: 0x100,
                read_ri_gen: 2,
                read_pid: 0x123,
                read_ri: 0x456,
                read_offset: 0x40,
                read_match_bits: 0x1122_3344_5566_7788
            }
        );
        // Without its extension the packet is truncated.
        assert_eq!(
            parse(NextHeader::ReqStd, &b[..44]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn spec_vector_medium_mswap_and_small_cswap() {
        // Medium request, FETCH_ATOMIC (4), SOM|EOM|HD; MSWAP (0x13) uses
        // the 4-byte atomic extension.
        let b = [
            0x04, 0x07, 0x00, 0x08, // opcode, flags, request length 8
            0x00, 0x00, 0x00, 0x2a, // JobID 42
            0x00, 0x01, 0x00, 0x02, // PIDonFEP 1, RI 2
            0, 0, 0, 0, 0, 0, 0, 0x99, // header data (HD set)
            0x00, 0x00, 0x00, 0x03, // initiator
            0, 0, 0, 0, 0, 0, 0, 0x04, // memory key
            0x13, 0x07, 0x01, 0x00, // MSWAP, uint64, cacheable, reserved
        ];
        let SesHeader::Req(r) = vector(NextHeader::ReqMedium, &b) else {
            panic!()
        };
        assert_eq!(
            r.ext,
            ReqExt::Atomic {
                code: 0x13,
                datatype: 7,
                ctrl: 1
            }
        );
        // The atomic extension's last byte is reserved.
        let mut bad = b;
        bad[35] = 1;
        assert_eq!(
            parse(NextHeader::ReqMedium, &bad).unwrap_err(),
            WireError::Reserved
        );
        // Small request, TSEND_ATOMIC (0xd), SOM|EOM|DC, CSWAP (0x0d): the
        // 36-byte compare-and-swap extension.
        let mut s = [0u8; 56];
        s[..4].copy_from_slice(&[0x0d, 0x23, 0x00, 0x10]);
        s[7] = 0x07;
        s[20..24].copy_from_slice(&[0x0d, 0x05, 0x00, 0x00]);
        s[24..40].fill(1);
        s[40..56].fill(2);
        let SesHeader::Req(r) = vector(NextHeader::ReqSmall, &s) else {
            panic!()
        };
        assert_eq!(r.addr.job, 7);
        assert_eq!(
            r.ext,
            ReqExt::Cas {
                code: 0x0d,
                datatype: 5,
                ctrl: 0,
                compare: [1; 16],
                swap: [2; 16]
            }
        );
    }

    #[test]
    fn spec_vector_responses() {
        // Response: list 1 (overflow), opcode RESPONSE (1), rc OK, message
        // id 0x203, RI generation 4, JobID 0x050607, modified length 4096.
        let h = vector(
            NextHeader::Resp,
            &[
                0x41, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00, 0x00, 0x10, 0x00,
            ],
        );
        assert_eq!(
            h,
            SesHeader::Resp(SesResp {
                list: 1,
                opcode: rsp::RESPONSE,
                rc: rc::OK,
                body: RespBody::Plain {
                    msg_id: 0x203,
                    ri_gen: 4,
                    job: 0x05_0607,
                    modified_length: 4096
                }
            })
        );
        // Response with data: byte 4 reserved, JobID 42, read request
        // message id 9, payload 4096, modified length 8192, offset 4096.
        let b = [
            0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x09, 0x10, 0x00, 0x00, 0x00,
            0x20, 0x00, 0x00, 0x00, 0x10, 0x00,
        ];
        let h = vector(NextHeader::RespData, &b);
        assert_eq!(
            h,
            SesHeader::Resp(SesResp {
                list: 0,
                opcode: rsp::WITH_DATA,
                rc: rc::OK,
                body: RespBody::Data {
                    msg_id: 0,
                    job: 42,
                    read_req_msg_id: 9,
                    payload_length: 4096,
                    modified_length: 8192,
                    message_offset: 4096
                }
            })
        );
        let mut bad = b;
        bad[4] = 1;
        assert_eq!(
            parse(NextHeader::RespData, &bad).unwrap_err(),
            WireError::Reserved
        );
        // A response with data must say so in its opcode, and only it.
        let mut bad = b;
        bad[0] = rsp::RESPONSE;
        assert_eq!(
            parse(NextHeader::RespData, &bad).unwrap_err(),
            WireError::BadOpcode(rsp::RESPONSE)
        );
        assert_eq!(
            parse(NextHeader::Resp, &b[..12]).unwrap_err(),
            WireError::BadOpcode(rsp::WITH_DATA)
        );
        // Small response with data: payload 8, JobID 42, request PSN 0x77.
        let h = vector(
            NextHeader::RespDataSmall,
            &[
                0x02, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x77,
            ],
        );
        assert_eq!(
            h,
            SesHeader::Resp(SesResp {
                list: 0,
                opcode: rsp::WITH_DATA,
                rc: rc::OK,
                body: RespBody::SmallData {
                    payload_length: 8,
                    job: 42,
                    original_request_psn: 0x77
                }
            })
        );
    }
}
