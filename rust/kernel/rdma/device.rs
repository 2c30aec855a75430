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
    netdev::NetDevice,
    udata::UData,
    umem::Umem,
};
use crate::{
    bindings,
    fs::File,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
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
pub mod driver_id {
    use crate::bindings;

    /// Ultra Ethernet Transport devices.
    pub const UET: u32 = bindings::rdma_driver_id_RDMA_DRIVER_UET;
}

/// Memory access flags of a memory region (`enum ib_access_flags`).
pub mod access {
    use crate::bindings;

    /// Local write access.
    pub const LOCAL_WRITE: u32 = bindings::ib_access_flags_IB_ACCESS_LOCAL_WRITE;
    /// Remote write access.
    pub const REMOTE_WRITE: u32 = bindings::ib_access_flags_IB_ACCESS_REMOTE_WRITE;
    /// Remote read access.
    pub const REMOTE_READ: u32 = bindings::ib_access_flags_IB_ACCESS_REMOTE_READ;
    /// Remote atomic access.
    pub const REMOTE_ATOMIC: u32 = bindings::ib_access_flags_IB_ACCESS_REMOTE_ATOMIC;
    /// Relaxed ordering may be used.
    pub const RELAXED_ORDERING: u32 = bindings::ib_access_flags_IB_ACCESS_RELAXED_ORDERING;
    /// Every flag defined for user memory regions (`IB_ACCESS_SUPPORTED`).
    pub const SUPPORTED: u32 = bindings::ib_access_flags_IB_ACCESS_SUPPORTED;
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
#[repr(transparent)]
pub struct StatDesc(bindings::rdma_stat_desc);

// SAFETY: the description only holds a pointer to a static string.
unsafe impl Sync for StatDesc {}

impl StatDesc {
    /// A counter called `name`.
    pub const fn new(name: &'static CStr) -> Self {
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

/// Arguments of a user memory registration.
pub struct MrArgs {
    ibdev: *mut bindings::ib_device,
    /// Start of the region in the caller's address space.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// The address the region is known by in work requests (iova).
    pub virt_addr: u64,
    /// `access` flags.
    pub access: u32,
}

impl MrArgs {
    /// Pins the region's pages (`ib_umem_get`).
    pub fn pin(&self) -> Result<Umem> {
        let len = usize::try_from(self.length).map_err(|_| EINVAL)?;
        let access = i32::try_from(self.access).map_err(|_| EINVAL)?;
        // SAFETY: called from the reg_user_mr callback, in the context of the
        // process that owns the memory, on a registered device.
        unsafe { Umem::get(self.ibdev, self.start, len, access) }
    }
}

/// The operations of an RDMA device; `Self` is the device's data.
#[vtable]
pub trait Operations: Sized + Send + Sync + 'static {
    /// Driver id (`enum rdma_driver_id`), e.g. `bindings::rdma_driver_id_RDMA_DRIVER_UET`.
    const DRIVER_ID: u32;
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

    /// Device attributes.
    fn query_device(dev: &Device<Self>) -> Result<DeviceAttr>;
    /// Port attributes (port 1).
    fn query_port(dev: &Device<Self>, port: u32) -> Result<PortAttr>;
    /// A user context is being created.
    fn alloc_ucontext(
        dev: &Device<Self>,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::UContext, Error>>;
    /// A protection domain is being created.
    fn alloc_pd(ctx: &UContext<Self>, udata: &mut UData) -> Result<impl PinInit<Self::Pd, Error>>;
    /// A completion queue is being created.
    fn create_cq(
        ctx: &UContext<Self>,
        attr: &CqAttr,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Cq, Error>>;
    /// User memory is being registered.
    fn reg_user_mr(
        pd: &Pd<Self>,
        args: &MrArgs,
        udata: &mut UData,
    ) -> Result<impl PinInit<Self::Mr, Error>>;

    /// A context presents a job file (`UVERBS_METHOD_JOIN_JOB`); see
    /// [`super::job::Job::from_file`].
    fn join_job(_ctx: &UContext<Self>, _job: &File) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The job a context joined (`UVERBS_METHOD_QUERY_JOB`); `ENOENT` if
    /// none.
    fn query_job(_ctx: &UContext<Self>) -> Result<JobInfo> {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Fills the values of [`Self::COUNTERS`] for `port`.
    fn get_hw_stats(_dev: &Device<Self>, _port: u32, _values: &mut [u64]) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// An RDMA device: the C `ib_device` followed by the driver's data.
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

// SAFETY: the device is reference counted by ib_core and its data is
// `Send + Sync`.
unsafe impl<T: Operations> Send for Device<T> {}
// SAFETY: as above.
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
            assert!(offset_of!(Self, ibdev) == 0, "struct ib_device must be at offset 0");
        }
        // SAFETY: allocation call with the size of `Self`.
        let raw = unsafe { bindings::_ib_alloc_device(size_of::<Self>(), core::ptr::null_mut()) };
        let this = NonNull::new(raw.cast::<Self>()).ok_or(ENOMEM)?;
        if (this.as_ptr() as usize) % align_of::<Self>() != 0 {
            // SAFETY: freshly allocated, no ops set: nothing else to drop.
            unsafe { bindings::ib_dealloc_device(raw) };
            return Err(EINVAL);
        }
        // SAFETY: `data` lies within the allocation and is uninitialised.
        let slot = unsafe { &raw mut (*this.as_ptr()).data };
        // SAFETY: `slot` is valid for writes and pinned (ib_core never moves
        // the allocation).
        if let Err(e) = unsafe { pin_init::raw_try_init(slot, init) } {
            // SAFETY: data not initialised and ops not set: just free.
            unsafe { bindings::ib_dealloc_device(raw) };
            return Err(e);
        }
        // From here on `dealloc_driver` drops `data` when the device is freed.
        // SAFETY: `raw` is a valid, unregistered device.
        unsafe {
            bindings::ib_set_device_ops(raw, &VTable::<T>::OPS);
            (*raw).node_type = bindings::RDMA_NODE_UNSPECIFIED as u8;
            (*raw).phys_port_cnt = 1;
            (*raw).num_comp_vectors = 1;
            (*raw).node_guid = guid_from_mac(&netdev.mac());
            // Arming a CQ from user space is a system call (the ring itself
            // is polled without one); ib_core leaves it off by default.
            (*raw).uverbs_cmd_mask |= 1u64 << bindings::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REQ_NOTIFY_CQ;
        }
        // SAFETY: `raw` is valid; `netdev` is held by the caller.
        let ret = unsafe { bindings::ib_device_set_netdev(raw, netdev.as_raw(), 1) };
        if ret != 0 {
            // SAFETY: unregistered; frees via `dealloc_driver`.
            unsafe { bindings::ib_dealloc_device(raw) };
            return Err(Error::from_errno(ret));
        }
        // SAFETY: `raw` is valid; `name` is NUL terminated; no DMA device
        // (virtual DMA, as soft devices use).
        let ret = unsafe { bindings::ib_register_device(raw, name.as_char_ptr(), core::ptr::null_mut()) };
        if ret != 0 {
            // SAFETY: registration failed; we still own the device.
            unsafe { bindings::ib_dealloc_device(raw) };
            // A name already in use is reported as ENFILE by ib_core.
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
    /// `ptr` must be an `ib_device` of a `Device<T>`, valid for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::ib_device) -> &'a Self {
        // SAFETY: offset 0 layout per the type invariant; validity per caller.
        unsafe { &*ptr.cast() }
    }

    /// The device name, e.g. `uet0`.
    pub fn name(&self) -> &CStr {
        // SAFETY: `name` is a NUL-terminated array of a valid device.
        unsafe { CStr::from_char_ptr((*self.as_raw()).name.as_ptr()) }
    }

    /// The net device bound to `port`, with a reference held.
    pub fn netdev(&self, port: u32) -> Option<ARef<NetDevice>> {
        // SAFETY: valid device; returns a held netdev or null.
        let nd = unsafe { bindings::ib_device_get_netdev(self.as_raw(), port) };
        let nd = NonNull::new(nd)?;
        // SAFETY: `ib_device_get_netdev` took a reference for us.
        Some(unsafe { ARef::from_raw(nd.cast::<NetDevice>()) })
    }

    /// Finds the registered device of this driver bound to `netdev`.
    pub fn get_by_netdev(netdev: &NetDevice) -> Option<DeviceRef<T>> {
        // SAFETY: `netdev` is valid; returns a device with a registration
        // reference, or null.
        let raw = unsafe { bindings::ib_device_get_by_netdev(netdev.as_raw(), T::DRIVER_ID) };
        let raw = NonNull::new(raw)?;
        // The driver id was matched by ib_core; also require the owning
        // module, so a device of the same id from another module is never
        // cast to `Device<T>`. (A module implements one `Operations` per
        // driver id.)
        // SAFETY: `raw` is a valid device.
        let ours = core::ptr::eq(unsafe { (*raw.as_ptr()).ops.owner }, VTable::<T>::OPS.owner);
        if !ours {
            // SAFETY: drop the reference `ib_device_get_by_netdev` took.
            unsafe { bindings::ib_device_put(raw.as_ptr()) };
            return None;
        }
        // INVARIANT: a held registration reference to a `Device<T>`.
        Some(DeviceRef {
            ptr: raw.cast(),
            _p: PhantomData,
        })
    }

    /// Unregisters the device from a context that may not sleep on ib_core
    /// (e.g. a netdev notifier); the device is freed later.
    pub fn unregister_queued(&self) {
        // SAFETY: valid registered device.
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
        // SAFETY: the held reference keeps the device alive.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Operations> Drop for DeviceRef<T> {
    fn drop(&mut self) {
        // SAFETY: we own one registration reference.
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
        // SAFETY: plain call; waits for all devices of the driver to go.
        unsafe { bindings::ib_unregister_driver(T::DRIVER_ID) };
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
            const _LAYOUT: () = assert!(offset_of!(Self, raw) == 0);

            /// The raw C object.
            pub fn as_raw(&self) -> *mut bindings::$cty {
                self.raw.get()
            }

            /// The device the object belongs to.
            pub fn device(&self) -> &Device<T> {
                // SAFETY: ib_core sets `device` before calling the driver.
                unsafe { Device::from_raw((*self.as_raw()).device) }
            }

            /// # Safety
            ///
            /// `ptr` must be the C object of a live `Self`.
            unsafe fn from_raw<'a>(ptr: *mut bindings::$cty) -> &'a Self {
                let () = Self::_LAYOUT;
                // SAFETY: offset 0 layout; validity per caller.
                unsafe { &*ptr.cast() }
            }

            /// # Safety
            ///
            /// `ptr` must be a C object allocated with the size of `Self`.
            unsafe fn data_slot(ptr: *mut bindings::$cty) -> *mut T::$data {
                // SAFETY: within the allocation per the caller.
                unsafe { &raw mut (*ptr.cast::<Self>()).data }
            }
        }
    };
}

declare_object!(
    /// A uverbs user context (`struct ib_ucontext`).
    UContext, ib_ucontext, UContext
);
declare_object!(
    /// A protection domain (`struct ib_pd`).
    Pd, ib_pd, Pd
);
declare_object!(
    /// A completion queue (`struct ib_cq`).
    Cq, ib_cq, Cq
);

impl<T: Operations> UContext<T> {
    /// Makes `buf` mappable by this context's process; the returned entry's
    /// offset is what user space passes to `mmap()`.
    pub fn insert_mmap(&self, buf: Arc<UserBuffer>) -> Result<MmapEntry> {
        // SAFETY: the context is valid while the driver holds `&self`; the
        // driver stores entries in objects of this context, which ib_core
        // destroys before the context.
        unsafe { MmapEntry::insert(self.as_raw(), buf) }
    }
}

impl<T: Operations> Pd<T> {
    /// The user context the PD belongs to.
    pub fn ucontext(&self) -> Option<&UContext<T>> {
        // SAFETY: `uobject` is set for user PDs and outlives the PD.
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

/// A memory region (`struct ib_mr`), allocated by this module.
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
        driver_id: T::DRIVER_ID,
        uverbs_abi_ver: T::ABI_VERSION,
        alloc_hw_port_stats: if T::HAS_GET_HW_STATS {
            Some(Self::alloc_hw_port_stats)
        } else {
            None
        },
        alloc_pd: Some(Self::alloc_pd),
        alloc_ucontext: Some(Self::alloc_ucontext),
        create_cq: Some(Self::create_cq),
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
        query_pkey: Some(Self::query_pkey),
        query_job: if T::HAS_QUERY_JOB {
            Some(Self::query_job)
        } else {
            None
        },
        query_port: Some(Self::query_port),
        reg_user_mr: Some(Self::reg_user_mr),
        req_notify_cq: Some(Self::req_notify_cq),
        size_ib_cq: size_of::<Cq<T>>(),
        size_ib_pd: size_of::<Pd<T>>(),
        size_ib_ucontext: size_of::<UContext<T>>(),
        // SAFETY: all-zero is a valid `ib_device_ops` (no ops).
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn dealloc_driver(ibdev: *mut bindings::ib_device) {
        // SAFETY: ops are only set on devices whose data is initialised;
        // this is the last callback before ib_core frees the memory.
        unsafe { core::ptr::drop_in_place(&raw mut (*ibdev.cast::<Device<T>>()).data) };
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn query_device(
        ibdev: *mut bindings::ib_device,
        attr: *mut bindings::ib_device_attr,
        udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: ib_core passes a device of this driver.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        // Extended query input must be empty or zero (no driver fields yet).
        // SAFETY: `udata` is null or valid for the call.
        let ud = unsafe { UData::from_raw(udata) };
        if ud.in_len() > 0 {
            // SAFETY: valid udata with `in_len` bytes.
            if !unsafe { bindings::ib_is_udata_cleared(udata, 0, ud.in_len()) } {
                return EINVAL.to_errno();
            }
        }
        let a = match T::query_device(dev) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: `attr` is a valid, zeroed ib_device_attr.
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
            if a.allow_user_unreg {
                attr.kernel_cap_flags |= u64::from(bindings::ib_kernel_cap_flags_IBK_ALLOW_USER_UNREG);
            }
        }
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn query_port(
        ibdev: *mut bindings::ib_device,
        port: u32,
        attr: *mut bindings::ib_port_attr,
    ) -> c_int {
        // SAFETY: ib_core passes a device of this driver.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        let a = match T::query_port(dev, port) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: `attr` is a valid, zeroed ib_port_attr.
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
            p.phys_state = phys as u8;
            p.max_mtu = ib_mtu_from_bytes(a.max_mtu);
            p.active_mtu = ib_mtu_from_bytes(a.active_mtu);
            p.phys_mtu = a.active_mtu;
            p.gid_tbl_len = a.gid_tbl_len as i32;
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
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn get_port_immutable(
        ibdev: *mut bindings::ib_device,
        port: u32,
        imm: *mut bindings::ib_port_immutable,
    ) -> c_int {
        // SAFETY: ib_core passes a device of this driver.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        let a = match T::query_port(dev, port) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: `imm` is valid for writes.
        unsafe {
            (*imm).pkey_tbl_len = 1;
            (*imm).gid_tbl_len = a.gid_tbl_len as i32;
            // GIDs are the netdev's IP addresses, maintained by ib_core's
            // RoCE GID management (see Documentation/infiniband/ultraeth.rst).
            (*imm).core_cap_flags = bindings::RDMA_CORE_CAP_PROT_ROCE_UDP_ENCAP;
            (*imm).max_mad_size = 0;
        }
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn get_link_layer(
        _ibdev: *mut bindings::ib_device,
        _port: u32,
    ) -> bindings::rdma_link_layer {
        bindings::rdma_link_layer_IB_LINK_LAYER_ETHERNET
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn query_pkey(
        _ibdev: *mut bindings::ib_device,
        _port: u32,
        index: u16,
        pkey: *mut u16,
    ) -> c_int {
        if index > 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: `pkey` is valid for writes. The default P_Key.
        unsafe { *pkey = 0xffff };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn alloc_ucontext(
        uctx: *mut bindings::ib_ucontext,
        udata: *mut bindings::ib_udata,
    ) -> c_int {
        // SAFETY: ib_core sets `device` before this call.
        let dev = unsafe { Device::<T>::from_raw((*uctx).device) };
        // SAFETY: valid for the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        // SAFETY: `owner` is this module; fails while it is being unloaded.
        if !unsafe { bindings::try_module_get(Self::OPS.owner) } {
            return ENODEV.to_errno();
        }
        let r = T::alloc_ucontext(dev, &mut ud).and_then(|init| {
            // SAFETY: ib_core allocated `size_ib_ucontext` bytes; the slot
            // is uninitialised and never moves.
            unsafe { pin_init::raw_try_init(UContext::<T>::data_slot(uctx), init) }
        });
        if r.is_err() {
            // SAFETY: taken above; no context was created.
            unsafe { bindings::module_put(Self::OPS.owner) };
        }
        ret(r)
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn dealloc_ucontext(uctx: *mut bindings::ib_ucontext) {
        // SAFETY: initialised by `alloc_ucontext`; last use.
        unsafe { core::ptr::drop_in_place(UContext::<T>::data_slot(uctx)) };
        // SAFETY: taken in `alloc_ucontext`.
        unsafe { bindings::module_put(Self::OPS.owner) };
    }

    // Devices can go away under open contexts (netdev removal, `rdma link
    // delete`): ib_core then destroys the context's objects through the
    // usual callbacks and user space gets IB_EVENT_DEVICE_FATAL. Mapped
    // rings stay valid memory (their pages are reference counted) but are
    // no longer written. Because this lets uverbs drop its module reference,
    // each user context holds one instead, so the module cannot be unloaded
    // while a context exists.
    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn disassociate_ucontext(_uctx: *mut bindings::ib_ucontext) {}

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn mmap(
        uctx: *mut bindings::ib_ucontext,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: valid context and vma for the call.
        let entry = unsafe { bindings::rdma_user_mmap_entry_get(uctx, vma) };
        if entry.is_null() {
            return EINVAL.to_errno();
        }
        // SAFETY: every entry of our contexts is an `EntryInner` (inserted by
        // `MmapEntry::insert`), with the C entry at offset 0; the `get` above
        // holds it.
        let inner = unsafe { &*entry.cast::<EntryInner>() };
        // SAFETY: the buffer is a vmalloc_user() area at least as large as
        // the entry, which `rdma_user_mmap_entry_get` matched to the vma.
        let r = unsafe { bindings::remap_vmalloc_range(vma, inner.buf.as_ptr(), 0) };
        // SAFETY: drop the reference taken by `get`.
        unsafe { bindings::rdma_user_mmap_entry_put(entry) };
        r
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn mmap_free(entry: *mut bindings::rdma_user_mmap_entry) {
        // SAFETY: allocated by `MmapEntry::insert` as a leaked KBox; ib_core
        // calls this once, when the last reference goes.
        drop(unsafe { KBox::from_raw(entry.cast::<EntryInner>()) });
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn alloc_pd(pd: *mut bindings::ib_pd, udata: *mut bindings::ib_udata) -> c_int {
        // SAFETY: `udata` is null or valid for the call.
        let uctx = unsafe { bindings::rdma_udata_to_ucontext(udata) };
        if uctx.is_null() {
            // Kernel PDs are not supported: the device is user space only.
            return EOPNOTSUPP.to_errno();
        }
        // SAFETY: a context of this driver, alive for the call.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        // SAFETY: valid for the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let init = match T::alloc_pd(ctx, &mut ud) {
            Ok(i) => i,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: sized by `size_ib_pd`; uninitialised; never moves.
        ret(unsafe { pin_init::raw_try_init(Pd::<T>::data_slot(pd), init) })
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn dealloc_pd(pd: *mut bindings::ib_pd, _udata: *mut bindings::ib_udata) -> c_int {
        // SAFETY: initialised by `alloc_pd`; last use.
        unsafe { core::ptr::drop_in_place(Pd::<T>::data_slot(pd)) };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn create_cq(
        cq: *mut bindings::ib_cq,
        attr: *const bindings::ib_cq_init_attr,
        attrs: *mut bindings::uverbs_attr_bundle,
    ) -> c_int {
        // SAFETY: `attrs` is null or valid for the call.
        let udata = unsafe { bindings::rdma_attrs_driver_udata(attrs) };
        // SAFETY: as above.
        let uctx = unsafe { bindings::rdma_udata_to_ucontext(udata) };
        if uctx.is_null() {
            return EOPNOTSUPP.to_errno();
        }
        // SAFETY: a context of this driver, alive for the call.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        // SAFETY: `attr` is valid for the call.
        let a = unsafe {
            CqAttr {
                cqe: (*attr).cqe,
                comp_vector: (*attr).comp_vector,
                flags: (*attr).flags,
            }
        };
        // SAFETY: valid for the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let init = match T::create_cq(ctx, &a, &mut ud) {
            Ok(i) => i,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: ib_core allocated `size_ib_cq` bytes for `cq`.
        let slot = unsafe { Cq::<T>::data_slot(cq) };
        // SAFETY: sized by `size_ib_cq`; uninitialised; never moves.
        if let Err(e) = unsafe { pin_init::raw_try_init(slot, init) } {
            return e.to_errno();
        }
        // SAFETY: initialised just above; `cq` is valid.
        unsafe { (*cq).cqe = (*slot).entries() as i32 };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn destroy_cq(cq: *mut bindings::ib_cq, _udata: *mut bindings::ib_udata) -> c_int {
        // SAFETY: initialised by `create_cq`; last use.
        unsafe { core::ptr::drop_in_place(Cq::<T>::data_slot(cq)) };
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn req_notify_cq(
        cq: *mut bindings::ib_cq,
        flags: bindings::ib_cq_notify_flags,
    ) -> c_int {
        // SAFETY: a live CQ of this driver.
        let cq = unsafe { Cq::<T>::from_raw(cq) };
        let solicited = flags & bindings::ib_cq_notify_flags_IB_CQ_SOLICITED_MASK
            == bindings::ib_cq_notify_flags_IB_CQ_SOLICITED;
        ret(cq.data.req_notify(solicited))
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn reg_user_mr(
        pd: *mut bindings::ib_pd,
        start: u64,
        length: u64,
        virt_addr: u64,
        access: c_int,
        _dmah: *mut bindings::ib_dmah,
        udata: *mut bindings::ib_udata,
    ) -> *mut bindings::ib_mr {
        // SAFETY: a live PD of this driver.
        let pdr = unsafe { Pd::<T>::from_raw(pd) };
        let args = MrArgs {
            // SAFETY: `pd` is valid.
            ibdev: unsafe { (*pd).device },
            start,
            length,
            virt_addr,
            access: access as u32,
        };
        // SAFETY: valid for the call.
        let mut ud = unsafe { UData::from_raw(udata) };
        let init = match T::reg_user_mr(pdr, &args, &mut ud) {
            Ok(i) => i,
            Err(e) => return e.to_ptr(),
        };
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
        // SAFETY: the MR is freed by `dereg_mr`, which treats it as pinned.
        let mr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(mr) });
        // SAFETY: `mr` is valid; ib_core fills the other fields.
        unsafe {
            let raw = (*mr).raw.get();
            (*raw).lkey = key;
            (*raw).rkey = key;
            raw
        }
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn dereg_mr(mr: *mut bindings::ib_mr, _udata: *mut bindings::ib_udata) -> c_int {
        // SAFETY: allocated by `reg_user_mr` with the C object at offset 0.
        drop(unsafe { KBox::from_raw(mr.cast::<Mr<T>>()) });
        0
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn join_job(
        uctx: *mut bindings::ib_ucontext,
        job: *mut bindings::file,
    ) -> c_int {
        // SAFETY: a live context of this driver.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        // SAFETY: the core holds a reference to `job` for the call, and no
        // fdget_pos region is active on it.
        let job = unsafe { File::from_raw_file(job) };
        ret(T::join_job(ctx, job))
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn query_job(
        uctx: *mut bindings::ib_ucontext,
        info: *mut bindings::rdma_job_info,
    ) -> c_int {
        // SAFETY: a live context of this driver.
        let ctx = unsafe { UContext::<T>::from_raw(uctx) };
        match T::query_job(ctx) {
            Ok(i) => {
                let b = i.to_bytes();
                // SAFETY: `info` is a `struct rdma_job_info` (the size
                // `to_bytes` produces, checked in `job.rs`), valid for writes.
                unsafe { core::ptr::copy_nonoverlapping(b.as_ptr(), info.cast::<u8>(), b.len()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn alloc_hw_port_stats(
        _ibdev: *mut bindings::ib_device,
        _port: u32,
    ) -> *mut bindings::rdma_hw_stats {
        // SAFETY: `COUNTERS` is static; StatDesc is transparent over the C
        // description.
        unsafe {
            bindings::rdma_alloc_hw_stats_struct(
                T::COUNTERS.as_ptr().cast(),
                T::COUNTERS.len() as i32,
                bindings::RDMA_HW_STATS_DEFAULT_LIFESPAN as usize,
            )
        }
    }

    /// # Safety
    ///
    /// Called by ib_core with pointers that are valid for the call, on objects of
    /// a device of this driver.
    unsafe extern "C" fn get_hw_stats(
        ibdev: *mut bindings::ib_device,
        stats: *mut bindings::rdma_hw_stats,
        port: u32,
        _index: c_int,
    ) -> c_int {
        // SAFETY: ib_core passes a device of this driver.
        let dev = unsafe { Device::<T>::from_raw(ibdev) };
        // SAFETY: `stats` was allocated for `COUNTERS.len()` values.
        let values = unsafe {
            core::slice::from_raw_parts_mut((*stats).value.as_mut_ptr(), T::COUNTERS.len())
        };
        match T::get_hw_stats(dev, port, values) {
            Ok(()) => T::COUNTERS.len() as c_int,
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
        assert_eq!(g.to_ne_bytes(), [0x02, 0x16, 0x3e, 0xff, 0xfe, 0x01, 0x02, 0x03]);
        let g = guid_from_mac(&[0xff; 6]);
        assert_eq!(g.to_ne_bytes(), [0xfd, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff]);
    }
}
