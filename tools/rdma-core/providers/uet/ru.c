// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libuet: the UET verbs proposed for libibverbs (ibv_uet(7)) on top of the
 * uetdv machinery. Jobs are /dev/infiniband/job descriptors that a context
 * joins (job.c): ibv_alloc_job() realizes one and joins it, ibv_import_job()
 * joins one it was given, ibv_export_job() hands out a member descriptor.
 * Job keys and the job address table live in this library; the kernel
 * knows neither. Documentation/infiniband/ultraeth.rst, "The proposed
 * libibverbs UET verbs", lists where the semantics differ and why.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rdma/rdma_job.h>

#include "uet.h"

#define UET_JOB_DEV "/dev/infiniband/job"

#define UET_JOB_ATTRS (IBV_JOB_ATTR_FLAGS | IBV_JOB_ATTR_ID | \
		       IBV_JOB_ATTR_MAX_ADDR_ENTRIES | IBV_JOB_ATTR_PORT_NUM | \
		       IBV_JOB_ATTR_SGID_INDEX)

/* the default address table of a job whose creator did not size it */
#define UET_DEFAULT_ADDR_ENTRIES 256

/* an extended AH is a uetdv one: the same members in the same places */
static_assert(sizeof(struct ibv_ah_ex) == sizeof(struct uetdv_ah_ex),
	      "ibv_ah_ex layout");
static_assert(offsetof(struct ibv_ah_ex, remote_qpn) ==
	      offsetof(struct uetdv_ah_ex, remote_qpn), "ibv_ah_ex layout");
static_assert(sizeof(struct ibv_ah_attr_ex) ==
	      sizeof(struct uetdv_ah_attr_ex), "ibv_ah_attr_ex layout");

/* ------------------------------------------------------------- jobs */

static int uet_job_query_kernel(int fd, uint32_t *job_id)
{
	struct rdma_job_info info = {};

	if (ioctl(fd, RDMA_JOB_IOC_QUERY, &info))
		return errno;
	if (info.protocol != RDMA_JOB_PROTO_UET)
		return EPROTONOSUPPORT;
	if (info.state == RDMA_JOB_STATE_REVOKED)
		return EIO;
	*job_id = info.uet.job_id;
	return 0;
}

static struct uet_job *uet_job_new(uint32_t max_addr_entries)
{
	struct uet_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->fd = -1;
	job->max_addr_entries = max_addr_entries;
	job->addrs = calloc(max_addr_entries, sizeof(*job->addrs));
	if (!job->addrs) {
		free(job);
		return NULL;
	}
	pthread_mutex_init(&job->addr_lock, NULL);
	job->port_num = 1;
	return job;
}

static void uet_job_free(struct uet_job *job)
{
	if (job->fd >= 0)
		close(job->fd);
	pthread_mutex_destroy(&job->addr_lock);
	free(job->addrs);
	free(job);
}

/*
 * The context joins job, which becomes its ibv_job; EBUSY if it joined
 * one already (also one it deallocated since: the kernel keeps it a
 * member until it is closed).
 */
static int uet_job_attach(struct uet_context *ctx, struct uet_job *job)
{
	int err;

	pthread_mutex_lock(&ctx->job_lock);
	if (ctx->joined) {
		pthread_mutex_unlock(&ctx->job_lock);
		return EBUSY;
	}
	err = uetdv_join_job(&ctx->ibvctx.context, job->fd);
	if (!err) {
		ctx->job = job;
		ctx->joined = true;
	}
	pthread_mutex_unlock(&ctx->job_lock);
	return err;
}

/* EBUSY before any side effect (a realized job, a duplicated fd) */
static bool uet_job_joined(struct uet_context *ctx)
{
	bool joined;

	pthread_mutex_lock(&ctx->job_lock);
	joined = ctx->joined;
	pthread_mutex_unlock(&ctx->job_lock);
	return joined;
}

static struct ibv_job *uet_alloc_job(struct ibv_context *ibvctx,
				     struct ibv_job_attr *attr,
				     void *user_context)
{
	struct uet_context *ctx = to_uet_context(ibvctx);
	struct rdma_job_realize req = { .protocol = RDMA_JOB_PROTO_UET };
	uint32_t entries = UET_DEFAULT_ADDR_ENTRIES;
	struct uet_job *job;
	int err;

	if (!attr || (attr->comp_mask & ~UET_JOB_ATTRS) ||
	    ((attr->comp_mask & IBV_JOB_ATTR_FLAGS) && attr->flags) ||
	    ((attr->comp_mask & IBV_JOB_ATTR_PORT_NUM) &&
	     attr->port_num != 1)) {
		errno = EINVAL;
		return NULL;
	}
	if (attr->comp_mask & IBV_JOB_ATTR_MAX_ADDR_ENTRIES) {
		entries = attr->max_addr_entries;
		if (!entries || entries > UET_MAX_ADDR_ENTRIES) {
			errno = EINVAL;
			return NULL;
		}
	}
	if (attr->comp_mask & IBV_JOB_ATTR_ID) {
		if (!attr->id || attr->id > RDMA_JOB_UET_MAX_JOB_ID) {
			errno = EINVAL;
			return NULL;
		}
		req.uet.job_id = attr->id;
	} else {
		req.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
	}
	if (uet_job_joined(ctx)) {
		errno = EBUSY;
		return NULL;
	}
	/* every PIDonFEP, as uet-launch's default */
	req.uet.pid_on_fep_base = 0;
	req.uet.max_endpoints = RDMA_JOB_UET_MAX_PID_ON_FEP + 1;

	job = uet_job_new(entries);
	if (!job) {
		errno = ENOMEM;
		return NULL;
	}
	if (attr->comp_mask & IBV_JOB_ATTR_SGID_INDEX)
		job->sgid_index = attr->sgid_index;
	job->admin = true;

	/* realizing a job is the privileged step: the device node's mode */
	job->fd = open(UET_JOB_DEV, O_RDWR | O_CLOEXEC);
	if (job->fd < 0) {
		err = errno;
		verbs_debug(&ctx->ibvctx, "open %s: %s\n", UET_JOB_DEV,
			    strerror(err));
		goto err_free;
	}
	if (ioctl(job->fd, RDMA_JOB_IOC_REALIZE, &req)) {
		err = errno;
		verbs_debug(&ctx->ibvctx, "realize job %u: %s\n",
			    req.uet.job_id, strerror(err));
		goto err_free;
	}
	job->job_id = req.uet.job_id;

	err = uet_job_attach(ctx, job);
	if (err)
		goto err_free;
	return &job->ibv_job;

err_free:
	uet_job_free(job);
	errno = err;
	return NULL;
}

static int uet_import_job(struct ibv_context *ibvctx, int fd,
			  struct ibv_job **ibvjob)
{
	struct uet_context *ctx = to_uet_context(ibvctx);
	struct uet_job *job;
	int err;

	if (fd < 0 || !ibvjob)
		return EINVAL;
	if (uet_job_joined(ctx))
		return EBUSY;
	job = uet_job_new(UET_DEFAULT_ADDR_ENTRIES);
	if (!job)
		return ENOMEM;
	/* the caller keeps its descriptor: ours is a duplicate */
	job->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (job->fd < 0) {
		err = errno;
		goto err_free;
	}
	err = uet_job_query_kernel(job->fd, &job->job_id);
	if (err)
		goto err_free;
	err = uet_job_attach(ctx, job);
	if (err)
		goto err_free;
	*ibvjob = &job->ibv_job;
	return 0;

err_free:
	uet_job_free(job);
	return err;
}

static int uet_dealloc_job(struct ibv_job *ibvjob)
{
	struct uet_context *ctx = to_uet_context(ibvjob->context);
	struct uet_job *job = to_uet_job(ibvjob);

	pthread_mutex_lock(&ctx->job_lock);
	if (job->users) {
		pthread_mutex_unlock(&ctx->job_lock);
		return EBUSY;
	}
	/*
	 * The kernel has no way to leave a job: the context stays a member
	 * until it is closed (ctx->joined), and a second ibv_alloc_job()/
	 * ibv_import_job() on it fails with EBUSY.
	 */
	if (ctx->job == job)
		ctx->job = NULL;
	pthread_mutex_unlock(&ctx->job_lock);
	uet_job_free(job);
	return 0;
}

static int uet_query_job(struct ibv_job *ibvjob, struct ibv_job_attr *attr)
{
	struct uet_job *job = to_uet_job(ibvjob);
	uint32_t want, job_id;
	int err;

	if (!attr)
		return EINVAL;
	want = attr->comp_mask & UET_JOB_ATTRS;
	err = uet_job_query_kernel(job->fd, &job_id);
	if (err)
		return err;
	memset(attr, 0, sizeof(*attr));
	attr->comp_mask = want;
	attr->id = job_id;
	attr->max_addr_entries = job->max_addr_entries;
	attr->port_num = job->port_num;
	attr->sgid_index = job->sgid_index;
	return 0;
}

static int uet_export_job(struct ibv_job *ibvjob, int *fd)
{
	struct uet_job *job = to_uet_job(ibvjob);
	int nfd;

	if (!fd)
		return EINVAL;
	/* a member descriptor: it joins and queries, nothing more */
	if (job->admin)
		nfd = ioctl(job->fd, RDMA_JOB_IOC_MEMBER_FD, 0);
	else
		nfd = fcntl(job->fd, F_DUPFD, 0);
	if (nfd < 0)
		return errno;
	*fd = nfd;
	return 0;
}

/* ------------------------------------------------ job address table */

/*
 * A peer's RU QP number as an application gives it (address table entry,
 * extended address handle): absolute addressing (bit 31) is not provided,
 * EOPNOTSUPP; the reserved bits 30:24 set are a bad number, EINVAL.
 */
int uet_ru_check_qpn(uint32_t qpn)
{
	if (qpn & IBV_QPN_ABSOLUTE_ADDR_BIT)
		return EOPNOTSUPP;
	if (qpn & ~(IBV_QPN_PID_ON_FEP_MASK | IBV_QPN_RI_MASK))
		return EINVAL;
	return 0;
}

static int uet_insert_addr(struct ibv_job *ibvjob,
			   struct ibv_ah_attr_ex *ah_attr,
			   unsigned int addr_idx, unsigned int flags)
{
	struct uet_job *job = to_uet_job(ibvjob);
	int err;

	if (flags || !ah_attr || addr_idx >= job->max_addr_entries ||
	    !ah_attr->ah_attr.is_global)
		return EINVAL;
	err = uet_ru_check_qpn(ah_attr->remote_qpn);
	if (err)
		return err;
	pthread_mutex_lock(&job->addr_lock);
	job->addrs[addr_idx].attr = *ah_attr;
	job->addrs[addr_idx].valid = true;
	pthread_mutex_unlock(&job->addr_lock);
	return 0;
}

static int uet_remove_addr(struct ibv_job *ibvjob, unsigned int addr_idx,
			   unsigned int flags)
{
	struct uet_job *job = to_uet_job(ibvjob);
	int err = 0;

	if (flags || addr_idx >= job->max_addr_entries)
		return EINVAL;
	pthread_mutex_lock(&job->addr_lock);
	if (job->addrs[addr_idx].valid)
		memset(&job->addrs[addr_idx], 0, sizeof(job->addrs[addr_idx]));
	else
		err = ENOENT;
	pthread_mutex_unlock(&job->addr_lock);
	return err;
}

static int uet_query_addr(struct ibv_job *ibvjob, unsigned int addr_idx,
			  struct ibv_ah_attr_ex *ah_attr, unsigned int flags)
{
	struct uet_job *job = to_uet_job(ibvjob);
	int err = 0;

	if (flags || !ah_attr || addr_idx >= job->max_addr_entries)
		return EINVAL;
	pthread_mutex_lock(&job->addr_lock);
	if (job->addrs[addr_idx].valid)
		*ah_attr = job->addrs[addr_idx].attr;
	else
		err = ENOENT;
	pthread_mutex_unlock(&job->addr_lock);
	return err;
}

/* a work request's destination by extended handle or table index */
int uet_ru_set_dest(struct uet_qp *qp, struct uet_sqe *sqe,
		    struct ibv_ah_ex *ah, unsigned int addr_idx)
{
	struct uet_job *job = qp->job;
	struct uet_addr_entry *e;

	if (ah) {
		/* only an extended handle names the peer's QP: a plain
		 * ibv_create_ah() one (cast with ibv_ah_to_ah_ex()) would
		 * send to QP number 0 */
		if (ah->ah_base.context != qp->vqp.qp.context ||
		    !to_uet_ah(&ah->ah_base)->extended)
			return EINVAL;
		return uet_sqe_set_dest(qp, sqe, &ah->ah_base, 0);
	}
	if (!job || addr_idx >= job->max_addr_entries)
		return EINVAL;
	pthread_mutex_lock(&job->addr_lock);
	e = &job->addrs[addr_idx];
	if (!e->valid) {
		pthread_mutex_unlock(&job->addr_lock);
		return EINVAL;
	}
	memcpy(sqe->dst_addr, e->attr.ah_attr.grh.dgid.raw,
	       sizeof(sqe->dst_addr));
	sqe->dst_qpn = e->attr.remote_qpn;
	pthread_mutex_unlock(&job->addr_lock);
	return 0;
}

/* ---------------------------------------------------------- job keys */

static struct ibv_job_key *uet_create_jkey(struct ibv_pd *pd,
					   struct ibv_job *ibvjob,
					   unsigned int flags)
{
	struct uet_context *ctx = to_uet_context(pd->context);
	struct uet_job *job;
	struct uet_jkey *key;
	unsigned int i;

	if (flags || !ibvjob || ibvjob->context != pd->context) {
		errno = EINVAL;
		return NULL;
	}
	job = to_uet_job(ibvjob);
	key = calloc(1, sizeof(*key));
	if (!key) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&ctx->job_lock);
	/* only the job the context joined: packets carry no other JobID */
	if (ctx->job != job) {
		pthread_mutex_unlock(&ctx->job_lock);
		free(key);
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < UET_MAX_JKEYS && ctx->jkeys[i]; i++)
		;
	if (i == UET_MAX_JKEYS) {
		pthread_mutex_unlock(&ctx->job_lock);
		free(key);
		errno = ENOSPC;
		return NULL;
	}
	key->job = job;
	key->key.pd = pd;
	key->key.handle = i;
	key->key.jkey = i + 1;
	job->users++;
	ctx->jkeys[i] = key;
	pthread_mutex_unlock(&ctx->job_lock);
	return &key->key;
}

/* EBUSY while a QP or MR made with the key (IBV_QP_INIT_ATTR_JKEY,
 * IBV_REG_MR_MASK_JKEY) exists */
static int uet_destroy_jkey(struct ibv_job_key *ibvkey)
{
	struct uet_context *ctx = to_uet_context(ibvkey->pd->context);
	struct uet_jkey *key = container_of(ibvkey, struct uet_jkey, key);

	pthread_mutex_lock(&ctx->job_lock);
	if (ibvkey->handle >= UET_MAX_JKEYS ||
	    ctx->jkeys[ibvkey->handle] != key) {
		pthread_mutex_unlock(&ctx->job_lock);
		return EINVAL;
	}
	if (key->users) {
		pthread_mutex_unlock(&ctx->job_lock);
		return EBUSY;
	}
	ctx->jkeys[ibvkey->handle] = NULL;
	key->job->users--;
	pthread_mutex_unlock(&ctx->job_lock);
	free(key);
	return 0;
}

/* a job key named by a work request: one of this PD's keys of the job */
int uet_ru_check_jkey(struct uet_qp *qp, uint32_t jkey)
{
	struct uet_context *ctx = to_uet_context(qp->vqp.qp.context);
	struct uet_jkey *key;
	int err = 0;

	if (!jkey || jkey > UET_MAX_JKEYS)
		return EINVAL;
	/* under the lock: ibv_destroy_jkey() may free it meanwhile */
	pthread_mutex_lock(&ctx->job_lock);
	key = ctx->jkeys[jkey - 1];
	if (!key || key->key.pd != qp->vqp.qp.pd || key->job != qp->job)
		err = EINVAL;
	pthread_mutex_unlock(&ctx->job_lock);
	return err;
}

/*
 * A job key given to a QP create or a registration: one of this
 * context's keys, of pd and the context's job; counted in its users
 * (ibv_destroy_jkey() is EBUSY) until uet_ru_jkey_put().
 */
int uet_ru_jkey_get(struct uet_context *ctx, const struct ibv_job_key *ibvkey,
		    struct ibv_pd *pd, struct uet_jkey **keyp)
{
	struct uet_jkey *key = NULL;
	int err = 0;

	if (!ibvkey)
		return EINVAL;
	pthread_mutex_lock(&ctx->job_lock);
	/* one of ours: the table holds it at its handle */
	if (ibvkey->handle < UET_MAX_JKEYS)
		key = ctx->jkeys[ibvkey->handle];
	if (!key || &key->key != ibvkey || key->key.pd != pd ||
	    key->job != ctx->job)
		err = EINVAL;
	else
		key->users++;
	pthread_mutex_unlock(&ctx->job_lock);
	if (!err)
		*keyp = key;
	return err;
}

void uet_ru_jkey_put(struct uet_context *ctx, struct uet_jkey *key)
{
	if (!key)
		return;
	pthread_mutex_lock(&ctx->job_lock);
	key->users--;
	pthread_mutex_unlock(&ctx->job_lock);
}

/* ibv_close_device(): what the application did not release */
void uet_ru_free_context(struct uet_context *ctx)
{
	unsigned int i;

	for (i = 0; i < UET_MAX_JKEYS; i++) {
		free(ctx->jkeys[i]);
		ctx->jkeys[i] = NULL;
	}
	if (ctx->job) {
		uet_job_free(ctx->job);
		ctx->job = NULL;
	}
}

/* --------------------------------------------------------- queue pairs */

struct uet_job *uet_ru_qp_job(struct uet_context *ctx)
{
	struct uet_job *job;

	pthread_mutex_lock(&ctx->job_lock);
	job = ctx->job;
	if (job)
		job->users++;
	pthread_mutex_unlock(&ctx->job_lock);
	return job;
}

void uet_ru_qp_job_put(struct uet_context *ctx, struct uet_job *job)
{
	if (!job)
		return;
	pthread_mutex_lock(&ctx->job_lock);
	job->users--;
	pthread_mutex_unlock(&ctx->job_lock);
}

#define UET_RU_QP_ATTRS (IBV_QP_PATH_MTU | IBV_QP_PORT)

/*
 * What an endpoint can promise: RUD orders nothing; ROD delivers the
 * messages to one destination in posting order (sends after sends).
 */
static uint32_t uet_msg_order(struct uet_context *ctx)
{
	return (ctx->dev_caps & UETDV_DEVICE_CAP_ROD) ? IBV_ORDER_SAS : 0;
}

static int uet_query_qp_semantics(struct ibv_context *ibvctx,
				  enum ibv_qp_type qp_type, uint8_t port_num,
				  uint8_t sgid_index,
				  struct ibv_qp_semantics *sem, size_t len)
{
	struct uet_context *ctx = to_uet_context(ibvctx);

	if (qp_type != IBV_QPT_RU)
		return EOPNOTSUPP;
	if (!sem || len < offsetof(struct ibv_qp_semantics, usage_flags) +
			  sizeof(sem->usage_flags) ||
	    port_num != 1)
		return EINVAL;
	memset(sem, 0, len);
	sem->comp_mask = IBV_QP_SEMANTICS_MASK_MSG_ORDER |
			 IBV_QP_SEMANTICS_MASK_RAW | IBV_QP_SEMANTICS_MASK_WAR |
			 IBV_QP_SEMANTICS_MASK_WAW | IBV_QP_SEMANTICS_MASK_PDU |
			 IBV_QP_SEMANTICS_MASK_IMM | IBV_QP_SEMANTICS_MASK_USAGE;
	sem->msg_order = uet_msg_order(ctx);
	/* max_rdma_*_size 0: no data ordering; max_pdu 0: the MTU is fixed */
	sem->imm_data_size = IBV_IMM_DATA_SIZE_64;
	sem->usage_flags = 0;
	return 0;
}

/* checks the RU attributes of a create and picks the delivery mode */
int uet_ru_qp_attr(struct uet_context *ctx,
		   const struct ibv_qp_init_attr_ex *attr_ex,
		   uint32_t *delivery_mode)
{
	const struct ibv_qp_semantics *sem = attr_ex->qp_semantics;
	uint32_t order = 0;

	*delivery_mode = UETDV_DM_RUD;
	if ((attr_ex->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    (attr_ex->create_flags & IBV_QP_CREATE_SOURCE_QPN)) {
		/* only relative addressing: an endpoint serves its job */
		int err = uet_ru_check_qpn(attr_ex->source_qpn);

		if (err)
			return err;
	}
	if ((attr_ex->comp_mask & IBV_QP_INIT_ATTR_QP_ATTR) &&
	    attr_ex->qp_attr_mask) {
		/* a mask without the attributes it selects is a bad call */
		if (!attr_ex->qp_attr)
			return EINVAL;
		if (attr_ex->qp_attr_mask & ~UET_RU_QP_ATTRS)
			return EOPNOTSUPP;
		if ((attr_ex->qp_attr_mask & IBV_QP_PORT) &&
		    attr_ex->qp_attr->port_num != 1)
			return EINVAL;
		/* path_mtu: the device's MTU follows its netdev's */
	}
	if (attr_ex->comp_mask & IBV_QP_INIT_ATTR_QP_SEMANTICS) {
		if (!sem)
			return EINVAL;
		if (sem->comp_mask & IBV_QP_SEMANTICS_MASK_MSG_ORDER)
			order = sem->msg_order;
		/* nothing beyond what ibv_query_qp_semantics() offered */
		if ((order & ~uet_msg_order(ctx)) ||
		    ((sem->comp_mask & IBV_QP_SEMANTICS_MASK_RAW) &&
		     sem->max_rdma_raw_size) ||
		    ((sem->comp_mask & IBV_QP_SEMANTICS_MASK_WAR) &&
		     sem->max_rdma_war_size) ||
		    ((sem->comp_mask & IBV_QP_SEMANTICS_MASK_WAW) &&
		     sem->max_rdma_waw_size) ||
		    ((sem->comp_mask & IBV_QP_SEMANTICS_MASK_PDU) &&
		     sem->max_pdu) ||
		    ((sem->comp_mask & IBV_QP_SEMANTICS_MASK_IMM) &&
		     sem->imm_data_size &&
		     sem->imm_data_size != IBV_IMM_DATA_SIZE_32 &&
		     sem->imm_data_size != IBV_IMM_DATA_SIZE_64) ||
		    ((sem->comp_mask & IBV_QP_SEMANTICS_MASK_USAGE) &&
		     sem->usage_flags))
			return EINVAL;
		if (order & IBV_ORDER_SAS)
			*delivery_mode = UETDV_DM_ROD;
	}
	/*
	 * IBV_QP_INIT_ATTR_SRC_ID: the SES initiator field of the QP's
	 * requests (UET_CREATE_QP_MASK_INITIATOR, set by the create);
	 * without it the field is the QP number. IBV_QP_INIT_ATTR_JKEY:
	 * checked and counted by the create (uet_ru_jkey_get()).
	 */
	return 0;
}

/*
 * Not provided (IBV_QP_USAGE_ATTACH_MR is never offered): every region
 * of the QP's PD is reachable from registration to deregistration, as
 * its access flags allow, and there is nothing to bind or unbind.
 */
static int uet_attach_mr(struct ibv_qp *qp, struct ibv_mr *mr)
{
	return EOPNOTSUPP;
}

static int uet_detach_mr(struct ibv_qp *qp, struct ibv_mr *mr)
{
	return EOPNOTSUPP;
}

static int uet_post_recv64(struct ibv_qp *qp, struct ibv_recv_wr64 *wr,
			   struct ibv_recv_wr64 **bad_wr)
{
	struct ibv_sge sge[UET_RQE_MAX_SGE];
	struct ibv_recv_wr rwr, *bad;
	int err, i;

	/* one at a time: 32-bit keys, so each list is converted */
	for (; wr; wr = wr->next) {
		if (wr->num_sge < 0 || wr->num_sge > UET_RQE_MAX_SGE) {
			*bad_wr = wr;
			return EINVAL;
		}
		for (i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].lkey64 >> 32) {
				*bad_wr = wr;
				return EINVAL;
			}
			sge[i].addr = wr->sg_list[i].addr;
			sge[i].length = wr->sg_list[i].length;
			sge[i].lkey = wr->sg_list[i].lkey64;
		}
		rwr.wr_id = wr->wr_id;
		rwr.next = NULL;
		rwr.sg_list = sge;
		rwr.num_sge = wr->num_sge;
		err = uet_post_recv(qp, &rwr, &bad);
		if (err) {
			*bad_wr = wr;
			return err;
		}
	}
	return 0;
}

/* ------------------------------------------------- AH, MR, completions */

/* uetdv_create_ah_ex() checks the QP number (uet_ru_check_qpn) */
static struct ibv_ah *uet_create_ah_ex(struct ibv_pd *pd,
				       struct ibv_ah_attr_ex *attr)
{
	return uetdv_create_ah_ex(pd, (struct uetdv_ah_attr_ex *)attr);
}

#define UET_MR_MASKS (IBV_REG_MR_MASK_IOVA | IBV_REG_MR_MASK_ADDR | \
		      IBV_REG_MR_MASK_JKEY | IBV_REG_MR_MASK_RKEY)

static struct ibv_mr *uet_reg_mr_ex(struct ibv_pd *pd,
				    struct ibv_mr_init_attr *attr)
{
	struct uet_context *ctx = to_uet_context(pd->context);
	struct uet_jkey *jkey = NULL;
	unsigned int access;
	struct ibv_mr *mr;
	uint64_t iova;
	int err;

	if (!attr || (attr->comp_mask & ~(uint64_t)UET_MR_MASKS)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!(attr->comp_mask & IBV_REG_MR_MASK_ADDR) || !attr->addr) {
		errno = EINVAL;
		return NULL;
	}
	access = attr->access;
	iova = (attr->comp_mask & IBV_REG_MR_MASK_IOVA) ?
		       attr->iova : (uintptr_t)attr->addr;
	/* zero-based: peers address the region by offset, iova 0; an
	 * IOVA of the caller's besides is a contradiction */
	if (access & IBV_ACCESS_ZERO_BASED) {
		if (attr->comp_mask & IBV_REG_MR_MASK_IOVA) {
			errno = EINVAL;
			return NULL;
		}
		access &= ~IBV_ACCESS_ZERO_BASED;
		iova = 0;
	}
	/* keys are 32 bits wide here */
	if ((attr->comp_mask & IBV_REG_MR_MASK_RKEY) &&
	    (!attr->rkey || (attr->rkey >> 32))) {
		errno = EINVAL;
		return NULL;
	}
	/* every region of the context is its job's already: the key is
	 * checked, and held (ibv_destroy_jkey() EBUSY) until deregistered */
	if (attr->comp_mask & IBV_REG_MR_MASK_JKEY) {
		err = uet_ru_jkey_get(ctx, attr->job_key, pd, &jkey);
		if (err) {
			errno = err;
			return NULL;
		}
	}
	if (ibv_dontfork_range(attr->addr, attr->length)) {
		err = errno;
		goto err_put;
	}
	if (attr->comp_mask & IBV_REG_MR_MASK_RKEY)
		mr = uetdv_reg_mr_key(pd, attr->addr, attr->length, iova,
				      access, attr->rkey);
	else
		mr = uet_reg_mr(pd, attr->addr, attr->length, iova, access);
	if (!mr) {
		err = errno;
		ibv_dofork_range(attr->addr, attr->length);
		goto err_put;
	}
	mr->addr = attr->addr;
	mr->length = attr->length;
	to_uet_mr(mr)->jkey = jkey;
	return mr;

err_put:
	uet_ru_jkey_put(ctx, jkey);
	errno = err;
	return NULL;
}

static __be64 uet_wc_read_imm64(struct ibv_cq_ex *cqx)
{
	return uetdv_wc_read_imm64_data(cqx);
}

static uint32_t uet_wc_read_src_id(struct ibv_cq_ex *cqx)
{
	return uetdv_wc_read_src_id(cqx);
}

static uint32_t uet_wc_read_job_id(struct ibv_cq_ex *cqx)
{
	return uetdv_wc_read_job_id(cqx);
}

void uet_ru_fill_cq_ex(struct ibv_cq_ex *cqx)
{
	cqx->read_imm64_data = uet_wc_read_imm64;
	cqx->read_src_id = uet_wc_read_src_id;
	cqx->read_job_id = uet_wc_read_job_id;
}

const struct verbs_context_ops uet_ru_ops = {
	.alloc_job = uet_alloc_job,
	.attach_mr = uet_attach_mr,
	.create_ah_ex = uet_create_ah_ex,
	.create_jkey = uet_create_jkey,
	.dealloc_job = uet_dealloc_job,
	.destroy_jkey = uet_destroy_jkey,
	.detach_mr = uet_detach_mr,
	.export_job = uet_export_job,
	.import_job = uet_import_job,
	.insert_addr = uet_insert_addr,
	.post_recv64 = uet_post_recv64,
	.query_addr = uet_query_addr,
	.query_job = uet_query_job,
	.query_qp_semantics = uet_query_qp_semantics,
	.reg_mr_ex = uet_reg_mr_ex,
	.remove_addr = uet_remove_addr,
};
