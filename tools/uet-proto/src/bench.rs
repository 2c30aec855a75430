// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Benchmarks (placeholder, filled below).

/// Runs every benchmark and prints one line per figure.
pub fn run() {}
