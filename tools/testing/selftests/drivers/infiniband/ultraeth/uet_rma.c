// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * RMA, atomics and delivery modes between two UET endpoints on two devices
 * joined by a wire (the setup of uet_msg.c, see uet_pair.h): RMA write and
 * read of every interesting size, writes with header data (target
 * completions), regions addressed by plain offsets (iova 0), the (job,
 * key) boundary at the target (wrong key, access, range, protection
 * domain, job; a region deregistered under remote writes; a revoked job),
 * fetch-and-add and compare-and-swap from several processes at once, and
 * the ROD, RUDI and UUD delivery modes. Every target byte is checked:
 * refused requests leave the target memory as it was.
 *
 * $UET_WIRE_CLEAN=1 says the wire loses nothing (the UUD case then expects
 * every datagram). uet_rma.sh sets all of it up.
 */

#define _GNU_SOURCE
#define BUF_BYTES (36u << 20)	/* 16 MiB transfers, both ways, + room */
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "uet_pair.h"

#define RMA_ACCESS (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
		    IBV_ACCESS_REMOTE_ATOMIC)
#define TOFF (18u << 20)	/* target area in B's buffer */
#define SIDE_OFF (34u << 20)	/* small regions for the refusal cases */
#define BIG (16u << 20)

/* SES return codes the target answers refusals with (UEC 1.0) */
#define RC_AMO_UNALIGNED 0x12
#define RC_PERM_VIOLATION 0x17
#define RC_BAD_JOB_ID 0x1b
#define RC_BAD_MKEY 0x1c
#define RC_BAD_ADDR 0x1d

enum rma_op { OP_WRITE, OP_READ, OP_WRITE_IMM, OP_WRITE_DATA };

/* one signaled RMA request from qpx to the endpoint of ah */
static int rma_post(struct ibv_qp_ex *qpx, struct ibv_ah *ah, uint64_t wr_id,
		    enum rma_op op, uint32_t lkey, void *local, size_t len,
		    uint32_t rkey, uint64_t raddr, uint64_t data)
{
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	switch (op) {
	case OP_WRITE:
		ibv_wr_rdma_write(qpx, rkey, raddr);
		break;
	case OP_READ:
		ibv_wr_rdma_read(qpx, rkey, raddr);
		break;
	case OP_WRITE_IMM:
		ibv_wr_rdma_write_imm(qpx, rkey, raddr, htobe32(data));
		break;
	case OP_WRITE_DATA:
		uetdv_wr_rdma_write_data(qpx, rkey, raddr, data);
		break;
	}
	uetdv_wr_set_ru_addr(qpx, uetdv_ah_to_ah_ex(ah), 0);
	ibv_wr_set_sge(qpx, lkey, (uintptr_t)local, len);
	return ibv_wr_complete(qpx);
}

/* a from side s to its peer's main endpoint */
static int rma(struct side *s, uint64_t wr_id, enum rma_op op, size_t loff,
	       size_t len, uint32_t rkey, uint64_t raddr, uint64_t data)
{
	return rma_post(s->qpx, s->to_peer, wr_id, op, s->mr->lkey,
			s->buf + loff, len, rkey, raddr, data);
}

/* a fetching atomic: add (swap unused) or, if cas, compare-and-swap */
static int atomic_post(struct ibv_qp_ex *qpx, struct ibv_ah *ah,
		       uint64_t wr_id, bool cas, uint32_t lkey, uint64_t *res,
		       uint32_t rkey, uint64_t raddr, uint64_t add_cmp,
		       uint64_t swap)
{
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	if (cas)
		ibv_wr_atomic_cmp_swp(qpx, rkey, raddr, add_cmp, swap);
	else
		ibv_wr_atomic_fetch_add(qpx, rkey, raddr, add_cmp);
	uetdv_wr_set_ru_addr(qpx, uetdv_ah_to_ah_ex(ah), 0);
	ibv_wr_set_sge(qpx, lkey, (uintptr_t)res, 8);
	return ibv_wr_complete(qpx);
}

/* no completion on cq for QUIET_MS */
static bool cq_quiet(struct ibv_cq_ex *cq, struct wcx *w)
{
	return wait_wc(cq, w, QUIET_MS) == -ETIMEDOUT;
}

FIXTURE(rma)
{
	struct side a, b;
	uint32_t job_id;
};

FIXTURE_SETUP(rma)
{
	const char *why;
	bool skip;

	self->job_id = 0x200000 + (getpid() & 0x7ffff);
	why = pair_open(&self->a, &self->b, self->job_id, RMA_ACCESS, &skip);
	if (why && skip)
		SKIP(return, "%s: %s", why, strerror(errno));
	ASSERT_EQ(NULL, why) TH_LOG("%s: %s", why, strerror(errno));
}

FIXTURE_TEARDOWN(rma)
{
	side_close(&self->a);
	side_close(&self->b);
}

/* the sizes every transfer case runs: 1 B, MTU +- 1, 64 KiB, 1 MiB, 16 MiB */
static size_t rma_sizes(const struct side *s, size_t *sz)
{
	size_t n = 0;

	sz[n++] = 1;
	sz[n++] = s->dattr.mtu - 1;
	sz[n++] = s->dattr.mtu;
	sz[n++] = s->dattr.mtu + 1;
	sz[n++] = 64 << 10;
	sz[n++] = 1 << 20;
	sz[n++] = BIG;
	return n;
}

TEST_F_TIMEOUT(rma, write_sizes, 300)
{
	struct side *a = &self->a, *b = &self->b;
	size_t sz[8], n = rma_sizes(a, sz), i;
	uint64_t raddr = (uintptr_t)b->buf + TOFF;
	struct wcx w;

	for (i = 0; i < n; i++) {
		size_t len = sz[i];
		uint64_t seed = 100 + i;

		fill(a->buf, len, seed);
		memset(b->buf + TOFF - 64, CANARY, len + 128);
		ASSERT_EQ(0, rma(a, i, OP_WRITE, 0, len, b->mr->rkey, raddr,
				 0));
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS * 4))
			TH_LOG("write of %zu bytes: no completion", len);
		ASSERT_EQ(IBV_WC_SUCCESS, w.status)
			TH_LOG("write of %zu bytes: %s (uet rc 0x%x)", len,
			       ibv_wc_status_str(w.status), w.vendor_err);
		ASSERT_EQ(i, w.wr_id);
		ASSERT_EQ(IBV_WC_RDMA_WRITE, w.opcode);
		ASSERT_EQ(len, w.byte_len);
		/* the data is there once the write completed */
		ASSERT_EQ(-1, check(b->buf + TOFF, len, seed))
			TH_LOG("write of %zu bytes: byte %ld wrong", len,
			       check(b->buf + TOFF, len, seed));
		ASSERT_EQ(-1, first_not(b->buf + TOFF - 64, 64, CANARY));
		ASSERT_EQ(-1, first_not(b->buf + TOFF + len, 64, CANARY));
	}
	/* a write without header data makes no completion at the target */
	ASSERT_TRUE(cq_quiet(b->rcq, &w));
}

TEST_F_TIMEOUT(rma, read_sizes, 300)
{
	struct side *a = &self->a, *b = &self->b;
	size_t sz[8], n = rma_sizes(a, sz), i;
	uint64_t raddr = (uintptr_t)b->buf + TOFF;
	struct wcx w;

	for (i = 0; i < n; i++) {
		size_t len = sz[i];
		uint64_t seed = 200 + i;

		fill(b->buf + TOFF, len, seed);
		memset(a->buf, CANARY, len + 64);
		ASSERT_EQ(0, rma(a, i, OP_READ, 0, len, b->mr->rkey, raddr,
				 0));
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS * 4))
			TH_LOG("read of %zu bytes: no completion", len);
		ASSERT_EQ(IBV_WC_SUCCESS, w.status)
			TH_LOG("read of %zu bytes: %s (uet rc 0x%x)", len,
			       ibv_wc_status_str(w.status), w.vendor_err);
		ASSERT_EQ(IBV_WC_RDMA_READ, w.opcode);
		ASSERT_EQ(len, w.byte_len);
		ASSERT_EQ(-1, check(a->buf, len, seed))
			TH_LOG("read of %zu bytes: byte %ld wrong", len,
			       check(a->buf, len, seed));
		ASSERT_EQ(-1, first_not(a->buf + len, 64, CANARY));
	}
	ASSERT_TRUE(cq_quiet(b->rcq, &w));
}

/*
 * Reads and writes both ways at once, many in flight, content checked. A
 * slot (of A's sources, B's sinks and B's target area) is reused only once
 * its previous write and read completed: RUD completes them in any order.
 */
TEST_F_TIMEOUT(rma, many, 300)
{
	struct side *a = &self->a, *b = &self->b;
	const size_t len = 3000, slots = 64;
	unsigned int k, done_a = 0, done_b = 0, total = 2000;
	uint8_t busy[64] = {};
	struct wcx w;

	/* A writes slot k of B's target area; B reads slot k of A's */
	for (k = 0; k < slots; k++)
		fill(a->buf + TOFF + k * 4096, len, 7000 + k);
	for (k = 0; k < total || done_a < total || done_b < total;) {
		if (k < total && !busy[k % slots] && k - done_a < 32 &&
		    k - done_b < 32) {
			unsigned int s = k % slots;

			busy[s] = 2;	/* a write and a read */
			fill(a->buf + s * 4096, len, 9000 + k);
			ASSERT_EQ(0, rma(a, k, OP_WRITE, s * 4096, len,
					 b->mr->rkey,
					 (uintptr_t)b->buf + TOFF + s * 4096,
					 0));
			ASSERT_EQ(0, rma(b, k, OP_READ, s * 4096, len,
					 a->mr->rkey,
					 (uintptr_t)a->buf + TOFF + s * 4096,
					 0));
			k++;
			continue;
		}
		if (done_a < k) {
			ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
			ASSERT_EQ(IBV_WC_SUCCESS, w.status)
				TH_LOG("write %" PRIu64 ": %s", w.wr_id,
				       ibv_wc_status_str(w.status));
			ASSERT_EQ(-1, check(b->buf + TOFF + (w.wr_id % slots) *
					    4096, len, 9000 + w.wr_id));
			busy[w.wr_id % slots]--;
			done_a++;
		}
		if (done_b < k) {
			ASSERT_EQ(0, wait_wc(b->scq, &w, WAIT_MS));
			ASSERT_EQ(IBV_WC_SUCCESS, w.status)
				TH_LOG("read %" PRIu64 ": %s", w.wr_id,
				       ibv_wc_status_str(w.status));
			ASSERT_EQ(-1, check(b->buf + (w.wr_id % slots) * 4096,
					    len, 7000 + w.wr_id % slots));
			busy[w.wr_id % slots]--;
			done_b++;
		}
	}
	/* the last write of each slot is the one that stays */
	for (k = total - slots; k < total; k++)
		ASSERT_EQ(-1, check(b->buf + TOFF + (k % slots) * 4096, len,
				    9000 + k));
}

TEST_F_TIMEOUT(rma, write_imm, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t raddr = (uintptr_t)b->buf + TOFF;
	struct wcx w;

	/* a posted receive is not consumed by writes with immediate data */
	ASSERT_EQ(0, post_recv(b, 77, RECV_OFF, 4096));
	fill(a->buf, 1000, 31);
	ASSERT_EQ(0, rma(a, 1, OP_WRITE_IMM, 0, 1000, b->mr->rkey, raddr,
			 0x12345678));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(IBV_WC_RDMA_WRITE, w.opcode);
	ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS))
		TH_LOG("no target completion for a write with immediate");
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(IBV_WC_RECV_RDMA_WITH_IMM, w.opcode);
	ASSERT_EQ(0, w.wr_id);
	ASSERT_TRUE(w.wc_flags & IBV_WC_WITH_IMM);
	ASSERT_EQ(htobe32(0x12345678), w.imm);
	ASSERT_EQ(1000, w.byte_len);
	ASSERT_EQ(a->qp->qp_num, w.src_qp);
	ASSERT_EQ(b->qp->qp_num, w.qp_num);
	ASSERT_EQ(self->job_id, w.job_id);
	ASSERT_EQ(0, memcmp(&w.src_addr, &a->addr, sizeof(a->addr)));
	ASSERT_EQ(-1, check(b->buf + TOFF, 1000, 31));

	/* 64-bit header data, zero included */
	ASSERT_EQ(0, rma(a, 2, OP_WRITE_DATA, 0, 10, b->mr->rkey, raddr,
			 0x1122334455667788ull));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_RECV_RDMA_WITH_IMM, w.opcode);
	ASSERT_TRUE(w.uflags & UETDV_WC_WITH_DATA);
	ASSERT_EQ(0x1122334455667788ull, w.header_data);
	ASSERT_EQ(10, w.byte_len);
	ASSERT_EQ(0, rma(a, 3, OP_WRITE_DATA, 0, 10, b->mr->rkey, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_RECV_RDMA_WITH_IMM, w.opcode);
	ASSERT_TRUE(w.uflags & UETDV_WC_WITH_DATA);
	ASSERT_EQ(0, w.header_data);

	/* the receive is still there for a message */
	fill(a->buf, 500, 32);
	ASSERT_EQ(0, send_msg(a, 4, 0, 500));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS));
	ASSERT_EQ(77, w.wr_id);
	ASSERT_EQ(IBV_WC_RECV, w.opcode);
	ASSERT_EQ(-1, check(b->buf + RECV_OFF, 500, 32));
}

/* a region registered at iova 0 is addressed by offsets (UET relative) */
TEST_F_TIMEOUT(rma, zero_based, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint8_t *base = b->buf + SIDE_OFF;
	struct ibv_mr *mr;
	struct wcx w;

	mr = ibv_reg_mr_iova(b->pd, base, 65536, 0,
			     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			     IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, mr);
	memset(base, CANARY, 65536);
	fill(a->buf, 3000, 41);
	ASSERT_EQ(0, rma(a, 1, OP_WRITE, 0, 3000, mr->rkey, 100, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status)
		TH_LOG("%s (uet rc 0x%x)", ibv_wc_status_str(w.status),
		       w.vendor_err);
	ASSERT_EQ(-1, check(base + 100, 3000, 41));
	ASSERT_EQ(CANARY, base[99]);
	ASSERT_EQ(CANARY, base[3100]);
	memset(a->buf, 0, 4096);
	ASSERT_EQ(0, rma(a, 2, OP_READ, 0, 3000, mr->rkey, 100, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(-1, check(a->buf, 3000, 41));
	/* zero-length write and read: nothing moves, both succeed */
	ASSERT_EQ(0, rma(a, 5, OP_WRITE, 0, 0, mr->rkey, 100, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, w.byte_len);
	ASSERT_EQ(0, rma(a, 6, OP_READ, 0, 0, mr->rkey, 100, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(-1, check(base + 100, 3000, 41));
	ASSERT_EQ(CANARY, base[99]);
	/* its virtual address is not in its iova space */
	ASSERT_EQ(0, rma(a, 3, OP_WRITE, 0, 8, mr->rkey, (uintptr_t)base, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_BAD_ADDR, w.vendor_err);
	ASSERT_EQ(0, ibv_dereg_mr(mr));
}

/*
 * A region with an application-assigned key: reached with that key, the
 * key unique on the device (EBUSY), never 0, free again once deregistered.
 */
TEST_F_TIMEOUT(rma, app_key, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint32_t key = 0x5e000000 | (getpid() & 0xffffff);
	uint8_t *base = b->buf + SIDE_OFF;
	struct ibv_mr *mr, *again;
	struct wcx w;

	mr = uetdv_reg_mr_key(b->pd, base, 65536, 0, IBV_ACCESS_LOCAL_WRITE |
			      IBV_ACCESS_REMOTE_WRITE, key);
	ASSERT_NE(NULL, mr) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(key, mr->rkey);
	ASSERT_EQ(key, mr->lkey);
	again = uetdv_reg_mr_key(b->pd, base, 4096, 0,
				 IBV_ACCESS_LOCAL_WRITE, key);
	ASSERT_EQ(NULL, again);
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(NULL, uetdv_reg_mr_key(b->pd, base, 4096, 0,
					 IBV_ACCESS_LOCAL_WRITE, 0));
	ASSERT_EQ(EINVAL, errno);
	memset(base, CANARY, 65536);
	fill(a->buf, 2000, 81);
	ASSERT_EQ(0, rma(a, 1, OP_WRITE, 0, 2000, key, 300, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status)
		TH_LOG("%s (uet rc 0x%x)", ibv_wc_status_str(w.status),
		       w.vendor_err);
	ASSERT_EQ(-1, check(base + 300, 2000, 81));
	ASSERT_EQ(CANARY, base[299]);
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	/* gone: refused, and the key can be had again */
	ASSERT_EQ(0, rma(a, 2, OP_WRITE, 0, 2000, key, 300, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_BAD_MKEY, w.vendor_err);
	again = uetdv_reg_mr_key(b->pd, base, 4096, 0,
				 IBV_ACCESS_LOCAL_WRITE, key);
	ASSERT_NE(NULL, again) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, ibv_dereg_mr(again));
}

/*
 * Requests the target refuses: each gets its completion status and UET
 * return code at the initiator, and no byte of either side's memory moves.
 */
TEST_F_TIMEOUT(rma, refused, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint8_t *base = b->buf + SIDE_OFF;
	struct side e = { .job_fd = -1 };
	struct ibv_mr *ro, *wo, *other;
	struct ibv_pd *pd2;
	const char *why;
	uint8_t *saved;
	int old, err;
	struct wcx w;
	size_t i;

	/* another context of job A on B's device, with a region of its own */
	why = side_open(&e, b->name, env_or("UET_NS1", "uet-msg-peer"),
			env_or("UET_ADDR1", "10.77.0.2"), 0);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	/* a job is joined from its namespace (EXDEV otherwise) */
	old = enter_ns(env_or("UET_NS1", "uet-msg-peer"));
	ASSERT_LE(0, old);
	err = uetdv_import_job(e.ctx, b->job_fd);
	leave_ns(old);
	ASSERT_EQ(0, err) TH_LOG("%s", strerror(err));
	e.mr_access = RMA_ACCESS;
	why = side_resources(&e);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	pd2 = ibv_alloc_pd(b->ctx);
	ASSERT_NE(NULL, pd2);
	ro = ibv_reg_mr(b->pd, base, 8192, IBV_ACCESS_REMOTE_READ);
	wo = ibv_reg_mr(b->pd, base + 8192, 8192,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	other = ibv_reg_mr(pd2, base + 16384, 8192, IBV_ACCESS_LOCAL_WRITE |
			   IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, ro);
	ASSERT_NE(NULL, wo);
	ASSERT_NE(NULL, other);

	struct {
		const char *what;
		enum rma_op op;
		uint32_t rkey;
		uint64_t raddr;
		size_t len;
		enum ibv_wc_status status;
		uint32_t rc;
	} c[] = {
		{ "write, no such key", OP_WRITE, b->mr->rkey ^ 0x5a5a5a5a,
		  (uintptr_t)base, 100, IBV_WC_REM_ACCESS_ERR, RC_BAD_MKEY },
		{ "write, key 0", OP_WRITE, 0, (uintptr_t)base, 100,
		  IBV_WC_REM_ACCESS_ERR, RC_BAD_MKEY },
		{ "read, no such key", OP_READ, b->mr->rkey + 1,
		  (uintptr_t)base, 100, IBV_WC_REM_ACCESS_ERR, RC_BAD_MKEY },
		{ "write, read-only region", OP_WRITE, ro->rkey,
		  (uintptr_t)base, 100, IBV_WC_REM_ACCESS_ERR,
		  RC_PERM_VIOLATION },
		{ "read, write-only region", OP_READ, wo->rkey,
		  (uintptr_t)base + 8192, 100, IBV_WC_REM_ACCESS_ERR,
		  RC_PERM_VIOLATION },
		{ "write across the end", OP_WRITE, wo->rkey,
		  (uintptr_t)base + 16384 - 50, 100, IBV_WC_REM_ACCESS_ERR,
		  RC_BAD_ADDR },
		{ "write before the start", OP_WRITE, wo->rkey,
		  (uintptr_t)base + 8191, 100, IBV_WC_REM_ACCESS_ERR,
		  RC_BAD_ADDR },
		{ "read across the end", OP_READ, ro->rkey,
		  (uintptr_t)base + 8000, 1000, IBV_WC_REM_ACCESS_ERR,
		  RC_BAD_ADDR },
		{ "multi-packet write across the end", OP_WRITE, wo->rkey,
		  (uintptr_t)base + 8192, 8192 + 1, IBV_WC_REM_ACCESS_ERR,
		  RC_BAD_ADDR },
		{ "write, region of another PD", OP_WRITE, other->rkey,
		  (uintptr_t)base + 16384, 100, IBV_WC_REM_ACCESS_ERR,
		  RC_BAD_MKEY },
		{ "write, key of another context of the job", OP_WRITE,
		  e.mr->rkey, (uintptr_t)e.buf, 100, IBV_WC_REM_ACCESS_ERR,
		  RC_BAD_MKEY },
	};

	saved = malloc(2 << 20);
	ASSERT_NE(NULL, saved);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		memset(base, CANARY, 65536);
		memcpy(saved, b->buf, 1 << 20);
		fill(a->buf, 16384, 50 + i);
		memcpy(saved + (1 << 20), a->buf, 1 << 20);
		ASSERT_EQ(0, rma(a, i, c[i].op, 0, c[i].len, c[i].rkey,
				 c[i].raddr, 0));
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS))
			TH_LOG("%s: no completion", c[i].what);
		ASSERT_EQ(c[i].status, w.status)
			TH_LOG("%s: %s (uet rc 0x%x)", c[i].what,
			       ibv_wc_status_str(w.status), w.vendor_err);
		ASSERT_EQ(c[i].rc, w.vendor_err) TH_LOG("%s", c[i].what);
		ASSERT_EQ(i, w.wr_id);
		ASSERT_EQ(-1, first_not(base, 65536, CANARY))
			TH_LOG("%s: target byte %ld written", c[i].what,
			       first_not(base, 65536, CANARY));
		ASSERT_EQ(0, memcmp(saved, b->buf, 1 << 20))
			TH_LOG("%s: target memory changed", c[i].what);
		ASSERT_EQ(0, memcmp(saved + (1 << 20), a->buf, 1 << 20))
			TH_LOG("%s: initiator memory changed", c[i].what);
		ASSERT_EQ(-1, first_not(e.buf, 1 << 20, 0))
			TH_LOG("%s: the other context's memory changed",
			       c[i].what);
	}
	/* the endpoint still works */
	fill(a->buf, 100, 60);
	ASSERT_EQ(0, rma(a, 99, OP_WRITE, 0, 100, wo->rkey,
			 (uintptr_t)base + 8192, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(-1, check(base + 8192, 100, 60));
	free(saved);
	ibv_dereg_mr(ro);
	ibv_dereg_mr(wo);
	ibv_dereg_mr(other);
	ibv_dealloc_pd(pd2);
	side_close(&e);
}

/*
 * Two jobs on the same pair of devices: a process of job A cannot reach
 * the memory of a process of job B, with B's key and address, whether it
 * addresses B's endpoint (its JobID is not B's) or one of its own job's
 * (the key is not of its job).
 */
TEST_F_TIMEOUT(rma, other_job, 120)
{
	struct side *a = &self->a, *b = &self->b;
	struct side c = { .job_fd = -1 }, d = { .job_fd = -1 };
	struct ibv_ah *to_c;
	struct wcx w;
	const char *why;

	why = side_open(&c, env_or("UET_DEV1", "uet1"),
			env_or("UET_NS1", "uet-msg-peer"),
			env_or("UET_ADDR1", "10.77.0.2"), self->job_id + 1);
	ASSERT_EQ(NULL, why) TH_LOG("job B: %s: %s", why, strerror(errno));
	c.mr_access = RMA_ACCESS;
	why = side_resources(&c);
	ASSERT_EQ(NULL, why) TH_LOG("job B: %s: %s", why, strerror(errno));
	memset(c.buf, CANARY, 1 << 20);
	to_c = ah_to(a, &b->addr, c.qp->qp_num);
	ASSERT_NE(NULL, to_c);
	fill(a->buf, 1000, 70);

	/* job A's JobID at job B's endpoint */
	ASSERT_EQ(0, rma_post(a->qpx, to_c, 1, OP_WRITE, a->mr->lkey, a->buf,
			      1000, c.mr->rkey, (uintptr_t)c.buf, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_INV_REQ_ERR, w.status)
		TH_LOG("%s (uet rc 0x%x)", ibv_wc_status_str(w.status),
		       w.vendor_err);
	ASSERT_EQ(RC_BAD_JOB_ID, w.vendor_err);
	ASSERT_EQ(0, rma_post(a->qpx, to_c, 2, OP_READ, a->mr->lkey, a->buf,
			      1000, c.mr->rkey, (uintptr_t)c.buf, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_INV_REQ_ERR, w.status);
	ASSERT_EQ(-1, check(a->buf, 1000, 70));
	/* job B's key through job A's endpoint on the same device */
	ASSERT_EQ(0, rma(a, 3, OP_WRITE, 0, 1000, c.mr->rkey,
			 (uintptr_t)c.buf, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_BAD_MKEY, w.vendor_err);
	ASSERT_EQ(0, rma(a, 4, OP_READ, 0, 1000, c.mr->rkey,
			 (uintptr_t)c.buf, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(-1, check(a->buf, 1000, 70));
	ASSERT_EQ(-1, first_not(c.buf, 1 << 20, CANARY))
		TH_LOG("job B byte %ld written", first_not(c.buf, 1 << 20,
							   CANARY));
	/* job B's keys work in job B: a process of job B on A's device */
	why = side_open(&d, a->name, "", env_or("UET_ADDR0", "10.77.0.1"),
			self->job_id + 1);
	ASSERT_EQ(NULL, why) TH_LOG("job B on A: %s: %s", why, strerror(errno));
	why = side_resources(&d);
	ASSERT_EQ(NULL, why) TH_LOG("job B on A: %s", why);
	d.to_peer = ah_to(&d, &b->addr, c.qp->qp_num);
	ASSERT_NE(NULL, d.to_peer);
	fill(d.buf, 1000, 71);
	ASSERT_EQ(0, rma(&d, 6, OP_WRITE, 0, 1000, c.mr->rkey,
			 (uintptr_t)c.buf, 0));
	ASSERT_EQ(0, wait_wc(d.scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status)
		TH_LOG("job B to job B: %s (uet rc 0x%x)",
		       ibv_wc_status_str(w.status), w.vendor_err);
	ASSERT_EQ(-1, check(c.buf, 1000, 71));
	side_close(&d);
	/* and job B cannot reach job A's endpoint */
	c.to_peer = ah_to(&c, &a->addr, a->qp->qp_num);
	ASSERT_NE(NULL, c.to_peer);
	ASSERT_EQ(0, rma(&c, 5, OP_WRITE, 0, 100, a->mr->rkey,
			 (uintptr_t)a->buf, 0));
	ASSERT_EQ(0, wait_wc(c.scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_INV_REQ_ERR, w.status)
		TH_LOG("job B reached job A's endpoint: %s",
		       ibv_wc_status_str(w.status));
	ibv_destroy_ah(to_c);
	side_close(&c);
}

/*
 * A region deregistered while remote writes to it are in flight: once
 * ibv_dereg_mr() returned no write lands in its pages. B fills the pages
 * with a marker right after deregistering and checks, after A kept
 * writing, that the marker is intact; A's writes succeed or fail with a
 * remote access error, none is lost.
 */
TEST_F_TIMEOUT(rma, dereg_in_flight, 300)
{
	struct side *a = &self->a, *b = &self->b;
	const size_t len = 16384, area = 65536;
	uint8_t *base = b->buf + SIDE_OFF;
	unsigned int round, ok = 0, refused = 0;
	struct wcx w;

	fill(a->buf, area, 80);
	for (round = 0; round < 20; round++) {
		unsigned int posted = 0, done = 0;
		struct ibv_mr *mr;
		uint64_t until;

		mr = ibv_reg_mr(b->pd, base, area, IBV_ACCESS_LOCAL_WRITE |
				IBV_ACCESS_REMOTE_WRITE);
		ASSERT_NE(NULL, mr);
		until = 0;
		while (!until || now_ms() < until || done < posted) {
			if ((!until || now_ms() < until) &&
			    posted - done < 8) {
				size_t off = (posted % 4) * len;

				ASSERT_EQ(0, rma(a, posted, OP_WRITE, off,
						 len, mr->rkey,
						 (uintptr_t)base + off, 0));
				posted++;
			} else {
				ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
				ASSERT_TRUE(w.status == IBV_WC_SUCCESS ||
					    w.status == IBV_WC_REM_ACCESS_ERR)
					TH_LOG("%s",
					       ibv_wc_status_str(w.status));
				if (w.status == IBV_WC_SUCCESS)
					ok++;
				else
					refused++;
				done++;
			}
			if (!until && posted >= 4 + round % 5) {
				/* writes are in flight now */
				ASSERT_EQ(0, ibv_dereg_mr(mr));
				memset(base, 0xee, area);
				until = now_ms() + 100;
			}
		}
		ASSERT_EQ(-1, first_not(base, area, 0xee))
			TH_LOG("round %u: byte %ld written after "
			       "deregistration", round,
			       first_not(base, area, 0xee));
	}
	TH_LOG("%u writes landed, %u refused", ok, refused);
	/* the regions worked until they went away */
	ASSERT_NE(0, ok);
}

/* REVOKE: outstanding work is flushed and the memory is out of reach */
TEST_F_TIMEOUT(rma, revoke, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t raddr = (uintptr_t)b->buf + TOFF;
	struct wcx w;

	fill(a->buf, 1000, 90);
	ASSERT_EQ(0, rma(a, 1, OP_WRITE, 0, 1000, b->mr->rkey, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, post_recv(b, 5, RECV_OFF, 4096));
	memset(b->buf + TOFF, CANARY, 4096);

	ASSERT_EQ(0, ioctl(b->job_fd, RDMA_JOB_IOC_REVOKE));
	/* B's posted receive is flushed */
	ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS));
	ASSERT_EQ(5, w.wr_id);
	ASSERT_EQ(IBV_WC_WR_FLUSH_ERR, w.status);
	/* A's writes and reads no longer reach B's memory */
	ASSERT_EQ(0, rma(a, 2, OP_WRITE, 0, 1000, b->mr->rkey, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_NE(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(RC_BAD_JOB_ID, w.vendor_err);
	memset(a->buf, 0, 1000);
	ASSERT_EQ(0, rma(a, 3, OP_READ, 0, 1000, b->mr->rkey, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_NE(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(-1, first_not(a->buf, 1000, 0));
	ASSERT_EQ(-1, first_not(b->buf + TOFF, 4096, CANARY));
}

/* errors found before anything is sent */
TEST_F_TIMEOUT(rma, local_errors, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t raddr = (uintptr_t)b->buf + TOFF;
	struct ibv_sge sge = {
		.addr = (uintptr_t)a->buf, .length = 8, .lkey = a->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 1, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_mr *nolw;
	struct wcx w;

	/* ibv_send_wr has no room for both the peer and its memory */
	wr.wr.rdma.rkey = b->mr->rkey;
	wr.wr.rdma.remote_addr = raddr;
	ASSERT_EQ(EOPNOTSUPP, ibv_post_send(a->qp, &wr, &bad));
	wr.opcode = IBV_WR_RDMA_READ;
	ASSERT_EQ(EOPNOTSUPP, ibv_post_send(a->qp, &wr, &bad));

	/* a read into memory without local write access */
	nolw = ibv_reg_mr(a->pd, a->buf + SIDE_OFF, 4096, 0);
	ASSERT_NE(NULL, nolw);
	memset(a->buf + SIDE_OFF, CANARY, 4096);
	ASSERT_EQ(0, rma_post(a->qpx, a->to_peer, 2, OP_READ, nolw->lkey,
			      a->buf + SIDE_OFF, 100, b->mr->rkey, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_LOC_ACCESS_ERR, w.status)
		TH_LOG("%s", ibv_wc_status_str(w.status));
	ASSERT_EQ(CANARY, a->buf[SIDE_OFF]);
	/* a read with inline data */
	ibv_wr_start(a->qpx);
	a->qpx->wr_id = 3;
	a->qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_read(a->qpx, b->mr->rkey, raddr);
	uetdv_wr_set_ru_addr(a->qpx, uetdv_ah_to_ah_ex(a->to_peer), 0);
	ibv_wr_set_inline_data(a->qpx, a->buf, 8);
	ASSERT_EQ(EINVAL, ibv_wr_complete(a->qpx));
	/* a remote range that wraps around 2^64 */
	ASSERT_EQ(0, rma(a, 4, OP_WRITE, 0, 100, b->mr->rkey, ~0ull - 10, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(4, w.wr_id);
	ASSERT_EQ(IBV_WC_LOC_LEN_ERR, w.status);
	ASSERT_TRUE(cq_quiet(a->scq, &w));
	ASSERT_EQ(0, ibv_dereg_mr(nolw));
}

/* an extra endpoint of s in delivery mode dm, and a handle to it from p */
static struct ibv_qp *mode_ep(struct side *s, enum uetdv_delivery_mode dm)
{
	struct uetdv_qp_init_attr ua = {
		.driver_qp_type = UETDV_QP_TYPE_RU,
		.delivery_mode = dm,
	};

	return ep_new(s, SQ_DEPTH, RQ_DEPTH, &ua);
}

/* a receive of len bytes at p on endpoint qp */
static int post_slot(struct ibv_qp *qp, struct ibv_mr *mr, uint64_t wr_id,
		     uint8_t *p, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)p, .length = len, .lkey = mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	}, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

/*
 * ROD: the messages of an endpoint to one destination are delivered in
 * posting order, whatever the wire does (uet_rma.sh runs it under netem
 * reordering): the k-th receive completion holds message k.
 */
TEST_F_TIMEOUT(rma, rod_order, 300)
{
	struct side *a = &self->a, *b = &self->b;
	const unsigned int total = 1000, win = 64;
	const size_t slot = 16384;
	unsigned int k, seq, sent = 0, got = 0, acked = 0;
	struct ibv_qp *aq, *bq;
	uint8_t *p;
	struct ibv_qp_ex *aqx;
	struct ibv_ah *ah;
	struct wcx w;

	ASSERT_TRUE(a->dattr.dev_caps & UETDV_DEVICE_CAP_ROD);
	aq = mode_ep(a, UETDV_DM_ROD);
	bq = mode_ep(b, UETDV_DM_ROD);
	ASSERT_NE(NULL, aq);
	ASSERT_NE(NULL, bq);
	aqx = ibv_qp_to_qp_ex(aq);
	ah = ah_to(a, &b->addr, bq->qp_num);
	ASSERT_NE(NULL, ah);
	for (k = 0; k < win; k++)
		ASSERT_EQ(0, post_slot(bq, b->mr, k,
				       b->buf + RECV_OFF + k * slot, slot));
	while (got < total) {
		if (sent < total && sent - got < win && sent - acked < 32) {
			/* 1 to 3 packets, the sequence number first */
			size_t len = 8 + (sent * 2654435761u) %
					 (3 * a->dattr.mtu - 8);

			p = a->buf + (sent % win) * slot;
			fill(p, len, sent);
			memcpy(p, &sent, sizeof(sent));
			ibv_wr_start(aqx);
			aqx->wr_id = sent;
			aqx->wr_flags = IBV_SEND_SIGNALED;
			ibv_wr_send(aqx);
			uetdv_wr_set_ru_addr(aqx, uetdv_ah_to_ah_ex(ah), 0);
			ibv_wr_set_sge(aqx, a->mr->lkey, (uintptr_t)p, len);
			ASSERT_EQ(0, ibv_wr_complete(aqx));
			sent++;
			continue;
		}
		if (acked < sent && wait_wc(a->scq, &w, 0) == 0) {
			ASSERT_EQ(IBV_WC_SUCCESS, w.status);
			acked++;
			continue;
		}
		ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS))
			TH_LOG("message %u did not arrive", got);
		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		p = b->buf + RECV_OFF + w.wr_id * slot;
		memcpy(&seq, p, sizeof(seq));
		ASSERT_EQ(got, seq)
			TH_LOG("receive %u holds message %u", got, seq);
		/* the rest of the payload is message seq's */
		ASSERT_EQ(-1, check_from(p, w.byte_len, seq, 4));
		ASSERT_EQ(0, post_slot(bq, b->mr, w.wr_id, p, slot));
		got++;
	}
	while (acked < sent) {
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		acked++;
	}
	ibv_destroy_ah(ah);
	ASSERT_EQ(0, ibv_destroy_qp(aq));
	ASSERT_EQ(0, ibv_destroy_qp(bq));
}

/*
 * RUDI: single-packet writes and reads without a PDC, each answered once,
 * right under loss; longer requests and sends are refused.
 */
TEST_F_TIMEOUT(rma, rudi, 300)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t raddr = (uintptr_t)b->buf + TOFF;
	uint32_t mtu = a->dattr.mtu;
	struct ibv_qp_ex *qx;
	struct ibv_qp *q;
	unsigned int k;
	struct wcx w;

	ASSERT_TRUE(a->dattr.dev_caps & UETDV_DEVICE_CAP_RUDI);
	q = mode_ep(a, UETDV_DM_RUDI);
	ASSERT_NE(NULL, q);
	qx = ibv_qp_to_qp_ex(q);
	for (k = 0; k < 200; k++) {
		size_t len = 1 + (k * 7919) % mtu;
		uint64_t off = (k % 16) * 8192;

		fill(a->buf + off, len, 300 + k);
		ASSERT_EQ(0, rma_post(qx, a->to_peer, k, OP_WRITE,
				      a->mr->lkey, a->buf + off, len,
				      b->mr->rkey, raddr + off, 0));
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
		ASSERT_EQ(IBV_WC_SUCCESS, w.status)
			TH_LOG("write %u: %s", k, ibv_wc_status_str(w.status));
		ASSERT_EQ(k, w.wr_id);
		ASSERT_EQ(-1, check(b->buf + TOFF + off, len, 300 + k));
		memset(a->buf + (1 << 20), 0, len);
		ASSERT_EQ(0, rma_post(qx, a->to_peer, k, OP_READ, a->mr->lkey,
				      a->buf + (1 << 20), len, b->mr->rkey,
				      raddr + off, 0));
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		ASSERT_EQ(k, w.wr_id);
		ASSERT_EQ(len, w.byte_len);
		ASSERT_EQ(-1, check(a->buf + (1 << 20), len, 300 + k));
	}
	/* every request completed once */
	ASSERT_TRUE(cq_quiet(a->scq, &w));
	/* one packet at most */
	ASSERT_EQ(0, rma_post(qx, a->to_peer, 1000, OP_WRITE, a->mr->lkey,
			      a->buf, mtu + 1, b->mr->rkey, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_LOC_LEN_ERR, w.status);
	/* no sends */
	ibv_wr_start(qx);
	qx->wr_id = 1001;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(qx);
	uetdv_wr_set_ru_addr(qx, uetdv_ah_to_ah_ex(a->to_peer), 0);
	ibv_wr_set_sge(qx, a->mr->lkey, (uintptr_t)a->buf, 8);
	ASSERT_EQ(0, ibv_wr_complete(qx));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(1001, w.wr_id);
	ASSERT_EQ(IBV_WC_LOC_QP_OP_ERR, w.status);
	/* a refused RUDI request gets its return code */
	ASSERT_EQ(0, rma_post(qx, a->to_peer, 1002, OP_WRITE, a->mr->lkey,
			      a->buf, 8, b->mr->rkey ^ 1, raddr, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_BAD_MKEY, w.vendor_err);
	ASSERT_EQ(0, ibv_destroy_qp(q));
}

/*
 * UUD: datagrams of one packet, unreliable: under loss some never arrive,
 * but none arrives corrupted or twice. On a clean wire all arrive.
 */
TEST_F_TIMEOUT(rma, uud, 300)
{
	struct side *a = &self->a, *b = &self->b;
	const unsigned int total = 500;
	uint32_t mtu = a->dattr.mtu;
	uint8_t *seen;
	struct ibv_qp_ex *qx;
	struct ibv_qp *q;
	unsigned int k, got = 0;
	struct wcx w;

	ASSERT_TRUE(a->dattr.dev_caps & UETDV_DEVICE_CAP_UUD);
	q = mode_ep(a, UETDV_DM_UUD);
	ASSERT_NE(NULL, q);
	qx = ibv_qp_to_qp_ex(q);
	seen = calloc(total, 1);
	ASSERT_NE(NULL, seen);
	for (k = 0; k < total; k++)
		ASSERT_EQ(0, post_recv(b, k, RECV_OFF + k * 4096, 4096));
	for (k = 0; k < total; k++) {
		size_t len = 8 + (k * 7919) % (mtu - 8);
		uint8_t *p = a->buf + (k % 64) * 8192;

		fill(p, len, 400 + k);
		memcpy(p, &k, sizeof(k));
		ibv_wr_start(qx);
		qx->wr_id = k;
		qx->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_send(qx);
		uetdv_wr_set_ru_addr(qx, uetdv_ah_to_ah_ex(a->to_peer), 0);
		ibv_wr_set_sge(qx, a->mr->lkey, (uintptr_t)p, len);
		ASSERT_EQ(0, ibv_wr_complete(qx));
		/* a datagram completes once it is sent */
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		ASSERT_EQ(k, w.wr_id);
	}
	while (wait_wc(b->rcq, &w, 2000) == 0) {
		uint8_t *p = b->buf + RECV_OFF + w.wr_id * 4096;
		unsigned int seq;

		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		memcpy(&seq, p, sizeof(seq));
		ASSERT_LT(seq, total);
		ASSERT_EQ(0, seen[seq]) TH_LOG("datagram %u twice", seq);
		seen[seq] = 1;
		ASSERT_EQ(8 + (seq * 7919) % (mtu - 8), w.byte_len);
		ASSERT_EQ(-1, check_from(p, w.byte_len, 400 + seq, 4))
			TH_LOG("datagram %u corrupted", seq);
		got++;
	}
	TH_LOG("%u of %u datagrams arrived", got, total);
	if (!strcmp(env_or("UET_WIRE_CLEAN", "0"), "1"))
		ASSERT_EQ(total, got);
	ASSERT_NE(0, got);
	free(seen);
	ASSERT_EQ(0, ibv_destroy_qp(q));
}

/* a process of job A on device A: its own context, endpoint and buffer */
static const char *worker_open(struct side *w, struct side *a, struct side *b,
			       uint32_t qpn)
{
	const char *why;

	memset(w, 0, sizeof(*w));
	w->job_fd = -1;
	why = side_open(w, a->name, "", env_or("UET_ADDR0", "10.77.0.1"), 0);
	if (why)
		return why;
	if (uetdv_import_job(w->ctx, a->job_fd))
		return "uetdv_import_job failed";
	why = side_resources(w);
	if (why)
		return why;
	w->to_peer = ah_to(w, &b->addr, qpn);
	return w->to_peer ? NULL : "no address handle";
}

#define ATOM_PROCS 4
#define ATOM_ADDS 300

/*
 * Fetch-and-add from several processes at once on one counter of B: the
 * final value is exact and the fetched values are 0 .. N-1, each once
 * (an add applied twice or lost would show in both).
 */
TEST_F_TIMEOUT(rma, atomic_counter, 400)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t *ctr = (uint64_t *)(b->buf + TOFF);
	uint64_t *fetched;
	uint8_t *seen;
	int p, status;

	fetched = mmap(NULL, ATOM_PROCS * ATOM_ADDS * 8, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, fetched);
	memset(fetched, 0xff, ATOM_PROCS * ATOM_ADDS * 8);
	*ctr = 0;
	for (p = 0; p < ATOM_PROCS; p++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid) {
			struct side w;
			struct wcx c;
			int i;

			if (worker_open(&w, a, b, b->qp->qp_num))
				_exit(10);
			for (i = 0; i < ATOM_ADDS; i++) {
				uint64_t *res = (uint64_t *)w.buf;

				*res = ~0ull;
				if (atomic_post(w.qpx, w.to_peer, i, false,
						w.mr->lkey, res, b->mr->rkey,
						(uintptr_t)ctr, 1, 0))
					_exit(11);
				if (wait_wc(w.scq, &c, WAIT_MS * 2))
					_exit(12);
				if (c.status != IBV_WC_SUCCESS ||
				    c.opcode != IBV_WC_FETCH_ADD ||
				    c.byte_len != 8) {
					fprintf(stderr, "# add %d: %s (0x%x) "
						"opcode %d len %u\n", i,
						ibv_wc_status_str(c.status),
						c.vendor_err, c.opcode,
						c.byte_len);
					_exit(13);
				}
				fetched[p * ATOM_ADDS + i] = *res;
			}
			side_close(&w);
			_exit(0);
		}
	}
	for (p = 0; p < ATOM_PROCS; p++) {
		ASSERT_LT(0, wait(&status));
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
	}
	ASSERT_EQ(ATOM_PROCS * ATOM_ADDS, *ctr);
	seen = calloc(ATOM_PROCS * ATOM_ADDS, 1);
	ASSERT_NE(NULL, seen);
	for (p = 0; p < ATOM_PROCS * ATOM_ADDS; p++) {
		ASSERT_LT(fetched[p], ATOM_PROCS * ATOM_ADDS);
		ASSERT_EQ(0, seen[fetched[p]])
			TH_LOG("value %" PRIu64 " fetched twice", fetched[p]);
		seen[fetched[p]] = 1;
	}
	free(seen);
	munmap(fetched, ATOM_PROCS * ATOM_ADDS * 8);
}

/* a worker's failure: what and the last completion, then exit code */
static void __attribute__((noreturn)) worker_die(int code, const char *what,
						 const struct wcx *c)
{
	fprintf(stderr, "# worker %d: %s: %s (uet rc 0x%x), opcode %d\n",
		getpid(), what, ibv_wc_status_str(c->status), c->vendor_err,
		c->opcode);
	_exit(code);
}

#define LOCK_PROCS 3
#define LOCK_ROUNDS 40

/*
 * A lock in B's memory taken and given back with compare-and-swap by
 * several processes; under it each does a non-atomic read-modify-write
 * (RMA read, then write) of a second word: the final count is exact only
 * if the lock excluded.
 */
TEST_F_TIMEOUT(rma, atomic_cas_lock, 400)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t *lock = (uint64_t *)(b->buf + TOFF);
	uint64_t *count = (uint64_t *)(b->buf + TOFF + 64);
	int p, status;

	*lock = 0;
	*count = 0;
	for (p = 0; p < LOCK_PROCS; p++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid) {
			uint64_t me = p + 1;
			struct wcx c = {};
			struct side w;
			int i;

			if (worker_open(&w, a, b, b->qp->qp_num))
				_exit(10);
			for (i = 0; i < LOCK_ROUNDS; i++) {
				uint64_t *res = (uint64_t *)w.buf;
				uint64_t *val = (uint64_t *)(w.buf + 64);

				do {
					if (atomic_post(w.qpx, w.to_peer, 1,
							true, w.mr->lkey, res,
							b->mr->rkey,
							(uintptr_t)lock, 0, me) ||
					    wait_wc(w.scq, &c, WAIT_MS) ||
					    c.status != IBV_WC_SUCCESS ||
					    c.opcode != IBV_WC_COMP_SWAP)
						worker_die(11, "take", &c);
				} while (*res != 0);
				if (rma_post(w.qpx, w.to_peer, 2, OP_READ,
					     w.mr->lkey, val, 8, b->mr->rkey,
					     (uintptr_t)count, 0) ||
				    wait_wc(w.scq, &c, WAIT_MS) ||
				    c.status != IBV_WC_SUCCESS)
					worker_die(12, "read", &c);
				(*val)++;
				if (rma_post(w.qpx, w.to_peer, 3, OP_WRITE,
					     w.mr->lkey, val, 8, b->mr->rkey,
					     (uintptr_t)count, 0) ||
				    wait_wc(w.scq, &c, WAIT_MS) ||
				    c.status != IBV_WC_SUCCESS)
					worker_die(13, "write", &c);
				if (atomic_post(w.qpx, w.to_peer, 4, true,
						w.mr->lkey, res, b->mr->rkey,
						(uintptr_t)lock, me, 0) ||
				    wait_wc(w.scq, &c, WAIT_MS) ||
				    c.status != IBV_WC_SUCCESS || *res != me)
					worker_die(14, "give back", &c);
			}
			side_close(&w);
			_exit(0);
		}
	}
	for (p = 0; p < LOCK_PROCS; p++) {
		ASSERT_LT(0, wait(&status));
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
	}
	ASSERT_EQ(0, *lock);
	ASSERT_EQ(LOCK_PROCS * LOCK_ROUNDS, *count);
}

/* atomics the target refuses leave the word as it was */
TEST_F_TIMEOUT(rma, atomic_refused, 120)
{
	struct side *a = &self->a, *b = &self->b;
	uint64_t *word = (uint64_t *)(b->buf + TOFF);
	uint64_t *res = (uint64_t *)a->buf;
	struct ibv_mr *noatom, *end;
	struct wcx w;

	noatom = ibv_reg_mr(b->pd, b->buf + SIDE_OFF, 4096,
			    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ);
	ASSERT_NE(NULL, noatom);
	end = ibv_reg_mr(b->pd, b->buf + SIDE_OFF + 8192, 4096,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_ATOMIC);
	ASSERT_NE(NULL, end);
	*word = 41;
	*(uint64_t *)(b->buf + SIDE_OFF) = 41;
	/* misaligned */
	ASSERT_EQ(0, atomic_post(a->qpx, a->to_peer, 1, false, a->mr->lkey,
				 res, b->mr->rkey, (uintptr_t)word + 4, 1, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_INV_REQ_ERR, w.status)
		TH_LOG("%s (0x%x)", ibv_wc_status_str(w.status), w.vendor_err);
	ASSERT_EQ(RC_AMO_UNALIGNED, w.vendor_err);
	/* no atomic access */
	ASSERT_EQ(0, atomic_post(a->qpx, a->to_peer, 2, false, a->mr->lkey,
				 res, noatom->rkey,
				 (uintptr_t)b->buf + SIDE_OFF, 1, 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_PERM_VIOLATION, w.vendor_err);
	/* just past the end of a region */
	ASSERT_EQ(0, atomic_post(a->qpx, a->to_peer, 6, false, a->mr->lkey,
				 res, end->rkey,
				 (uintptr_t)b->buf + SIDE_OFF + 8192 + 4096, 1,
				 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_BAD_ADDR, w.vendor_err);
	/* its last word is in */
	*(uint64_t *)(b->buf + SIDE_OFF + 8192 + 4088) = 7;
	ASSERT_EQ(0, atomic_post(a->qpx, a->to_peer, 7, false, a->mr->lkey,
				 res, end->rkey,
				 (uintptr_t)b->buf + SIDE_OFF + 8192 + 4088, 1,
				 0));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(7, *res);
	ASSERT_EQ(8, *(uint64_t *)(b->buf + SIDE_OFF + 8192 + 4088));
	/* no such key */
	ASSERT_EQ(0, atomic_post(a->qpx, a->to_peer, 3, true, a->mr->lkey,
				 res, b->mr->rkey ^ 0x77, (uintptr_t)word, 41,
				 5));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, w.status);
	ASSERT_EQ(RC_BAD_MKEY, w.vendor_err);
	ASSERT_EQ(41, *word);
	ASSERT_EQ(41, *(uint64_t *)(b->buf + SIDE_OFF));
	/* a failed compare leaves it too, and returns it */
	ASSERT_EQ(0, atomic_post(a->qpx, a->to_peer, 4, true, a->mr->lkey,
				 res, b->mr->rkey, (uintptr_t)word, 40, 5));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(41, *res);
	ASSERT_EQ(41, *word);
	/* a non-fetching add (uetdv) */
	ibv_wr_start(a->qpx);
	a->qpx->wr_id = 5;
	a->qpx->wr_flags = IBV_SEND_SIGNALED;
	uetdv_wr_atomic_add(a->qpx, b->mr->rkey, (uintptr_t)word, 1000);
	uetdv_wr_set_ru_addr(a->qpx, uetdv_ah_to_ah_ex(a->to_peer), 0);
	ASSERT_EQ(0, ibv_wr_complete(a->qpx));
	ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(1041, *word);
	ASSERT_EQ(0, ibv_dereg_mr(noatom));
	ASSERT_EQ(0, ibv_dereg_mr(end));
}

TEST_HARNESS_MAIN
