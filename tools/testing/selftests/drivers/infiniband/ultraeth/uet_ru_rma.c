// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_ru_rma: RMA and atomics between two RU queue pairs, written only
 * against the UET verbs proposed for libibverbs (ibv_uet(7)), with the
 * options of ibv_rc_pingpong. Per iteration i the client
 *
 *   1. writes SIZE bytes of pattern i into the server's data area,
 *   2. writes 8 bytes with 64-bit immediate data (a completion at the
 *      server, which checks the data area, all 64 bits of the immediate
 *      (ibv_wc_read_imm64_data; ibv_wc_read_imm_data its low 32), the
 *      JobID and the source ID, fills its reply area with pattern ~i and
 *      sends a message with a 32-bit immediate i),
 *   3. reads the server's reply area back and checks it,
 *   4. fetch-and-adds 1 to the server's counter (must return i) and
 *      compare-and-swaps its lock word from i to i + 1 (must return i).
 *
 * At the end the server checks counter and lock word are both ITERS.
 *
 *   -p PORT -d DEV -i IB-PORT -g GID-IDX -s SIZE -n ITERS -e -j JOBID -J -A
 *   as uet_ru_pingpong; and
 *   -P   steps 1 and 3 through ibv_post_send (wr.ru_rdma), else ibv_wr_*
 *   -K 32|64|both  with -P, which remote key fields of wr.ru_rdma are
 *        filled: rkey only (default), rkey64 only (as the proposal's
 *        ru_rma example does), or both. With 64 or both the client first
 *        checks that an rkey64 wider than 32 bits and an rkey64 that
 *        disagrees with rkey are refused with EINVAL
 *   -S ID  source ID of our QP, as uet_ru_pingpong -S; the server checks
 *        the client's on every write with immediate data
 *   -z   register with ibv_reg_mr_ex(), IBV_ACCESS_ZERO_BASED: the
 *        region is addressed by offsets, by peers and in local SGEs
 *   -u KEY  register with ibv_reg_mr_ex() under the application key KEY
 *        (IBV_REG_MR_MASK_RKEY); both sides pass their own key
 *   -W   64-bit keys throughout: local SGEs are struct ibv_sge64 with the
 *        region's lkey64 (ibv_wr_set_sge64, or IBV_SEND_SGE64 with -P),
 *        receives go through ibv_post_recv64, and with ibv_wr_* the read
 *        is ibv_wr_rdma_read64 and the write with immediate data
 *        ibv_wr_rdma_write_imm64 (else ibv_wr_rdma_read and
 *        ibv_wr_rdma_write64_imm64); writes are ibv_wr_rdma_write64 in
 *        both modes. First ibv_post_recv64, an IBV_SEND_SGE64 send and
 *        ibv_wr_set_sge64 must each refuse lkey64 | 1 << 32 with EINVAL
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <sys/time.h>

#include "uet_ru.h"

/* a completion: the ibv_wc members, and what only an ibv_cq_ex reads */
struct rwc {
	struct ibv_wc wc;
	uint64_t imm64;		/* receives with an immediate */
	uint32_t job_id, src_id;	/* receives */
};

struct rma {
	struct ru_common c;
	struct ibv_comp_channel *ch;
	struct ibv_cq_ex *cqx;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;
	struct ibv_mr *mr;
	uint8_t *buf;
	size_t size, area;	/* area: size rounded up to 64 */
	int events, post_send, zero_based;
	int key_fields;		/* -K: 1 rkey, 2 rkey64, 3 both */
	int wide;		/* -W: ibv_sge64, ibv_post_recv64, *64 verbs */
	uint64_t user_key;
	struct ru_peer peer;
	/* a receive completion that came while a send was awaited */
	struct rwc stash;
	bool stashed;
};

/* layout: data area, reply area, counter, lock word, atomic result,
 * doorbell word, receive slot */
#define OFF_REPLY(r) ((r)->area)
#define OFF_COUNTER(r) (2 * (r)->area)
#define OFF_LOCK(r) (2 * (r)->area + 8)
#define OFF_RESULT(r) (2 * (r)->area + 16)
#define OFF_BELL(r) (2 * (r)->area + 24)
#define OFF_RECV(r) (2 * (r)->area + 32)
#define BUF_LEN(r) (2 * (r)->area + 96)

/* the upper half of the 64-bit immediates: lost if only 32 bits travel */
#define IMM64_HIGH (0x12345678ull << 32)

static uint8_t pattern(uint32_t iter, size_t off)
{
	return (uint8_t)(iter * 31 + off * 7 + 1);
}

/* the peer's address of its byte at offset off */
static uint64_t raddr(struct rma *r, size_t off)
{
	return r->peer.addr + off;
}

static int wait_event(struct rma *r)
{
	struct ibv_cq *cq;
	void *ctx;

	if (ibv_get_cq_event(r->ch, &cq, &ctx))
		return -1;
	ibv_ack_cq_events(cq, 1);
	return ibv_req_notify_cq(cq, 0);
}

/* the next completion, which must succeed */
static int next_wc(struct rma *r, struct rwc *w, const char *what)
{
	struct ibv_poll_cq_attr pa = {};
	struct ibv_wc *wc = &w->wc;
	int ret;

	for (;;) {
		ret = ibv_start_poll(r->cqx, &pa);
		if (!ret)
			break;
		if (ret != ENOENT) {
			ru_err("%s: ibv_start_poll: %s\n", what, strerror(ret));
			return -1;
		}
		if (r->events && wait_event(r))
			return -1;
	}
	memset(w, 0, sizeof(*w));
	wc->wr_id = r->cqx->wr_id;
	wc->status = r->cqx->status;
	wc->vendor_err = ibv_wc_read_vendor_err(r->cqx);
	if (wc->status == IBV_WC_SUCCESS) {
		wc->opcode = ibv_wc_read_opcode(r->cqx);
		wc->wc_flags = ibv_wc_read_wc_flags(r->cqx);
	}
	if (wc->status == IBV_WC_SUCCESS && (wc->opcode & IBV_WC_RECV)) {
		wc->byte_len = ibv_wc_read_byte_len(r->cqx);
		if (wc->wc_flags & IBV_WC_WITH_IMM) {
			wc->imm_data = ibv_wc_read_imm_data(r->cqx);
			w->imm64 = be64toh(ibv_wc_read_imm64_data(r->cqx));
		}
		w->job_id = ibv_wc_read_job_id(r->cqx);
		w->src_id = ibv_wc_read_src_id(r->cqx);
	}
	ibv_end_poll(r->cqx);
	if (wc->status != IBV_WC_SUCCESS) {
		ru_err("%s: %s (vendor_err 0x%x)\n", what,
		       ibv_wc_status_str(wc->status), wc->vendor_err);
		return -1;
	}
	return 0;
}

/* a local address: in a zero-based region, an offset, as for peers */
static uint64_t laddr(struct rma *r, size_t off)
{
	return r->zero_based ? off : (uintptr_t)r->buf + off;
}

static int post_recv(struct rma *r)
{
	struct ibv_sge sge = {
		.addr = laddr(r, OFF_RECV(r)), .length = 64, .lkey = r->mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = 9, .sg_list = &sge, .num_sge = 1 },
			   *bad;
	struct ibv_sge64 sge64 = {
		.addr = laddr(r, OFF_RECV(r)), .length = 64,
		.lkey64 = r->mr->lkey64,
	};
	struct ibv_recv_wr64 wr64 = {
		.wr_id = 9, .sg_list = &sge64, .num_sge = 1,
	}, *bad64;

	if (r->wide)
		return ibv_post_recv64(r->qp, &wr64, &bad64);
	return ibv_post_recv(r->qp, &wr, &bad);
}

enum op { OP_WRITE, OP_WRITE_IMM64, OP_READ, OP_FADD, OP_CSWAP, OP_SEND };

static int post(struct rma *r, enum op op, size_t loff, uint32_t len,
		uint64_t remote, uint64_t a, uint64_t b)
{
	struct ibv_sge sge = {
		.addr = laddr(r, loff), .length = len, .lkey = r->mr->lkey,
	};
	struct ibv_sge64 sge64 = {
		.addr = laddr(r, loff), .length = len, .lkey64 = r->mr->lkey64,
	};
	struct ibv_send_wr wr = {}, *bad;

	if (r->post_send && (op == OP_WRITE || op == OP_READ || op == OP_SEND)) {
		wr.wr_id = op;
		wr.num_sge = 1;
		wr.send_flags = IBV_SEND_SIGNALED;
		if (r->wide) {
			wr.sg64_list = &sge64;
			wr.send_flags |= IBV_SEND_SGE64;
		} else {
			wr.sg_list = &sge;
		}
		wr.opcode = op == OP_WRITE ? IBV_WR_RDMA_WRITE :
			    op == OP_READ ? IBV_WR_RDMA_READ :
			    IBV_WR_SEND_WITH_IMM;
		if (op == OP_SEND)
			wr.imm_data = htonl((uint32_t)a);
		wr.wr.ru_rdma.ah = r->c.addr_table ? NULL : r->c.ah_ex;
		wr.wr.ru_rdma.addr_idx = r->c.addr_table ? RU_ADDR_IDX : 0;
		wr.wr.ru_rdma.jkey = r->c.jkey->jkey;
		wr.wr.ru_rdma.remote_addr = remote;
		if (r->key_fields & 1)
			wr.wr.ru_rdma.rkey = (uint32_t)r->peer.rkey;
		if (r->key_fields & 2)
			wr.wr.ru_rdma.rkey64 = r->peer.rkey;
		return ibv_post_send(r->qp, &wr, &bad);
	}
	ibv_wr_start(r->qpx);
	r->qpx->wr_id = op;
	r->qpx->wr_flags = IBV_SEND_SIGNALED;
	switch (op) {
	case OP_WRITE:
		ibv_wr_rdma_write64(r->qpx, r->peer.rkey, remote);
		break;
	case OP_WRITE_IMM64:
		if (r->wide)
			ibv_wr_rdma_write_imm64(r->qpx, (uint32_t)r->peer.rkey,
						remote, htobe64(a));
		else
			ibv_wr_rdma_write64_imm64(r->qpx, r->peer.rkey, remote,
						  htobe64(a));
		break;
	case OP_READ:
		if (r->wide)
			ibv_wr_rdma_read64(r->qpx, r->peer.rkey, remote);
		else
			ibv_wr_rdma_read(r->qpx, (uint32_t)r->peer.rkey,
					 remote);
		break;
	case OP_FADD:
		ibv_wr_atomic_fetch_add(r->qpx, (uint32_t)r->peer.rkey,
					remote, a);
		break;
	case OP_CSWAP:
		ibv_wr_atomic_cmp_swp(r->qpx, (uint32_t)r->peer.rkey, remote,
				      a, b);
		break;
	case OP_SEND:
		ibv_wr_send_imm(r->qpx, htonl((uint32_t)a));
		break;
	}
	ru_wr_dest(&r->c, r->qpx);
	if (r->wide)
		ibv_wr_set_sge64(r->qpx, sge64.lkey64, sge64.addr,
				 sge64.length);
	else
		ibv_wr_set_sge(r->qpx, sge.lkey, sge.addr, sge.length);
	return ibv_wr_complete(r->qpx);
}

/*
 * posts op and waits for its completion; a receive completion meanwhile
 * (the peer may answer before our acknowledgement arrives) is kept for
 * next_recv()
 */
static int run(struct rma *r, enum op op, size_t loff, uint32_t len,
	       uint64_t remote, uint64_t a, uint64_t b, const char *what)
{
	struct rwc w;
	struct ibv_wc *wc = &w.wc;

	if (post(r, op, loff, len, remote, a, b)) {
		ru_err("%s: post failed\n", what);
		return -1;
	}
	for (;;) {
		if (next_wc(r, &w, what))
			return -1;
		if (!(wc->opcode & IBV_WC_RECV))
			break;
		if (r->stashed) {
			ru_err("%s: two receives before its completion\n", what);
			return -1;
		}
		r->stash = w;
		r->stashed = true;
	}
	if (wc->wr_id != op) {
		ru_err("%s: unexpected completion (wr_id %" PRIu64 ", opcode %d)\n",
		       what, wc->wr_id, wc->opcode);
		return -1;
	}
	return 0;
}

/* the next receive completion */
static int next_recv(struct rma *r, struct rwc *w, const char *what)
{
	struct ibv_wc *wc = &w->wc;

	if (r->stashed) {
		*w = r->stash;
		r->stashed = false;
		return 0;
	}
	if (next_wc(r, w, what))
		return -1;
	if (!(wc->opcode & IBV_WC_RECV)) {
		ru_err("%s: a send completion (wr_id %" PRIu64 ")\n", what,
		       wc->wr_id);
		return -1;
	}
	return 0;
}

/*
 * wr.ru_rdma keys the provider must refuse before posting: an rkey64 wider
 * than the device's 32-bit keys, and rkey and rkey64 that disagree
 */
static int check_bad_rkeys(struct rma *r)
{
	struct ibv_sge sge = {
		.addr = laddr(r, 0), .length = 8, .lkey = r->mr->lkey,
	};
	struct ibv_send_wr wr = {}, *bad;
	uint32_t rkey = (uint32_t)r->peer.rkey;
	uint32_t other = rkey == 1 ? 2 : rkey ^ 1;	/* non-zero, != rkey */
	int ret;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.wr.ru_rdma.ah = r->c.addr_table ? NULL : r->c.ah_ex;
	wr.wr.ru_rdma.addr_idx = r->c.addr_table ? RU_ADDR_IDX : 0;
	wr.wr.ru_rdma.jkey = r->c.jkey->jkey;
	wr.wr.ru_rdma.remote_addr = raddr(r, 0);
	wr.wr.ru_rdma.rkey64 = (1ull << 32) | rkey;
	ret = ibv_post_send(r->qp, &wr, &bad);
	if (ret != EINVAL) {
		ru_err("ibv_post_send, rkey64 0x%" PRIx64 ": %s, want EINVAL\n",
		       (uint64_t)wr.wr.ru_rdma.rkey64,
		       ret ? strerror(ret) : "posted");
		return -1;
	}
	wr.wr.ru_rdma.rkey64 = rkey;
	wr.wr.ru_rdma.rkey = other;
	ret = ibv_post_send(r->qp, &wr, &bad);
	if (ret != EINVAL) {
		ru_err("ibv_post_send, rkey 0x%x, rkey64 0x%x: %s, want "
		       "EINVAL\n", other, rkey,
		       ret ? strerror(ret) : "posted");
		return -1;
	}
	printf("rkey64 beyond 32 bits and rkey != rkey64 refused\n");
	return 0;
}

static int client(struct rma *r, uint32_t iters)
{
	uint64_t *res = (uint64_t *)(r->buf + OFF_RESULT(r));
	struct rwc w;
	struct ibv_wc *wc = &w.wc;
	uint32_t i;
	size_t k;

	if (r->post_send && (r->key_fields & 2) && check_bad_rkeys(r))
		return -1;
	for (i = 0; i < iters; i++) {
		for (k = 0; k < r->size; k++)
			r->buf[k] = pattern(i, k);
		if (run(r, OP_WRITE, 0, r->size, raddr(r, 0), 0, 0, "write") ||
		    run(r, OP_WRITE_IMM64, OFF_BELL(r), 8, raddr(r, OFF_BELL(r)),
			IMM64_HIGH | i, 0, "write with imm64"))
			return -1;
		/* the server's answer: a send with the iteration */
		if (next_recv(r, &w, "receive"))
			return -1;
		if (wc->opcode != IBV_WC_RECV ||
		    !(wc->wc_flags & IBV_WC_WITH_IMM) ||
		    ntohl(wc->imm_data) != i) {
			ru_err("iteration %u: answer opcode %d imm %u\n", i,
			       wc->opcode, ntohl(wc->imm_data));
			return -1;
		}
		if (w.src_id != r->peer.src_id) {
			ru_err("iteration %u: answer from source ID 0x%x, want "
			       "0x%x\n", i, w.src_id, r->peer.src_id);
			return -1;
		}
		if (post_recv(r))
			return -1;
		memset(r->buf + OFF_REPLY(r), 0, r->size);
		if (run(r, OP_READ, OFF_REPLY(r), r->size,
			raddr(r, OFF_REPLY(r)), 0, 0, "read"))
			return -1;
		for (k = 0; k < r->size; k++)
			if (r->buf[OFF_REPLY(r) + k] != (uint8_t)~pattern(i, k)) {
				ru_err("iteration %u: read byte %zu is 0x%02x\n",
				       i, k, r->buf[OFF_REPLY(r) + k]);
				return -1;
			}
		*res = ~0ull;
		if (run(r, OP_FADD, OFF_RESULT(r), 8, raddr(r, OFF_COUNTER(r)),
			1, 0, "fetch and add"))
			return -1;
		if (*res != i) {
			ru_err("iteration %u: fetch-and-add returned %" PRIu64
			       "\n", i, *res);
			return -1;
		}
		*res = ~0ull;
		if (run(r, OP_CSWAP, OFF_RESULT(r), 8, raddr(r, OFF_LOCK(r)),
			i, i + 1, "compare and swap"))
			return -1;
		if (*res != i) {
			ru_err("iteration %u: compare-and-swap returned %" PRIu64
			       "\n", i, *res);
			return -1;
		}
	}
	/* done: the server checks its counter and lock word */
	if (run(r, OP_SEND, OFF_RESULT(r), 8, 0, iters, 0, "final send") ||
	    next_recv(r, &w, "final answer"))
		return -1;
	if (wc->opcode != IBV_WC_RECV || ntohl(wc->imm_data) != iters) {
		ru_err("the server disagrees: %u\n", ntohl(wc->imm_data));
		return -1;
	}
	return 0;
}

/* the server sees writes with immediates and answers each */
static int serve(struct rma *r, uint32_t iters)
{
	volatile uint64_t *counter = (uint64_t *)(r->buf + OFF_COUNTER(r));
	volatile uint64_t *lock = (uint64_t *)(r->buf + OFF_LOCK(r));
	struct rwc w;
	struct ibv_wc *wc = &w.wc;
	uint32_t i;
	size_t k;

	for (i = 0; i < iters; i++) {
		if (next_recv(r, &w, "write with imm64 at the target"))
			return -1;
		/* all 64 bits, and ibv_wc_read_imm_data() the low 32 */
		if (wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM ||
		    !(wc->wc_flags & IBV_WC_WITH_IMM) ||
		    w.imm64 != (IMM64_HIGH | i) ||
		    ntohl(wc->imm_data) != i ||
		    wc->byte_len != 8) {
			ru_err("iteration %u: opcode %d imm64 0x%" PRIx64
			       " imm 0x%x len %u\n", i, wc->opcode, w.imm64,
			       ntohl(wc->imm_data), wc->byte_len);
			return -1;
		}
		if (w.job_id != r->c.job_id || w.src_id != r->peer.src_id) {
			ru_err("iteration %u: JobID %u source ID 0x%x, want %u "
			       "0x%x\n", i, w.job_id, w.src_id, r->c.job_id,
			       r->peer.src_id);
			return -1;
		}
		for (k = 0; k < r->size; k++)
			if (r->buf[k] != pattern(i, k)) {
				ru_err("iteration %u: written byte %zu is 0x%02x\n",
				       i, k, r->buf[k]);
				return -1;
			}
		for (k = 0; k < r->size; k++)
			r->buf[OFF_REPLY(r) + k] = ~pattern(i, k);
		if (run(r, OP_SEND, OFF_RESULT(r), 8, 0, i, 0, "answer"))
			return -1;
	}
	if (next_recv(r, &w, "final send"))
		return -1;
	if (post_recv(r))
		return -1;
	if (wc->opcode != IBV_WC_RECV || ntohl(wc->imm_data) != iters ||
	    *counter != iters || *lock != iters) {
		ru_err("end: counter %" PRIu64 ", lock %" PRIu64 ", want %u\n",
		       *counter, *lock, iters);
		return -1;
	}
	printf("counter and lock word: %u, as expected\n", iters);
	printf("source ID checked: %u writes from 0x%x\n", iters,
	       r->peer.src_id);
	return run(r, OP_SEND, OFF_RESULT(r), 8, 0, iters, 0, "final answer");
}

int main(int argc, char **argv)
{
	struct rma r = { .size = 4096 };
	struct ru_peer mine = {};
	struct timeval t0, t1;
	const char *server = NULL;
	int port = 18515, iters = 100, opt, access, i;

	r.c.ib_port = 1;
	r.c.job_id = 46;
	r.key_fields = 1;
	while ((opt = getopt(argc, argv, "p:d:i:g:s:n:ej:JAPK:S:zu:Wh")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'd': r.c.devname = optarg; break;
		case 'i': r.c.ib_port = atoi(optarg); break;
		case 'g': r.c.gidx = atoi(optarg); break;
		case 's': r.size = strtoul(optarg, NULL, 0); break;
		case 'n': iters = atoi(optarg); break;
		case 'e': r.events = 1; break;
		case 'j': r.c.job_id = strtoul(optarg, NULL, 0); break;
		case 'J': r.c.need_import = true; break;
		case 'A': r.c.addr_table = true; break;
		case 'P': r.post_send = 1; break;
		case 'K':
			r.key_fields = !strcmp(optarg, "32") ? 1 :
				       !strcmp(optarg, "64") ? 2 :
				       !strcmp(optarg, "both") ? 3 : 0;
			if (!r.key_fields) {
				ru_err("-K takes 32, 64 or both\n");
				return 1;
			}
			break;
		case 'z': r.zero_based = 1; break;
		case 'W': r.wide = 1; break;
		case 'S':
			r.c.set_src_id = true;
			r.c.src_id = strtoul(optarg, NULL, 0);
			break;
		case 'u': r.user_key = strtoull(optarg, NULL, 0); break;
		default:
			printf("usage: %s [-p port] [-d dev] [-i ib-port] "
			       "[-g gid-idx] [-s size] [-n iters] [-e] "
			       "[-j jobid] [-J] [-A] [-P] [-K 32|64|both] [-S src-id] "
			       "[-z] [-u key] [-W] [server]\n",
			       argv[0]);
			return 1;
		}
	}
	if (optind == argc - 1)
		server = argv[optind];
	if (!r.size || iters < 1)
		return 1;
	r.area = (r.size + 63) & ~(size_t)63;
	/* the server's source ID differs from the client's */
	if (!server)
		r.c.src_id++;

	if (ru_open(&r.c))
		return 1;
	r.buf = aligned_alloc(4096, (BUF_LEN(&r) + 4095) & ~(size_t)4095);
	if (!r.buf)
		return 1;
	memset(r.buf, 0, BUF_LEN(&r));
	access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	if (r.zero_based || r.user_key) {
		struct ibv_mr_init_attr ma = {};

		ma.comp_mask = IBV_REG_MR_MASK_ADDR | IBV_REG_MR_MASK_JKEY;
		ma.addr = r.buf;
		ma.length = BUF_LEN(&r);
		ma.access = access | (r.zero_based ? IBV_ACCESS_ZERO_BASED : 0);
		ma.job_key = r.c.jkey;
		if (r.user_key) {
			ma.comp_mask |= IBV_REG_MR_MASK_RKEY;
			ma.rkey = r.user_key;
		}
		if (r.zero_based) {
			/* zero-based with an IOVA of ours: contradictory */
			ma.comp_mask |= IBV_REG_MR_MASK_IOVA;
			ma.iova = 0x10000;
			errno = 0;
			r.mr = ibv_reg_mr_ex(r.c.pd, &ma);
			if (r.mr || errno != EINVAL) {
				ru_err("ibv_reg_mr_ex, IBV_ACCESS_ZERO_BASED "
				       "and an IOVA: %s, want EINVAL\n",
				       r.mr ? "registered" : strerror(errno));
				return 1;
			}
			ma.comp_mask &= ~IBV_REG_MR_MASK_IOVA;
		}
		r.mr = ibv_reg_mr_ex(r.c.pd, &ma);
	} else {
		r.mr = ibv_reg_mr(r.c.pd, r.buf, BUF_LEN(&r), access);
	}
	if (!r.mr) {
		ru_err("register the buffer: %s\n", strerror(errno));
		return 1;
	}
	if (r.user_key && (r.mr->rkey64 != r.user_key ||
			   r.mr->rkey != (uint32_t)r.user_key)) {
		ru_err("ibv_reg_mr_ex: rkey 0x%x, asked for 0x%" PRIx64 "\n",
		       r.mr->rkey, r.user_key);
		return 1;
	}
	if (r.events && !(r.ch = ibv_create_comp_channel(r.c.ctx)))
		return 1;
	{
		struct ibv_cq_init_attr_ex cqa = {
			.cqe = 64,
			.channel = r.ch,
			.wc_flags = IBV_WC_EX_WITH_BYTE_LEN |
				    IBV_WC_EX_WITH_IMM | IBV_WC_EX_WITH_IMM64 |
				    IBV_WC_EX_WITH_SRC_ID |
				    IBV_WC_EX_WITH_JOB_ID,
		};

		r.cqx = ibv_create_cq_ex(r.c.ctx, &cqa);
		if (!r.cqx) {
			ru_err("ibv_create_cq_ex: %s\n", strerror(errno));
			return 1;
		}
		r.cq = ibv_cq_ex_to_cq(r.cqx);
	}
	if (r.events && ibv_req_notify_cq(r.cq, 0))
		return 1;
	r.qp = ru_create_qp(&r.c, r.cq, 16,
			    IBV_QP_EX_WITH_SEND_WITH_IMM |
			    IBV_QP_EX_WITH_RDMA_WRITE |
			    IBV_QP_EX_WITH_RDMA_WRITE64 |
			    IBV_QP_EX_WITH_RDMA_WRITE64_WITH_IMM64 |
			    IBV_QP_EX_WITH_RDMA_READ |
			    IBV_QP_EX_WITH_RDMA_READ64 |
			    IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM64 |
			    IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
			    IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP, 0);
	if (!r.qp)
		return 1;
	r.qpx = ibv_qp_to_qp_ex(r.qp);
	/* ibv_attach_mr: EOPNOTSUPP unless the QP semantics offer
	 * IBV_QP_USAGE_ATTACH_MR, then it must succeed */
	i = ibv_attach_mr(r.qp, r.mr);
	if ((r.c.qp_usage & IBV_QP_USAGE_ATTACH_MR) ? i : i != EOPNOTSUPP) {
		ru_err("ibv_attach_mr: %s, want %s\n",
		       i ? strerror(i) : "success",
		       (r.c.qp_usage & IBV_QP_USAGE_ATTACH_MR) ? "success" :
							     "EOPNOTSUPP");
		return 1;
	}
	if (post_recv(&r))
		return 1;

	mine.qpn = r.qp->qp_num;
	mine.job_id = r.c.job_id;
	mine.gid = r.c.gid;
	mine.rkey = r.mr->rkey64;
	mine.src_id = r.c.src_id;
	mine.addr = r.zero_based ? 0 : (uintptr_t)r.buf;
	if (ru_exchange(server, port, &mine, &r.peer) || ru_connect(&r.c, &r.peer))
		return 1;
	if (r.wide && ru_check_wide_lkeys(&r.c, r.qp, r.mr))
		return 1;
	printf("local QPN 0x%06x, remote QPN 0x%06x, JobID %u (%s), rkey 0x%"
	       PRIx64 "%s, source IDs 0x%x (%s), peer 0x%x\n", mine.qpn,
	       r.peer.qpn, r.c.job_id, r.c.imported ? "imported" : "allocated",
	       mine.rkey, r.zero_based ? ", zero-based" : "", mine.src_id,
	       r.c.set_src_id ? "chosen" : "the QP number", r.peer.src_id);

	gettimeofday(&t0, NULL);
	if (server ? client(&r, iters) : serve(&r, iters)) {
		printf("FAILED\n");
		return 1;
	}
	gettimeofday(&t1, NULL);
	printf("%d iters in %.2f seconds: write, write with imm64, read, "
	       "fetch-and-add, compare-and-swap checked%s\n", iters,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6,
	       r.wide ? ", through 64-bit keys and SGEs" : "");

	i = ibv_detach_mr(r.qp, r.mr);
	if ((r.c.qp_usage & IBV_QP_USAGE_ATTACH_MR) ? i : i != EOPNOTSUPP) {
		ru_err("ibv_detach_mr: %s, want %s\n",
		       i ? strerror(i) : "success",
		       (r.c.qp_usage & IBV_QP_USAGE_ATTACH_MR) ? "success" :
							     "EOPNOTSUPP");
		return 1;
	}
	if (ibv_destroy_qp(r.qp)) {
		ru_err("ibv_destroy_qp failed\n");
		return 1;
	}
	/* a region registered with the job key holds it too */
	if (r.zero_based || r.user_key) {
		i = ibv_destroy_jkey(r.c.jkey);
		if (i != EBUSY) {
			ru_err("ibv_destroy_jkey of a region's key: %s, want "
			       "EBUSY\n", i ? strerror(i) : "destroyed");
			return 1;
		}
	}
	ibv_destroy_cq(r.cq);
	if (r.ch)
		ibv_destroy_comp_channel(r.ch);
	if (ibv_dereg_mr(r.mr)) {
		ru_err("ibv_dereg_mr failed\n");
		return 1;
	}
	free(r.buf);
	if (ru_close(&r.c))
		return 1;
	return 0;
}
