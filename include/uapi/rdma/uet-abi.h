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

struct uet_ibv_create_cq_resp {
	__u32 comp_mask;
	__u32 cq_idx;
	__aligned_u64 q_mmap_key;	/* mmap offset of the ring */
	__aligned_u64 q_mmap_size;	/* bytes to map */
	__u32 num_entries;		/* ring entries, a power of two */
	__u8 reserved_e0[4];
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
 * (IB_EVENT_CQ_ERR).
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
	UET_CQE_OP_ATOMIC = 6,
};

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
	__u32 job_id;		/* JobID of the message (24 bits) */
	__u32 src_fa;		/* initiator: peer endpoint's PIDonFEP */
	__u32 src_ep;		/* initiator: peer endpoint number */
	__aligned_u64 header_data;
	__aligned_u64 match_bits;
	__u8 reserved_180[16];
};

#endif /* UET_ABI_USER_H */
