// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Prints the UET engine benchmark figures, one `name: value` per line.
//! `uet-bench debug GBPS DELAY_NS LOSS [rod]` prints the counters of one
//! goodput run instead, `uet-bench goodput GBPS DELAY_NS` the goodput
//! figures of one rate and delay, `uet-bench incast` one incast run.

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
    if a.get(1).map(String::as_str) == Some("incast") {
        uet_proto::bench::debug_incast();
        return;
    }
    uet_proto::bench::run();
}
