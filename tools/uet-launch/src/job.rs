// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
//! The job device `/dev/infiniband/job` and its ioctls.
//!
//! C header: [`include/uapi/rdma/rdma_job.h`](../../../include/uapi/rdma/rdma_job.h).
//! The structures below are written from that header; the tests compare
//! their layout and the ioctl numbers with what a C compiler makes of it.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::FromRawFd;
use std::os::fd::OwnedFd;
use std::os::fd::RawFd;

pub const JOB_DEVICE: &str = "/dev/infiniband/job";

pub const RDMA_JOB_IOCTL_MAGIC: u32 = 0xEB;

pub const RDMA_JOB_PROTO_UET: u32 = 1;

// The states the launcher does not look at are checked against the header.
#[cfg_attr(not(test), expect(dead_code))]
pub const RDMA_JOB_STATE_EMPTY: u32 = 0;
pub const RDMA_JOB_STATE_ACTIVE: u32 = 1;
#[cfg_attr(not(test), expect(dead_code))]
pub const RDMA_JOB_STATE_SEALED: u32 = 2;
#[cfg_attr(not(test), expect(dead_code))]
pub const RDMA_JOB_STATE_REVOKED: u32 = 3;

pub const RDMA_JOB_UET_F_ALLOC_JOB_ID: u32 = 1 << 0;

pub const RDMA_JOB_MEMBER_FD_CLOEXEC: u32 = 1 << 0;

pub const RDMA_JOB_UET_MAX_JOB_ID: u32 = 0xff_ffff;
pub const RDMA_JOB_UET_MAX_PID_ON_FEP: u32 = 0xfff;
pub const RDMA_JOB_UET_MAX_TC: u32 = 15;

/// `struct rdma_job_uet`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RdmaJobUet {
    pub job_id: u32,
    pub flags: u32,
    pub pid_on_fep_base: u16,
    pub max_endpoints: u16,
    pub tc: u8,
    pub reserved_68: [u8; 11],
}

/// `struct rdma_job_realize`; the union of per-protocol properties is its
/// UET member followed by the rest of the union's 56 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RdmaJobRealize {
    pub protocol: u32,
    pub flags: u32,
    pub uet: RdmaJobUet,
    pub union_tail: [u8; 32],
}

/// `struct rdma_job_info`, laid out like [`RdmaJobRealize`], with the
/// count of member descriptors that joined after the union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RdmaJobInfo {
    pub protocol: u32,
    pub state: u32,
    pub members: u32,
    pub flags: u32,
    pub uet: RdmaJobUet,
    pub union_tail: [u8; 32],
    pub member_fds: u32,
    pub reserved_260: u32,
}

// <asm-generic/ioctl.h>, as x86, arm64 and most others define it
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (RDMA_JOB_IOCTL_MAGIC << 8) | nr
}

pub const RDMA_JOB_IOC_REALIZE: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x01,
    core::mem::size_of::<RdmaJobRealize>(),
);
pub const RDMA_JOB_IOC_QUERY: u32 = ioc(IOC_READ, 0x02, core::mem::size_of::<RdmaJobInfo>());
pub const RDMA_JOB_IOC_SEAL: u32 = ioc(IOC_NONE, 0x03, 0);
pub const RDMA_JOB_IOC_REVOKE: u32 = ioc(IOC_NONE, 0x04, 0);
pub const RDMA_JOB_IOC_MEMBER_FD: u32 = ioc(IOC_NONE, 0x05, 0);

/// Properties of a UET job to realize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UetJobSpec {
    /// `None`: let the kernel allocate a free JobID.
    pub job_id: Option<u32>,
    pub pid_on_fep_base: u16,
    pub max_endpoints: u16,
    pub tc: u8,
}

impl UetJobSpec {
    pub fn to_realize(self) -> RdmaJobRealize {
        RdmaJobRealize {
            protocol: RDMA_JOB_PROTO_UET,
            uet: RdmaJobUet {
                job_id: self.job_id.unwrap_or(0),
                flags: if self.job_id.is_none() {
                    RDMA_JOB_UET_F_ALLOC_JOB_ID
                } else {
                    0
                },
                pid_on_fep_base: self.pid_on_fep_base,
                max_endpoints: self.max_endpoints,
                tc: self.tc,
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// An open job device file: one job, with the rights of its creator.
pub struct Job {
    fd: OwnedFd,
}

fn ioctl_ptr<T>(fd: RawFd, cmd: u32, arg: *mut T) -> io::Result<()> {
    // SAFETY: `arg` is null or points to a live `T` whose size is the one
    // encoded in `cmd`; the kernel reads/writes at most that many bytes.
    let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Job {
    /// Open `path` (the job device): a new, empty job, close-on-exec.
    pub fn open(path: &str) -> io::Result<Job> {
        let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `c` is a valid NUL-terminated string.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(Job {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Realize the job as a UET job; returns the JobID (the allocated one
    /// for an automatic JobID).
    pub fn realize_uet(&self, spec: UetJobSpec) -> io::Result<u32> {
        let mut r = spec.to_realize();
        ioctl_ptr(self.fd.as_raw_fd(), RDMA_JOB_IOC_REALIZE, &mut r)?;
        Ok(r.uet.job_id)
    }

    pub fn query(&self) -> io::Result<RdmaJobInfo> {
        let mut info = RdmaJobInfo::default();
        ioctl_ptr(self.fd.as_raw_fd(), RDMA_JOB_IOC_QUERY, &mut info)?;
        Ok(info)
    }

    pub fn seal(&self) -> io::Result<()> {
        ioctl_ptr::<u8>(
            self.fd.as_raw_fd(),
            RDMA_JOB_IOC_SEAL,
            core::ptr::null_mut(),
        )
    }

    pub fn revoke(&self) -> io::Result<()> {
        ioctl_ptr::<u8>(
            self.fd.as_raw_fd(),
            RDMA_JOB_IOC_REVOKE,
            core::ptr::null_mut(),
        )
    }

    /// A new member descriptor of the job (close-on-exec): it can only
    /// join the job and query it.
    pub fn member_fd(&self) -> io::Result<OwnedFd> {
        // SAFETY: the argument is passed by value (flags), no memory.
        let fd = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                RDMA_JOB_IOC_MEMBER_FD as libc::c_ulong,
                RDMA_JOB_MEMBER_FD_CLOEXEC as libc::c_ulong,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just installed `fd` for us; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;
    use core::mem::size_of;

    #[test]
    fn sizes_are_the_headers() {
        assert_eq!(size_of::<RdmaJobUet>(), 24);
        assert_eq!(size_of::<RdmaJobRealize>(), 64);
        assert_eq!(size_of::<RdmaJobInfo>(), 80);
    }

    #[test]
    fn offsets_are_the_headers() {
        assert_eq!(offset_of!(RdmaJobUet, job_id), 0);
        assert_eq!(offset_of!(RdmaJobUet, flags), 4);
        assert_eq!(offset_of!(RdmaJobUet, pid_on_fep_base), 8);
        assert_eq!(offset_of!(RdmaJobUet, max_endpoints), 10);
        assert_eq!(offset_of!(RdmaJobUet, tc), 12);
        assert_eq!(offset_of!(RdmaJobUet, reserved_68), 13);
        assert_eq!(offset_of!(RdmaJobRealize, protocol), 0);
        assert_eq!(offset_of!(RdmaJobRealize, flags), 4);
        assert_eq!(offset_of!(RdmaJobRealize, uet), 8);
        assert_eq!(offset_of!(RdmaJobInfo, protocol), 0);
        assert_eq!(offset_of!(RdmaJobInfo, state), 4);
        assert_eq!(offset_of!(RdmaJobInfo, members), 8);
        assert_eq!(offset_of!(RdmaJobInfo, flags), 12);
        assert_eq!(offset_of!(RdmaJobInfo, uet), 16);
        assert_eq!(offset_of!(RdmaJobInfo, member_fds), 72);
    }

    #[test]
    fn ioctl_numbers() {
        assert_eq!(RDMA_JOB_IOC_REALIZE, 0xc040_eb01);
        assert_eq!(RDMA_JOB_IOC_QUERY, 0x8050_eb02);
        assert_eq!(RDMA_JOB_IOC_SEAL, 0x0000_eb03);
        assert_eq!(RDMA_JOB_IOC_REVOKE, 0x0000_eb04);
        assert_eq!(RDMA_JOB_IOC_MEMBER_FD, 0x0000_eb05);
    }

    #[test]
    fn realize_request() {
        let r = UetJobSpec {
            job_id: Some(77),
            pid_on_fep_base: 16,
            max_endpoints: 32,
            tc: 3,
        }
        .to_realize();
        assert_eq!((r.protocol, r.flags), (RDMA_JOB_PROTO_UET, 0));
        assert_eq!((r.uet.job_id, r.uet.flags), (77, 0));
        assert_eq!(
            (r.uet.pid_on_fep_base, r.uet.max_endpoints, r.uet.tc),
            (16, 32, 3)
        );
        let a = UetJobSpec {
            job_id: None,
            pid_on_fep_base: 0,
            max_endpoints: 4096,
            tc: 0,
        }
        .to_realize();
        assert_eq!(
            (a.uet.job_id, a.uet.flags),
            (0, RDMA_JOB_UET_F_ALLOC_JOB_ID)
        );
    }

    /// Compile a C program against the uapi header and compare every size,
    /// offset, constant and ioctl number with ours.
    #[test]
    fn layout_matches_c_header() {
        // `cargo test` sets CARGO_MANIFEST_DIR when it runs the test too: a
        // test binary built in another checkout (a shared target
        // directory) still finds this checkout's header.
        let manifest = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let top = format!("{manifest}/../..");
        let dir = std::env::temp_dir().join(format!("uet-launch-abi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("abi.c");
        let exe = dir.join("abi");
        std::fs::write(
            &src,
            r#"#include <stddef.h>
#include <stdio.h>
#include <rdma/rdma_job.h>
#define P(x) printf("%s %llu\n", #x, (unsigned long long)(x))
int main(void)
{
	P(sizeof(struct rdma_job_uet));
	P(sizeof(struct rdma_job_realize));
	P(sizeof(struct rdma_job_info));
	P(offsetof(struct rdma_job_uet, flags));
	P(offsetof(struct rdma_job_uet, pid_on_fep_base));
	P(offsetof(struct rdma_job_uet, max_endpoints));
	P(offsetof(struct rdma_job_uet, tc));
	P(offsetof(struct rdma_job_uet, reserved_68));
	P(offsetof(struct rdma_job_realize, uet));
	P(offsetof(struct rdma_job_info, members));
	P(offsetof(struct rdma_job_info, uet));
	P(offsetof(struct rdma_job_info, member_fds));
	P(RDMA_JOB_IOC_REALIZE);
	P(RDMA_JOB_IOC_QUERY);
	P(RDMA_JOB_IOC_SEAL);
	P(RDMA_JOB_IOC_REVOKE);
	P(RDMA_JOB_IOC_MEMBER_FD);
	P(RDMA_JOB_MEMBER_FD_CLOEXEC);
	P(RDMA_JOB_PROTO_UET);
	P(RDMA_JOB_STATE_EMPTY);
	P(RDMA_JOB_STATE_ACTIVE);
	P(RDMA_JOB_STATE_SEALED);
	P(RDMA_JOB_STATE_REVOKED);
	P(RDMA_JOB_UET_F_ALLOC_JOB_ID);
	P(RDMA_JOB_UET_MAX_JOB_ID);
	P(RDMA_JOB_UET_MAX_PID_ON_FEP);
	P(RDMA_JOB_UET_MAX_TC);
	return 0;
}
"#,
        )
        .unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let out = std::process::Command::new(&cc)
            .arg(format!("-I{top}/include/uapi"))
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("a C compiler ($CC or cc) is needed to check the uapi layout");
        assert!(
            out.status.success(),
            "compiling against rdma_job.h failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new(&exe).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let c: std::collections::HashMap<String, u64> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect();
        let want: &[(&str, u64)] = &[
            (
                "sizeof(struct rdma_job_uet)",
                size_of::<RdmaJobUet>() as u64,
            ),
            (
                "sizeof(struct rdma_job_realize)",
                size_of::<RdmaJobRealize>() as u64,
            ),
            (
                "sizeof(struct rdma_job_info)",
                size_of::<RdmaJobInfo>() as u64,
            ),
            (
                "offsetof(struct rdma_job_uet, flags)",
                offset_of!(RdmaJobUet, flags) as u64,
            ),
            (
                "offsetof(struct rdma_job_uet, pid_on_fep_base)",
                offset_of!(RdmaJobUet, pid_on_fep_base) as u64,
            ),
            (
                "offsetof(struct rdma_job_uet, max_endpoints)",
                offset_of!(RdmaJobUet, max_endpoints) as u64,
            ),
            (
                "offsetof(struct rdma_job_uet, tc)",
                offset_of!(RdmaJobUet, tc) as u64,
            ),
            (
                "offsetof(struct rdma_job_uet, reserved_68)",
                offset_of!(RdmaJobUet, reserved_68) as u64,
            ),
            (
                "offsetof(struct rdma_job_realize, uet)",
                offset_of!(RdmaJobRealize, uet) as u64,
            ),
            (
                "offsetof(struct rdma_job_info, members)",
                offset_of!(RdmaJobInfo, members) as u64,
            ),
            (
                "offsetof(struct rdma_job_info, uet)",
                offset_of!(RdmaJobInfo, uet) as u64,
            ),
            (
                "offsetof(struct rdma_job_info, member_fds)",
                offset_of!(RdmaJobInfo, member_fds) as u64,
            ),
            ("RDMA_JOB_IOC_REALIZE", RDMA_JOB_IOC_REALIZE.into()),
            ("RDMA_JOB_IOC_QUERY", RDMA_JOB_IOC_QUERY.into()),
            ("RDMA_JOB_IOC_SEAL", RDMA_JOB_IOC_SEAL.into()),
            ("RDMA_JOB_IOC_REVOKE", RDMA_JOB_IOC_REVOKE.into()),
            ("RDMA_JOB_IOC_MEMBER_FD", RDMA_JOB_IOC_MEMBER_FD.into()),
            (
                "RDMA_JOB_MEMBER_FD_CLOEXEC",
                RDMA_JOB_MEMBER_FD_CLOEXEC.into(),
            ),
            ("RDMA_JOB_PROTO_UET", RDMA_JOB_PROTO_UET.into()),
            ("RDMA_JOB_STATE_EMPTY", RDMA_JOB_STATE_EMPTY.into()),
            ("RDMA_JOB_STATE_ACTIVE", RDMA_JOB_STATE_ACTIVE.into()),
            ("RDMA_JOB_STATE_SEALED", RDMA_JOB_STATE_SEALED.into()),
            ("RDMA_JOB_STATE_REVOKED", RDMA_JOB_STATE_REVOKED.into()),
            (
                "RDMA_JOB_UET_F_ALLOC_JOB_ID",
                RDMA_JOB_UET_F_ALLOC_JOB_ID.into(),
            ),
            ("RDMA_JOB_UET_MAX_JOB_ID", RDMA_JOB_UET_MAX_JOB_ID.into()),
            (
                "RDMA_JOB_UET_MAX_PID_ON_FEP",
                RDMA_JOB_UET_MAX_PID_ON_FEP.into(),
            ),
            ("RDMA_JOB_UET_MAX_TC", RDMA_JOB_UET_MAX_TC.into()),
        ];
        for (k, v) in want {
            assert_eq!(c.get(*k), Some(v), "{k}: C says {:?}, Rust {v}", c.get(*k));
        }
        assert_eq!(c.len(), want.len());
    }
}
