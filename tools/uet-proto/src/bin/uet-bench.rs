// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Prints the UET engine benchmark figures, one `engine: name=value` per
//! line; `uet-bench only SECTION[,SECTION...]` runs only those sections
//! (`rate`, `memory`, `events`, `incast`, `goodput`, `jitter`).
//! `uet-bench debug GBPS DELAY_NS LOSS [rod]` prints the counters of one
//! goodput run instead, `uet-bench goodput GBPS DELAY_NS` the goodput
//! figures of one rate and delay, `uet-bench incast` one incast run,
//! `uet-bench jitter` the figures of the slow, jittery, lossless wire,
//! `uet-bench jitter-debug [fifo|spread|tail]` every timeout, probe and
//! RACK loss of its ping-pong.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::Ordering::Relaxed;

use uet_proto::bench::LIVE_BYTES;

/// The system allocator, counting live bytes in [`LIVE_BYTES`] (for the
/// memory figures: bytes of an engine's tables).
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; only a counter
// is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System.alloc`'s.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(l.size(), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System.alloc_zeroed`'s.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(l.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(p, l) };
        LIVE_BYTES.fetch_sub(l.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, size: usize) -> *mut u8 {
        // SAFETY: `p` came from `System`; the caller's contract is
        // `System.realloc`'s.
        let q = unsafe { System.realloc(p, l, size) };
        if !q.is_null() {
            LIVE_BYTES.fetch_add(size, Relaxed);
            LIVE_BYTES.fetch_sub(l.size(), Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

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
    if a.get(1).map(String::as_str) == Some("only") {
        let only: Vec<&str> = a.get(2).map_or("", String::as_str).split(',').collect();
        for s in &only {
            assert!(
                uet_proto::bench::SECTIONS.contains(s),
                "unknown section {s}; sections: {:?}",
                uet_proto::bench::SECTIONS
            );
        }
        uet_proto::bench::run(&only);
        return;
    }
    uet_proto::bench::run(&[]);
}
