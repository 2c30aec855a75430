// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Tests of `uet-dump`: the pcap reader, the decoder's text and JSON
//! output on packets built with the wire module's emitters, and the
//! checker on hand-built sequences and on captures of the engine running
//! in the simulator (clean and lossy).

use std::collections::BTreeSet;
use std::net::{
    IpAddr,
    Ipv4Addr,
    Ipv6Addr, //
};
use std::string::{
    String,
    ToString, //
};
use std::vec;
use std::vec::Vec;

use super::pcap::{
    self,
    linktype,
    Record, //
};
use super::{
    parse_args,
    run,
    Opts, //
};
use crate::proto::engine::Config;
use crate::proto::ses::{
    AtomicOp,
    Mode,
    Op,
    Post, //
};
use crate::proto::wire::pds::{
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
use crate::proto::wire::ses::{
    op,
    ReqBody,
    ReqExt,
    RespBody,
    SesAddr,
    SesHeader,
    SesReq,
    SesResp,
    StdData, //
};
use crate::proto::wire::{
    self,
    NextHeader, //
};
use crate::sim::{
    Link,
    Net,
    Region, //
};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 79, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 79, 0, 2));
const JOB: u32 = 9;

fn req(psn: u32, syn: Option<u16>, retx: bool) -> PdsHeader {
    PdsHeader::Req(ReqHdr {
        ordered: false,
        cc: None,
        next: NextHeader::ReqStd,
        retx,
        ar: true,
        clear_psn_offset: -1,
        psn,
        spdcid: 3,
        dst: match syn {
            Some(o) => PdcDst::Syn {
                use_rsv_pdc: false,
                psn_offset: o,
            },
            None => PdcDst::Dpdcid(5),
        },
    })
}

fn send_hdr(job: u32, som: bool, eom: bool, off: u32, len: u16) -> SesHeader {
    SesHeader::Req(SesReq {
        opcode: op::SEND,
        flags: u8::from(som) | (u8::from(eom) << 1),
        addr: SesAddr {
            ri_gen: 0,
            job,
            pid: 1,
            ri: 2,
        },
        body: ReqBody::Std {
            msg_id: 7,
            buffer_offset: 0,
            initiator: 0x2001,
            key: 0,
            data: if som {
                StdData::HeaderData(0xabc)
            } else {
                StdData::Cont {
                    payload_length: len,
                    message_offset: off,
                }
            },
            request_length: 4096,
        },
        ext: ReqExt::None,
    })
}

fn ack(cack: u32, sack: Option<(i16, u64)>) -> PdsHeader {
    PdsHeader::Ack(AckHdr {
        next: NextHeader::None,
        ecn: false,
        retx: false,
        probe: false,
        request: 0,
        ack_psn_offset: 0,
        cack_psn: cack,
        spdcid: 5,
        dpdcid: 3,
        ext: match sack {
            None => AckExt::None,
            Some((off, map)) => AckExt::Cc {
                cc_type: 0,
                cc_flags: 0,
                mpr: 0,
                sack_psn_offset: off,
                sack_bitmap: map,
                cc_state: 0,
            },
        },
        epsn: None,
    })
}

/// The UDP payload of a packet with these headers and `len` payload bytes.
fn bytes(pds: &PdsHeader, ses: Option<&SesHeader>, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    let n = wire::emit_headers(pds, ses, &mut b).expect("emit");
    b.truncate(n);
    b.resize(n + len, 0x5a);
    b
}

/// A packet of a hand-built capture.
#[derive(Clone)]
struct Pkt {
    from_a: bool,
    dport: u16,
    data: Vec<u8>,
}

fn a2b(pds: PdsHeader, ses: Option<SesHeader>, len: usize) -> Pkt {
    Pkt {
        from_a: true,
        dport: 4793,
        data: bytes(&pds, ses.as_ref(), len),
    }
}

fn b2a(pds: PdsHeader) -> Pkt {
    Pkt {
        from_a: false,
        dport: 4793,
        data: bytes(&pds, None, 0),
    }
}

fn capture(pkts: &[Pkt]) -> Vec<u8> {
    let recs: Vec<Record> = pkts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (s, d) = if p.from_a { (A, B) } else { (B, A) };
            // A datagram to another port comes from 4793 (else it would
            // not be UET traffic at all).
            let sport = if p.dport == 4793 {
                49152 + i as u16
            } else {
                4793
            };
            let f = pcap::frame(s, d, sport, p.dport, &p.data);
            Record {
                ts_ns: 1_700_000_000_000_000_000 + i as u64 * 1500,
                orig_len: f.len() as u32,
                data: f,
            }
        })
        .collect();
    pcap::write(linktype::ETHERNET, &recs)
}

fn opts(json: bool, check: bool, job: Option<u32>) -> Opts {
    Opts {
        file: "-".into(),
        json,
        check,
        job,
    }
}

fn output(o: &Opts, file: &[u8]) -> (bool, String) {
    let mut out = Vec::new();
    let ok = run(o, file, &mut out).expect("run");
    (ok, String::from_utf8(out).expect("utf-8"))
}

/// A clean exchange: a 3-packet message from A (SYN, then established),
/// ACKed cumulatively, then a CLOSE that is ACKed.
fn clean() -> Vec<Pkt> {
    vec![
        a2b(
            req(100, Some(0), false),
            Some(send_hdr(JOB, true, false, 0, 0)),
            1400,
        ),
        a2b(
            req(101, Some(1), false),
            Some(send_hdr(JOB, false, false, 1400, 1400)),
            1400,
        ),
        b2a(ack(101, None)),
        a2b(
            req(102, None, false),
            Some(send_hdr(JOB, false, true, 2800, 1296)),
            1296,
        ),
        b2a(ack(102, None)),
        a2b(
            PdsHeader::Ctrl(CtrlHdr {
                ctl: CtlType::Close,
                rod: false,
                retx: false,
                ar: true,
                probe_opaque: 0,
                psn: 103,
                spdcid: 3,
                dst: PdcDst::Dpdcid(5),
                payload: 0,
            }),
            None,
            0,
        ),
        b2a(ack(103, None)),
    ]
}

#[test]
fn arguments() {
    let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        a(&["-r", "x.pcap", "--check", "--job", "0x10"]).unwrap(),
        Opts {
            file: "x.pcap".into(),
            json: false,
            check: true,
            job: Some(16)
        }
    );
    assert_eq!(a(&["-rx.pcap", "--json"]).unwrap().file, "x.pcap");
    assert!(a(&["--json"]).is_err());
    assert!(a(&["-r", "x", "--check", "--job", "0x1000000"]).is_err());
    assert!(a(&["-r", "x", "--job", "9"]).is_err());
    assert!(a(&["-r", "x", "--bogus"]).is_err());
}

#[test]
fn pcap_formats() {
    let f = pcap::frame(A, B, 1000, 4793, &[1, 2, 3]);
    let file = pcap::write(
        linktype::ETHERNET,
        &[Record {
            ts_ns: 5_000_000_123,
            orig_len: f.len() as u32,
            data: f.clone(),
        }],
    );
    let c = pcap::parse(&file).unwrap();
    assert!(c.nanos);
    assert_eq!((c.linktype, c.records.len()), (1, 1));
    assert_eq!(c.records[0].ts_ns, 5_000_000_123);
    let pcap::Found::Udp(u) = pcap::udp(1, &c.records[0].data) else {
        panic!()
    };
    assert_eq!(
        (u.src, u.dst, u.sport, u.dport, u.payload),
        (A, B, 1000, 4793, &[1u8, 2, 3][..])
    );
    // A record cut at the end of the file is dropped, not an error.
    let c = pcap::parse(&file[..file.len() - 2]).unwrap();
    assert!(c.records.is_empty());
    // Big-endian, microseconds, Linux cooked v1 (SLL).
    let ip = &f[14..];
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(ip);
    let mut be = Vec::new();
    be.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
    be.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    be.extend_from_slice(&113u32.to_be_bytes());
    be.extend_from_slice(&7u32.to_be_bytes());
    be.extend_from_slice(&9u32.to_be_bytes());
    be.extend_from_slice(&(sll.len() as u32).to_be_bytes());
    be.extend_from_slice(&(sll.len() as u32).to_be_bytes());
    be.extend_from_slice(&sll);
    let c = pcap::parse(&be).unwrap();
    assert!(!c.nanos);
    assert_eq!((c.linktype, c.records[0].ts_ns), (113, 7_000_009_000));
    assert!(matches!(pcap::udp(113, &c.records[0].data), pcap::Found::Udp(u) if u.dport == 4793));
    // SLL2: protocol first, 20-byte header.
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(ip);
    assert!(matches!(pcap::udp(276, &sll2), pcap::Found::Udp(u) if u.payload == [1, 2, 3]));
    // Raw IP, and Ethernet with a VLAN tag and padding after the datagram.
    assert!(matches!(pcap::udp(101, ip), pcap::Found::Udp(u) if u.sport == 1000));
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    tagged.extend_from_slice(&f[12..]);
    tagged.extend_from_slice(&[0; 20]);
    assert!(matches!(pcap::udp(1, &tagged), pcap::Found::Udp(u) if u.payload == [1, 2, 3]));
    // IPv6.
    let a6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
    let b6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
    let f6 = pcap::frame(a6, b6, 7, 4793, &[9; 10]);
    assert!(
        matches!(pcap::udp(1, &f6), pcap::Found::Udp(u) if u.src == a6 && u.payload.len() == 10)
    );
    // IPv4 fragments are reported, not decoded.
    let mut frag = f.clone();
    frag[14 + 6] = 0x20;
    assert!(matches!(
        pcap::udp(1, &frag),
        pcap::Found::Fragment {
            ports: Some((1000, 4793)),
            ..
        }
    ));
    // Not pcap, pcapng.
    assert!(pcap::parse(b"hello, world, this is no pcap file").is_err());
    assert!(pcap::parse(&[
        0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    ])
    .unwrap_err()
    .contains("pcapng"));
}

#[test]
fn text_output() {
    let mut pkts = clean();
    // A NACK, a response on an ACK, and a packet the parser refuses.
    pkts.push(b2a(PdsHeader::Nack(NackHdr {
        ecn: false,
        retx: false,
        rudi: false,
        code: nack::NO_PKT_BUFFER,
        vendor_code: 0,
        psn: 104,
        spdcid: 5,
        dpdcid: 3,
        payload: 0,
        ccx: None,
    })));
    let resp = SesHeader::Resp(SesResp {
        list: 0,
        opcode: 0,
        rc: 0x1b,
        body: RespBody::Plain {
            msg_id: 7,
            ri_gen: 0,
            job: JOB,
            modified_length: 0,
        },
    });
    let mut rack = ack(103, Some((-3, 0xf)));
    if let PdsHeader::Ack(a) = &mut rack {
        a.next = NextHeader::Resp;
    }
    pkts.push(Pkt {
        from_a: false,
        dport: 4793,
        data: bytes(&rack, Some(&resp), 0),
    });
    pkts.push(Pkt {
        from_a: true,
        dport: 4793,
        data: vec![0x78, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    });
    let (ok, out) = output(&opts(false, false, None), &capture(&pkts));
    assert!(ok);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.len(), pkts.len(), "{out}");
    assert_eq!(
        l[0],
        "     1 0.000000000 10.79.0.1:49152 -> 10.79.0.2:4793 RUD_REQ [SYN,AR] psn=100 \
         spdcid=3 psn_offset=0 clear_psn=99 | SEND [SOM] job=9 pid_on_fep=1 ri=2 msg_id=7 \
         initiator=8193 buffer_offset=0 key=0x0 message_offset=0 header_data=0xabc \
         request_length=4096 payload=1400"
    );
    assert!(
        l[1].contains(" RUD_REQ [SYN,AR] psn=101 ")
            && l[1].contains("message_offset=1400 payload_length=1400")
    );
    assert!(l[2].starts_with("     3 0.000003000 10.79.0.2:49154 -> 10.79.0.1:4793 ACK cack_psn=101 ack_psn=101 spdcid=5 dpdcid=3 payload=0"), "{}", l[2]);
    assert!(l[3].contains("RUD_REQ [AR] psn=102 spdcid=3 dpdcid=5") && l[3].contains("SEND [EOM]"));
    assert!(l[5].contains("CTRL_CLOSE [AR] psn=103"), "{}", l[5]);
    assert!(
        l[7].contains("NACK code=NO_PKT_BUFFER code_value=7 psn=104")
            && l[7].ends_with("dpdcid=3 nack_payload=0 payload=0"),
        "{}",
        l[7]
    );
    assert!(
        l[8].contains("ACK_CC cack_psn=103 ack_psn=103 spdcid=5 dpdcid=3 mpr=0 sack_psn=100 sack_bitmap=0xf cc_type=NSCC")
            && l[8].contains("| DEFAULT_RESPONSE rc=BAD_JOB_ID rc_value=27 msg_id=7 job=9"),
        "{}",
        l[8]
    );
    assert!(l[9].ends_with(" malformed: BadType(15)"), "{}", l[9]);
}

/// Splits a flat JSON object into its top-level `"key":value` texts (the
/// decoder's output has no strings with braces or commas in them).
fn json_fields(s: &str) -> Vec<(String, String)> {
    assert!(s.starts_with('{') && s.ends_with('}'), "{s}");
    let inner = &s[1..s.len() - 1];
    let mut v = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                v.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "{s}");
    v.push(&inner[start..]);
    v.into_iter()
        .map(|kv| {
            let (k, val) = kv.split_once(':').expect("key:value");
            assert!(k.starts_with('"') && k.ends_with('"'), "{kv}");
            (k[1..k.len() - 1].to_string(), val.to_string())
        })
        .collect()
}

#[test]
fn json_output() {
    let mut pkts = clean();
    pkts.push(Pkt {
        from_a: true,
        dport: 4793,
        data: vec![0x11, 0x88, 0],
    });
    let (_, out) = output(&opts(true, false, None), &capture(&pkts));
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.len(), pkts.len());
    let f = json_fields(l[1]);
    let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "frame",
            "time",
            "src",
            "sport",
            "dst",
            "dport",
            "pds",
            "ses",
            "payload_length"
        ]
    );
    assert_eq!(f[0].1, "2");
    assert_eq!(f[2].1, "\"10.79.0.1\"");
    let pds = json_fields(&f[6].1);
    assert_eq!(pds[0], ("type".into(), "\"RUD_REQ\"".into()));
    assert_eq!(pds[1], ("flags".into(), "[\"SYN\",\"AR\"]".into()));
    assert!(pds.contains(&("psn".into(), "101".into())));
    let ses = json_fields(&f[7].1);
    assert_eq!(ses[0], ("opcode".into(), "\"SEND\"".into()));
    assert!(ses.contains(&("job".into(), "9".into())));
    assert!(ses.contains(&("key".into(), "\"0x0\"".into())));
    let m = json_fields(l[7]);
    assert_eq!(
        m.last().unwrap(),
        &("malformed".into(), "\"Truncated\"".into())
    );
}

fn check(pkts: &[Pkt], job: Option<u32>) -> (bool, String) {
    output(&opts(false, true, job), &capture(pkts))
}

#[test]
fn check_clean_and_failures() {
    let (ok, out) = check(&clean(), Some(JOB));
    assert!(ok, "{out}");
    assert!(
        out.contains("ok   job: all 3 SES requests carry JobID 9"),
        "{out}"
    );
    assert!(
        out.contains("ok   psn-continuity: 4 PSNs on 1 PDCs"),
        "{out}"
    );
    assert!(out.contains("start 100 from SYN"), "{out}");
    assert!(out.ends_with("result: PASS\n"));

    // Wrong JobID.
    let (ok, out) = check(&clean(), Some(10));
    assert!(!ok);
    assert!(
        out.contains("FAIL job: 3 of 3 requests do not carry JobID 10: frame 1 has 9"),
        "{out}"
    );

    // A datagram from port 4793 to another port.
    let mut p = clean();
    p[2].dport = 5000;
    let (ok, out) = check(&p, Some(JOB));
    assert!(
        !ok && out.contains("FAIL udp-port: 1 datagrams go elsewhere"),
        "{out}"
    );

    // A PSN never seen.
    let mut p = clean();
    p.remove(1);
    let (ok, out) = check(&p, Some(JOB));
    assert!(
        !ok && out.contains("FAIL psn-continuity: 1 PSNs never seen") && out.contains("(101 ...)"),
        "{out}"
    );

    // The last ACK missing: the CLOSE is not acknowledged.
    let mut p = clean();
    p.pop();
    let (ok, out) = check(&p, Some(JOB));
    assert!(
        !ok && out.contains("FAIL acknowledged: 1 never acknowledged: PSN 103 (frame 6"),
        "{out}"
    );

    // An ACK before the request does not count.
    let mut p = clean();
    p.swap(3, 4);
    p[3] = b2a(ack(102, None));
    let (ok, out) = check(&p, Some(JOB));
    assert!(ok, "an ACK of 103 later covers 102: {out}");

    // A malformed packet fails the check.
    let mut p = clean();
    p.push(Pkt {
        from_a: true,
        dport: 4793,
        data: vec![0xff, 0xff],
    });
    let (ok, out) = check(&p, Some(JOB));
    assert!(
        !ok && out.contains("FAIL decoded: 1 not decoded: frame 8: BadType(31)"),
        "{out}"
    );

    // Nothing at all.
    let (ok, out) = check(&[], None);
    assert!(!ok && out.contains("FAIL traffic"), "{out}");
}

#[test]
fn check_retransmissions_and_sack() {
    // 100 lost before the capture point; 101 and 102 SACKed; 100
    // retransmitted (RETX) and then cumulatively ACKed.
    let p = vec![
        a2b(
            req(101, Some(1), false),
            Some(send_hdr(JOB, false, false, 1400, 1400)),
            1400,
        ),
        a2b(
            req(102, Some(2), false),
            Some(send_hdr(JOB, false, true, 2800, 1296)),
            1296,
        ),
        b2a(ack(99, Some((-3, 0b0110_0000)))),
        a2b(
            req(100, Some(0), true),
            Some(send_hdr(JOB, true, false, 0, 0)),
            1400,
        ),
        b2a(ack(102, None)),
    ];
    let (ok, out) = check(&p, Some(JOB));
    assert!(ok, "{out}");
    assert!(
        out.contains("PSN 100..102 (3 PSNs, start 100 from SYN), 1 retransmitted"),
        "{out}"
    );

    // The same fill without RETX: sent out of order, which RUD allows
    // (counted, not a failure).
    let mut q = p;
    q[3] = a2b(
        req(100, Some(0), false),
        Some(send_hdr(JOB, true, false, 0, 0)),
        1400,
    );
    let (ok, out) = check(&q, Some(JOB));
    assert!(ok, "{out}");
    assert!(
        out.contains("0 retransmitted, 1 first seen after a higher PSN without RETX"),
        "{out}"
    );
    assert!(
        out.contains("first seen out of order: PSN 100 in frame 4 after 102"),
        "{out}"
    );

    // The SACK alone acknowledges 101 and 102; 100 stays unacknowledged.
    let p = vec![
        a2b(
            req(100, Some(0), false),
            Some(send_hdr(JOB, true, false, 0, 0)),
            1400,
        ),
        a2b(
            req(101, Some(1), false),
            Some(send_hdr(JOB, false, false, 1400, 1400)),
            1400,
        ),
        a2b(
            req(102, Some(2), false),
            Some(send_hdr(JOB, false, true, 2800, 1296)),
            1296,
        ),
        b2a(ack(99, Some((-3, 0b0110_0000)))),
    ];
    let (ok, out) = check(&p, Some(JOB));
    assert!(
        !ok && out.contains("1 never acknowledged: PSN 100"),
        "{out}"
    );

    // A new SYN start PSN on the same PDC id is a new incarnation: its
    // PSNs are not a gap after the old ones.
    let mut p = clean();
    p.push(a2b(
        req(5000, Some(0), false),
        Some(send_hdr(JOB, true, true, 0, 0)),
        10,
    ));
    p.push(b2a(ack(5000, None)));
    let (ok, out) = check(&p, Some(JOB));
    assert!(ok, "{out}");
    assert!(out.contains("2 PDC incarnations"), "{out}");
}

fn nack_hdr(code: u8, psn: u32, payload: u32) -> PdsHeader {
    PdsHeader::Nack(NackHdr {
        ecn: false,
        retx: false,
        rudi: false,
        code,
        vendor_code: 0,
        psn,
        spdcid: 5,
        dpdcid: 3,
        payload,
        ccx: None,
    })
}

#[test]
fn check_renumbering_and_close_nack() {
    // 1-RTT establishment: the target answers the SYN with NEW_START_PSN
    // 7000; the initiator resends from there. Two packets numbered before
    // the renumbering reach the wire after it: they belong to the first
    // incarnation, whose PSNs were given up.
    let p = vec![
        a2b(
            req(100, Some(0), false),
            Some(send_hdr(JOB, true, false, 0, 0)),
            1400,
        ),
        b2a(nack_hdr(nack::NEW_START_PSN, 100, 7000)),
        a2b(
            req(7000, Some(0), true),
            Some(send_hdr(JOB, true, false, 0, 0)),
            1400,
        ),
        a2b(
            req(7001, Some(1), true),
            Some(send_hdr(JOB, false, false, 1400, 1400)),
            1400,
        ),
        a2b(
            req(101, Some(1), false),
            Some(send_hdr(JOB, false, false, 1400, 1400)),
            1400,
        ),
        a2b(
            req(7002, Some(2), true),
            Some(send_hdr(JOB, false, true, 2800, 1296)),
            1296,
        ),
        a2b(
            req(102, Some(2), false),
            Some(send_hdr(JOB, false, true, 2800, 1296)),
            1296,
        ),
        b2a(ack(7002, None)),
        a2b(
            req(7003, None, false),
            Some(send_hdr(JOB, true, true, 0, 0)),
            10,
        ),
        b2a(ack(7003, None)),
    ];
    let (ok, out) = check(&p, Some(JOB));
    assert!(ok, "{out}");
    assert!(out.contains("2 PDC incarnations"), "{out}");
    assert!(
        out.contains("PSN 100..102 (3 PSNs, start 100 from SYN)"),
        "{out}"
    );
    assert!(out.contains("renumbered (NEW_START_PSN)"), "{out}");
    assert!(
        out.contains("PSN 7000..7003 (4 PSNs, start 7000 from SYN), 3 retransmitted"),
        "{out}"
    );
    assert!(
        out.contains("(3 given up by NEW_START_PSN renumbering)"),
        "{out}"
    );
    // A packet of the first incarnation lost before the capture point
    // (PSN 101 never seen): its data went again as 7001, so the gap is
    // given up with the incarnation, not a hole in the stream.
    let lost101: Vec<Pkt> = p
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != 4)
        .map(|(_, x)| x.clone())
        .collect();
    let (ok, out) = check(&lost101, Some(JOB));
    assert!(ok, "{out}");
    assert!(
        out.contains("1 never seen, given up by NEW_START_PSN renumbering"),
        "{out}"
    );
    // (A hole in an incarnation that was not renumbered still fails:
    // check_clean_and_failures, "A PSN never seen".)
    // A NEW_START_PSN naming the start PSN already used renumbers nothing.
    let p = vec![
        a2b(
            req(100, Some(0), false),
            Some(send_hdr(JOB, true, false, 0, 0)),
            1400,
        ),
        b2a(nack_hdr(nack::NEW_START_PSN, 100, 100)),
    ];
    let (ok, out) = check(&p, Some(JOB));
    assert!(
        !ok && out.contains("1 never acknowledged: PSN 100"),
        "{out}"
    );

    // A CLOSE whose ACK was lost, retransmitted and answered by a NACK
    // (the target released the PDC when it acknowledged the first copy).
    let mut p = clean();
    let close = p.remove(5);
    p.pop();
    p.push(Pkt {
        from_a: true,
        dport: 4793,
        data: close.data.clone(),
    });
    p.push(b2a(nack_hdr(nack::INV_DPDCID, 103, 0)));
    let (ok, out) = check(&p, Some(JOB));
    assert!(ok, "{out}");
    assert!(
        out.contains("closed (CLOSE answered by NACK INV_DPDCID)"),
        "{out}"
    );
}

/// Runs `msgs` sends of `len` bytes each way between two simulated nodes
/// and returns every packet the engines sent: (from node 0, UDP source
/// port, UDP payload).
fn sim_run(loss: f64, msgs: usize, len: usize, seed: u64) -> Vec<(bool, u16, Vec<u8>)> {
    let cfg = Config {
        rto_init: 100_000,
        rto_min: 20_000,
        rto_max: 5_000_000,
        idle_close: 2_000_000,
        reap: 50_000_000,
        half_open: 1_000_000,
        quiet_start: false,
        mtu: 1024,
        ..Config::DEFAULT
    };
    let link = Link {
        loss,
        ..Link::CLEAN
    };
    let mut net = Net::new(2, cfg, link, seed);
    for n in net.nodes.iter_mut() {
        n.env.jobs.insert((JOB, 1, 1), 1);
    }
    net.capture = Some(Vec::new());
    for k in 0..msgs {
        for (s, d) in [(0usize, 1usize), (1, 0)] {
            let node = &mut net.nodes[d];
            let rb = node.env.add_buf(vec![0; len]);
            node.eng
                .post_recv(1, k as u64, rb, len as u32, None, &mut node.env)
                .expect("receive");
            let node = &mut net.nodes[s];
            let buf = node.env.add_buf(vec![k as u8; len]);
            let p = Post {
                user: k as u64,
                dst: crate::sim::addr(d),
                target: SesAddr {
                    ri_gen: 0,
                    job: JOB,
                    pid: 1,
                    ri: 1,
                },
                mode: Mode::Rud,
                op: Op::Send { tag: None },
                buf,
                len: len as u32,
                hdr_data: 0,
                with_data: false,
                tc: 0,
                initiator: 1,
            };
            let now = net.now;
            node.eng.post(now, &p, &mut node.env).expect("post");
        }
        let want = 2 * (k + 1);
        assert!(net.run_until(net.now + 10_000_000_000, |n| {
            n.nodes.iter().all(|x| x.env.completions.len() == want)
        }));
    }
    // Idle PDCs close by handshake.
    net.run_for(net.now + 100_000_000);
    let cap = net.capture.take().expect("capture");
    // The simulator does not record entropy: any source port will do.
    cap.into_iter()
        .map(|(s, _, p)| (s == 0, 0xc000 | (p.len() as u16 & 0xff), p))
        .collect()
}

fn sim_capture(pkts: &[(bool, u16, Vec<u8>)]) -> Vec<u8> {
    let recs: Vec<Record> = pkts
        .iter()
        .enumerate()
        .map(|(i, (a, e, p))| {
            let (s, d) = if *a { (A, B) } else { (B, A) };
            let f = pcap::frame(s, d, *e, 4793, p);
            Record {
                ts_ns: i as u64 * 1000,
                orig_len: f.len() as u32,
                data: f,
            }
        })
        .collect();
    pcap::write(linktype::ETHERNET, &recs)
}

/// (from node 0, PDC id, PSN, RETX) of a request or CTRL with AR.
fn req_id(a: bool, p: &[u8]) -> Option<(bool, u16, u32, bool)> {
    match wire::parse(p).ok()?.pds {
        PdsHeader::Req(r) => Some((a, r.spdcid, r.psn, r.retx)),
        PdsHeader::Ctrl(c) if c.ar => Some((a, c.spdcid, c.psn, c.retx)),
        _ => None,
    }
}

#[test]
fn check_engine_captures() {
    // Clean: 50 messages of 4 KiB each way.
    let pkts = sim_run(0.0, 50, 4096, 1);
    let (ok, out) = check_sim(&pkts);
    assert!(ok, "{out}");
    let (_, text) = output(&opts(false, false, None), &sim_capture(&pkts));
    assert!(!text.contains("malformed"));
    let reqs = text.lines().filter(|l| l.contains(" RUD_REQ ")).count();
    assert!(reqs >= 2 * 50 * 3, "{reqs} requests");

    // 5% loss: the capture holds every packet sent, retransmissions
    // included.
    let pkts = sim_run(0.05, 50, 4096, 2);
    let (ok, out) = check_sim(&pkts);
    assert!(ok, "{out}");
    assert!(
        !out.contains(", 0 retransmitted,"),
        "loss made retransmissions: {out}"
    );

    // The same capture where the first copy of every retransmitted PSN is
    // missing (lost before the capture point, as netem on the captured
    // veth drops packets): retransmissions fill the gaps.
    let mut resent = BTreeSet::new();
    for (a, _, p) in &pkts {
        if let Some((a, id, psn, true)) = req_id(*a, p) {
            resent.insert((a, id, psn));
        }
    }
    assert!(!resent.is_empty());
    let thin: Vec<_> = pkts
        .iter()
        .filter(|(a, _, p)| {
            !matches!(req_id(*a, p), Some((a, id, psn, false)) if resent.contains(&(a, id, psn)))
        })
        .cloned()
        .collect();
    assert!(thin.len() < pkts.len());
    let (ok, out) = check_sim(&thin);
    assert!(ok, "{out}");

    // Losing a packet that was never retransmitted is a gap, and losing
    // the ACKs after some point leaves requests unacknowledged.
    let i = pkts
        .iter()
        .position(|(a, _, p)| matches!(req_id(*a, p), Some(k) if !k.3 && !resent.contains(&(k.0, k.1, k.2))))
        .expect("a request sent once");
    let mut gap = pkts.clone();
    gap.remove(i);
    let (ok, out) = check_sim(&gap);
    assert!(!ok && out.contains("FAIL psn-continuity"), "{out}");
    let half = pkts.len() / 2;
    let no_acks: Vec<_> = pkts
        .iter()
        .enumerate()
        .filter(|(k, (_, _, p))| {
            *k < half || !matches!(wire::parse(p).map(|x| x.pds), Ok(PdsHeader::Ack(_)))
        })
        .map(|(_, x)| x.clone())
        .collect();
    let (ok, out) = check_sim(&no_acks);
    assert!(!ok && out.contains("FAIL acknowledged"), "{out}");
}

fn check_sim(pkts: &[(bool, u16, Vec<u8>)]) -> (bool, String) {
    output(&opts(false, true, Some(JOB)), &sim_capture(pkts))
}

/// Runs rendezvous sends (one expected, one unexpected, one tagged, one
/// ROD) and atomics (fetch-add, compare-and-swap, add, and one refused
/// for its alignment) from node 0 to node 1 under `loss`, and returns
/// every packet the engines sent, as [`sim_run`] does.
fn sim_run_ops(loss: f64, seed: u64) -> Vec<(bool, u16, Vec<u8>)> {
    let cfg = Config {
        rto_init: 100_000,
        rto_min: 20_000,
        rto_max: 5_000_000,
        idle_close: 2_000_000,
        reap: 50_000_000,
        half_open: 1_000_000,
        quiet_start: false,
        mtu: 1024,
        eager_limit: 4096,
        ..Config::DEFAULT
    };
    let link = Link {
        loss,
        ..Link::CLEAN
    };
    let mut net = Net::new(2, cfg, link, seed);
    for n in net.nodes.iter_mut() {
        n.env.jobs.insert((JOB, 1, 1), 1);
    }
    net.nodes[1].env.regions.insert(
        (1, 0x10),
        Region {
            data: vec![0; 64],
            writable: true,
            readable: true,
        },
    );
    net.capture = Some(Vec::new());
    let len = 20_000usize;
    let sends = [
        (Op::Send { tag: None }, Mode::Rud, true),
        (Op::Send { tag: None }, Mode::Rud, false),
        (Op::Send { tag: Some(0x99) }, Mode::Rud, true),
        (Op::Send { tag: None }, Mode::Rod, true),
    ];
    let atomic = |op, offset, operand, compare| Op::Atomic {
        key: 0x10,
        offset,
        op,
        operand,
        compare,
    };
    let atomics = [
        atomic(AtomicOp::FetchAdd, 0, 5, 0),
        atomic(AtomicOp::CmpSwap, 8, 7, 0),
        atomic(AtomicOp::Add, 16, 1, 0),
        atomic(AtomicOp::FetchAdd, 4, 1, 0),
    ];
    let mut user = 0u64;
    let mut late = Vec::new();
    let post = |net: &mut Net, op, mode, buf, len: usize, user| {
        let node = &mut net.nodes[0];
        let p = Post {
            user,
            dst: crate::sim::addr(1),
            target: SesAddr {
                ri_gen: 0,
                job: JOB,
                pid: 1,
                ri: 1,
            },
            mode,
            op,
            buf,
            len: len as u32,
            hdr_data: 0,
            with_data: false,
            tc: 0,
            initiator: 1,
        };
        let now = net.now;
        node.eng.post(now, &p, &mut node.env).expect("post");
    };
    for (op, mode, expected) in sends {
        user += 1;
        let tag = match op {
            Op::Send { tag: Some(t) } => Some((t, 0)),
            _ => None,
        };
        if expected {
            let node = &mut net.nodes[1];
            let rb = node.env.add_buf(vec![0; len]);
            node.eng
                .post_recv(1, user, rb, len as u32, tag, &mut node.env)
                .expect("receive");
        } else {
            late.push((user, tag));
        }
        let buf = net.nodes[0].env.add_buf(vec![user as u8; len]);
        post(&mut net, op, mode, buf, len, user);
    }
    for op in atomics {
        user += 1;
        let buf = net.nodes[0].env.add_buf(vec![0; 8]);
        post(&mut net, op, Mode::Rud, buf, 8, user);
    }
    net.run_for(net.now + 5_000_000);
    for (u, tag) in late {
        let node = &mut net.nodes[1];
        let rb = node.env.add_buf(vec![0; len]);
        node.eng
            .post_recv(1, u, rb, len as u32, tag, &mut node.env)
            .expect("receive");
    }
    assert!(net.run_until(net.now + 10_000_000_000, |n| {
        n.nodes[0].env.completions.len() == 8 && n.nodes[1].env.completions.len() == 4
    }));
    assert_eq!(net.nodes[1].eng.stats.rndv_reads, 4);
    assert_eq!(net.nodes[1].env.atomics, 3);
    net.run_for(net.now + 100_000_000);
    let cap = net.capture.take().expect("capture");
    cap.into_iter()
        .map(|(s, _, p)| (s == 0, 0xc000 | (p.len() as u16 & 0xff), p))
        .collect()
}

/// Captures of rendezvous sends and atomics built by the engine decode,
/// with their extensions, and pass `--check`, clean and under loss.
#[test]
fn check_captures_of_atomics_and_rendezvous() {
    for (loss, seed) in [(0.0, 5), (0.05, 6)] {
        let pkts = sim_run_ops(loss, seed);
        let (ok, out) = check_sim(&pkts);
        assert!(ok, "{out}");
        let file = sim_capture(&pkts);
        let (_, text) = output(&opts(false, false, None), &file);
        assert!(!text.contains("malformed"), "{text}");
        for want in [
            " RNDV_SEND ",
            " RNDV_TSEND ",
            "eager_length=4096",
            "read_offset=4096",
            "read_match_bits=0x",
            " FETCH_ATOMIC ",
            " ATOMIC ",
            "amo_code=2",
            "amo_code=13",
            "amo_datatype=7",
            "compare=",
            "swap=",
            "AMO_UNALIGNED",
            "RESPONSE_W_DATA",
            " READ ",
        ] {
            assert!(text.contains(want), "no {want:?} in:\n{text}");
        }
        // The keys are the engine's: bit 63 set.
        for l in text.lines().filter(|l| l.contains("read_match_bits=0x")) {
            let v = l.split("read_match_bits=0x").nth(1).unwrap();
            let v = v.split_whitespace().next().unwrap();
            assert!(u64::from_str_radix(v, 16).unwrap() >> 63 == 1, "{l}");
        }
        let (_, json) = output(&opts(true, false, None), &file);
        assert!(json.contains("\"eager_length\":4096"), "{json}");
        assert!(json.contains("\"amo_code\":13"), "{json}");
    }
}
