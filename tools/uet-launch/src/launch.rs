// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
//! Create the job, start the ranks, supervise them, revoke the job.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::io;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use crate::args::Options;
use crate::job::Job;
use crate::job::UetJobSpec;
use crate::job::JOB_DEVICE;
use crate::job::RDMA_JOB_STATE_ACTIVE;
use crate::os_msg;

/// Exit status when the launcher itself fails (job device, job, spawn).
const EXIT_FAILURE: u8 = 1;
const EXIT_CANNOT_EXEC: u8 = 126;
const EXIT_NOT_FOUND: u8 = 127;

/// How often the member count is polled while waiting to seal.
const SEAL_POLL: Duration = Duration::from_millis(20);

macro_rules! fail {
    ($($arg:tt)*) => {
        eprintln!("uet-launch: {}", format!($($arg)*))
    };
}

/// Where PROGRAM is, or the exit status and message if it cannot run.
fn find_program(prog: &OsStr) -> Result<PathBuf, (u8, String)> {
    let name = prog.to_string_lossy();
    let check = |p: &Path| -> Option<Result<PathBuf, (u8, String)>> {
        let md = std::fs::metadata(p).ok()?;
        if md.is_dir() {
            return Some(Err((EXIT_CANNOT_EXEC, format!("{name}: is a directory"))));
        }
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
        // SAFETY: `c` is a valid NUL-terminated path.
        if md.permissions().mode() & 0o111 == 0
            || unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0
        {
            return Some(Err((
                EXIT_CANNOT_EXEC,
                format!("{name}: permission denied"),
            )));
        }
        Some(Ok(p.to_path_buf()))
    };
    if prog.as_bytes().contains(&b'/') {
        return check(Path::new(prog)).unwrap_or_else(|| {
            Err((EXIT_NOT_FOUND, format!("{name}: no such file or directory")))
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = None;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        match check(&dir.join(prog)) {
            Some(Ok(p)) => return Ok(p),
            Some(Err(e)) => denied = denied.or(Some(e)),
            None => {}
        }
    }
    Err(denied.unwrap_or((EXIT_NOT_FOUND, format!("{name}: command not found"))))
}

/// Open the job device, with the error messages users need.
fn open_job() -> Result<Job, String> {
    Job::open(JOB_DEVICE).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => {
            format!("{JOB_DEVICE}: no such device (is uet_soft loaded?)")
        }
        Some(libc::EACCES | libc::EPERM) => format!(
            "{JOB_DEVICE}: permission denied (creating jobs needs access to the job device; \
             ask the administrator, e.g. for the group that owns it)"
        ),
        _ => format!("{JOB_DEVICE}: {}", os_msg(&e)),
    })
}

fn realize(job: &Job, spec: UetJobSpec) -> Result<u32, String> {
    job.realize_uet(spec)
        .map_err(|e| match (e.raw_os_error(), spec.job_id) {
            (Some(libc::EEXIST), Some(id)) => {
                format!("JobID {id} is already in use in this network namespace")
            }
            (Some(libc::EADDRNOTAVAIL), _) => {
                "no free JobID left in this network namespace".to_string()
            }
            (Some(libc::EPROTONOSUPPORT), _) => {
                "the kernel cannot realize UET jobs (is uet_soft loaded?)".to_string()
            }
            (Some(libc::EINVAL), _) => format!(
                "the kernel refused the job properties (JobID {}, PIDonFEP {}..{}, tc {}): {}",
                spec.job_id.map_or("auto".into(), |i| i.to_string()),
                spec.pid_on_fep_base,
                u32::from(spec.pid_on_fep_base) + u32::from(spec.max_endpoints) - 1,
                spec.tc,
                os_msg(&e)
            ),
            _ => format!("cannot create the job: {}", os_msg(&e)),
        })
}

fn signal_name(sig: i32) -> String {
    let n = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    n.to_string()
}

/// A wait status as an exit code (128+N for signal N) and a description.
fn describe(status: i32) -> (u8, String) {
    if libc::WIFEXITED(status) {
        let c = libc::WEXITSTATUS(status);
        (c as u8, format!("exited with status {c}"))
    } else if libc::WIFSIGNALED(status) {
        let s = libc::WTERMSIG(status);
        ((128 + s) as u8, format!("was killed by {}", signal_name(s)))
    } else {
        (EXIT_FAILURE, format!("ended with wait status {status:#x}"))
    }
}

struct Rank {
    pid: libc::pid_t,
    done: bool,
}

/// The launcher's signals, blocked and taken synchronously with sigtimedwait.
fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGCHLD, libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Wait for one of `set` for at most `timeout`; `None` on timeout.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are valid; the siginfo pointer may be null.
    let r = unsafe { libc::sigtimedwait(set, core::ptr::null_mut(), &ts) };
    (r > 0).then_some(r)
}

struct Supervisor<'a> {
    opts: &'a Options,
    ranks: Vec<Rank>,
    /// Exit status of the job: the first failure.
    status: Option<u8>,
    /// Set once the other ranks were sent SIGTERM: when to SIGKILL them.
    kill_at: Option<Instant>,
    killed: bool,
}

impl Supervisor<'_> {
    fn live(&self) -> usize {
        self.ranks.iter().filter(|r| !r.done).count()
    }

    /// Signal the process group of every rank still running.
    fn signal_all(&self, sig: i32) {
        for r in self.ranks.iter().filter(|r| !r.done) {
            // SAFETY: plain syscall; the group is the rank's own (setpgid
            // in the child), which exists until we reap the rank.
            unsafe { libc::kill(-r.pid, sig) };
        }
    }

    /// Terminate the job: SIGTERM now, SIGKILL after the grace period.
    fn terminate(&mut self) {
        if self.kill_at.is_none() && self.live() > 0 {
            if self.opts.verbose {
                fail!("terminating the other ranks");
            }
            self.signal_all(libc::SIGTERM);
            self.kill_at = Some(Instant::now() + self.opts.grace);
        }
    }

    /// A job failure not caused by a rank (seal timeout, spawn failure).
    fn fail_job(&mut self, status: u8) {
        self.status.get_or_insert(status);
        self.terminate();
    }

    fn reap(&mut self) {
        loop {
            let mut st = 0;
            // SAFETY: plain syscall with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let Some(i) = self.ranks.iter().position(|r| r.pid == pid && !r.done) else {
                continue;
            };
            self.ranks[i].done = true;
            let (code, what) = describe(st);
            if code == 0 {
                if self.opts.verbose {
                    fail!("rank {i} {what}");
                }
                continue;
            }
            if self.status.is_none() {
                self.status = Some(code);
                fail!("rank {i} {what}");
                self.terminate();
            } else if self.opts.verbose {
                fail!("rank {i} {what}");
            }
        }
    }
}

/// Spawn rank `rank` with a member descriptor of its own: it can join the
/// job and query it, not seal, revoke or realize it (those need the
/// launcher's admin descriptor, which no rank gets). The member descriptor
/// stays open across exec in the child only.
fn spawn(
    opts: &Options,
    path: &Path,
    job: &Job,
    job_id: u32,
    rank: u32,
    stdin_tty: bool,
) -> io::Result<libc::pid_t> {
    let member = job.member_fd()?;
    let fd = member.as_raw_fd();
    let mut cmd = std::process::Command::new(path);
    cmd.arg0(&opts.program)
        .args(&opts.args)
        .env("UET_JOB_FD", fd.to_string())
        .env("UET_JOB_ID", job_id.to_string())
        .env("UET_RANK", rank.to_string())
        .env("UET_SIZE", opts.ranks.to_string())
        .process_group(0);
    // stdin: rank 0 reads ours unless it is a terminal (a background
    // process group reading the terminal would be stopped)
    if stdin_tty || rank != 0 {
        cmd.stdin(Stdio::null());
    }
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            // the launcher blocks the signals it waits for; ranks must not
            let mut none: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, core::ptr::null_mut());
            // clear close-on-exec of the job FD: the capability is handed on
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            // a rank does not outlive a launcher that dies
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // the rank has it now; the launcher does not need it
    drop(member);
    Ok(child.id() as libc::pid_t)
}

/// Run the job; returns the launcher's exit status.
pub fn run(opts: &Options) -> u8 {
    let path = match find_program(&opts.program) {
        Ok(p) => p,
        Err((code, msg)) => {
            fail!("{msg}");
            return code;
        }
    };
    let job = match open_job() {
        Ok(j) => j,
        Err(msg) => {
            fail!("{msg}");
            return EXIT_FAILURE;
        }
    };
    let spec = UetJobSpec {
        job_id: opts.job_id,
        pid_on_fep_base: opts.pid_base,
        max_endpoints: opts.endpoints,
        tc: opts.tc,
    };
    let job_id = match realize(&job, spec) {
        Ok(id) => id,
        Err(msg) => {
            fail!("{msg}");
            return EXIT_FAILURE;
        }
    };
    if opts.verbose {
        fail!(
            "job {job_id}: PIDonFEP {}..{}, tc {}, {} ranks of {}",
            opts.pid_base,
            u32::from(opts.pid_base) + u32::from(opts.endpoints) - 1,
            opts.tc,
            opts.ranks,
            OsString::from(&opts.program).to_string_lossy()
        );
    }

    // Block our signals before the first fork so that none is lost; the
    // ranks unblock them before exec (spawn).
    // SIGCHLD must not be ignored (inherited SIG_IGN would reap the ranks
    // behind our back).
    let set = signal_set();
    // SAFETY: `set` is initialised; the old mask and action are not needed.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut());
    }

    let stdin_tty = io::stdin().is_terminal();
    let mut sup = Supervisor {
        opts,
        ranks: Vec::new(),
        status: None,
        kill_at: None,
        killed: false,
    };
    for rank in 0..opts.ranks {
        match spawn(opts, &path, &job, job_id, rank, stdin_tty) {
            Ok(pid) => sup.ranks.push(Rank { pid, done: false }),
            Err(e) => {
                let name = opts.program.to_string_lossy();
                let code = match e.raw_os_error() {
                    Some(libc::ENOENT) => EXIT_NOT_FOUND,
                    _ => EXIT_CANNOT_EXEC,
                };
                fail!("{name}: cannot start rank {rank}: {}", os_msg(&e));
                sup.fail_job(code);
                break;
            }
        }
    }

    let seal_by = opts.seal.then(|| Instant::now() + opts.seal_timeout);
    let mut sealed = false;
    loop {
        sup.reap();
        if sup.live() == 0 {
            break;
        }
        let now = Instant::now();
        if let (Some(by), false, None) = (seal_by, sealed, sup.status) {
            match job.query() {
                Ok(info) if info.state != RDMA_JOB_STATE_ACTIVE => {
                    fail!("cannot seal job {job_id}: it is no longer active");
                    sup.fail_job(EXIT_FAILURE);
                }
                // ranks, not contexts: one rank may open several
                Ok(info) if info.member_fds >= opts.ranks => {
                    if let Err(e) = job.seal() {
                        fail!("cannot seal job {job_id}: {}", os_msg(&e));
                        sup.fail_job(EXIT_FAILURE);
                    } else if opts.verbose {
                        fail!(
                            "job {job_id} sealed: {} ranks joined with {} contexts",
                            info.member_fds,
                            info.members
                        );
                    }
                    sealed = true;
                }
                Ok(info) if now >= by => {
                    fail!(
                        "--seal: only {} of {} ranks joined job {job_id} within {} s",
                        info.member_fds,
                        opts.ranks,
                        opts.seal_timeout.as_secs()
                    );
                    sup.fail_job(EXIT_FAILURE);
                }
                Ok(_) => {}
                Err(e) => {
                    fail!("cannot query job {job_id}: {}", os_msg(&e));
                    sup.fail_job(EXIT_FAILURE);
                }
            }
        }
        if let Some(at) = sup.kill_at {
            if !sup.killed && now >= at {
                sup.signal_all(libc::SIGKILL);
                sup.killed = true;
            }
        }
        let mut timeout = Duration::from_secs(1);
        if seal_by.is_some() && !sealed && sup.status.is_none() {
            timeout = timeout.min(SEAL_POLL);
        }
        if let (Some(at), false) = (sup.kill_at, sup.killed) {
            timeout = timeout.min(at.saturating_duration_since(now));
        }
        if let Some(s @ (libc::SIGINT | libc::SIGTERM | libc::SIGHUP)) = wait_signal(&set, timeout)
        {
            if opts.verbose {
                fail!("forwarding {} to the ranks", signal_name(s));
            }
            sup.signal_all(s);
        }
    }

    // The job ends with its ranks; members elsewhere (an FD passed on)
    // lose it too.
    if let Err(e) = job.revoke() {
        fail!("cannot revoke job {job_id}: {}", os_msg(&e));
    }
    sup.status.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_lookup() {
        assert!(find_program(OsStr::new("sh")).is_ok());
        assert_eq!(
            find_program(OsStr::new("uet-launch-no-such-program")).unwrap_err(),
            (
                127,
                "uet-launch-no-such-program: command not found".to_string()
            )
        );
        assert_eq!(
            find_program(OsStr::new("/nonexistent/prog")).unwrap_err(),
            (
                127,
                "/nonexistent/prog: no such file or directory".to_string()
            )
        );
        assert_eq!(find_program(OsStr::new("/")).unwrap_err().0, 126);
        // not executable
        let f = std::env::temp_dir().join(format!("uet-launch-noexec-{}", std::process::id()));
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        let r = find_program(f.as_os_str());
        std::fs::remove_file(&f).unwrap();
        assert_eq!(r.unwrap_err().0, 126);
    }

    #[test]
    fn statuses() {
        assert_eq!(describe(0).0, 0);
        assert_eq!(describe(3 << 8), (3, "exited with status 3".to_string()));
        assert_eq!(
            describe(libc::SIGKILL),
            (137, "was killed by SIGKILL".to_string())
        );
        assert_eq!(describe(libc::SIGTERM).0, 143);
    }
}
