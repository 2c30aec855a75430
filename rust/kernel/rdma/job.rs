// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Protocol-neutral RDMA jobs: `/dev/infiniband/job`.
//!
//! C header: [`include/uapi/rdma/rdma_job.h`](srctree/include/uapi/rdma/rdma_job.h)
//!
//! Opening the device creates an empty [`Job`] bound to the opener's network
//! namespace, and an *admin* file for it; `RDMA_JOB_IOC_REALIZE` turns it
//! into a job of one transport protocol, validated by that protocol's
//! [`JobProtocol`] registration; `RDMA_JOB_IOC_MEMBER_FD` derives *member*
//! files, which can only query the job and join it. Every open job file is
//! a capability to join: an RDMA driver makes a uverbs context a member of
//! the job open as a file with [`Job::join`], which checks that the device's
//! netdev lives in the job's network namespace, and is told through its
//! [`JobMember`] when the job is revoked.
//!
//! The core lives in the `kernel` crate because Rust modules cannot link
//! against each other: the device is registered by the built-in
//! `drivers/infiniband/job` crate, protocols by the modules that implement
//! them. See `Documentation/userspace-api/rdma_job.rst`.

use crate::{
    bindings,
    cred::Credential,
    fs::{
        file::flags,
        File, //
    },
    ioctl::{
        _IO,
        _IOC_DIR,
        _IOC_NR,
        _IOC_SIZE,
        _IOC_TYPE,
        _IOR,
        _IOWR, //
    },
    maple_tree::MapleTreeAlloc,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    new_mutex,
    num::casts::u32_as_usize,
    prelude::*,
    rbtree::RBTree,
    rdma::netdev::NetDevice,
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        LockedBy,
        Mutex, //
    },
    types::ForeignOwnable,
    uaccess::{
        UserPtr,
        UserSlice,
        UserSliceWriter, //
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
const INFO_LEN: usize = 16 + PROPS_LEN + 8;
/// Offset of `rdma_job_info.member_fds`.
const INFO_MEMBER_FDS: usize = 16 + PROPS_LEN;
/// The smallest REALIZE and QUERY argument: `protocol` and the next field.
const MIN_ARG_LEN: usize = 8;

const _: () = assert!(size_of::<uapi::rdma_job_realize>() == REALIZE_LEN);
const _: () = assert!(size_of::<uapi::rdma_job_info>() == INFO_LEN);
const _: () = assert!(core::mem::offset_of!(uapi::rdma_job_info, member_fds) == INFO_MEMBER_FDS);

// The ioctls, by command number; each one's direction (and, for the
// non-extensible ones, size) is checked against the header's definition,
// rebuilt here because bindgen cannot expand `_IOWR()`.
const NR_REALIZE: u32 = uapi::RDMA_JOB_CMD_REALIZE;
const NR_QUERY: u32 = uapi::RDMA_JOB_CMD_QUERY;
const NR_SEAL: u32 = uapi::RDMA_JOB_CMD_SEAL;
const NR_REVOKE: u32 = uapi::RDMA_JOB_CMD_REVOKE;
const NR_MEMBER_FD: u32 = uapi::RDMA_JOB_CMD_MEMBER_FD;
const IOC_REALIZE: u32 = _IOWR::<uapi::rdma_job_realize>(uapi::RDMA_JOB_IOCTL_MAGIC, NR_REALIZE);
const IOC_QUERY: u32 = _IOR::<uapi::rdma_job_info>(uapi::RDMA_JOB_IOCTL_MAGIC, NR_QUERY);
const IOC_SEAL: u32 = _IO(uapi::RDMA_JOB_IOCTL_MAGIC, NR_SEAL);
const IOC_REVOKE: u32 = _IO(uapi::RDMA_JOB_IOCTL_MAGIC, NR_REVOKE);
const IOC_MEMBER_FD: u32 = _IO(uapi::RDMA_JOB_IOCTL_MAGIC, NR_MEMBER_FD);

/// Job states (`enum rdma_job_state`).
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Opened, not realized.
    Empty = uapi::rdma_job_state_RDMA_JOB_STATE_EMPTY,
    /// Realized, accepting members.
    Active = uapi::rdma_job_state_RDMA_JOB_STATE_ACTIVE,
    /// Realized, no new members.
    Sealed = uapi::rdma_job_state_RDMA_JOB_STATE_SEALED,
    /// Ended.
    Revoked = uapi::rdma_job_state_RDMA_JOB_STATE_REVOKED,
}

/// The transport protocols jobs can be realized for (`enum
/// rdma_job_protocol`, without `RDMA_JOB_PROTO_NONE`).
///
/// Only these numbers may make REALIZE load a module: any other is
/// `EPROTONOSUPPORT` before anything else happens.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Ultra Ethernet Transport.
    Uet = uapi::rdma_job_protocol_RDMA_JOB_PROTO_UET,
}

impl Protocol {
    /// How many protocols there are.
    const COUNT: usize = 1;

    /// A dense index, `0..Self::COUNT`.
    const fn index(self) -> usize {
        match self {
            Self::Uet => 0,
        }
    }
}

impl TryFrom<u32> for Protocol {
    type Error = Error;

    /// `EPROTONOSUPPORT` for any number the header does not define.
    fn try_from(v: u32) -> Result<Self> {
        match v {
            uapi::rdma_job_protocol_RDMA_JOB_PROTO_UET => Ok(Self::Uet),
            _ => Err(EPROTONOSUPPORT),
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
    /// The protocol.
    const PROTOCOL: Protocol;

    /// Validates the property block of a REALIZE request (`EINVAL` for
    /// anything out of range, unknown flags or non-zero reserved bytes) and
    /// says which JobID it needs.
    fn realize(props: &[u8; PROPS_LEN]) -> Result<IdRequest>;

    /// Stores the JobID the core reserved into the property block.
    fn set_job_id(props: &mut [u8; PROPS_LEN], id: u32);
}

/// A member of a job (a driver's uverbs context), as the job sees it.
///
/// The job holds the member (an `Arc`) from [`Job::join`] until the
/// [`Membership`] is dropped or REVOKE told it. A member that owns its own
/// `Membership` must therefore drop it when its context goes (for example
/// in the context's `Drop`): otherwise the member and the job keep each
/// other alive, and with them the JobID and the protocol's module.
///
/// A realized job pins only its protocol's module, and REVOKE calls
/// [`JobMember::revoked`] with no lock held: only the protocol's module
/// (the driver that registered it with [`ProtocolRegistration`]) may
/// implement members, or the member's code could be unloaded while REVOKE
/// still calls it.
pub trait JobMember: Send + Sync {
    /// The job was revoked.
    ///
    /// Called once per member, by the REVOKE ioctl, in process context (it
    /// may sleep) with no lock of the job core held: the member may take its
    /// own locks and drop its [`Membership`]. When it returns, the member
    /// must neither send nor accept traffic of the job any more: REVOKE
    /// frees the JobID for a new job once every member returned.
    fn revoked(&self);
}

/// One registered protocol.
struct ProtoEntry {
    protocol: Protocol,
    realize: fn(&[u8; PROPS_LEN]) -> Result<IdRequest>,
    set_job_id: fn(&mut [u8; PROPS_LEN], u32),
    owner: *mut bindings::module,
}

/// The reserved JobIDs of one (network namespace, protocol).
struct IdSpace {
    /// Reserved ids (the entries carry no value).
    ids: Pin<KBox<MapleTreeAlloc<()>>>,
    /// How many.
    count: usize,
}

/// Key of an [`IdSpace`]: the namespace's address and the protocol. A
/// namespace with ids reserved is alive (its jobs hold it), and a space is
/// removed when its last id goes, so an address is never stale.
type SpaceKey = (usize, u32);

/// Protocols and reserved JobIDs of the whole system.
struct Table {
    protos: KVec<ProtoEntry>,
    /// Created at the first reservation (`RBTree::new` is not `const`).
    spaces: Option<RBTree<SpaceKey, IdSpace>>,
    /// Per protocol, where the next allocation starts looking: allocation
    /// is cyclic, so that a JobID just freed is not handed out again at
    /// once. The cursor is per protocol, not per namespace, so that it
    /// outlives the namespaces' `IdSpace`s (which go with their last id)
    /// in bounded memory.
    cursors: [u32; Protocol::COUNT],
}

// SAFETY: `owner` is only used to take and drop module references, which
// any thread may do.
unsafe impl Send for Table {}

crate::sync::global_lock! {
    // SAFETY: initialised by `Registered::claim`, which runs at most once
    // (an atomic flag) and before `READY` is set; nothing locks the table
    // before that (protocol registrations check `READY`, jobs exist only
    // once the device is registered).
    unsafe(uninit) static JOB_TABLE: Mutex<Table> = Table::new();
}

/// Set once the device registration started; never cleared.
static REGISTERED: AtomicBool = AtomicBool::new(false);
/// Set once `JOB_TABLE` is initialised and the device registered.
static READY: AtomicBool = AtomicBool::new(false);
/// The `file_operations` of `/dev/infiniband/job`, to recognise job files.
static JOB_FOPS: AtomicPtr<bindings::file_operations> = AtomicPtr::new(core::ptr::null_mut());

impl Table {
    const fn new() -> Self {
        Self {
            protos: KVec::new(),
            spaces: None,
            cursors: [0; Protocol::COUNT],
        }
    }

    /// Reserves a JobID of `protocol` in the namespace `net`.
    fn reserve(&mut self, net: usize, protocol: Protocol, req: IdRequest) -> Result<u32> {
        // CAST: `Protocol` is `repr(u32)`.
        let key = (net, protocol as u32);
        let spaces = self.spaces.get_or_insert_with(RBTree::new);
        if spaces.get(&key).is_none() {
            let space = IdSpace {
                ids: KBox::pin_init(MapleTreeAlloc::new(), GFP_KERNEL)?,
                count: 0,
            };
            spaces.try_create_and_insert(key, space, GFP_KERNEL)?;
        }
        let space = spaces.get_mut(&key).ok_or(EINVAL)?;
        let res = space.reserve(req, &mut self.cursors[protocol.index()]);
        if space.count == 0 {
            spaces.remove(&key);
        }
        res
    }

    /// Frees a JobID reserved by [`Self::reserve`].
    fn release(&mut self, net: usize, protocol: Protocol, id: u32) {
        // CAST: `Protocol` is `repr(u32)`.
        let key = (net, protocol as u32);
        let Some(spaces) = self.spaces.as_mut() else {
            return;
        };
        let Some(space) = spaces.get_mut(&key) else {
            return;
        };
        if space.ids.erase(u32_as_usize(id)).is_some() {
            space.count -= 1;
        }
        if space.count == 0 {
            spaces.remove(&key);
        }
    }
}

impl IdSpace {
    /// `O(log n)`: a fixed id is one insertion, an allocation one gap
    /// search (two at most, when it wraps around) from `next`, which it
    /// moves past the id it returns.
    fn reserve(&mut self, req: IdRequest, next: &mut u32) -> Result<u32> {
        match req {
            IdRequest::Fixed(id) => {
                self.ids
                    .insert(u32_as_usize(id), (), GFP_KERNEL)
                    .map_err(Error::from)?;
                self.count += 1;
                Ok(id)
            }
            IdRequest::Alloc { min, max } => {
                if min > max {
                    return Err(EINVAL);
                }
                let start = (*next).clamp(min, max);
                let mut found = None;
                for (lo, hi) in [(start, max), (min, start)] {
                    let range = u32_as_usize(lo)..=u32_as_usize(hi);
                    match self.ids.alloc_range(1, (), range, GFP_KERNEL) {
                        Ok(idx) => {
                            found = Some(idx);
                            break;
                        }
                        Err(e) if e.cause == crate::maple_tree::AllocErrorKind::Busy => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let idx = found.ok_or(EADDRNOTAVAIL)?;
                let id = u32::try_from(idx).map_err(|_| EINVAL)?;
                self.count += 1;
                *next = if id >= max { min } else { id + 1 };
                Ok(id)
            }
        }
    }
}

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

    /// Whether `netdev` is in this namespace now.
    fn holds(&self, netdev: &NetDevice) -> bool {
        // SAFETY: `netdev` is a live net_device (a reference proves it);
        // `dev_net` reads its namespace pointer, compared by address only.
        core::ptr::eq(self.ptr, unsafe { bindings::dev_net(netdev.as_raw()) })
    }

    fn key(&self) -> usize {
        self.ptr.addr()
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: taken in `current` per the type invariant.
        unsafe { bindings::rdma_put_net(self.ptr) };
    }
}

/// A current member: its key (for leaving) and the driver's object.
struct MemberEntry {
    key: u64,
    member: Arc<dyn JobMember>,
}

struct JobInner {
    // Not `state`: lock guards of the kernel crate have a field of that
    // name, which would shadow this one through `Deref` here.
    job_state: JobState,
    /// Set when realized.
    protocol: Option<Protocol>,
    props: [u8; PROPS_LEN],
    /// Memberships alive (also after REVOKE, until their owners drop them).
    members: u32,
    /// Member files with at least one membership alive.
    member_fds: u32,
    /// Members to tell at REVOKE (emptied by it).
    to_revoke: KVec<MemberEntry>,
    next_key: u64,
    /// Module of the protocol, referenced while the job is realized.
    owner: *mut bindings::module,
    /// The reserved id, released by REVOKE or when the job goes.
    id: Option<u32>,
}

// SAFETY: `owner` is only used to drop a module reference, which any thread
// may do.
unsafe impl Send for JobInner {}

/// A job: created by `open()` of `/dev/infiniband/job`, alive while one of
/// its files or a member holds it.
///
/// Lock order: `inner`, then `JOB_TABLE`.
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
    /// `enum rdma_job_protocol`; 0 if not realized.
    pub protocol: u32,
    /// State.
    pub state: JobState,
    /// Joined contexts.
    pub members: u32,
    /// Member files through which a current member joined.
    pub member_fds: u32,
    /// The protocol's property block.
    pub props: [u8; PROPS_LEN],
}

impl JobInfo {
    /// The `struct rdma_job_info` bytes.
    pub fn to_bytes(&self) -> [u8; INFO_LEN] {
        let mut b = [0u8; INFO_LEN];
        b[0..4].copy_from_slice(&self.protocol.to_ne_bytes());
        // CAST: `JobState` is `repr(u32)` with the uapi values.
        b[4..8].copy_from_slice(&(self.state as u32).to_ne_bytes());
        b[8..12].copy_from_slice(&self.members.to_ne_bytes());
        b[16..INFO_MEMBER_FDS].copy_from_slice(&self.props);
        b[INFO_MEMBER_FDS..INFO_MEMBER_FDS + 4].copy_from_slice(&self.member_fds.to_ne_bytes());
        b
    }
}

/// What a job file may do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Role {
    /// Opened from the device: everything, if opened for writing.
    Admin,
    /// Made by `RDMA_JOB_IOC_MEMBER_FD`: query and join only.
    Member,
}

/// An open job file (the private data of both kinds of job files).
struct JobFile {
    job: Arc<Job>,
    role: Role,
    /// Memberships alive that joined through this file.
    joined: LockedBy<u32, JobInner>,
}

impl JobFile {
    fn new(job: Arc<Job>, role: Role) -> Result<Arc<Self>> {
        let joined = LockedBy::new(&job.inner, 0);
        Ok(Arc::new(Self { job, role, joined }, GFP_KERNEL)?)
    }

    /// The job file open as `file`; `EINVAL` if `file` is not a job file.
    fn from_file(file: &File) -> Result<Arc<Self>> {
        let fops = JOB_FOPS.load(Ordering::Acquire);
        // SAFETY: `file` is a valid open file; `f_op` is set at open.
        let f_op = unsafe { (*file.as_ptr()).f_op };
        if fops.is_null() || !core::ptr::eq(f_op, fops) {
            return Err(EINVAL);
        }
        // SAFETY: files with the job device's fops were opened by the misc
        // device or made by `JobFile::member_fd`; both stored an
        // `Arc<JobFile>` as private data until release, and `file` is open.
        let jf = unsafe { <Arc<JobFile> as ForeignOwnable>::borrow((*file.as_ptr()).private_data) };
        Ok(jf.into())
    }

    /// The administrative ioctls need an admin file opened for writing:
    /// `EPERM` for a member file, `EBADF` for a read-only one.
    fn check_admin(&self, file: &File) -> Result {
        if self.role != Role::Admin {
            return Err(EPERM);
        }
        if file.flags() & flags::O_ACCMODE == flags::O_RDONLY {
            return Err(EBADF);
        }
        Ok(())
    }

    /// `RDMA_JOB_IOC_MEMBER_FD`: a new member file of this job.
    fn member_fd(&self, arg: usize) -> Result<isize> {
        let cloexec = u32_as_usize(uapi::rdma_job_member_fd_flags_RDMA_JOB_MEMBER_FD_CLOEXEC);
        if arg & !cloexec != 0 {
            return Err(EINVAL);
        }
        let fops = JOB_FOPS.load(Ordering::Acquire);
        let mut oflags = flags::O_RDONLY;
        if arg & cloexec != 0 {
            oflags |= flags::O_CLOEXEC;
        }
        let priv_ = JobFile::new(self.job.clone(), Role::Member)?.into_foreign();
        // CAST: the open flags are small positive values.
        let oflags = oflags as i32;
        // SAFETY: `fops` are the job device's (set before any job file
        // exists); the new file takes `priv_` as its private data, which the
        // device's ioctl borrows and its release turns back into the
        // `Arc<JobFile>` it is, as for files opened through the device.
        let fd = unsafe { bindings::rdma_job_anon_fd(fops, priv_, oflags) };
        if fd < 0 {
            // SAFETY: no file was made: `priv_` is still ours.
            drop(unsafe { <Arc<JobFile> as ForeignOwnable>::from_foreign(priv_) });
            return Err(Error::from_errno(fd));
        }
        // CAST: a descriptor number is non-negative and fits.
        Ok(fd as isize)
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
                    protocol: None,
                    props: [0; PROPS_LEN],
                    members: 0,
                    member_fds: 0,
                    to_revoke: KVec::new(),
                    next_key: 0,
                    owner: core::ptr::null_mut(),
                    id: None,
                }, "Job::inner"),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Current state.
    pub fn info(&self) -> JobInfo {
        let g = self.inner.lock();
        JobInfo {
            // CAST: `Protocol` is `repr(u32)` with the uapi values.
            protocol: g
                .protocol
                .map_or(uapi::rdma_job_protocol_RDMA_JOB_PROTO_NONE, |p| p as u32),
            state: g.job_state,
            members: g.members,
            member_fds: g.member_fds,
            props: g.props,
        }
    }

    /// Makes a member of the job open as `file` (any job file, admin or
    /// member), for a device of `protocol` whose netdev is `netdev`.
    /// `member` is told when the job is revoked ([`JobMember::revoked`]).
    ///
    /// The job must be a realized job of `protocol`, and both the caller
    /// and `netdev` must be in the job's network namespace, so that a JobID
    /// names one job on any device. The netdev check holds for the
    /// membership's whole life because a netdev leaving its namespace goes
    /// through `NETDEV_UNREGISTER`, on which a driver unregisters its
    /// device (which destroys its contexts).
    ///
    /// Errors: `EINVAL` (not a job file, not realized, other protocol),
    /// `EXDEV` (the caller or the netdev in another network namespace),
    /// `EPERM` (sealed), `EKEYREVOKED` (revoked), `ENOMEM`.
    pub fn join(
        file: &File,
        protocol: Protocol,
        netdev: &NetDevice,
        member: Arc<dyn JobMember>,
    ) -> Result<Membership> {
        let jf = JobFile::from_file(file)?;
        let job = jf.job.clone();
        if !job.net.is_current() || !job.net.holds(netdev) {
            return Err(EXDEV);
        }
        let mut g = job.inner.lock();
        match g.job_state {
            JobState::Empty => return Err(EINVAL),
            JobState::Sealed => return Err(EPERM),
            JobState::Revoked => return Err(EKEYREVOKED),
            JobState::Active => {}
        }
        if g.protocol != Some(protocol) {
            return Err(EINVAL);
        }
        let key = g.next_key;
        g.to_revoke.push(MemberEntry { key, member }, GFP_KERNEL)?;
        g.next_key += 1;
        g.members += 1;
        let via = if jf.role == Role::Member {
            let first = {
                let n = jf.joined.access_mut(&mut g);
                *n += 1;
                *n == 1
            };
            if first {
                g.member_fds += 1;
            }
            Some(jf)
        } else {
            None
        };
        drop(g);
        Ok(Membership { job, via, key })
    }

    fn realize(&self, slice: UserSlice, size: usize) -> Result<isize> {
        if size < MIN_ARG_LEN {
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
        // Only a protocol of the header's list, and only for an empty job,
        // may load a module.
        let protocol = Protocol::try_from(protocol)?;
        if self.inner.lock().job_state != JobState::Empty {
            return Err(EBUSY);
        }
        let mut props = [0u8; PROPS_LEN];
        props.copy_from_slice(&req[8..]);

        // Load the protocol's module on demand (alias rdma-job-proto-N),
        // before taking any lock: its init registers the protocol.
        let known = |p: Protocol| JOB_TABLE.lock().protos.iter().any(|e| e.protocol == p);
        if !known(protocol) {
            // SAFETY: no locks held; may sleep while modprobe runs. A
            // failure leaves the protocol unknown, reported below.
            // CAST: `Protocol` is `repr(u32)` with the uapi values.
            let _ = unsafe { bindings::rdma_job_request_protocol(protocol as u32) };
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
        let req_id = realize(&props)?;
        // SAFETY: `owner` is the registered protocol's module, live while
        // it is in the table (we hold the table lock).
        if !unsafe { bindings::try_module_get(owner) } {
            return Err(EPROTONOSUPPORT);
        }
        let id = match t.reserve(self.net.key(), protocol, req_id) {
            Ok(id) => id,
            Err(e) => {
                // SAFETY: taken just above.
                unsafe { bindings::module_put(owner) };
                return Err(e);
            }
        };
        drop(t);
        set_job_id(&mut props, id);
        g.protocol = Some(protocol);
        g.props = props;
        g.owner = owner;
        g.id = Some(id);
        g.job_state = JobState::Active;
        req[8..].copy_from_slice(&props);
        drop(g);
        writer.write_slice(&req[..n])?;
        Ok(0)
    }

    /// QUERY: the first `size` bytes of `struct rdma_job_info`, zeroes past
    /// it (like `copy_struct_to_user`).
    fn query(&self, slice: UserSlice, size: usize) -> Result<isize> {
        if size < MIN_ARG_LEN {
            return Err(EINVAL);
        }
        let info = self.info().to_bytes();
        let mut writer = slice.writer();
        writer.write_slice(&info[..size.min(INFO_LEN)])?;
        write_zeroes(&mut writer, size.saturating_sub(INFO_LEN))?;
        Ok(0)
    }

    fn seal(&self) -> Result<isize> {
        let mut g = self.inner.lock();
        match g.job_state {
            JobState::Empty => Err(EINVAL),
            JobState::Revoked => Err(EPERM),
            JobState::Active | JobState::Sealed => {
                g.job_state = JobState::Sealed;
                Ok(0)
            }
        }
    }

    /// REVOKE: tells every member, with no lock held, then frees the JobID.
    fn revoke(&self) -> Result<isize> {
        let members = {
            let mut g = self.inner.lock();
            match g.job_state {
                JobState::Empty => return Err(EINVAL),
                JobState::Revoked => return Ok(0),
                JobState::Active | JobState::Sealed => {}
            }
            g.job_state = JobState::Revoked;
            core::mem::take(&mut g.to_revoke)
        };
        for m in members.iter() {
            m.member.revoked();
        }
        drop(members);
        self.release_id();
        Ok(0)
    }

    fn release_id(&self) {
        let mut g = self.inner.lock();
        if let (Some(id), Some(protocol)) = (g.id.take(), g.protocol) {
            JOB_TABLE.lock().release(self.net.key(), protocol, id);
        }
    }
}

/// Writes `n` zero bytes.
fn write_zeroes(writer: &mut UserSliceWriter, mut n: usize) -> Result {
    let zero = [0u8; 64];
    while n > 0 {
        let k = n.min(zero.len());
        writer.write_slice(&zero[..k])?;
        n -= k;
    }
    Ok(())
}

#[pinned_drop]
impl PinnedDrop for Job {
    fn drop(self: Pin<&mut Self>) {
        self.release_id();
        let owner = self.inner.lock().owner;
        if !owner.is_null() {
            // SAFETY: taken when the job was realized.
            unsafe { bindings::module_put(owner) };
        }
    }
}

/// A uverbs context's membership of a job; leaving on drop.
pub struct Membership {
    job: Arc<Job>,
    /// The member file it joined through, if it was one.
    via: Option<Arc<JobFile>>,
    key: u64,
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
        g.members -= 1;
        if let Some(jf) = &self.via {
            let last = {
                let n = jf.joined.access_mut(&mut g);
                *n -= 1;
                *n == 0
            };
            if last {
                g.member_fds -= 1;
            }
        }
        let entry = g
            .to_revoke
            .iter()
            .position(|e| e.key == self.key)
            .and_then(|i| g.to_revoke.remove(i).ok());
        drop(g);
        // The driver's object goes with no job lock held.
        drop(entry);
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
struct JobDev;

#[vtable]
impl MiscDevice for JobDev {
    type Ptr = Arc<JobFile>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Arc<JobFile>> {
        JobFile::new(Job::new(file)?, Role::Admin)
    }

    fn ioctl(jf: ArcBorrow<'_, JobFile>, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        if _IOC_TYPE(cmd) != uapi::RDMA_JOB_IOCTL_MAGIC {
            return Err(ENOTTY);
        }
        let size = _IOC_SIZE(cmd);
        let dir = _IOC_DIR(cmd);
        let slice = || UserSlice::new(UserPtr::from_addr(arg), size);
        let job = &jf.job;
        match _IOC_NR(cmd) {
            // extensible: any size
            NR_REALIZE if dir == _IOC_DIR(IOC_REALIZE) => {
                jf.check_admin(file)?;
                job.realize(slice(), size)
            }
            NR_QUERY if dir == _IOC_DIR(IOC_QUERY) => job.query(slice(), size),
            NR_SEAL if cmd == IOC_SEAL => {
                jf.check_admin(file)?;
                job.seal()
            }
            NR_REVOKE if cmd == IOC_REVOKE => {
                jf.check_admin(file)?;
                job.revoke()
            }
            NR_MEMBER_FD if cmd == IOC_MEMBER_FD => {
                jf.check_admin(file)?;
                jf.member_fd(arg)
            }
            _ => Err(ENOTTY),
        }
    }
}

/// Proof that this is the one registration of the job device: taking it
/// initialises the global job table, which must happen once only.
struct Registered;

/// Sets `flag`; `true` for the one caller that found it clear.
fn claim_once(flag: &AtomicBool) -> bool {
    flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

impl Registered {
    /// `EBUSY` if the job device was registered before (in this boot).
    fn claim() -> Result<Self> {
        if !claim_once(&REGISTERED) {
            return Err(EBUSY);
        }
        // SAFETY: `REGISTERED` was false, and is never cleared: this runs
        // once; nothing uses the table before `READY` is set below.
        unsafe { JOB_TABLE.init() };
        Ok(Self)
    }
}

/// The registered `/dev/infiniband/job` device.
#[pin_data]
pub struct JobDevice {
    _once: Registered,
    #[pin]
    misc: MiscDeviceRegistration<JobDev>,
}

impl JobDevice {
    /// Registers `/dev/infiniband/job` (mode 0600), from the built-in job
    /// core. There is one job device: initialising a second registration
    /// fails with `EBUSY`, even after the first one was dropped.
    pub fn register() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _once: Registered::claim()?,
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

#[kunit_tests(rust_rdma_job)]
mod tests {
    use super::*;

    /// The claim that guards the table's initialisation succeeds once only,
    /// also for callers that come after the first one failed or went.
    #[test]
    fn registration_is_claimed_once() {
        let flag = AtomicBool::new(false);
        assert!(claim_once(&flag));
        assert!(!claim_once(&flag));
        assert!(!claim_once(&flag));
        assert!(flag.load(Ordering::Relaxed));
    }

    /// The job device registered at boot holds the claim: a later
    /// registration must fail instead of re-initialising the global table.
    #[test]
    fn registration_after_boot_fails() {
        if !READY.load(Ordering::Acquire) {
            // The job device is not built in (`CONFIG_RDMA_JOB=n`): taking
            // the claim here would register a device the test cannot undo.
            return;
        }
        let again = KBox::pin_init(JobDevice::register(), GFP_KERNEL);
        assert!(matches!(again, Err(e) if e == EBUSY));
    }

    /// Allocation is cyclic per protocol, also across the end of a
    /// namespace's id space: the JobID just freed is not handed out again.
    #[test]
    fn alloc_does_not_reuse_a_freed_id_at_once() -> Result {
        let mut t = Table::new();
        let alloc = IdRequest::Alloc { min: 1, max: 3 };
        let (net_a, net_b) = (0x1000, 0x2000);
        let a = t.reserve(net_a, Protocol::Uet, alloc)?;
        t.release(net_a, Protocol::Uet, a);
        // The namespace's space went with its last id; the cursor did not.
        assert!(t
            .spaces
            .as_ref()
            .is_some_and(|s| s.get(&(net_a, 1)).is_none()));
        let b = t.reserve(net_a, Protocol::Uet, alloc)?;
        assert_ne!(a, b);
        // It wraps around to the freed id once the others are taken.
        let c = t.reserve(net_a, Protocol::Uet, alloc)?;
        assert!(c != a && c != b);
        let d = t.reserve(net_a, Protocol::Uet, alloc)?;
        assert_eq!(d, a);
        assert_eq!(t.reserve(net_a, Protocol::Uet, alloc), Err(EADDRNOTAVAIL));
        // Another namespace has its own ids.
        let e = t.reserve(net_b, Protocol::Uet, IdRequest::Fixed(b))?;
        assert_eq!(e, b);
        for (net, id) in [(net_a, b), (net_a, c), (net_a, d), (net_b, e)] {
            t.release(net, Protocol::Uet, id);
        }
        assert!(t.spaces.as_ref().is_some_and(|s| s.is_empty()));
        Ok(())
    }

    #[test]
    fn protocols_outside_the_header_are_refused() {
        assert_eq!(Protocol::try_from(1), Ok(Protocol::Uet));
        for p in [0, 2, 0x100, u32::MAX] {
            assert_eq!(Protocol::try_from(p), Err(EPROTONOSUPPORT));
        }
    }

    #[test]
    fn info_layout() {
        let info = JobInfo {
            protocol: 1,
            state: JobState::Sealed,
            members: 3,
            member_fds: 2,
            props: [0x5a; PROPS_LEN],
        };
        let b = info.to_bytes();
        assert_eq!(b[4..8], 2u32.to_ne_bytes());
        assert_eq!(b[12..16], [0; 4]);
        assert_eq!(b[16], 0x5a);
        assert_eq!(b[INFO_MEMBER_FDS..INFO_MEMBER_FDS + 4], 2u32.to_ne_bytes());
        assert_eq!(b[INFO_LEN - 4..], [0; 4]);
    }
}
