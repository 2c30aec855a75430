// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Fuzz entry points, called by the `cargo fuzz` targets in `fuzz/`.
//!
//! Each one panics only when a property is broken: a parser accepted bytes
//! it cannot emit back identically, or the engine misbehaved on hostile
//! input (panic, table overflow, state that does not drain).

use std::vec::Vec;

use crate::proto::engine::Config;
use crate::proto::ses::{Mode, Op, Post};
use crate::proto::wire::{self, pds, ses, NextHeader};
use crate::sim::{addr, Link, Net};

/// Parses a whole packet; anything accepted must re-emit to the same bytes.
pub fn parse_packet(data: &[u8]) {
    let Ok(p) = wire::parse(data) else {
        return;
    };
    let mut out = [0u8; 256];
    let n =
        wire::emit_headers(&p.pds, p.ses.as_ref(), &mut out).expect("accepted header must emit");
    let hdr = data.len() - p.payload.len();
    assert_eq!(n, hdr);
    assert_eq!(&out[..n], &data[..n]);
}

/// Parses a PDS header alone, with the same round-trip property.
pub fn parse_pds(data: &[u8]) {
    let Ok((h, rest)) = pds::parse(data) else {
        return;
    };
    let mut out = [0u8; 64];
    let n = pds::emit(&h, &mut out).expect("accepted PDS header must emit");
    assert_eq!(n, data.len() - rest.len());
    assert_eq!(&out[..n], &data[..n]);
}

/// Parses an SES header alone; the first byte picks the next-header code.
pub fn parse_ses(data: &[u8]) {
    let Some((&k, data)) = data.split_first() else {
        return;
    };
    let Ok(next) = NextHeader::from_u8(k % 7) else {
        return;
    };
    if next == NextHeader::None {
        return;
    }
    let Ok((h, rest)) = ses::parse(next, data) else {
        return;
    };
    let mut out = [0u8; 128];
    let n = ses::emit(&h, &mut out).expect("accepted SES header must emit");
    assert_eq!(n, data.len() - rest.len());
    assert_eq!(&out[..n], &data[..n]);
}

/// Feeds an engine with a live PDC both ways arbitrary packets and time
/// steps, interleaved with legitimate traffic, then checks that it still
/// works and drains.
pub fn engine(data: &[u8]) {
    let cfg = Config {
        mtu: 512,
        rto_init: 100_000,
        rto_min: 20_000,
        rto_max: 1_000_000,
        idle_close: 2_000_000,
        reap: 20_000_000,
        half_open: 1_000_000,
        one_rtt: data.first().is_some_and(|b| b & 1 != 0),
        ..Config::DEFAULT
    };
    let mut net = Net::new(2, cfg, Link::CLEAN, 1);
    for n in net.nodes.iter_mut() {
        n.env.jobs.insert((7, 1, 1), 1);
        n.env.regions.insert(
            (1, 0x10),
            crate::sim::Region {
                data: std::vec![0; 1 << 16],
                writable: true,
                readable: true,
            },
        );
    }
    let post = |net: &mut Net, user: u64, len: usize| {
        let node = &mut net.nodes[0];
        let buf = node.env.add_buf(std::vec![0x5a; len]);
        let p = Post {
            user,
            dst: addr(1),
            target: ses::SesAddr {
                ri_gen: 0,
                job: 7,
                pid: 1,
                ri: 1,
            },
            mode: Mode::Rud,
            op: Op::Write {
                key: 0x10,
                offset: 0,
            },
            buf,
            len: len as u32,
            hdr_data: 0,
        };
        let now = net.now;
        let _ = node.eng.post(now, &p, &mut node.env);
    };
    post(&mut net, 1, 1500);
    net.run_for(50_000);
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut user = 2;
    while let Some((&ctl, r)) = rest.split_first() {
        let len = usize::from(ctl & 0x3f).min(r.len());
        let (pkt, r2) = r.split_at(len);
        rest = r2;
        let mut p: Vec<u8> = pkt.to_vec();
        // Mostly well-formed prologues, so the fuzzer reaches deep states.
        if ctl & 0x40 != 0 && p.len() >= 2 {
            p[0] = (p[0] & 0x87) | 0x10;
        }
        let dst = usize::from(ctl >> 7);
        let now = net.now;
        let node = &mut net.nodes[dst];
        node.eng.receive(now, &addr(1 - dst), &p, &mut node.env);
        if ctl & 0x3f == 0x3f {
            post(&mut net, user, 700);
            user += 1;
        }
        net.run_for(net.now + 5_000);
    }
    // Whatever happened, a new operation still completes or fails cleanly
    // and every table drains.
    post(&mut net, 1000, 100);
    net.run_for(net.now + 2_000_000_000);
    for n in &net.nodes {
        assert_eq!(n.eng.usage(), (0, 0, 0, 0, 0));
    }
    let done = net.nodes[0].env.completions.len();
    assert!(done >= 1 && done <= user as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_entry_points_smoke() {
        let mut x = 12345u64;
        let mut buf = [0u8; 200];
        for _ in 0..2000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let n = (x % 200) as usize;
            parse_packet(&buf[..n]);
            parse_pds(&buf[..n]);
            parse_ses(&buf[..n]);
        }
        for s in 0..20u8 {
            let v: Vec<u8> = (0..120u8)
                .map(|i| i.wrapping_mul(31).wrapping_add(s))
                .collect();
            engine(&v);
        }
    }
}
