// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Names and fields of parsed PDS and SES headers, in the order `uet-dump`
//! prints them (as text or JSON).

use std::borrow::ToOwned;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use crate::proto::wire::pds::{
    nack,
    AckExt,
    CtlType,
    PdcDst,
    PdsHeader, //
};
use crate::proto::wire::ses::{
    op,
    ReqBody,
    ReqExt,
    RespBody,
    SesHeader,
    StdData, //
};

/// A field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Val {
    /// An unsigned number, printed in decimal.
    Num(u64),
    /// An opaque 64-bit value, printed in hex (a JSON string).
    Hex(u64),
    /// Text.
    Str(String),
}

/// One header: its name, the flags set, then its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hdr {
    /// Header or opcode name (`RUD_REQ`, `SEND`, ...).
    pub(crate) name: String,
    /// Names of the flags that are set.
    pub(crate) flags: Vec<&'static str>,
    /// `(field, value)` in print order.
    pub(crate) fields: Vec<(&'static str, Val)>,
}

impl Hdr {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            flags: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn flag(&mut self, on: bool, name: &'static str) {
        if on {
            self.flags.push(name);
        }
    }

    fn num(&mut self, k: &'static str, v: impl Into<u64>) {
        self.fields.push((k, Val::Num(v.into())));
    }

    fn hex(&mut self, k: &'static str, v: u64) {
        self.fields.push((k, Val::Hex(v)));
    }

    fn str(&mut self, k: &'static str, v: String) {
        self.fields.push((k, Val::Str(v)));
    }
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Name of a PDS header's type.
pub(crate) fn pds_type_name(h: &PdsHeader) -> &'static str {
    match h {
        PdsHeader::Req(r) => match (r.ordered, r.cc.is_some()) {
            (false, false) => "RUD_REQ",
            (true, false) => "ROD_REQ",
            (false, true) => "RUD_CC_REQ",
            (true, true) => "ROD_CC_REQ",
        },
        PdsHeader::RudiReq { .. } => "RUDI_REQ",
        PdsHeader::RudiResp { .. } => "RUDI_RESP",
        PdsHeader::Uud { .. } => "UUD_REQ",
        PdsHeader::Ack(a) => match a.ext {
            AckExt::None => "ACK",
            AckExt::Cc { .. } => "ACK_CC",
            AckExt::Ccx { .. } => "ACK_CCX",
        },
        PdsHeader::Nack(n) => {
            if n.ccx.is_some() {
                "NACK_CCX"
            } else {
                "NACK"
            }
        }
        PdsHeader::Ctrl(_) => "CTRL",
    }
}

fn ctl_name(c: CtlType) -> &'static str {
    match c {
        CtlType::Noop => "NOOP",
        CtlType::AckReq => "ACK_REQ",
        CtlType::Clear => "CLEAR",
        CtlType::ClearReq => "CLEAR_REQ",
        CtlType::Close => "CLOSE",
        CtlType::CloseReq => "CLOSE_REQ",
        CtlType::Probe => "PROBE",
        CtlType::Credit => "CREDIT",
        CtlType::CreditReq => "CREDIT_REQ",
        CtlType::Negotiation => "NEGOTIATION",
    }
}

/// Name of a NACK code.
pub(crate) fn nack_name(code: u8) -> &'static str {
    match code {
        nack::TRIMMED => "TRIMMED",
        nack::TRIMMED_LASTHOP => "TRIMMED_LASTHOP",
        nack::TRIMMED_ACK => "TRIMMED_ACK",
        nack::NO_PDC_AVAIL => "NO_PDC_AVAIL",
        nack::NO_CCC_AVAIL => "NO_CCC_AVAIL",
        nack::NO_BITMAP => "NO_BITMAP",
        nack::NO_PKT_BUFFER => "NO_PKT_BUFFER",
        nack::NO_GTD_DEL_AVAIL => "NO_GTD_DEL_AVAIL",
        nack::NO_SES_MSG_AVAIL => "NO_SES_MSG_AVAIL",
        nack::NO_RESOURCE => "NO_RESOURCE",
        nack::PSN_OOR_WINDOW => "PSN_OOR_WINDOW",
        nack::ROD_OOO => "ROD_OOO",
        nack::INV_DPDCID => "INV_DPDCID",
        nack::PDC_HDR_MISMATCH => "PDC_HDR_MISMATCH",
        nack::CLOSING => "CLOSING",
        nack::CLOSING_IN_ERR => "CLOSING_IN_ERR",
        nack::PKT_NOT_RCVD => "PKT_NOT_RCVD",
        nack::GTD_RESP_UNAVAIL => "GTD_RESP_UNAVAIL",
        nack::ACK_WITH_DATA => "ACK_WITH_DATA",
        nack::INVALID_SYN => "INVALID_SYN",
        nack::PDC_MODE_MISMATCH => "PDC_MODE_MISMATCH",
        nack::NEW_START_PSN => "NEW_START_PSN",
        nack::RCVD_SES_PROCG => "RCVD_SES_PROCG",
        nack::UNEXP_EVENT => "UNEXP_EVENT",
        nack::RCVR_INFER_LOSS => "RCVR_INFER_LOSS",
        _ => "EXPERIMENTAL",
    }
}

/// Name of a SES request opcode.
pub(crate) fn opcode_name(o: u8) -> &'static str {
    match o {
        op::NO_OP => "NO_OP",
        op::WRITE => "WRITE",
        op::READ => "READ",
        op::ATOMIC => "ATOMIC",
        op::FETCH_ATOMIC => "FETCH_ATOMIC",
        op::SEND => "SEND",
        op::RNDV_SEND => "RNDV_SEND",
        op::DGRAM => "DGRAM",
        op::DEFER_SEND => "DEFER_SEND",
        op::TSEND => "TSEND",
        op::RNDV_TSEND => "RNDV_TSEND",
        op::DEFER_TSEND => "DEFER_TSEND",
        op::DEFER_RTR => "DEFER_RTR",
        op::TSEND_ATOMIC => "TSEND_ATOMIC",
        op::TSEND_FETCH_ATOMIC => "TSEND_FETCH_ATOMIC",
        op::MSG_ERR => "MSG_ERR",
        _ => "RESERVED",
    }
}

fn resp_opcode_name(o: u8) -> &'static str {
    match o {
        0 => "DEFAULT_RESPONSE",
        1 => "RESPONSE",
        2 => "RESPONSE_W_DATA",
        3 => "NO_RESPONSE",
        _ => "RESERVED",
    }
}

/// Name of a SES return code.
pub(crate) fn rc_name(c: u8) -> &'static str {
    match c {
        0x00 => "NULL",
        0x01 => "OK",
        0x02 => "BAD_GENERATION",
        0x03 => "DISABLED",
        0x04 => "DISABLED_GEN",
        0x05 => "NO_MATCH",
        0x06 => "UNSUPPORTED_OP",
        0x07 => "UNSUPPORTED_SIZE",
        0x08 => "AT_INVALID",
        0x09 => "AT_PERM",
        0x0a => "AT_ATS_ERROR",
        0x0b => "AT_NO_TRANS",
        0x0c => "AT_OUT_OF_RANGE",
        0x0d => "HOST_POISONED",
        0x0e => "HOST_UNSUCCESS_CMPL",
        0x0f => "AMO_UNSUPPORTED_OP",
        0x10 => "AMO_UNSUPPORTED_DT",
        0x11 => "AMO_UNSUPPORTED_SIZE",
        0x12 => "AMO_UNALIGNED",
        0x13 => "AMO_FP_NAN",
        0x14 => "AMO_FP_UNDERFLOW",
        0x15 => "AMO_FP_OVERFLOW",
        0x16 => "AMO_FP_INEXACT",
        0x17 => "PERM_VIOLATION",
        0x18 => "OP_VIOLATION",
        0x19 => "BAD_INDEX",
        0x1a => "BAD_PID",
        0x1b => "BAD_JOB_ID",
        0x1c => "BAD_MKEY",
        0x1d => "BAD_ADDR",
        0x1e => "CANCELLED",
        0x1f => "UNDELIVERABLE",
        0x20 => "UNCOR",
        0x21 => "UNCOR_TRNSNT",
        0x22 => "TOO_LONG",
        0x23 => "INITIATOR_ERROR",
        0x24 => "DROPPED",
        _ => "VENDOR",
    }
}

fn pdc_dst(h: &mut Hdr, dst: PdcDst) {
    match dst {
        PdcDst::Dpdcid(d) => h.num("dpdcid", d),
        PdcDst::Syn {
            use_rsv_pdc,
            psn_offset,
        } => {
            h.num("psn_offset", psn_offset);
            if use_rsv_pdc {
                h.num("use_rsv_pdc", 1u8);
            }
        }
    }
}

fn sack(h: &mut Hdr, cack: u32, mpr: u8, off: i16, bitmap: u64) {
    h.num("mpr", mpr);
    h.num("sack_psn", cack.wrapping_add_signed(i32::from(off)));
    h.hex("sack_bitmap", bitmap);
}

/// The PDS header's name, flags and fields.
pub(crate) fn pds(p: &PdsHeader) -> Hdr {
    let mut h = Hdr::new(pds_type_name(p));
    match p {
        PdsHeader::Req(r) => {
            h.flag(matches!(r.dst, PdcDst::Syn { .. }), "SYN");
            h.flag(r.ar, "AR");
            h.flag(r.retx, "RETX");
            h.num("psn", r.psn);
            h.num("spdcid", r.spdcid);
            pdc_dst(&mut h, r.dst);
            h.num(
                "clear_psn",
                r.psn.wrapping_add_signed(i32::from(r.clear_psn_offset)),
            );
            if let Some((ccc, credit)) = r.cc {
                h.num("ccc_id", ccc);
                h.num("credit_target", credit);
            }
        }
        PdsHeader::RudiReq {
            ecn, retx, pkt_id, ..
        }
        | PdsHeader::RudiResp {
            ecn, retx, pkt_id, ..
        } => {
            h.flag(*ecn, "ECN");
            h.flag(*retx, "RETX");
            h.num("pkt_id", *pkt_id);
        }
        PdsHeader::Uud { .. } => {}
        PdsHeader::Ack(a) => {
            h.flag(a.ecn, "ECN");
            h.flag(a.retx, "RETX");
            h.flag(a.probe, "PROBE");
            h.num("cack_psn", a.cack_psn);
            h.num(
                "ack_psn",
                a.cack_psn.wrapping_add_signed(i32::from(a.ack_psn_offset)),
            );
            h.num("spdcid", a.spdcid);
            h.num("dpdcid", a.dpdcid);
            match a.request {
                0 => {}
                1 => h.str("request", "CLEAR".into()),
                2 => h.str("request", "CLOSE".into()),
                v => h.num("request", v),
            }
            match a.ext {
                AckExt::None => {}
                AckExt::Cc {
                    cc_type,
                    cc_flags,
                    mpr,
                    sack_psn_offset,
                    sack_bitmap,
                    cc_state,
                } => {
                    sack(&mut h, a.cack_psn, mpr, sack_psn_offset, sack_bitmap);
                    h.str(
                        "cc_type",
                        match cc_type {
                            0 => "NSCC".into(),
                            1 => "CREDIT".into(),
                            v => format!("{v}"),
                        },
                    );
                    h.num("cc_flags", cc_flags);
                    h.hex("cc_state", cc_state);
                }
                AckExt::Ccx {
                    ccx_type,
                    cc_flags,
                    mpr,
                    sack_psn_offset,
                    sack_bitmap,
                    ccx_state,
                } => {
                    sack(&mut h, a.cack_psn, mpr, sack_psn_offset, sack_bitmap);
                    h.num("ccx_type", ccx_type);
                    h.num("cc_flags", cc_flags);
                    h.str("ccx_state", hex_bytes(&ccx_state));
                }
            }
            if let Some(e) = a.epsn {
                h.num("expected_psn", e);
            }
        }
        PdsHeader::Nack(n) => {
            h.flag(n.ecn, "ECN");
            h.flag(n.retx, "RETX");
            h.flag(n.rudi, "RUDI");
            h.str("code", nack_name(n.code).into());
            h.num("code_value", n.code);
            if n.vendor_code != 0 {
                h.num("vendor_code", n.vendor_code);
            }
            h.num(if n.rudi { "pkt_id" } else { "psn" }, n.psn);
            h.num("spdcid", n.spdcid);
            h.num("dpdcid", n.dpdcid);
            h.num("nack_payload", n.payload);
            if let Some(c) = n.ccx {
                h.str("ccx_state", hex_bytes(&c));
            }
        }
        PdsHeader::Ctrl(c) => {
            h.name = format!("CTRL_{}", ctl_name(c.ctl));
            h.flag(matches!(c.dst, PdcDst::Syn { .. }), "SYN");
            h.flag(c.ar, "AR");
            h.flag(c.retx, "RETX");
            h.flag(c.rod, "ISROD");
            h.num("psn", c.psn);
            h.num("spdcid", c.spdcid);
            pdc_dst(&mut h, c.dst);
            if c.probe_opaque != 0 {
                h.num("probe_opaque", c.probe_opaque);
            }
            h.num("ctrl_payload", c.payload);
        }
    }
    h
}

/// The SES header's name, flags and fields.
pub(crate) fn ses(s: &SesHeader) -> Hdr {
    match s {
        SesHeader::Req(r) => {
            let mut h = Hdr::new(opcode_name(r.opcode));
            h.flag(r.flags & 0x01 != 0, "SOM");
            h.flag(r.flags & 0x02 != 0, "EOM");
            h.flag(r.flags & 0x04 != 0, "HD");
            h.flag(r.flags & 0x08 != 0, "REL");
            h.flag(r.flags & 0x10 != 0, "IE");
            h.flag(r.flags & 0x20 != 0, "DC");
            h.num("job", r.addr.job);
            h.num("pid_on_fep", r.addr.pid);
            h.num("ri", r.addr.ri);
            if r.addr.ri_gen != 0 {
                h.num("ri_gen", r.addr.ri_gen);
            }
            let key = if op::is_tagged(r.opcode) {
                "match_bits"
            } else {
                "key"
            };
            match r.body {
                ReqBody::Std {
                    msg_id,
                    buffer_offset,
                    initiator,
                    key: k,
                    data,
                    request_length,
                } => {
                    h.num("msg_id", msg_id);
                    h.num("initiator", initiator);
                    h.num("buffer_offset", buffer_offset);
                    h.hex(key, k);
                    match data {
                        StdData::HeaderData(d) => {
                            h.num("message_offset", 0u8);
                            h.hex("header_data", d);
                        }
                        StdData::Cont {
                            payload_length,
                            message_offset,
                        } => {
                            h.num("message_offset", message_offset);
                            h.num("payload_length", payload_length);
                        }
                    }
                    h.num("request_length", request_length);
                }
                ReqBody::Medium {
                    request_length,
                    buffer_offset,
                    initiator,
                    key: k,
                } => {
                    h.num("initiator", initiator);
                    h.num("buffer_offset", buffer_offset);
                    h.hex(key, k);
                    h.num("request_length", request_length);
                }
                ReqBody::Small {
                    request_length,
                    buffer_offset,
                } => {
                    h.num("buffer_offset", buffer_offset);
                    h.num("request_length", request_length);
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
                    h.num("eager_length", eager_length);
                    h.num("read_ri_gen", read_ri_gen);
                    h.num("read_pid_on_fep", read_pid);
                    h.num("read_ri", read_ri);
                    h.num("read_offset", read_offset);
                    h.hex("read_match_bits", read_match_bits);
                }
                ReqExt::Atomic {
                    code,
                    datatype,
                    ctrl,
                } => {
                    h.num("amo_code", code);
                    h.num("amo_datatype", datatype);
                    h.num("amo_ctrl", ctrl);
                }
                ReqExt::Cas {
                    code,
                    datatype,
                    ctrl,
                    compare,
                    swap,
                } => {
                    h.num("amo_code", code);
                    h.num("amo_datatype", datatype);
                    h.num("amo_ctrl", ctrl);
                    h.str("compare", hex_bytes(&compare));
                    h.str("swap", hex_bytes(&swap));
                }
            }
            h
        }
        SesHeader::Resp(r) => {
            let mut h = Hdr::new(resp_opcode_name(r.opcode));
            h.str("rc", rc_name(r.rc).into());
            h.num("rc_value", r.rc);
            if r.list != 0 {
                h.num("list", r.list);
            }
            match r.body {
                RespBody::Plain {
                    msg_id,
                    ri_gen,
                    job,
                    modified_length,
                } => {
                    h.num("msg_id", msg_id);
                    h.num("job", job);
                    if ri_gen != 0 {
                        h.num("ri_gen", ri_gen);
                    }
                    h.num("modified_length", modified_length);
                }
                RespBody::Data {
                    msg_id,
                    job,
                    read_req_msg_id,
                    payload_length,
                    modified_length,
                    message_offset,
                } => {
                    h.num("msg_id", msg_id);
                    h.num("job", job);
                    h.num("read_req_msg_id", read_req_msg_id);
                    h.num("message_offset", message_offset);
                    h.num("payload_length", payload_length);
                    h.num("modified_length", modified_length);
                }
                RespBody::SmallData {
                    payload_length,
                    job,
                    original_request_psn,
                } => {
                    h.num("job", job);
                    h.num("original_request_psn", original_request_psn);
                    h.num("payload_length", payload_length);
                }
            }
            h
        }
    }
}

/// Both headers of a packet, SES absent when the PDS header names none.
pub(crate) fn packet(p: &PdsHeader, s: Option<&SesHeader>) -> Vec<Hdr> {
    let mut v = vec![pds(p)];
    v.extend(s.map(ses));
    v
}
