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
	struct verbs_mr *vmr;
	int err;

	vmr = calloc(1, sizeof(*vmr));
	if (!vmr)
		return NULL;

	err = ibv_cmd_reg_mr(ibvpd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (err) {
		free(vmr);
		errno = err;
		return NULL;
	}

	return &vmr->ibv_mr;
}

int uet_dereg_mr(struct verbs_mr *vmr)
{
	int err;

	err = ibv_cmd_dereg_mr(vmr);
	if (err)
		return err;

	free(vmr);
	return 0;
}

struct ibv_cq *uet_create_cq(struct ibv_context *ibvctx, int ncqe,
			     struct ibv_comp_channel *channel, int vec)
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

	return &cq->vcq.cq;

err_unmap:
	munmap(cq->ring, cq->ring_size);
err_destroy_cq:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free_cq:
	free(cq);
	errno = err;
	return NULL;
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
 *                  READ -> IBV_WC_RDMA_READ, ATOMIC -> IBV_WC_FETCH_ADD;
 *                  an unknown opcode fails the completion
 *                  (IBV_WC_GENERAL_ERR)
 *   byte_len    <- byte_len
 *   qp_num      <- ep_num, the local endpoint
 *   src_qp      <- src_ep, the initiator's endpoint
 *   wc_flags    <- IBV_WC_WITH_IMM when UET_CQE_F_WITH_DATA is set, with
 *                  imm_data = the low 32 bits of header_data in network
 *                  byte order
 *   slid, sl, pkey_index, dlid_path_bits <- 0
 *
 * job_id, src_fa, the upper half of header_data and match_bits have no
 * ibv_wc field.
 */
static void uet_cqe_to_wc(const struct uet_cqe *cqe, struct ibv_wc *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status <= IBV_WC_GENERAL_ERR ? cqe->status :
							 IBV_WC_GENERAL_ERR;
	wc->vendor_err = cqe->uet_rc;
	wc->byte_len = cqe->byte_len;
	wc->qp_num = cqe->ep_num;
	wc->src_qp = cqe->src_ep;

	switch (cqe->opcode) {
	case UET_CQE_OP_SEND:
	case UET_CQE_OP_TAGGED_SEND:
		wc->opcode = IBV_WC_SEND;
		break;
	case UET_CQE_OP_RECV:
	case UET_CQE_OP_TAGGED_RECV:
		wc->opcode = IBV_WC_RECV;
		break;
	case UET_CQE_OP_WRITE:
		wc->opcode = (cqe->flags & UET_CQE_F_WITH_DATA) ?
				     IBV_WC_RECV_RDMA_WITH_IMM :
				     IBV_WC_RDMA_WRITE;
		break;
	case UET_CQE_OP_READ:
		wc->opcode = IBV_WC_RDMA_READ;
		break;
	case UET_CQE_OP_ATOMIC:
		wc->opcode = IBV_WC_FETCH_ADD;
		break;
	default:
		if (wc->status == IBV_WC_SUCCESS)
			wc->status = IBV_WC_GENERAL_ERR;
		break;
	}

	if (cqe->flags & UET_CQE_F_WITH_DATA) {
		wc->wc_flags |= IBV_WC_WITH_IMM;
		wc->imm_data = htobe32((uint32_t)cqe->header_data);
	}
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
	for (i = 0; i < n; i++)
		uet_cqe_to_wc(&cq->cqes[(cq->cons_idx + i) &
					(cq->num_entries - 1)],
			      &wc[i]);

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
