/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What uet_ru_pingpong and uet_ru_rma share: a device context joined to a
 * job, a job key, the peer exchange over TCP and an extended address
 * handle, all through the UET verbs proposed for libibverbs (ibv_uet(7))
 * and nothing else: no uetdv call, no libuet header (but for one ioctl of
 * the kernel's <rdma/rdma_job.h> on the exported job descriptor).
 *
 * The job: ibv_import_job() of $UET_JOB_FD when uet-launch started us,
 * else ibv_alloc_job() of JobID -j (a privileged call: /dev/infiniband/job
 * is root's unless the administrator says otherwise). With -J the job
 * must be imported: no $UET_JOB_FD is an error, never an allocation.
 *
 * On the way: a second job on the context, by alloc or by import, is
 * EBUSY where the device's max_job_ids is 1 (above 1 it must be
 * allocated; 0, not reported: allocated or EBUSY); our ibv_export_job()
 * descriptor must be no admin one (RDMA_JOB_IOC_MEMBER_FD on it fails)
 * and import into a second context of the device, with our JobID
 * (ibv_query_job); and what must
 * be refused is ibv_query_job(job, NULL) (EINVAL), ibv_dealloc_job()
 * while a job key exists and ibv_destroy_jkey() while a QP made with it
 * exists (EBUSY), IBV_QP_INIT_ATTR_QP_ATTR with a mask but no qp_attr
 * (EINVAL), and a peer QP number with reserved bits (EINVAL) or absolute
 * addressing (EOPNOTSUPP, unless provided) in ibv_create_ah_ex() and
 * ibv_insert_addr().
 *
 * The source ID: with -S ID the QP is created with
 * IBV_QP_INIT_ATTR_SRC_ID, ID on the client and ID + 1 on the server (so
 * that a receiver reporting its own would be caught), else it is the QP
 * number; the exchange tells the peer, whose receives must report it.
 */
#ifndef UET_RU_H
#define UET_RU_H

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_job.h>

struct ru_peer {
	uint32_t qpn;
	uint32_t job_id;
	uint32_t src_id;	/* what its messages carry as the source ID */
	uint64_t rkey;
	uint64_t addr;
	union ibv_gid gid;
};

struct ru_common {
	const char *devname;
	int ib_port;
	int gidx;
	uint32_t job_id;
	bool addr_table;	/* name the peer by job address table index */
	bool imported;		/* the job came from $UET_JOB_FD */
	bool need_import;	/* -J: it must */
	bool set_src_id;	/* -S: choose the source ID (IBV_QP_INIT_ATTR_SRC_ID) */
	uint32_t src_id;	/* chosen, or else the QP number (ru_create_qp) */
	unsigned int qp_usage;	/* usage_flags of the RU QP semantics (ru_create_qp) */
	struct ibv_context *ctx;
	struct ibv_job *job;
	struct ibv_pd *pd;
	struct ibv_job_key *jkey;
	union ibv_gid gid;
	struct ibv_ah *ah;
	struct ibv_ah_ex *ah_ex;
	union ibv_gid ah_peer_gid;	/* the peer's GID (ru_connect) */
};

#define RU_ADDR_IDX 7

#define ru_err(...) fprintf(stderr, __VA_ARGS__)

/*
 * ibv_export_job(): the descriptor is no admin one (RDMA_JOB_IOC_MEMBER_FD
 * on it must fail) and imports into a second context of the same device
 * (ibv_open_device() again), where ibv_query_job() must report our JobID;
 * with one_job (max_job_ids 1) its import into our own context, which has
 * its job, must be EBUSY.
 */
static inline int ru_check_export(struct ru_common *c, bool one_job)
{
	struct ibv_job_attr jattr = {};
	struct ibv_context *ctx2;
	struct ibv_job *job2 = NULL;
	int err, efd, mfd, ret = -1;

	err = ibv_export_job(c->job, &efd);
	if (err) {
		ru_err("ibv_export_job: %s\n", strerror(err));
		return -1;
	}
	/* what an export hands out may join and query, not derive more
	 * descriptors: an admin one would (the uapi's MEMBER_FD) */
	mfd = ioctl(efd, RDMA_JOB_IOC_MEMBER_FD, 0);
	if (mfd >= 0) {
		ru_err("RDMA_JOB_IOC_MEMBER_FD on the exported descriptor: "
		       "succeeded, want a refusal (an admin descriptor?)\n");
		close(mfd);
		close(efd);
		return -1;
	}
	/* one job per context: importing it where it is is EBUSY */
	if (one_job) {
		err = ibv_import_job(c->ctx, efd, &job2);
		if (err != EBUSY) {
			ru_err("ibv_import_job into our own context: %s, want "
			       "EBUSY\n", err ? strerror(err) : "imported");
			if (!err && job2)
				ibv_dealloc_job(job2);
			close(efd);
			return -1;
		}
		job2 = NULL;
	}
	ctx2 = ibv_open_device(c->ctx->device);
	if (!ctx2) {
		ru_err("ibv_open_device (a second context): %s\n",
		       strerror(errno));
		close(efd);
		return -1;
	}
	err = ibv_import_job(ctx2, efd, &job2);
	close(efd);
	if (err || !job2) {
		ru_err("ibv_import_job of our export into a second context: "
		       "%s\n", err ? strerror(err) : "no job");
		goto out;
	}
	jattr.comp_mask = IBV_JOB_ATTR_ID;
	err = ibv_query_job(job2, &jattr);
	if (err || !(jattr.comp_mask & IBV_JOB_ATTR_ID)) {
		ru_err("ibv_query_job of the imported job: %s\n",
		       err ? strerror(err) : "no IBV_JOB_ATTR_ID");
		goto out;
	}
	if (jattr.id != c->job_id) {
		ru_err("imported job: JobID %u, exported %u\n", jattr.id,
		       c->job_id);
		goto out;
	}
	ret = 0;
out:
	if (job2) {
		err = ibv_dealloc_job(job2);
		if (err) {
			ru_err("ibv_dealloc_job of the imported job: %s\n",
			       strerror(err));
			ret = -1;
		}
	}
	if (ibv_close_device(ctx2)) {
		ru_err("ibv_close_device (the second context) failed\n");
		ret = -1;
	}
	return ret;
}

static inline int ru_open(struct ru_common *c)
{
	struct ibv_device **list, *dev = NULL;
	struct ibv_device_attr_ex dattr = {};
	struct ibv_job_attr jattr = {};
	const char *fd_env = getenv("UET_JOB_FD");
	struct ibv_job *job2 = NULL;
	int i, err;

	list = ibv_get_device_list(NULL);
	if (!list) {
		ru_err("ibv_get_device_list: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; list[i]; i++)
		if (!c->devname ||
		    !strcmp(ibv_get_device_name(list[i]), c->devname)) {
			dev = list[i];
			break;
		}
	if (!dev) {
		ru_err("device %s not found\n", c->devname ? c->devname : "(any)");
		return -1;
	}
	c->ctx = ibv_open_device(dev);
	ibv_free_device_list(list);
	if (!c->ctx) {
		ru_err("ibv_open_device: %s\n", strerror(errno));
		return -1;
	}
	err = ibv_query_device_ex(c->ctx, NULL, &dattr);
	if (err) {
		ru_err("ibv_query_device_ex: %s\n", strerror(err));
		return -1;
	}
	if (!(dattr.device_cap_flags_ex & IBV_DEVICE_RU) ||
	    !(dattr.device_cap_flags_ex & IBV_DEVICE_IMM64)) {
		ru_err("%s: no IBV_DEVICE_RU/IMM64 (caps 0x%" PRIx64 ")\n",
		       ibv_get_device_name(c->ctx->device),
		       (uint64_t)dattr.device_cap_flags_ex);
		return -1;
	}
	if (ibv_query_gid(c->ctx, c->ib_port, c->gidx, &c->gid)) {
		ru_err("ibv_query_gid %d: %s\n", c->gidx, strerror(errno));
		return -1;
	}
	c->pd = ibv_alloc_pd(c->ctx);
	if (!c->pd) {
		ru_err("ibv_alloc_pd: %s\n", strerror(errno));
		return -1;
	}
	if (c->need_import && !fd_env) {
		ru_err("-J: no $UET_JOB_FD (not started by uet-launch?)\n");
		return -1;
	}
	if (fd_env) {
		err = ibv_import_job(c->ctx, atoi(fd_env), &c->job);
		if (err) {
			ru_err("ibv_import_job(%s): %s\n", fd_env, strerror(err));
			return -1;
		}
		c->imported = true;
	} else {
		jattr.comp_mask = IBV_JOB_ATTR_ID | IBV_JOB_ATTR_PORT_NUM |
				  IBV_JOB_ATTR_SGID_INDEX;
		jattr.id = c->job_id;
		jattr.port_num = c->ib_port;
		jattr.sgid_index = c->gidx;
		c->job = ibv_alloc_job(c->ctx, &jattr, c);
		if (!c->job) {
			ru_err("ibv_alloc_job %u: %s\n", c->job_id,
			       strerror(errno));
			return -1;
		}
		if (c->job->user_context != c) {
			ru_err("ibv_alloc_job: user_context not kept\n");
			return -1;
		}
	}
	memset(&jattr, 0, sizeof(jattr));
	jattr.comp_mask = IBV_JOB_ATTR_ID;
	err = ibv_query_job(c->job, &jattr);
	if (err || !(jattr.comp_mask & IBV_JOB_ATTR_ID)) {
		ru_err("ibv_query_job: %s\n", strerror(err));
		return -1;
	}
	if (!c->imported && jattr.id != c->job_id) {
		ru_err("ibv_query_job: JobID %u, allocated %u\n", jattr.id,
		       c->job_id);
		return -1;
	}
	c->job_id = jattr.id;
	err = ibv_query_job(c->job, NULL);
	if (err != EINVAL) {
		ru_err("ibv_query_job(NULL): %s, want EINVAL\n",
		       err ? strerror(err) : "success");
		return -1;
	}

	/* a second job on the context: EBUSY where the device says a
	 * context holds one (max_job_ids 1), allocated where it says more */
	jattr.comp_mask = IBV_JOB_ATTR_ID;
	jattr.id = c->job_id + 1;
	errno = 0;
	job2 = ibv_alloc_job(c->ctx, &jattr, NULL);
	err = job2 ? 0 : errno;
	if (dattr.max_job_ids == 1 && (job2 || err != EBUSY)) {
		ru_err("a second ibv_alloc_job (max_job_ids 1): %s, want "
		       "EBUSY\n", job2 ? "allocated" : strerror(err));
		if (job2)
			ibv_dealloc_job(job2);
		return -1;
	}
	/* max_job_ids 0 (not reported): allocated or EBUSY */
	if (!job2 && dattr.max_job_ids != 1 &&
	    (dattr.max_job_ids > 1 || err != EBUSY)) {
		ru_err("a second ibv_alloc_job (max_job_ids %u): %s, want %s\n",
		       dattr.max_job_ids, strerror(err),
		       dattr.max_job_ids > 1 ? "a job" : "a job or EBUSY");
		return -1;
	}
	if (job2) {
		err = ibv_dealloc_job(job2);
		if (err) {
			ru_err("ibv_dealloc_job of the second job: %s\n",
			       strerror(err));
			return -1;
		}
	}
	job2 = NULL;
	if (ru_check_export(c, dattr.max_job_ids == 1))
		return -1;

	c->jkey = ibv_create_jkey(c->pd, c->job, 0);
	if (!c->jkey) {
		ru_err("ibv_create_jkey: %s\n", strerror(errno));
		return -1;
	}
	err = ibv_dealloc_job(c->job);
	if (err != EBUSY) {
		ru_err("ibv_dealloc_job with a job key: %s, want EBUSY\n",
		       err ? strerror(err) : "deallocated");
		if (!err)
			c->job = NULL;
		return -1;
	}
	return 0;
}

/* an RU QP on the job, with the ibv_wr_* ops in send_ops */
static inline struct ibv_qp *ru_create_qp(struct ru_common *c,
					  struct ibv_cq *cq, uint32_t depth,
					  uint64_t send_ops, uint32_t order)
{
	struct ibv_qp_init_attr_ex attr = {};
	struct ibv_qp_semantics sem = {};
	struct ibv_qp *qp;
	int err;

	err = ibv_query_qp_semantics(c->ctx, IBV_QPT_RU, c->ib_port, c->gidx,
				     &sem, sizeof(sem));
	if (err) {
		ru_err("ibv_query_qp_semantics: %s\n", strerror(err));
		return NULL;
	}
	if (!(sem.comp_mask & IBV_QP_SEMANTICS_MASK_IMM) ||
	    sem.imm_data_size != IBV_IMM_DATA_SIZE_64) {
		ru_err("ibv_query_qp_semantics: no 64-bit immediates\n");
		return NULL;
	}
	c->qp_usage = sem.usage_flags;
	/* keep only what was asked for: the rest may be relaxed */
	sem.msg_order &= order;
	attr.qp_type = IBV_QPT_RU;
	attr.send_cq = cq;
	attr.recv_cq = cq;
	attr.sq_sig_all = 1;
	attr.cap.max_send_wr = depth;
	attr.cap.max_recv_wr = depth;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS |
			 IBV_QP_INIT_ATTR_QP_SEMANTICS | IBV_QP_INIT_ATTR_JKEY;
	attr.pd = c->pd;
	attr.send_ops_flags = send_ops;
	attr.qp_semantics = &sem;
	attr.job_key = c->jkey;
	/* IBV_QP_INIT_ATTR_QP_ATTR with a mask but no attributes */
	attr.comp_mask |= IBV_QP_INIT_ATTR_QP_ATTR;
	attr.qp_attr_mask = IBV_QP_PORT;
	attr.qp_attr = NULL;
	errno = 0;
	qp = ibv_create_qp_ex(c->ctx, &attr);
	if (qp || errno != EINVAL) {
		ru_err("ibv_create_qp_ex(QP_ATTR, mask, no qp_attr): %s, want "
		       "EINVAL\n", qp ? "created" : strerror(errno));
		if (qp)
			ibv_destroy_qp(qp);
		return NULL;
	}
	attr.comp_mask &= ~IBV_QP_INIT_ATTR_QP_ATTR;
	attr.qp_attr_mask = 0;
	/* a source ID of our choosing, or the default: the QP number */
	if (c->set_src_id) {
		attr.comp_mask |= IBV_QP_INIT_ATTR_SRC_ID;
		attr.src_id = c->src_id;
	}
	qp = ibv_create_qp_ex(c->ctx, &attr);
	if (!qp) {
		ru_err("ibv_create_qp_ex(IBV_QPT_RU%s): %s\n",
		       c->set_src_id ? ", IBV_QP_INIT_ATTR_SRC_ID" : "",
		       strerror(errno));
		return NULL;
	}
	if (!c->set_src_id)
		c->src_id = qp->qp_num;
	if (qp->qp_type != IBV_QPT_RU || qp->state != IBV_QPS_RTS ||
	    (qp->qp_num & ~(IBV_QPN_PID_ON_FEP_MASK | IBV_QPN_RI_MASK))) {
		ru_err("RU QP: type %d state %d qpn 0x%x\n", qp->qp_type,
		       qp->state, qp->qp_num);
		ibv_destroy_qp(qp);
		return NULL;
	}
	/* the QP holds its job key */
	err = ibv_destroy_jkey(c->jkey);
	if (err != EBUSY) {
		ru_err("ibv_destroy_jkey of a QP's key: %s, want EBUSY\n",
		       err ? strerror(err) : "destroyed");
		if (!err)
			c->jkey = NULL;
		ibv_destroy_qp(qp);
		return NULL;
	}
	return qp;
}

/* the peer's address: an extended AH, and maybe a job address table entry */
/*
 * ibv_create_ah_ex() and, with -A, ibv_insert_addr() of the peer's QP
 * number with a reserved bit set (EINVAL) and with the absolute
 * addressing bit (EOPNOTSUPP, or accepted where a provider offers it)
 */
static inline int ru_check_bad_qpns(struct ru_common *c,
				    struct ibv_ah_attr_ex *attr, uint32_t qpn)
{
	static const uint32_t bits[] = { 1u << 24, 1u << 30,
					 IBV_QPN_ABSOLUTE_ADDR_BIT };
	struct ibv_ah *ah;
	unsigned int i;
	int err, want;

	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		want = bits[i] == IBV_QPN_ABSOLUTE_ADDR_BIT ? EOPNOTSUPP :
							      EINVAL;
		attr->remote_qpn = qpn | bits[i];
		errno = 0;
		ah = ibv_create_ah_ex(c->pd, attr);
		if (ah && want == EOPNOTSUPP) {
			ibv_destroy_ah(ah);
		} else if (ah || errno != want) {
			ru_err("ibv_create_ah_ex, QPN 0x%x: %s, want %s\n",
			       attr->remote_qpn,
			       ah ? "created" : strerror(errno),
			       strerror(want));
			if (ah)
				ibv_destroy_ah(ah);
			return -1;
		}
		if (!c->addr_table)
			continue;
		err = ibv_insert_addr(c->job, attr, RU_ADDR_IDX, 0);
		if (!err && want == EOPNOTSUPP) {
			ibv_remove_addr(c->job, RU_ADDR_IDX, 0);
		} else if (err != want) {
			ru_err("ibv_insert_addr, QPN 0x%x: %s, want %s\n",
			       attr->remote_qpn,
			       err ? strerror(err) : "inserted",
			       strerror(want));
			return -1;
		}
	}
	return 0;
}

/* the destination of the work request being built */
static inline void ru_wr_dest(struct ru_common *c, struct ibv_qp_ex *qpx)
{
	if (c->addr_table)
		ibv_wr_set_ru_addr(qpx, NULL, RU_ADDR_IDX);
	else
		ibv_wr_set_ru_addr(qpx, c->ah_ex, 0);
	ibv_wr_set_job_key(qpx, c->jkey->jkey);
}

/*
 * An RU work request to a plain address handle (ibv_create_ah(), so no
 * QP number, cast with ibv_ah_to_ah_ex()) must be refused with EINVAL,
 * by ibv_post_send() and by ibv_wr_set_ru_addr() + ibv_wr_complete().
 */
static inline int ru_check_plain_ah(struct ru_common *c, struct ibv_qp *qp)
{
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	struct ibv_ah_attr attr = {};
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_ah *ah;
	int err;

	attr.is_global = 1;
	attr.grh.dgid = c->ah_peer_gid;
	attr.grh.sgid_index = c->gidx;
	attr.grh.hop_limit = 64;
	attr.port_num = c->ib_port;
	ah = ibv_create_ah(c->pd, &attr);
	if (!ah) {
		ru_err("ibv_create_ah: %s\n", strerror(errno));
		return -1;
	}
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ru.ah = ibv_ah_to_ah_ex(ah);
	wr.wr.ru.jkey = c->jkey->jkey;
	err = ibv_post_send(qp, &wr, &bad);
	if (err != EINVAL) {
		ru_err("ibv_post_send to a plain ibv_create_ah() handle: %s, "
		       "want EINVAL\n", err ? strerror(err) : "posted");
		ibv_destroy_ah(ah);
		return -1;
	}
	/* the same through the ibv_wr_* interface (the QP has WITH_SEND) */
	ibv_wr_start(qpx);
	qpx->wr_id = 0;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(qpx);
	ibv_wr_set_ru_addr(qpx, ibv_ah_to_ah_ex(ah), 0);
	ibv_wr_set_job_key(qpx, c->jkey->jkey);
	err = ibv_wr_complete(qpx);
	ibv_destroy_ah(ah);
	if (err != EINVAL) {
		ru_err("ibv_wr_set_ru_addr of a plain ibv_create_ah() handle, "
		       "ibv_wr_complete: %s, want EINVAL\n",
		       err ? strerror(err) : "posted");
		return -1;
	}
	return 0;
}

/*
 * -W: a local key wider than the device's 32-bit keys must be refused
 * (EINVAL), not truncated, by each 64-bit local key verb: ibv_post_recv64,
 * ibv_post_send with IBV_SEND_SGE64, and ibv_wr_set_sge64. The QP has
 * IBV_QP_EX_WITH_SEND_WITH_IMM. Prints the line uet_ru_verbs.sh checks.
 */
static inline int ru_check_wide_lkeys(struct ru_common *c, struct ibv_qp *qp,
				      struct ibv_mr *mr)
{
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	struct ibv_sge64 sge = {
		.addr = (uintptr_t)mr->addr, .length = 1,
		.lkey64 = mr->lkey64 | 1ull << 32,
	};
	struct ibv_recv_wr64 rwr = {
		.wr_id = 0, .sg_list = &sge, .num_sge = 1,
	}, *rbad;
	struct ibv_send_wr swr = {}, *sbad;
	int err;

	err = ibv_post_recv64(qp, &rwr, &rbad);
	if (err != EINVAL) {
		ru_err("ibv_post_recv64, lkey64 0x%" PRIx64 ": %s, want "
		       "EINVAL\n", (uint64_t)sge.lkey64,
		       err ? strerror(err) : "posted");
		return -1;
	}
	swr.opcode = IBV_WR_SEND_WITH_IMM;
	swr.send_flags = IBV_SEND_SIGNALED | IBV_SEND_SGE64;
	swr.sg64_list = &sge;
	swr.num_sge = 1;
	if (c->addr_table) {
		swr.wr.ru.ah = NULL;
		swr.wr.ru.addr_idx = RU_ADDR_IDX;
	} else {
		swr.wr.ru.ah = c->ah_ex;
	}
	swr.wr.ru.jkey = c->jkey->jkey;
	err = ibv_post_send(qp, &swr, &sbad);
	if (err != EINVAL) {
		ru_err("ibv_post_send IBV_SEND_SGE64, lkey64 0x%" PRIx64
		       ": %s, want EINVAL\n", (uint64_t)sge.lkey64,
		       err ? strerror(err) : "posted");
		return -1;
	}
	ibv_wr_start(qpx);
	qpx->wr_id = 0;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send_imm(qpx, 0);
	ru_wr_dest(c, qpx);
	ibv_wr_set_sge64(qpx, sge.lkey64, sge.addr, sge.length);
	err = ibv_wr_complete(qpx);
	if (err != EINVAL) {
		ru_err("ibv_wr_set_sge64, lkey64 0x%" PRIx64 ", "
		       "ibv_wr_complete: %s, want EINVAL\n",
		       (uint64_t)sge.lkey64, err ? strerror(err) : "posted");
		return -1;
	}
	printf("lkey64 beyond 32 bits refused: ibv_post_recv64, "
	       "IBV_SEND_SGE64, ibv_wr_set_sge64\n");
	return 0;
}

static inline int ru_connect(struct ru_common *c, const struct ru_peer *p)
{
	struct ibv_ah_attr_ex attr = {}, back = {};
	int err;

	attr.ah_attr.is_global = 1;
	attr.ah_attr.grh.dgid = p->gid;
	c->ah_peer_gid = p->gid;
	attr.ah_attr.grh.sgid_index = c->gidx;
	attr.ah_attr.grh.hop_limit = 64;
	attr.ah_attr.port_num = c->ib_port;
	/* a QP number with reserved bits (30:24) set is EINVAL; absolute
	 * addressing (bit 31) is EOPNOTSUPP where it is not provided */
	if (ru_check_bad_qpns(c, &attr, p->qpn))
		return -1;
	attr.remote_qpn = p->qpn;
	c->ah = ibv_create_ah_ex(c->pd, &attr);
	if (!c->ah) {
		ru_err("ibv_create_ah_ex: %s\n", strerror(errno));
		return -1;
	}
	c->ah_ex = ibv_ah_to_ah_ex(c->ah);
	if (c->ah_ex->remote_qpn != p->qpn) {
		ru_err("ibv_ah_to_ah_ex: remote_qpn 0x%x, want 0x%x\n",
		       c->ah_ex->remote_qpn, p->qpn);
		return -1;
	}
	if (!c->addr_table)
		return 0;
	err = ibv_insert_addr(c->job, &attr, RU_ADDR_IDX, 0);
	if (!err)
		err = ibv_query_addr(c->job, RU_ADDR_IDX, &back, 0);
	if (err) {
		ru_err("job address table: %s\n", strerror(err));
		return -1;
	}
	if (back.remote_qpn != attr.remote_qpn ||
	    !back.ah_attr.is_global || back.ah_attr.port_num != c->ib_port ||
	    back.ah_attr.grh.sgid_index != attr.ah_attr.grh.sgid_index ||
	    memcmp(&back.ah_attr.grh.dgid, &p->gid, sizeof(p->gid))) {
		ru_err("ibv_query_addr: not what was inserted\n");
		return -1;
	}
	return 0;
}

/*
 * After the QPs and MRs are gone: the job key is free again (its users
 * dropped), and so then is the job. -1 if either is refused.
 */
static inline int ru_close(struct ru_common *c)
{
	int err, ret = 0;

	if (c->ah && ibv_destroy_ah(c->ah)) {
		ru_err("ibv_destroy_ah failed\n");
		ret = -1;
	}
	if (c->addr_table && c->job) {
		err = ibv_remove_addr(c->job, RU_ADDR_IDX, 0);
		if (err) {
			ru_err("ibv_remove_addr: %s\n", strerror(err));
			ret = -1;
		}
	}
	if (c->jkey) {
		err = ibv_destroy_jkey(c->jkey);
		if (err) {
			ru_err("ibv_destroy_jkey: %s\n", strerror(err));
			ret = -1;
		}
	}
	if (c->job && !ret) {
		err = ibv_dealloc_job(c->job);
		if (err) {
			ru_err("ibv_dealloc_job: %s\n", strerror(err));
			ret = -1;
		}
	}
	if (c->pd) {
		err = ibv_dealloc_pd(c->pd);
		if (err) {
			ru_err("ibv_dealloc_pd: %s\n", strerror(err));
			ret = -1;
		}
	}
	if (c->ctx && ibv_close_device(c->ctx)) {
		ru_err("ibv_close_device failed\n");
		ret = -1;
	}
	return ret;
}

/*
 * The exchange, as ibv_rc_pingpong does it: the client connects to the
 * server's TCP port and sends its line first; the server answers with its
 * own. A line: qpn:jobid:rkey:addr:gid:srcid (hex), zero-padded to its
 * 128 bytes.
 */
static inline int ru_exchange(const char *server, int port,
			      const struct ru_peer *mine, struct ru_peer *peer)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *t;
	char line[128], peerline[128], svc[8], gid[33];
	int fd = -1, lfd, one = 1, i, n;
	size_t got = 0;

	for (i = 0; i < 16; i++)
		sprintf(gid + 2 * i, "%02x", mine->gid.raw[i]);
	memset(line, 0, sizeof(line));
	snprintf(line, sizeof(line), "%06x:%06x:%016" PRIx64 ":%016" PRIx64
		 ":%s:%08x", mine->qpn, mine->job_id, mine->rkey, mine->addr,
		 gid, mine->src_id);
	snprintf(svc, sizeof(svc), "%d", port);

	if (server) {
		if (getaddrinfo(server, svc, &hints, &res)) {
			ru_err("getaddrinfo %s\n", server);
			return -1;
		}
		/* the server may not listen yet: retry for 20 s */
		for (i = 0; i < 200 && fd < 0; i++) {
			for (t = res; t; t = t->ai_next) {
				fd = socket(t->ai_family, t->ai_socktype,
					    t->ai_protocol);
				if (fd < 0)
					continue;
				if (!connect(fd, t->ai_addr, t->ai_addrlen))
					break;
				close(fd);
				fd = -1;
			}
			if (fd < 0)
				usleep(100000);
		}
		freeaddrinfo(res);
		if (fd < 0) {
			ru_err("cannot connect to %s:%d\n", server, port);
			return -1;
		}
	} else {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
					   .sin6_port = htons(port) };

		lfd = socket(AF_INET6, SOCK_STREAM, 0);
		if (lfd < 0)
			return -1;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(lfd, 1)) {
			ru_err("cannot listen on port %d: %s\n", port,
			       strerror(errno));
			close(lfd);
			return -1;
		}
		fd = accept(lfd, NULL, NULL);
		close(lfd);
		if (fd < 0)
			return -1;
	}
	if (server && write(fd, line, sizeof(line)) != sizeof(line))
		goto err;
	while (got < sizeof(peerline)) {
		n = read(fd, peerline + got, sizeof(peerline) - got);
		if (n <= 0)
			goto err;
		got += n;
	}
	peerline[sizeof(peerline) - 1] = 0;
	if (sscanf(peerline, "%x:%x:%" SCNx64 ":%" SCNx64 ":%32[0-9a-f]:%x",
		   &peer->qpn, &peer->job_id, &peer->rkey, &peer->addr, gid,
		   &peer->src_id) != 6)
		goto err;
	for (i = 0; i < 16; i++) {
		unsigned int b;

		sscanf(gid + 2 * i, "%2x", &b);
		peer->gid.raw[i] = b;
	}
	if (!server) {
		if (write(fd, line, sizeof(line)) != sizeof(line))
			goto err;
	}
	close(fd);
	return 0;
err:
	ru_err("address exchange failed\n");
	close(fd);
	return -1;
}

#endif /* UET_RU_H */
