// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `uet-dump`: decodes the UET packets of a capture with uet_soft's own
//! wire parsers, like tshark, and checks a run's capture.
//!
//! ```text
//! tcpdump -i veth0 -w run.pcap udp port 4793     # during the run
//! uet-dump -r run.pcap                           # one line per packet
//! uet-dump -r run.pcap --json                    # one JSON object per packet
//! uet-dump -r run.pcap --check --job 9           # exit status 0: all good
//! ```
//!
//! It reads classic pcap files (`tcpdump -w`; micro- or nanosecond
//! timestamps, either byte order) of link type Ethernet (802.1Q tags
//! skipped), Linux cooked SLL and SLL2 (`-i any`) or raw IP, takes the
//! IPv4 and IPv6 UDP datagrams from or to port 4793 and parses their
//! payload with `drivers/infiniband/ultraeth/proto/wire.rs`, the parser
//! the kernel module runs. Each line shows the frame number, the time
//! since the first frame, `src:port -> dst:port`, the PDS header (type,
//! flags, PSN, PDC ids, clear PSN, ACK/SACK fields, NACK code, CTRL type)
//! and the SES header (opcode, flags SOM/EOM/..., JobID, PIDonFEP,
//! resource index, message id, initiator, offsets, lengths, return code),
//! then the payload length. Packets the parser refuses print
//! `malformed: <error>`.
//!
//! `--check` prints a report instead: every UET datagram goes to UDP port
//! 4793 and decodes; every SES request carries the JobID of `--job`;
//! per PDC and direction the request PSNs are contiguous from the PDC's
//! start PSN (a PSN first seen after a higher one must be a RETX
//! retransmission, as when netem dropped the original before the capture
//! point); every request PSN is acknowledged by a later ACK (cumulative
//! ACK PSN or SACK bit). Exit status 1 when a check fails, 2 on usage or
//! file errors. The code is `tools/uet-proto/src/dump.rs` and its children.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(uet_proto::dump::main(&args));
}
