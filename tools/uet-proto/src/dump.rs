// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! `uet-dump`: UET packets of a pcap capture, decoded by the engine's own
//! wire parsers (`proto/wire.rs`), printed like tshark, and checked.
//!
//! [`main`] is the whole program; `src/bin/uet-dump.rs` only calls it.
//! Children: `pcap` (file format, link/IP/UDP layers), `fields` (names
//! and fields of the parsed headers) and `check` (`--check`).

use std::io::{
    Read,
    Write, //
};
use std::net::IpAddr;
use std::string::{
    String,
    ToString, //
};
use std::vec::Vec;
use std::{format, println};

use crate::proto::wire::{
    self,
    UDP_PORT, //
};

pub(crate) mod check;
pub(crate) mod fields;
pub(crate) mod pcap;

#[cfg(test)]
mod tests;

use fields::{
    Hdr,
    Val, //
};

/// What to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Opts {
    /// Capture file (`-` for standard input).
    pub(crate) file: String,
    /// One JSON object per packet.
    pub(crate) json: bool,
    /// Check the capture instead of printing it.
    pub(crate) check: bool,
    /// JobID every request must carry.
    pub(crate) job: Option<u32>,
}

const USAGE: &str = "usage: uet-dump -r FILE [--json] [--check [--job N]]
Decodes the UET datagrams (UDP port 4793) of a classic pcap capture
(tcpdump -w; Ethernet, Linux cooked SLL/SLL2 or raw IP) with the uet_soft
wire parsers and prints one line per packet: frame, time, addresses and
ports, PDS and SES fields; packets the parsers refuse print
\"malformed: <error>\".
  -r FILE    capture to read (- for standard input)
  --json     one JSON object per packet instead of text
  --check    print no packets; check that every UET datagram goes to UDP
             port 4793 and decodes, that every request carries the JobID
             (--job), that PSNs are contiguous per PDC and direction
             (retransmissions fill gaps) and that every request PSN was
             acknowledged; exit status 1 if not
  --job N    JobID (decimal or 0x hex) for --check
Exit status: 0 done (check passed), 1 check failed, 2 usage or file error.";

fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses the command line (without the program name).
pub(crate) fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-r" => file = Some(it.next().ok_or("-r needs a file")?.clone()),
            "--json" => o.json = true,
            "--check" => o.check = true,
            "--job" => {
                let v = it.next().ok_or("--job needs a JobID")?;
                let j = parse_num(v).filter(|&j| j <= 0xff_ffff);
                o.job = Some(j.ok_or_else(|| format!("bad JobID {v}: 24 bits"))?);
            }
            s if s.starts_with("-r") && s.len() > 2 => file = Some(s[2..].to_string()),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    o.file = file.ok_or("no capture file (-r FILE)")?;
    if o.job.is_some() && !o.check {
        return Err("--job goes with --check".into());
    }
    Ok(o)
}

fn endpoint(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v) => format!("{v}:{port}"),
        IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if u32::from(c) < 0x20 => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn text_hdr(h: &Hdr) -> String {
    let mut s = h.name.clone();
    if !h.flags.is_empty() {
        s.push_str(&format!(" [{}]", h.flags.join(",")));
    }
    for (k, v) in &h.fields {
        match v {
            Val::Num(n) => s.push_str(&format!(" {k}={n}")),
            Val::Hex(n) => s.push_str(&format!(" {k}={n:#x}")),
            Val::Str(t) => s.push_str(&format!(" {k}={t}")),
        }
    }
    s
}

fn json_hdr(h: &Hdr, kind: &str) -> String {
    let mut s = format!(
        "{{{}:{},\"flags\":[{}]",
        json_str(kind),
        json_str(&h.name),
        h.flags
            .iter()
            .map(|f| json_str(f))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (k, v) in &h.fields {
        let v = match v {
            Val::Num(n) => format!("{n}"),
            Val::Hex(n) => json_str(&format!("{n:#x}")),
            Val::Str(t) => json_str(t),
        };
        s.push_str(&format!(",{}:{v}", json_str(k)));
    }
    s.push('}');
    s
}

/// How one datagram decoded.
enum Body {
    Ok(Vec<Hdr>, usize),
    Malformed(String),
    Fragment,
}

/// Decodes the capture `file` as `o` asks and writes the output to `out`.
/// Returns whether `--check` passed (always true without it).
pub(crate) fn run(o: &Opts, file: &[u8], out: &mut dyn Write) -> Result<bool, String> {
    let cap = pcap::parse(file)?;
    let mut checker = check::Checker::new(o.job);
    let t0 = cap.records.first().map_or(0, |r| r.ts_ns);
    let w = |out: &mut dyn Write, s: &str| -> Result<(), String> {
        writeln!(out, "{s}").map_err(|e| format!("write: {e}"))
    };
    for (i, rec) in cap.records.iter().enumerate() {
        let frame = i as u64 + 1;
        let (src, dst, sport, dport, body) = match pcap::udp(cap.linktype, &rec.data) {
            pcap::Found::Udp(u) if u.sport == UDP_PORT || u.dport == UDP_PORT => {
                if u.truncated {
                    let why = "truncated by the snap length".to_string();
                    checker.undecoded(frame, Some(u.dport), why.clone());
                    (u.src, u.dst, u.sport, u.dport, Body::Malformed(why))
                } else {
                    let b = match wire::parse(u.payload) {
                        Ok(p) => {
                            checker.packet(
                                frame,
                                (u.src, u.sport),
                                (u.dst, u.dport),
                                Ok((&p.pds, p.ses.as_ref())),
                            );
                            Body::Ok(fields::packet(&p.pds, p.ses.as_ref()), p.payload.len())
                        }
                        Err(e) => {
                            checker.packet(frame, (u.src, u.sport), (u.dst, u.dport), Err(e));
                            Body::Malformed(format!("{e:?}"))
                        }
                    };
                    (u.src, u.dst, u.sport, u.dport, b)
                }
            }
            pcap::Found::Fragment {
                src,
                dst,
                ports: Some((sp, dp)),
            } if sp == UDP_PORT || dp == UDP_PORT => {
                checker.undecoded(frame, Some(dp), "IP fragment".to_string());
                (src, dst, sp, dp, Body::Fragment)
            }
            _ => continue,
        };
        if o.check {
            continue;
        }
        let ns = rec.ts_ns.saturating_sub(t0);
        let time = if cap.nanos {
            format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
        } else {
            format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
        };
        let line = if o.json {
            let mut s = format!(
                "{{\"frame\":{frame},\"time\":{time},\"src\":{},\"sport\":{sport},\"dst\":{},\"dport\":{dport}",
                json_str(&src.to_string()),
                json_str(&dst.to_string())
            );
            match &body {
                Body::Ok(h, plen) => {
                    s.push_str(&format!(",\"pds\":{}", json_hdr(&h[0], "type")));
                    if let Some(ses) = h.get(1) {
                        s.push_str(&format!(",\"ses\":{}", json_hdr(ses, "opcode")));
                    }
                    s.push_str(&format!(",\"payload_length\":{plen}"));
                }
                Body::Malformed(e) => s.push_str(&format!(",\"malformed\":{}", json_str(e))),
                Body::Fragment => s.push_str(",\"fragment\":true"),
            }
            s.push('}');
            s
        } else {
            let head = format!(
                "{frame:>6} {time} {} -> {}",
                endpoint(src, sport),
                endpoint(dst, dport)
            );
            match &body {
                Body::Ok(h, plen) => format!(
                    "{head} {} payload={plen}",
                    h.iter().map(text_hdr).collect::<Vec<_>>().join(" | ")
                ),
                Body::Malformed(e) => format!("{head} malformed: {e}"),
                Body::Fragment => format!("{head} IP fragment (not reassembled)"),
            }
        };
        w(out, &line)?;
    }
    if !o.check {
        return Ok(true);
    }
    let r = checker.report();
    for l in &r.lines {
        w(out, l)?;
    }
    Ok(r.ok)
}

/// The `uet-dump` program: `args` without the program name; returns the
/// exit status.
pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            std::eprintln!("uet-dump: {e}\n{USAGE}");
            return 2;
        }
    };
    let mut data = Vec::new();
    let read = if o.file == "-" {
        std::io::stdin().read_to_end(&mut data).map(|_| ())
    } else {
        std::fs::read(&o.file).map(|d| data = d)
    };
    if let Err(e) = read {
        std::eprintln!("uet-dump: {}: {e}", o.file);
        return 2;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = run(&o, &data, &mut out);
    let flushed = out.flush();
    match (res, flushed) {
        (Ok(ok), Ok(())) => i32::from(!ok),
        (Err(e), _) => {
            std::eprintln!("uet-dump: {}: {e}", o.file);
            2
        }
        (_, Err(e)) => {
            std::eprintln!("uet-dump: write: {e}");
            2
        }
    }
}
