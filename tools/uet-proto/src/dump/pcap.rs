// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Classic pcap files (`tcpdump -w`) and the link, IP and UDP layers under
//! UET: Ethernet (with 802.1Q tags), Linux cooked captures (SLL and SLL2)
//! and raw IP, then IPv4 or IPv6 and UDP.

use std::format;
use std::net::{
    IpAddr,
    Ipv4Addr,
    Ipv6Addr, //
};
use std::string::String;
#[cfg(test)]
use std::vec;
use std::vec::Vec;

/// Link-layer header types (`LINKTYPE_*` of the pcap format).
pub(crate) mod linktype {
    /// Ethernet.
    pub(crate) const ETHERNET: u32 = 1;
    /// Raw IP (the value some BSDs write).
    pub(crate) const RAW_BSD: u32 = 12;
    /// Raw IP.
    pub(crate) const RAW: u32 = 101;
    /// Linux cooked capture v1 (`tcpdump -i any`, older libpcap).
    pub(crate) const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub(crate) const IPV4: u32 = 228;
    /// Raw IPv6.
    pub(crate) const IPV6: u32 = 229;
    /// Linux cooked capture v2 (`tcpdump -i any`).
    pub(crate) const LINUX_SLL2: u32 = 276;
}

/// One record of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// Capture time in ns since the epoch.
    pub(crate) ts_ns: u64,
    /// Length of the packet on the wire.
    pub(crate) orig_len: u32,
    /// The captured bytes (at most the snap length).
    pub(crate) data: Vec<u8>,
}

/// A whole capture file.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    /// Link-layer header type of every record.
    pub(crate) linktype: u32,
    /// True when the timestamps have nanosecond resolution.
    pub(crate) nanos: bool,
    /// The records, in file order.
    pub(crate) records: Vec<Record>,
}

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// Parses a classic pcap file (either byte order, micro- or nanosecond
/// timestamps). A record cut short at the end of the file (a capture that
/// was killed while writing) is dropped; anything else malformed is an
/// error.
pub(crate) fn parse(file: &[u8]) -> Result<Capture, String> {
    let hdr = file
        .get(..24)
        .ok_or("not a pcap file: shorter than its header")?;
    let word = |b: &[u8], le: bool| -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let (le, nanos) = match (word(hdr, true), word(hdr, false)) {
        (MAGIC_US, _) => (true, false),
        (MAGIC_NS, _) => (true, true),
        (_, MAGIC_US) => (false, false),
        (_, MAGIC_NS) => (false, true),
        _ if hdr[..4] == [0x0a, 0x0d, 0x0d, 0x0a] => {
            return Err("pcapng files are not supported: write a classic pcap \
                        (tcpdump -w, or editcap -F pcap)"
                .into())
        }
        _ => return Err("not a pcap file: bad magic number".into()),
    };
    // The top bits of the link-type word hold FCS information.
    let linktype = word(&hdr[20..], le) & 0x0fff_ffff;
    let mut records = Vec::new();
    let mut off = 24;
    while off < file.len() {
        let Some(rh) = file.get(off..off + 16) else {
            break;
        };
        let sec = u64::from(word(rh, le));
        let frac = u64::from(word(&rh[4..], le));
        let incl = word(&rh[8..], le);
        let orig_len = word(&rh[12..], le);
        let incl_us = usize::try_from(incl).map_err(|_| "record too large")?;
        if incl_us > 1 << 26 {
            return Err(format!(
                "record {} at offset {off}: implausible length {incl}",
                records.len() + 1
            ));
        }
        let Some(data) = file.get(off + 16..off + 16 + incl_us) else {
            break;
        };
        let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        records.push(Record {
            ts_ns,
            orig_len,
            data: data.to_vec(),
        });
        off += 16 + incl_us;
    }
    Ok(Capture {
        linktype,
        nanos,
        records,
    })
}

/// Writes a classic little-endian pcap file with nanosecond timestamps.
#[cfg(test)]
pub(crate) fn write(linktype: u32, records: &[Record]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAGIC_NS.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&262_144u32.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    for r in records {
        // CAST: the quotient of a u64 by 1e9 fits in u32 until 2106.
        v.extend_from_slice(&((r.ts_ns / 1_000_000_000) as u32).to_le_bytes());
        // CAST: below 1e9.
        v.extend_from_slice(&((r.ts_ns % 1_000_000_000) as u32).to_le_bytes());
        let n = u32::try_from(r.data.len()).unwrap_or(u32::MAX);
        v.extend_from_slice(&n.to_le_bytes());
        v.extend_from_slice(&r.orig_len.to_le_bytes());
        v.extend_from_slice(&r.data);
    }
    v
}

/// A UDP datagram found in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Udp<'a> {
    /// Source address.
    pub(crate) src: IpAddr,
    /// Destination address.
    pub(crate) dst: IpAddr,
    /// Source port.
    pub(crate) sport: u16,
    /// Destination port.
    pub(crate) dport: u16,
    /// The UDP payload as captured.
    pub(crate) payload: &'a [u8],
    /// The snap length cut the payload short.
    pub(crate) truncated: bool,
}

/// What a record holds, as far as UET is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    /// Not an IP/UDP packet.
    Other,
    /// A UDP datagram.
    Udp(Udp<'a>),
    /// An IP fragment (not reassembled); the ports are known for the
    /// first fragment only.
    Fragment {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// `(source, destination)` ports of a first fragment.
        ports: Option<(u16, u16)>,
    },
    /// An IP/UDP packet whose headers are broken.
    Bad(&'static str),
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Finds the UDP datagram in one record of link type `linktype`.
pub(crate) fn udp(linktype: u32, data: &[u8]) -> Found<'_> {
    let (ethertype, l3) = match linktype {
        linktype::ETHERNET => {
            let mut at = 12;
            let mut et = match be16(data, at) {
                Some(v) => v,
                None => return Found::Other,
            };
            // 802.1Q and 802.1ad tags.
            while et == 0x8100 || et == 0x88a8 {
                at += 4;
                et = match be16(data, at) {
                    Some(v) => v,
                    None => return Found::Other,
                };
            }
            (et, &data[(at + 2).min(data.len())..])
        }
        linktype::LINUX_SLL => match be16(data, 14) {
            Some(et) => (et, &data[16.min(data.len())..]),
            None => return Found::Other,
        },
        linktype::LINUX_SLL2 => match be16(data, 0) {
            Some(et) if data.len() >= 20 => (et, &data[20..]),
            _ => return Found::Other,
        },
        linktype::RAW | linktype::RAW_BSD => match data.first().map(|b| b >> 4) {
            Some(4) => (0x0800, data),
            Some(6) => (0x86dd, data),
            _ => return Found::Other,
        },
        linktype::IPV4 => (0x0800, data),
        linktype::IPV6 => (0x86dd, data),
        _ => return Found::Other,
    };
    match ethertype {
        0x0800 => ipv4(l3),
        0x86dd => ipv6(l3),
        _ => Found::Other,
    }
}

fn ipv4(b: &[u8]) -> Found<'_> {
    if b.len() < 20 {
        return Found::Other;
    }
    if b[0] >> 4 != 4 {
        return Found::Bad("IPv4 header with another version");
    }
    if b[9] != 17 {
        return Found::Other;
    }
    let ihl = usize::from(b[0] & 0xf) * 4;
    let total = usize::from(be16(b, 2).unwrap_or(0));
    if ihl < 20 || total < ihl {
        return Found::Bad("IPv4 header length");
    }
    let src = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19]));
    let frag = be16(b, 6).unwrap_or(0);
    // Ethernet padding follows short packets: the IP length is the truth.
    let body = &b[ihl.min(b.len())..total.min(b.len())];
    let truncated = total > b.len();
    if frag & 0x3fff != 0 {
        let first = frag & 0x1fff == 0;
        return Found::Fragment {
            src,
            dst,
            ports: if first { ports(body) } else { None },
        };
    }
    udp_in(src, dst, body, truncated)
}

fn ipv6(b: &[u8]) -> Found<'_> {
    if b.len() < 40 {
        return Found::Other;
    }
    if b[0] >> 4 != 6 {
        return Found::Bad("IPv6 header with another version");
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[8..24]);
    let src = IpAddr::V6(Ipv6Addr::from(a));
    a.copy_from_slice(&b[24..40]);
    let dst = IpAddr::V6(Ipv6Addr::from(a));
    let plen = usize::from(be16(b, 4).unwrap_or(0));
    let truncated = 40 + plen > b.len();
    let mut body = &b[40..(40 + plen).min(b.len())];
    let mut next = b[6];
    loop {
        match next {
            17 => return udp_in(src, dst, body, truncated),
            // Hop-by-hop, routing and destination options.
            0 | 43 | 60 => {
                let (Some(&nh), Some(&l)) = (body.first(), body.get(1)) else {
                    return Found::Bad("IPv6 extension header");
                };
                let n = (usize::from(l) + 1) * 8;
                if n > body.len() {
                    return Found::Bad("IPv6 extension header");
                }
                next = nh;
                body = &body[n..];
            }
            44 => {
                let (Some(&nh), Some(fo)) = (body.first(), be16(body, 2)) else {
                    return Found::Bad("IPv6 fragment header");
                };
                let first = fo & 0xfff8 == 0;
                return Found::Fragment {
                    src,
                    dst,
                    ports: if first && nh == 17 {
                        ports(body.get(8..).unwrap_or(&[]))
                    } else {
                        None
                    },
                };
            }
            _ => return Found::Other,
        }
    }
}

fn ports(udp: &[u8]) -> Option<(u16, u16)> {
    Some((be16(udp, 0)?, be16(udp, 2)?))
}

fn udp_in(src: IpAddr, dst: IpAddr, b: &[u8], ip_truncated: bool) -> Found<'_> {
    let Some((sport, dport)) = ports(b) else {
        return if ip_truncated {
            Found::Other
        } else {
            Found::Bad("UDP header truncated")
        };
    };
    let ulen = usize::from(be16(b, 4).unwrap_or(0));
    if b.len() < 8 || ulen < 8 || (!ip_truncated && ulen > b.len()) {
        return Found::Bad("UDP length");
    }
    let end = ulen.min(b.len());
    Found::Udp(Udp {
        src,
        dst,
        sport,
        dport,
        payload: &b[8..end],
        truncated: ulen > b.len(),
    })
}

/// Builds an Ethernet/IP/UDP frame around `payload`: IPv4 when both
/// addresses are IPv4, else IPv6 (IPv4 ones mapped).
#[cfg(test)]
pub(crate) fn frame(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = Vec::with_capacity(8 + payload.len());
    let ulen = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&ulen.to_be_bytes());
    // A zero checksum: not computed (valid for IPv4; the decoder does not
    // check it either way).
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let tot = u16::try_from(20 + udp.len()).unwrap_or(u16::MAX);
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&tot.to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let mut sum = 0u32;
            for c in ip.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            // CAST: folded to 16 bits above.
            let ck = !(sum as u16);
            ip[10..12].copy_from_slice(&ck.to_be_bytes());
            f.extend_from_slice(&ip);
        }
        _ => {
            let to6 = |a: IpAddr| match a {
                IpAddr::V4(v) => v.to_ipv6_mapped(),
                IpAddr::V6(v) => v,
            };
            f.extend_from_slice(&[0x86, 0xdd]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&ulen.to_be_bytes());
            f.extend_from_slice(&[17, 64]);
            f.extend_from_slice(&to6(src).octets());
            f.extend_from_slice(&to6(dst).octets());
        }
    }
    f.extend_from_slice(&udp);
    f
}
