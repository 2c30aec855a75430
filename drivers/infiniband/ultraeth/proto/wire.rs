// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! UET wire formats: PDS and SES headers, parsed and emitted big endian.
//!
//! Every parser is strict: it checks the length, the reserved bits, the
//! packet type and the next-header code against each other, and returns a
//! typed [`WireError`] instead of guessing. Emitters write exactly the bytes
//! the parsers accept (round trips are tested and fuzzed).
//!
//! Layouts were checked against the Wireshark dissector
//! `epan/dissectors/packet-uet.c` (Keysight, based on UEC 1.0.1) and the
//! xdp2 headers `src/include/uet/{pds,ses}.h`; where they disagree the
//! choice is noted on the type.

#[path = "wire/pds.rs"]
pub(crate) mod pds;
#[path = "wire/ses.rs"]
pub(crate) mod ses;

use pds::PdsHeader;
use ses::SesHeader;

/// UDP destination port of UET.
pub(crate) const UDP_PORT: u16 = 4793;

/// Why a packet was refused by a parser or an emitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The buffer is shorter than the header it must hold.
    Truncated,
    /// The PDS type field holds an unknown or unsupported value.
    BadType(u8),
    /// The next-header code is unknown or not allowed after this PDS type.
    BadNextHeader(u8),
    /// The control type of a CTRL packet is unknown.
    BadCtlType(u8),
    /// A reserved bit or field is not zero.
    Reserved,
    /// The SES opcode is reserved or not allowed in this header.
    BadOpcode(u8),
    /// The SES version is not 0.
    BadVersion(u8),
    /// The SES return code is reserved.
    BadReturnCode(u8),
    /// A length field disagrees with the bytes present or its range.
    BadLength,
    /// A field value is out of its range (e.g. a 12-bit field).
    Range,
    /// The output buffer is too small for the header being emitted.
    NoRoom,
}

/// Next-header code carried in the PDS prologue (4 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum NextHeader {
    /// No SES header follows.
    None = 0,
    /// SES small request (20 bytes).
    ReqSmall = 1,
    /// SES medium request (32 bytes).
    ReqMedium = 2,
    /// SES standard request (44 bytes).
    ReqStd = 3,
    /// SES response (12 bytes).
    Resp = 4,
    /// SES response with data (20 bytes).
    RespData = 5,
    /// SES small response with data (12 bytes).
    RespDataSmall = 6,
}

impl NextHeader {
    /// Decodes a 4-bit next-header code.
    pub(crate) fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            0 => Self::None,
            1 => Self::ReqSmall,
            2 => Self::ReqMedium,
            3 => Self::ReqStd,
            4 => Self::Resp,
            5 => Self::RespData,
            6 => Self::RespDataSmall,
            _ => return Err(WireError::BadNextHeader(v)),
        })
    }

    /// True for the three SES request formats.
    pub(crate) fn is_request(self) -> bool {
        matches!(self, Self::ReqSmall | Self::ReqMedium | Self::ReqStd)
    }

    /// True for the three SES response formats.
    pub(crate) fn is_response(self) -> bool {
        matches!(self, Self::Resp | Self::RespData | Self::RespDataSmall)
    }
}

/// A whole UET packet seen by the engine: PDS header, optional SES header
/// and the payload that follows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packet<'a> {
    /// The PDS header.
    pub(crate) pds: PdsHeader,
    /// The SES header named by the PDS next-header field, if any.
    pub(crate) ses: Option<SesHeader>,
    /// Bytes after the headers.
    pub(crate) payload: &'a [u8],
}

/// Parses a UDP payload into PDS header, SES header and payload.
///
/// The SES header's own length fields are checked against the payload:
/// a request or response with data must carry exactly the bytes it names.
pub(crate) fn parse(buf: &[u8]) -> Result<Packet<'_>, WireError> {
    let (pds, rest) = pds::parse(buf)?;
    let next = pds.next_header();
    if next == NextHeader::None {
        return Ok(Packet {
            pds,
            ses: None,
            payload: rest,
        });
    }
    let (ses, payload) = ses::parse(next, rest)?;
    if let Some(len) = ses.payload_len() {
        if len != payload.len() {
            return Err(WireError::BadLength);
        }
    }
    Ok(Packet {
        pds,
        ses: Some(ses),
        payload,
    })
}

/// Emits PDS and SES headers into `out`; returns the header length. The
/// payload is copied by the caller after the returned offset.
pub(crate) fn emit_headers(
    pds: &PdsHeader,
    ses: Option<&SesHeader>,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let expect = ses.map_or(NextHeader::None, SesHeader::next_header);
    if pds.next_header() != expect {
        return Err(WireError::BadNextHeader(pds.next_header() as u8));
    }
    let n = pds::emit(pds, out)?;
    let m = match ses {
        Some(s) => ses::emit(s, out.get_mut(n..).ok_or(WireError::NoRoom)?)?,
        None => 0,
    };
    Ok(n + m)
}

/// Splits the 16-bit prologue into type (5), next header or control type
/// (4) and flags (7).
pub(crate) fn prologue_split(v: u16) -> (u8, u8, u8) {
    // CAST: each value is masked to its field width, which fits in u8.
    ((v >> 11) as u8, ((v >> 7) & 0xf) as u8, (v & 0x7f) as u8)
}

/// Builds the 16-bit prologue from its fields.
pub(crate) fn prologue_make(ty: u8, nh: u8, flags: u8) -> u16 {
    (u16::from(ty & 0x1f) << 11) | (u16::from(nh & 0xf) << 7) | u16::from(flags & 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prologue_fields() {
        // RUD request (2), standard SES request (3), SYN (0x04).
        let p = prologue_make(2, 3, 0x04);
        // 00010 0011 0000100
        assert_eq!(p, 0x1184);
        assert_eq!(prologue_split(p), (2, 3, 0x04));
    }

    #[test]
    fn next_header_codes() {
        for v in 0..16u8 {
            match NextHeader::from_u8(v) {
                Ok(n) => assert_eq!(n as u8, v),
                Err(e) => {
                    assert!(v >= 7);
                    assert_eq!(e, WireError::BadNextHeader(v));
                }
            }
        }
    }
}
