// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! RDMA devices (`struct ib_device`) and the verbs objects user space
//! creates on them: user contexts, protection domains, completion queues and
//! memory regions.
//!
//! C header: [`include/rdma/ib_verbs.h`](srctree/include/rdma/ib_verbs.h)
//!
//! Every object is a `#[repr(C)]` struct with the C object at offset 0 and
//! the driver's data after it. ib_core allocates devices, user contexts, PDs
//! and CQs with the sizes this module reports (the Rust side of
//! `INIT_RDMA_OBJ_SIZE`); the driver's data is pin-initialised in that memory
//! and dropped in place when ib_core destroys the object. Memory regions are
//! allocated here, as C drivers do.

use super::{
    job::JobInfo,
    mmap::{
        EntryInner,
        MmapEntry,
        UserBuffer, //
    },
    netdev::{
        Gid,
        NetDevice, //
    },
    udata::UData,
    umem::Umem,
};
use crate::{
    bindings,
    fs::File,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        SpinLockIrq, //
    },
    types::Opaque, //
};
use core::{
    marker::PhantomData,
    mem::{
        align_of,
        offset_of,
        size_of, //
    },
    ops::Deref,
    ptr::NonNull, //
};

/// Driver ids (`enum rdma_driver_id`), matched by rdma-core providers.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DriverId {
    /// Ultra Ethernet Transport devices.
    Uet = bindings::rdma_driver_id_RDMA_DRIVER_UET,
}

impl DriverId {
    /// The C value.
    pub const fn as_raw(self) -> u32 {
        // CAST: `repr(u32)` with the C values as discriminants.
        self as u32
    }
}

crate::impl_flags!(
    /// Memory access flags of a memory region (`enum ib_access_flags`).
    #[derive(Debug, Clone, Default, Copy, PartialEq, Eq)]
    pub struct AccessFlags(u32);

    /// One memory access flag.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Access {
        /// Local write access.
        LocalWrite = bindings::ib_access_flags_IB_ACCESS_LOCAL_WRITE,
        /// Remote write access.
        RemoteWrite = bindings::ib_access_flags_IB_ACCESS_REMOTE_WRITE,
        /// Remote read access.
        RemoteRead = bindings::ib_access_flags_IB_ACCESS_REMOTE_READ,
        /// Remote atomic access.
        RemoteAtomic = bindings::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC,
        /// Memory windows may be bound to the region.
        MwBind = bindings::ib_access_flags_IB_ACCESS_MW_BIND,
        /// Addresses in work requests are offsets from the region's start.
        ZeroBased = bindings::ib_access_flags_IB_ZERO_BASED,
        /// On-demand paging.
        OnDemand = bindings::ib_access_flags_IB_ACCESS_ON_DEMAND,
        /// The region is backed by huge pages.
        HugeTlb = bindings::ib_access_flags_IB_ACCESS_HUGETLB,
        /// Global visibility flush.
        FlushGlobal = bindings::ib_access_flags_IB_ACCESS_FLUSH_GLOBAL,
        /// Persistence flush.
        FlushPersistent = bindings::ib_access_flags_IB_ACCESS_FLUSH_PERSISTENT,
        /// Relaxed ordering may be used.
        RelaxedOrdering = bindings::ib_access_flags_IB_ACCESS_RELAXED_ORDERING,
    }
);

impl AccessFlags {
    /// Parses user access flags: `EINVAL` for a bit ib_core does not
    /// define. Optional bits (`IB_ACCESS_OPTIONAL`) other than relaxed
    /// ordering are best-effort hints and are dropped, as ib_core allows.
    pub fn from_user(bits: u32) -> Result<Self> {
        if bits & !bindings::ib_access_flags_IB_ACCESS_SUPPORTED != 0 {
            return Err(EINVAL);
        }
        let optional = bindings::ib_access_flags_IB_ACCESS_OPTIONAL;
        let bits = bits & !(optional & !u32::from(Self::from(Access::RelaxedOrdering)));
        if bits & !Self::all_bits() != 0 {
            return Err(EINVAL);
        }
        Ok(Self(bits))
    }

    /// The C value.
    pub fn bits(self) -> u32 {
        self.0
    }
}

/// Device attributes reported by `query_device` (a subset of
/// `struct ib_device_attr`; unset fields are zero).
#[derive(Default, Clone)]
pub struct DeviceAttr {
    /// Firmware version.
    pub fw_ver: u64,
    /// System image GUID, in network byte order.
    pub sys_image_guid: u64,
    /// Largest memory region in bytes.
    pub max_mr_size: u64,
    /// Supported page sizes (bitmask).
    pub page_size_cap: u64,
    /// Vendor id.
    pub vendor_id: u32,
    /// Vendor part id.
    pub vendor_part_id: u32,
    /// Hardware version.
    pub hw_ver: u32,
    /// Maximum queue pairs (endpoints).
    pub max_qp: u32,
    /// Maximum work requests per queue.
    pub max_qp_wr: u32,
    /// Maximum completion queues.
    pub max_cq: u32,
    /// Maximum entries per completion queue.
    pub max_cqe: u32,
    /// Maximum memory regions.
    pub max_mr: u32,
    /// Maximum protection domains.
    pub max_pd: u32,
    /// Maximum scatter/gather entries.
    pub max_sge: u32,
    /// Whether `rdma link delete` may unregister the device.
    pub allow_user_unreg: bool,
    /// Whether atomics are atomic with respect to the other atomics of the
    /// device (`IB_ATOMIC_HCA`); `false` reports no atomics.
    pub atomic_hca: bool,
    /// RDMA reads and atomics outstanding per QP, as initiator and as
    /// target (`max_qp_rd_atom`, `max_qp_init_rd_atom`).
    pub max_qp_rd_atom: u32,
    /// RDMA reads and atomics outstanding per device (`max_res_rd_atom`).
    pub max_res_rd_atom: u32,
}

/// Port state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PortState {
    /// No link.
    Down,
    /// Link up and usable.
    Active,
}

/// Port attributes reported by `query_port`.
#[derive(Clone)]
pub struct PortAttr {
    /// Logical port state.
    pub state: PortState,
    /// Largest MTU the port supports, in bytes (rounded down to an IB MTU).
    pub max_mtu: u32,
    /// MTU in use, in bytes (rounded down to an IB MTU).
    pub active_mtu: u32,
    /// Entries of the GID table.
    pub gid_tbl_len: u32,
    /// Largest message in bytes.
    pub max_msg_sz: u32,
}

/// Converts an MTU in bytes to the largest `enum ib_mtu` that fits.
///
/// ```
/// use kernel::rdma::device::ib_mtu_from_bytes;
/// assert_eq!(ib_mtu_from_bytes(1500), 3); // IB_MTU_1024
/// assert_eq!(ib_mtu_from_bytes(9000), 5); // IB_MTU_4096
/// assert_eq!(ib_mtu_from_bytes(100), 1); // IB_MTU_256, the smallest
/// ```
pub fn ib_mtu_from_bytes(bytes: u32) -> u32 {
    match bytes {
        4096.. => 5,
        2048..=4095 => 4,
        1024..=2047 => 3,
        512..=1023 => 2,
        _ => 1,
    }
}

/// Derives an EUI-64 (node GUID, network byte order) from an Ethernet MAC
/// address, as IPv6 does: `FF:FE` in the middle and the universal/local bit
/// flipped.
///
/// ```
/// use kernel::rdma::device::guid_from_mac;
/// let g = guid_from_mac(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
/// assert_eq!(g.to_ne_bytes(), [0x00, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]);
/// ```
pub fn guid_from_mac(mac: &[u8; 6]) -> u64 {
    let b = [
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ];
    u64::from_ne_bytes(b)
}

/// A hardware counter description (`struct rdma_stat_desc`).
///
/// # Invariants
///
/// `name` points at a `'static` NUL-terminated string and `priv_` is null.
#[repr(transparent)]
pub struct StatDesc(bindings::rdma_stat_desc);

// SAFETY: the description is immutable and only holds a pointer to a
// `'static` string and a null pointer (type invariant), so sharing it
// between threads (ib_core reads it from sysfs and netlink) is safe.
unsafe impl Sync for StatDesc {}

impl StatDesc {
    /// A counter called `name`.
    pub const fn new(name: &'static CStr) -> Self {
        // INVARIANT: `name` is `'static` and NUL terminated; `priv_` is null.
        Self(bindings::rdma_stat_desc {
            name: crate::str::as_char_ptr_in_const_context(name),
            flags: 0,
            priv_: core::ptr::null(),
        })
    }
}

/// Attributes of a CQ being created.
pub struct CqAttr {
    /// Entries requested.
    pub cqe: u32,
    /// Completion vector.
    pub comp_vector: u32,
    /// Creation flags.
    pub flags: u32,
    /// Where the driver reports the CQ's asynchronous events; it may keep a
    /// clone anywhere.
    pub events: Arc<CqEvents>,
}

/// Asynchronous events of a completion queue (`enum ib_event_type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CqEvent {
    /// The CQ is in error (`IB_EVENT_CQ_ERR`): an overrun, or the
    /// context's job was revoked.
    Error,
}

/// The raw CQ behind a [`CqEvents`] and what happened before it existed.
struct CqPtr {
    /// The CQ, or null before `create_cq` published it and after
    /// `destroy_cq`.
    cq: *mut bindings::ib_cq,
    /// An error was reported while the CQ was being created: its creation
    /// fails.
    pending: bool,
    /// The CQ was destroyed (or its creation failed): reports are dropped.
    gone: bool,
}

// SAFETY: the pointer is only dereferenced under the `CqEvents` lock, while
// the CQ is alive (type invariant of `CqEvents`).
unsafe impl Send for CqPtr {}

/// Reports asynchronous events of one CQ to its owner (uverbs turns them
/// into `IBV_EVENT_CQ_ERR` on the context's async event file).
///
/// The handle is created before the driver initialises the CQ and stays
/// valid after the CQ is destroyed. An error reported while the CQ is
/// still being created fails the creation (`EIO`), so a driver may hand
/// the handle out from its `create_cq` and never lose an event; one
/// reported after the CQ was destroyed is dropped. [`CqEvents::report`] never
/// sleeps and may be called from any context, including the receive path.
///
/// # Invariants
///
/// `cq` is null, or the `ib_cq` of a live, initialised [`Cq`] of a user
/// context: `create_cq` stores it after the CQ was initialised and
/// `destroy_cq` clears it before the CQ's data is dropped, both under the
/// lock. Only user CQs exist (`create_cq` refuses kernel CQs), so the
/// event handler is always uverbs' `ib_uverbs_cq_event_handler`.
#[pin_data]
pub struct CqEvents {
    /// Innermost, irq-safe: only the event handler runs under it.
    #[pin]
    cq: SpinLockIrq<CqPtr>,
}

impl CqEvents {
    fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                cq <- crate::new_spinlock_irq!(
                    CqPtr {
                        cq: core::ptr::null_mut(),
                        pending: false,
                        gone: false,
                    },
                    "rdma::CqEvents::cq"
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// Publishes a CQ that `create_cq` initialised. If an error was
    /// reported meanwhile, the CQ is not published (uverbs has not
    /// finished its object, so the event could not reach user space
    /// correctly) and its creation fails with `EIO` instead.
    fn publish(&self, cq: *mut bindings::ib_cq) -> Result {
        let mut g = self.cq.lock();
        if g.pending {
            g.pending = false;
            g.gone = true;
            return Err(EIO);
        }
        // INVARIANT: `create_cq` passes the CQ it just initialised.
        g.cq = cq;
        Ok(())
    }

    /// The CQ is gone (destroyed, or its creation failed).
    fn retire(&self) {
        let mut g = self.cq.lock();
        // INVARIANT: null from now on.
        g.cq = core::ptr::null_mut();
        g.pending = false;
        g.gone = true;
    }

    /// Reports `event` to the CQ's owner; `false` if the CQ is gone.
    pub fn report(&self, event: CqEvent) -> bool {
        let CqEvent::Error = event;
        let mut g = self.cq.lock();
        if g.gone {
            return false;
        }
        if g.cq.is_null() {
            g.pending = true;
            return true;
        }
        // SAFETY: a published CQ is live while we hold the lock.
        unsafe { Self::deliver(g.cq) };
        true
    }

    /// Signals a completion event to the CQ's owner (uverbs queues it on the
    /// CQ's completion channel): what a device does when it wrote a
    /// completion to a CQ that was armed. `false` if the CQ is gone. Never
    /// sleeps; any context but hardirq.
    pub fn notify(&self) -> bool {
        let g = self.cq.lock();
        if g.cq.is_null() {
            return false;
        }
        // SAFETY: a published CQ is live while we hold the lock; its
        // `comp_handler` and `cq_context` were set by uverbs before
        // `create_cq` and never change. The handler is uverbs'
        // `ib_uverbs_comp_handler` (user CQs only, type invariant), which
        // takes irq-safe spinlocks and wakes waiters: it may run under our
        // lock with interrupts off.
        unsafe { bindings::rdma_cq_comp_handler(g.cq) };
        true
    }

    /// # Safety
    ///
    /// `cq` must be a live, published user CQ and the caller must hold the
    /// lock that publishes it.
    unsafe fn deliver(cq: *mut bindings::ib_cq) {
        // SAFETY: `cq` is live (caller). `event_handler`, `cq_context` and
        // `uobject` were set by uverbs before `create_cq` and never change;
        // the handler is `ib_uverbs_cq_event_handler` (type invariant),
        // which only takes irq-safe spinlocks and wakes waiters, so it may
        // run under our lock with interrupts off.
        unsafe {
            if let Some(handler) = (*cq).event_handler {
                let mut ev: bindings::ib_event = core::mem::zeroed();
                ev.device = (*cq).device;
                ev.event = bindings::ib_event_type_IB_EVENT_CQ_ERR;
                ev.element.cq = cq;
                handler(&mut ev, (*cq).cq_context);
            }
        }
    }
}

/// What the core needs from a driver's CQ.
pub trait CqData: Send + Sync {
    /// Entries the CQ really has (at least what was requested).
    fn entries(&self) -> u32;

    /// Arms the CQ for a completion event. Must not sleep.
    fn req_notify(&self, _solicited_only: bool) -> Result {
        Ok(())
    }
}

/// What the core needs from a driver's memory region.
pub trait MrData: Send + Sync {
    /// The local and remote key.
    fn key(&self) -> u32;
}

/// What the core needs from a driver's queue pair.
pub trait QpData: Send + Sync {
    /// The send queue's doorbell: user space posted work to the send
    /// ring it maps (uverbs `POST_SEND` with no work requests). Called in
    /// process context, but `post_send` must not sleep (ib_core's
    /// contract for it), so neither may this.
    fn doorbell_sq(&self) -> Result;
    /// The receive queue's doorbell (uverbs `POST_RECV` with no work
    /// requests). Process context; must not sleep, as `post_recv`.
    fn doorbell_rq(&self) -> Result;
    /// The QP is moved to `state` (uverbs `MODIFY_QP` with `IB_QP_STATE`).
    /// Process context; may sleep.
    fn set_state(&self, state: QpState) -> Result;
}

/// Queue pair states (`enum ib_qp_state`).
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum QpState {
    /// Reset.
    Reset = bindings::ib_qp_state_IB_QPS_RESET,
    /// Initialised.
    Init = bindings::ib_qp_state_IB_QPS_INIT,
    /// Ready to receive.
    Rtr = bindings::ib_qp_state_IB_QPS_RTR,
    /// Ready to send.
    Rts = bindings::ib_qp_state_IB_QPS_RTS,
    /// Send queue drained.
    Sqd = bindings::ib_qp_state_IB_QPS_SQD,
    /// Send queue error.
    Sqe = bindings::ib_qp_state_IB_QPS_SQE,
    /// Error: outstanding work is flushed.
    Err = bindings::ib_qp_state_IB_QPS_ERR,
}

impl QpState {
    fn from_raw(v: u32) -> Result<Self> {
        Ok(match v {
            bindings::ib_qp_state_IB_QPS_RESET => Self::Reset,
            bindings::ib_qp_state_IB_QPS_INIT => Self::Init,
            bindings::ib_qp_state_IB_QPS_RTR => Self::Rtr,
            bindings::ib_qp_state_IB_QPS_RTS => Self::Rts,
            bindings::ib_qp_state_IB_QPS_SQD => Self::Sqd,
            bindings::ib_qp_state_IB_QPS_SQE => Self::Sqe,
            bindings::ib_qp_state_IB_QPS_ERR => Self::Err,
            _ => return Err(EINVAL),
        })
    }
}

/// Queue sizes of a QP (`struct ib_qp_cap`): requested on creation, and set
/// by the driver to what the QP really has.
#[derive(Copy, Clone, Debug, Default)]
pub struct QpCap {
    /// Send queue entries.
    pub max_send_wr: u32,
    /// Receive queue entries.
    pub max_recv_wr: u32,
    /// Scatter/gather entries per send request.
    pub max_send_sge: u32,
    /// Scatter/gather entries per receive request.
    pub max_recv_sge: u32,
    /// Bytes of inline data per send request.
    pub max_inline_data: u32,
}

/// Attributes of a user QP being created (`struct ib_qp_init_attr`), lent
/// to [`Operations::create_qp`].
pub struct QpInitAttr<'a, T: Operations> {
    /// `enum ib_qp_type`, e.g. `IB_QPT_DRIVER`.
    pub qp_type: u32,
    /// Creation flags (`enum ib_qp_create_flags`).
    pub create_flags: u32,
    /// Whether the QP takes receives from a shared receive queue.
    pub has_srq: bool,
    /// The CQ of the send queue.
    pub send_cq: Option<&'a Cq<T>>,
    /// The CQ of the receive queue.
    pub recv_cq: Option<&'a Cq<T>>,
    /// Requested sizes.
    pub cap: QpCap,
}

/// What a driver made of a QP it creates.
#[derive(Copy, Clone, Debug, Default)]
pub struct QpCreated {
    /// The QP number.
    pub qp_num: u32,
    /// The sizes the QP really has (at least those requested).
    pub cap: QpCap,
}

/// `IB_QPT_DRIVER`: a QP whose type the driver's udata gives.
pub const QPT_DRIVER: u32 = bindings::ib_qp_type_IB_QPT_DRIVER;

/// Arguments of a user memory registration.
///
/// # Invariants
///
/// Only the `reg_user_mr` callback builds an `MrArgs`, and lends it to the
/// driver for that call; `ibdev` is the device of the PD being registered,
/// held by uverbs for the call.
pub struct MrArgs {
    ibdev: *mut bindings::ib_device,
    /// Start of the region in the caller's address space.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// The address the region is known by in work requests (iova).
    pub virt_addr: u64,
    /// Access flags.
    pub access: AccessFlags,
}

impl MrArgs {
    /// Pins the region's pages (`ib_umem_get`).
    pub fn pin(&self) -> Result<Umem> {
        let len = usize::try_from(self.length).map_err(|_| EINVAL)?;
        let access = i32::try_from(self.access.bits()).map_err(|_| EINVAL)?;
        // SAFETY: an `MrArgs` is only built by the `reg_user_mr` callback and
        // lent to the driver for that call (it is not `Clone`), so we run in
        // the REG_MR command, in the context of the process owning the
        // memory; `ibdev` is the PD's device, registered and held for it.
        unsafe { Umem::get(self.ibdev, self.start, len, access) }
    }
}

/// The operations of an RDMA device; `Self` is the device's data.
///
/// ib_core calls every operation in process context, where it may sleep and
/// allocate with `GFP_KERNEL`, except [`CqData::req_notify`], which must not
/// sleep. Operations of one device may run concurrently on several threads.
#[vtable]
pub trait Operations: Sized + Send + Sync + 'static {
    /// Driver id (`enum rdma_driver_id`).
    const DRIVER_ID: DriverId;
    /// uverbs ABI version the user-space provider must match.
    const ABI_VERSION: u32;
    /// Hardware counters, for `rdma statistic`.
    const COUNTERS: &'static [StatDesc] = &[];

    /// Per-uverbs-context data.
    type UContext: Send + Sync;
    /// Per-protection-domain data.
    type Pd: Send + Sync;
    /// Per-completion-queue data.
    type Cq: CqData;
    /// Per-memory-region data.
    type Mr: MrData;
    /// Per-queue-pair data.
    type Qp: QpData;

    /// Device attributes. Process context (registration, uverbs); may sleep.
    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr>;
    /// Port attributes (port 1). Process context (registration, uverbs,
    /// sysfs, netlink, the GID cache work); may sleep.
    fn query_port(dev: &Device<Self>, port: u32) -> Result<PortAttr>;
    /// GID `index` of `port` (`index` < the port's `gid_tbl_len`); all
    /// zero for an empty slot. Called by ib_core's GID cache in process
    /// context (with a mutex of the cache held), at registration and after
    /// [`Device::gid_changed`]; must not fail for a valid index.
    fn query_gid(dev: &Device<Self>, port: u32, index: u32) -> Result<Gid>;
    /// A user context is being created (uverbs `GET_CONTEXT`, process
    /// context of the opening process; may sleep).
    fn alloc_ucontext(
        dev: &Device<Self>,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::UContext, Error>>;
    /// A protection domain is being created (uverbs `ALLOC_PD`, process
    /// context; may sleep).
    fn alloc_pd(ctx: &UContext<Self>, udata: &mut UData) -> Result<impl PinInit<Self::Pd, Error>>;
    /// A completion queue is being created (uverbs `CREATE_CQ`, process
    /// context; may sleep).
    fn create_cq(
        ctx: &UContext<Self>,
        attr: &CqAttr,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Cq, Error>>;
    /// User memory is being registered (uverbs `REG_MR`, in the context of
    /// the process owning the memory; may sleep).
    fn reg_user_mr(
        pd: &Pd<Self>,
        args: &MrArgs,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Mr, Error>>;

    /// A queue pair is being created (uverbs `CREATE_QP`, process
    /// context; may sleep). Returns its number and sizes with its data.
    fn create_qp(
        pd: &Pd<Self>,
        attr: &QpInitAttr<'_, Self>,
        udata: &mut UData,
    ) -> Result<(QpCreated, impl PinInit<Self::Qp, Error>)>;

    /// A context presents a job file (`UVERBS_METHOD_JOB_JOIN`); see
    /// [`super::job::Job::from_file`]. Process context; may sleep.
    fn join_job(_ctx: &UContext<Self>, _job: &File) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The job a context joined (`UVERBS_METHOD_JOB_QUERY`); `ENOENT` if
    /// none. Process context; may sleep.
    fn query_job(_ctx: &UContext<Self>) -> Result<JobInfo> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Whether the context may map memory now (`mmap()` on the uverbs
    /// file); an error refuses the mapping. Process context, with uverbs'
    /// disassociation srcu held; may sleep.
    fn check_mmap(_ctx: &UContext<Self>) -> Result {
        Ok(())
    }

    /// Fills the values of [`Self::COUNTERS`] for `port`. Process context
    /// (sysfs, netlink), with ib_core's mutex of the counters held; may sleep.
    fn get_hw_stats(_dev: &Device<Self>, _port: u32, _values: &mut [u64]) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// An RDMA device: the C `ib_device` followed by the driver's data.
///
/// A `&Device<T>` is handed to [`Operations`] callbacks (process context)
/// and obtained through a [`DeviceRef`]; its methods may be called from any
/// thread, and [`Device::gid_changed`] and [`Device::unregister_queued`] from
/// any context.
///
/// # Invariants
///
/// `ibdev` is an `ib_device` allocated by `_ib_alloc_device` with the size of
/// this struct; `data` is initialised once the device's ops are set, and is
/// dropped by the `dealloc_driver` callback.
#[repr(C)]
#[pin_data]
pub struct Device<T: Operations> {
    #[pin]
    ibdev: Opaque<bindings::ib_device>,
    #[pin]
    data: T,
}

// SAFETY: a `Device<T>` is only reached by reference (its memory belongs to
// ib_core, which frees it from whichever thread drops the last reference);
// its driver data is `T: Send + Sync` and the C part is only passed to
// ib_core functions that may be called from any thread.
unsafe impl<T: Operations> Send for Device<T> {}
// SAFETY: `&Device<T>` gives `&T` (`T: Sync`) and calls ib_core functions
// that do their own locking; nothing in the C part is mutated through it.
unsafe impl<T: Operations> Sync for Device<T> {}

impl<T: Operations> Deref for Device<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: Operations> Device<T> {
    /// Allocates a device, initialises its data, binds it to `netdev` (port
    /// 1) and registers it with ib_core as `name`.
    ///
    /// On success the device belongs to ib_core: it goes away on `rdma link
    /// delete`, on [`Device::unregister_queued`] or when the driver is
    /// unregistered ([`DriverRegistration`]).
    pub fn register(name: &CStr, netdev: &NetDevice, init: impl PinInit<T, Error>) -> Result {
        const {
            assert!(
                offset_of!(Self, ibdev) == 0,
                "struct ib_device must be at offset 0"
            );
        }
        const {
            assert!(
                align_of::<Self>() <= bindings::ARCH_KMALLOC_MINALIGN,
                "the driver's device data needs more alignment than kzalloc() gives"
            );
        }
        // The device starts in the namespace of its netdev, as rxe's does:
        // in exclusive RDMA netns mode it is visible there only (ib_core
        // uses init_net in shared mode).
        // SAFETY: `netdev` is valid while the caller holds it, and a
        // netdev's namespace outlives its membership of it. ib_core keeps no
        // reference on the namespace: its pernet exit handler moves the
        // device back to init_net before the namespace goes.
        let net = unsafe { bindings::dev_net(netdev.as_raw()) };
        // SAFETY: allocation of `size_of::<Self>()` bytes, at least
        // `sizeof(struct ib_device)` as `ib_device` is at offset 0; `net` is
        // a live namespace (above).
        let raw = unsafe { bindings::_ib_alloc_device(size_of::<Self>(), net) };
        let this = NonNull::new(raw.cast::<Self>()).ok_or(ENOMEM)?;
        // SAFETY: `this` is a `size_of::<Self>()` allocation (above), so
        // `data` lies within it; it is uninitialised (no reference is made).
        let slot = unsafe { &raw mut (*this.as_ptr()).data };
        // SAFETY: `slot` is valid for writes and pinned (ib_core never moves
        // the allocation).
        if let Err(e) = unsafe { pin_init::raw_try_init(slot, init) } {
            // SAFETY: `raw` came from `_ib_alloc_device` and was never
            // registered; ops are not set, so `dealloc_driver` does not run on
            // the uninitialised data.
            unsafe { bindings::ib_dealloc_device(raw) };
            return Err(e);
        }
        // From here on `dealloc_driver` drops `data` when the device is freed.
        // SAFETY: `raw` is a valid, unregistered device that only this
        // thread knows of, so its fields may be written; `OPS` is static.
        unsafe {
            bindings::ib_set_device_ops(raw, &VTable::<T>::OPS);
            // CAST: `enum rdma_node_type` values are below 8; the C field is
            // a `u8`.
            (*raw).node_type = bindings::RDMA_NODE_UNSPECIFIED as u8;
            (*raw).phys_port_cnt = 1;
            (*raw).num_comp_vectors = 1;
            (*raw).node_guid = guid_from_mac(&netdev.mac());
            // Arming a CQ from user space is a system call (the ring itself
            // is polled without one), and so are the QP doorbells (work
            // goes through mapped rings; `POST_SEND`/`POST_RECV` without
            // work requests ring the bell, as in rxe); ib_core leaves
            // these commands off by default.
            (*raw).uverbs_cmd_mask |= (1u64
                << bindings::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REQ_NOTIFY_CQ)
                | (1u64 << bindings::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_POST_SEND)
                | (1u64 << bindings::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_POST_RECV);
        }
        // SAFETY: `raw` is a valid, unregistered device with port 1;
        // `netdev` is valid for the call (the caller holds it) and ib_core
        // takes its own reference.
        let ret = unsafe { bindings::ib_device_set_netdev(raw, netdev.as_raw(), 1) };
        if ret != 0 {
            // SAFETY: `raw` was never registered and is ours; its ops are
            // set, so `dealloc_driver` drops the initialised data.
            unsafe { bindings::ib_dealloc_device(raw) };
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `raw` is a valid, unregistered device with ops, port and
        // netdev set; `name` is NUL terminated; a null DMA device selects
        // virtual DMA, as soft devices use.
        let ret =
            unsafe { bindings::ib_register_device(raw, name.as_char_ptr(), core::ptr::null_mut()) };
        if ret != 0 {
            // SAFETY: on failure `ib_register_device()` leaves the device
            // to the caller, who must `ib_dealloc_device()` it; that runs
            // `dealloc_driver`, dropping the data.
            unsafe { bindings::ib_dealloc_device(raw) };
            // A name already in use is reported as ENFILE by ib_core.
            // CAST: `ENFILE` is 23 and fits in an `i32`.
            return Err(if ret == -(bindings::ENFILE as i32) {
                EEXIST
            } else {
                Error::from_errno(ret)
            });
        }
        Ok(())
    }

    /// Returns the raw `ib_device`.
    pub fn as_raw(&self) -> *mut bindings::ib_device {
        self.ibdev.get()
    }

    /// Borrows a device from its raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be the `ib_device` of a `Device<T>` whose data is
    /// initialised, valid for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::ib_device) -> &'a Self {
        // SAFETY: offset 0 layout per the type invariant; validity per caller.
        unsafe { &*ptr.cast() }
    }

    /// The device name, e.g. `uet0`.
    pub fn name(&self) -> &CStr {
        // SAFETY: `self` is a live device and `name` a NUL-terminated array
        // inside it. `ib_device_rename()` (`rdma dev set NAME name ...`)
        // rewrites it in place with `strscpy()` without a lock readers could
        // take, as for C users of `ibdev->name`: a racing reader may see a
        // mixed name, but the array's last byte stays NUL, so the string
        // stays terminated within the array.
        unsafe { CStr::from_char_ptr((*self.as_raw()).name.as_ptr()) }
    }

    /// The net device bound to `port`, with a reference held.
    pub fn netdev(&self, port: u32) -> Option<ARef<NetDevice>> {
        // SAFETY: `self` is a live device; the function takes the netdev
        // lock itself and returns a held netdev or null.
        let nd = unsafe { bindings::ib_device_get_netdev(self.as_raw(), port) };
        let nd = NonNull::new(nd)?;
        // SAFETY: `ib_device_get_netdev` took a reference for us.
        Some(unsafe { ARef::from_raw(nd.cast::<NetDevice>()) })
    }

    /// Finds the registered device of this driver bound to `netdev`.
    pub fn get_by_netdev(netdev: &NetDevice) -> Option<DeviceRef<T>> {
        // SAFETY: `netdev` is valid for the call; the function returns a
        // registered device with a registration reference taken, or null.
        let raw =
            unsafe { bindings::ib_device_get_by_netdev(netdev.as_raw(), T::DRIVER_ID.as_raw()) };
        let raw = NonNull::new(raw)?;
        // The driver id was matched by ib_core; also require the owning
        // module, so a device of the same id from another module is never
        // cast to `Device<T>`. (A module implements one `Operations` per
        // driver id.)
        // SAFETY: `raw` is a registered device we hold a reference to;
        // `ops` is set before registration and not changed afterwards.
        let ours = core::ptr::eq(unsafe { (*raw.as_ptr()).ops.owner }, VTable::<T>::OPS.owner);
        if !ours {
            // SAFETY: drops the reference `ib_device_get_by_netdev` took,
            // once.
            unsafe { bindings::ib_device_put(raw.as_ptr()) };
            return None;
        }
        // INVARIANT: a held registration reference to a `Device<T>`.
        Some(DeviceRef {
            ptr: raw.cast(),
            _p: PhantomData,
        })
    }

    /// Tells ib_core that the GIDs of `port` changed: it refreshes its GID
    /// cache with [`Operations::query_gid`] and then reports
    /// `IBV_EVENT_GID_CHANGE` to user space. Never sleeps; any context.
    pub fn gid_changed(&self, port: u32) {
        // SAFETY: an all-zero `ib_event` is valid; the fields we use are
        // set below.
        let mut ev: bindings::ib_event = unsafe { core::mem::zeroed() };
        ev.device = self.as_raw();
        ev.event = bindings::ib_event_type_IB_EVENT_GID_CHANGE;
        ev.element.port_num = port;
        // SAFETY: `self` is a registered device (we are reachable only
        // through a registration reference or an ib_core callback);
        // `ib_dispatch_event` copies the event (GFP_ATOMIC) and queues the
        // work, so it may be called from any context.
        unsafe { bindings::ib_dispatch_event(&ev) };
    }

    /// Unregisters the device from a context that may not sleep on ib_core
    /// (e.g. a netdev notifier); the device is freed later.
    pub fn unregister_queued(&self) {
        // SAFETY: `self` is a device that `register` registered (a
        // `Device<T>` is only reachable once registered). The call only
        // queues the work, takes its own reference, and is a no-op if
        // unregistration already started.
        unsafe { bindings::ib_unregister_device_queued(self.as_raw()) };
    }
}

/// A registration reference to a [`Device`] (`ib_device_put` on drop).
///
/// # Invariants
///
/// `ptr` is a `Device<T>` whose registration reference this object owns.
pub struct DeviceRef<T: Operations> {
    ptr: NonNull<Device<T>>,
    _p: PhantomData<T>,
}

impl<T: Operations> Deref for DeviceRef<T> {
    type Target = Device<T>;

    fn deref(&self) -> &Device<T> {
        // SAFETY: the registration reference we own (type invariant) keeps
        // the `Device<T>` allocated and its data initialised.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Operations> Drop for DeviceRef<T> {
    fn drop(&mut self) {
        // SAFETY: we own one registration reference (type invariant) and
        // give it up exactly once, here.
        unsafe { bindings::ib_device_put(self.ptr.as_ref().as_raw()) };
    }
}

/// Unregisters every device of driver `T` when dropped (module exit), after
/// the link type that creates them is gone.
pub struct DriverRegistration<T: Operations>(PhantomData<T>);

impl<T: Operations> DriverRegistration<T> {
    /// Creates the guard.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: Operations> Default for DriverRegistration<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Operations> Drop for DriverRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: no precondition beyond process context (module exit): it
        // unregisters every device of this driver id and, through
        // `dealloc_driver`, frees them before returning, so no callback of
        // this module runs afterwards.
        unsafe { bindings::ib_unregister_driver(T::DRIVER_ID.as_raw()) };
    }
}

macro_rules! declare_object {
    ($(#[$m:meta])* $name:ident, $cty:ident, $data:ident) => {
        $(#[$m])*
        ///
        /// # Invariants
        ///
        /// The C object is at offset 0 and was allocated by ib_core with the
        /// size of this struct; `data` is initialised while ib_core holds the
        /// object.
        #[repr(C)]
        #[pin_data]
        pub struct $name<T: Operations> {
            #[pin]
            raw: Opaque<bindings::$cty>,
            #[pin]
            data: T::$data,
        }

        impl<T: Operations> Deref for $name<T> {
            type Target = T::$data;

            fn deref(&self) -> &T::$data {
                &self.data
            }
        }

        impl<T: Operations> $name<T> {
            /// The size ib_core allocates for the object (the Rust side of
            /// `INIT_RDMA_OBJ_SIZE`), checked at compile time: the C object
            /// comes first and ib_core's `kzalloc()` memory is aligned
            /// enough for the driver's data.
            const SIZE: usize = {
                assert!(offset_of!(Self, raw) == 0, "the C object must be at offset 0");
                assert!(
                    align_of::<Self>() <= bindings::ARCH_KMALLOC_MINALIGN,
                    "the driver's object data needs more alignment than kzalloc() gives"
                );
                size_of::<Self>()
            };

            /// The raw C object.
            pub fn as_raw(&self) -> *mut bindings::$cty {
                self.raw.get()
            }

            /// The device the object belongs to.
            pub fn device(&self) -> &Device<T> {
                // SAFETY: ib_core sets `device` before the callback that
                // initialised the object and never changes it; the device is
                // a `Device<T>` (our ops) and outlives its objects, which
                // ib_core destroys before it is freed.
                unsafe { Device::from_raw((*self.as_raw()).device) }
            }

            /// # Safety
            ///
            /// `ptr` must be the C object of a `Self` whose data is
            /// initialised, valid for `'a`.
            unsafe fn from_raw<'a>(ptr: *mut bindings::$cty) -> &'a Self {
                let _ = Self::SIZE;
                // SAFETY: the C object is at offset 0 (`SIZE`) and the
                // caller guarantees it belongs to a live `Self`.
                unsafe { &*ptr.cast() }
            }

            /// # Safety
            ///
            /// `ptr` must be a C object allocated with the size of `Self`.
            unsafe fn data_slot(ptr: *mut bindings::$cty) -> *mut T::$data {
                // SAFETY: the caller guarantees the allocation has the size
                // of `Self`, so the field lies inside it; no reference is
                // made, so the field may be uninitialised.
                unsafe { &raw mut (*ptr.cast::<Self>()).data }
            }
        }
    };
}

declare_object!(
    /// A uverbs user context (`struct ib_ucontext`): one per open
    /// `/dev/infiniband/uverbsN` file that ran `GET_CONTEXT`. Created and
    /// destroyed (file release, or disassociation when the device goes) in
    /// process context.
    UContext, ib_ucontext, UContext
);
declare_object!(
    /// A protection domain (`struct ib_pd`) of a user context, created and
    /// destroyed in process context (`ALLOC_PD`, `DEALLOC_PD` or context
    /// teardown).
    Pd, ib_pd, Pd
);

declare_object!(
    /// A queue pair (`struct ib_qp`) of a user context, created and
    /// destroyed in process context (`CREATE_QP`, `DESTROY_QP` or context
    /// teardown); its doorbells are rung in process context.
    Qp, ib_qp, Qp
);

/// A completion queue (`struct ib_cq`) of a user context, created and
/// destroyed in process context; it is armed ([`CqData::req_notify`]) in a
/// context that must not sleep, and its [`CqEvents`] may report from any
/// context.
///
/// # Invariants
///
/// The C object is at offset 0 and was allocated by ib_core with the size
/// of this struct; `events` and `data` are initialised while ib_core holds
/// the object, and `events` points at it for that time.
#[repr(C)]
#[pin_data]
pub struct Cq<T: Operations> {
    #[pin]
    raw: Opaque<bindings::ib_cq>,
    events: Arc<CqEvents>,
    #[pin]
    data: T::Cq,
}

impl<T: Operations> Deref for Cq<T> {
    type Target = T::Cq;

    fn deref(&self) -> &T::Cq {
        &self.data
    }
}

impl<T: Operations> Cq<T> {
    /// See the `SIZE` of the other objects.
    const SIZE: usize = {
        assert!(
            offset_of!(Self, raw) == 0,
            "the C object must be at offset 0"
        );
        assert!(
            align_of::<Self>() <= bindings::ARCH_KMALLOC_MINALIGN,
            "the driver's CQ data needs more alignment than kzalloc() gives"
        );
        size_of::<Self>()
    };

    /// The raw C object.
    pub fn as_raw(&self) -> *mut bindings::ib_cq {
        self.raw.get()
    }

    /// The CQ's event reporter.
    pub fn events(&self) -> &Arc<CqEvents> {
        &self.events
    }

    /// # Safety
    ///
    /// `ptr` must be the C object of a `Cq<T>` whose `events` and `data`
    /// are initialised, valid for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::ib_cq) -> &'a Self {
        let _ = Self::SIZE;
        // SAFETY: the C object is at offset 0 (`SIZE`); the caller
        // guarantees the object is live for `'a`.
        unsafe { &*ptr.cast() }
    }
}

impl<T: Operations> UContext<T> {
    /// Makes `buf` mappable by this context's process; the returned entry's
    /// offset is what user space passes to `mmap()`. May sleep.
    ///
    /// # Safety
    ///
    /// The returned entry must be dropped before ib_core deallocates this
    /// context. Storing it in the data of an object of this context (a CQ,
    /// PD or MR), which ib_core always destroys before the context, and
    /// nowhere else, satisfies this.
    pub unsafe fn insert_mmap(&self, buf: Arc<UserBuffer>) -> Result<MmapEntry> {
        // SAFETY: `self` is a live context (we hold `&self`) and the caller
        // drops the entry before the context goes.
        unsafe { MmapEntry::insert(self.as_raw(), buf) }
    }
}

impl<T: Operations> Pd<T> {
    /// The user context the PD belongs to.
    pub fn ucontext(&self) -> Option<&UContext<T>> {
        // SAFETY: `self` is live. `uobject` is set by uverbs before
        // `alloc_pd` (null for kernel PDs, which this module refuses), and
        // the uobject and its context, a `UContext<T>` of this device,
        // outlive the PD: ib_core destroys every object of a context before
        // the context.
        unsafe {
            let uobj = (*self.as_raw()).uobject;
            if uobj.is_null() || (*uobj).context.is_null() {
                None
            } else {
                Some(UContext::from_raw((*uobj).context))
            }
        }
    }
}

/// A memory region (`struct ib_mr`), allocated by this module; registered
/// and deregistered in process context.
///
/// # Invariants
///
/// `raw` is at offset 0; the object is a leaked `KBox` while ib_core holds
/// it and is freed by `dereg_mr`.
#[repr(C)]
#[pin_data]
pub struct Mr<T: Operations> {
    #[pin]
    raw: Opaque<bindings::ib_mr>,
    #[pin]
    data: T::Mr,
}

impl<T: Operations> Deref for Mr<T> {
    type Target = T::Mr;

    fn deref(&self) -> &T::Mr {
        &self.data
    }
}

/// `struct ib_device_ops` of driver `T`.
struct VTable<T: Operations>(PhantomData<T>);

/// Converts a driver result to a C return value.
fn ret(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: Operations> VTable<T> {
    const OPS: bindings::ib_device_ops = bindings::ib_device_ops {
        owner: crate::module::this_module::<T::OwnerModule>().as_ptr(),
        driver_id: T::DRIVER_ID.as_raw(),
        uverbs_abi_ver: T::ABI_VERSION,
        alloc_hw_port_stats: if T::HAS_GET_HW_STATS {
            Some(Self::alloc_hw_port_stats)
        } else {
            None
        },
        alloc_pd: Some(Self::alloc_pd),
        alloc_ucontext: Some(Self::alloc_ucontext),
        create_cq: Some(Self::create_cq),
        create_qp: Some(Self::create_qp),
        destroy_qp: Some(Self::destroy_qp),
        modify_qp: Some(Self::modify_qp),
        post_send: Some(Self::post_send),
        post_recv: Some(Self::post_recv),
        dealloc_driver: Some(Self::dealloc_driver),
        dealloc_pd: Some(Self::dealloc_pd),
        dealloc_ucontext: Some(Self::dealloc_ucontext),
        dereg_mr: Some(Self::dereg_mr),
        disassociate_ucontext: Some(Self::disassociate_ucontext),
        destroy_cq: Some(Self::destroy_cq),
        get_hw_stats: if T::HAS_GET_HW_STATS {
            Some(Self::get_hw_stats)
        } else {
            None
        },
        get_link_layer: Some(Self::get_link_layer),
        join_job: if T::HAS_JOIN_JOB {
            Some(Self::join_job)
        } else {
            None
        },
        get_port_immutable: Some(Self::get_port_immutable),
        mmap: Some(Self::mmap),
        mmap_free: Some(Self::mmap_free),
        query_device: Some(Self::query_device),
        query_gid: Some(Self::query_gid),
        query_pkey: Some(Self::query_pkey),
        query_job: if T::HAS_QUERY_JOB {
            Some(Self::query_job)
        } else {
            None
        },
        query_port: Some(Self::query_port),
        reg_user_mr: Some(Self::reg_user_mr),
        req_notify_cq: Some(Self::req_notify_cq),
        size_ib_cq: Cq::<T>::SIZE,
        size_ib_pd: Pd::<T>::SIZE,
        size_ib_qp: Qp::<T>::SIZE,
        size_ib_ucontext: UContext::<T>::SIZE,
        // SAFETY: all-zero is a valid `ib_device_ops` (no ops).
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// Called by `ib_dealloc_device()` (process context, may sleep) once per
    /// device whose ops `Device::register` set, i.e. whose data is
    /// initialised: at the end of unregistration, after every client was
    /// removed and every user context disassociated, or on a registration
    /// error. No other callback runs on the device during or after it.
    unsafe extern "C" fn dealloc_driver(ibdev: *mut bindings::ib_device) {
        // SAFETY: `ibdev` is a `Device<T>` (our ops are set only by
        // `register`, after `data` was initialised). ib_core calls this once
        // per device and never calls into the driver afterwards, so `data` is
        // dropped exactly once and not used again.
        unsafe { core::ptr::drop_in_place(&raw mut (*ibdev.cast::<Device<T>>()).data) };
    }

    /// # Safety
    ///
    /// Called in process context by ib_core: at registration
    /// (`setup_device()`, `udata` null, `attr` is `&ibdev->attrs`, zeroed) and
    /// by uverbs' `EX_QUERY_DEVICE` (`attr` a zero-initialised local, `udata`
    /// the command's driver udata). `ibdev` is a device of this driver and
    /// `attr` is valid for writes.
    unsafe extern "C" fn query_device(
        ibdev: *mut bindings::ib_device,
        attr: *mut bindings::ib_device_attr,
        udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: our ops are set only on `Device<T>` allocations
        // (`register`), so `ibdev`, which carries them, is the `ib_device` of
        // a `Device<T>`; ib_core keeps it alive for the call.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        // Extended query input must be empty or zero (no driver fields yet).
        // SAFETY: `udata` is null (registration) or the command's driver
        // udata, valid for the call; `ud` does not outlive the call.
        let ud = unsafe { UData::from_raw(udata) };
        if ud.in_len() > 0 {
            // SAFETY: `in_len() > 0`, so `udata` is a valid, non-null
            // udata with `in_len` bytes of user input.
            if !unsafe { bindings::ib_is_udata_cleared(udata, 0, ud.in_len()) } {
                return EINVAL.to_errno();
            }
        }
        let a = match T::query_device(dev) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: `attr` is zeroed and valid for writes for the call
        // (function contract) and nothing else accesses it meanwhile.
        unsafe {
            let attr = &mut *attr;
            attr.fw_ver = a.fw_ver;
            attr.sys_image_guid = a.sys_image_guid;
            attr.max_mr_size = a.max_mr_size;
            attr.page_size_cap = a.page_size_cap;
            attr.vendor_id = a.vendor_id;
            attr.vendor_part_id = a.vendor_part_id;
            attr.hw_ver = a.hw_ver;
            attr.max_qp = a.max_qp;
            attr.max_qp_wr = a.max_qp_wr;
            attr.max_cq = a.max_cq;
            attr.max_cqe = a.max_cqe;
            attr.max_mr = a.max_mr;
            attr.max_pd = a.max_pd;
            attr.max_send_sge = a.max_sge;
            attr.max_recv_sge = a.max_sge;
            attr.max_pkeys = 1;
            attr.max_qp_rd_atom = a.max_qp_rd_atom;
            attr.max_qp_init_rd_atom = a.max_qp_rd_atom;
            attr.max_res_rd_atom = a.max_res_rd_atom;
            if a.atomic_hca {
                attr.atomic_cap = bindings::ib_atomic_cap_IB_ATOMIC_HCA;
            }
            if a.allow_user_unreg {
                attr.kernel_cap_flags |=
                    u64::from(bindings::ib_kernel_cap_flags_IBK_ALLOW_USER_UNREG);
            }
        }
        0
    }

    /// # Safety
    ///
    /// Called in process context (uverbs, sysfs, netlink, the GID cache
    /// work) through `__ib_query_port()`, which zeroes `*attr` first, on a
    /// device of this driver with a valid `port`; `attr` is valid for writes.
    unsafe extern "C" fn query_port(
        ibdev: *mut bindings::ib_device,
        port: u32,
        attr: *mut bindings::ib_port_attr,
    ) -> c_int {
        // SAFETY: our ops are set only on `Device<T>` allocations
        // (`register`), so `ibdev`, which carries them, is the `ib_device` of
        // a `Device<T>`; ib_core keeps it alive for the call.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        let a = match T::query_port(dev, port) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        let Ok(gid_tbl_len) = i32::try_from(a.gid_tbl_len) else {
            return EINVAL.to_errno();
        };
        // SAFETY: `__ib_query_port()` zeroed `*attr`, which is valid for
        // writes for the call and not accessed by anyone else meanwhile.
        // `ib_get_eth_speed()` takes the RTNL and may sleep: we run in process
        // context without it (function contract), on a valid device and port.
        unsafe {
            let p = &mut *attr;
            let (state, phys) = match a.state {
                PortState::Active => (
                    bindings::ib_port_state_IB_PORT_ACTIVE,
                    bindings::ib_port_phys_state_IB_PORT_PHYS_STATE_LINK_UP,
                ),
                PortState::Down => (
                    bindings::ib_port_state_IB_PORT_DOWN,
                    bindings::ib_port_phys_state_IB_PORT_PHYS_STATE_DISABLED,
                ),
            };
            p.state = state;
            // CAST: `enum ib_port_phys_state` values are below 8; the C
            // field is a `u8`.
            p.phys_state = phys as u8;
            p.max_mtu = ib_mtu_from_bytes(a.max_mtu);
            p.active_mtu = ib_mtu_from_bytes(a.active_mtu);
            p.phys_mtu = a.active_mtu;
            p.gid_tbl_len = gid_tbl_len;
            p.max_msg_sz = a.max_msg_sz;
            p.pkey_tbl_len = 1;
            p.set_ip_gids(1);
            // Speed and width follow the netdev (ethtool), like RoCE devices.
            bindings::ib_get_eth_speed(ibdev, port, &mut p.active_speed, &mut p.active_width);
        }
        0
    }

    /// # Safety
    ///
    /// Called once per port while registering (`setup_port_data()` from
    /// `ib_register_device()`, process context), on a device of this driver
    /// whose data is initialised; `imm` points at the zeroed
    /// `port_data[port].immutable` and is valid for writes.
    unsafe extern "C" fn get_port_immutable(
        ibdev: *mut bindings::ib_device,
        port: u32,
        imm: *mut bindings::ib_port_immutable,
    ) -> c_int {
        // SAFETY: our ops are set only on `Device<T>` allocations
        // (`register`), so `ibdev`, which carries them, is the `ib_device` of
        // a `Device<T>`; ib_core keeps it alive for the call.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        let a = match T::query_port(dev, port) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        let Ok(gid_tbl_len) = i32::try_from(a.gid_tbl_len) else {
            return EINVAL.to_errno();
        };
        // SAFETY: `imm` is `port_data[port].immutable` of the device being
        // registered, valid for writes; only this thread touches it until
        // registration completes.
        unsafe {
            (*imm).pkey_tbl_len = 1;
            (*imm).gid_tbl_len = gid_tbl_len;
            // UET is neither IB, RoCE nor iWARP: a protocol of its own
            // (patches/0009), whose GIDs the driver reports (query_gid).
            (*imm).core_cap_flags = bindings::RDMA_CORE_PORT_UET;
            (*imm).max_mad_size = 0;
        }
        0
    }

    /// # Safety
    ///
    /// Called by `rdma_port_get_link_layer()`, in any context, on a device
    /// of this driver; the pointer is not dereferenced.
    unsafe extern "C" fn get_link_layer(
        _ibdev: *mut bindings::ib_device,
        _port: u32,
    ) -> bindings::rdma_link_layer {
        // Not "Ethernet": user space takes every GID of an Ethernet port for
        // a RoCE GID (ibv_devinfo prints "RoCE v1/v2"). EFA does the same.
        bindings::rdma_link_layer_IB_LINK_LAYER_UNSPECIFIED
    }

    /// # Safety
    ///
    /// Called by ib_core's GID cache (process context) with a device of
    /// this driver, a valid port and `gid` valid for writes.
    unsafe extern "C" fn query_gid(
        ibdev: *mut bindings::ib_device,
        port: u32,
        index: c_int,
        gid: *mut bindings::ib_gid,
    ) -> c_int {
        // SAFETY: our ops are set only on `Device<T>` allocations
        // (`register`), so `ibdev`, which carries them, is the `ib_device` of
        // a `Device<T>`; ib_core keeps it alive for the call.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        let index = match u32::try_from(index) {
            Ok(i) => i,
            Err(_) => return EINVAL.to_errno(),
        };
        match T::query_gid(dev, port, index) {
            Ok(g) => {
                // SAFETY: `gid` is valid for writes of a `union ib_gid`,
                // whose `raw` member is 16 bytes.
                unsafe { (*gid).raw = g };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by `ib_query_pkey()` (process context) on a device of this
    /// driver, after it checked `port`; `pkey` is valid for writes.
    unsafe extern "C" fn query_pkey(
        _ibdev: *mut bindings::ib_device,
        _port: u32,
        index: u16,
        pkey: *mut u16,
    ) -> c_int {
        if index > 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: `pkey` is valid for writes for the call (function
        // contract). The default P_Key.
        unsafe { *pkey = 0xffff };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core (uverbs GET_CONTEXT, process context, may sleep)
    /// with a zeroed context of `size_ib_ucontext` bytes whose `device` is
    /// set, and `udata` valid for the call.
    unsafe extern "C" fn alloc_ucontext(
        uctx: *mut bindings::ib_ucontext,
        udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: ib_core set `device` to a registered device of this
        // driver before the call.
        let dev = unsafe { Device::<T>::from_raw((*uctx).device) };
        // SAFETY: `udata` is GET_CONTEXT's driver udata, valid for the call;
        // `ud` does not outlive the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let r = T::alloc_ucontext(dev, &mut ud).and_then(|init| {
            // SAFETY: ib_core allocated `size_ib_ucontext` bytes for `uctx`;
            // the data slot is uninitialised and the allocation never moves.
            unsafe { pin_init::raw_try_init(UContext::<T>::data_slot(uctx), init) }
        });
        ret(r)
    }

    /// # Safety
    ///
    /// Called by ib_core once per context that `alloc_ucontext` initialised,
    /// after every object of the context was destroyed; process context.
    unsafe extern "C" fn dealloc_ucontext(uctx: *mut bindings::ib_ucontext) {
        // SAFETY: initialised by `alloc_ucontext`; ib_core never uses the
        // driver data again after this call.
        unsafe { core::ptr::drop_in_place(UContext::<T>::data_slot(uctx)) };
    }

    // Devices can go away under open contexts (netdev removal, `rdma link
    // delete`, module unload): ib_core then disassociates every context.
    // It zaps the user mappings of the context (all of them were made with
    // `rdma_user_mmap_vmalloc`, which registers them for that), destroys the
    // context's objects through the usual callbacks, calls this, and later
    // `dealloc_ucontext`; user space gets IB_EVENT_DEVICE_FATAL and its
    // mapped rings read as zero. Nothing of the driver is left for this
    // callback to stop, and since uverbs no longer refers to the driver
    // afterwards, the module may be unloaded while the context's file is
    // still open, as with hardware drivers.
    /// # Safety
    ///
    /// Called by ib_core during disassociation, with the context's mappings
    /// already zapped; process context.
    unsafe extern "C" fn disassociate_ucontext(_uctx: *mut bindings::ib_ucontext) {}

    /// # Safety
    ///
    /// Called by uverbs' mmap (process context, `disassociate_srcu` held)
    /// with a live context of this driver and the new `vma`.
    unsafe extern "C" fn mmap(
        uctx: *mut bindings::ib_ucontext,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: uverbs passes a live, initialised context of this driver,
        // held (disassociation srcu) for the call.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        if let Err(e) = T::check_mmap(ctx) {
            return e.to_errno();
        }
        // SAFETY: `uctx` and `vma` are valid for the call.
        let entry = unsafe { bindings::rdma_user_mmap_entry_get(uctx, vma) };
        if entry.is_null() {
            return EINVAL.to_errno();
        }
        // SAFETY: every entry of our contexts is an `EntryInner` (inserted by
        // `MmapEntry::insert`), with the C entry at offset 0; the `get` above
        // holds a reference, so it stays allocated until the `put` below.
        let inner = unsafe { &*entry.cast::<EntryInner>() };
        // SAFETY: `inner.buf` is vmalloc_user() memory at least as large as
        // the entry, whose length `rdma_user_mmap_entry_get` matched against
        // the vma; we are called from uverbs' mmap with the srcu held. The
        // mapping takes its own reference on the entry.
        let r = unsafe { bindings::rdma_user_mmap_vmalloc(uctx, vma, inner.buf.as_ptr(), entry) };
        // SAFETY: drops the reference taken by `get` above.
        unsafe { bindings::rdma_user_mmap_entry_put(entry) };
        r
    }

    /// # Safety
    ///
    /// Called by ib_core once per entry, when its last reference goes (the
    /// driver removed it and no mapping holds it): from
    /// `rdma_user_mmap_entry_remove()`, a vma's close or disassociation,
    /// all in process context.
    unsafe extern "C" fn mmap_free(entry: *mut bindings::rdma_user_mmap_entry) {
        // SAFETY: allocated by `MmapEntry::insert` as a leaked KBox with the
        // C entry at offset 0; this is the last use. Dropping it drops an
        // `Arc<UserBuffer>`, which never sleeps.
        drop(unsafe { KBox::from_raw(entry.cast::<EntryInner>()) });
    }

    /// # Safety
    ///
    /// Called in process context by uverbs' `ALLOC_PD` (`udata` is the
    /// command's driver udata, inside a `uverbs_attr_bundle` whose context is
    /// a live context of this driver) or by `ib_alloc_pd()` (`udata` null).
    /// `pd` is zeroed memory of `size_ib_pd` bytes with `device` (and for
    /// uverbs `uobject`) set. If this fails, ib_core frees `pd` without
    /// calling `dealloc_pd`.
    unsafe extern "C" fn alloc_pd(
        pd: *mut bindings::ib_pd,
        udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: `udata` is null (`ib_alloc_pd()`) or the driver udata
        // embedded in a live `uverbs_attr_bundle` (function contract), which
        // is what the helper requires.
        let uctx = unsafe { bindings::rdma_udata_to_ucontext(udata) };
        if uctx.is_null() {
            // Kernel PDs are not supported: the device is user space only.
            return EOPNOTSUPP.to_errno();
        }
        // SAFETY: the bundle's context belongs to this device, hence is a
        // `UContext<T>` initialised by `alloc_ucontext`; it outlives the command, which
        // uverbs runs inside `disassociate_srcu` (the context is destroyed
        // only at file release or after disassociation's `synchronize_srcu`).
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        // SAFETY: `udata` is non-null here and valid for the call; `ud` does
        // not outlive the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let init = match T::alloc_pd(ctx, &mut ud) {
            Ok(i) => i,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: ib_core allocated `size_ib_pd` (= `Pd::<T>::SIZE`) bytes
        // for `pd`, so the data slot lies inside and is uninitialised; ib_core
        // frees but never moves the allocation (pinned).
        ret(unsafe { pin_init::raw_try_init(Pd::<T>::data_slot(pd), init) })
    }

    /// # Safety
    ///
    /// Called by `ib_dealloc_pd_user()` (process context) once per PD that
    /// `alloc_pd` initialised, after every object using the PD was
    /// destroyed; ib_core frees the PD's memory afterwards and does not use
    /// it again (this callback does not fail).
    unsafe extern "C" fn dealloc_pd(
        pd: *mut bindings::ib_pd,
        _udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: `pd` is a `Pd<T>` whose data `alloc_pd` initialised
        // (function contract); ib_core calls this once and frees the memory
        // afterwards without touching the data, so this is its last use.
        unsafe { core::ptr::drop_in_place(Pd::<T>::data_slot(pd)) };
        0
    }

    /// # Safety
    ///
    /// Called in process context by uverbs' `CREATE_CQ` (`attrs` the
    /// command's bundle, whose context is a live context of this driver) or
    /// by `__ib_alloc_cq()`/`__ib_create_cq()` (`attrs` null). `cq` is zeroed
    /// memory of `size_ib_cq` bytes whose `device`, `event_handler` and
    /// `cq_context` are already set; `attr` is valid for reads. If this
    /// fails, ib_core frees `cq` without calling `destroy_cq`.
    unsafe extern "C" fn create_cq(
        cq: *mut bindings::ib_cq,
        attr: *const bindings::ib_cq_init_attr,
        attrs: *mut bindings::uverbs_attr_bundle,
    ) -> c_int {
        // SAFETY: `attrs` is null (kernel CQ) or the command's live bundle.
        let udata = unsafe { bindings::rdma_attrs_driver_udata(attrs) };
        // SAFETY: `udata` is null or the driver udata embedded in a live
        // `uverbs_attr_bundle` (above), as the helper requires.
        let uctx = unsafe { bindings::rdma_udata_to_ucontext(udata) };
        if uctx.is_null() {
            return EOPNOTSUPP.to_errno();
        }
        // SAFETY: the bundle's context belongs to this device, hence is a
        // `UContext<T>` initialised by `alloc_ucontext`; uverbs holds it for
        // the whole command.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        let events = match CqEvents::new() {
            Ok(e) => e,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: `attr` is valid for reads for the call (function
        // contract).
        let a = unsafe {
            CqAttr {
                cqe: (*attr).cqe,
                comp_vector: (*attr).comp_vector,
                flags: (*attr).flags,
                events: events.clone(),
            }
        };
        // SAFETY: `udata` is non-null here and valid for the call; `ud` does
        // not outlive the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let init = match T::create_cq(ctx, &a, &mut ud) {
            Ok(i) => i,
            Err(e) => {
                // The driver may have kept a clone of the handle.
                events.retire();
                return e.to_errno();
            }
        };
        let this = cq.cast::<Cq<T>>();
        // SAFETY: ib_core allocated `size_ib_cq` (= `Cq::<T>::SIZE`) bytes
        // for `cq`: the fields lie inside, uninitialised; ib_core never moves
        // the allocation.
        unsafe {
            (&raw mut (*this).events).write(events.clone());
            if let Err(e) = pin_init::raw_try_init(&raw mut (*this).data, init) {
                core::ptr::drop_in_place(&raw mut (*this).events);
                events.retire();
                return e.to_errno();
            }
        }
        // SAFETY: `data` was initialised just above and `cq` is ours until
        // this callback returns.
        let entries = unsafe { (*this).data.entries() };
        // SAFETY: `cq` is valid for writes during the call; ib_core reads
        // `cqe` back as the CQ's size.
        unsafe { (*cq).cqe = i32::try_from(entries).unwrap_or(i32::MAX) };
        // INVARIANT: the CQ is live until `destroy_cq`, which retires it.
        if let Err(e) = events.publish(cq) {
            // SAFETY: `data` and `events` were initialised above and nothing
            // else saw them; ib_core frees the memory without calling
            // `destroy_cq` when we fail.
            unsafe {
                core::ptr::drop_in_place(&raw mut (*this).data);
                core::ptr::drop_in_place(&raw mut (*this).events);
            }
            return e.to_errno();
        }
        0
    }

    /// # Safety
    ///
    /// Called by ib_core once per CQ that `create_cq` initialised, in process
    /// context; the CQ is not used again afterwards.
    unsafe extern "C" fn destroy_cq(
        cq: *mut bindings::ib_cq,
        _udata: *mut bindings::ib_udata,
    ) -> c_int {
        let this = cq.cast::<Cq<T>>();
        // SAFETY: `cq` is a `Cq<T>` whose `events` and `data` `create_cq`
        // initialised (function contract); ib_core calls this once and then
        // frees the memory, so this is their last use. Clearing the
        // `CqEvents` pointer first (under its lock) keeps `report` from
        // touching the CQ from now on, as the `CqEvents` invariant requires.
        unsafe {
            (*this).events.retire();
            core::ptr::drop_in_place(&raw mut (*this).data);
            core::ptr::drop_in_place(&raw mut (*this).events);
        }
        0
    }

    /// # Safety
    ///
    /// Called by `ib_req_notify_cq()` on a live CQ of this driver (uverbs
    /// holds the CQ's uobject for the call). Kernel callers may call it in
    /// atomic context, so it must not sleep
    /// (`Documentation/infiniband/core_locking.rst`).
    unsafe extern "C" fn req_notify_cq(
        cq: *mut bindings::ib_cq,
        flags: bindings::ib_cq_notify_flags,
    ) -> c_int {
        // SAFETY: `cq` is a live CQ of this device (function contract); every
        // CQ of this device was made by `create_cq`, hence is a `Cq<T>`.
        let cq = unsafe { Cq::<T>::from_raw(cq) };
        let solicited = flags & bindings::ib_cq_notify_flags_IB_CQ_SOLICITED_MASK
            == bindings::ib_cq_notify_flags_IB_CQ_SOLICITED;
        ret(cq.data.req_notify(solicited))
    }

    /// # Safety
    ///
    /// Called by `create_qp()` (ib_core, process context) for uverbs'
    /// `CREATE_QP` (`udata` the command's driver udata) or a kernel
    /// `ib_create_qp()` (`udata` null). `qp` is zeroed memory of
    /// `size_ib_qp` bytes whose `device`, `pd`, `uobject`, `send_cq` and
    /// `recv_cq` are set; `attr` is valid for reads and writes; the PD and
    /// CQs are held by the caller for the call (uverbs looked them up in
    /// the same context). If this fails, ib_core frees `qp` without
    /// calling `destroy_qp`.
    unsafe extern "C" fn create_qp(
        qp: *mut bindings::ib_qp,
        attr: *mut bindings::ib_qp_init_attr,
        udata: *mut bindings::ib_udata,
    ) -> c_int {
        if udata.is_null() {
            // Kernel QPs are not supported: the device is user space only.
            return EOPNOTSUPP.to_errno();
        }
        // SAFETY: `qp` and `attr` are valid for the call (function
        // contract); `pd` was set by ib_core and is a PD of this device,
        // hence a `Pd<T>` that `alloc_pd` initialised, held for the call.
        // The CQs, when set, are CQs of the same user context, hence
        // `Cq<T>`s that `create_cq` initialised, held for the call.
        let (pd, a) = unsafe {
            let a = &*attr;
            let cq = |c: *mut bindings::ib_cq| (!c.is_null()).then(|| Cq::<T>::from_raw(c));
            (
                Pd::<T>::from_raw((*qp).pd),
                QpInitAttr {
                    qp_type: a.qp_type,
                    create_flags: a.create_flags,
                    has_srq: !a.srq.is_null() || !a.rwq_ind_tbl.is_null() || !a.xrcd.is_null(),
                    send_cq: cq(a.send_cq),
                    recv_cq: cq(a.recv_cq),
                    cap: QpCap {
                        max_send_wr: a.cap.max_send_wr,
                        max_recv_wr: a.cap.max_recv_wr,
                        max_send_sge: a.cap.max_send_sge,
                        max_recv_sge: a.cap.max_recv_sge,
                        max_inline_data: a.cap.max_inline_data,
                    },
                },
            )
        };
        // SAFETY: `udata` is non-null and valid for the call; `ud` does not
        // outlive the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let (QpCreated { qp_num, cap }, init) = match T::create_qp(pd, &a, &mut ud) {
            Ok(i) => i,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: ib_core allocated `size_ib_qp` (= `Qp::<T>::SIZE`) bytes
        // for `qp`: the data slot lies inside, uninitialised; ib_core never
        // moves the allocation.
        if let Err(e) = unsafe { pin_init::raw_try_init(Qp::<T>::data_slot(qp), init) } {
            return e.to_errno();
        }
        // SAFETY: `qp` and `attr` are valid for writes during the call;
        // uverbs reports `attr->cap` and `qp_num` back to user space.
        unsafe {
            (*qp).qp_num = qp_num;
            (*attr).cap.max_send_wr = cap.max_send_wr;
            (*attr).cap.max_recv_wr = cap.max_recv_wr;
            (*attr).cap.max_send_sge = cap.max_send_sge;
            (*attr).cap.max_recv_sge = cap.max_recv_sge;
            (*attr).cap.max_inline_data = cap.max_inline_data;
        }
        0
    }

    /// # Safety
    ///
    /// Called by ib_core once per QP that `create_qp` initialised, in
    /// process context, after uverbs stopped every command on it; the QP
    /// is not used again afterwards (ib_core frees it).
    unsafe extern "C" fn destroy_qp(
        qp: *mut bindings::ib_qp,
        _udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: `qp` is a `Qp<T>` whose data `create_qp` initialised
        // (function contract); this is its last use.
        unsafe { core::ptr::drop_in_place(Qp::<T>::data_slot(qp)) };
        0
    }

    /// # Safety
    ///
    /// Called by uverbs' `MODIFY_QP` through `ib_modify_qp_with_udata()`
    /// (process context) on a live QP of this driver, with `attr` valid for
    /// reads.
    unsafe extern "C" fn modify_qp(
        qp: *mut bindings::ib_qp,
        attr: *mut bindings::ib_qp_attr,
        mask: c_int,
        _udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: a live QP of this device (function contract), initialised
        // by `create_qp`.
        let q = unsafe { Qp::<T>::from_raw(qp) };
        // Attributes of connected QPs (paths, PSNs, timeouts) do not apply
        // to an unconnected QP: only these are accepted, and only the state
        // does anything.
        let allowed = bindings::ib_qp_attr_mask_IB_QP_STATE
            | bindings::ib_qp_attr_mask_IB_QP_CUR_STATE
            | bindings::ib_qp_attr_mask_IB_QP_PKEY_INDEX
            | bindings::ib_qp_attr_mask_IB_QP_PORT
            | bindings::ib_qp_attr_mask_IB_QP_QKEY;
        let Ok(mask) = u32::try_from(mask) else {
            return EINVAL.to_errno();
        };
        if mask & !allowed != 0 {
            return EOPNOTSUPP.to_errno();
        }
        if mask & bindings::ib_qp_attr_mask_IB_QP_STATE == 0 {
            return 0;
        }
        // SAFETY: `attr` is valid for reads (function contract).
        let state = match QpState::from_raw(unsafe { (*attr).qp_state }) {
            Ok(s) => s,
            Err(e) => return e.to_errno(),
        };
        ret(q.data.set_state(state))
    }

    /// # Safety
    ///
    /// Called by uverbs' `POST_SEND` (process context) on a live QP of this
    /// driver, with the work requests it built from the command (`wr`
    /// null when the command carried none: the doorbell), and `bad_wr`
    /// valid for writes.
    unsafe extern "C" fn post_send(
        qp: *mut bindings::ib_qp,
        wr: *const bindings::ib_send_wr,
        bad_wr: *mut *const bindings::ib_send_wr,
    ) -> c_int {
        if !wr.is_null() {
            // Work goes through the mapped send ring, never through the
            // command: the first request is the bad one.
            // SAFETY: `bad_wr` is valid for writes (function contract).
            unsafe { *bad_wr = wr };
            return EINVAL.to_errno();
        }
        // SAFETY: a live QP of this device (function contract), initialised
        // by `create_qp`.
        let q = unsafe { Qp::<T>::from_raw(qp) };
        ret(q.data.doorbell_sq())
    }

    /// # Safety
    ///
    /// Called by uverbs' `POST_RECV` (process context) on a live QP of this
    /// driver, with the work requests it built (`wr` null when the command
    /// carried none: the doorbell), and `bad_wr` valid for writes.
    unsafe extern "C" fn post_recv(
        qp: *mut bindings::ib_qp,
        wr: *const bindings::ib_recv_wr,
        bad_wr: *mut *const bindings::ib_recv_wr,
    ) -> c_int {
        if !wr.is_null() {
            // SAFETY: `bad_wr` is valid for writes (function contract).
            unsafe { *bad_wr = wr };
            return EINVAL.to_errno();
        }
        // SAFETY: a live QP of this device (function contract), initialised
        // by `create_qp`.
        let q = unsafe { Qp::<T>::from_raw(qp) };
        ret(q.data.doorbell_rq())
    }

    /// # Safety
    ///
    /// Called by uverbs' `REG_MR` (write or ioctl interface), in process
    /// context of the process that owns `[start, start + length)`, on a PD
    /// of this driver that uverbs holds for the call; `udata` is the
    /// command's driver udata. ib_core fills the other fields of the
    /// returned `ib_mr` and passes it to `dereg_mr` exactly once.
    unsafe extern "C" fn reg_user_mr(
        pd: *mut bindings::ib_pd,
        start: u64,
        length: u64,
        virt_addr: u64,
        access: c_int,
        _dmah: *mut bindings::ib_dmah,
        udata: *mut bindings::ib_udata,
    ) -> *mut bindings::ib_mr {
        // SAFETY: `pd` is a PD of this device, hence a `Pd<T>` initialised by
        // `alloc_pd`; uverbs holds it for the call (function contract).
        let pdr = unsafe { Pd::<T>::from_raw(pd) };
        // ib_core checked the flags (ib_check_mr_access); a negative value
        // would be a bit outside every defined flag.
        let access = match u32::try_from(access)
            .map_err(|_| EINVAL)
            .and_then(AccessFlags::from_user)
        {
            Ok(a) => a,
            Err(e) => return e.to_ptr(),
        };
        // INVARIANT: built here, in the callback, and only lent to the driver.
        let args = MrArgs {
            // SAFETY: `pd` is valid for the call; ib_core set `device`
            // before `alloc_pd` and never changes it.
            ibdev: unsafe { (*pd).device },
            start,
            length,
            virt_addr,
            access,
        };
        // SAFETY: `udata` is the command's driver udata, valid for the call;
        // `ud` does not outlive the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let init = match T::reg_user_mr(pdr, &args, &mut ud) {
            Ok(i) => i,
            Err(e) => return e.to_ptr(),
        };
        // Allocation and the driver's initialiser form one step: if either
        // fails, whatever the initialiser made is dropped again.
        let mr = KBox::pin_init(
            try_pin_init!(Mr::<T> {
                raw: Opaque::zeroed(),
                data <- init,
            }),
            GFP_KERNEL,
        );
        let mr = match mr {
            Ok(mr) => mr,
            Err(e) => return e.to_ptr(),
        };
        let key = mr.data.key();
        // SAFETY: the MR is freed by `dereg_mr`, which treats it as pinned
        // (it is only dropped in place, never moved).
        let mr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(mr) });
        // SAFETY: `mr` is a live allocation we own until ib_core hands it
        // to `dereg_mr`; ib_core fills the other fields of the `ib_mr`.
        unsafe {
            let raw = (*mr).raw.get();
            (*raw).lkey = key;
            (*raw).rkey = key;
            raw
        }
    }

    /// # Safety
    ///
    /// Called by ib_core once per MR that `reg_user_mr` returned, in process
    /// context; the MR is not used again afterwards.
    unsafe extern "C" fn dereg_mr(
        mr: *mut bindings::ib_mr,
        _udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: allocated by `reg_user_mr` as a leaked `KBox<Mr<T>>` with
        // the C object at offset 0; this is its last use.
        drop(unsafe { KBox::from_raw(mr.cast::<Mr<T>>()) });
        0
    }

    /// # Safety
    ///
    /// Called by uverbs' `UVERBS_METHOD_JOB_JOIN` handler (process context)
    /// with a live context of this driver (`ib_uverbs_get_ucontext()`) and
    /// the file of the user's job fd, held by the handler's `CLASS(fd)`
    /// (an `fdget()` released at scope exit) for
    /// the call.
    unsafe extern "C" fn join_job(
        uctx: *mut bindings::ib_ucontext,
        job: *mut bindings::file,
    ) -> c_int {
        // SAFETY: `ib_uverbs_get_ucontext()` returned a context of this
        // device, hence a `UContext<T>`, which uverbs holds for the command.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        // SAFETY: the handler's `CLASS(fd)` keeps `job` alive for the call. An
        // `fdget_pos()` that skipped `f_pos_lock` exists only in a process
        // whose file table is not shared, i.e. on this thread, which is in
        // this ioctl and not in a read or write of the job file.
        let job = unsafe { File::from_raw_file(job) };
        ret(T::join_job(ctx, job))
    }

    /// # Safety
    ///
    /// Called by uverbs' `UVERBS_METHOD_JOB_QUERY` handler (process
    /// context) with a live context of this driver and `info` pointing at a
    /// zero-initialised `struct rdma_job_info` on its stack.
    unsafe extern "C" fn query_job(
        uctx: *mut bindings::ib_ucontext,
        info: *mut bindings::rdma_job_info,
    ) -> c_int {
        // SAFETY: `ib_uverbs_get_ucontext()` returned a context of this
        // device, hence a `UContext<T>`, which uverbs holds for the command.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        match T::query_job(ctx) {
            Ok(i) => {
                let b = i.to_bytes();
                // SAFETY: `info` points at the handler's `struct
                // rdma_job_info`, valid for writes of its size, which is the
                // length `to_bytes` produces (checked in `job.rs`); `b` is a
                // separate local buffer.
                unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), info.cast::<u8>(), b.len()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called in process context while registering, once per port for
    /// sysfs (`alloc_hw_stats_port()`) and once per port for the counters
    /// (`rdma_counter_init()`), on a device of this driver. The returned
    /// object belongs to ib_core (`rdma_free_hw_stats_struct()`).
    unsafe extern "C" fn alloc_hw_port_stats(
        _ibdev: *mut bindings::ib_device,
        _port: u32,
    ) -> *mut bindings::rdma_hw_stats {
        let Ok(num) = c_int::try_from(T::COUNTERS.len()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: `COUNTERS` is a static array of `num` descriptions
        // (`StatDesc` is transparent over `struct rdma_stat_desc`), which the
        // returned object keeps pointing at for as long as it lives.
        unsafe {
            bindings::rdma_alloc_hw_stats_struct(
                T::COUNTERS.as_ptr().cast(),
                num,
                crate::num::casts::u32_as_usize(bindings::RDMA_HW_STATS_DEFAULT_LIFESPAN),
            )
        }
    }

    /// # Safety
    ///
    /// Called in process context by sysfs and netlink reads (with
    /// `stats->lock` held) and once by sysfs setup at registration (before
    /// the attributes exist), on a device of this driver, with `stats` allocated by
    /// `alloc_hw_port_stats` above for this driver (so it has
    /// `T::COUNTERS.len()` values).
    unsafe extern "C" fn get_hw_stats(
        ibdev: *mut bindings::ib_device,
        stats: *mut bindings::rdma_hw_stats,
        port: u32,
        _index: c_int,
    ) -> c_int {
        // SAFETY: our ops are set only on `Device<T>` allocations
        // (`register`), so `ibdev`, which carries them, is the `ib_device` of
        // a `Device<T>`; ib_core keeps it alive for the call.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        // SAFETY: `stats` was allocated by `alloc_hw_port_stats` with
        // `COUNTERS.len()` values (function contract), and `stats->lock` (or
        // setup, before anyone else can see `stats`) excludes other users.
        let values = unsafe {
            core::slice::from_raw_parts_mut((*stats).value.as_mut_ptr(), T::COUNTERS.len())
        };
        match T::get_hw_stats(dev, port, values) {
            // `alloc_hw_port_stats` checked that the count fits.
            Ok(()) => c_int::try_from(T::COUNTERS.len()).unwrap_or(c_int::MAX),
            Err(e) => e.to_errno(),
        }
    }
}

#[kunit_tests(rust_rdma_device)]
mod tests {
    use super::*;

    #[test]
    fn mtu_rounds_down_to_ib_mtu() {
        assert_eq!(ib_mtu_from_bytes(0), 1);
        assert_eq!(ib_mtu_from_bytes(511), 1);
        assert_eq!(ib_mtu_from_bytes(512), 2);
        assert_eq!(ib_mtu_from_bytes(1396), 3);
        assert_eq!(ib_mtu_from_bytes(2048), 4);
        assert_eq!(ib_mtu_from_bytes(4095), 4);
        assert_eq!(ib_mtu_from_bytes(u32::MAX), 5);
    }

    #[test]
    fn guid_is_eui64_of_the_mac() {
        // The universal/local bit is flipped, FF:FE goes in the middle.
        let g = guid_from_mac(&[0x00, 0x16, 0x3e, 0x01, 0x02, 0x03]);
        assert_eq!(
            g.to_ne_bytes(),
            [0x02, 0x16, 0x3e, 0xff, 0xfe, 0x01, 0x02, 0x03]
        );
        let g = guid_from_mac(&[0xff; 6]);
        assert_eq!(
            g.to_ne_bytes(),
            [0xfd, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff]
        );
    }
}
