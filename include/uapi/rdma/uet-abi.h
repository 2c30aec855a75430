/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * uverbs ABI of Ultra Ethernet Transport devices (driver id RDMA_DRIVER_UET),
 * implemented by the uet_soft software device. The layout is meant to fit a
 * hardware UET device as well: user space polls completions from a ring in
 * memory it maps, without a system call.
 *
 * Documentation/infiniband/ultraeth.rst describes the objects.
 */

#ifndef UET_ABI_USER_H
#define UET_ABI_USER_H

#include <linux/types.h>

/*
 * Increment this value if any changes that break userspace ABI
 * compatibility are made.
 */
#define UET_UVERBS_ABI_VERSION 1

/*
 * Keep structs aligned to 8 bytes.
 * Keep reserved fields as arrays of __u8 named reserved_XXX where XXX is the
 * hex bit offset of the field.
 * comp_mask: request structs reject unknown bits (EINVAL); response structs
 * set the bits of the optional fields they fill.
 */

struct uet_ibv_alloc_ucontext_cmd {
	__u32 comp_mask;
	__u8 reserved_20[4];
};

/* Device capabilities, in uet_ibv_alloc_ucontext_resp.dev_caps */
enum uet_ibv_dev_caps {
	UET_DEV_CAP_RUD = 1 << 0,	/* reliable unordered delivery */
	UET_DEV_CAP_ROD = 1 << 1,	/* reliable ordered delivery */
	UET_DEV_CAP_RUDI = 1 << 2,	/* reliable unordered, idempotent */
	UET_DEV_CAP_UUD = 1 << 3,	/* unreliable unordered delivery */
	UET_DEV_CAP_TAGGED = 1 << 4,	/* tagged send/receive matching */
	UET_DEV_CAP_JOBS = 1 << 5,	/* contexts join jobs (rdma_job.h) */
	UET_DEV_CAP_RMA = 1 << 6,	/* RMA write (with header data), read */
	UET_DEV_CAP_ATOMIC = 1 << 7,	/* fetch-add, compare-and-swap, add */
};

/* UET profiles (UEC 1.0), in uet_ibv_alloc_ucontext_resp.profiles */
enum uet_ibv_profiles {
	UET_PROFILE_AI_BASE = 1 << 0,
	UET_PROFILE_AI_FULL = 1 << 1,
	UET_PROFILE_HPC = 1 << 2,
};

struct uet_ibv_alloc_ucontext_resp {
	__u32 comp_mask;
	__u32 dev_caps;		/* enum uet_ibv_dev_caps */
	__u32 max_cqe;		/* entries of the largest CQ */
	__u32 cqe_size;		/* bytes, sizeof(struct uet_cqe) */
	__u32 max_msg_size;	/* bytes */
	__u32 max_pdc;		/* packet delivery contexts per device */
	__u16 profiles;		/* enum uet_ibv_profiles */
	__u16 max_endpoints;	/* endpoints (PIDonFEP values) per context */
	__u16 mtu;		/* UET payload bytes per packet */
	__u8 uet_version_major;
	__u8 uet_version_minor;
};

struct uet_ibv_create_cq {
	__u32 comp_mask;
	__u32 cqe_size;		/* must equal the ucontext's cqe_size */
};

enum uet_ibv_create_cq_resp_comp_mask {
	UET_CREATE_CQ_RESP_SEQ_TAG = 1 << 0,	/* seq_tag is valid */
};

struct uet_ibv_create_cq_resp {
	__u32 comp_mask;		/* enum uet_ibv_create_cq_resp_comp_mask */
	__u32 cq_idx;
	__aligned_u64 q_mmap_key;	/* mmap offset of the ring */
	__aligned_u64 q_mmap_size;	/* bytes to map */
	__u32 num_entries;		/* ring entries, a power of two */
	__u32 seq_tag;			/* random, nonzero: see uet_cqe.seq */
};

/*
 * Completion queue ring, mapped read-write at q_mmap_key:
 *
 *   offset 0                         struct uet_cq_ring_hdr
 *   offset UET_CQ_RING_ENTRIES_OFFSET struct uet_cqe[num_entries]
 *
 * The device writes entry (prod_idx % num_entries) and then stores prod_idx
 * + 1 (release). The consumer reads entries up to prod_idx (acquire) and
 * stores its own count in cons_idx (release) so the device can reuse them.
 * Both indexes run free and wrap at 2^32. The device never overwrites an
 * entry that was not consumed: a full ring puts the CQ in error
 * (IB_EVENT_CQ_ERR). With UET_CREATE_CQ_RESP_SEQ_TAG each entry carries
 * its own index, seq = index ^ seq_tag: after the device is gone
 * (disassociated), every page of every mapping of the context is one
 * shared page, zeroed, that user space's own ring writes land in, and an
 * entry whose seq is not the one expected is that, not a completion (the
 * tag keeps index 0 from matching a zero word).
 */
struct uet_cq_ring_hdr {
	__u32 prod_idx;		/* written by the device */
	__u8 reserved_20[60];
	__u32 cons_idx;		/* written by user space */
	__u8 reserved_220[60];
};

#define UET_CQ_RING_ENTRIES_OFFSET 128

enum uet_cqe_opcode {
	UET_CQE_OP_SEND = 0,
	UET_CQE_OP_RECV = 1,
	UET_CQE_OP_TAGGED_SEND = 2,
	UET_CQE_OP_TAGGED_RECV = 3,
	UET_CQE_OP_WRITE = 4,
	UET_CQE_OP_READ = 5,
	UET_CQE_OP_ATOMIC = 6,		/* fetch-and-add or non-fetching add */
	UET_CQE_OP_CMP_SWP = 7,		/* compare-and-swap */
};

/*
 * UET_CQE_OP_WRITE with UET_CQE_F_WITH_DATA is a target completion: an RMA
 * write carrying header data landed in this endpoint's memory. It goes to
 * the receive CQ, consumes no receive entry and has wr_id 0.
 */
enum uet_cqe_flags {
	UET_CQE_F_WITH_DATA = 1 << 0,	/* header_data is valid */
	UET_CQE_F_TAGGED = 1 << 1,	/* match_bits is valid */
};

struct uet_cqe {
	__aligned_u64 wr_id;
	__u8 status;		/* enum ib_wc_status */
	__u8 opcode;		/* enum uet_cqe_opcode */
	__u8 uet_rc;		/* UET SES return code when status != 0 */
	__u8 flags;		/* enum uet_cqe_flags */
	__u32 byte_len;
	__u32 ep_num;		/* local endpoint (queue pair number) */
	__u32 job_id;		/* receive: JobID of the message (24 bits) */
	__u32 src_qpn;		/* receive: the SES initiator field: the
				 * sender's QP number unless it chose an
				 * initiator (UET_CREATE_QP_MASK_INITIATOR);
				 * 0 from a small request, which has none */
	__u32 seq;		/* the entry's index (prod_idx before it was
				 * written) ^ seq_tag */
	__aligned_u64 header_data;
	__aligned_u64 match_bits;
	__u8 src_addr[16];	/* receive: the sender's FEP address */
};

/*
 * Memory regions: optional driver data of REG_MR. Every key a context
 * registers belongs to its job (remote requests of other jobs never
 * resolve it). Keys are random unless UET_REG_MR_F_KEY asks for one: an
 * application-assigned key, nonzero, 32 bits, unique per device (EBUSY if
 * taken), which peers may then know without an exchange.
 */
enum uet_ibv_reg_mr_flags {
	UET_REG_MR_F_KEY = 1 << 0,	/* use uet_ibv_reg_mr.key */
};

struct uet_ibv_reg_mr {
	__u32 comp_mask;
	__u32 flags;		/* enum uet_ibv_reg_mr_flags */
	__u32 key;		/* lkey = rkey (UET_REG_MR_F_KEY) */
	__u8 reserved_60[4];
};

/*
 * Endpoints: IB_QPT_DRIVER queue pairs created with this driver data.
 *
 * An endpoint is reliable, unconnected and reaches every endpoint of its
 * job; the destination is named per work request. Its QP number is
 * structured: PIDonFEP in bits 11:0, resource index in bits 23:12. The
 * context must have joined a job (EPERM otherwise, EIO once revoked).
 */
enum uet_ibv_qp_type {
	UET_QPT_RU = 1,		/* reliable unconnected endpoint */
};

/*
 * What an endpoint's requests may be, by delivery mode (others complete
 * with IB_WC_LOC_QP_OP_ERR): RUD and ROD every operation, ROD delivering
 * the messages to one destination in posting order; RUDI, WRITE (without
 * header data) and READ of at most one packet (ucontext mtu), served
 * without a PDC; UUD, SEND and tagged SEND of at most one packet,
 * unreliable: a datagram may be lost; the target drops copies of the
 * datagrams it delivered lately (the last 256 per device), and corrupted
 * packets fail their checksum.
 */
enum uet_ibv_delivery_mode {
	UET_DM_RUD = 0,		/* reliable unordered delivery */
	UET_DM_ROD = 1,		/* reliable ordered delivery */
	UET_DM_RUDI = 2,	/* reliable unordered idempotent */
	UET_DM_UUD = 3,		/* unreliable unordered delivery */
};

enum uet_ibv_create_qp_flags {
	UET_CREATE_QP_F_QPN = 1 << 0,	/* use uet_ibv_create_qp.qpn */
};

#define UET_QPN_PID_MASK 0xfff		/* PIDonFEP, bits 11:0 */
#define UET_QPN_RI_SHIFT 12		/* resource index, bits 23:12 */

/*
 * Optional fields of uet_ibv_create_qp. The SES initiator field of every
 * request the endpoint sends is its QP number unless
 * UET_CREATE_QP_MASK_INITIATOR gives another value (any 32 bits: the
 * source ID of the libibverbs UET verbs, IBV_QP_INIT_ATTR_SRC_ID). The
 * target reports it in uet_cqe.src_qpn.
 */
enum uet_ibv_create_qp_comp_mask {
	UET_CREATE_QP_MASK_INITIATOR = 1 << 0,	/* use .initiator */
};

struct uet_ibv_create_qp {
	__u32 comp_mask;	/* enum uet_ibv_create_qp_comp_mask */
	__u32 driver_qp_type;	/* enum uet_ibv_qp_type */
	__u32 delivery_mode;	/* enum uet_ibv_delivery_mode */
	__u32 flags;		/* enum uet_ibv_create_qp_flags */
	__u32 qpn;		/* requested QP number (UET_CREATE_QP_F_QPN) */
	__u32 sqe_size;		/* must be sizeof(struct uet_sqe) */
	__u32 rqe_size;		/* must be sizeof(struct uet_rqe) */
	__u32 initiator;	/* UET_CREATE_QP_MASK_INITIATOR; else 0 */
};

struct uet_ibv_create_qp_resp {
	__u32 comp_mask;
	__u32 job_id;			/* JobID every packet carries */
	__aligned_u64 sq_mmap_key;	/* mmap offset of the send ring */
	__aligned_u64 sq_mmap_size;
	__aligned_u64 rq_mmap_key;	/* mmap offset of the receive ring */
	__aligned_u64 rq_mmap_size;
	__u32 sq_entries;		/* ring entries, a power of two */
	__u32 rq_entries;		/* ring entries, a power of two */
};

/*
 * Send and receive rings, each mapped read-write at its mmap key:
 *
 *   offset 0                          struct uet_wq_ring_hdr
 *   offset UET_WQ_RING_ENTRIES_OFFSET entries (struct uet_sqe / uet_rqe)
 *
 * User space writes entry (prod_idx % entries), stores prod_idx + 1
 * (release) and rings the doorbell: a uverbs POST_SEND (send ring) or
 * POST_RECV (receive ring) command with no work requests. The device
 * fetches each entry once, up to prod_idx (acquire), and then stores its
 * own count in cons_idx (release): from then on the entry's slot may be
 * reused. Both indexes run free and wrap at 2^32; a ring is full when
 * prod_idx - cons_idx == entries. Entries the device cannot accept yet
 * (every request slot of the endpoint is busy) stay in the ring until
 * completions free a slot.
 */
struct uet_wq_ring_hdr {
	__u32 prod_idx;		/* written by user space */
	__u8 reserved_20[60];
	__u32 cons_idx;		/* written by the device */
	__u8 reserved_220[60];
};

#define UET_WQ_RING_ENTRIES_OFFSET 128

struct uet_sge {
	__aligned_u64 addr;	/* user address inside the MR */
	__u32 length;
	__u32 lkey;
};

enum uet_sqe_opcode {
	UET_SQE_OP_SEND = 0,
	UET_SQE_OP_TAGGED_SEND = 1,
	UET_SQE_OP_WRITE = 2,		/* RMA write */
	UET_SQE_OP_READ = 3,		/* RMA read */
	UET_SQE_OP_ATOMIC_FETCH_ADD = 4,
	UET_SQE_OP_ATOMIC_CMP_SWP = 5,
	UET_SQE_OP_ATOMIC_ADD = 6,	/* non-fetching add */
};

enum uet_sqe_flags {
	UET_SQE_F_SIGNALED = 1 << 0,	/* write a completion on success */
	UET_SQE_F_WITH_DATA = 1 << 1,	/* header_data is carried */
	UET_SQE_F_INLINE = 1 << 2,	/* payload in inline_data */
};

#define UET_SQE_MAX_SGE 3
#define UET_SQE_MAX_INLINE 48

/*
 * A send request. The destination is an endpoint of the sender's job:
 * the peer's FEP address (IPv6, or IPv4-mapped IPv6) and its QP number
 * (24 bits). With UET_SQE_F_INLINE, length bytes of inline_data are the
 * payload and num_sge is 0. Reserved fields and unknown flags must be
 * zero: the device fails the entry (IB_WC_LOC_QP_OP_ERR) otherwise; the
 * same holds for receive entries.
 *
 * RMA and atomics name the target memory by remote_key, the key of a
 * memory region registered by the destination endpoint's context in the
 * endpoint's protection domain, and remote_addr, an address in that
 * region's iova space: the UET buffer offset on the wire is remote_addr,
 * and the target subtracts the region's iova. A region registered with
 * iova 0 (ibv_reg_mr_iova()) is addressed by plain offsets, as UET's
 * relative addressing has it. WRITE sends the SGEs (or inline data),
 * with header_data if UET_SQE_F_WITH_DATA; READ fills the SGEs (no
 * inline). Atomics work on the 8-byte, 8-byte aligned target word:
 * FETCH_ADD adds compare_add, CMP_SWP stores swap if the word equals
 * compare_add, ADD adds compare_add without fetching; FETCH_ADD and
 * CMP_SWP write the previous value into their one 8-byte SGE.
 *
 * Fields an opcode does not use must be zero (IB_WC_LOC_QP_OP_ERR
 * otherwise): match_bits for WRITE and READ; remote_key and remote_addr
 * for sends; swap unless CMP_SWP; header_data, UET_SQE_F_WITH_DATA and
 * UET_SQE_F_INLINE for READ and atomics; UET_SQE_F_WITH_DATA on RUDI
 * endpoints; the upper 32 bits of remote_key. ATOMIC_ADD takes no SGE,
 * FETCH_ADD and CMP_SWP exactly one of 8 bytes (IB_WC_LOC_LEN_ERR
 * otherwise, as for a message above max_msg_size or a remote range that
 * wraps around 2^64).
 */
struct uet_sqe {
	__aligned_u64 wr_id;
	__u8 opcode;		/* enum uet_sqe_opcode */
	__u8 flags;		/* enum uet_sqe_flags */
	__u8 num_sge;
	__u8 reserved_58;
	__u32 length;		/* inline bytes (UET_SQE_F_INLINE) */
	__u8 dst_addr[16];	/* peer FEP address */
	__u32 dst_qpn;		/* peer endpoint */
	__u8 reserved_120[4];
	__aligned_u64 header_data;
	union {
		__aligned_u64 match_bits;	/* UET_SQE_OP_TAGGED_SEND */
		__aligned_u64 compare_add;	/* atomics */
	};
	__aligned_u64 remote_key;	/* RMA and atomics: 32-bit key */
	__aligned_u64 remote_addr;	/* RMA and atomics */
	union {
		struct uet_sge sge[UET_SQE_MAX_SGE];
		__u8 inline_data[UET_SQE_MAX_INLINE];
	};
	__aligned_u64 swap;		/* UET_SQE_OP_ATOMIC_CMP_SWP */
};

enum uet_rqe_flags {
	UET_RQE_F_TAGGED = 1 << 0,	/* match match_bits, ignoring ignore_bits */
};

#define UET_RQE_MAX_SGE 2

struct uet_rqe {
	__aligned_u64 wr_id;
	__u8 flags;		/* enum uet_rqe_flags */
	__u8 num_sge;
	__u8 reserved_50[6];
	__aligned_u64 match_bits;
	__aligned_u64 ignore_bits;
	struct uet_sge sge[UET_RQE_MAX_SGE];
};

#endif /* UET_ABI_USER_H */
