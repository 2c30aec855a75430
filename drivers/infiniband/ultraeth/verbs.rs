// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The verbs half of `uet_soft`: `ib_device` operations, answered the way a
//! hardware driver answers them, by asking the device model (`dev.rs`).

use crate::dev::{
    self,
    Counter,
    Counters,
    CqRing,
    GidTable,
    JobScope,
    KeyReg,
    KeyTable,
    MrEntry, //
};
use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    Ordering, //
};
use kernel::{
    fs::File,
    new_mutex,
    prelude::*,
    rdma::{
        device::{
            CqAttr,
            CqData,
            CqEvent,
            CqEvents,
            Device,
            DeviceAttr,
            DriverId,
            MrArgs,
            MrData,
            Operations,
            Pd,
            PortAttr,
            PortState,
            StatDesc,
            UContext, //
        },
        job::{
            Job,
            JobInfo,
            JobMember,
            JobProtocol,
            Membership, //
        },
        link::LinkType,
        mmap::MmapEntry,
        netdev::{
            Gid,
            IpAddrEvents,
            NetDevice,
            NetdevEvent,
            NetdevEvents, //
        },
        udata::{
            check_comp_mask,
            check_reserved,
            UData, //
        },
        umem::Umem,
    },
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uapi,
};

/// The `rdma link` type name.
pub(crate) const LINK_TYPE: &CStr = c"uet";

/// Headers in front of each UET payload on the wire: IPv6 (the larger IP
/// header), UDP, PDS RUD request and SES standard request.
const WIRE_OVERHEAD: u32 = 40 + 8 + 12 + 44;
/// Largest message.
const MAX_MSG_SIZE: u32 = 1 << 30;
/// GID table entries (one per IP address of the netdev).
// CAST: the table has 64 entries.
const GID_TABLE_LEN: u32 = dev::GID_TABLE_LEN as u32;
/// Largest memory region.
const MAX_MR_SIZE: u64 = 1 << 32;
/// Protection domains per device.
const MAX_PD: u32 = 4096;
/// Completion queues per device.
const MAX_CQ: u32 = 4096;
/// Memory regions per device.
const MAX_MR: u32 = 1 << 16;
/// IEEE OUI-sized vendor id: ASCII "UET", as siw reports ASCII "bmt";
/// uet_soft has no OUI of its own and rdma-core matches it by driver id.
const VENDOR_ID: u32 = 0x55_45_54;
/// Part id: software UET, the first.
const VENDOR_PART_ID: u32 = 1;

/// Plain-bytes wrappers of the uverbs ABI structs (`include/uapi/rdma/uet-abi.h`).
macro_rules! abi_struct {
    ($name:ident, $t:ty) => {
        #[repr(transparent)]
        #[derive(Default)]
        pub(crate) struct $name(pub(crate) $t);

        // SAFETY: the uapi struct consists of integers and explicit
        // `reserved_*` byte arrays: no padding, every bit pattern is valid.
        unsafe impl FromBytes for $name {}
        // SAFETY: as above.
        unsafe impl AsBytes for $name {}
    };
}

abi_struct!(AllocUcontextCmd, uapi::uet_ibv_alloc_ucontext_cmd);
abi_struct!(AllocUcontextResp, uapi::uet_ibv_alloc_ucontext_resp);
abi_struct!(CreateCqCmd, uapi::uet_ibv_create_cq);
abi_struct!(CreateCqResp, uapi::uet_ibv_create_cq_resp);

/// Counter names for `rdma statistic`, in `dev::Counter` order.
static COUNTERS: [StatDesc; Counter::COUNT] = [
    StatDesc::new(c"cq_created"),
    StatDesc::new(c"mr_registered"),
    StatDesc::new(c"uctx_opened"),
    StatDesc::new(c"tx_packets"),
    StatDesc::new(c"rx_packets"),
    StatDesc::new(c"rx_drop_malformed"),
    StatDesc::new(c"cq_overflow"),
];

/// A `uet_soft` device, bound to one netdev.
#[pin_data]
pub(crate) struct UetDevice {
    netdev: ARef<NetDevice>,
    counters: Counters,
    keys: Arc<KeyTable>,
    quotas: Arc<Quotas>,
    /// The port's GIDs: the netdev's IP addresses.
    #[pin]
    gids: GidTable,
}

/// The link type and netdev event handler.
pub(crate) struct UetLink;

impl LinkType for UetLink {
    const TYPE: &'static CStr = LINK_TYPE;

    fn newlink(name: &CStr, netdev: &NetDevice) -> Result {
        if !netdev.is_ethernet() {
            return Err(EINVAL);
        }
        if Device::<UetDevice>::get_by_netdev(netdev).is_some() {
            return Err(EEXIST);
        }
        Device::<UetDevice>::register(
            name,
            netdev,
            try_pin_init!(UetDevice {
                netdev: netdev.into(),
                counters: Counters::new(),
                keys: Arc::pin_init(KeyTable::new(), GFP_KERNEL)?,
                quotas: Arc::new(
                    Quotas {
                        pds: Quota::new(MAX_PD),
                        cqs: Quota::new(MAX_CQ),
                        mrs: Quota::new(MAX_MR),
                    },
                    GFP_KERNEL
                )?,
                gids <- GidTable::new(),
            }? Error)
            .pin_chain(|d| {
                // The GIDs ib_core reads while registering the device.
                d.gids.resync(&d.netdev);
                Ok(())
            }),
        )?;
        // Addresses that changed while the device was being registered,
        // when the address notifiers could not find it yet.
        if let Some(dev) = Device::<UetDevice>::get_by_netdev(netdev) {
            dev.gids.resync(netdev);
            dev.gid_changed(1);
        }
        pr_info!("{}: created on {}\n", name, netdev.name());
        Ok(())
    }
}

impl IpAddrEvents for UetLink {
    fn changed(netdev: &NetDevice) {
        // Any context (IPv6 events may come in softirq): the lookup, the
        // table and the event dispatch never sleep.
        if let Some(dev) = Device::<UetDevice>::get_by_netdev(netdev) {
            if dev.gids.resync(netdev) {
                dev.gid_changed(1);
            }
        }
    }
}

impl NetdevEvents for UetLink {
    fn event(event: NetdevEvent, netdev: &NetDevice) {
        // Port state changes are reported by ib_core itself
        // (ib_dispatch_port_state_event); we only have to let go of a netdev
        // that is going away, as rxe does.
        if event == NetdevEvent::Unregister {
            if let Some(dev) = Device::<UetDevice>::get_by_netdev(netdev) {
                pr_info!("{}: {} is going away\n", dev.name(), netdev.name());
                dev.unregister_queued();
            }
        }
    }
}

/// A context's place in its job.
enum JobSlot {
    /// Not joined: objects that touch the network or memory keys cannot be
    /// created yet (`EPERM`).
    None,
    /// Joined: the job is the context's security domain.
    Joined(Membership),
    /// The job was revoked: every later verb fails with `EIO`.
    Revoked,
}

/// The part of a context shared with its CQs and with the job core, which
/// calls [`JobMember::revoked`] on REVOKE.
#[pin_data]
pub(crate) struct UetJobMember {
    /// The context's job. Lock order: taken before the job core's lock
    /// (joining, and dropping a `Membership`, take it) and before `cqs`.
    /// Process context only.
    #[pin]
    slot: Mutex<JobSlot>,
    /// The device model's view of the job (JobID, revoked), shared with
    /// the context's memory keys; read without a lock, from any context.
    scope: Arc<JobScope>,
    /// The context's CQs, put into error on REVOKE. Process context only.
    #[pin]
    cqs: Mutex<KVec<Arc<CqEvents>>>,
}

impl UetJobMember {
    fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                slot <- new_mutex!(JobSlot::None, "UetJobMember::slot"),
                scope: Arc::new(JobScope::new(), GFP_KERNEL)?,
                cqs <- new_mutex!(KVec::new(), "UetJobMember::cqs"),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// `EIO` once the context's job was revoked; never sleeps.
    fn check_live(&self) -> Result {
        if self.scope.is_revoked() {
            return Err(EIO);
        }
        Ok(())
    }

    /// The context must have joined a live job: `EPERM` if it never
    /// joined, `EIO` if the job was revoked.
    fn require_job(&self) -> Result {
        match &*self.slot.lock() {
            JobSlot::Joined(_) => Ok(()),
            JobSlot::None => Err(EPERM),
            JobSlot::Revoked => Err(EIO),
        }
    }
}

impl JobMember for UetJobMember {
    fn revoked(&self) {
        // From here on the context's keys resolve no more and its verbs
        // fail with EIO.
        self.scope.revoke();
        // The context loses its job: dropping the membership (after our
        // lock is released) lets the job core free the JobID once the last
        // member is gone.
        let old = core::mem::replace(&mut *self.slot.lock(), JobSlot::Revoked);
        drop(old);
        for cq in self.cqs.lock().iter() {
            cq.report(CqEvent::Error);
        }
    }
}

/// Per-context state.
#[pin_data(PinnedDrop)]
pub(crate) struct UetUContext {
    member: Arc<UetJobMember>,
}

#[pinned_drop]
impl PinnedDrop for UetUContext {
    fn drop(self: Pin<&mut Self>) {
        // The context leaves its job. The job core holds the member (to
        // call it on REVOKE) and the member holds the membership: without
        // this, each would keep the other, and the job, alive.
        let old = core::mem::replace(&mut *self.member.slot.lock(), JobSlot::None);
        drop(old);
    }
}

/// A device-wide object count with a limit (a `max_*` device attribute).
pub(crate) struct Quota {
    used: AtomicU32,
    max: u32,
}

impl Quota {
    const fn new(max: u32) -> Self {
        Self {
            used: AtomicU32::new(0),
            max,
        }
    }
}

/// The device's object limits, enforced as reported by `query_device`.
pub(crate) struct Quotas {
    pds: Quota,
    cqs: Quota,
    mrs: Quota,
}

/// Which quota a [`QuotaUnit`] belongs to.
#[derive(Copy, Clone)]
enum QuotaKind {
    Pd,
    Cq,
    Mr,
}

impl Quotas {
    fn get(&self, kind: QuotaKind) -> &Quota {
        match kind {
            QuotaKind::Pd => &self.pds,
            QuotaKind::Cq => &self.cqs,
            QuotaKind::Mr => &self.mrs,
        }
    }

    /// Takes one unit of `kind` for an object; `ENOMEM` at the limit. The
    /// unit goes back when the object (which holds it) is dropped, also if
    /// the object's initialisation fails. Never sleeps.
    fn take(self: &Arc<Self>, kind: QuotaKind) -> Result<QuotaUnit> {
        let q = self.get(kind);
        q.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < q.max).then_some(n + 1)
            })
            .map_err(|_| ENOMEM)?;
        Ok(QuotaUnit {
            quotas: self.clone(),
            kind,
        })
    }
}

/// One unit of a device quota, given back on drop.
pub(crate) struct QuotaUnit {
    quotas: Arc<Quotas>,
    kind: QuotaKind,
}

impl Drop for QuotaUnit {
    fn drop(&mut self) {
        self.quotas
            .get(self.kind)
            .used
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-PD state.
pub(crate) struct UetPd {
    _unit: QuotaUnit,
}

/// A completion queue: a ring in memory shared with user space.
pub(crate) struct UetCq {
    ring: Pin<KBox<CqRing>>,
    _mmap: MmapEntry,
    armed: AtomicBool,
    member: Arc<UetJobMember>,
    events: Arc<CqEvents>,
    _unit: QuotaUnit,
}

impl CqData for UetCq {
    fn entries(&self) -> u32 {
        self.ring.entries()
    }

    fn req_notify(&self, _solicited_only: bool) -> Result {
        self.member.check_live()?;
        self.armed.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for UetCq {
    fn drop(&mut self) {
        let mut cqs = self.member.cqs.lock();
        if let Some(i) = cqs.iter().position(|c| Arc::ptr_eq(c, &self.events)) {
            drop(cqs.remove(i));
        }
    }
}

/// A memory region: pinned pages registered with the device model.
pub(crate) struct UetMr {
    key: KeyReg,
    _umem: Umem,
    _unit: QuotaUnit,
}

impl MrData for UetMr {
    fn key(&self) -> u32 {
        self.key.key()
    }
}

/// The capabilities `dev_caps` reports: what an application can use today.
/// Delivery modes and tagged matching are added as the data path makes them
/// work.
const DEV_CAPS: u32 = uapi::uet_ibv_dev_caps_UET_DEV_CAP_JOBS;

#[vtable]
impl Operations for UetDevice {
    const DRIVER_ID: DriverId = DriverId::Uet;
    const ABI_VERSION: u32 = uapi::UET_UVERBS_ABI_VERSION;
    const COUNTERS: &'static [StatDesc] = &COUNTERS;

    type UContext = UetUContext;
    type Pd = UetPd;
    type Cq = UetCq;
    type Mr = UetMr;

    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr> {
        // Every limit is what the device enforces. There are no queue pairs
        // (endpoints) yet, so their limits are zero.
        Ok(DeviceAttr {
            sys_image_guid: kernel::rdma::device::guid_from_mac(&dev.netdev.mac()),
            max_mr_size: MAX_MR_SIZE,
            page_size_cap: kernel::num::casts::usize_as_u64(kernel::page::PAGE_SIZE),
            vendor_id: VENDOR_ID,
            vendor_part_id: VENDOR_PART_ID,
            max_qp: 0,
            max_qp_wr: 0,
            max_cq: MAX_CQ,
            max_cqe: dev::MAX_CQE,
            max_mr: MAX_MR,
            max_pd: MAX_PD,
            max_sge: 0,
            allow_user_unreg: true,
            ..Default::default()
        })
    }

    fn query_port(dev: &Device<Self>, _port: u32) -> Result<PortAttr> {
        let nd = &dev.netdev;
        let mtu = nd.mtu().saturating_sub(WIRE_OVERHEAD);
        Ok(PortAttr {
            state: if nd.port_active() {
                PortState::Active
            } else {
                PortState::Down
            },
            max_mtu: 4096,
            active_mtu: mtu,
            gid_tbl_len: GID_TABLE_LEN,
            max_msg_sz: MAX_MSG_SIZE,
        })
    }

    fn query_gid(dev: &Device<Self>, _port: u32, index: u32) -> Result<Gid> {
        Ok(dev.gids.get(index))
    }

    fn alloc_ucontext(
        dev: &Device<Self>,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::UContext, Error>> {
        let cmd: AllocUcontextCmd = udata.read()?;
        check_comp_mask(cmd.0.comp_mask, 0)?;
        check_reserved(&cmd.0.reserved_20)?;
        let member = UetJobMember::new()?;
        let mtu = dev.netdev.mtu().saturating_sub(WIRE_OVERHEAD);
        let resp = AllocUcontextResp(uapi::uet_ibv_alloc_ucontext_resp {
            comp_mask: 0,
            dev_caps: DEV_CAPS,
            max_cqe: dev::MAX_CQE,
            cqe_size: kernel::num::casts::usize_into_u32::<{ dev::CQE_SIZE }>(),
            max_msg_size: MAX_MSG_SIZE,
            // Like `dev_caps`: only what an application can use. No
            // endpoint, PDC or profile works before the data path does.
            max_pdc: 0,
            profiles: 0,
            max_endpoints: 0,
            mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
            uet_version_major: 1,
            uet_version_minor: 0,
        });
        udata.write(&resp)?;
        dev.counters.inc(Counter::UctxOpened);
        Ok(try_pin_init!(UetUContext { member }? Error))
    }

    fn alloc_pd(ctx: &UContext<Self>, _udata: &mut UData) -> Result<impl PinInit<Self::Pd, Error>> {
        ctx.member.check_live()?;
        let unit = ctx.device().quotas.take(QuotaKind::Pd)?;
        Ok(try_init!(UetPd { _unit: unit }? Error))
    }

    fn create_cq(
        ctx: &UContext<Self>,
        attr: &CqAttr,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Cq, Error>> {
        ctx.member.check_live()?;
        let cmd: CreateCqCmd = udata.read()?;
        check_comp_mask(cmd.0.comp_mask, 0)?;
        if kernel::num::casts::u32_as_usize(cmd.0.cqe_size) != dev::CQE_SIZE || attr.flags != 0 {
            return Err(EINVAL);
        }
        let entries = dev::cq_ring_entries(attr.cqe).ok_or(EINVAL)?;
        let unit = ctx.device().quotas.take(QuotaKind::Cq)?;
        let ring = CqRing::new(entries)?;
        let buf = ring.buffer();
        let len = buf.len();
        // SAFETY: the entry is stored in this CQ's data only (`_mmap`),
        // which ib_core destroys before the context.
        let mmap = unsafe { ctx.insert_mmap(buf) }?;
        let resp = CreateCqResp(uapi::uet_ibv_create_cq_resp {
            comp_mask: 0,
            cq_idx: 0,
            q_mmap_key: mmap.offset(),
            q_mmap_size: kernel::num::casts::usize_as_u64(len),
            num_entries: entries,
            ..Default::default()
        });
        udata.write(&resp)?;
        // Registered last (its drop takes it out again). The job is checked
        // again under the list's lock: a REVOKE either finds this CQ in the
        // list or has already marked the context, which refuses it here.
        // (An error reported before the CQ is published is delivered when
        // it is: `CqEvents`.)
        let events = attr.events.clone();
        {
            let mut cqs = ctx.member.cqs.lock();
            ctx.member.check_live()?;
            cqs.push(events.clone(), GFP_KERNEL)?;
        }
        ctx.device().counters.inc(Counter::CqCreated);
        Ok(try_init!(UetCq {
            ring,
            _mmap: mmap,
            armed: AtomicBool::new(false),
            member: ctx.member.clone(),
            events,
            _unit: unit,
        }? Error))
    }

    fn reg_user_mr(
        pd: &Pd<Self>,
        args: &MrArgs,
        _udata: &mut UData,
    ) -> Result<impl PinInit<Self::Mr, Error>> {
        // Memory keys belong to the context's job (they are how peers of the
        // job reach this memory), so a context must have joined one first.
        let ctx = pd.ucontext().ok_or(EOPNOTSUPP)?;
        ctx.member.require_job()?;
        // ib_core checked the access flags already (ib_check_mr_access():
        // only defined flags, remote write or atomic only with local write).
        if args.length == 0 || args.length > MAX_MR_SIZE {
            return Err(EINVAL);
        }
        let dev: &UetDevice = pd.device();
        let unit = dev.quotas.take(QuotaKind::Mr)?;
        let umem = args.pin()?;
        let member = ctx.member.clone();
        let entry = Arc::new(
            MrEntry {
                iova: args.virt_addr,
                length: args.length,
                access: args.access.bits(),
                scope: member.scope.clone(),
            },
            GFP_KERNEL,
        )?;
        let keys = dev.keys.clone();
        dev.counters.inc(Counter::MrRegistered);
        // The key is registered inside the initialiser and unregistered by
        // its guard, so an allocation failure after this point (the MR
        // object itself) leaves no key behind. A REVOKE that raced with
        // this registration fails it (EIO) rather than leave an MR of a
        // revoked job; one that comes later leaves the key registered but
        // no longer resolving (the key's scope is the job's).
        Ok(try_init!(UetMr {
            key: keys.insert(entry)?,
            _umem: umem,
            _unit: unit,
        }? Error)
        .chain(move |_| member.check_live()))
    }

    fn join_job(ctx: &UContext<Self>, job: &File) -> Result {
        let member = &ctx.member;
        let mut slot = member.slot.lock();
        match &*slot {
            JobSlot::None => {}
            // A context joins once; one that joined owns every object
            // that needs a job, so this also refuses contexts with such
            // objects.
            JobSlot::Joined(_) => return Err(EBUSY),
            JobSlot::Revoked => return Err(EIO),
        }
        let netdev = &ctx.device().netdev;
        let m: Arc<dyn JobMember> = member.clone();
        let membership = Job::join(job, crate::job::UetJobs::PROTOCOL, netdev, m)?;
        let props = membership.job().info().props;
        member
            .scope
            .set_job(crate::job::UetJob::parse(&props).job_id);
        *slot = JobSlot::Joined(membership);
        Ok(())
    }

    fn query_job(ctx: &UContext<Self>) -> Result<JobInfo> {
        match &*ctx.member.slot.lock() {
            JobSlot::Joined(m) => Ok(m.job().info()),
            JobSlot::None => Err(ENOENT),
            JobSlot::Revoked => Err(EIO),
        }
    }

    fn check_mmap(ctx: &UContext<Self>) -> Result {
        // A revoked context maps nothing new (its rings were made before).
        ctx.member.check_live()
    }

    fn get_hw_stats(dev: &Device<Self>, _port: u32, values: &mut [u64]) -> Result {
        dev.counters.read(values);
        Ok(())
    }
}
