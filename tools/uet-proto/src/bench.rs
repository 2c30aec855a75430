// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Benchmarks of the engine, printed one figure per line (`name: value`).
//!
//! - `rud_4k_pps_per_core`: 4 KiB RUD sends through PDS+SES of both
//!   engines (segmentation, headers, matching, copy, ACK), one core, no
//!   simulator in between: packets moved straight from one outbox to the
//!   other engine.
//! - `ack_rx_per_sec`: ACKs processed per second by the sending engine
//!   (time spent in `receive` for ACK packets only).
//! - `event_ns_with_N_pdcs`, `next_deadline_ns_with_N_pdcs`,
//!   `establish_us_per_pdc_with_N_pdcs`: cost per packet event (receive,
//!   plus the deadline query and any due timers) of an engine that has N
//!   other PDCs open, the cost of `next_deadline` alone, and the time to
//!   open each of those PDCs (one SYN each). Flat is the goal.
//! - `rud_goodput_gbps_at_*_loss` and `rud_goodput_ratio_at_*_loss`: 1 MiB
//!   RUD messages through the simulator on a 10 Gbit/s, 2 us link at 0%,
//!   0.1%, 1% and 5% random loss, and the ratio to the lossless figure.

use std::time::Instant;
use std::vec::Vec;
use std::{print, println, vec};

use crate::proto::engine::Config;
use crate::proto::ses::{CompKind, Mode, Op, Post};
use crate::proto::wire::ses::SesAddr;
use crate::sim::{addr, Link, Net};

const TARGET: SesAddr = SesAddr {
    ri_gen: 0,
    job: 7,
    pid: 1,
    ri: 1,
};

fn setup(net: &mut Net) {
    for n in net.nodes.iter_mut() {
        n.env.jobs.insert((7, 1, 1), 1);
    }
}

fn post_send(net: &mut Net, user: u64, buf: u64, len: u32) -> bool {
    let node = &mut net.nodes[0];
    let p = Post {
        user,
        dst: addr(1),
        target: TARGET,
        mode: Mode::Rud,
        op: Op::Send { tag: None },
        buf,
        len,
        hdr_data: 0,
        tc: 0,
    };
    let now = net.now;
    node.eng.post(now, &p, &mut node.env).is_ok()
}

/// Direct engine-to-engine loop: returns (data packets/s, ACKs/s).
fn pps_4k(total: u64) -> (f64, f64) {
    let mut net = Net::new(2, Config::DEFAULT, Link::CLEAN, 1);
    setup(&mut net);
    let src = net.nodes[0].env.add_buf(vec![0xab; 4096]);
    let dst = net.nodes[1].env.add_buf(vec![0; 4096]);
    let mut posted = 0u64;
    let mut acks = 0u64;
    let mut ack_time = 0f64;
    let t0 = Instant::now();
    let mut now = 0u64;
    while (net.nodes[0].env.completions.len() as u64) < total {
        // Keep 48 sends and receives outstanding.
        while posted < total && posted - (net.nodes[0].env.completions.len() as u64) < 48 {
            let n = &mut net.nodes[1];
            n.eng
                .post_recv(1, posted, dst, 4096, None, &mut n.env)
                .unwrap();
            net.now = now;
            assert!(post_send(&mut net, posted, src, 4096));
            posted += 1;
        }
        now += 1_000;
        let out: Vec<_> = std::mem::take(&mut net.nodes[0].env.outbox);
        for (_, _, p) in &out {
            let n = &mut net.nodes[1];
            n.eng.receive(now, &addr(0), p, &mut n.env);
        }
        n1_timers(&mut net, now);
        let back: Vec<_> = std::mem::take(&mut net.nodes[1].env.outbox);
        let t = Instant::now();
        for (_, _, p) in &back {
            let n = &mut net.nodes[0];
            n.eng.receive(now, &addr(1), p, &mut n.env);
        }
        ack_time += t.elapsed().as_secs_f64();
        acks += back.len() as u64;
        net.nodes[1].env.completions.clear();
        if net.nodes[0].env.completions.len() as u64 >= total {
            break;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    (total as f64 / dt, acks as f64 / ack_time.max(1e-9))
}

fn n1_timers(net: &mut Net, now: u64) {
    for n in net.nodes.iter_mut() {
        if n.eng.next_deadline().is_some_and(|d| d <= now) {
            n.eng.on_timer(now, &mut n.env);
        }
    }
}

/// Simulated goodput in Gbit/s of `count` 1 MiB RUD messages.
fn goodput(loss: f64, count: u64, seed: u64) -> f64 {
    let link = Link {
        loss,
        delay: 2_000,
        bandwidth: 10_000_000_000,
        ..Link::CLEAN
    };
    let cfg = Config {
        rto_min: 50_000,
        rto_init: 200_000,
        ..Config::DEFAULT
    };
    let mut net = Net::new(2, cfg, link, seed);
    setup(&mut net);
    let len = 1u32 << 20;
    let src = net.nodes[0].env.add_buf(vec![0xcd; len as usize]);
    for i in 0..count {
        let dst = net.nodes[1].env.add_buf(vec![0; len as usize]);
        let n = &mut net.nodes[1];
        n.eng.post_recv(1, i, dst, len, None, &mut n.env).unwrap();
        assert!(post_send(&mut net, i, src, len));
    }
    let ok = net.run_until(100_000_000_000, |n| {
        n.nodes[1]
            .env
            .completions
            .iter()
            .filter(|c| c.kind == CompKind::Recv)
            .count() as u64
            == count
    });
    assert!(ok, "goodput run did not finish");
    (count * u64::from(len) * 8) as f64 / net.now as f64
}

/// Per-event cost of engine A with `idle` other PDCs open: returns (ns per
/// packet handled by A on a 4 KiB RUD write flow from B, including the
/// `next_deadline` call after each, ns per `next_deadline` call, us to
/// establish each idle PDC).
fn event_cost(idle: usize) -> (f64, f64, f64) {
    use crate::proto::engine::Engine;
    use crate::proto::wire::pds::{PdcDst, PdsHeader, ReqHdr};
    use crate::proto::wire::ses::{op, sflags, ReqBody, ReqExt, SesHeader, SesReq, StdData};
    use crate::proto::wire::{emit_headers, NextHeader};
    use crate::sim::{tables, Region};
    let cfg = Config {
        idle_close: u64::MAX / 4,
        reap: u64::MAX / 4,
        half_open: u64::MAX / 4,
        ..Config::DEFAULT
    };
    let mut net = Net::new(2, cfg, Link::CLEAN, 1);
    setup(&mut net);
    *net.nodes[0].eng =
        Engine::new(Config { seed: 11, ..cfg }, tables(idle + 16, 256, 256)).unwrap();
    net.nodes[0].env.regions.insert(
        (1, 0x10),
        Region {
            data: vec![0; 1 << 20],
            writable: true,
            readable: true,
        },
    );
    // Open `idle` target PDCs on A from as many peers, one SYN each.
    let mut pkt = [0u8; 256];
    let t0 = Instant::now();
    for i in 0..idle {
        let h = PdsHeader::Req(ReqHdr {
            ordered: false,
            cc: None,
            next: NextHeader::ReqStd,
            retx: false,
            ar: true,
            clear_psn_offset: 0,
            psn: 1000,
            spdcid: 1,
            dst: PdcDst::Syn {
                use_rsv_pdc: false,
                psn_offset: 0,
            },
        });
        let ses = SesHeader::Req(SesReq {
            opcode: op::WRITE,
            flags: sflags::SOM | sflags::EOM,
            addr: TARGET,
            body: ReqBody::Std {
                msg_id: 0,
                buffer_offset: 0,
                initiator: 0,
                key: 0x10,
                data: StdData::HeaderData(0),
                request_length: 1,
            },
            ext: ReqExt::None,
        });
        let n = emit_headers(&h, Some(&ses), &mut pkt).unwrap();
        pkt[n] = 1;
        // Peers 10.x.y.z outside the simulator's node range.
        let mut a = addr(0);
        a[13] = 1 + (i >> 8) as u8;
        a[14] = (i >> 16) as u8;
        a[15] = i as u8;
        let node = &mut net.nodes[0];
        node.eng.receive(0, &a, &pkt[..n + 1], &mut node.env);
        node.env.outbox.clear();
    }
    let est = t0.elapsed().as_secs_f64() * 1e6 / idle.max(1) as f64;
    assert_eq!(
        net.nodes[0].eng.usage().0,
        idle,
        "{:?} {:?}",
        net.nodes[0].eng.usage(),
        net.nodes[0].eng.stats
    );
    // next_deadline alone.
    let reps = 1_000_000u32;
    let t = Instant::now();
    let mut sink = 0u64;
    for _ in 0..reps {
        let e = std::hint::black_box(&net.nodes[0].eng);
        sink = sink.wrapping_add(e.next_deadline().unwrap_or(0));
    }
    let nd = t.elapsed().as_secs_f64() * 1e9 / f64::from(reps);
    assert!(sink > 0);
    // A 4 KiB write flow from B to A: time only A's work.
    let src = net.nodes[1].env.add_buf(vec![0xab; 4096]);
    let total = 20_000u64;
    let mut posted = 0u64;
    let mut handled = 0u64;
    let mut a_time = 0f64;
    let mut now = 1u64;
    while (net.nodes[1].env.completions.len() as u64) < total {
        while posted < total && posted - (net.nodes[1].env.completions.len() as u64) < 32 {
            let node = &mut net.nodes[1];
            let p = Post {
                user: posted,
                dst: addr(0),
                target: TARGET,
                mode: Mode::Rud,
                op: Op::Write {
                    key: 0x10,
                    offset: 0,
                },
                buf: src,
                len: 4096,
                hdr_data: 0,
                tc: 0,
            };
            node.eng.post(now, &p, &mut node.env).unwrap();
            posted += 1;
        }
        now += 1_000;
        let out: Vec<_> = std::mem::take(&mut net.nodes[1].env.outbox);
        let t = Instant::now();
        for (_, _, p) in &out {
            let n = &mut net.nodes[0];
            n.eng.receive(now, &addr(1), p, &mut n.env);
            if n.eng.next_deadline().is_some_and(|d| d <= now) {
                n.eng.on_timer(now, &mut n.env);
            }
        }
        a_time += t.elapsed().as_secs_f64();
        handled += out.len() as u64;
        let back: Vec<_> = std::mem::take(&mut net.nodes[0].env.outbox);
        for (_, _, p) in &back {
            let n = &mut net.nodes[1];
            n.eng.receive(now, &addr(0), p, &mut n.env);
        }
        let n = &mut net.nodes[1];
        if n.eng.next_deadline().is_some_and(|d| d <= now) {
            n.eng.on_timer(now, &mut n.env);
        }
    }
    (a_time * 1e9 / handled as f64, nd, est)
}

/// Runs every benchmark and prints one line per figure.
pub fn run() {
    for (name, idle) in [("10", 10), ("1k", 1_000), ("16k", 16_000), ("64k", 65_000)] {
        let (ev, nd, est) = event_cost(idle);
        println!("event_ns_with_{name}_pdcs: {ev:.0}");
        println!("next_deadline_ns_with_{name}_pdcs: {nd:.1}");
        println!("establish_us_per_pdc_with_{name}_pdcs: {est:.2}");
    }
    let (pps, acks) = pps_4k(200_000);
    println!("rud_4k_pps_per_core: {pps:.0}");
    println!("rud_4k_gbps_per_core: {:.2}", pps * 4096.0 * 8.0 / 1e9);
    println!("ack_rx_per_sec: {acks:.0}");
    let mut base = 0.0;
    for (name, loss) in [
        ("0", 0.0),
        ("0p1pct", 0.001),
        ("1pct", 0.01),
        ("5pct", 0.05),
    ] {
        // Average three seeds to smooth tail effects.
        let g = (1..=3).map(|s| goodput(loss, 16, s)).sum::<f64>() / 3.0;
        if loss == 0.0 {
            base = g;
            println!("rud_goodput_gbps_at_0pct_loss: {g:.3}");
        } else {
            println!("rud_goodput_gbps_at_{name}_loss: {g:.3}");
            println!("rud_goodput_ratio_at_{name}_loss: {:.3}", g / base);
        }
    }
    print!("");
}
