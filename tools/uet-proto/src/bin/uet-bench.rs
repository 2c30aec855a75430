// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Prints the UET engine benchmark figures, one `name: value` per line.
//! `uet-bench debug GBPS DELAY_NS LOSS [rod]` prints the counters of one
//! goodput run instead, `uet-bench goodput GBPS DELAY_NS` the goodput
//! figures of one rate and delay, `uet-bench incast` one incast run,
//! `uet-bench jitter` the figures of the slow, jittery, lossless wire,
//! `uet-bench jitter-debug [fifo|spread|tail]` every timeout, probe and
//! RACK loss of its ping-pong.

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.get(1).map(String::as_str) == Some("debug") {
        let gbps = a[2].parse().expect("Gbit/s");
        let delay = a[3].parse().expect("delay ns");
        let loss = a[4].parse().expect("loss");
        uet_proto::bench::debug_run(gbps, delay, loss, a.get(5).is_some());
        return;
    }
    if a.get(1).map(String::as_str) == Some("goodput") {
        let gbps = a[2].parse().expect("Gbit/s");
        let delay = a[3].parse().expect("delay ns");
        uet_proto::bench::debug_goodput(gbps, delay);
        return;
    }
    if a.get(1).map(String::as_str) == Some("jitter-debug") {
        let w = match a.get(2).map(String::as_str) {
            Some("spread") => uet_proto::bench::Wire::Spread,
            Some("tail") => uet_proto::bench::Wire::Tail,
            _ => uet_proto::bench::Wire::Fifo,
        };
        uet_proto::bench::pingpong_dbg(w, 1000, 1, true);
        return;
    }
    if a.get(1).map(String::as_str) == Some("jitter") {
        uet_proto::bench::print_jitter();
        return;
    }
    if a.get(1).map(String::as_str) == Some("incast") {
        uet_proto::bench::debug_incast();
        return;
    }
    uet_proto::bench::run();
}
