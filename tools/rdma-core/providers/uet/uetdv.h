/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Direct verbs of Ultra Ethernet Transport (UET) devices: what libibverbs
 * cannot express. Link with -luet.
 */

#ifndef __UETDV_H__
#define __UETDV_H__

#include <stdint.h>

#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device capabilities, in uetdv_device_attr.dev_caps */
enum uetdv_device_caps {
	UETDV_DEVICE_CAP_RUD = 1 << 0,		/* reliable unordered delivery */
	UETDV_DEVICE_CAP_ROD = 1 << 1,		/* reliable ordered delivery */
	UETDV_DEVICE_CAP_RUDI = 1 << 2,		/* reliable unordered, idempotent */
	UETDV_DEVICE_CAP_UUD = 1 << 3,		/* unreliable unordered delivery */
	UETDV_DEVICE_CAP_TAGGED = 1 << 4,	/* tagged send/receive matching */
	UETDV_DEVICE_CAP_JOBS = 1 << 5,		/* contexts join jobs */
	UETDV_DEVICE_CAP_RMA = 1 << 6,		/* RMA write and read */
	UETDV_DEVICE_CAP_ATOMIC = 1 << 7,	/* 8-byte atomics */
};

/* UET profiles (UEC 1.0), in uetdv_device_attr.profiles */
enum uetdv_profiles {
	UETDV_PROFILE_AI_BASE = 1 << 0,
	UETDV_PROFILE_AI_FULL = 1 << 1,
	UETDV_PROFILE_HPC = 1 << 2,
};

struct uetdv_device_attr {
	uint64_t comp_mask;
	uint32_t dev_caps;		/* enum uetdv_device_caps */
	uint32_t profiles;		/* enum uetdv_profiles */
	uint32_t max_pdc;		/* packet delivery contexts per device */
	uint32_t max_endpoints;		/* endpoints per context */
	uint32_t mtu;			/* UET payload bytes per packet */
	uint32_t max_msg_size;		/* bytes */
	uint32_t max_cqe;		/* entries of the largest CQ */
	uint32_t cqe_size;		/* bytes per completion ring entry */
	uint8_t uet_version_major;
	uint8_t uet_version_minor;
	uint8_t reserved[6];
};

int uetdv_query_device(struct ibv_context *ibvctx,
		       struct uetdv_device_attr *attr, uint32_t inlen);

/*
 * Jobs: a context joins the job whose file descriptor (an open
 * /dev/infiniband/job, usually inherited from uet-launch as $UET_JOB_FD)
 * it presents. Its UET resources then belong to that job.
 */
enum uetdv_job_protocol {
	UETDV_JOB_PROTO_NONE = 0,
	UETDV_JOB_PROTO_UET = 1,
};

enum uetdv_job_state {
	UETDV_JOB_STATE_EMPTY = 0,	/* not realized */
	UETDV_JOB_STATE_ACTIVE = 1,	/* accepting members */
	UETDV_JOB_STATE_SEALED = 2,	/* no new members */
	UETDV_JOB_STATE_REVOKED = 3,	/* ended */
};

struct uetdv_job_info {
	uint64_t comp_mask;
	uint32_t protocol;		/* enum uetdv_job_protocol */
	uint32_t state;			/* enum uetdv_job_state */
	uint32_t members;		/* contexts that joined the job */
	uint32_t job_id;		/* UET JobID, 24 bits */
	uint16_t pid_on_fep_base;	/* first PIDonFEP of the job */
	uint16_t max_endpoints;		/* PIDonFEPs of the job */
	uint8_t tc;			/* traffic class */
	uint8_t reserved[3];
};

int uetdv_join_job(struct ibv_context *ibvctx, int job_fd);
int uetdv_query_job(struct ibv_context *ibvctx, struct uetdv_job_info *info,
		    uint32_t inlen);

/*
 * Endpoints: reliable unconnected (RU) queue pairs, the counterpart of the
 * proposed IBV_QPT_RU (ibv_uet(7)). They are IBV_QPT_DRIVER QPs; an
 * endpoint reaches every endpoint of its job and each work request names
 * its destination. The context must have joined a job first.
 *
 * QP numbers are structured: PIDonFEP in bits 11:0, resource index in bits
 * 23:12 (relative addressing: the endpoint is reached within its job).
 */
#define UETDV_QPN_PID_ON_FEP_SHIFT 0
#define UETDV_QPN_PID_ON_FEP_MASK 0x00000fffu
#define UETDV_QPN_RI_SHIFT 12
#define UETDV_QPN_RI_MASK 0x00fff000u

enum uetdv_qp_type {
	UETDV_QP_TYPE_RU = 1,		/* reliable unconnected endpoint */
};

enum uetdv_delivery_mode {
	UETDV_DM_RUD = 0,		/* reliable unordered delivery */
	UETDV_DM_ROD = 1,		/* reliable ordered delivery */
	UETDV_DM_RUDI = 2,		/* reliable unordered, idempotent */
	UETDV_DM_UUD = 3,		/* unreliable unordered delivery */
};

enum uetdv_qp_init_attr_flags {
	UETDV_QP_INIT_FLAGS_QPN = 1 << 0,	/* use uetdv_qp_init_attr.qpn */
};

struct uetdv_qp_init_attr {
	uint64_t comp_mask;		/* no optional fields yet: 0 */
	uint32_t driver_qp_type;	/* enum uetdv_qp_type */
	uint32_t delivery_mode;		/* enum uetdv_delivery_mode */
	uint32_t flags;			/* enum uetdv_qp_init_attr_flags */
	uint32_t qpn;			/* requested QP number */
};

struct ibv_qp *uetdv_create_qp_ex(struct ibv_context *ibvctx,
				  struct ibv_qp_init_attr_ex *attr_ex,
				  struct uetdv_qp_init_attr *uet_attr,
				  uint32_t inlen);

/*
 * Extended address handles (the proposed ibv_create_ah_ex()): the peer's
 * FEP address (ah_attr.grh.dgid, an IPv6 or IPv4-mapped IPv6 address) and
 * its QP number. A user-space object: creating one makes no system call.
 * Destroy with ibv_destroy_ah().
 */
struct uetdv_ah_attr_ex {
	struct ibv_ah_attr ah_attr;
	uint32_t remote_qpn;
};

struct uetdv_ah_ex {
	struct ibv_ah ah;
	uint32_t remote_qpn;
};

struct ibv_ah *uetdv_create_ah_ex(struct ibv_pd *pd,
				  struct uetdv_ah_attr_ex *attr);
struct uetdv_ah_ex *uetdv_ah_to_ah_ex(struct ibv_ah *ah);

/*
 * Work requests on an endpoint's ibv_qp_ex (after ibv_wr_start()): the
 * destination of the current work request, a 64-bit immediate (UET header
 * data) and tagged sends.
 */
void uetdv_wr_set_ru_addr(struct ibv_qp_ex *qpx, struct uetdv_ah_ex *ah,
			  unsigned int addr_idx);
void uetdv_wr_send_imm64(struct ibv_qp_ex *qpx, __be64 imm_data);
void uetdv_wr_tagged_send(struct ibv_qp_ex *qpx, uint64_t match_bits);
void uetdv_wr_tagged_send_data(struct ibv_qp_ex *qpx, uint64_t match_bits,
			       uint64_t header_data);
/* an RMA write with 64-bit header data (a target completion) */
void uetdv_wr_rdma_write_data(struct ibv_qp_ex *qpx, uint32_t rkey,
			      uint64_t remote_addr, uint64_t header_data);
/* a non-fetching atomic add of add to the 8-byte word at remote_addr */
void uetdv_wr_atomic_add(struct ibv_qp_ex *qpx, uint32_t rkey,
			 uint64_t remote_addr, uint64_t add);

/*
 * A memory region with an application-assigned key (lkey = rkey = key,
 * nonzero, unique per device: EBUSY if taken), so that peers may use it
 * without an exchange; iova as for ibv_reg_mr_iova(). Like every region
 * of a context, it belongs to the context's job.
 */
struct ibv_mr *uetdv_reg_mr_key(struct ibv_pd *pd, void *addr,
			       size_t length, uint64_t iova,
			       unsigned int access, uint32_t key);

/*
 * A tagged receive: matches a tagged message whose match bits equal
 * match_bits in every bit not set in ignore_bits. wr->next must be NULL.
 */
int uetdv_post_tagged_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			   uint64_t match_bits, uint64_t ignore_bits,
			   struct ibv_recv_wr **bad_wr);

/*
 * Completion fields of an ibv_cq_ex (between ibv_start_poll() and
 * ibv_end_poll()) that struct ibv_wc has no room for. They are always
 * available on a CQ of a UET device, whatever its wc_flags.
 */
uint32_t uetdv_wc_read_job_id(struct ibv_cq_ex *cq);
uint32_t uetdv_wc_read_src_id(struct ibv_cq_ex *cq);
void uetdv_wc_read_src_addr(struct ibv_cq_ex *cq, union ibv_gid *addr);
__be64 uetdv_wc_read_imm64_data(struct ibv_cq_ex *cq);
uint64_t uetdv_wc_read_header_data(struct ibv_cq_ex *cq);
uint64_t uetdv_wc_read_match_bits(struct ibv_cq_ex *cq);

enum uetdv_wc_flags {
	UETDV_WC_WITH_DATA = 1 << 0,	/* header data (64-bit immediate) */
	UETDV_WC_TAGGED = 1 << 1,	/* a tagged message: match bits */
};

unsigned int uetdv_wc_read_flags(struct ibv_cq_ex *cq);

/* The proposal's name for joining a job by its file descriptor. */
int uetdv_import_job(struct ibv_context *ibvctx, int job_fd);

#ifdef __cplusplus
}
#endif

#endif /* __UETDV_H__ */
