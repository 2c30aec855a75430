// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The verbs half of `uet_soft`: `ib_device` operations, answered the way a
//! hardware driver answers them, by asking the device model (`dev.rs`).

use crate::dev::{
    self,
    fep::{
        self,
        CqShared,
        EpRings,
        Fep, //
    },
    Counter,
    Counters,
    CqRing,
    GidTable,
    JobScope,
    KeyReg,
    KeyTable,
    MrEntry, //
};
use crate::proto::ses::Mode;
use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    AtomicU64,
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
            QpCap,
            QpCreated,
            QpData,
            QpInitAttr,
            QpState,
            StatDesc,
            UContext,
            QPT_DRIVER, //
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
            NetdevEvents,
            Rtnl, //
        },
        udata::{
            check_comp_mask,
            check_reserved,
            UData, //
        },
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

/// Headers in front of each UET payload on the wire, at most: IPv6 (the
/// larger IP header), UDP, PDS RUD/ROD request with its CC word, SES
/// standard request and the rendezvous extension (the eager part of a
/// rendezvous send carries it with a full payload). Packets never need
/// IP fragmentation.
const WIRE_OVERHEAD: u32 = 40 + 8 + 16 + 44 + 24;
/// Largest message: sends above the 64 KiB eager limit go as rendezvous
/// sends (the target pulls them), so the limit is the engine's
/// `Config::max_msg`.
const MAX_MSG_SIZE: u32 = fep::MAX_MSG;
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
abi_struct!(CreateQpCmd, uapi::uet_ibv_create_qp);
abi_struct!(RegMrCmd, uapi::uet_ibv_reg_mr);
abi_struct!(CreateQpResp, uapi::uet_ibv_create_qp_resp);

/// Counter names for `rdma statistic`: the device model's, in
/// `dev::Counter` order, then the engine's ([`ENGINE_COUNTERS`]).
static COUNTERS: [StatDesc; Counter::COUNT + ENGINE_COUNTERS] = [
    StatDesc::new(c"cq_created"),
    StatDesc::new(c"mr_registered"),
    StatDesc::new(c"uctx_opened"),
    StatDesc::new(c"tx_bytes"),
    StatDesc::new(c"rx_bytes"),
    StatDesc::new(c"rx_drop_malformed"),
    StatDesc::new(c"cq_overflow"),
    StatDesc::new(c"tx_errors"),
    StatDesc::new(c"rx_drop_no_endpoint"),
    StatDesc::new(c"rx_drop_bad_job"),
    StatDesc::new(c"unexpected_refused"),
    StatDesc::new(c"stale_completions"),
    StatDesc::new(c"endpoints"),
    StatDesc::new(c"rma_denied"),
    // the engine's
    StatDesc::new(c"tx_packets"),
    StatDesc::new(c"rx_packets"),
    StatDesc::new(c"rx_drop_parse"),
    StatDesc::new(c"rx_drop_other"),
    StatDesc::new(c"rx_duplicates"),
    StatDesc::new(c"retransmissions"),
    StatDesc::new(c"rto"),
    StatDesc::new(c"acks_sent"),
    StatDesc::new(c"acks_received"),
    StatDesc::new(c"nacks_sent"),
    StatDesc::new(c"nacks_received"),
    StatDesc::new(c"pdcs_opened"),
    StatDesc::new(c"pdcs_closed"),
    StatDesc::new(c"pdc_errors"),
    StatDesc::new(c"unexpected_msgs"),
    StatDesc::new(c"rx_drop_over_quota"),
    StatDesc::new(c"pdcs_reaped"),
    // A gauge: PDCs in use now, of either role.
    StatDesc::new(c"pdcs_live"),
    // Loss recovery, the SYN handshake and unexpected-message reclaim.
    StatDesc::new(c"fast_retransmissions"),
    StatDesc::new(c"spurious_retransmissions"),
    StatDesc::new(c"tail_loss_probes"),
    StatDesc::new(c"answers_lost"),
    StatDesc::new(c"pdcs_replaced"),
    StatDesc::new(c"syns_stale"),
    StatDesc::new(c"syns_offered"),
    StatDesc::new(c"unexpected_reclaimed"),
];

/// Counters taken from the engine, after the device model's.
const ENGINE_COUNTERS: usize = 26;

/// The engine's counters in `COUNTERS` order; `live` is the number of
/// PDCs in use.
fn engine_counters(st: &crate::proto::engine::Stats, live: u64) -> [u64; ENGINE_COUNTERS] {
    [
        st.tx,
        st.rx,
        st.rx_bad,
        st.rx_drop,
        st.dup,
        st.retx,
        st.rto,
        st.ack_tx,
        st.ack_rx,
        st.nack_tx,
        st.nack_rx,
        st.pdc_open,
        st.pdc_close,
        st.pdc_error,
        st.unexpected,
        st.over_quota,
        st.pdc_reaped,
        live,
        st.fast_retx,
        st.spurious_retx,
        st.tlp,
        st.answer_lost,
        st.pdc_replaced,
        st.stale_syn,
        st.syn_offered,
        st.unexp_reclaimed,
    ]
}

/// A `uet_soft` device, bound to one netdev.
#[pin_data(PinnedDrop)]
pub(crate) struct UetDevice {
    netdev: ARef<NetDevice>,
    counters: Arc<Counters>,
    keys: Arc<KeyTable>,
    /// The data path: engine, endpoints, UDP tunnel, timer.
    fep: Arc<Fep>,
    /// The next PD id.
    next_pd: AtomicU64,
    quotas: Arc<Quotas>,
    /// The port's GIDs: the netdev's IP addresses.
    #[pin]
    gids: GidTable,
}

#[pinned_drop]
impl PinnedDrop for UetDevice {
    fn drop(self: Pin<&mut Self>) {
        // The timer and the tunnel hold references to the FEP: let go of
        // them (every endpoint is gone by now: ib_core destroyed them).
        // Under RTNL, as at NETDEV_UNREGISTER: leaving the namespace's
        // tunnel is serialised with other devices joining it. ib_core
        // deallocates devices from a work item, `rdma link delete` or
        // module exit, never with RTNL held.
        kernel::rdma::netdev::with_rtnl(|rtnl| self.fep.shutdown(rtnl));
    }
}

/// UET payload bytes per packet on a netdev of `mtu` bytes.
fn payload_mtu(mtu: u32) -> u32 {
    mtu.saturating_sub(WIRE_OVERHEAD).clamp(256, 4096)
}

/// The namespace tunnel the uet device of `netdev` uses, if there is such
/// a device and it joined one. Never sleeps.
pub(crate) fn tunnel_of(netdev: &NetDevice) -> Option<Arc<crate::dev::tunnel::NetTunnel>> {
    Device::<UetDevice>::get_by_netdev(netdev).and_then(|d| d.fep.tunnel())
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
        let counters = Arc::new(Counters::new(), GFP_KERNEL)?;
        let keys = Arc::pin_init(KeyTable::new(), GFP_KERNEL)?;
        let fep = Fep::new(
            netdev,
            payload_mtu(netdev.mtu()),
            keys.clone(),
            counters.clone(),
        )?;
        Device::<UetDevice>::register(
            name,
            netdev,
            try_pin_init!(UetDevice {
                netdev: netdev.into(),
                counters,
                keys,
                fep,
                next_pd: AtomicU64::new(1),
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
    fn event(rtnl: &Rtnl, event: NetdevEvent, netdev: &NetDevice) {
        // Port state changes are reported by ib_core itself
        // (ib_dispatch_port_state_event); we only have to let go of a netdev
        // that is going away, as rxe does.
        if event == NetdevEvent::Unregister {
            if let Some(dev) = Device::<UetDevice>::get_by_netdev(netdev) {
                pr_info!("{}: {} is going away\n", dev.name(), netdev.name());
                // The tunnel's socket must go before the netdev's namespace
                // can: release it now (this may sleep).
                dev.fep.shutdown(rtnl);
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
    /// The device's data path, and the context's endpoints in it (their
    /// PIDonFEPs), flushed on REVOKE. Process context only.
    fep: Arc<Fep>,
    /// `(PIDonFEP, generation)` of each endpoint. Lock order: before the
    /// FEP's lock (endpoints are added, removed and put in error under it).
    #[pin]
    eps: Mutex<KVec<(u16, u32)>>,
}

impl UetJobMember {
    fn new(fep: Arc<Fep>) -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                slot <- new_mutex!(JobSlot::None, "UetJobMember::slot"),
                scope: Arc::new(JobScope::new(), GFP_KERNEL)?,
                cqs <- new_mutex!(KVec::new(), "UetJobMember::cqs"),
                fep,
                eps <- new_mutex!(KVec::new(), "UetJobMember::eps"),
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
        // Every endpoint's outstanding work is flushed, and new work too.
        for (pid, gen) in self.eps.lock().iter() {
            self.fep.as_arc_borrow().error_ep(*pid, *gen);
        }
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
    /// Unique per device: the MRs and QPs of a PD carry it, and a QP may
    /// only use local keys of its own PD.
    id: u64,
    _unit: QuotaUnit,
}

/// A completion queue: a ring in memory shared with user space, written by
/// the data path through [`CqShared`].
pub(crate) struct UetCq {
    shared: Arc<CqShared>,
    _mmap: MmapEntry,
    member: Arc<UetJobMember>,
    events: Arc<CqEvents>,
    _unit: QuotaUnit,
}

impl CqData for UetCq {
    fn entries(&self) -> u32 {
        self.shared.ring.entries()
    }

    fn req_notify(&self, _solicited_only: bool) -> Result {
        self.member.check_live()?;
        self.shared.armed.store(true, Ordering::Release);
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

/// A memory region: pinned pages registered with the device model (the
/// key table's entry owns them).
pub(crate) struct UetMr {
    key: KeyReg,
    _unit: QuotaUnit,
}

impl MrData for UetMr {
    fn key(&self) -> u32 {
        self.key.key()
    }
}

/// An endpoint's place in the FEP and in its context's list; both are
/// left when it is dropped (also when the QP's creation fails after the
/// endpoint was added).
struct EpReg {
    fep: Arc<Fep>,
    member: Arc<UetJobMember>,
    pid: u16,
    gen: u32,
}

impl Drop for EpReg {
    fn drop(&mut self) {
        // Under the context's list lock, as REVOKE walks the list: either
        // REVOKE flushed the endpoint, or the endpoint is gone.
        let mut eps = self.member.eps.lock();
        if let Some(i) = eps.iter().position(|e| *e == (self.pid, self.gen)) {
            drop(eps.remove(i));
        }
        // Outstanding work completes with IB_WC_WR_FLUSH_ERR (written to
        // the CQs, which outlive the QP: ib_core refuses to destroy a CQ a
        // QP uses) and the PIDonFEP is free again.
        self.fep.as_arc_borrow().remove_ep(self.pid, self.gen);
    }
}

/// An endpoint: an `IB_QPT_DRIVER` QP with UET semantics (reliable,
/// unconnected, reaching every endpoint of its job), whose send and
/// receive rings are mapped by user space and fetched by the device model.
pub(crate) struct UetQp {
    /// Dropped first: the endpoint leaves the FEP before its rings go.
    reg: EpReg,
    _rings: Arc<EpRings>,
    _sq_mmap: MmapEntry,
    _rq_mmap: MmapEntry,
}

impl QpData for UetQp {
    // A doorbell of a revoked context still fetches: what user space
    // published before it is posted (the device may fetch it at any time
    // anyway, when completions free room), so it must complete rather than
    // stay in the ring for ever. The fetch flushes every request of a
    // revoked job (IB_WC_WR_FLUSH_ERR, nothing sent); the doorbell then
    // answers EIO.
    fn doorbell_sq(&self) -> Result {
        let live = self.reg.member.check_live();
        self.reg.fep.as_arc_borrow().doorbell_sq(self.reg.pid)?;
        live
    }

    fn doorbell_rq(&self) -> Result {
        let live = self.reg.member.check_live();
        self.reg.fep.as_arc_borrow().doorbell_rq(self.reg.pid)?;
        live
    }

    fn set_state(&self, state: QpState) -> Result {
        // An endpoint is ready when created: the connected-QP states mean
        // nothing to it, and are accepted so that applications written
        // for other QP types may walk them. The error state flushes, for
        // good.
        if state == QpState::Err {
            self.reg
                .fep
                .as_arc_borrow()
                .error_ep(self.reg.pid, self.reg.gen);
        }
        Ok(())
    }
}

/// The capabilities `dev_caps` reports: what an application can use today.
/// Delivery modes and tagged matching were added as the data path made
/// them work.
const DEV_CAPS: u32 = uapi::uet_ibv_dev_caps_UET_DEV_CAP_JOBS
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_RUD
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_ROD
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_RUDI
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_UUD
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_TAGGED
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_RMA
    | uapi::uet_ibv_dev_caps_UET_DEV_CAP_ATOMIC;

#[vtable]
impl Operations for UetDevice {
    const DRIVER_ID: DriverId = DriverId::Uet;
    const ABI_VERSION: u32 = uapi::UET_UVERBS_ABI_VERSION;
    const COUNTERS: &'static [StatDesc] = &COUNTERS;

    type UContext = UetUContext;
    type Pd = UetPd;
    type Cq = UetCq;
    type Mr = UetMr;
    type Qp = UetQp;

    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr> {
        // Every limit is what the device enforces.
        Ok(DeviceAttr {
            sys_image_guid: kernel::rdma::device::guid_from_mac(&dev.netdev.mac()),
            max_mr_size: MAX_MR_SIZE,
            page_size_cap: kernel::num::casts::usize_as_u64(kernel::page::PAGE_SIZE),
            vendor_id: VENDOR_ID,
            vendor_part_id: VENDOR_PART_ID,
            // CAST: 4096 endpoints.
            max_qp: fep::MAX_EP as u32,
            max_qp_wr: fep::MAX_WQE,
            max_cq: MAX_CQ,
            max_cqe: dev::MAX_CQE,
            max_mr: MAX_MR,
            max_pd: MAX_PD,
            max_sge: fep::MAX_SEND_SGE,
            allow_user_unreg: true,
            // Atomics run under the device's engine lock: atomic with
            // respect to each other, not to the CPU.
            atomic_hca: true,
            // A send queue's requests may all be reads or atomics; the
            // engine's message table bounds the device's.
            max_qp_rd_atom: fep::MAX_WQE,
            max_res_rd_atom: fep::MAX_ENGINE_MSGS,
            ..Default::default()
        })
    }

    fn query_port(dev: &Device<Self>, _port: u32) -> Result<PortAttr> {
        let nd = &dev.netdev;
        let mtu = payload_mtu(nd.mtu());
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
        let member = UetJobMember::new(dev.fep.clone())?;
        let mtu = payload_mtu(dev.netdev.mtu());
        let resp = AllocUcontextResp(uapi::uet_ibv_alloc_ucontext_resp {
            comp_mask: 0,
            dev_caps: DEV_CAPS,
            max_cqe: dev::MAX_CQE,
            cqe_size: kernel::num::casts::usize_into_u32::<{ dev::CQE_SIZE }>(),
            max_msg_size: MAX_MSG_SIZE,
            // Like `dev_caps`: only what an application can use.
            // CAST: small constants.
            max_pdc: fep::MAX_PDC as u32,
            profiles: 0,
            // PIDonFEPs 0 and 1 give QP numbers ib_core reserves.
            max_endpoints: fep::MAX_EP as u16 - 2,
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
        let dev = ctx.device();
        let unit = dev.quotas.take(QuotaKind::Pd)?;
        let id = dev.next_pd.fetch_add(1, Ordering::Relaxed);
        Ok(try_init!(UetPd { id, _unit: unit }? Error))
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
        let seq_tag = ring.seq_tag();
        let events = attr.events.clone();
        let shared = Arc::new(
            CqShared {
                ring,
                events: events.clone(),
                armed: AtomicBool::new(false),
                error: AtomicBool::new(false),
                counters: ctx.device().counters.clone(),
            },
            GFP_KERNEL,
        )?;
        let len = buf.len();
        // SAFETY: the entry is stored in this CQ's data only (`_mmap`),
        // which ib_core destroys before the context.
        let mmap = unsafe { ctx.insert_mmap(buf) }?;
        let resp = CreateCqResp(uapi::uet_ibv_create_cq_resp {
            comp_mask: uapi::uet_ibv_create_cq_resp_comp_mask_UET_CREATE_CQ_RESP_SEQ_TAG,
            cq_idx: 0,
            q_mmap_key: mmap.offset(),
            q_mmap_size: kernel::num::casts::usize_as_u64(len),
            num_entries: entries,
            seq_tag,
        });
        udata.write(&resp)?;
        // Registered last (its drop takes it out again). The job is checked
        // again under the list's lock: a REVOKE either finds this CQ in the
        // list or has already marked the context, which refuses it here.
        // (An error reported before the CQ is published is delivered when
        // it is: `CqEvents`.)
        {
            let mut cqs = ctx.member.cqs.lock();
            ctx.member.check_live()?;
            cqs.push(events.clone(), GFP_KERNEL)?;
        }
        ctx.device().counters.inc(Counter::CqCreated);
        Ok(try_init!(UetCq {
            shared,
            _mmap: mmap,
            member: ctx.member.clone(),
            events,
            _unit: unit,
        }? Error))
    }

    fn create_qp(
        pd: &Pd<Self>,
        attr: &QpInitAttr<'_, Self>,
        udata: &mut UData,
    ) -> Result<(QpCreated, impl PinInit<Self::Qp, Error>)> {
        let ctx = pd.ucontext().ok_or(EOPNOTSUPP)?;
        let member = ctx.member.clone();
        let cmd: CreateQpCmd = udata.read()?;
        let c = &cmd.0;
        let mask_initiator = uapi::uet_ibv_create_qp_comp_mask_UET_CREATE_QP_MASK_INITIATOR;
        check_comp_mask(c.comp_mask, mask_initiator)?;
        // The SES initiator field of the endpoint's requests: its QP
        // number unless user space chose one (an old library leaves the
        // field zero, as it was reserved).
        let initiator = if c.comp_mask & mask_initiator != 0 {
            Some(c.initiator)
        } else if c.initiator != 0 {
            return Err(EINVAL);
        } else {
            None
        };
        if attr.qp_type != QPT_DRIVER || c.driver_qp_type != uapi::uet_ibv_qp_type_UET_QPT_RU {
            return Err(EOPNOTSUPP);
        }
        let mode = match c.delivery_mode {
            uapi::uet_ibv_delivery_mode_UET_DM_RUD => Mode::Rud,
            uapi::uet_ibv_delivery_mode_UET_DM_ROD => Mode::Rod,
            uapi::uet_ibv_delivery_mode_UET_DM_RUDI => Mode::Rudi,
            uapi::uet_ibv_delivery_mode_UET_DM_UUD => Mode::Uud,
            _ => return Err(EOPNOTSUPP),
        };
        let known = uapi::uet_ibv_create_qp_flags_UET_CREATE_QP_F_QPN;
        if c.flags & !known != 0
            || kernel::num::casts::u32_as_usize(c.sqe_size) != fep::SQE_SIZE
            || kernel::num::casts::u32_as_usize(c.rqe_size) != fep::RQE_SIZE
            || attr.create_flags != 0
            || attr.has_srq
        {
            return Err(EINVAL);
        }
        let (Some(scq), Some(rcq)) = (attr.send_cq, attr.recv_cq) else {
            return Err(EINVAL);
        };
        let cap = attr.cap;
        if cap.max_send_sge > fep::MAX_SEND_SGE
            || cap.max_recv_sge > fep::MAX_RECV_SGE
            || cap.max_inline_data > fep::MAX_INLINE
        {
            return Err(EINVAL);
        }
        let sq_entries = fep::wq_ring_entries(cap.max_send_wr).ok_or(EINVAL)?;
        let rq_entries = fep::wq_ring_entries(cap.max_recv_wr).ok_or(EINVAL)?;
        // The job decides the JobID every packet carries and the range of
        // PIDonFEPs the endpoint may take.
        let job = match &*member.slot.lock() {
            JobSlot::Joined(m) => crate::job::UetJob::parse(&m.job().info().props),
            JobSlot::None => return Err(EPERM),
            JobSlot::Revoked => return Err(EIO),
        };
        // CAST: the job's range was validated to lie in the 12-bit space.
        let base = job.pid_on_fep_base;
        let range = base..(u32::from(base) + u32::from(job.max_endpoints)) as u16;
        let want = if c.flags & known != 0 {
            if c.qpn >> 24 != 0 {
                return Err(EINVAL);
            }
            Some(c.qpn)
        } else {
            None
        };
        let dev: &UetDevice = pd.device();
        let fep = dev.fep.clone();
        fep.as_arc_borrow().ensure_bound()?;
        let sq =
            kernel::rdma::mmap::UserBuffer::new(fep::wq_ring_bytes(sq_entries, fep::SQE_SIZE))?;
        let rq =
            kernel::rdma::mmap::UserBuffer::new(fep::wq_ring_bytes(rq_entries, fep::RQE_SIZE))?;
        let rings = Arc::new(
            EpRings {
                sq: sq.clone(),
                sq_entries,
                rq: rq.clone(),
                rq_entries,
                scq: scq.shared.clone(),
                rcq: rcq.shared.clone(),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the entries are stored in this QP's data only, which
        // ib_core destroys before the context.
        let sq_mmap = unsafe { ctx.insert_mmap(sq.clone()) }?;
        // SAFETY: as above.
        let rq_mmap = unsafe { ctx.insert_mmap(rq.clone()) }?;
        // The endpoint is added and listed in one step under the list's
        // lock, which REVOKE takes: a REVOKE either comes first (and the
        // context is refused here) or finds the endpoint.
        let (reg, qpn) = {
            let mut eps = member.eps.lock();
            member.check_live()?;
            eps.reserve(1, GFP_KERNEL)?;
            let (pid, gen, qpn) = fep.add_ep(
                want,
                initiator,
                range,
                job.job_id,
                job.tc,
                mode,
                pd.id,
                rings.clone(),
                member.scope.clone(),
            )?;
            // Cannot fail: room was reserved.
            eps.push((pid, gen), GFP_KERNEL)?;
            let reg = EpReg {
                fep,
                member: member.clone(),
                pid,
                gen,
            };
            (reg, qpn)
        };
        let resp = CreateQpResp(uapi::uet_ibv_create_qp_resp {
            comp_mask: 0,
            job_id: job.job_id,
            sq_mmap_key: sq_mmap.offset(),
            sq_mmap_size: kernel::num::casts::usize_as_u64(sq.len()),
            rq_mmap_key: rq_mmap.offset(),
            rq_mmap_size: kernel::num::casts::usize_as_u64(rq.len()),
            sq_entries,
            rq_entries,
        });
        // A failure from here on drops `reg`, which removes the endpoint.
        udata.write(&resp)?;
        let created = QpCreated {
            qp_num: qpn,
            cap: QpCap {
                max_send_wr: sq_entries,
                max_recv_wr: rq_entries,
                max_send_sge: fep::MAX_SEND_SGE,
                max_recv_sge: fep::MAX_RECV_SGE,
                max_inline_data: fep::MAX_INLINE,
            },
        };
        Ok((
            created,
            try_init!(UetQp {
                reg,
                _rings: rings,
                _sq_mmap: sq_mmap,
                _rq_mmap: rq_mmap,
            }? Error),
        ))
    }

    fn reg_user_mr(
        pd: &Pd<Self>,
        args: &MrArgs,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Mr, Error>> {
        // Optional driver data (none from older libraries: zeros).
        let cmd: RegMrCmd = udata.read()?;
        let c = &cmd.0;
        check_comp_mask(c.comp_mask, 0)?;
        check_reserved(&c.reserved_60)?;
        let f_key = uapi::uet_ibv_reg_mr_flags_UET_REG_MR_F_KEY;
        if c.flags & !f_key != 0 {
            return Err(EINVAL);
        }
        let want = if c.flags & f_key != 0 {
            // Key 0 is what a zeroed request carries: never a key.
            if c.key == 0 {
                return Err(EINVAL);
            }
            Some(c.key)
        } else {
            if c.key != 0 {
                return Err(EINVAL);
            }
            None
        };
        // Memory keys belong to the context's job (they are how peers of the
        // job reach this memory), so a context must have joined one first.
        let ctx = pd.ucontext().ok_or(EOPNOTSUPP)?;
        ctx.member.require_job()?;
        // ib_core checked the access flags already (ib_check_mr_access():
        // only defined flags, remote write or atomic only with local write).
        // The iova range must not wrap: the data path adds offsets to it.
        if args.length == 0
            || args.length > MAX_MR_SIZE
            || args.virt_addr.checked_add(args.length).is_none()
        {
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
                pd: pd.id,
                umem: Some(umem),
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
            key: keys.insert(entry, want)?,
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
        let (own, engine) = values.split_at_mut(Counter::COUNT.min(values.len()));
        dev.counters.read(own);
        let (st, live) = dev.fep.stats();
        for (v, e) in engine.iter_mut().zip(engine_counters(&st, live)) {
            *v = e;
        }
        Ok(())
    }
}
