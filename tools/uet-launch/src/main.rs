// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
//! uet-launch: create a UET job on `/dev/infiniband/job` and start the ranks
//! of a program in it. See `uet-launch --help` and
//! `Documentation/userspace-api/rdma_job.rst`.

mod args;
mod job;
mod launch;

use std::io;
use std::process::ExitCode;

use args::Command;
use args::USAGE;

fn main() -> ExitCode {
    match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run(opts)) => ExitCode::from(launch::run(&opts)),
        Err(args::UsageError(msg)) => {
            eprintln!("uet-launch: {msg}");
            eprintln!("Try 'uet-launch --help' for more information.");
            ExitCode::from(2)
        }
    }
}

/// The message of an OS error without Rust's " (os error N)" suffix,
/// lower-case like coreutils prints it.
pub(crate) fn os_msg(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
