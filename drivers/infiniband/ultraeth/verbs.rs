// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The verbs half of `uet_soft`: `ib_device` operations, answered the way a
//! hardware driver answers them, by asking the device model (`dev.rs`).

use crate::dev::{
    self,
    Counter,
    Counters,
    CqRing,
    KeyTable,
    MrEntry, //
};
use kernel::rdma::job::JobProtocol;
use core::sync::atomic::{
    AtomicBool,
    Ordering, //
};
use kernel::{
    prelude::*,
    rdma::{
        device::{
            access,
            driver_id,
            CqAttr,
            CqData,
            Device,
            DeviceAttr,
            MrArgs,
            MrData,
            Operations,
            PortAttr,
            PortState,
            Pd,
            StatDesc,
            UContext, //
        },
        job::{
            Job,
            JobInfo,
            Membership, //
        },
        link::LinkType,
        mmap::MmapEntry,
        netdev::{
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
    fs::File,
    new_mutex,
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
const GID_TABLE_LEN: u32 = 64;
/// Largest memory region.
const MAX_MR_SIZE: u64 = 1 << 32;
/// Endpoints per context.
const MAX_ENDPOINTS: u16 = 256;
/// PDCs per device.
const MAX_PDC: u32 = 4096;

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
pub(crate) struct UetDevice {
    netdev: ARef<NetDevice>,
    counters: Counters,
    keys: Arc<KeyTable>,
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
            try_init!(UetDevice {
                netdev: netdev.into(),
                counters: Counters::new(),
                keys: Arc::pin_init(KeyTable::new(), GFP_KERNEL)?,
            }? Error),
        )?;
        pr_info!("{}: created on {}\n", name, netdev.name());
        Ok(())
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

/// Per-context state.
#[pin_data]
pub(crate) struct UetUContext {
    /// The job this context joined: its security domain.
    #[pin]
    job: Mutex<Option<Membership>>,
}

impl UetUContext {
    /// Objects cannot be created once the context's job was revoked.
    fn check_job(&self) -> Result {
        match &*self.job.lock() {
            Some(m) if m.is_revoked() => Err(EIO),
            _ => Ok(()),
        }
    }
}

/// Per-PD state.
pub(crate) struct UetPd {}

/// A completion queue: a ring in memory shared with user space.
pub(crate) struct UetCq {
    ring: Pin<KBox<CqRing>>,
    _mmap: MmapEntry,
    armed: AtomicBool,
}

impl CqData for UetCq {
    fn entries(&self) -> u32 {
        self.ring.entries()
    }

    fn req_notify(&self, _solicited_only: bool) -> Result {
        self.armed.store(true, Ordering::Release);
        Ok(())
    }
}

/// A memory region: pinned pages registered with the device model.
pub(crate) struct UetMr {
    key: u32,
    keys: Arc<KeyTable>,
    _umem: Umem,
    _entry: Arc<MrEntry>,
}

impl MrData for UetMr {
    fn key(&self) -> u32 {
        self.key
    }
}

impl Drop for UetMr {
    fn drop(&mut self) {
        self.keys.remove(self.key);
    }
}

/// Validates user MR access flags: only defined flags, and remote write or
/// atomic access requires local write (IBTA o10-37.2.1).
fn check_mr_access(flags: u32) -> Result {
    if flags & !access::SUPPORTED != 0 {
        return Err(EINVAL);
    }
    if flags & (access::REMOTE_WRITE | access::REMOTE_ATOMIC) != 0
        && flags & access::LOCAL_WRITE == 0
    {
        return Err(EINVAL);
    }
    Ok(())
}

#[vtable]
impl Operations for UetDevice {
    const DRIVER_ID: u32 = driver_id::UET;
    const ABI_VERSION: u32 = uapi::UET_UVERBS_ABI_VERSION;
    const COUNTERS: &'static [StatDesc] = &COUNTERS;

    type UContext = UetUContext;
    type Pd = UetPd;
    type Cq = UetCq;
    type Mr = UetMr;

    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr> {
        Ok(DeviceAttr {
            sys_image_guid: kernel::rdma::device::guid_from_mac(&dev.netdev.mac()),
            max_mr_size: MAX_MR_SIZE,
            page_size_cap: kernel::page::PAGE_SIZE as u64,
            max_qp: MAX_PDC,
            max_qp_wr: 4096,
            max_cq: 4096,
            max_cqe: dev::MAX_CQE,
            max_mr: 1 << 16,
            max_pd: 4096,
            max_sge: 1,
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

    fn alloc_ucontext(
        dev: &Device<Self>,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::UContext, Error>> {
        let cmd: AllocUcontextCmd = udata.read()?;
        check_comp_mask(cmd.0.comp_mask, 0)?;
        check_reserved(&cmd.0.reserved_20)?;
        let resp = AllocUcontextResp(uapi::uet_ibv_alloc_ucontext_resp {
            comp_mask: 0,
            dev_caps: uapi::uet_ibv_dev_caps_UET_DEV_CAP_RUD
                | uapi::uet_ibv_dev_caps_UET_DEV_CAP_ROD
                | uapi::uet_ibv_dev_caps_UET_DEV_CAP_RUDI
                | uapi::uet_ibv_dev_caps_UET_DEV_CAP_UUD
                | uapi::uet_ibv_dev_caps_UET_DEV_CAP_TAGGED,
            max_cqe: dev::MAX_CQE,
            cqe_size: dev::CQE_SIZE as u32,
            max_msg_size: MAX_MSG_SIZE,
            max_pdc: MAX_PDC,
            profiles: (uapi::uet_ibv_profiles_UET_PROFILE_AI_BASE
                | uapi::uet_ibv_profiles_UET_PROFILE_AI_FULL) as u16,
            max_endpoints: MAX_ENDPOINTS,
            mtu: dev.netdev.mtu().saturating_sub(WIRE_OVERHEAD).min(u16::MAX.into()) as u16,
            uet_version_major: 1,
            uet_version_minor: 0,
        });
        udata.write(&resp)?;
        dev.counters.inc(Counter::UctxOpened);
        Ok(try_pin_init!(UetUContext {
            job <- new_mutex!(None, "UetUContext::job"),
        }? Error))
    }

    fn alloc_pd(ctx: &UContext<Self>, _udata: &mut UData) -> Result<impl PinInit<Self::Pd, Error>> {
        ctx.check_job()?;
        Ok(try_init!(UetPd {}? Error))
    }

    fn create_cq(
        ctx: &UContext<Self>,
        attr: &CqAttr,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Cq, Error>> {
        ctx.check_job()?;
        let cmd: CreateCqCmd = udata.read()?;
        check_comp_mask(cmd.0.comp_mask, 0)?;
        if cmd.0.cqe_size as usize != dev::CQE_SIZE || attr.flags != 0 {
            return Err(EINVAL);
        }
        let entries = dev::cq_ring_entries(attr.cqe).ok_or(EINVAL)?;
        let ring = CqRing::new(entries)?;
        let buf = ring.buffer();
        let len = buf.len();
        let mmap = ctx.insert_mmap(buf)?;
        let resp = CreateCqResp(uapi::uet_ibv_create_cq_resp {
            comp_mask: 0,
            cq_idx: 0,
            q_mmap_key: mmap.offset(),
            q_mmap_size: len as u64,
            num_entries: entries,
            ..Default::default()
        });
        udata.write(&resp)?;
        ctx.device().counters.inc(Counter::CqCreated);
        Ok(try_init!(UetCq {
            ring,
            _mmap: mmap,
            armed: AtomicBool::new(false),
        }? Error))
    }

    fn reg_user_mr(
        pd: &Pd<Self>,
        args: &MrArgs,
        _udata: &mut UData,
    ) -> Result<impl PinInit<Self::Mr, Error>> {
        if let Some(ctx) = pd.ucontext() {
            ctx.check_job()?;
        }
        check_mr_access(args.access)?;
        if args.length == 0 || args.length > MAX_MR_SIZE {
            return Err(EINVAL);
        }
        let umem = args.pin()?;
        let dev: &UetDevice = pd.device();
        let entry = Arc::new(
            MrEntry {
                iova: args.virt_addr,
                length: args.length,
                access: args.access,
            },
            GFP_KERNEL,
        )?;
        let key = dev.keys.insert(entry.clone())?;
        dev.counters.inc(Counter::MrRegistered);
        Ok(try_init!(UetMr {
            key,
            keys: dev.keys.clone(),
            _umem: umem,
            _entry: entry,
        }? Error))
    }

    fn join_job(ctx: &UContext<Self>, job: &File) -> Result {
        let mut slot = ctx.job.lock();
        if slot.is_some() {
            return Err(EBUSY);
        }
        let job = Job::from_file(job)?;
        *slot = Some(job.join(crate::job::UetJobs::PROTOCOL)?);
        Ok(())
    }

    fn query_job(ctx: &UContext<Self>) -> Result<JobInfo> {
        match &*ctx.job.lock() {
            Some(m) => Ok(m.job().info()),
            None => Err(ENOENT),
        }
    }

    fn get_hw_stats(dev: &Device<Self>, _port: u32, values: &mut [u64]) -> Result {
        dev.counters.read(values);
        Ok(())
    }
}
