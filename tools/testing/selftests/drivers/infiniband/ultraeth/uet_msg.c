// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Messages between two UET endpoints on two devices joined by a wire:
 * send/receive of every interesting size in both directions, 10,000
 * messages each way, tagged matching, the errors of bad requests and the
 * completions of failed ones. Every received byte is checked.
 *
 * One process drives both sides. Side A is $UET_DEV0 (default uet0) in the
 * current network namespace, side B is $UET_DEV1 (default uet1) whose
 * netdev lives in the network namespace $UET_NS1 (default uet-msg-peer;
 * empty: the current one). A job with the same JobID is realized in each
 * namespace and each context joins its own (a job belongs to the
 * namespace that opened it), then the process returns to its namespace.
 * The FEP addresses are $UET_ADDR0 and $UET_ADDR1 (IPv4 or IPv6, default
 * 10.77.0.1 and 10.77.0.2). $UET_MSG_COUNT sets the count of the many
 * messages case (default 10000). uet_msg.sh sets all of it up.
 */

#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "uet_pair.h"

FIXTURE(msg)
{
	struct side a, b;
	uint32_t job_id;
	char desc[160];
};

FIXTURE_SETUP(msg)
{
	const char *why;
	bool skip;

	/* every test runs in a process of its own: a JobID of its own */
	self->job_id = 0x100000 + (getpid() & 0x7ffff);
	why = pair_open(&self->a, &self->b, self->job_id, 0, &skip);
	if (why && skip)
		SKIP(return, "%s: %s", why, strerror(errno));
	ASSERT_EQ(NULL, why) TH_LOG("%s: %s", why, strerror(errno));
}

FIXTURE_TEARDOWN(msg)
{
	side_close(&self->a);
	side_close(&self->b);
}

/*
 * One message of len bytes from s to r, sent from offset 0 of s's buffer
 * into offset RECV_OFF of r's, through ibv_wr_* (tagged with tag if
 * tagged). Checks both completions, every field of the receive
 * completion, every byte and the canary after the message.
 */
static void one_msg(struct __test_metadata *_metadata, struct side *s,
		    struct side *r, size_t len, uint64_t seed, uint32_t job_id)
{
	struct wcx sw, rw;
	long bad;

	fill(s->buf, len, seed);
	memset(r->buf + RECV_OFF, CANARY, len + 64);
	ASSERT_EQ(0, post_recv(r, 0xbeef, RECV_OFF, len + 64));
	ASSERT_EQ(0, send_msg(s, 0xcafe, 0, len));
	ASSERT_EQ(0, wait_wc(s->scq, &sw, WAIT_MS))
		TH_LOG("%s -> %s, %zu bytes: no send completion", s->name,
		       r->name, len);
	EXPECT_EQ(IBV_WC_SUCCESS, sw.status)
		TH_LOG("send status %s (vendor error %u)",
		       ibv_wc_status_str(sw.status), sw.vendor_err);
	EXPECT_EQ(0xcafe, sw.wr_id);
	EXPECT_EQ(IBV_WC_SEND, sw.opcode);
	ASSERT_EQ(0, wait_wc(r->rcq, &rw, WAIT_MS))
		TH_LOG("%s -> %s, %zu bytes: no receive completion", s->name,
		       r->name, len);
	ASSERT_EQ(IBV_WC_SUCCESS, rw.status)
		TH_LOG("receive status %s (vendor error %u)",
		       ibv_wc_status_str(rw.status), rw.vendor_err);
	EXPECT_EQ(0xbeef, rw.wr_id);
	EXPECT_EQ(IBV_WC_RECV, rw.opcode);
	EXPECT_EQ(len, rw.byte_len);
	EXPECT_EQ(s->qp->qp_num, rw.src_qp);
	EXPECT_EQ(s->qp->qp_num, rw.src_id);
	EXPECT_EQ(r->qp->qp_num, rw.qp_num);
	EXPECT_EQ(job_id, rw.job_id);
	EXPECT_EQ(0, memcmp(rw.src_addr.raw, s->addr.raw, 16));
	bad = check(r->buf + RECV_OFF, len, seed);
	EXPECT_EQ(-1, bad) TH_LOG("%zu bytes: wrong byte at %ld", len, bad);
	EXPECT_EQ(CANARY, r->buf[RECV_OFF + len])
		TH_LOG("%zu bytes: written past the message", len);
}

/* sizes 0, 1, MTU - 1, MTU, MTU + 1, 64 KiB, 1 MiB each way */
TEST_F_TIMEOUT(msg, sizes, 240)
{
	uint32_t mtu = self->a.dattr.mtu;
	/* 64 KiB is the eager limit: one byte more is a rendezvous send */
	size_t sizes[] = { 0, 1, mtu - 1, mtu, mtu + 1, 64 << 10,
			   (64 << 10) + 1, 1 << 20 };
	unsigned int i;

	ASSERT_GT(mtu, 1);
	TH_LOG("mtu %u, max_msg_size %u", mtu, self->a.dattr.max_msg_size);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		one_msg(_metadata, &self->a, &self->b, sizes[i], i, self->job_id);
		one_msg(_metadata, &self->b, &self->a, sizes[i], i + 100,
			self->job_id);
	}
}

/* a signaled send of len bytes at p (lkey) from s to its peer */
static int send_at(struct side *s, uint64_t wr_id, void *p, size_t len,
		   uint32_t lkey)
{
	ibv_wr_start(s->qpx);
	s->qpx->wr_id = wr_id;
	s->qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(s->qpx);
	uetdv_wr_set_ru_addr(s->qpx, uetdv_ah_to_ah_ex(s->to_peer), 0);
	ibv_wr_set_sge(s->qpx, lkey, (uintptr_t)p, len);
	return ibv_wr_complete(s->qpx);
}

/*
 * Messages of 16 MiB, expected, and of max_msg_size bytes, unexpected (the
 * receive posted after the message arrived): rendezvous sends, in buffers
 * of their own; one byte more than max_msg_size is refused at post. The
 * harness timeout leaves room for UET_WAIT_SCALE (each wait is
 * 4 * WAIT_MS).
 */
TEST_F_TIMEOUT(msg, max_msg_size, 1200)
{
	struct side *a = &self->a, *b = &self->b;
	size_t max = a->dattr.max_msg_size;
	struct ibv_mr *smr, *rmr;
	uint8_t *sbuf, *rbuf;
	struct wcx w;
	int round;

	ASSERT_GE(max, 16u << 20);
	sbuf = malloc(max + 1);
	rbuf = malloc(max + 64);
	ASSERT_NE(NULL, sbuf);
	ASSERT_NE(NULL, rbuf);
	smr = ibv_reg_mr(a->pd, sbuf, max + 1, 0);
	rmr = ibv_reg_mr(b->pd, rbuf, max + 64, IBV_ACCESS_LOCAL_WRITE);
	ASSERT_NE(NULL, smr);
	ASSERT_NE(NULL, rmr);
	for (round = 0; round < 2; round++) {
		size_t len = round ? max : 16u << 20;
		struct ibv_sge sge = {
			.addr = (uintptr_t)rbuf, .length = max + 64,
			.lkey = rmr->lkey,
		};
		struct ibv_recv_wr wr = {
			.wr_id = 10 + round, .sg_list = &sge, .num_sge = 1,
		}, *bad;

		fill(sbuf, len, 70 + round);
		memset(rbuf, CANARY, max + 64);
		if (round == 0)
			ASSERT_EQ(0, ibv_post_recv(b->qp, &wr, &bad));
		ASSERT_EQ(0, send_at(a, round, sbuf, len, smr->lkey));
		if (round == 1) {
			/* the message waits at the target for a receive */
			usleep(200000);
			ASSERT_EQ(0, ibv_post_recv(b->qp, &wr, &bad));
		}
		if (wait_wc(b->rcq, &w, WAIT_MS * 4)) {
			int e = wait_wc(a->scq, &w, 0);

			TH_LOG("round %d: no receive completion; send: %s",
			       round, e ? "no completion either" :
			       ibv_wc_status_str(w.status));
			ASSERT_TRUE(false);
		}
		ASSERT_EQ(IBV_WC_SUCCESS, w.status)
			TH_LOG("round %d: %s (uet rc 0x%x)", round,
			       ibv_wc_status_str(w.status), w.vendor_err);
		ASSERT_EQ(10 + round, w.wr_id);
		ASSERT_EQ(len, w.byte_len);
		ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS * 4));
		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		ASSERT_EQ(-1, check(rbuf, len, 70 + round))
			TH_LOG("round %d: byte %ld wrong", round,
			       check(rbuf, len, 70 + round));
		ASSERT_EQ(CANARY, rbuf[len]);
	}
	ASSERT_EQ(EINVAL, send_at(a, 9, sbuf, max + 1, smr->lkey));
	ASSERT_EQ(0, ibv_dereg_mr(smr));
	ASSERT_EQ(0, ibv_dereg_mr(rmr));
	free(sbuf);
	free(rbuf);
}

/*
 * COUNT messages each way at once (RUD: in any order), each with its
 * sequence number in its first 8 bytes and a pattern of it after; every
 * number must arrive exactly once, intact.
 */
#define MANY_LEN 256
#define MANY_SLOTS 512

#define MANY_SEND_SLOTS (SQ_DEPTH / 2)

struct many {
	struct side *s, *r;
	unsigned int sent, send_done, recvd, count;
	uint8_t *seen;
	/* sends complete in any order: a buffer is free once its send is */
	uint8_t busy[MANY_SEND_SLOTS];
};

static int many_post_recv(struct many *m, unsigned int slot)
{
	return post_recv(m->r, slot, RECV_OFF + slot * MANY_LEN, MANY_LEN);
}

/* sends what the send ring has room for: 0 or an errno */
static int many_send(struct many *m)
{
	struct side *s = m->s;
	unsigned int n = 0;

	while (m->sent < m->count && !m->busy[m->sent % MANY_SEND_SLOTS] &&
	       n < 32) {
		/* a buffer per outstanding send: the slot of its number */
		size_t off = (m->sent % MANY_SEND_SLOTS) * MANY_LEN;
		uint64_t seq = m->sent;
		int err;

		memcpy(s->buf + off, &seq, 8);
		fill(s->buf + off + 8, MANY_LEN - 8, seq);
		err = send_msg(s, seq, off, MANY_LEN);
		if (err)
			return err;
		m->busy[seq % MANY_SEND_SLOTS] = 1;
		m->sent++;
		n++;
	}
	return 0;
}

TEST_F_TIMEOUT(msg, many, 280)
{
	unsigned int count = atoi(env_or("UET_MSG_COUNT", "10000"));
	struct many m[2] = {
		{ .s = &self->a, .r = &self->b, .count = count,
		  .seen = calloc(count, 1) },
		{ .s = &self->b, .r = &self->a, .count = count,
		  .seen = calloc(count, 1) },
	};
	uint64_t idle_since = now_ms();
	unsigned int i, k;

	ASSERT_NE(NULL, m[0].seen);
	ASSERT_NE(NULL, m[1].seen);
	for (k = 0; k < 2; k++)
		for (i = 0; i < MANY_SLOTS; i++)
			ASSERT_EQ(0, many_post_recv(&m[k], i));

	while (m[0].recvd < count || m[1].recvd < count ||
	       m[0].send_done < count || m[1].send_done < count) {
		bool progress = false;
		struct wcx w;

		for (k = 0; k < 2; k++) {
			ASSERT_EQ(0, many_send(&m[k]));
			while (!wait_wc(m[k].s->scq, &w, 0)) {
				ASSERT_EQ(IBV_WC_SUCCESS, w.status)
					TH_LOG("send %llu: %s (vendor error %u)",
					       (unsigned long long)w.wr_id,
					       ibv_wc_status_str(w.status),
					       w.vendor_err);
				ASSERT_LT(w.wr_id, m[k].sent);
				ASSERT_EQ(1, m[k].busy[w.wr_id % MANY_SEND_SLOTS]);
				m[k].busy[w.wr_id % MANY_SEND_SLOTS] = 0;
				m[k].send_done++;
				progress = true;
			}
			while (!wait_wc(m[k].r->rcq, &w, 0)) {
				uint8_t *p;
				uint64_t seq;

				ASSERT_EQ(IBV_WC_SUCCESS, w.status)
					TH_LOG("receive: %s (vendor error %u)",
					       ibv_wc_status_str(w.status),
					       w.vendor_err);
				ASSERT_LT(w.wr_id, MANY_SLOTS);
				ASSERT_EQ(MANY_LEN, w.byte_len);
				p = m[k].r->buf + RECV_OFF + w.wr_id * MANY_LEN;
				memcpy(&seq, p, 8);
				ASSERT_LT(seq, count);
				ASSERT_EQ(0, m[k].seen[seq])
					TH_LOG("message %llu arrived twice",
					       (unsigned long long)seq);
				m[k].seen[seq] = 1;
				ASSERT_EQ(-1, check(p + 8, MANY_LEN - 8, seq))
					TH_LOG("message %llu corrupted",
					       (unsigned long long)seq);
				m[k].recvd++;
				ASSERT_EQ(0, many_post_recv(&m[k], w.wr_id));
				progress = true;
			}
		}
		if (progress)
			idle_since = now_ms();
		ASSERT_LT(now_ms() - idle_since, WAIT_MS)
			TH_LOG("stalled: A->B sent %u done %u received %u; B->A sent %u done %u received %u",
			       m[0].sent, m[0].send_done, m[0].recvd,
			       m[1].sent, m[1].send_done, m[1].recvd);
		if (!progress)
			usleep(100);
	}
	TH_LOG("%u messages each way, all intact, none twice", count);
	free(m[0].seen);
	free(m[1].seen);
}

/* tagged: exact match, with match bits, header data and flags reported */
TEST_F(msg, tagged_exact)
{
	struct wcx w;

	fill(self->a.buf, 100, 1);
	ASSERT_EQ(0, post_trecv(&self->b, 1, RECV_OFF, 4096, 0x1234, 0));
	ibv_wr_start(self->a.qpx);
	self->a.qpx->wr_id = 9;
	self->a.qpx->wr_flags = IBV_SEND_SIGNALED;
	uetdv_wr_tagged_send_data(self->a.qpx, 0x1234, 0x1122334455667788ull);
	uetdv_wr_set_ru_addr(self->a.qpx, uetdv_ah_to_ah_ex(self->a.to_peer), 0);
	ibv_wr_set_sge(self->a.qpx, self->a.mr->lkey, (uintptr_t)self->a.buf,
		       100);
	ASSERT_EQ(0, ibv_wr_complete(self->a.qpx));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	EXPECT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status)
		TH_LOG("%s (vendor error %u)", ibv_wc_status_str(w.status),
		       w.vendor_err);
	EXPECT_EQ(1, w.wr_id);
	EXPECT_EQ(100, w.byte_len);
	EXPECT_EQ(0x1234, w.match_bits);
	EXPECT_EQ(0x1122334455667788ull, w.header_data);
	EXPECT_EQ(UETDV_WC_TAGGED | UETDV_WC_WITH_DATA, w.uflags);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 100, 1));
}

/* tagged: ignore bits; a message matching no receive waits for one */
TEST_F(msg, tagged_masked)
{
	struct wcx w;

	fill(self->a.buf, 64, 2);
	fill(self->a.buf + 4096, 64, 3);
	ASSERT_EQ(0, post_trecv(&self->b, 1, RECV_OFF, 4096, 0xab00, 0xff));
	/* 0xcd42 matches nothing posted, 0xab42 matches 0xab00/0xff */
	ASSERT_EQ(0, wr_send(&self->a, 10, 4096, 64, self->a.mr->lkey, true,
			     0xcd42));
	ASSERT_EQ(0, wr_send(&self->a, 11, 0, 64, self->a.mr->lkey, true,
			     0xab42));
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(1, w.wr_id);
	EXPECT_EQ(0xab42, w.match_bits);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 64, 2));
	/* the other one is held until a receive matches it (for a second) */
	EXPECT_EQ(-ETIMEDOUT, wait_wc(self->b.rcq, &w, 200));
	ASSERT_EQ(0, post_trecv(&self->b, 2, RECV_OFF + 8192, 4096, 0xcd42, 0));
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(2, w.wr_id);
	EXPECT_EQ(0xcd42, w.match_bits);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF + 8192, 64, 3));
}

/* an unexpected tagged message is held and lands in a later receive */
TEST_F(msg, tagged_unexpected)
{
	struct wcx w;

	fill(self->a.buf, 3000, 4);
	ASSERT_EQ(0, wr_send(&self->a, 20, 0, 3000, self->a.mr->lkey, true,
			     0x77));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS))
		TH_LOG("no send completion for an unexpected message");
	EXPECT_EQ(IBV_WC_SUCCESS, w.status)
		TH_LOG("%s (vendor error %u)", ibv_wc_status_str(w.status),
		       w.vendor_err);
	/* (briefly: the target drops unclaimed messages after a second) */
	EXPECT_EQ(-ETIMEDOUT, wait_wc(self->b.rcq, &w, 200));
	ASSERT_EQ(0, post_trecv(&self->b, 3, RECV_OFF, 4096, 0x77, 0));
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(3, w.wr_id);
	EXPECT_EQ(3000, w.byte_len);
	EXPECT_EQ(0x77, w.match_bits);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 3000, 4));
}

/* two receives matching one message: the first posted one takes it */
TEST_F(msg, tagged_order)
{
	struct wcx w;

	fill(self->a.buf, 32, 5);
	fill(self->a.buf + 4096, 32, 6);
	ASSERT_EQ(0, post_trecv(&self->b, 1, RECV_OFF, 4096, 0, ~0ull));
	ASSERT_EQ(0, post_trecv(&self->b, 2, RECV_OFF + 4096, 4096, 0x10, 0));
	ASSERT_EQ(0, wr_send(&self->a, 30, 0, 32, self->a.mr->lkey, true,
			     0x10));
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(1, w.wr_id) TH_LOG("the later receive matched first");
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 32, 5));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	ASSERT_EQ(0, wr_send(&self->a, 31, 4096, 32, self->a.mr->lkey, true,
			     0x10));
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(2, w.wr_id);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF + 4096, 32, 6));
}

/* classic ibv_post_send: plain AH + remote_qpn, immediate data, inline,
 * three SGEs gathered into a two-SGE receive */
TEST_F(msg, classic_post)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1 };
	struct ibv_sge sg[3], rg[2];
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_recv_wr rr = {}, *rbad;
	struct ibv_ah *ah;
	struct wcx w;
	int i;

	aa.grh.dgid = self->b.addr;
	ah = ibv_create_ah(self->a.pd, &aa);
	ASSERT_NE(NULL, ah);

	fill(self->a.buf, 3000, 8);
	for (i = 0; i < 3; i++) {
		/* scattered in the buffer, in order of the pattern */
		memcpy(self->a.buf + 8192 * (i + 1), self->a.buf + 1000 * i,
		       1000);
		sg[i].addr = (uintptr_t)self->a.buf + 8192 * (i + 1);
		sg[i].length = 1000;
		sg[i].lkey = self->a.mr->lkey;
	}
	for (i = 0; i < 2; i++) {
		rg[i].addr = (uintptr_t)self->b.buf + RECV_OFF + 65536 * i;
		rg[i].length = 1500;
		rg[i].lkey = self->b.mr->lkey;
	}
	rr.wr_id = 5;
	rr.sg_list = rg;
	rr.num_sge = 2;
	ASSERT_EQ(0, ibv_post_recv(self->b.qp, &rr, &rbad));
	wr.wr_id = 6;
	wr.sg_list = sg;
	wr.num_sge = 3;
	wr.opcode = IBV_WR_SEND_WITH_IMM;
	wr.imm_data = htobe32(0xdeadbeef);
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = self->b.qp->qp_num;
	ASSERT_EQ(0, ibv_post_send(self->a.qp, &wr, &bad));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	EXPECT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(5, w.wr_id);
	EXPECT_EQ(3000, w.byte_len);
	EXPECT_EQ(IBV_WC_WITH_IMM, w.wc_flags & IBV_WC_WITH_IMM);
	EXPECT_EQ(htobe32(0xdeadbeef), w.imm);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 1500, 8));
	EXPECT_EQ(0, memcmp(self->b.buf + RECV_OFF + 65536,
			    self->a.buf + 1500, 1500));

	/* inline: the buffer may change as soon as the post returns */
	fill(self->a.buf, 40, 9);
	sg[0].addr = (uintptr_t)self->a.buf;
	sg[0].length = 40;
	sg[0].lkey = 0;		/* not checked for inline data */
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
	ASSERT_EQ(0, post_recv(&self->b, 7, RECV_OFF, 4096));
	ASSERT_EQ(0, ibv_post_send(self->a.qp, &wr, &bad));
	memset(self->a.buf, 0, 40);
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	EXPECT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(40, w.byte_len);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 40, 9));
	ibv_destroy_ah(ah);
}

/* a bad lkey, an SGE outside the MR: LOC_PROT_ERR, nothing delivered */
TEST_F(msg, bad_sge)
{
	struct wcx w;

	ASSERT_EQ(0, post_recv(&self->b, 1, RECV_OFF, 4096));
	ASSERT_EQ(0, wr_send(&self->a, 40, 0, 100, self->a.mr->lkey ^ 0x5a5a,
			     false, 0));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR, w.status)
		TH_LOG("bad lkey: %s", ibv_wc_status_str(w.status));
	EXPECT_EQ(40, w.wr_id);
	/* from 100 bytes before the end of the MR, 200 bytes */
	ASSERT_EQ(0, wr_send(&self->a, 41, BUF_BYTES - 100, 200,
			     self->a.mr->lkey, false, 0));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR, w.status)
		TH_LOG("SGE outside the MR: %s", ibv_wc_status_str(w.status));
	EXPECT_EQ(41, w.wr_id);
	/* nothing arrived: the receive is still there for a good message */
	EXPECT_EQ(-ETIMEDOUT, wait_wc(self->b.rcq, &w, QUIET_MS));
	fill(self->a.buf, 100, 10);
	ASSERT_EQ(0, send_msg(&self->a, 42, 0, 100));
	ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(1, w.wr_id);
	EXPECT_EQ(100, w.byte_len);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 100, 10));
}

/* bad requests fail at post: too many SGEs, too long, no destination */
TEST_F(msg, bad_post)
{
	struct ibv_sge sg[4];
	struct ibv_send_wr wr = {}, *bad = NULL;
	struct ibv_recv_wr rr = {}, *rbad = NULL;
	uint8_t big[64] = {};
	struct wcx w;
	int i;

	for (i = 0; i < 4; i++) {
		sg[i].addr = (uintptr_t)self->a.buf + 64 * i;
		sg[i].length = 64;
		sg[i].lkey = self->a.mr->lkey;
	}
	wr.wr_id = 1;
	wr.sg_list = sg;
	wr.num_sge = 4;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ud.ah = self->a.to_peer;
	EXPECT_EQ(EINVAL, ibv_post_send(self->a.qp, &wr, &bad));
	EXPECT_EQ(&wr, bad);

	ibv_wr_start(self->a.qpx);
	ibv_wr_send(self->a.qpx);
	uetdv_wr_set_ru_addr(self->a.qpx, uetdv_ah_to_ah_ex(self->a.to_peer), 0);
	ibv_wr_set_sge_list(self->a.qpx, 4, sg);
	EXPECT_EQ(EINVAL, ibv_wr_complete(self->a.qpx));

	rr.sg_list = sg;
	rr.num_sge = 3;
	EXPECT_EQ(EINVAL, ibv_post_recv(self->a.qp, &rr, &rbad));
	EXPECT_EQ(&rr, rbad);

	/* longer than max_msg_size */
	if (self->a.dattr.max_msg_size < UINT32_MAX) {
		sg[0].length = self->a.dattr.max_msg_size + 1;
		wr.num_sge = 1;
		EXPECT_EQ(EINVAL, ibv_post_send(self->a.qp, &wr, &bad));
	}
	/* inline longer than max_inline_data */
	ibv_wr_start(self->a.qpx);
	ibv_wr_send(self->a.qpx);
	uetdv_wr_set_ru_addr(self->a.qpx, uetdv_ah_to_ah_ex(self->a.to_peer), 0);
	ibv_wr_set_inline_data(self->a.qpx, big, 49);
	EXPECT_EQ(EINVAL, ibv_wr_complete(self->a.qpx));
	/* no destination */
	ibv_wr_start(self->a.qpx);
	ibv_wr_send(self->a.qpx);
	ibv_wr_set_sge(self->a.qpx, self->a.mr->lkey, (uintptr_t)self->a.buf, 8);
	EXPECT_EQ(EINVAL, ibv_wr_complete(self->a.qpx));

	/* nothing of it was sent */
	EXPECT_EQ(-ETIMEDOUT, wait_wc(self->a.scq, &w, QUIET_MS));
}

/* a full send ring: ENOMEM at post, and nothing posted is lost */
TEST_F_TIMEOUT(msg, ring_full, 120)
{
	struct side *a = &self->a, *b = &self->b;
	struct ibv_sge sge;
	struct ibv_send_wr *wrs, *bad = NULL;
	unsigned int depth, posted, i, got = 0, sent = 0;
	uint8_t *seen;
	struct wcx w;
	int err;

	depth = a->sq_depth;
	ASSERT_GE(depth, SQ_DEPTH);
	ASSERT_LE(depth + 1, RQ_DEPTH);
	wrs = calloc(depth + 1, sizeof(*wrs));
	seen = calloc(depth + 1, 1);
	ASSERT_NE(NULL, wrs);
	ASSERT_NE(NULL, seen);
	for (i = 0; i < RQ_DEPTH; i++)
		ASSERT_EQ(0, post_recv(b, i, RECV_OFF + i * 64, 64));

	/* ibv_wr_*: one more than the ring holds fails as a whole */
	ibv_wr_start(a->qpx);
	for (i = 0; i <= depth; i++) {
		a->qpx->wr_id = 1000 + i;
		a->qpx->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_send(a->qpx);
		uetdv_wr_set_ru_addr(a->qpx, uetdv_ah_to_ah_ex(a->to_peer), 0);
		ibv_wr_set_sge(a->qpx, a->mr->lkey, (uintptr_t)a->buf, 8);
	}
	EXPECT_EQ(ENOMEM, ibv_wr_complete(a->qpx));
	EXPECT_EQ(-ETIMEDOUT, wait_wc(a->scq, &w, QUIET_MS));

	/* ibv_post_send: the ring takes what it has room for */
	sge.addr = (uintptr_t)a->buf;
	sge.length = 8;
	sge.lkey = a->mr->lkey;
	for (i = 0; i <= depth; i++) {
		wrs[i].wr_id = i;
		wrs[i].next = i < depth ? &wrs[i + 1] : NULL;
		wrs[i].sg_list = &sge;
		wrs[i].num_sge = 1;
		wrs[i].opcode = IBV_WR_SEND;
		wrs[i].send_flags = IBV_SEND_SIGNALED;
		wrs[i].wr.ud.ah = a->to_peer;
	}
	err = ibv_post_send(a->qp, wrs, &bad);
	EXPECT_EQ(ENOMEM, err);
	ASSERT_NE(NULL, bad);
	posted = bad - wrs;
	TH_LOG("ring of %u: %u posted before ENOMEM", depth, posted);
	EXPECT_GT(posted, 0);
	EXPECT_LE(posted, depth);

	/* every posted one completes and arrives once; the rest never */
	while (got < posted || sent < posted) {
		if (sent < posted) {
			ASSERT_EQ(0, wait_wc(a->scq, &w, WAIT_MS))
				TH_LOG("%u of %u sends completed", sent, posted);
			EXPECT_EQ(IBV_WC_SUCCESS, w.status);
			ASSERT_LT(w.wr_id, posted);
			sent++;
		}
		if (got < posted) {
			ASSERT_EQ(0, wait_wc(b->rcq, &w, WAIT_MS))
				TH_LOG("%u of %u messages arrived", got, posted);
			EXPECT_EQ(IBV_WC_SUCCESS, w.status);
			ASSERT_LT(w.wr_id, RQ_DEPTH);
			got++;
		}
	}
	EXPECT_EQ(-ETIMEDOUT, wait_wc(a->scq, &w, QUIET_MS))
		TH_LOG("extra send completion: wr_id %llu status %s",
		       (unsigned long long)w.wr_id, ibv_wc_status_str(w.status));
	EXPECT_EQ(-ETIMEDOUT, wait_wc(b->rcq, &w, QUIET_MS))
		TH_LOG("extra receive completion: wr_id %llu status %s len %u",
		       (unsigned long long)w.wr_id, ibv_wc_status_str(w.status),
		       w.byte_len);
	free(wrs);
	free(seen);
}

/* a destination endpoint that does not exist: an error completion */
TEST_F_TIMEOUT(msg, peer_missing, 120)
{
	struct ibv_ah *ah;
	struct wcx w;
	uint32_t qpn = self->b.qp->qp_num;

	ASSERT_EQ(0, ibv_destroy_qp(self->b.qp));
	self->b.qp = NULL;
	ah = ah_to(&self->a, &self->b.addr, qpn);
	ASSERT_NE(NULL, ah);
	ibv_destroy_ah(self->a.to_peer);
	self->a.to_peer = ah;
	ASSERT_EQ(0, send_msg(&self->a, 50, 0, 100));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, 100000))
		TH_LOG("no completion for a send to a missing endpoint");
	EXPECT_EQ(50, w.wr_id);
	/* the target answers BAD_PID */
	EXPECT_EQ(IBV_WC_REM_INV_REQ_ERR, w.status)
		TH_LOG("send to a missing endpoint: %s (vendor error %u)",
		       ibv_wc_status_str(w.status), w.vendor_err);
	EXPECT_NE(0, w.vendor_err);
}

/* an address where nobody answers: RETRY_EXC_ERR after the retries */
TEST_F_TIMEOUT(msg, peer_silent, 200)
{
	union ibv_gid nobody;
	struct ibv_ah *ah;
	struct wcx w;

	ASSERT_EQ(0, addr_to_gid(env_or("UET_ADDR_SILENT", "10.77.0.99"),
				 &nobody));
	ah = ah_to(&self->a, &nobody, self->b.qp->qp_num);
	ASSERT_NE(NULL, ah);
	ibv_destroy_ah(self->a.to_peer);
	self->a.to_peer = ah;
	ASSERT_EQ(0, send_msg(&self->a, 60, 0, 100));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, 180000))
		TH_LOG("no completion for a send nobody answers");
	EXPECT_EQ(60, w.wr_id);
	EXPECT_EQ(IBV_WC_RETRY_EXC_ERR, w.status)
		TH_LOG("%s (vendor error %u)", ibv_wc_status_str(w.status),
		       w.vendor_err);
}

/* outstanding receives of an endpoint in error, then destroyed: flushed */
TEST_F(msg, flush)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	unsigned int i, seen = 0;
	struct wcx w;

	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, post_recv(&self->b, 100 + i, RECV_OFF + i * 64, 64));
	ASSERT_EQ(0, ibv_modify_qp(self->b.qp, &attr, IBV_QP_STATE));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS))
			TH_LOG("%u of 8 receives flushed after IBV_QPS_ERR", i);
		EXPECT_EQ(IBV_WC_WR_FLUSH_ERR, w.status);
		ASSERT_GE(w.wr_id, 100);
		ASSERT_LT(w.wr_id, 108);
		seen |= 1u << (w.wr_id - 100);
	}
	EXPECT_EQ(0xff, seen);

	/* a fresh endpoint with receives outstanding, destroyed */
	ASSERT_EQ(0, ibv_destroy_qp(self->b.qp));
	self->b.qp = ep_new(&self->b, 16, 16, NULL);
	ASSERT_NE(NULL, self->b.qp);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, post_recv(&self->b, 200 + i, RECV_OFF + i * 64, 64));
	ASSERT_EQ(0, ibv_destroy_qp(self->b.qp));
	self->b.qp = NULL;
	seen = 0;
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS))
			TH_LOG("%u of 8 receives flushed by destroy", i);
		EXPECT_EQ(IBV_WC_WR_FLUSH_ERR, w.status);
		ASSERT_GE(w.wr_id, 200);
		ASSERT_LT(w.wr_id, 208);
		seen |= 1u << (w.wr_id - 200);
	}
	EXPECT_EQ(0xff, seen);
}

/* QP numbers: PIDonFEP in the job's range, a requested one, no twice */
TEST_F(msg, qpn)
{
	struct uetdv_qp_init_attr ua = {
		.driver_qp_type = UETDV_QP_TYPE_RU,
		.delivery_mode = UETDV_DM_RUD,
		.flags = UETDV_QP_INIT_FLAGS_QPN,
	};
	struct uetdv_job_info ji;
	struct ibv_qp *qp, *qp2;
	uint32_t pid, want;

	ASSERT_EQ(0, uetdv_query_job(self->a.ctx, &ji, sizeof(ji)));
	pid = self->a.qp->qp_num & UETDV_QPN_PID_ON_FEP_MASK;
	EXPECT_GE(pid, ji.pid_on_fep_base);
	EXPECT_LT(pid, ji.pid_on_fep_base + ji.max_endpoints);
	EXPECT_EQ(0, self->a.qp->qp_num >> 24);

	want = (ji.pid_on_fep_base + ji.max_endpoints - 1) |
	       (5 << UETDV_QPN_RI_SHIFT);
	ua.qpn = want;
	qp = ep_new(&self->a, 16, 16, &ua);
	ASSERT_NE(NULL, qp) TH_LOG("QPN 0x%x: %s", want, strerror(errno));
	EXPECT_EQ(want, qp->qp_num);
	qp2 = ep_new(&self->a, 16, 16, &ua);
	EXPECT_EQ(NULL, qp2) TH_LOG("QPN 0x%x given twice", want);
	if (qp2)
		ibv_destroy_qp(qp2);
	ibv_destroy_qp(qp);

	/* every delivery mode the device lists, and no other */
	ua.flags = 0;
	for (ua.delivery_mode = UETDV_DM_RUD;
	     ua.delivery_mode <= UETDV_DM_UUD; ua.delivery_mode++) {
		qp = ep_new(&self->a, 16, 16, &ua);
		EXPECT_NE(NULL, qp) TH_LOG("mode %u: %s", ua.delivery_mode,
					   strerror(errno));
		EXPECT_TRUE(self->a.dattr.dev_caps &
			    (UETDV_DEVICE_CAP_RUD << ua.delivery_mode));
		if (qp)
			ibv_destroy_qp(qp);
	}
	ua.delivery_mode = UETDV_DM_UUD + 1;
	qp = ep_new(&self->a, 16, 16, &ua);
	EXPECT_EQ(NULL, qp);
	EXPECT_EQ(EOPNOTSUPP, errno);
	if (qp)
		ibv_destroy_qp(qp);
}

/* completion events: ibv_req_notify_cq and a completion channel */
TEST_F(msg, events)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(self->b.ctx);
	struct ibv_cq_ex *cq;
	struct ibv_cq *ev_cq;
	struct pollfd pfd;
	void *ev_ctx;
	struct wcx w;

	ASSERT_NE(NULL, ch);
	cq = cq_ex_new(self->b.ctx, 64, ch);
	ASSERT_NE(NULL, cq);
	/* an endpoint receiving into the CQ with the channel */
	ASSERT_EQ(0, ibv_destroy_qp(self->b.qp));
	ibv_destroy_cq(ibv_cq_ex_to_cq(self->b.rcq));
	self->b.rcq = cq;
	self->b.qp = ep_new(&self->b, 16, 16, NULL);
	ASSERT_NE(NULL, self->b.qp);
	ibv_destroy_ah(self->a.to_peer);
	self->a.to_peer = ah_to(&self->a, &self->b.addr, self->b.qp->qp_num);
	ASSERT_NE(NULL, self->a.to_peer);

	ASSERT_EQ(0, ibv_req_notify_cq(ibv_cq_ex_to_cq(cq), 0));
	ASSERT_EQ(0, post_recv(&self->b, 1, RECV_OFF, 64));
	fill(self->a.buf, 64, 11);
	ASSERT_EQ(0, send_msg(&self->a, 70, 0, 64));
	pfd.fd = ch->fd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, WAIT_MS)) TH_LOG("no completion event");
	ASSERT_EQ(0, ibv_get_cq_event(ch, &ev_cq, &ev_ctx));
	EXPECT_EQ(ibv_cq_ex_to_cq(cq), ev_cq);
	ibv_ack_cq_events(ev_cq, 1);
	ASSERT_EQ(0, wait_wc(cq, &w, 0));
	EXPECT_EQ(IBV_WC_SUCCESS, w.status);
	EXPECT_EQ(-1, check(self->b.buf + RECV_OFF, 64, 11));

	ASSERT_EQ(0, ibv_destroy_qp(self->b.qp));
	self->b.qp = NULL;
	ibv_destroy_cq(ibv_cq_ex_to_cq(cq));
	self->b.rcq = NULL;
	ibv_destroy_comp_channel(ch);
}

/* no job joined: no endpoint (EPERM) */
/*
 * 256 endpoints on each device at once, with small rings: endpoint i of A
 * sends one message to endpoint i of B (classic ibv_post_send with an
 * extended AH). Every message arrives once, at the right endpoint, from
 * the right sender, intact; every QP number is distinct.
 */
#define N_EPS 256
TEST_F_TIMEOUT(msg, endpoints_256, 240)
{
	struct ibv_qp *qa[N_EPS] = {}, *qb[N_EPS] = {};
	struct ibv_ah *ah[N_EPS] = {};
	unsigned int seen[N_EPS] = {};
	unsigned int i, j, ok = 0;
	struct wcx w;

	for (i = 0; i < N_EPS; i++) {
		qa[i] = ep_new(&self->a, 4, 4, NULL);
		qb[i] = ep_new(&self->b, 4, 4, NULL);
		ASSERT_NE(NULL, qa[i]) TH_LOG("endpoint %u of A: %s", i, strerror(errno));
		ASSERT_NE(NULL, qb[i]) TH_LOG("endpoint %u of B: %s", i, strerror(errno));
	}
	for (i = 0; i < N_EPS; i++)
		for (j = 0; j < i; j++) {
			ASSERT_NE(qa[i]->qp_num, qa[j]->qp_num);
			ASSERT_NE(qb[i]->qp_num, qb[j]->qp_num);
		}
	for (i = 0; i < N_EPS; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)self->b.buf + RECV_OFF + i * 64,
			.length = 64,
			.lkey = self->b.mr->lkey,
		};
		struct ibv_recv_wr wr = {
			.wr_id = i, .sg_list = &sge, .num_sge = 1,
		}, *bad;

		ASSERT_EQ(0, ibv_post_recv(qb[i], &wr, &bad));
	}
	for (i = 0; i < N_EPS; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)self->a.buf + i * 64,
			.length = 32,
			.lkey = self->a.mr->lkey,
		};
		struct ibv_send_wr wr = {
			.wr_id = i, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
		}, *bad;

		fill(self->a.buf + i * 64, 32, 1000 + i);
		ah[i] = ah_to(&self->a, &self->b.addr, qb[i]->qp_num);
		ASSERT_NE(NULL, ah[i]);
		wr.wr.ud.ah = ah[i];
		wr.wr.ud.remote_qpn = qb[i]->qp_num;
		ASSERT_EQ(0, ibv_post_send(qa[i], &wr, &bad)) TH_LOG("endpoint %u", i);
	}
	for (i = 0; i < N_EPS; i++) {
		ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS))
			TH_LOG("%u send completions of %u", i, N_EPS);
		EXPECT_EQ(IBV_WC_SUCCESS, w.status)
			TH_LOG("send %llu: %s", (unsigned long long)w.wr_id,
			       ibv_wc_status_str(w.status));
	}
	for (i = 0; i < N_EPS; i++) {
		ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS))
			TH_LOG("%u receive completions of %u", i, N_EPS);
		ASSERT_EQ(IBV_WC_SUCCESS, w.status);
		ASSERT_LT(w.wr_id, N_EPS);
		j = w.wr_id;
		seen[j]++;
		EXPECT_EQ(qb[j]->qp_num, w.qp_num);
		EXPECT_EQ(qa[j]->qp_num, w.src_qp);
		EXPECT_EQ(32, w.byte_len);
		EXPECT_EQ(-1, check(self->b.buf + RECV_OFF + j * 64, 32, 1000 + j))
			TH_LOG("endpoint %u: wrong content", j);
	}
	for (i = 0; i < N_EPS; i++)
		ok += seen[i] == 1;
	EXPECT_EQ(N_EPS, ok);
	for (i = 0; i < N_EPS; i++) {
		ibv_destroy_ah(ah[i]);
		ibv_destroy_qp(qa[i]);
		ibv_destroy_qp(qb[i]);
	}
}

TEST(no_job)
{
	struct side s = { .job_fd = -1 };
	struct ibv_cq *cq;
	struct ibv_pd *pd;
	struct ibv_qp_init_attr_ex a = {};
	struct ibv_qp *qp;
	const char *why;

	why = side_open(&s, env_or("UET_DEV0", "uet0"), "",
			env_or("UET_ADDR0", "10.77.0.1"), 0);
	if (why)
		SKIP(return, "%s", why);
	pd = ibv_alloc_pd(s.ctx);
	ASSERT_NE(NULL, pd);
	cq = ibv_create_cq(s.ctx, 16, NULL, NULL, 0);
	ASSERT_NE(NULL, cq);
	a.qp_type = IBV_QPT_DRIVER;
	a.send_cq = cq;
	a.recv_cq = cq;
	a.cap.max_send_wr = 16;
	a.cap.max_recv_wr = 16;
	a.cap.max_send_sge = 1;
	a.cap.max_recv_sge = 1;
	a.comp_mask = IBV_QP_INIT_ATTR_PD;
	a.pd = pd;
	errno = 0;
	qp = uetdv_create_qp_ex(s.ctx, &a, NULL, 0);
	EXPECT_EQ(NULL, qp);
	EXPECT_EQ(EPERM, errno) TH_LOG("%s", strerror(errno));
	if (qp)
		ibv_destroy_qp(qp);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(s.ctx);
}

TEST_HARNESS_MAIN
