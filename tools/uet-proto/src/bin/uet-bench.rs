// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Prints the UET engine benchmark figures, one `name: value` per line.

fn main() {
    uet_proto::bench::run();
}
