// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libuet verbs: device and port queries, PD, MR, CQ (with a completion ring
 * polled from user space without a system call) and uetdv_query_device().
 */

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <ccan/minmax.h>
#include <util/util.h>

#include "uet.h"

int uet_query_device_ex(struct ibv_context *ibvctx,
			const struct ibv_query_device_ex_input *input,
			struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t fw_ver;
	int err;

	err = ibv_cmd_query_device_any(ibvctx, input, attr, attr_size, &resp,
				       &resp_size);
	if (err)
		return err;

	/* the kernel's u64 fw_ver as major.minor.subminor, 16 bits each */
	fw_ver = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%u.%u.%u", (unsigned int)(fw_ver >> 32) & 0xffff,
		 (unsigned int)(fw_ver >> 16) & 0xffff,
		 (unsigned int)fw_ver & 0xffff);

	/*
	 * The proposed UET verbs (ibv_uet(7)); keys stay 32 bits wide. Only
	 * what the caller's struct has: ibv_query_device() passes a bare
	 * struct ibv_device_attr (attr_size says so).
	 */
	if (vext_field_avail(struct ibv_device_attr_ex, device_cap_flags_ex,
			     attr_size))
		attr->device_cap_flags_ex |= IBV_DEVICE_RU | IBV_DEVICE_IMM64 |
					     IBV_DEVICE_USER_RKEY;
	if (vext_field_avail(struct ibv_device_attr_ex, max_addr_entries,
			     attr_size)) {
		attr->max_job_ids = 1;	/* a context joins one job */
		attr->max_job_keys = UET_MAX_JKEYS;
		attr->max_addr_entries = UET_MAX_ADDR_ENTRIES;
	}

	return 0;
}

int uet_query_port(struct ibv_context *ibvctx, uint8_t port,
		   struct ibv_port_attr *port_attr)
{
	struct ibv_query_port cmd = {};

	return ibv_cmd_query_port(ibvctx, port, port_attr, &cmd, sizeof(cmd));
}

int uetdv_query_device(struct ibv_context *ibvctx,
		       struct uetdv_device_attr *attr, uint32_t inlen)
{
	struct uet_context *ctx;

	if (!is_uet_dev(ibvctx->device))
		return EOPNOTSUPP;

	/* every field of the first version is mandatory */
	if (!vext_field_avail(typeof(*attr), uet_version_minor, inlen)) {
		verbs_err(verbs_get_ctx(ibvctx),
			  "%s: inlen %u too small\n", __func__, inlen);
		return EINVAL;
	}

	ctx = to_uet_context(ibvctx);
	/* fields this library does not know stay zero for newer callers */
	memset(attr, 0, inlen);

	attr->dev_caps = ctx->dev_caps;
	attr->profiles = ctx->profiles;
	attr->max_pdc = ctx->max_pdc;
	attr->max_endpoints = ctx->max_endpoints;
	attr->mtu = ctx->mtu;
	attr->max_msg_size = ctx->max_msg_size;
	attr->max_cqe = ctx->max_cqe;
	attr->cqe_size = ctx->cqe_size;
	attr->uet_version_major = ctx->uet_version_major;
	attr->uet_version_minor = ctx->uet_version_minor;
	/* no optional fields yet */
	attr->comp_mask = 0;

	return 0;
}

struct ibv_pd *uet_alloc_pd(struct ibv_context *ibvctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct ibv_pd *pd;
	int err;

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;

	err = ibv_cmd_alloc_pd(ibvctx, pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (err) {
		free(pd);
		errno = err;
		return NULL;
	}

	return pd;
}

int uet_dealloc_pd(struct ibv_pd *ibvpd)
{
	int err;

	err = ibv_cmd_dealloc_pd(ibvpd);
	if (err)
		return err;

	free(ibvpd);
	return 0;
}

struct ibv_mr *uet_reg_mr(struct ibv_pd *ibvpd, void *addr, size_t length,
			  uint64_t hca_va, int access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct ibv_reg_mr cmd;
	struct uet_mr *mr;
	int err;

	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return NULL;

	err = ibv_cmd_reg_mr(ibvpd, addr, length, hca_va, access, &mr->vmr,
			     &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (err) {
		free(mr);
		errno = err;
		return NULL;
	}

	return &mr->vmr.ibv_mr;
}

struct ibv_mr *uetdv_reg_mr_key(struct ibv_pd *ibvpd, void *addr,
			       size_t length, uint64_t iova,
			       unsigned int access, uint32_t key)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct uet_reg_mr cmd = {};
	struct uet_mr *mr;
	int err;

	if (!is_uet_dev(ibvpd->context->device)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!key) {
		errno = EINVAL;
		return NULL;
	}
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return NULL;
	cmd.flags = UET_REG_MR_F_KEY;
	cmd.key = key;
	err = ibv_cmd_reg_mr(ibvpd, addr, length, iova, access, &mr->vmr,
			     &cmd.ibv_cmd, sizeof(cmd), &resp, sizeof(resp));
	if (err) {
		free(mr);
		errno = err;
		return NULL;
	}
	return &mr->vmr.ibv_mr;
}

int uet_dereg_mr(struct verbs_mr *vmr)
{
	struct uet_mr *mr = container_of(vmr, struct uet_mr, vmr);
	int err;

	err = ibv_cmd_dereg_mr(vmr);
	if (err)
		return err;

	uet_ru_jkey_put(to_uet_context(vmr->ibv_mr.context), mr->jkey);
	free(mr);
	return 0;
}

static struct uet_cq *uet_create_cq_common(struct ibv_context *ibvctx,
					    int ncqe,
					    struct ibv_comp_channel *channel,
					    int vec)
{
	struct uet_context *ctx = to_uet_context(ibvctx);
	struct uet_create_cq_resp resp = {};
	struct uet_create_cq cmd = {};
	struct uet_cq *cq;
	uint64_t need;
	int err;

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;

	cmd.cqe_size = ctx->cqe_size;
	err = ibv_cmd_create_cq(ibvctx, ncqe, channel, vec, &cq->vcq.cq,
				&cmd.ibv_cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (err) {
		verbs_err(verbs_get_ctx(ibvctx), "create CQ failed: %d\n",
			  err);
		goto err_free_cq;
	}

	/* a ring we cannot index safely is the kernel's bug, not ours */
	need = UET_CQ_RING_ENTRIES_OFFSET +
	       (uint64_t)resp.num_entries * sizeof(struct uet_cqe);
	if (!resp.num_entries ||
	    (resp.num_entries & (resp.num_entries - 1)) ||
	    resp.q_mmap_size < need || resp.q_mmap_size > SIZE_MAX) {
		verbs_err(verbs_get_ctx(ibvctx),
			  "bad CQ ring: %u entries in %llu bytes\n",
			  resp.num_entries,
			  (unsigned long long)resp.q_mmap_size);
		err = EPROTO;
		goto err_destroy_cq;
	}

	cq->num_entries = resp.num_entries;
	cq->cq_idx = resp.cq_idx;
	cq->check_seq = resp.comp_mask & UET_CREATE_CQ_RESP_SEQ_TAG;
	cq->seq_tag = resp.seq_tag;
	cq->ring_size = resp.q_mmap_size;
	cq->ring = mmap(NULL, cq->ring_size, PROT_READ | PROT_WRITE,
			MAP_SHARED, ibvctx->cmd_fd, resp.q_mmap_key);
	if (cq->ring == MAP_FAILED) {
		err = errno;
		verbs_err(verbs_get_ctx(ibvctx), "CQ ring mmap failed: %d\n",
			  err);
		goto err_destroy_cq;
	}
	cq->hdr = cq->ring;
	cq->cqes = (struct uet_cqe *)((uint8_t *)cq->ring +
				      UET_CQ_RING_ENTRIES_OFFSET);
	cq->cons_idx = atomic_load_explicit(
		(_Atomic(uint32_t) *)&cq->hdr->cons_idx, memory_order_relaxed);

	err = pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	if (err)
		goto err_unmap;

	return cq;

err_unmap:
	munmap(cq->ring, cq->ring_size);
err_destroy_cq:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free_cq:
	free(cq);
	errno = err;
	return NULL;
}

struct ibv_cq *uet_create_cq(struct ibv_context *ibvctx, int ncqe,
			     struct ibv_comp_channel *channel, int vec)
{
	struct uet_cq *cq = uet_create_cq_common(ibvctx, ncqe, channel, vec);

	return cq ? &cq->vcq.cq : NULL;
}

int uet_destroy_cq(struct ibv_cq *ibvcq)
{
	struct uet_cq *cq = to_uet_cq(ibvcq);
	int err;

	err = ibv_cmd_destroy_cq(ibvcq);
	if (err)
		return err;

	munmap(cq->ring, cq->ring_size);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}

/*
 * Mapping of a struct uet_cqe to a struct ibv_wc:
 *
 *   wr_id       <- wr_id
 *   status      <- status (the values of enum ib_wc_status are those of
 *                  enum ibv_wc_status; anything unknown reads
 *                  IBV_WC_GENERAL_ERR)
 *   vendor_err  <- uet_rc, the UET SES return code
 *   opcode      <- opcode: SEND and TAGGED_SEND -> IBV_WC_SEND,
 *                  RECV and TAGGED_RECV -> IBV_WC_RECV,
 *                  WRITE -> IBV_WC_RDMA_WRITE, or IBV_WC_RECV_RDMA_WITH_IMM
 *                  when it carries header data (the target's completion),
 *                  READ -> IBV_WC_RDMA_READ, ATOMIC -> IBV_WC_FETCH_ADD,
 *                  CMP_SWP -> IBV_WC_COMP_SWAP;
 *                  an unknown opcode fails the completion
 *                  (IBV_WC_GENERAL_ERR)
 *   byte_len    <- byte_len
 *   qp_num      <- ep_num, the local endpoint
 *   src_qp      <- src_qpn, the sender's endpoint (receive completions)
 *   wc_flags    <- IBV_WC_WITH_IMM when UET_CQE_F_WITH_DATA is set, with
 *                  imm_data = the low 32 bits of header_data in network
 *                  byte order
 *   slid, sl, pkey_index, dlid_path_bits <- 0
 *
 * job_id, src_addr, the upper half of header_data and match_bits have no
 * ibv_wc field: an ibv_cq_ex reads them with uetdv_wc_read_*().
 */
static enum ibv_wc_opcode uet_cqe_opcode(const struct uet_cqe *cqe,
					 bool *known)
{
	*known = true;
	switch (cqe->opcode) {
	case UET_CQE_OP_SEND:
	case UET_CQE_OP_TAGGED_SEND:
		return IBV_WC_SEND;
	case UET_CQE_OP_RECV:
	case UET_CQE_OP_TAGGED_RECV:
		return IBV_WC_RECV;
	case UET_CQE_OP_WRITE:
		return (cqe->flags & UET_CQE_F_WITH_DATA) ?
			       IBV_WC_RECV_RDMA_WITH_IMM :
			       IBV_WC_RDMA_WRITE;
	case UET_CQE_OP_READ:
		return IBV_WC_RDMA_READ;
	case UET_CQE_OP_ATOMIC:
		return IBV_WC_FETCH_ADD;
	case UET_CQE_OP_CMP_SWP:
		return IBV_WC_COMP_SWAP;
	default:
		*known = false;
		return IBV_WC_SEND;
	}
}

static enum ibv_wc_status uet_cqe_status(const struct uet_cqe *cqe)
{
	bool known;

	uet_cqe_opcode(cqe, &known);
	if (cqe->status > IBV_WC_GENERAL_ERR ||
	    (!known && cqe->status == IBV_WC_SUCCESS))
		return IBV_WC_GENERAL_ERR;
	return cqe->status;
}

static void uet_cqe_to_wc(const struct uet_cqe *cqe, struct ibv_wc *wc)
{
	bool known;

	memset(wc, 0, sizeof(*wc));
	wc->wr_id = cqe->wr_id;
	wc->status = uet_cqe_status(cqe);
	wc->opcode = uet_cqe_opcode(cqe, &known);
	wc->vendor_err = cqe->uet_rc;
	wc->byte_len = cqe->byte_len;
	wc->qp_num = cqe->ep_num;
	wc->src_qp = cqe->src_qpn;

	if (cqe->flags & UET_CQE_F_WITH_DATA) {
		wc->wc_flags |= IBV_WC_WITH_IMM;
		wc->imm_data = htobe32((uint32_t)cqe->header_data);
	}
}

/*
 * Whether a copy of the entry at consumer index idx is the device's: once
 * the device is gone, the ring reads as the one zeroed page every mapping
 * then shares, with whatever user space wrote into it (its own descriptors
 * and indexes), so each entry carries its index XOR the CQ's random tag.
 */
static bool uet_cqe_ours(const struct uet_cq *cq, const struct uet_cqe *cqe,
			 uint32_t idx)
{
	return !cq->check_seq || (cqe->seq ^ cq->seq_tag) == idx;
}

int uet_poll_cq(struct ibv_cq *ibvcq, int nwc, struct ibv_wc *wc)
{
	struct uet_cq *cq = to_uet_cq(ibvcq);
	uint32_t prod, avail, i, n;

	if (nwc <= 0)
		return 0;

	pthread_spin_lock(&cq->lock);
	/* pairs with the device's release store after it wrote the CQEs */
	prod = atomic_load_explicit((_Atomic(uint32_t) *)&cq->hdr->prod_idx,
				    memory_order_acquire);
	avail = prod - cq->cons_idx;
	if (avail > cq->num_entries) {
		pthread_spin_unlock(&cq->lock);
		verbs_err(verbs_get_ctx(ibvcq->context),
			  "CQ %u: producer %u is %u entries ahead of %u\n",
			  cq->cq_idx, prod, avail, cq->cons_idx);
		return -EIO;
	}

	n = min_t(uint32_t, avail, (uint32_t)nwc);
	for (i = 0; i < n; i++) {
		struct uet_cqe cqe;

		/* one copy: what is checked is what is returned */
		memcpy(&cqe,
		       &cq->cqes[(cq->cons_idx + i) & (cq->num_entries - 1)],
		       sizeof(cqe));
		if (!uet_cqe_ours(cq, &cqe, cq->cons_idx + i))
			break;
		uet_cqe_to_wc(&cqe, &wc[i]);
	}
	if (!i && n) {
		/* the good ones before it were returned by the last call */
		pthread_spin_unlock(&cq->lock);
		verbs_err(verbs_get_ctx(ibvcq->context),
			  "CQ %u: entry %u is not the device's (device gone?)\n",
			  cq->cq_idx, cq->cons_idx);
		return -EIO;
	}
	n = i;

	if (n) {
		cq->cons_idx += n;
		/* the entries were read: the device may reuse them */
		atomic_store_explicit((_Atomic(uint32_t) *)&cq->hdr->cons_idx,
				      cq->cons_idx, memory_order_release);
	}
	pthread_spin_unlock(&cq->lock);

	return n;
}

int uet_arm_cq(struct ibv_cq *ibvcq, int solicited_only)
{
	return ibv_cmd_req_notify_cq(ibvcq, solicited_only);
}

/*
 * Extended CQs: start_poll points at the first unread entry with the ring's
 * lock held, next_poll consumes it and points at the next one, end_poll
 * consumes the current one, publishes the consumer index and unlocks.
 */

/* the number of unread entries, or -EIO if the producer is out of range */
static int64_t uet_cq_avail(struct uet_cq *cq)
{
	uint32_t prod, avail;

	/* pairs with the device's release store after it wrote the CQEs */
	prod = atomic_load_explicit((_Atomic(uint32_t) *)&cq->hdr->prod_idx,
				    memory_order_acquire);
	avail = prod - cq->cons_idx;
	if (avail > cq->num_entries)
		return -EIO;
	return avail;
}

/* points at the next entry; false if it is not the device's */
static bool uet_cq_ex_point(struct uet_cq *cq)
{
	struct uet_cqe *cqe = &cq->cur_copy;

	memcpy(cqe, &cq->cqes[cq->cons_idx & (cq->num_entries - 1)],
	       sizeof(*cqe));
	if (!uet_cqe_ours(cq, cqe, cq->cons_idx)) {
		verbs_err(verbs_get_ctx(cq->vcq.cq.context),
			  "CQ %u: entry %u is not the device's (device gone?)\n",
			  cq->cq_idx, cq->cons_idx);
		return false;
	}
	cq->cur = cqe;
	cq->vcq.cq_ex.wr_id = cqe->wr_id;
	cq->vcq.cq_ex.status = uet_cqe_status(cqe);
	return true;
}

static int uet_start_poll(struct ibv_cq_ex *cqx, struct ibv_poll_cq_attr *attr)
{
	struct uet_cq *cq = to_uet_cq_ex(cqx);
	int64_t avail;

	if (attr->comp_mask)
		return EINVAL;

	pthread_spin_lock(&cq->lock);
	avail = uet_cq_avail(cq);
	if (avail <= 0 || !uet_cq_ex_point(cq)) {
		pthread_spin_unlock(&cq->lock);
		return avail ? EIO : ENOENT;
	}
	return 0;
}

static int uet_next_poll(struct ibv_cq_ex *cqx)
{
	struct uet_cq *cq = to_uet_cq_ex(cqx);
	int64_t avail;

	if (cq->cur) {
		cq->cur = NULL;
		cq->cons_idx++;
	}
	avail = uet_cq_avail(cq);
	if (avail <= 0)
		return avail ? EIO : ENOENT;
	return uet_cq_ex_point(cq) ? 0 : EIO;
}

static void uet_end_poll(struct ibv_cq_ex *cqx)
{
	struct uet_cq *cq = to_uet_cq_ex(cqx);

	if (cq->cur) {
		cq->cur = NULL;
		cq->cons_idx++;
	}
	/* the entries were read: the device may reuse them */
	atomic_store_explicit((_Atomic(uint32_t) *)&cq->hdr->cons_idx,
			      cq->cons_idx, memory_order_release);
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode uet_wc_read_opcode(struct ibv_cq_ex *cqx)
{
	bool known;

	return uet_cqe_opcode(to_uet_cq_ex(cqx)->cur, &known);
}

static uint32_t uet_wc_read_vendor_err(struct ibv_cq_ex *cqx)
{
	return to_uet_cq_ex(cqx)->cur->uet_rc;
}

static uint32_t uet_wc_read_byte_len(struct ibv_cq_ex *cqx)
{
	return to_uet_cq_ex(cqx)->cur->byte_len;
}

static __be32 uet_wc_read_imm_data(struct ibv_cq_ex *cqx)
{
	return htobe32((uint32_t)to_uet_cq_ex(cqx)->cur->header_data);
}

static uint32_t uet_wc_read_qp_num(struct ibv_cq_ex *cqx)
{
	return to_uet_cq_ex(cqx)->cur->ep_num;
}

static uint32_t uet_wc_read_src_qp(struct ibv_cq_ex *cqx)
{
	return to_uet_cq_ex(cqx)->cur->src_qpn;
}

static unsigned int uet_wc_read_wc_flags(struct ibv_cq_ex *cqx)
{
	return (to_uet_cq_ex(cqx)->cur->flags & UET_CQE_F_WITH_DATA) ?
		       IBV_WC_WITH_IMM : 0;
}

static uint32_t uet_wc_read_zero32(struct ibv_cq_ex *cqx)
{
	return 0;
}

static uint8_t uet_wc_read_zero8(struct ibv_cq_ex *cqx)
{
	return 0;
}

#define UET_CQ_WC_FLAGS (IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM | \
			 IBV_WC_EX_WITH_QP_NUM | IBV_WC_EX_WITH_SRC_QP | \
			 IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL | \
			 IBV_WC_EX_WITH_DLID_PATH_BITS | \
			 IBV_WC_EX_WITH_IMM64 | IBV_WC_EX_WITH_SRC_ID | \
			 IBV_WC_EX_WITH_JOB_ID)

struct ibv_cq_ex *uet_create_cq_ex(struct ibv_context *ibvctx,
				   struct ibv_cq_init_attr_ex *attr)
{
	struct ibv_cq_ex *cqx;
	struct uet_cq *cq;

	if (attr->wc_flags & ~(uint64_t)UET_CQ_WC_FLAGS) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (attr->comp_mask & ~IBV_CQ_INIT_ATTR_MASK_FLAGS) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	/* a single-threaded CQ just takes an uncontended lock */
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	    (attr->flags & ~IBV_CREATE_CQ_ATTR_SINGLE_THREADED)) {
		errno = EOPNOTSUPP;
		return NULL;
	}

	cq = uet_create_cq_common(ibvctx, attr->cqe, attr->channel,
				  attr->comp_vector);
	if (!cq)
		return NULL;

	cq->wc_flags = attr->wc_flags;
	cqx = &cq->vcq.cq_ex;
	cqx->start_poll = uet_start_poll;
	cqx->next_poll = uet_next_poll;
	cqx->end_poll = uet_end_poll;
	cqx->read_opcode = uet_wc_read_opcode;
	cqx->read_vendor_err = uet_wc_read_vendor_err;
	cqx->read_wc_flags = uet_wc_read_wc_flags;
	cqx->read_byte_len = uet_wc_read_byte_len;
	cqx->read_imm_data = uet_wc_read_imm_data;
	cqx->read_qp_num = uet_wc_read_qp_num;
	cqx->read_src_qp = uet_wc_read_src_qp;
	cqx->read_slid = uet_wc_read_zero32;
	cqx->read_sl = uet_wc_read_zero8;
	cqx->read_dlid_path_bits = uet_wc_read_zero8;
	uet_ru_fill_cq_ex(cqx);
	return cqx;
}

/* the current entry of a polled uet CQ, or NULL */
static const struct uet_cqe *uetdv_cur_cqe(struct ibv_cq_ex *cqx)
{
	if (!cqx || !is_uet_dev(cqx->context->device))
		return NULL;
	return to_uet_cq_ex(cqx)->cur;
}

uint32_t uetdv_wc_read_job_id(struct ibv_cq_ex *cqx)
{
	const struct uet_cqe *cqe = uetdv_cur_cqe(cqx);

	return cqe ? cqe->job_id : 0;
}

uint32_t uetdv_wc_read_src_id(struct ibv_cq_ex *cqx)
{
	const struct uet_cqe *cqe = uetdv_cur_cqe(cqx);

	return cqe ? cqe->src_qpn : 0;
}

void uetdv_wc_read_src_addr(struct ibv_cq_ex *cqx, union ibv_gid *addr)
{
	const struct uet_cqe *cqe = uetdv_cur_cqe(cqx);

	if (cqe)
		memcpy(addr->raw, cqe->src_addr, sizeof(addr->raw));
	else
		memset(addr->raw, 0, sizeof(addr->raw));
}

uint64_t uetdv_wc_read_header_data(struct ibv_cq_ex *cqx)
{
	const struct uet_cqe *cqe = uetdv_cur_cqe(cqx);

	return cqe ? cqe->header_data : 0;
}

__be64 uetdv_wc_read_imm64_data(struct ibv_cq_ex *cqx)
{
	return htobe64(uetdv_wc_read_header_data(cqx));
}

uint64_t uetdv_wc_read_match_bits(struct ibv_cq_ex *cqx)
{
	const struct uet_cqe *cqe = uetdv_cur_cqe(cqx);

	return cqe ? cqe->match_bits : 0;
}

unsigned int uetdv_wc_read_flags(struct ibv_cq_ex *cqx)
{
	const struct uet_cqe *cqe = uetdv_cur_cqe(cqx);
	unsigned int flags = 0;

	if (!cqe)
		return 0;
	if (cqe->flags & UET_CQE_F_WITH_DATA)
		flags |= UETDV_WC_WITH_DATA;
	if (cqe->flags & UET_CQE_F_TAGGED)
		flags |= UETDV_WC_TAGGED;
	return flags;
}
