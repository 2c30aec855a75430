// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Protocol-neutral RDMA jobs: `/dev/infiniband/job`.
//!
//! C header: [`include/uapi/rdma/rdma_job.h`](srctree/include/uapi/rdma/rdma_job.h)
//!
//! Opening the device creates an empty [`Job`] bound to the opener's network
//! namespace and credentials; `RDMA_JOB_IOC_REALIZE` turns it into a job of
//! one transport protocol, validated by that protocol's [`JobProtocol`]
//! registration. The open file is the capability: an RDMA driver resolves a
//! job file presented to a uverbs context with [`Job::from_file`] and makes
//! the context a member with [`Job::join`].
//!
//! The core lives in the `kernel` crate because Rust modules cannot link
//! against each other: the device is registered by the built-in
//! `drivers/infiniband/core/job` crate, protocols by the modules that
//! implement them. See `Documentation/userspace-api/rdma_job.rst`.

use crate::{
    bindings,
    cred::Credential,
    fs::File,
    ioctl::{
        _IOC_DIR,
        _IOC_NR,
        _IOC_SIZE,
        _IOC_TYPE, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        Mutex, //
    },
    types::ForeignOwnable,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
    uapi,
};
use core::{
    mem::size_of,
    sync::atomic::{
        AtomicBool,
        AtomicPtr,
        Ordering, //
    },
};

/// Bytes of the per-protocol property block (`rdma_job_realize.uet` and its
/// `reserved_40` union).
pub const PROPS_LEN: usize = 56;
/// Size of `struct rdma_job_realize`.
const REALIZE_LEN: usize = 8 + PROPS_LEN;
/// Size of `struct rdma_job_info`.
const INFO_LEN: usize = 16 + PROPS_LEN;

const _: () = assert!(size_of::<uapi::rdma_job_realize>() == REALIZE_LEN);
const _: () = assert!(size_of::<uapi::rdma_job_info>() == INFO_LEN);

/// Job states (`enum rdma_job_state`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Opened, not realized.
    Empty,
    /// Realized, accepting members.
    Active,
    /// Realized, no new members.
    Sealed,
    /// Ended.
    Revoked,
}

impl JobState {
    fn to_uapi(self) -> u32 {
        match self {
            Self::Empty => uapi::rdma_job_state_RDMA_JOB_STATE_EMPTY,
            Self::Active => uapi::rdma_job_state_RDMA_JOB_STATE_ACTIVE,
            Self::Sealed => uapi::rdma_job_state_RDMA_JOB_STATE_SEALED,
            Self::Revoked => uapi::rdma_job_state_RDMA_JOB_STATE_REVOKED,
        }
    }
}

/// The JobID a realization asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IdRequest {
    /// This id; `EEXIST` if it is taken in the network namespace.
    Fixed(u32),
    /// Any free id in `min..=max`; `EADDRNOTAVAIL` if none is.
    Alloc {
        /// Smallest acceptable id.
        min: u32,
        /// Largest acceptable id.
        max: u32,
    },
}

/// A transport protocol's job realization (UET is the first).
///
/// The module implementing it declares `MODULE_ALIAS("rdma-job-proto-N")`
/// (N = [`Self::PROTOCOL`]) so that REALIZE can load it on demand.
pub trait JobProtocol: 'static {
    /// `enum rdma_job_protocol` value.
    const PROTOCOL: u32;

    /// Validates the property block of a REALIZE request (`EINVAL` for
    /// anything out of range, unknown flags or non-zero reserved bytes) and
    /// says which JobID it needs.
    fn realize(props: &[u8; PROPS_LEN]) -> Result<IdRequest>;

    /// Stores the JobID the core reserved into the property block.
    fn set_job_id(props: &mut [u8; PROPS_LEN], id: u32);
}

/// One registered protocol.
struct ProtoEntry {
    protocol: u32,
    realize: fn(&[u8; PROPS_LEN]) -> Result<IdRequest>,
    set_job_id: fn(&mut [u8; PROPS_LEN], u32),
    owner: *mut bindings::module,
}

/// A reserved JobID.
struct IdEntry {
    net: usize,
    protocol: u32,
    id: u32,
}

/// Protocols and reserved JobIDs of the whole system.
struct Table {
    protos: KVec<ProtoEntry>,
    ids: KVec<IdEntry>,
}

// SAFETY: `owner` is only used to take and drop module references.
unsafe impl Send for Table {}

crate::sync::global_lock! {
    // SAFETY: initialised by `JobDevice::register` (once, at boot) before
    // any use; `READY` tells protocol registrations whether that happened.
    unsafe(uninit) static JOB_TABLE: Mutex<Table> = Table {
        protos: KVec::new(),
        ids: KVec::new(),
    };
}

/// Set once `JOB_TABLE` is initialised.
static READY: AtomicBool = AtomicBool::new(false);
/// The `file_operations` of `/dev/infiniband/job`, to recognise job files.
static JOB_FOPS: AtomicPtr<bindings::file_operations> = AtomicPtr::new(core::ptr::null_mut());

/// The network namespace a job is bound to (a held `struct net`).
///
/// # Invariants
///
/// `ptr` holds a reference taken with `get_net`, dropped in `drop`.
struct NetRef {
    ptr: *mut bindings::net,
}

// SAFETY: a net reference may be dropped on any thread.
unsafe impl Send for NetRef {}
// SAFETY: only the pointer value is read through `&NetRef`.
unsafe impl Sync for NetRef {}

impl NetRef {
    fn current() -> Self {
        // SAFETY: returns the caller's network namespace with a reference.
        let ptr = unsafe { bindings::rdma_get_current_net() };
        // INVARIANT: `ptr` holds the reference taken above.
        Self { ptr }
    }

    fn is_current(&self) -> bool {
        // SAFETY: no preconditions; compares pointers only.
        core::ptr::eq(self.ptr, unsafe { bindings::rdma_current_net_ptr() })
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: taken in `current` per the type invariant.
        unsafe { bindings::rdma_put_net(self.ptr) };
    }
}

struct JobInner {
    // Not `state`: lock guards of the kernel crate have a field of that
    // name, which would shadow this one through `Deref` here.
    job_state: JobState,
    protocol: u32,
    props: [u8; PROPS_LEN],
    members: u32,
    /// Module of the protocol, referenced while the job is realized.
    owner: *mut bindings::module,
    /// The reserved id, released when the job goes.
    id: Option<u32>,
}

// SAFETY: `owner` is only used to drop a module reference.
unsafe impl Send for JobInner {}

/// A job: created by `open()` of `/dev/infiniband/job`, alive while its
/// file or a member holds it.
#[pin_data(PinnedDrop)]
pub struct Job {
    net: NetRef,
    _creator: ARef<Credential>,
    #[pin]
    inner: Mutex<JobInner>,
}

/// A job's state as reported by QUERY (`struct rdma_job_info`).
#[derive(Clone)]
pub struct JobInfo {
    /// `enum rdma_job_protocol`.
    pub protocol: u32,
    /// State.
    pub state: JobState,
    /// Joined contexts.
    pub members: u32,
    /// The protocol's property block.
    pub props: [u8; PROPS_LEN],
}

impl JobInfo {
    /// The `struct rdma_job_info` bytes.
    pub fn to_bytes(&self) -> [u8; INFO_LEN] {
        let mut b = [0u8; INFO_LEN];
        b[0..4].copy_from_slice(&self.protocol.to_ne_bytes());
        b[4..8].copy_from_slice(&self.state.to_uapi().to_ne_bytes());
        b[8..12].copy_from_slice(&self.members.to_ne_bytes());
        b[16..].copy_from_slice(&self.props);
        b
    }
}

impl Job {
    fn new(file: &File) -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                net: NetRef::current(),
                _creator: file.cred().into(),
                inner <- new_mutex!(JobInner {
                    job_state: JobState::Empty,
                    protocol: uapi::rdma_job_protocol_RDMA_JOB_PROTO_NONE,
                    props: [0; PROPS_LEN],
                    members: 0,
                    owner: core::ptr::null_mut(),
                    id: None,
                }, "Job::inner"),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The job open as `file`, if `file` is a `/dev/infiniband/job` file;
    /// `EINVAL` otherwise.
    pub fn from_file(file: &File) -> Result<Arc<Self>> {
        let fops = JOB_FOPS.load(Ordering::Acquire);
        // SAFETY: `file` is a valid open file; `f_op` is set at open.
        let f_op = unsafe { (*file.as_ptr()).f_op };
        if fops.is_null() || !core::ptr::eq(f_op, fops) {
            return Err(EINVAL);
        }
        // SAFETY: files with the job device's fops were opened by the misc
        // device, which stored an `Arc<Job>` as private data until release;
        // `file` is open, so it has not been released.
        let job = unsafe { <Arc<Job> as ForeignOwnable>::borrow((*file.as_ptr()).private_data) };
        Ok(job.into())
    }

    /// Current state.
    pub fn info(&self) -> JobInfo {
        let g = self.inner.lock();
        JobInfo {
            protocol: g.protocol,
            state: g.job_state,
            members: g.members,
            props: g.props,
        }
    }

    /// Makes the caller's context a member of this job, if the job is a
    /// realized job of `protocol` in the caller's network namespace.
    ///
    /// Errors: `EINVAL` (not realized, other protocol), `EXDEV` (other
    /// network namespace), `EPERM` (sealed), `EKEYREVOKED` (revoked).
    pub fn join(self: Arc<Self>, protocol: u32) -> Result<Membership> {
        if !self.net.is_current() {
            return Err(EXDEV);
        }
        {
            let mut g = self.inner.lock();
            match g.job_state {
                JobState::Empty => return Err(EINVAL),
                JobState::Sealed => return Err(EPERM),
                JobState::Revoked => return Err(EKEYREVOKED),
                JobState::Active => {}
            }
            if g.protocol != protocol {
                return Err(EINVAL);
            }
            g.members += 1;
        }
        Ok(Membership { job: self })
    }

    fn realize(&self, slice: UserSlice, size: usize) -> Result<isize> {
        if size < 8 {
            return Err(EINVAL);
        }
        let (mut reader, mut writer) = slice.reader_writer();
        let mut req = [0u8; REALIZE_LEN];
        let n = size.min(REALIZE_LEN);
        reader.read_slice(&mut req[..n])?;
        // A newer, larger struct must be zero past what we know.
        let mut rest = size - n;
        let mut chunk = [0u8; 64];
        while rest > 0 {
            let k = rest.min(chunk.len());
            reader.read_slice(&mut chunk[..k])?;
            if chunk[..k].iter().any(|&b| b != 0) {
                return Err(E2BIG);
            }
            rest -= k;
        }
        let protocol = u32::from_ne_bytes([req[0], req[1], req[2], req[3]]);
        let flags = u32::from_ne_bytes([req[4], req[5], req[6], req[7]]);
        if flags != 0 {
            return Err(EINVAL);
        }
        let mut props = [0u8; PROPS_LEN];
        props.copy_from_slice(&req[8..]);

        // Load the protocol's module on demand (alias rdma-job-proto-N),
        // before taking any lock: its init registers the protocol.
        let known = |p: u32| JOB_TABLE.lock().protos.iter().any(|e| e.protocol == p);
        if protocol != uapi::rdma_job_protocol_RDMA_JOB_PROTO_NONE && !known(protocol) {
            // SAFETY: no locks held; may sleep while modprobe runs. A
            // failure leaves the protocol unknown, reported below.
            let _ = unsafe { bindings::rdma_job_request_protocol(protocol) };
        }

        let mut g = self.inner.lock();
        if g.job_state != JobState::Empty {
            return Err(EBUSY);
        }
        let mut t = JOB_TABLE.lock();
        let entry = t
            .protos
            .iter()
            .find(|p| p.protocol == protocol)
            .ok_or(EPROTONOSUPPORT)?;
        let (realize, set_job_id, owner) = (entry.realize, entry.set_job_id, entry.owner);
        let net = self.net.ptr as usize;
        let taken = |t: &Table, id: u32| {
            t.ids
                .iter()
                .any(|e| e.net == net && e.protocol == protocol && e.id == id)
        };
        let id = match realize(&props)? {
            IdRequest::Fixed(id) => {
                if taken(&t, id) {
                    return Err(EEXIST);
                }
                id
            }
            IdRequest::Alloc { min, max } => (min..=max)
                .find(|&id| !taken(&t, id))
                .ok_or(EADDRNOTAVAIL)?,
        };
        // SAFETY: `owner` is the registered protocol's module, live while
        // it is in the table (we hold the table lock).
        if !unsafe { bindings::try_module_get(owner) } {
            return Err(EPROTONOSUPPORT);
        }
        if let Err(e) = t.ids.push(
            IdEntry {
                net,
                protocol,
                id,
            },
            GFP_KERNEL,
        ) {
            // SAFETY: taken just above.
            unsafe { bindings::module_put(owner) };
            return Err(e.into());
        }
        drop(t);
        set_job_id(&mut props, id);
        g.protocol = protocol;
        g.props = props;
        g.owner = owner;
        g.id = Some(id);
        g.job_state = JobState::Active;
        req[8..].copy_from_slice(&props);
        drop(g);
        writer.write_slice(&req[..n])?;
        Ok(0)
    }

    fn set_state(&self, to: JobState) -> Result<isize> {
        let mut g = self.inner.lock();
        match (g.job_state, to) {
            (JobState::Empty, _) => Err(EINVAL),
            (JobState::Revoked, JobState::Sealed) => Err(EPERM),
            (JobState::Revoked, _) => Ok(0),
            (_, s) => {
                g.job_state = s;
                Ok(0)
            }
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Job {
    fn drop(self: Pin<&mut Self>) {
        let g = self.inner.lock();
        if let Some(id) = g.id {
            let net = self.net.ptr as usize;
            let mut t = JOB_TABLE.lock();
            if let Some(pos) = t
                .ids
                .iter()
                .position(|e| e.net == net && e.protocol == g.protocol && e.id == id)
            {
                t.ids.remove(pos).ok();
            }
            drop(t);
            // SAFETY: taken when the job was realized.
            unsafe { bindings::module_put(g.owner) };
        }
    }
}

/// A uverbs context's membership of a job; leaving on drop.
pub struct Membership {
    job: Arc<Job>,
}

impl Membership {
    /// The job.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// Whether the job was revoked: members' operations then fail (`EIO`).
    pub fn is_revoked(&self) -> bool {
        self.job.inner.lock().job_state == JobState::Revoked
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut g = self.job.inner.lock();
        g.members = g.members.saturating_sub(1);
    }
}

/// A protocol registration; unregistered on drop.
pub struct ProtocolRegistration<T: JobProtocol> {
    _p: core::marker::PhantomData<T>,
}

impl<T: JobProtocol> ProtocolRegistration<T> {
    /// Registers protocol `T`, owned by `module`. `ENODEV` if the job core
    /// is not running, `EEXIST` if the protocol is already registered.
    pub fn new(module: &'static ThisModule) -> Result<Self> {
        if !READY.load(Ordering::Acquire) {
            return Err(ENODEV);
        }
        let mut t = JOB_TABLE.lock();
        if t.protos.iter().any(|p| p.protocol == T::PROTOCOL) {
            return Err(EEXIST);
        }
        t.protos.push(
            ProtoEntry {
                protocol: T::PROTOCOL,
                realize: T::realize,
                set_job_id: T::set_job_id,
                owner: module.as_ptr(),
            },
            GFP_KERNEL,
        )?;
        Ok(Self {
            _p: core::marker::PhantomData,
        })
    }
}

impl<T: JobProtocol> Drop for ProtocolRegistration<T> {
    fn drop(&mut self) {
        let mut t = JOB_TABLE.lock();
        if let Some(pos) = t.protos.iter().position(|p| p.protocol == T::PROTOCOL) {
            t.protos.remove(pos).ok();
        }
    }
}

/// The `/dev/infiniband/job` file type.
struct JobFile;

#[vtable]
impl MiscDevice for JobFile {
    type Ptr = Arc<Job>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Job>> {
        Job::new(file)
    }

    fn ioctl(job: ArcBorrow<'_, Job>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        if _IOC_TYPE(cmd) != uapi::RDMA_JOB_IOCTL_MAGIC {
            return Err(ENOTTY);
        }
        let size = _IOC_SIZE(cmd);
        let slice = UserSlice::new(UserPtr::from_addr(arg), size);
        let rw = uapi::_IOC_READ | uapi::_IOC_WRITE;
        match (_IOC_DIR(cmd), _IOC_NR(cmd)) {
            (d, 0x01) if d == rw => job.realize(slice, size),
            (d, 0x02) if d == uapi::_IOC_READ => {
                if size == 0 {
                    return Err(EINVAL);
                }
                let info = job.info().to_bytes();
                slice.writer().write_slice(&info[..size.min(INFO_LEN)])?;
                Ok(0)
            }
            (d, 0x03) if d == uapi::_IOC_NONE && size == 0 => job.set_state(JobState::Sealed),
            (d, 0x04) if d == uapi::_IOC_NONE && size == 0 => job.set_state(JobState::Revoked),
            _ => Err(ENOTTY),
        }
    }
}

/// The registered `/dev/infiniband/job` device.
#[pin_data]
pub struct JobDevice {
    #[pin]
    misc: MiscDeviceRegistration<JobFile>,
}

impl JobDevice {
    /// Registers `/dev/infiniband/job` (mode 0600). Call once, from the
    /// built-in job core.
    pub fn register() -> impl PinInit<Self, Error> {
        // SAFETY: the job core registers the device once, at boot, before
        // any protocol can register (they check `READY`).
        unsafe { JOB_TABLE.init() };
        try_pin_init!(Self {
            misc <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"rdma_job",
                nodename: Some(c"infiniband/job"),
                mode: 0o600,
            }),
        })
        .pin_chain(|this| {
            // SAFETY: the registration is live; `fops` was set at register.
            let fops = unsafe { (*this.misc.as_raw()).fops };
            JOB_FOPS.store(fops.cast_mut(), Ordering::Release);
            READY.store(true, Ordering::Release);
            Ok(())
        })
    }
}
