/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * libuet: the rdma-core provider of Ultra Ethernet Transport devices
 * (driver id RDMA_DRIVER_UET, e.g. the uet_soft software device).
 */

#ifndef __UET_H__
#define __UET_H__

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/driver.h>

#include "uet-abi.h"
#include "uetdv.h"

struct uet_device {
	struct verbs_device vdev;
	size_t pg_sz;
};

/* the proposed libibverbs UET verbs (ru.c): limits of this library */
#define UET_MAX_JKEYS 64		/* job keys per context */
#define UET_MAX_ADDR_ENTRIES 4096	/* job address table entries */

struct uet_job;
struct uet_jkey;

struct uet_context {
	struct verbs_context ibvctx;
	/* the ibv_job this context joined through ibv_alloc_job() or
	 * ibv_import_job(), and its job keys (jkey value = index + 1);
	 * under job_lock. joined stays set after ibv_dealloc_job(): the
	 * kernel has no way to leave a job. */
	pthread_mutex_t job_lock;
	struct uet_job *job;
	bool joined;
	struct uet_jkey *jkeys[UET_MAX_JKEYS];
	/* from uet_ibv_alloc_ucontext_resp */
	uint32_t dev_caps;
	uint32_t max_cqe;
	uint32_t cqe_size;
	uint32_t max_msg_size;
	uint32_t max_pdc;
	uint16_t profiles;
	uint16_t max_endpoints;
	uint16_t mtu;
	uint8_t uet_version_major;
	uint8_t uet_version_minor;
};

struct uet_cq {
	struct verbs_cq vcq;
	/* serialises pollers: one consumer index per ring */
	pthread_spinlock_t lock;
	/* the mapped ring: header, then num_entries CQEs */
	void *ring;
	size_t ring_size;
	struct uet_cq_ring_hdr *hdr;
	struct uet_cqe *cqes;
	uint32_t num_entries;
	/* entries consumed so far, runs free like the ring's indexes */
	uint32_t cons_idx;
	uint32_t cq_idx;
	/* ibv_cq_ex polling: the entry start_poll/next_poll point at (a
	 * copy: the read_* calls see what was checked) */
	const struct uet_cqe *cur;
	struct uet_cqe cur_copy;
	/* the device fills uet_cqe.seq: index ^ seq_tag */
	bool check_seq;
	uint32_t seq_tag;
	uint32_t wc_flags;		/* enum ibv_wc_flags_ex requested */
};

/*
 * A work queue ring mapped from the device: header, then entries of
 * entry_size bytes. prod_idx is ours (published with release after the
 * entries are written), cons_idx the device's.
 */
struct uet_wq {
	pthread_spinlock_t lock;
	void *ring;
	size_t ring_size;
	struct uet_wq_ring_hdr *hdr;
	uint8_t *entries;
	uint32_t num_entries;		/* a power of two */
	uint32_t entry_size;
	uint32_t prod_idx;		/* entries written so far */
	uint32_t max_sge;
};

struct uet_qp {
	struct verbs_qp vqp;
	struct uet_job *job;		/* counted in job->users, or NULL */
	struct uet_jkey *jkey;		/* IBV_QP_INIT_ATTR_JKEY's, counted */
	struct uet_wq sq;
	struct uet_wq rq;
	uint32_t job_id;
	uint32_t delivery_mode;
	uint32_t max_inline;
	uint32_t max_msg_size;
	bool sq_sig_all;
	/* ibv_qp_ex work requests between wr_start and wr_complete */
	struct uet_sqe *wr_cur;		/* the request being built, or NULL */
	uint32_t wr_count;		/* requests built since wr_start */
	int wr_err;			/* first error since wr_start */
	bool wr_has_dest;		/* the current request has a destination */
};

/*
 * An ibv_job: a /dev/infiniband/job descriptor the context joined, and the
 * job address table (per process: the kernel has none).
 */
struct uet_addr_entry {
	bool valid;
	struct ibv_ah_attr_ex attr;
};

struct uet_job {
	struct ibv_job ibv_job;
	int fd;				/* admin (alloc) or member (import) */
	bool admin;
	uint32_t job_id;
	uint8_t port_num;
	uint8_t sgid_index;
	uint32_t max_addr_entries;
	struct uet_addr_entry *addrs;
	pthread_mutex_t addr_lock;
	uint32_t users;			/* job keys and QPs; under job_lock */
};

struct uet_jkey {
	struct ibv_job_key key;
	struct uet_job *job;
	uint32_t users;			/* QPs and MRs made with it; job_lock */
};

/* a memory region; jkey: the job key of ibv_reg_mr_ex(), counted */
struct uet_mr {
	struct verbs_mr vmr;
	struct uet_jkey *jkey;
};

static inline struct uet_mr *to_uet_mr(struct ibv_mr *ibvmr)
{
	return container_of(ibvmr, struct uet_mr, vmr.ibv_mr);
}

static inline struct uet_job *to_uet_job(struct ibv_job *ibvjob)
{
	return container_of(ibvjob, struct uet_job, ibv_job);
}

/* An address handle: user-space only. ah.ah_ex.ah is what callers see. */
struct uet_ah {
	struct uetdv_ah_ex ah_ex;
	uint8_t dst_addr[16];		/* peer FEP address (IPv6 byte order) */
	bool extended;			/* created by uetdv_create_ah_ex() */
};

static inline struct uet_device *to_uet_dev(struct ibv_device *ibvdev)
{
	return container_of(ibvdev, struct uet_device, vdev.device);
}

static inline struct uet_context *to_uet_context(struct ibv_context *ibvctx)
{
	return container_of(ibvctx, struct uet_context, ibvctx.context);
}

static inline struct uet_cq *to_uet_cq(struct ibv_cq *ibvcq)
{
	return container_of(ibvcq, struct uet_cq, vcq.cq);
}

static inline struct uet_cq *to_uet_cq_ex(struct ibv_cq_ex *ibvcqx)
{
	return container_of(ibvcqx, struct uet_cq, vcq.cq_ex);
}

static inline struct uet_qp *to_uet_qp(struct ibv_qp *ibvqp)
{
	return container_of(ibvqp, struct uet_qp, vqp.qp);
}

static inline struct uet_qp *to_uet_qp_ex(struct ibv_qp_ex *ibvqpx)
{
	return container_of(ibvqpx, struct uet_qp, vqp.qp_ex);
}

static inline struct uet_ah *to_uet_ah(struct ibv_ah *ibvah)
{
	return container_of(ibvah, struct uet_ah, ah_ex.ah);
}

bool is_uet_dev(struct ibv_device *device);

int uet_query_device_ex(struct ibv_context *ibvctx,
			const struct ibv_query_device_ex_input *input,
			struct ibv_device_attr_ex *attr, size_t attr_size);
int uet_query_port(struct ibv_context *ibvctx, uint8_t port,
		   struct ibv_port_attr *port_attr);

struct ibv_pd *uet_alloc_pd(struct ibv_context *ibvctx);
int uet_dealloc_pd(struct ibv_pd *ibvpd);

struct ibv_mr *uet_reg_mr(struct ibv_pd *ibvpd, void *addr, size_t length,
			  uint64_t hca_va, int access);
int uet_dereg_mr(struct verbs_mr *vmr);

struct ibv_cq *uet_create_cq(struct ibv_context *ibvctx, int ncqe,
			     struct ibv_comp_channel *channel, int vec);
int uet_destroy_cq(struct ibv_cq *ibvcq);
int uet_poll_cq(struct ibv_cq *ibvcq, int nwc, struct ibv_wc *wc);
int uet_arm_cq(struct ibv_cq *ibvcq, int solicited_only);
struct ibv_cq_ex *uet_create_cq_ex(struct ibv_context *ibvctx,
				   struct ibv_cq_init_attr_ex *attr);

struct ibv_qp *uet_create_qp(struct ibv_pd *ibvpd,
			     struct ibv_qp_init_attr *attr);
struct ibv_qp *uet_create_qp_ex(struct ibv_context *ibvctx,
				struct ibv_qp_init_attr_ex *attr_ex);
int uet_destroy_qp(struct ibv_qp *ibvqp);
int uet_modify_qp(struct ibv_qp *ibvqp, struct ibv_qp_attr *attr,
		  int attr_mask);
int uet_query_qp(struct ibv_qp *ibvqp, struct ibv_qp_attr *attr,
		 int attr_mask, struct ibv_qp_init_attr *init_attr);
int uet_post_send(struct ibv_qp *ibvqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr);
int uet_post_recv(struct ibv_qp *ibvqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr);

struct ibv_ah *uet_create_ah(struct ibv_pd *ibvpd, struct ibv_ah_attr *attr);
int uet_destroy_ah(struct ibv_ah *ibvah);
int uet_sqe_set_dest(struct uet_qp *qp, struct uet_sqe *sqe,
		     struct ibv_ah *ah, uint32_t remote_qpn);

/* ru.c: the proposed libibverbs UET verbs */
extern const struct verbs_context_ops uet_ru_ops;
void uet_ru_fill_wr_ops(struct uet_qp *qp);
int uet_ru_set_dest(struct uet_qp *qp, struct uet_sqe *sqe,
		    struct ibv_ah_ex *ah, unsigned int addr_idx);
int uet_ru_check_jkey(struct uet_qp *qp, uint32_t jkey);
int uet_ru_jkey_get(struct uet_context *ctx, const struct ibv_job_key *ibvkey,
		    struct ibv_pd *pd, struct uet_jkey **key);
void uet_ru_jkey_put(struct uet_context *ctx, struct uet_jkey *key);
void uet_ru_free_context(struct uet_context *ctx);
int uet_ru_qp_attr(struct uet_context *ctx,
		   const struct ibv_qp_init_attr_ex *attr_ex,
		   uint32_t *delivery_mode);
struct uet_job *uet_ru_qp_job(struct uet_context *ctx);
void uet_ru_qp_job_put(struct uet_context *ctx, struct uet_job *job);
void uet_ru_fill_cq_ex(struct ibv_cq_ex *cqx);
int uet_ru_check_qpn(uint32_t qpn);

#endif /* __UET_H__ */
