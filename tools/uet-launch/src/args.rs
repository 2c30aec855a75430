// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
//! Command line of uet-launch (parsed by hand: std only).

use std::ffi::OsString;
use std::time::Duration;

use crate::job::RDMA_JOB_UET_MAX_JOB_ID;
use crate::job::RDMA_JOB_UET_MAX_PID_ON_FEP;
use crate::job::RDMA_JOB_UET_MAX_TC;

/// Most ranks one launcher starts.
pub const MAX_RANKS: u32 = 4096;

pub const USAGE: &str = "\
Usage: uet-launch [OPTIONS] -n N [--] PROGRAM [ARGS...]

Create a UET job on /dev/infiniband/job and run N ranks of PROGRAM in it.

Each rank inherits a member descriptor of its own (the capability to join
the job: pass it to uetdv_join_job(); it cannot seal, revoke or realize the
job) and gets the environment
  UET_JOB_FD   number of the inherited member descriptor
  UET_JOB_ID   the job's UET JobID
  UET_RANK     0 .. N-1
  UET_SIZE     N
Ranks run in their own process groups. SIGINT, SIGTERM and SIGHUP sent to
uet-launch are forwarded to every rank. If a rank fails (non-zero exit or
killed by a signal), the other ranks get SIGTERM, then SIGKILL after the
grace period, and uet-launch exits with the failed rank's status (128+SIG
for a signal). When all ranks are done, the job is revoked.

Options:
  -n, --ranks N          number of ranks to start (1..4096), required
  -j, --job-id N|auto    UET JobID, 1..16777215 (0x prefix for hex), or
                         auto (default): the kernel picks a free one
      --tc N             traffic class of the job, 0..15 (default 0)
      --pid-base N       first PIDonFEP of the job, 0..4095 (default 0)
      --endpoints N      PIDonFEPs of the job, from --pid-base on
                         (default: all up to 4095)
      --seal             seal the job once all N ranks have joined it (a
                         rank counts once, however many contexts it
                         joins; no one else can join it afterwards); if
                         that does not happen within --seal-timeout, the
                         ranks are terminated and uet-launch fails
      --seal-timeout S   seconds to wait for the ranks (default 30)
      --grace S          seconds between SIGTERM and SIGKILL (default 5)
  -v, --verbose          report the job and each rank's exit
  -h, --help             show this help

Exit status: the first failed rank's status, else 0; 1 if the job could not
be created; 2 for bad arguments; 126 if PROGRAM cannot be executed; 127 if
PROGRAM is not found.

Access to /dev/infiniband/job is decided by its file permissions (root
only by default; see Documentation/userspace-api/rdma_job.rst).
";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `None`: allocated by the kernel.
    pub job_id: Option<u32>,
    pub tc: u8,
    pub pid_base: u16,
    pub endpoints: u16,
    pub seal: bool,
    pub seal_timeout: Duration,
    pub grace: Duration,
    pub ranks: u32,
    pub verbose: bool,
    pub program: OsString,
    pub args: Vec<OsString>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(Options),
}

/// A bad command line; the message is printed after "uet-launch: ".
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// Parse a decimal or 0x-prefixed hexadecimal number in `lo..=hi`.
fn number(opt: &str, v: &str, lo: u64, hi: u64) -> Result<u64, UsageError> {
    let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(h, 16).ok()
        }
        Some(_) => None,
        None if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v.parse().ok(),
        None => None,
    };
    match n {
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        Some(_) => err(format!("{opt} {v}: out of range ({lo}..{hi})")),
        None => err(format!("{opt} {v}: not a number")),
    }
}

fn seconds(opt: &str, v: &str) -> Result<Duration, UsageError> {
    Ok(Duration::from_secs(number(opt, v, 0, 86400)?))
}

/// Parse the arguments after the program name.
pub fn parse<I>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = OsString>,
{
    let mut it = args.into_iter();
    let mut job_id = None;
    let mut tc = 0;
    let mut pid_base = 0;
    let mut endpoints = None;
    let mut seal = false;
    let mut seal_timeout = Duration::from_secs(30);
    let mut grace = Duration::from_secs(5);
    let mut ranks = None;
    let mut verbose = false;
    let mut program = None;

    while let Some(a) = it.next() {
        let Some(s) = a.to_str() else {
            // not UTF-8: cannot be an option of ours
            program = Some(a);
            break;
        };
        if s == "--" {
            program = it.next();
            if program.is_none() {
                return err("no PROGRAM after --");
            }
            break;
        }
        if !s.starts_with('-') || s == "-" {
            program = Some(a);
            break;
        }
        // --opt=value, -nVALUE or --opt value
        let (name, inline) = if let Some(long) = s.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (s.to_string(), None),
            }
        } else if s.len() > 2 {
            (s[..2].to_string(), Some(s[2..].to_string()))
        } else {
            (s.to_string(), None)
        };
        let takes_value = matches!(
            name.as_str(),
            "-n" | "--ranks"
                | "-j"
                | "--job-id"
                | "--tc"
                | "--pid-base"
                | "--endpoints"
                | "--seal-timeout"
                | "--grace"
        );
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => match it.next() {
                    Some(v) => v
                        .into_string()
                        .map_err(|_| UsageError(format!("{name}: value is not valid UTF-8")))?,
                    None => return err(format!("option {name} needs a value")),
                },
            }
        } else {
            if inline.is_some() {
                return err(format!("option {name} takes no value"));
            }
            String::new()
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-v" | "--verbose" => verbose = true,
            "--seal" => seal = true,
            "-n" | "--ranks" => ranks = Some(number(&name, &value, 1, MAX_RANKS.into())? as u32),
            "-j" | "--job-id" => {
                job_id = if value == "auto" {
                    None
                } else {
                    Some(number(&name, &value, 1, RDMA_JOB_UET_MAX_JOB_ID.into())? as u32)
                }
            }
            "--tc" => tc = number(&name, &value, 0, RDMA_JOB_UET_MAX_TC.into())? as u8,
            "--pid-base" => {
                pid_base = number(&name, &value, 0, RDMA_JOB_UET_MAX_PID_ON_FEP.into())? as u16
            }
            "--endpoints" => {
                endpoints =
                    Some(
                        number(&name, &value, 1, u64::from(RDMA_JOB_UET_MAX_PID_ON_FEP) + 1)?
                            as u16,
                    )
            }
            "--seal-timeout" => seal_timeout = seconds(&name, &value)?,
            "--grace" => grace = seconds(&name, &value)?,
            _ => return err(format!("unknown option {name}")),
        }
    }

    let Some(program) = program else {
        return err("no PROGRAM to run");
    };
    let Some(ranks) = ranks else {
        return err("the number of ranks (-n N) is required");
    };
    let room = RDMA_JOB_UET_MAX_PID_ON_FEP + 1 - u32::from(pid_base);
    let endpoints = match endpoints {
        None => room as u16,
        Some(e) if u32::from(e) <= room => e,
        Some(e) => {
            return err(format!(
                "--pid-base {pid_base} --endpoints {e}: the PIDonFEPs end at {}",
                RDMA_JOB_UET_MAX_PID_ON_FEP
            ))
        }
    };
    Ok(Command::Run(Options {
        job_id,
        tc,
        pid_base,
        endpoints,
        seal,
        seal_timeout,
        grace,
        ranks,
        verbose,
        program,
        args: it.collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn run(args: &[&str]) -> Options {
        match p(args) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn bad(args: &[&str]) -> String {
        match p(args) {
            Err(UsageError(m)) => m,
            other => panic!("{args:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&["-n", "2", "--", "prog", "a", "-n", "--", "b"]);
        assert_eq!(o.ranks, 2);
        assert_eq!(o.job_id, None);
        assert_eq!((o.tc, o.pid_base, o.endpoints), (0, 0, 4096));
        assert!(!o.seal && !o.verbose);
        assert_eq!(o.seal_timeout, Duration::from_secs(30));
        assert_eq!(o.grace, Duration::from_secs(5));
        assert_eq!(o.program, "prog");
        assert_eq!(o.args, ["a", "-n", "--", "b"]);
    }

    #[test]
    fn all_options_and_forms() {
        let o = run(&[
            "--job-id=77",
            "--tc",
            "15",
            "--seal",
            "--pid-base",
            "0x10",
            "--endpoints=32",
            "--seal-timeout",
            "3",
            "--grace=1",
            "-v",
            "-n4",
            "sh",
            "-c",
            "true",
        ]);
        assert_eq!(o.job_id, Some(77));
        assert_eq!((o.tc, o.pid_base, o.endpoints, o.ranks), (15, 16, 32, 4));
        assert!(o.seal && o.verbose);
        assert_eq!(o.seal_timeout, Duration::from_secs(3));
        assert_eq!(o.grace, Duration::from_secs(1));
        assert_eq!(o.program, "sh");
        assert_eq!(o.args, ["-c", "true"]);
        assert_eq!(run(&["-j", "auto", "--ranks", "1", "x"]).job_id, None);
        assert_eq!(
            run(&["-j", "0xffffff", "-n", "1", "x"]).job_id,
            Some(0xff_ffff)
        );
        assert_eq!(run(&["-j1", "-n", "1", "x"]).job_id, Some(1));
        // the program's own options are not ours
        assert_eq!(run(&["-n", "1", "prog", "--help"]).args, ["--help"]);
    }

    #[test]
    fn help() {
        assert_eq!(p(&["--help"]), Ok(Command::Help));
        assert_eq!(p(&["-n", "2", "-h"]), Ok(Command::Help));
        assert!(USAGE.contains("UET_JOB_FD") && USAGE.contains("--seal"));
    }

    #[test]
    fn endpoint_range() {
        assert_eq!(run(&["--pid-base", "4000", "-n", "1", "x"]).endpoints, 96);
        assert_eq!(
            run(&["--pid-base", "4095", "--endpoints", "1", "-n", "1", "x"]).endpoints,
            1
        );
        assert!(
            bad(&["--pid-base", "4000", "--endpoints", "97", "-n", "1", "x"])
                .contains("end at 4095")
        );
        assert!(bad(&["--endpoints", "0", "-n", "1", "x"]).contains("out of range"));
        assert!(bad(&["--endpoints", "4097", "-n", "1", "x"]).contains("out of range"));
        assert!(bad(&["--pid-base", "4096", "-n", "1", "x"]).contains("out of range"));
    }

    #[test]
    fn rejects() {
        assert!(bad(&["-n", "2"]).contains("no PROGRAM"));
        assert!(bad(&["-n", "2", "--"]).contains("no PROGRAM after --"));
        assert!(bad(&["prog"]).contains("-n N"));
        assert!(bad(&["-n", "0", "x"]).contains("out of range"));
        assert!(bad(&["-n", "4097", "x"]).contains("out of range"));
        assert!(bad(&["-n", "two", "x"]).contains("not a number"));
        assert!(bad(&["-n", "-1", "x"]).contains("not a number"));
        assert!(bad(&["-n", "1", "-j", "0", "x"]).contains("out of range"));
        assert!(bad(&["-n", "1", "-j", "16777216", "x"]).contains("out of range"));
        assert!(bad(&["-n", "1", "-j", "0x", "x"]).contains("not a number"));
        assert!(bad(&["-n", "1", "-j", "", "x"]).contains("not a number"));
        assert!(bad(&["-n", "1", "-j", "99999999999999999999999", "x"]).contains("not a number"));
        assert!(bad(&["-n", "1", "--tc", "16", "x"]).contains("out of range"));
        assert!(bad(&["-n", "1", "--frobnicate", "x"]).contains("unknown option --frobnicate"));
        assert!(bad(&["-n", "1", "--seal=yes", "x"]).contains("takes no value"));
        assert!(bad(&["-n"]).contains("needs a value"));
        assert!(bad(&["-n", "1", "--job-id"]).contains("needs a value"));
    }
}
