// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| uet_proto::fuzz::parse_packet(data));
