// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libuet endpoints: reliable unconnected (RU) queue pairs whose send and
 * receive queues are rings mapped from the device. Posting writes
 * descriptors (struct uet_sqe / uet_rqe) into a ring, publishes the
 * producer index and rings the doorbell, a POST_SEND or POST_RECV uverbs
 * command without work requests. Also: address handles (user-space
 * objects naming a peer endpoint), the ibv_qp_ex work request builders,
 * tagged sends and receives.
 */

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <ccan/minmax.h>
#include <util/util.h>

#include "uet.h"

/* the send flags an endpoint understands; SOLICITED is accepted, unused */
#define UET_SEND_FLAGS (IBV_SEND_SIGNALED | IBV_SEND_INLINE | \
			IBV_SEND_SOLICITED)
/* RU QPs also: sends complete once the target acknowledged them anyway */
#define UET_RU_SEND_FLAGS (UET_SEND_FLAGS | IBV_SEND_SGE64 | \
			   IBV_SEND_DELIVERY_COMPLETE)

#define UET_SEND_OPS (IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM | \
		      IBV_QP_EX_WITH_RDMA_WRITE | \
		      IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM | \
		      IBV_QP_EX_WITH_RDMA_READ | \
		      IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | \
		      IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD | \
		      IBV_QP_EX_WITH_SEND_WITH_IMM64 | \
		      IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM64 | \
		      IBV_QP_EX_WITH_RDMA_WRITE64 | \
		      IBV_QP_EX_WITH_RDMA_READ64 | \
		      IBV_QP_EX_WITH_RDMA_WRITE64_WITH_IMM | \
		      IBV_QP_EX_WITH_RDMA_WRITE64_WITH_IMM64)

/* what an RU QP's create may say besides the PD and send ops */
#define UET_RU_QP_INIT_ATTRS (IBV_QP_INIT_ATTR_QP_ATTR | \
			      IBV_QP_INIT_ATTR_QP_SEMANTICS | \
			      IBV_QP_INIT_ATTR_SRC_ID | IBV_QP_INIT_ATTR_JKEY)

static uint32_t load_acquire(const uint32_t *p)
{
	return atomic_load_explicit((_Atomic(uint32_t) *)p,
				    memory_order_acquire);
}

static void store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic(uint32_t) *)p, v, memory_order_release);
}

/* ------------------------------------------------------------- rings */

static int uet_wq_map(struct ibv_context *ibvctx, struct uet_wq *wq,
		      uint64_t key, uint64_t size, uint32_t entries,
		      uint32_t entry_size, uint32_t max_sge)
{
	uint64_t need = UET_WQ_RING_ENTRIES_OFFSET +
			(uint64_t)entries * entry_size;
	int err;

	/* a ring we cannot index safely is the kernel's bug, not ours */
	if (!entries || (entries & (entries - 1)) || size < need ||
	    size > SIZE_MAX) {
		verbs_err(verbs_get_ctx(ibvctx),
			  "bad work queue ring: %u entries in %llu bytes\n",
			  entries, (unsigned long long)size);
		return EPROTO;
	}

	wq->ring_size = size;
	wq->ring = mmap(NULL, wq->ring_size, PROT_READ | PROT_WRITE,
			MAP_SHARED, ibvctx->cmd_fd, key);
	if (wq->ring == MAP_FAILED) {
		err = errno;
		wq->ring = NULL;
		verbs_err(verbs_get_ctx(ibvctx),
			  "work queue ring mmap failed: %d\n", err);
		return err;
	}
	wq->hdr = wq->ring;
	wq->entries = (uint8_t *)wq->ring + UET_WQ_RING_ENTRIES_OFFSET;
	wq->num_entries = entries;
	wq->entry_size = entry_size;
	wq->max_sge = max_sge;
	wq->prod_idx = atomic_load_explicit(
		(_Atomic(uint32_t) *)&wq->hdr->prod_idx, memory_order_relaxed);

	err = pthread_spin_init(&wq->lock, PTHREAD_PROCESS_PRIVATE);
	if (err) {
		munmap(wq->ring, wq->ring_size);
		wq->ring = NULL;
		return err;
	}
	return 0;
}

static void uet_wq_unmap(struct uet_wq *wq)
{
	if (!wq->ring)
		return;
	munmap(wq->ring, wq->ring_size);
	pthread_spin_destroy(&wq->lock);
	wq->ring = NULL;
}

/* free slots: the device's consumer index is read with acquire, so the
 * slots it released are no longer read by it */
static uint32_t uet_wq_free(struct uet_wq *wq)
{
	uint32_t used = wq->prod_idx - load_acquire(&wq->hdr->cons_idx);

	return used >= wq->num_entries ? 0 : wq->num_entries - used;
}

static void *uet_wq_slot(struct uet_wq *wq, uint32_t idx)
{
	return wq->entries +
	       (size_t)(idx & (wq->num_entries - 1)) * wq->entry_size;
}

/* makes n more written entries visible to the device */
static void uet_wq_publish(struct uet_wq *wq, uint32_t n)
{
	wq->prod_idx += n;
	store_release(&wq->hdr->prod_idx, wq->prod_idx);
}

static int uet_ring_sq_doorbell(struct uet_qp *qp)
{
	struct ibv_send_wr *bad;

	return ibv_cmd_post_send(&qp->vqp.qp, NULL, &bad);
}

static int uet_ring_rq_doorbell(struct uet_qp *qp)
{
	struct ibv_recv_wr *bad;

	return ibv_cmd_post_recv(&qp->vqp.qp, NULL, &bad);
}

/*
 * After a doorbell: the requests published before it are posted whatever
 * it returned. Once the producer index is out, the device may fetch them
 * at any time (it also fetches without a doorbell when completions free
 * room), so they complete, flushed if the endpoint is in error, or the
 * device is gone (IBV_EVENT_DEVICE_FATAL) and nothing completes any more.
 * Reporting them as not posted would make a caller that trusts bad_wr see
 * completions of requests it was told were refused. The doorbell fails
 * only when the device is gone (EIO), the job was revoked (EIO, after the
 * device flushed what was published) or the ring's indexes were
 * overwritten (EINVAL): logged, not returned.
 */
static void uet_doorbell_done(struct uet_qp *qp, int err, const char *queue)
{
	struct verbs_context *vctx = verbs_get_ctx(qp->vqp.qp.context);

	if (err == EINVAL)
		/* user space overwrote the ring's indexes: nothing is fetched
		 * until it publishes a sane producer index again */
		verbs_warn(vctx, "QP %u: %s doorbell: ring indexes out of range\n",
			   qp->vqp.qp.qp_num, queue);
	else if (err)
		verbs_debug(vctx, "QP %u: %s doorbell: %s; the requests stay posted\n",
			    qp->vqp.qp.qp_num, queue, strerror(err));
}

/* --------------------------------------------------- send descriptors */

/* the destination: a uet address handle and the peer's QP number */
int uet_sqe_set_dest(struct uet_qp *qp, struct uet_sqe *sqe,
			    struct ibv_ah *ah, uint32_t remote_qpn)
{
	struct uet_ah *uah;

	if (!ah || ah->context != qp->vqp.qp.context)
		return EINVAL;
	uah = to_uet_ah(ah);
	if (uah->extended) {
		/* the handle names the endpoint; a QP number may repeat it */
		if (remote_qpn && remote_qpn != uah->ah_ex.remote_qpn)
			return EINVAL;
		remote_qpn = uah->ah_ex.remote_qpn;
	}
	/* QP numbers are 24 bits (PIDonFEP, resource index) */
	if (remote_qpn >> 24)
		return EINVAL;
	memcpy(sqe->dst_addr, uah->dst_addr, sizeof(sqe->dst_addr));
	sqe->dst_qpn = remote_qpn;
	return 0;
}

/* reads and fetching atomics fill their SGEs: no inline data */
static bool uet_sqe_takes_inline(const struct uet_sqe *sqe)
{
	return sqe->opcode <= UET_SQE_OP_WRITE;
}

static int uet_sqe_set_sges(struct uet_qp *qp, struct uet_sqe *sqe,
			    const struct ibv_sge *sg, size_t num_sge)
{
	uint64_t total = 0;
	size_t i;

	if (num_sge > qp->sq.max_sge || num_sge > UET_SQE_MAX_SGE)
		return EINVAL;
	/* a non-fetching add has no local buffer */
	if (sqe->opcode == UET_SQE_OP_ATOMIC_ADD && num_sge)
		return EINVAL;
	for (i = 0; i < num_sge; i++) {
		total += sg[i].length;
		sqe->sge[i].addr = sg[i].addr;
		sqe->sge[i].length = sg[i].length;
		sqe->sge[i].lkey = sg[i].lkey;
	}
	if (total > qp->max_msg_size)
		return EINVAL;
	sqe->num_sge = num_sge;
	sqe->flags &= ~UET_SQE_F_INLINE;
	sqe->length = 0;
	return 0;
}

static int uet_sqe_set_inline(struct uet_qp *qp, struct uet_sqe *sqe,
			      const struct ibv_data_buf *buf, size_t num_buf)
{
	size_t i, total = 0;

	if (!uet_sqe_takes_inline(sqe))
		return EINVAL;
	for (i = 0; i < num_buf; i++) {
		if (buf[i].length > qp->max_inline - total)
			return EINVAL;
		total += buf[i].length;
	}
	/* the SGEs share the inline bytes: clear what a setter left */
	memset(sqe->inline_data, 0, sizeof(sqe->inline_data));
	total = 0;
	for (i = 0; i < num_buf; i++) {
		memcpy(sqe->inline_data + total, buf[i].addr, buf[i].length);
		total += buf[i].length;
	}
	sqe->num_sge = 0;
	sqe->flags |= UET_SQE_F_INLINE;
	sqe->length = total;
	return 0;
}

/* the gather list of an ibv_send_wr: 32-bit keys, or 64-bit (SGE64) */
static int uet_sqe_wr_sges(struct uet_qp *qp, const struct ibv_send_wr *wr,
			   struct uet_sqe *sqe)
{
	struct ibv_data_buf bufs[UET_SQE_MAX_INLINE];
	struct ibv_sge sges[UET_SQE_MAX_SGE];
	int i;

	if (wr->num_sge < 0)
		return EINVAL;
	if (wr->send_flags & IBV_SEND_INLINE) {
		/* inline: the SGEs are copied, their keys are not checked */
		if (wr->num_sge > UET_SQE_MAX_INLINE)
			return EINVAL;
		for (i = 0; i < wr->num_sge; i++) {
			if (wr->send_flags & IBV_SEND_SGE64) {
				bufs[i].addr = (void *)(uintptr_t)
					wr->sg64_list[i].addr;
				bufs[i].length = wr->sg64_list[i].length;
			} else {
				bufs[i].addr = (void *)(uintptr_t)
					wr->sg_list[i].addr;
				bufs[i].length = wr->sg_list[i].length;
			}
		}
		return uet_sqe_set_inline(qp, sqe, bufs, wr->num_sge);
	}
	if (!(wr->send_flags & IBV_SEND_SGE64))
		return uet_sqe_set_sges(qp, sqe, wr->sg_list, wr->num_sge);
	if (wr->num_sge > UET_SQE_MAX_SGE)
		return EINVAL;
	for (i = 0; i < wr->num_sge; i++) {
		/* local keys are 32 bits wide here */
		if (wr->sg64_list[i].lkey64 >> 32)
			return EINVAL;
		sges[i].addr = wr->sg64_list[i].addr;
		sges[i].length = wr->sg64_list[i].length;
		sges[i].lkey = wr->sg64_list[i].lkey64;
	}
	return uet_sqe_set_sges(qp, sqe, sges, wr->num_sge);
}

/*
 * An ibv_send_wr of an RU QP: the destination and job key in wr.ru, or
 * in wr.ru_rdma with the remote memory (which has room for both).
 */
static int uet_sqe_from_ru_wr(struct uet_qp *qp, const struct ibv_send_wr *wr,
			      struct uet_sqe *sqe)
{
	bool rma = false;
	int err;

	if (wr->send_flags & ~UET_RU_SEND_FLAGS)
		return EINVAL;
	sqe->wr_id = wr->wr_id;
	switch (wr->opcode) {
	case IBV_WR_SEND:
		sqe->opcode = UET_SQE_OP_SEND;
		break;
	case IBV_WR_SEND_WITH_IMM:
		sqe->opcode = UET_SQE_OP_SEND;
		sqe->flags |= UET_SQE_F_WITH_DATA;
		sqe->header_data = be32toh(wr->imm_data);
		break;
	case IBV_WR_RDMA_WRITE:
		sqe->opcode = UET_SQE_OP_WRITE;
		rma = true;
		break;
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		sqe->opcode = UET_SQE_OP_WRITE;
		sqe->flags |= UET_SQE_F_WITH_DATA;
		sqe->header_data = be32toh(wr->imm_data);
		rma = true;
		break;
	case IBV_WR_RDMA_READ:
		sqe->opcode = UET_SQE_OP_READ;
		rma = true;
		break;
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		/* wr.ru_rdma has no operands: ibv_wr_atomic_*() */
		return EOPNOTSUPP;
	default:
		return EINVAL;
	}
	if (qp->sq_sig_all || (wr->send_flags & IBV_SEND_SIGNALED))
		sqe->flags |= UET_SQE_F_SIGNALED;
	/* wr.ru is the head of wr.ru_rdma */
	if (wr->wr.ru.jkey) {
		err = uet_ru_check_jkey(qp, wr->wr.ru.jkey);
		if (err)
			return err;
	}
	err = uet_ru_set_dest(qp, sqe, wr->wr.ru.ah, wr->wr.ru.addr_idx);
	if (err)
		return err;
	if (rma) {
		uint64_t rkey64 = wr->wr.ru_rdma.rkey64;
		uint32_t rkey = wr->wr.ru_rdma.rkey;

		/*
		 * Remote keys are 32 bits wide here (no IBV_DEVICE_KEY64),
		 * but a caller may fill either field (the proposal's ru_rma
		 * fills only rkey64): rkey64 when set, and it must fit in
		 * 32 bits and agree with rkey if both are set.
		 */
		if (rkey64) {
			if (rkey64 >> 32)
				return EINVAL;
			if (rkey && rkey != rkey64)
				return EINVAL;
			rkey = rkey64;
		}
		sqe->remote_key = rkey;
		sqe->remote_addr = wr->wr.ru_rdma.remote_addr;
	}
	return uet_sqe_wr_sges(qp, wr, sqe);
}

/* an ibv_send_wr as a descriptor in a zeroed slot */
static int uet_sqe_from_wr(struct uet_qp *qp, const struct ibv_send_wr *wr,
			   struct uet_sqe *sqe)
{
	struct ibv_data_buf bufs[UET_SQE_MAX_INLINE];
	int err, i;

	if (qp->vqp.qp.qp_type == IBV_QPT_RU)
		return uet_sqe_from_ru_wr(qp, wr, sqe);
	if (wr->send_flags & ~UET_SEND_FLAGS)
		return EINVAL;

	sqe->wr_id = wr->wr_id;
	sqe->opcode = UET_SQE_OP_SEND;
	switch (wr->opcode) {
	case IBV_WR_SEND:
		break;
	case IBV_WR_SEND_WITH_IMM:
		sqe->flags |= UET_SQE_F_WITH_DATA;
		sqe->header_data = be32toh(wr->imm_data);
		break;
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		/*
		 * An endpoint is unconnected: RMA names the peer endpoint and
		 * its memory, and ibv_send_wr has room for one of wr.ud and
		 * wr.rdma. As on mlx5 DC initiators, these go through the
		 * ibv_wr_*() API with ibv_wr_set_ud_addr().
		 */
		return EOPNOTSUPP;
	default:
		return EINVAL;
	}
	if (qp->sq_sig_all || (wr->send_flags & IBV_SEND_SIGNALED))
		sqe->flags |= UET_SQE_F_SIGNALED;

	err = uet_sqe_set_dest(qp, sqe, wr->wr.ud.ah, wr->wr.ud.remote_qpn);
	if (err)
		return err;

	if (wr->num_sge < 0)
		return EINVAL;
	if (!(wr->send_flags & IBV_SEND_INLINE))
		return uet_sqe_set_sges(qp, sqe, wr->sg_list, wr->num_sge);

	/* inline: the SGEs are copied, their keys are not checked */
	if (wr->num_sge > UET_SQE_MAX_INLINE)
		return EINVAL;
	for (i = 0; i < wr->num_sge; i++) {
		bufs[i].addr = (void *)(uintptr_t)wr->sg_list[i].addr;
		bufs[i].length = wr->sg_list[i].length;
	}
	return uet_sqe_set_inline(qp, sqe, bufs, wr->num_sge);
}

int uet_post_send(struct ibv_qp *ibvqp, struct ibv_send_wr *wr,
		  struct ibv_send_wr **bad_wr)
{
	struct uet_qp *qp = to_uet_qp(ibvqp);
	uint32_t room, n = 0;
	int err = 0;

	pthread_spin_lock(&qp->sq.lock);
	room = uet_wq_free(&qp->sq);
	for (; wr; wr = wr->next, n++) {
		struct uet_sqe *sqe;

		if (n == room) {
			err = ENOMEM;
			break;
		}
		sqe = uet_wq_slot(&qp->sq, qp->sq.prod_idx + n);
		memset(sqe, 0, sizeof(*sqe));
		err = uet_sqe_from_wr(qp, wr, sqe);
		if (err)
			break;
	}
	if (n)
		uet_wq_publish(&qp->sq, n);
	pthread_spin_unlock(&qp->sq.lock);

	if (err)
		*bad_wr = wr;
	if (!n)
		return err;

	uet_doorbell_done(qp, uet_ring_sq_doorbell(qp), "send");
	return err;
}

/* ------------------------------------------------ receive descriptors */

static int uet_rqe_from_wr(struct uet_qp *qp, const struct ibv_recv_wr *wr,
			   struct uet_rqe *rqe)
{
	int i;

	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->rq.max_sge ||
	    wr->num_sge > UET_RQE_MAX_SGE)
		return EINVAL;
	rqe->wr_id = wr->wr_id;
	rqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		rqe->sge[i].addr = wr->sg_list[i].addr;
		rqe->sge[i].length = wr->sg_list[i].length;
		rqe->sge[i].lkey = wr->sg_list[i].lkey;
	}
	return 0;
}

static int uet_post_recv_common(struct uet_qp *qp, struct ibv_recv_wr *wr,
				bool tagged, uint64_t match_bits,
				uint64_t ignore_bits,
				struct ibv_recv_wr **bad_wr)
{
	uint32_t room, n = 0;
	int err = 0;

	pthread_spin_lock(&qp->rq.lock);
	room = uet_wq_free(&qp->rq);
	for (; wr; wr = wr->next, n++) {
		struct uet_rqe *rqe;

		if (n == room) {
			err = ENOMEM;
			break;
		}
		rqe = uet_wq_slot(&qp->rq, qp->rq.prod_idx + n);
		memset(rqe, 0, sizeof(*rqe));
		err = uet_rqe_from_wr(qp, wr, rqe);
		if (err)
			break;
		if (tagged) {
			rqe->flags = UET_RQE_F_TAGGED;
			rqe->match_bits = match_bits;
			rqe->ignore_bits = ignore_bits;
		}
	}
	if (n)
		uet_wq_publish(&qp->rq, n);
	pthread_spin_unlock(&qp->rq.lock);

	if (err)
		*bad_wr = wr;
	if (!n)
		return err;

	uet_doorbell_done(qp, uet_ring_rq_doorbell(qp), "receive");
	return err;
}

int uet_post_recv(struct ibv_qp *ibvqp, struct ibv_recv_wr *wr,
		  struct ibv_recv_wr **bad_wr)
{
	return uet_post_recv_common(to_uet_qp(ibvqp), wr, false, 0, 0, bad_wr);
}

int uetdv_post_tagged_recv(struct ibv_qp *ibvqp, struct ibv_recv_wr *wr,
			   uint64_t match_bits, uint64_t ignore_bits,
			   struct ibv_recv_wr **bad_wr)
{
	if (!is_uet_dev(ibvqp->context->device) ||
	    (ibvqp->qp_type != IBV_QPT_DRIVER &&
	     ibvqp->qp_type != IBV_QPT_RU)) {
		*bad_wr = wr;
		return EOPNOTSUPP;
	}
	if (!wr || wr->next) {
		*bad_wr = wr;
		return EINVAL;
	}
	return uet_post_recv_common(to_uet_qp(ibvqp), wr, true, match_bits,
				    ignore_bits, bad_wr);
}

/* ------------------------------------------- ibv_qp_ex work requests */

/*
 * Between wr_start and wr_complete the send ring's lock is held and each
 * builder writes a descriptor into the next unpublished slot; wr_complete
 * publishes them all at once (or none, if any of them was invalid) and
 * rings the doorbell once; wr_abort forgets them.
 */
static void uet_wr_start(struct ibv_qp_ex *qpx)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);

	pthread_spin_lock(&qp->sq.lock);
	qp->wr_cur = NULL;
	qp->wr_count = 0;
	qp->wr_err = 0;
	qp->wr_has_dest = false;
}

/* the previous request must have been given a destination */
static void uet_wr_close(struct uet_qp *qp)
{
	if (qp->wr_cur && !qp->wr_has_dest && !qp->wr_err)
		qp->wr_err = EINVAL;
	qp->wr_cur = NULL;
}

static struct uet_sqe *uet_wr_begin(struct uet_qp *qp, uint8_t opcode)
{
	struct ibv_qp_ex *qpx = &qp->vqp.qp_ex;
	struct uet_sqe *sqe;

	uet_wr_close(qp);
	if (qp->wr_err)
		return NULL;
	if (qp->wr_count >= uet_wq_free(&qp->sq)) {
		qp->wr_err = ENOMEM;
		return NULL;
	}
	if (qpx->wr_flags & ~(qp->vqp.qp.qp_type == IBV_QPT_RU ?
			      UET_RU_SEND_FLAGS & ~IBV_SEND_SGE64 :
			      UET_SEND_FLAGS)) {
		qp->wr_err = EINVAL;
		return NULL;
	}
	sqe = uet_wq_slot(&qp->sq, qp->sq.prod_idx + qp->wr_count);
	memset(sqe, 0, sizeof(*sqe));
	sqe->wr_id = qpx->wr_id;
	sqe->opcode = opcode;
	if (qp->sq_sig_all || (qpx->wr_flags & IBV_SEND_SIGNALED))
		sqe->flags |= UET_SQE_F_SIGNALED;
	qp->wr_count++;
	qp->wr_cur = sqe;
	qp->wr_has_dest = false;
	return sqe;
}

static void uet_wr_send(struct ibv_qp_ex *qpx)
{
	uet_wr_begin(to_uet_qp_ex(qpx), UET_SQE_OP_SEND);
}

static void uet_wr_send_imm(struct ibv_qp_ex *qpx, __be32 imm_data)
{
	struct uet_sqe *sqe = uet_wr_begin(to_uet_qp_ex(qpx),
					   UET_SQE_OP_SEND);

	if (!sqe)
		return;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = be32toh(imm_data);
}

/* RMA and atomics: the peer's memory key and an address in its region */
static struct uet_sqe *uet_wr_begin_rma(struct uet_qp *qp, uint8_t opcode,
					uint64_t rkey, uint64_t remote_addr)
{
	struct uet_sqe *sqe = uet_wr_begin(qp, opcode);

	if (!sqe)
		return NULL;
	sqe->remote_key = rkey;
	sqe->remote_addr = remote_addr;
	return sqe;
}

static void uet_wr_rdma_write(struct ibv_qp_ex *qpx, uint32_t rkey,
			      uint64_t remote_addr)
{
	uet_wr_begin_rma(to_uet_qp_ex(qpx), UET_SQE_OP_WRITE, rkey,
			 remote_addr);
}

static void uet_wr_rdma_write_imm(struct ibv_qp_ex *qpx, uint32_t rkey,
				  uint64_t remote_addr, __be32 imm_data)
{
	struct uet_sqe *sqe = uet_wr_begin_rma(to_uet_qp_ex(qpx),
					       UET_SQE_OP_WRITE, rkey,
					       remote_addr);

	if (!sqe)
		return;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = be32toh(imm_data);
}

static void uet_wr_rdma_read(struct ibv_qp_ex *qpx, uint32_t rkey,
			     uint64_t remote_addr)
{
	uet_wr_begin_rma(to_uet_qp_ex(qpx), UET_SQE_OP_READ, rkey,
			 remote_addr);
}

static void uet_wr_atomic_fetch_add(struct ibv_qp_ex *qpx, uint32_t rkey,
				    uint64_t remote_addr, uint64_t add)
{
	struct uet_sqe *sqe = uet_wr_begin_rma(to_uet_qp_ex(qpx),
					       UET_SQE_OP_ATOMIC_FETCH_ADD,
					       rkey, remote_addr);

	if (sqe)
		sqe->compare_add = add;
}

static void uet_wr_atomic_cmp_swp(struct ibv_qp_ex *qpx, uint32_t rkey,
				  uint64_t remote_addr, uint64_t compare,
				  uint64_t swap)
{
	struct uet_sqe *sqe = uet_wr_begin_rma(to_uet_qp_ex(qpx),
					       UET_SQE_OP_ATOMIC_CMP_SWP,
					       rkey, remote_addr);

	if (!sqe)
		return;
	sqe->compare_add = compare;
	sqe->swap = swap;
}

static void uet_wr_set_ud_addr(struct ibv_qp_ex *qpx, struct ibv_ah *ah,
			       uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);
	int err;

	if (!qp->wr_cur)
		return;
	err = uet_sqe_set_dest(qp, qp->wr_cur, ah, remote_qpn);
	if (err && !qp->wr_err)
		qp->wr_err = err;
	else if (!err)
		qp->wr_has_dest = true;
}

static void uet_wr_set_sge_list(struct ibv_qp_ex *qpx, size_t num_sge,
				const struct ibv_sge *sg_list)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);
	int err;

	if (!qp->wr_cur)
		return;
	err = uet_sqe_set_sges(qp, qp->wr_cur, sg_list, num_sge);
	if (err && !qp->wr_err)
		qp->wr_err = err;
}

static void uet_wr_set_sge(struct ibv_qp_ex *qpx, uint32_t lkey,
			   uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	uet_wr_set_sge_list(qpx, 1, &sge);
}

static void uet_wr_set_inline_data_list(struct ibv_qp_ex *qpx,
					size_t num_buf,
					const struct ibv_data_buf *buf_list)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);
	int err;

	if (!qp->wr_cur)
		return;
	err = uet_sqe_set_inline(qp, qp->wr_cur, buf_list, num_buf);
	if (err && !qp->wr_err)
		qp->wr_err = err;
}

static void uet_wr_set_inline_data(struct ibv_qp_ex *qpx, void *addr,
				   size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	uet_wr_set_inline_data_list(qpx, 1, &buf);
}

static int uet_wr_complete(struct ibv_qp_ex *qpx)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);
	uint32_t n;
	int err;

	uet_wr_close(qp);
	err = qp->wr_err;
	n = err ? 0 : qp->wr_count;
	if (n)
		uet_wq_publish(&qp->sq, n);
	qp->wr_count = 0;
	pthread_spin_unlock(&qp->sq.lock);

	if (n)
		uet_doorbell_done(qp, uet_ring_sq_doorbell(qp), "send");
	return err;
}

static void uet_wr_abort(struct ibv_qp_ex *qpx)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);

	qp->wr_cur = NULL;
	qp->wr_count = 0;
	qp->wr_err = 0;
	pthread_spin_unlock(&qp->sq.lock);
}

/* the uetdv builders check that qpx is one of ours: they cannot fail */
static struct uet_qp *uetdv_qpx(struct ibv_qp_ex *qpx)
{
	if (!qpx || !is_uet_dev(qpx->qp_base.context->device) ||
	    (qpx->qp_base.qp_type != IBV_QPT_DRIVER &&
	     qpx->qp_base.qp_type != IBV_QPT_RU))
		return NULL;
	return to_uet_qp_ex(qpx);
}

void uetdv_wr_set_ru_addr(struct ibv_qp_ex *qpx, struct uetdv_ah_ex *ah,
			  unsigned int addr_idx)
{
	struct uet_qp *qp = uetdv_qpx(qpx);

	if (!qp || !qp->wr_cur)
		return;
	if (!ah) {
		/* no job address table: a destination needs a handle */
		if (!qp->wr_err)
			qp->wr_err = EOPNOTSUPP;
		return;
	}
	uet_wr_set_ud_addr(qpx, &ah->ah, 0, 0);
}

void uetdv_wr_send_imm64(struct ibv_qp_ex *qpx, __be64 imm_data)
{
	struct uet_qp *qp = uetdv_qpx(qpx);
	struct uet_sqe *sqe;

	if (!qp)
		return;
	sqe = uet_wr_begin(qp, UET_SQE_OP_SEND);
	if (!sqe)
		return;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = be64toh(imm_data);
}

void uetdv_wr_rdma_write_data(struct ibv_qp_ex *qpx, uint32_t rkey,
			      uint64_t remote_addr, uint64_t header_data)
{
	struct uet_qp *qp = uetdv_qpx(qpx);
	struct uet_sqe *sqe;

	if (!qp)
		return;
	sqe = uet_wr_begin_rma(qp, UET_SQE_OP_WRITE, rkey, remote_addr);
	if (!sqe)
		return;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = header_data;
}

void uetdv_wr_atomic_add(struct ibv_qp_ex *qpx, uint32_t rkey,
			 uint64_t remote_addr, uint64_t add)
{
	struct uet_qp *qp = uetdv_qpx(qpx);
	struct uet_sqe *sqe;

	if (!qp)
		return;
	sqe = uet_wr_begin_rma(qp, UET_SQE_OP_ATOMIC_ADD, rkey, remote_addr);
	if (sqe)
		sqe->compare_add = add;
}

void uetdv_wr_tagged_send(struct ibv_qp_ex *qpx, uint64_t match_bits)
{
	struct uet_qp *qp = uetdv_qpx(qpx);
	struct uet_sqe *sqe;

	if (!qp)
		return;
	sqe = uet_wr_begin(qp, UET_SQE_OP_TAGGED_SEND);
	if (sqe)
		sqe->match_bits = match_bits;
}

void uetdv_wr_tagged_send_data(struct ibv_qp_ex *qpx, uint64_t match_bits,
			       uint64_t header_data)
{
	struct uet_qp *qp = uetdv_qpx(qpx);
	struct uet_sqe *sqe;

	if (!qp)
		return;
	sqe = uet_wr_begin(qp, UET_SQE_OP_TAGGED_SEND);
	if (!sqe)
		return;
	sqe->match_bits = match_bits;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = header_data;
}

/* the proposal's builders (ibv_wr_post(3)) for RU QPs */
static void uet_wr_set_error(struct uet_qp *qp, int err)
{
	if (err && !qp->wr_err)
		qp->wr_err = err;
}

static void uet_wr_set_ru_addr(struct ibv_qp_ex *qpx, struct ibv_ah_ex *ah,
			       unsigned int addr_idx)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);
	int err;

	if (!qp->wr_cur)
		return;
	err = uet_ru_set_dest(qp, qp->wr_cur, ah, addr_idx);
	uet_wr_set_error(qp, err);
	if (!err)
		qp->wr_has_dest = true;
}

static void uet_wr_set_job_key(struct ibv_qp_ex *qpx, uint32_t jkey)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);

	/* 0: the QP's job, the only one its requests can carry */
	if (qp->wr_cur && jkey)
		uet_wr_set_error(qp, uet_ru_check_jkey(qp, jkey));
}

static void uet_wr_send_imm64(struct ibv_qp_ex *qpx, __be64 imm_data)
{
	struct uet_sqe *sqe = uet_wr_begin(to_uet_qp_ex(qpx),
					   UET_SQE_OP_SEND);

	if (!sqe)
		return;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = be64toh(imm_data);
}

/* RMA with a 64-bit key: keys are 32 bits wide on this device */
static struct uet_sqe *uet_wr_begin_rma64(struct uet_qp *qp, uint8_t opcode,
					  uint64_t rkey, uint64_t remote_addr)
{
	struct uet_sqe *sqe = uet_wr_begin_rma(qp, opcode, rkey, remote_addr);

	if (sqe && (rkey >> 32))
		uet_wr_set_error(qp, EINVAL);
	return sqe;
}

static void uet_wr_rdma_read64(struct ibv_qp_ex *qpx, uint64_t rkey,
			       uint64_t remote_addr)
{
	uet_wr_begin_rma64(to_uet_qp_ex(qpx), UET_SQE_OP_READ, rkey,
			   remote_addr);
}

static void uet_wr_rdma_write64(struct ibv_qp_ex *qpx, uint64_t rkey,
				uint64_t remote_addr)
{
	uet_wr_begin_rma64(to_uet_qp_ex(qpx), UET_SQE_OP_WRITE, rkey,
			   remote_addr);
}

static void uet_wr_rdma_write_data(struct uet_qp *qp, uint64_t rkey,
				   uint64_t remote_addr, uint64_t data)
{
	struct uet_sqe *sqe = uet_wr_begin_rma64(qp, UET_SQE_OP_WRITE, rkey,
						 remote_addr);

	if (!sqe)
		return;
	sqe->flags |= UET_SQE_F_WITH_DATA;
	sqe->header_data = data;
}

static void uet_wr_rdma_write_imm64(struct ibv_qp_ex *qpx, uint32_t rkey,
				    uint64_t remote_addr, __be64 imm_data)
{
	uet_wr_rdma_write_data(to_uet_qp_ex(qpx), rkey, remote_addr,
			       be64toh(imm_data));
}

static void uet_wr_rdma_write64_imm(struct ibv_qp_ex *qpx, uint64_t rkey,
				    uint64_t remote_addr, __be32 imm_data)
{
	uet_wr_rdma_write_data(to_uet_qp_ex(qpx), rkey, remote_addr,
			       be32toh(imm_data));
}

static void uet_wr_rdma_write64_imm64(struct ibv_qp_ex *qpx, uint64_t rkey,
				      uint64_t remote_addr, __be64 imm_data)
{
	uet_wr_rdma_write_data(to_uet_qp_ex(qpx), rkey, remote_addr,
			       be64toh(imm_data));
}

static void uet_wr_set_sge64_list(struct ibv_qp_ex *qpx, size_t num_sge,
				  const struct ibv_sge64 *sg_list)
{
	struct uet_qp *qp = to_uet_qp_ex(qpx);
	struct ibv_sge sges[UET_SQE_MAX_SGE];
	size_t i;

	if (!qp->wr_cur)
		return;
	if (num_sge > UET_SQE_MAX_SGE) {
		uet_wr_set_error(qp, EINVAL);
		return;
	}
	for (i = 0; i < num_sge; i++) {
		if (sg_list[i].lkey64 >> 32) {
			uet_wr_set_error(qp, EINVAL);
			return;
		}
		sges[i].addr = sg_list[i].addr;
		sges[i].length = sg_list[i].length;
		sges[i].lkey = sg_list[i].lkey64;
	}
	uet_wr_set_sge_list(qpx, num_sge, sges);
}

static void uet_wr_set_sge64(struct ibv_qp_ex *qpx, uint64_t lkey,
			     uint64_t addr, uint32_t length)
{
	struct ibv_sge64 sge = { .addr = addr, .length = length,
				 .lkey64 = lkey };

	uet_wr_set_sge64_list(qpx, 1, &sge);
}

static void uet_qp_fill_wr_ops(struct uet_qp *qp)
{
	struct ibv_qp_ex *qpx = &qp->vqp.qp_ex;

	qpx->wr_set_ru_addr = uet_wr_set_ru_addr;
	qpx->wr_set_job_key = uet_wr_set_job_key;
	qpx->wr_send_imm64 = uet_wr_send_imm64;
	qpx->wr_rdma_read64 = uet_wr_rdma_read64;
	qpx->wr_rdma_write64 = uet_wr_rdma_write64;
	qpx->wr_rdma_write_imm64 = uet_wr_rdma_write_imm64;
	qpx->wr_rdma_write64_imm = uet_wr_rdma_write64_imm;
	qpx->wr_rdma_write64_imm64 = uet_wr_rdma_write64_imm64;
	qpx->wr_set_sge64 = uet_wr_set_sge64;
	qpx->wr_set_sge64_list = uet_wr_set_sge64_list;

	qpx->wr_send = uet_wr_send;
	qpx->wr_send_imm = uet_wr_send_imm;
	qpx->wr_rdma_write = uet_wr_rdma_write;
	qpx->wr_rdma_write_imm = uet_wr_rdma_write_imm;
	qpx->wr_rdma_read = uet_wr_rdma_read;
	qpx->wr_atomic_fetch_add = uet_wr_atomic_fetch_add;
	qpx->wr_atomic_cmp_swp = uet_wr_atomic_cmp_swp;
	qpx->wr_set_ud_addr = uet_wr_set_ud_addr;
	qpx->wr_set_inline_data = uet_wr_set_inline_data;
	qpx->wr_set_inline_data_list = uet_wr_set_inline_data_list;
	qpx->wr_set_sge = uet_wr_set_sge;
	qpx->wr_set_sge_list = uet_wr_set_sge_list;
	qpx->wr_start = uet_wr_start;
	qpx->wr_complete = uet_wr_complete;
	qpx->wr_abort = uet_wr_abort;
	/* ibv_qp_to_qp_ex() works on every endpoint */
	qp->vqp.comp_mask |= VERBS_QP_EX;
}

/* ------------------------------------------------------- queue pairs */

static struct ibv_qp *uet_create_qp_common(struct ibv_context *ibvctx,
					   struct ibv_qp_init_attr_ex *attr_ex,
					   const struct uetdv_qp_init_attr *uattr)
{
	struct uet_context *ctx = to_uet_context(ibvctx);
	struct uet_create_qp_resp resp = {};
	struct uet_create_qp cmd = {};
	struct uetdv_qp_init_attr ru_attr;
	struct ibv_qp_init_attr_ex attr;
	bool ru = attr_ex->qp_type == IBV_QPT_RU;
	struct uet_jkey *jkey = NULL;
	struct uet_qp *qp;
	int err;

	if (attr_ex->qp_type != IBV_QPT_DRIVER && !ru) {
		err = EOPNOTSUPP;
		goto err_out;
	}
	if (attr_ex->comp_mask & ~(IBV_QP_INIT_ATTR_PD |
				   IBV_QP_INIT_ATTR_SEND_OPS_FLAGS |
				   IBV_QP_INIT_ATTR_CREATE_FLAGS |
				   (ru ? UET_RU_QP_INIT_ATTRS : 0))) {
		err = EINVAL;
		goto err_out;
	}
	if (ru) {
		/* the proposal's IBV_QPT_RU: an RU endpoint of the context's
		 * job, its delivery mode from the semantics asked for */
		ru_attr = *uattr;
		err = uet_ru_qp_attr(ctx, attr_ex, &ru_attr.delivery_mode);
		if (err)
			goto err_out;
		uattr = &ru_attr;
	}
	if (!(attr_ex->comp_mask & IBV_QP_INIT_ATTR_PD) || !attr_ex->pd ||
	    !attr_ex->send_cq || !attr_ex->recv_cq || attr_ex->srq) {
		err = EINVAL;
		goto err_out;
	}
	if ((attr_ex->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    (attr_ex->send_ops_flags & ~UET_SEND_OPS)) {
		err = EOPNOTSUPP;
		goto err_out;
	}
	if ((attr_ex->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    (attr_ex->create_flags & ~IBV_QP_CREATE_SOURCE_QPN)) {
		err = EOPNOTSUPP;
		goto err_out;
	}
	if (attr_ex->cap.max_send_sge > UET_SQE_MAX_SGE ||
	    attr_ex->cap.max_recv_sge > UET_RQE_MAX_SGE ||
	    attr_ex->cap.max_inline_data > UET_SQE_MAX_INLINE) {
		err = EINVAL;
		goto err_out;
	}

	cmd.driver_qp_type = uattr->driver_qp_type;
	cmd.delivery_mode = uattr->delivery_mode;
	if (uattr->flags & UETDV_QP_INIT_FLAGS_QPN) {
		cmd.flags |= UET_CREATE_QP_F_QPN;
		cmd.qpn = uattr->qpn;
	}
	/* the proposal's way of choosing the QP number */
	if ((attr_ex->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    (attr_ex->create_flags & IBV_QP_CREATE_SOURCE_QPN)) {
		if ((cmd.flags & UET_CREATE_QP_F_QPN) &&
		    cmd.qpn != attr_ex->source_qpn) {
			err = EINVAL;
			goto err_out;
		}
		cmd.flags |= UET_CREATE_QP_F_QPN;
		cmd.qpn = attr_ex->source_qpn;
	}
	cmd.sqe_size = sizeof(struct uet_sqe);
	cmd.rqe_size = sizeof(struct uet_rqe);
	/* the proposal's source ID: the SES initiator field of the QP's
	 * requests, which receivers read with ibv_wc_read_src_id() */
	if (ru && (attr_ex->comp_mask & IBV_QP_INIT_ATTR_SRC_ID)) {
		cmd.comp_mask |= UET_CREATE_QP_MASK_INITIATOR;
		cmd.initiator = attr_ex->src_id;
	}

	/* the endpoint serves the context's job: the key must name it; it
	 * stays held (ibv_destroy_jkey() EBUSY) while the QP exists */
	if (ru && (attr_ex->comp_mask & IBV_QP_INIT_ATTR_JKEY)) {
		err = uet_ru_jkey_get(ctx, attr_ex->job_key, attr_ex->pd,
				      &jkey);
		if (err)
			goto err_out;
	}

	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		err = ENOMEM;
		goto err_out;
	}

	/*
	 * What ibv_cmd_create_qp_ex() knows; the rest went into cmd. Only
	 * the members up to send_ops_flags: a binary built before the RU
	 * members (qp_attr ... job_key) passes a struct that ends there,
	 * and the RU ones were read above only when comp_mask names them.
	 */
	memset(&attr, 0, sizeof(attr));
	memcpy(&attr, attr_ex, offsetof(struct ibv_qp_init_attr_ex, qp_attr));
	attr.comp_mask &= IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	attr.create_flags = 0;
	/* the kernel knows RU endpoints as driver QPs */
	attr.qp_type = IBV_QPT_DRIVER;
	err = ibv_cmd_create_qp_ex(ibvctx, &qp->vqp, &attr, &cmd.ibv_cmd,
				   sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (err) {
		verbs_debug(verbs_get_ctx(ibvctx), "create endpoint: %s\n",
			    strerror(err));
		goto err_free;
	}
	attr_ex->cap = attr.cap;
	qp->vqp.qp.qp_type = attr_ex->qp_type;
	if (ru)
		qp->job = uet_ru_qp_job(ctx);
	qp->jkey = jkey;

	qp->job_id = resp.job_id;
	qp->delivery_mode = uattr->delivery_mode;
	qp->max_inline = min_t(uint32_t, attr.cap.max_inline_data,
			       UET_SQE_MAX_INLINE);
	qp->max_msg_size = ctx->max_msg_size;
	qp->sq_sig_all = attr_ex->sq_sig_all;

	err = uet_wq_map(ibvctx, &qp->sq, resp.sq_mmap_key, resp.sq_mmap_size,
			 resp.sq_entries, sizeof(struct uet_sqe),
			 attr.cap.max_send_sge);
	if (err)
		goto err_destroy;
	err = uet_wq_map(ibvctx, &qp->rq, resp.rq_mmap_key, resp.rq_mmap_size,
			 resp.rq_entries, sizeof(struct uet_rqe),
			 attr.cap.max_recv_sge);
	if (err)
		goto err_unmap_sq;

	uet_qp_fill_wr_ops(qp);
	/* an endpoint is usable at once, without modify_qp */
	qp->vqp.qp.state = IBV_QPS_RTS;

	return &qp->vqp.qp;

err_unmap_sq:
	uet_wq_unmap(&qp->sq);
err_destroy:
	uet_ru_qp_job_put(ctx, qp->job);
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
err_out:
	uet_ru_jkey_put(ctx, jkey);
	errno = err;
	return NULL;
}

/* without uetdv attributes an IBV_QPT_DRIVER QP is an RU endpoint, RUD */
static const struct uetdv_qp_init_attr uet_default_qp_attr = {
	.driver_qp_type = UETDV_QP_TYPE_RU,
	.delivery_mode = UETDV_DM_RUD,
};

struct ibv_qp *uet_create_qp_ex(struct ibv_context *ibvctx,
				struct ibv_qp_init_attr_ex *attr_ex)
{
	return uet_create_qp_common(ibvctx, attr_ex, &uet_default_qp_attr);
}

struct ibv_qp *uet_create_qp(struct ibv_pd *ibvpd,
			     struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex attr_ex = {};
	struct ibv_qp *qp;

	memcpy(&attr_ex, attr, sizeof(*attr));
	attr_ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	attr_ex.pd = ibvpd;
	qp = uet_create_qp_ex(ibvpd->context, &attr_ex);
	if (qp)
		attr->cap = attr_ex.cap;
	return qp;
}

struct ibv_qp *uetdv_create_qp_ex(struct ibv_context *ibvctx,
				  struct ibv_qp_init_attr_ex *attr_ex,
				  struct uetdv_qp_init_attr *uet_attr,
				  uint32_t inlen)
{
	struct uetdv_qp_init_attr uattr = {};

	if (!is_uet_dev(ibvctx->device)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!uet_attr) {
		uattr = uet_default_qp_attr;
	} else {
		if (!vext_field_avail(typeof(*uet_attr), qpn, inlen) ||
		    inlen > sizeof(uattr) || uet_attr->comp_mask ||
		    (uet_attr->flags & ~UETDV_QP_INIT_FLAGS_QPN)) {
			errno = EINVAL;
			return NULL;
		}
		memcpy(&uattr, uet_attr, inlen);
	}
	return uet_create_qp_common(ibvctx, attr_ex, &uattr);
}

int uet_destroy_qp(struct ibv_qp *ibvqp)
{
	struct uet_qp *qp = to_uet_qp(ibvqp);
	int err;

	err = ibv_cmd_destroy_qp(ibvqp);
	if (err)
		return err;

	uet_wq_unmap(&qp->sq);
	uet_wq_unmap(&qp->rq);
	uet_ru_qp_job_put(to_uet_context(ibvqp->context), qp->job);
	uet_ru_jkey_put(to_uet_context(ibvqp->context), qp->jkey);
	free(qp);
	return 0;
}

int uet_modify_qp(struct ibv_qp *ibvqp, struct ibv_qp_attr *attr,
		  int attr_mask)
{
	struct ibv_modify_qp cmd = {};
	int err;

	err = ibv_cmd_modify_qp(ibvqp, attr, attr_mask, &cmd, sizeof(cmd));
	if (err)
		return err;
	if (attr_mask & IBV_QP_STATE)
		ibvqp->state = attr->qp_state;
	return 0;
}

int uet_query_qp(struct ibv_qp *ibvqp, struct ibv_qp_attr *attr,
		 int attr_mask, struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd = {};

	return ibv_cmd_query_qp(ibvqp, attr, attr_mask, init_attr, &cmd,
				sizeof(cmd));
}

/* --------------------------------------------------- address handles */

static struct uet_ah *uet_ah_new(struct ibv_pd *ibvpd,
				 const struct ibv_ah_attr *attr)
{
	struct uet_ah *ah;

	/* a UET peer is named by its IP address: the GRH's GID */
	if (!attr->is_global) {
		errno = EINVAL;
		return NULL;
	}
	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(ah->dst_addr, attr->grh.dgid.raw, sizeof(ah->dst_addr));
	ah->ah_ex.ah.context = ibvpd->context;
	ah->ah_ex.ah.pd = ibvpd;
	return ah;
}

struct ibv_ah *uet_create_ah(struct ibv_pd *ibvpd, struct ibv_ah_attr *attr)
{
	struct uet_ah *ah = uet_ah_new(ibvpd, attr);

	return ah ? &ah->ah_ex.ah : NULL;
}

int uet_destroy_ah(struct ibv_ah *ibvah)
{
	free(to_uet_ah(ibvah));
	return 0;
}

struct ibv_ah *uetdv_create_ah_ex(struct ibv_pd *ibvpd,
				  struct uetdv_ah_attr_ex *attr)
{
	struct uet_ah *ah;
	int err;

	if (!is_uet_dev(ibvpd->context->device)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	/* reserved bits 30:24 EINVAL, absolute addressing EOPNOTSUPP */
	err = attr ? uet_ru_check_qpn(attr->remote_qpn) : EINVAL;
	if (err) {
		errno = err;
		return NULL;
	}
	ah = uet_ah_new(ibvpd, &attr->ah_attr);
	if (!ah)
		return NULL;
	ah->ah_ex.remote_qpn = attr->remote_qpn;
	ah->extended = true;
	return &ah->ah_ex.ah;
}

struct uetdv_ah_ex *uetdv_ah_to_ah_ex(struct ibv_ah *ibvah)
{
	return &to_uet_ah(ibvah)->ah_ex;
}
