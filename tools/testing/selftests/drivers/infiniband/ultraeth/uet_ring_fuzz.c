// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Hostile rings: user space owns the send, receive and completion rings
 * it maps, and may write anything into them at any time. This program
 * creates endpoints through libuet, finds their rings among its own
 * mappings of the uverbs file (/proc/self/maps: the rings libuet mapped,
 * told apart by their mmap offsets, the keys of uet-abi.h), and then
 * writes the rings itself and rings the doorbells itself (POST_SEND and
 * POST_RECV write() commands without work requests), bypassing libuet:
 *
 * - random descriptors, and valid descriptors with one documented fault
 *   (uet-abi.h, the failure table of ultraeth.rst): unknown opcode or
 *   flag, reserved or unused field set, too many SGEs, inline too long,
 *   SGE outside its region, keys of no region, of another PD, of another
 *   job, remote keys without access or of another job, remote ranges
 *   outside the region or past 2^64, unaligned atomics, no endpoint;
 * - producer indexes ahead of, behind or far from the device's consumer
 *   index, a consumer index the device owns overwritten, completion ring
 *   indexes overwritten (a consumer index ahead of the producer, or too
 *   far behind, puts the CQ in error);
 * - a second thread rewriting descriptors while the doorbells ring, and
 *   one writing random bytes over whole rings and headers.
 *
 * It checks that each fetched descriptor completes exactly once (an
 * invalid one with the documented error), that bad producer indexes get
 * EINVAL from the doorbell and fetch nothing, that no byte outside the
 * owner's regions changes (guard bytes with a pattern around every region,
 * in the same pages, and whole buffers of regions the requests must not
 * reach) and that every endpoint and CQ can still be destroyed.
 * uet_ring_fuzz.sh sets up the two devices, then checks the kernel log and
 * that the devices' resources are back to zero.
 *
 * Side A ($UET_DEV0, this namespace) owns the fuzzed endpoints; side B
 * ($UET_DEV1 in $UET_NS1) is a well-behaved peer driven through libuet.
 *
 * UET_RING_ITERS (descriptors per fuzz case, default 5000), UET_RING_SECS
 * (seconds of each racing case, default 20) and UET_FUZZ_SEED (default:
 * time and pid, printed) tune a run.
 */

#define _GNU_SOURCE
#define BUF_BYTES (1u << 20)
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/uet-abi.h>

#include "kselftest_harness.h"
#include "uet_pair.h"

#define W (64u << 10)		/* one arena third: guard, region, guard */
#define EDGE 100		/* the region starts and ends this far in */
#define FQ_SQ 256		/* fuzzed endpoint's rings */
#define FQ_RQ 256
#define FQ_CQE 4096
#define TAG 0xc0de000000000000ull	/* wr_id of the racing cases */

/* ib_wc_status values (rdma-core's ibv_wc_status has the same) */
#define ST_OK IBV_WC_SUCCESS
#define ST_LEN IBV_WC_LOC_LEN_ERR
#define ST_QPOP IBV_WC_LOC_QP_OP_ERR
#define ST_PROT IBV_WC_LOC_PROT_ERR
#define ST_FLUSH IBV_WC_WR_FLUSH_ERR
#define ST_ACCESS IBV_WC_LOC_ACCESS_ERR
#define ST_REM_INV IBV_WC_REM_INV_REQ_ERR
#define ST_REM_ACC IBV_WC_REM_ACCESS_ERR
#define ST_ANY_LOCAL 1000	/* pseudo: any of the local errors */
#define ST_ANY_ERR 1001		/* pseudo: any status but success */
#define ST_ANY 1002		/* pseudo: anything */

/* SES return codes (UEC 1.0) the target refuses with */
#define RC_AMO_UNALIGNED 0x12
#define RC_PERM_VIOLATION 0x17
#define RC_BAD_MKEY 0x1c
#define RC_BAD_ADDR 0x1d
#define RC_BAD_PID 0x0d		/* only its class is checked: see below */

#define RMA_ACCESS (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
		    IBV_ACCESS_REMOTE_ATOMIC)

/* ------------------------------------------------------------ PRNG */

static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static void rnd_bytes(void *p, size_t n)
{
	uint8_t *b = p;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!(i & 7))
			v = rnd();
		b[i] = v;
		v >>= 8;
	}
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

/* the seed of this case: $UET_FUZZ_SEED, or time and pid; printed */
static void fuzz_seed(struct __test_metadata *_metadata, const char *what)
{
	rng = env_ul("UET_FUZZ_SEED", 0);
	if (!rng)
		rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	TH_LOG("%s: seed %#llx (UET_FUZZ_SEED reproduces it)", what,
	       (unsigned long long)rng);
}

static uint32_t ld_acq(const uint32_t *p)
{
	return atomic_load_explicit((_Atomic(uint32_t) *)p, memory_order_acquire);
}

static void st_rel(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic(uint32_t) *)p, v, memory_order_release);
}

/* --------------------------------------------- guarded memory regions */

/*
 * An arena: 3 * W bytes filled with a pattern, with a region registered
 * on [W + EDGE, 2W - EDGE). Bytes outside the region must keep the
 * pattern; a sealed arena's region too (no request may write it).
 */
struct arena {
	uint8_t *map;
	uint8_t *start;		/* of the region */
	size_t len;
	uint64_t seed;
	bool sealed;
	struct ibv_mr *mr;
};

static const char *arena_new(struct arena *ar, struct ibv_pd *pd, int access,
			     uint64_t seed, bool sealed)
{
	ar->map = mmap(NULL, 3 * W, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ar->map == MAP_FAILED) {
		ar->map = NULL;
		return "mmap";
	}
	ar->seed = seed;
	ar->sealed = sealed;
	fill(ar->map, 3 * W, seed);
	ar->start = ar->map + W + EDGE;
	ar->len = W - 2 * EDGE;
	ar->mr = ibv_reg_mr(pd, ar->start, ar->len, access);
	return ar->mr ? NULL : "ibv_reg_mr";
}

static void arena_free(struct arena *ar)
{
	if (ar->mr)
		ibv_dereg_mr(ar->mr);
	if (ar->map)
		munmap(ar->map, 3 * W);
	memset(ar, 0, sizeof(*ar));
}

/* the first byte that lost its pattern (offset in the map), or -1 */
static long arena_damage(const struct arena *ar)
{
	size_t i, lo = ar->start - ar->map, hi = lo + ar->len;

	if (!ar->map)
		return -1;
	for (i = 0; i < 3 * W; i++) {
		if (!ar->sealed && i >= lo && i < hi)
			continue;
		if (ar->map[i] != pattern(ar->seed, i))
			return i;
	}
	return -1;
}

static uint64_t ar_addr(const struct arena *ar, size_t off)
{
	return (uintptr_t)ar->start + off;
}

/* ------------------------------------------------- the mapped rings */

struct umap {
	uintptr_t start, end;
	uint64_t off;
};

/* this process's mappings of a uverbs file */
static int uverbs_maps(struct umap *m, int max)
{
	char line[512], path[256];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max) {
		unsigned long s, e, off;

		path[0] = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %255s", &s, &e, &off,
			   path) < 3)
			continue;
		if (strncmp(path, "/dev/infiniband/uverbs", 22))
			continue;
		m[n].start = s;
		m[n].end = e;
		m[n].off = off;
		n++;
	}
	fclose(f);
	return n;
}

/* mappings in after[] not in before[], by start address, into out[] */
static int new_maps(const struct umap *before, int nb, const struct umap *after,
		    int na, struct umap *out, int max)
{
	int i, j, n = 0;

	for (i = 0; i < na; i++) {
		for (j = 0; j < nb; j++)
			if (before[j].start == after[i].start)
				break;
		if (j == nb && n < max)
			out[n++] = after[i];
	}
	return n;
}

struct wq {
	uint8_t *base;
	size_t size;
	uint32_t entries, esize;
	uint32_t prod;		/* what we published */
};

struct cqr {
	uint8_t *base;
	size_t size;
	uint32_t entries;
	uint32_t cons;		/* what we consumed */
};

static struct uet_wq_ring_hdr *wq_hdr(struct wq *q)
{
	return (struct uet_wq_ring_hdr *)q->base;
}

static struct uet_cq_ring_hdr *cq_hdr(struct cqr *c)
{
	return (struct uet_cq_ring_hdr *)c->base;
}

static void *wq_slot(struct wq *q, uint32_t idx)
{
	return q->base + UET_WQ_RING_ENTRIES_OFFSET +
	       (size_t)(idx & (q->entries - 1)) * q->esize;
}

static uint32_t wq_cons(struct wq *q)
{
	return ld_acq(&wq_hdr(q)->cons_idx);
}

/* the next completion of c into *e: true, or false if there is none */
static bool cq_take(struct cqr *c, struct uet_cqe *e)
{
	uint32_t prod = ld_acq(&cq_hdr(c)->prod_idx);

	if (prod == c->cons)
		return false;
	memcpy(e, c->base + UET_CQ_RING_ENTRIES_OFFSET +
	       (size_t)(c->cons & (c->entries - 1)) * sizeof(*e), sizeof(*e));
	c->cons++;
	st_rel(&cq_hdr(c)->cons_idx, c->cons);
	return true;
}

/*
 * A fuzzed endpoint: created through libuet with CQs of its own, whose
 * rings this program writes and reads itself from then on (libuet is
 * never asked to post or poll on them).
 */
struct fuzz {
	struct ibv_context *ctx;
	struct ibv_cq_ex *scqx, *rcqx;
	struct ibv_qp *qp;
	struct wq sq, rq;
	struct cqr scq, rcq;
};

static const char *fuzz_cq(struct ibv_context *ctx, int cqe,
			   struct ibv_cq_ex **cqx, struct cqr *c)
{
	struct umap before[64], after[64], nm[4];
	int nb, na;

	nb = uverbs_maps(before, 64);
	*cqx = cq_ex_new(ctx, cqe, NULL);
	if (!*cqx)
		return "ibv_create_cq_ex";
	na = uverbs_maps(after, 64);
	if (nb < 0 || na < 0 || new_maps(before, nb, after, na, nm, 4) != 1)
		return "cannot find the CQ ring among the mappings";
	c->base = (uint8_t *)nm[0].start;
	c->size = nm[0].end - nm[0].start;
	c->entries = ibv_cq_ex_to_cq(*cqx)->cqe;
	c->cons = 0;
	if (c->entries < 2 || (c->entries & (c->entries - 1)) ||
	    c->size < UET_CQ_RING_ENTRIES_OFFSET + c->entries * sizeof(struct uet_cqe))
		return "the CQ ring does not fit its mapping";
	return NULL;
}

static const char *fuzz_new(struct fuzz *f, struct side *s, uint32_t sq,
			    uint32_t rq, int cqe, enum uetdv_delivery_mode dm)
{
	struct umap before[64], after[64], nm[4], t;
	struct uetdv_qp_init_attr ua = {
		.driver_qp_type = UETDV_QP_TYPE_RU,
		.delivery_mode = dm,
	};
	struct ibv_qp_init_attr_ex a = {
		.qp_type = IBV_QPT_DRIVER,
		.cap = {
			.max_send_wr = sq, .max_recv_wr = rq,
			.max_send_sge = 3, .max_recv_sge = 2,
			.max_inline_data = 48,
		},
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = s->pd,
		.send_ops_flags = IBV_QP_EX_WITH_SEND,
	};
	const char *why;
	int nb, na;

	memset(f, 0, sizeof(*f));
	f->ctx = s->ctx;
	why = fuzz_cq(s->ctx, cqe, &f->scqx, &f->scq);
	if (!why)
		why = fuzz_cq(s->ctx, cqe, &f->rcqx, &f->rcq);
	if (why)
		return why;
	a.send_cq = ibv_cq_ex_to_cq(f->scqx);
	a.recv_cq = ibv_cq_ex_to_cq(f->rcqx);
	nb = uverbs_maps(before, 64);
	f->qp = uetdv_create_qp_ex(s->ctx, &a, &ua, sizeof(ua));
	if (!f->qp)
		return "uetdv_create_qp_ex";
	na = uverbs_maps(after, 64);
	if (nb < 0 || na < 0 || new_maps(before, nb, after, na, nm, 4) != 2)
		return "cannot find the endpoint's rings among the mappings";
	/* the send ring's key was handed out first (uet-abi.h: each ring
	 * at its own mmap key; uet_soft numbers them in order) */
	if (nm[1].off < nm[0].off) {
		t = nm[0];
		nm[0] = nm[1];
		nm[1] = t;
	}
	f->sq.base = (uint8_t *)nm[0].start;
	f->sq.size = nm[0].end - nm[0].start;
	f->sq.entries = a.cap.max_send_wr;
	f->sq.esize = sizeof(struct uet_sqe);
	f->rq.base = (uint8_t *)nm[1].start;
	f->rq.size = nm[1].end - nm[1].start;
	f->rq.entries = a.cap.max_recv_wr;
	f->rq.esize = sizeof(struct uet_rqe);
	if (f->sq.size < UET_WQ_RING_ENTRIES_OFFSET + (size_t)f->sq.entries * f->sq.esize ||
	    f->rq.size < UET_WQ_RING_ENTRIES_OFFSET + (size_t)f->rq.entries * f->rq.esize ||
	    (f->sq.entries & (f->sq.entries - 1)) || (f->rq.entries & (f->rq.entries - 1)))
		return "the rings do not fit their mappings";
	f->sq.prod = wq_hdr(&f->sq)->prod_idx;
	f->rq.prod = wq_hdr(&f->rq)->prod_idx;
	return NULL;
}

/* acknowledges every asynchronous event of ctx, until none came for ms;
 * the number of CQ_ERR events of cq (any CQ if NULL) */
static int drain_async(struct ibv_context *ctx, struct ibv_cq *cq, int ms)
{
	struct pollfd p = { .fd = ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;
	int fl, n = 0;

	fl = fcntl(ctx->async_fd, F_GETFL);
	fcntl(ctx->async_fd, F_SETFL, fl | O_NONBLOCK);
	while (poll(&p, 1, ms) > 0) {
		if (ibv_get_async_event(ctx, &ev))
			break;
		if (ev.event_type == IBV_EVENT_CQ_ERR &&
		    (!cq || ev.element.cq == cq))
			n++;
		ibv_ack_async_event(&ev);
	}
	fcntl(ctx->async_fd, F_SETFL, fl);
	return n;
}

/* destroys the endpoint (its outstanding work is flushed into the CQs,
 * which stay): 0 or the errno */
static int fuzz_destroy_qp(struct fuzz *f)
{
	int err = 0;

	if (f->qp)
		err = ibv_destroy_qp(f->qp);
	if (!err)
		f->qp = NULL;
	return err;
}

static int fuzz_destroy(struct fuzz *f)
{
	int err = fuzz_destroy_qp(f), e;

	if (!f->ctx)
		return err;
	/* a CQ's pending events must be acknowledged before it goes */
	drain_async(f->ctx, NULL, 200);
	if (f->scqx) {
		e = ibv_destroy_cq(ibv_cq_ex_to_cq(f->scqx));
		err = err ? : e;
	}
	if (f->rcqx) {
		e = ibv_destroy_cq(ibv_cq_ex_to_cq(f->rcqx));
		err = err ? : e;
	}
	memset(f, 0, sizeof(*f));
	return err;
}

/* the doorbell: a POST_SEND (or POST_RECV) write() without work requests;
 * 0 or the errno */
static int doorbell(struct fuzz *f, bool recv)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_post_send cmd;	/* post_recv has its layout */
	} c;
	struct ib_uverbs_post_send_resp resp = {};

	_Static_assert(sizeof(struct ib_uverbs_post_send) ==
		       sizeof(struct ib_uverbs_post_recv), "layouts");
	memset(&c, 0, sizeof(c));
	c.hdr.command = recv ? IB_USER_VERBS_CMD_POST_RECV :
			       IB_USER_VERBS_CMD_POST_SEND;
	c.hdr.in_words = sizeof(c) / 4;
	c.hdr.out_words = sizeof(resp) / 4;
	c.cmd.response = (uintptr_t)&resp;
	c.cmd.qp_handle = f->qp->handle;
	c.cmd.wqe_size = recv ? sizeof(struct ib_uverbs_recv_wr) :
				sizeof(struct ib_uverbs_send_wr);
	if (write(f->ctx->cmd_fd, &c, sizeof(c)) != sizeof(c))
		return errno;
	return 0;
}

/* writes e into the next slot of q and publishes it; false if full */
static bool wq_push(struct wq *q, const void *e)
{
	if (q->prod - wq_cons(q) >= q->entries)
		return false;
	memcpy(wq_slot(q, q->prod), e, q->esize);
	q->prod++;
	st_rel(&wq_hdr(q)->prod_idx, q->prod);
	return true;
}

/* ------------------------------------------------ the test fixture */

struct rec {
	int16_t want;		/* expected status, or a pseudo status */
	int16_t rc;		/* expected uet_rc if >= 0 */
	int16_t got;		/* -1 until completed */
	uint8_t got_rc;
	uint8_t kind;
	uint32_t len;		/* receives: buffer bytes */
};

FIXTURE(ring)
{
	struct side a, b, c, d;
	uint32_t job_id;
	struct arena amr;	/* A's target memory: reads, receives */
	struct arena anowr;	/* A: PD A, no local write: sealed */
	struct arena apd2;	/* A: another PD: sealed */
	struct ibv_pd *pd2;
	struct arena bmr;	/* B: RMA target */
	struct arena bro;	/* B: no remote access: sealed */
	struct fuzz f;
	struct ibv_ah *b_to_f;	/* B to the fuzzed endpoint */
	uint32_t b_recvs;	/* receives B has posted, not consumed */
	uint64_t b_recv_seq;
	struct rec *recs;	/* by wr_id */
	uint32_t nrec, maxrec;
	/* the racing threads */
	pthread_t thr;
	bool thr_on;
	_Atomic bool stop;
	long long cnt[6];	/* device A's counters at the start */
};

/* device A's counters logged with how much each case moved them */
static const char *const counter_names[6] = {
	"cq_overflow", "tx_errors", "pdc_errors", "retransmissions",
	"rx_drop_no_endpoint", "unexpected_refused",
};

static long long dev_counter(const char *dev, const char *name);

FIXTURE_SETUP(ring)
{
	const char *why;
	bool skip;

	self->job_id = 0x300000 + (getpid() & 0x7ffff);
	why = pair_open(&self->a, &self->b, self->job_id, 0, &skip);
	if (why && skip)
		SKIP(return, "%s: %s", why, strerror(errno));
	ASSERT_EQ(NULL, why) TH_LOG("%s: %s", why, strerror(errno));

	/* another job on each device, with a region everybody could name */
	why = side_open(&self->c, self->a.name, "", env_or("UET_ADDR0", "10.77.0.1"),
			self->job_id + 1);
	if (!why) {
		self->c.mr_access = RMA_ACCESS;
		why = side_resources(&self->c);
	}
	ASSERT_EQ(NULL, why) TH_LOG("job B on A: %s: %s", why, strerror(errno));
	why = side_open(&self->d, self->b.name, env_or("UET_NS1", "uet-msg-peer"),
			env_or("UET_ADDR1", "10.77.0.2"), self->job_id + 1);
	if (!why) {
		self->d.mr_access = RMA_ACCESS;
		why = side_resources(&self->d);
	}
	ASSERT_EQ(NULL, why) TH_LOG("job B on B: %s: %s", why, strerror(errno));
	fill(self->c.buf, BUF_BYTES, 91);
	fill(self->d.buf, BUF_BYTES, 92);

	self->pd2 = ibv_alloc_pd(self->a.ctx);
	ASSERT_NE(NULL, self->pd2);
	why = arena_new(&self->amr, self->a.pd, IBV_ACCESS_LOCAL_WRITE, 11, false);
	ASSERT_EQ(NULL, why) TH_LOG("amr: %s: %s", why, strerror(errno));
	why = arena_new(&self->anowr, self->a.pd, 0, 12, true);
	ASSERT_EQ(NULL, why) TH_LOG("anowr: %s: %s", why, strerror(errno));
	why = arena_new(&self->apd2, self->pd2, IBV_ACCESS_LOCAL_WRITE, 13, true);
	ASSERT_EQ(NULL, why) TH_LOG("apd2: %s: %s", why, strerror(errno));
	why = arena_new(&self->bmr, self->b.pd, IBV_ACCESS_LOCAL_WRITE | RMA_ACCESS,
			14, false);
	ASSERT_EQ(NULL, why) TH_LOG("bmr: %s: %s", why, strerror(errno));
	why = arena_new(&self->bro, self->b.pd, IBV_ACCESS_LOCAL_WRITE, 15, true);
	ASSERT_EQ(NULL, why) TH_LOG("bro: %s: %s", why, strerror(errno));

	why = fuzz_new(&self->f, &self->a, FQ_SQ, FQ_RQ, FQ_CQE, UETDV_DM_RUD);
	ASSERT_EQ(NULL, why) TH_LOG("fuzzed endpoint: %s: %s", why, strerror(errno));
	self->b_to_f = ah_to(&self->b, &self->a.addr, self->f.qp->qp_num);
	ASSERT_NE(NULL, self->b_to_f);
	for (int i = 0; i < 6; i++)
		self->cnt[i] = dev_counter(self->a.name, counter_names[i]);
	self->maxrec = 1 << 16;
	self->recs = calloc(self->maxrec, sizeof(*self->recs));
	ASSERT_NE(NULL, self->recs);
}

/* every guarded byte still holds its pattern */
static void check_memory(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ring) *self)
{
	const struct { const char *name; struct arena *ar; } ars[] = {
		{ "A's region", &self->amr }, { "A's read-only region", &self->anowr },
		{ "A's region of another PD", &self->apd2 },
		{ "B's RMA region", &self->bmr },
		{ "B's region without remote access", &self->bro },
	};
	unsigned int i;
	long off;

	for (i = 0; i < ARRAY_SIZE(ars); i++) {
		off = arena_damage(ars[i].ar);
		EXPECT_EQ(-1, off)
			TH_LOG("%s: byte %ld of its arena changed (region at %u, %zu bytes)",
			       ars[i].name, off, W + EDGE, ars[i].ar->len);
	}
	off = self->c.buf ? check(self->c.buf, BUF_BYTES, 91) : -1;
	EXPECT_EQ(-1, off) TH_LOG("another job's region on A: byte %ld changed", off);
	off = self->d.buf ? check(self->d.buf, BUF_BYTES, 92) : -1;
	EXPECT_EQ(-1, off) TH_LOG("another job's region on B: byte %ld changed", off);
}

FIXTURE_TEARDOWN(ring)
{
	if (self->thr_on) {
		self->stop = true;
		pthread_join(self->thr, NULL);
		self->thr_on = false;
	}
	if (self->a.ctx) {
		check_memory(_metadata, self);
		EXPECT_EQ(0, fuzz_destroy(&self->f));
		TH_LOG("%s: %s +%lld, %s +%lld, %s +%lld, %s +%lld, %s +%lld, %s +%lld",
		       self->a.name,
		       counter_names[0], dev_counter(self->a.name, counter_names[0]) - self->cnt[0],
		       counter_names[1], dev_counter(self->a.name, counter_names[1]) - self->cnt[1],
		       counter_names[2], dev_counter(self->a.name, counter_names[2]) - self->cnt[2],
		       counter_names[3], dev_counter(self->a.name, counter_names[3]) - self->cnt[3],
		       counter_names[4], dev_counter(self->a.name, counter_names[4]) - self->cnt[4],
		       counter_names[5], dev_counter(self->a.name, counter_names[5]) - self->cnt[5]);
	}
	if (self->b_to_f)
		ibv_destroy_ah(self->b_to_f);
	arena_free(&self->amr);
	arena_free(&self->anowr);
	arena_free(&self->apd2);
	arena_free(&self->bmr);
	arena_free(&self->bro);
	if (self->pd2)
		ibv_dealloc_pd(self->pd2);
	if (self->a.ctx)
		drain_async(self->a.ctx, NULL, 0);
	side_close(&self->a);
	side_close(&self->b);
	side_close(&self->c);
	side_close(&self->d);
	free(self->recs);
}

/* --------------------------------------------- descriptor builders */

enum kind {
	K_SEND, K_SEND_INLINE, K_WRITE, K_WRITE_DATA, K_WRITE_INLINE, K_READ,
	K_FADD, K_CSWP, K_ADD, K_KINDS
};

static bool k_remote(int k)
{
	return k >= K_WRITE;
}

static bool k_atomic(int k)
{
	return k >= K_FADD;
}

static bool k_inline(int k)
{
	return k == K_SEND_INLINE || k == K_WRITE_INLINE;
}

static uint8_t k_opcode(int k)
{
	static const uint8_t op[K_KINDS] = {
		UET_SQE_OP_SEND, UET_SQE_OP_SEND, UET_SQE_OP_WRITE,
		UET_SQE_OP_WRITE, UET_SQE_OP_WRITE, UET_SQE_OP_READ,
		UET_SQE_OP_ATOMIC_FETCH_ADD, UET_SQE_OP_ATOMIC_CMP_SWP,
		UET_SQE_OP_ATOMIC_ADD,
	};
	return op[k];
}

/* a valid, signaled request of kind k from the fuzzed endpoint to B */
static void sqe_valid(FIXTURE_DATA(ring) *self, struct uet_sqe *e, int k,
		      uint64_t wr_id)
{
	uint32_t len = 1 + below(k == K_READ ? 8192 : 4096), off;

	memset(e, 0, sizeof(*e));
	e->wr_id = wr_id;
	e->opcode = k_opcode(k);
	e->flags = UET_SQE_F_SIGNALED;
	memcpy(e->dst_addr, self->b.addr.raw, 16);
	e->dst_qpn = self->b.qp->qp_num;
	if (k_inline(k)) {
		len = 1 + below(UET_SQE_MAX_INLINE);
		e->flags |= UET_SQE_F_INLINE;
		e->length = len;
		rnd_bytes(e->inline_data, len);
	} else if (k_atomic(k)) {
		len = 8;
		if (k != K_ADD) {
			e->num_sge = 1;
			e->sge[0].addr = ar_addr(&self->amr, 8 * below(self->amr.len / 8 - 1) +
						 (8 - ((uintptr_t)self->amr.start & 7)));
			e->sge[0].length = 8;
			e->sge[0].lkey = self->amr.mr->lkey;
		}
	} else {
		e->num_sge = 1 + below(3);
		for (int i = 0; i < e->num_sge; i++) {
			uint32_t l = 1 + below(len);

			off = below(self->amr.len - l);
			e->sge[i].addr = ar_addr(&self->amr, off);
			e->sge[i].length = l;
			e->sge[i].lkey = self->amr.mr->lkey;
		}
	}
	len = 0;
	for (int i = 0; i < e->num_sge; i++)
		len += e->sge[i].length;
	if (k_inline(k))
		len = e->length;
	if (k == K_WRITE_DATA) {
		e->flags |= UET_SQE_F_WITH_DATA;
		e->header_data = rnd();
	}
	if (k_remote(k)) {
		e->remote_key = self->bmr.mr->rkey;
		if (k_atomic(k)) {
			/* an aligned word of the region */
			uint64_t base = ar_addr(&self->bmr, 0);
			uint64_t first = (base + 7) & ~7ull;

			e->remote_addr = first + 8 * below((base + self->bmr.len - first) / 8);
			e->compare_add = rnd();
			if (k == K_CSWP)
				e->swap = rnd();
		} else {
			e->remote_addr = ar_addr(&self->bmr, below(self->bmr.len - len + 1));
		}
	}
	if (k == K_SEND && below(2)) {
		e->opcode = UET_SQE_OP_SEND;
		e->header_data = rnd();
		e->flags |= UET_SQE_F_WITH_DATA;
	}
}

/* a key that names no region of either device's jobs we know */
static uint32_t stray_key(FIXTURE_DATA(ring) *self)
{
	uint32_t k;

	do {
		k = rnd();
	} while (k == self->amr.mr->lkey || k == self->anowr.mr->lkey ||
		 k == self->apd2.mr->lkey || k == self->a.mr->lkey ||
		 k == self->c.mr->lkey || k == self->bmr.mr->rkey ||
		 k == self->bro.mr->rkey || k == self->b.mr->rkey ||
		 k == self->d.mr->rkey);
	return k;
}

/* an SGE that is not inside a region of the endpoint's PD with access */
static void bad_sge(FIXTURE_DATA(ring) *self, struct uet_sge *s, int *want)
{
	struct arena *ar = &self->amr;
	uint64_t end = ar_addr(ar, ar->len);

	*want = ST_PROT;
	s->lkey = ar->mr->lkey;
	switch (below(12)) {
	case 0:		/* starts before the region */
		s->addr = ar_addr(ar, 0) - 1 - below(EDGE);
		s->length = 1 + below(64);
		break;
	case 1:		/* ends past it */
		s->length = 2 + below(64);
		s->addr = end - s->length + 1 + below(s->length - 1);
		break;
	case 2:		/* starts at its end */
		s->addr = end;
		s->length = 1 + below(64);
		break;
	case 3:		/* longer than the region */
		s->addr = ar_addr(ar, 0);
		s->length = ar->len + 1 + below(1u << 30);
		break;
	case 4:		/* wraps around 2^64 */
		s->addr = ~0ull - below(64);
		s->length = 65 + below(4096);
		break;
	case 5:		/* null, kernel addresses */
		s->addr = below(2) ? 0 : 0xffff888000000000ull + (rnd() & 0xfffffff);
		s->length = 1 + below(4096);
		break;
	case 6:		/* a key of nothing */
		s->lkey = stray_key(self);
		s->addr = ar_addr(ar, 0);
		s->length = 1 + below(64);
		break;
	case 7:		/* key 0 */
		s->lkey = 0;
		s->addr = ar_addr(ar, 0);
		s->length = 1 + below(64);
		break;
	case 8:		/* a region of another PD of this context */
		s->lkey = self->apd2.mr->lkey;
		s->addr = ar_addr(&self->apd2, below(1024));
		s->length = 1 + below(64);
		break;
	case 9:		/* a region of another job on this device */
		s->lkey = self->c.mr->lkey;
		s->addr = (uintptr_t)self->c.buf + below(1024);
		s->length = 1 + below(64);
		break;
	case 10:	/* a region of B */
		s->lkey = self->bmr.mr->lkey;
		s->addr = ar_addr(&self->bmr, below(1024));
		s->length = 1 + below(64);
		break;
	default:	/* length 2^32 - 1 */
		s->addr = ar_addr(ar, below(64));
		s->length = ~0u;
		break;
	}
}

/*
 * Applies one documented fault to a valid request of kind k; returns the
 * status uet-abi.h and the failure table promise, *rc the return code
 * for refusals at the target (-1: not checked).
 */
static int sqe_fault(FIXTURE_DATA(ring) *self, struct uet_sqe *e, int k, int *rc)
{
	int want;

	*rc = -1;
	for (;;) {
		switch (below(22)) {
		case 0:
			e->opcode = 7 + below(249);
			return ST_QPOP;
		case 1:
			e->flags |= 1 << (3 + below(5));
			return ST_QPOP;
		case 2:
			e->reserved_58 = 1 + below(255);
			return ST_QPOP;
		case 3:
			e->reserved_120[below(4)] = 1 + below(255);
			return ST_QPOP;
		case 4:		/* a key of 33+ bits, or any key on a send */
			e->remote_key |= (uint64_t)(1 + below(~0u)) << 32;
			return ST_QPOP;
		case 5:
			if (k_remote(k))
				continue;
			e->remote_addr = 1 + rnd() % ~0ull;
			return ST_QPOP;
		case 6:
			if (k == K_CSWP)
				continue;
			e->swap = 1 + rnd() % ~0ull;
			return ST_QPOP;
		case 7:
			e->dst_qpn |= (1 + below(255)) << 24;
			return ST_QPOP;
		case 8:
			if (k != K_READ && !k_atomic(k))
				continue;
			e->header_data = 1 + rnd() % ~0ull;
			return ST_QPOP;
		case 9:
			if (k != K_READ && !k_atomic(k))
				continue;
			e->flags |= below(2) ? UET_SQE_F_WITH_DATA : UET_SQE_F_INLINE;
			return ST_QPOP;
		case 10:
			if (k != K_READ && k != K_WRITE && k != K_WRITE_DATA &&
			    k != K_WRITE_INLINE)
				continue;
			e->match_bits = 1 + rnd() % ~0ull;
			return ST_QPOP;
		case 11:
			if (!k_inline(k))
				continue;
			e->length = UET_SQE_MAX_INLINE + 1 +
				    below(below(2) ? 64 : ~0u - UET_SQE_MAX_INLINE);
			return ST_LEN;
		case 12:
			if (!k_inline(k))
				continue;
			/* inline takes no SGE (uet-abi.h); which error is
			 * not documented */
			e->num_sge = 1 + below(255);
			return ST_ANY_LOCAL;
		case 13:
			if (k_inline(k) || k_atomic(k))
				continue;
			e->num_sge = UET_SQE_MAX_SGE + 1 + below(256 - UET_SQE_MAX_SGE - 1);
			return ST_LEN;
		case 14:	/* an atomic's one 8-byte SGE, or none for ADD */
			if (!k_atomic(k))
				continue;
			if (k == K_ADD) {
				e->num_sge = 1;
				e->sge[0].addr = ar_addr(&self->amr, 64);
				e->sge[0].length = 8;
				e->sge[0].lkey = self->amr.mr->lkey;
			} else if (below(2)) {
				e->num_sge = below(2) ? 0 : 2;
				e->sge[1] = e->sge[0];
			} else {
				e->sge[0].addr = ar_addr(&self->amr, 64 +
					(8 - ((uintptr_t)self->amr.start & 7)));
				e->sge[0].length = below(2) ? 4 : 16;
			}
			return ST_LEN;
		case 15:	/* a remote range past 2^64 */
			if (!k_remote(k) || (k_inline(k) && !e->length))
				continue;
			e->remote_addr = ~0ull - below(k_atomic(k) ? 8 :
				k_inline(k) ? e->length : e->sge[0].length);
			if (!k_atomic(k) && !k_inline(k))
				e->num_sge = 1;
			return ST_LEN;
		case 16:	/* a bad SGE */
			if (k_inline(k) || !e->num_sge)
				continue;
			bad_sge(self, &e->sge[below(e->num_sge)], &want);
			return want;
		case 17:	/* read or fetch into memory without local write */
			if (k != K_READ && k != K_FADD && k != K_CSWP)
				continue;
			e->sge[0].lkey = self->anowr.mr->lkey;
			e->sge[0].addr = ar_addr(&self->anowr, 8 * below(64) +
						 (8 - ((uintptr_t)self->anowr.start & 7)));
			if (k == K_READ)
				e->num_sge = 1;
			return ST_ACCESS;
		case 18:	/* refused at the target: no remote access */
			if (!k_remote(k))
				continue;
			e->remote_key = self->bro.mr->rkey;
			e->remote_addr = ar_addr(&self->bro, k_atomic(k) ?
				8 * below(64) + (8 - ((uintptr_t)self->bro.start & 7)) : 0);
			*rc = RC_PERM_VIOLATION;
			return ST_REM_ACC;
		case 19:	/* another job's key, or nobody's */
			if (!k_remote(k))
				continue;
			if (below(2)) {
				e->remote_key = self->d.mr->rkey;
				e->remote_addr = (uintptr_t)self->d.buf + 8 * below(64);
			} else {
				e->remote_key = stray_key(self);
			}
			*rc = RC_BAD_MKEY;
			return ST_REM_ACC;
		case 20:	/* outside the region, inside its arena */
			if (!k_remote(k))
				continue;
			e->remote_addr = below(2) ?
				(uintptr_t)self->bmr.map + 8 * below((W + EDGE - 64) / 8) :
				ar_addr(&self->bmr, self->bmr.len) + 8 + 8 * below(64);
			e->remote_addr &= ~7ull;
			*rc = RC_BAD_ADDR;
			return ST_REM_ACC;
		default:	/* an unaligned atomic */
			if (!k_atomic(k))
				continue;
			e->remote_addr = ((ar_addr(&self->bmr, 0) + 7) & ~7ull) +
					 8 * below(64) + 1 + below(7);
			*rc = RC_AMO_UNALIGNED;
			return ST_REM_INV;
		}
	}
}

/* whether the documented rules leave e possibly valid (keys of PD A) */
static bool sge_maybe_ok(FIXTURE_DATA(ring) *self, const struct uet_sge *s)
{
	const struct arena *ars[] = { &self->amr, &self->anowr };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ars); i++)
		if (s->lkey == ars[i]->mr->lkey)
			return s->addr >= ar_addr(ars[i], 0) &&
			       s->length <= ars[i]->len &&
			       s->addr - ar_addr(ars[i], 0) <= ars[i]->len - s->length;
	return s->lkey == self->a.mr->lkey;	/* not checked: assume ok */
}

static bool sqe_maybe_valid(FIXTURE_DATA(ring) *self, const struct uet_sqe *e)
{
	uint8_t op = e->opcode;
	bool remote = op >= UET_SQE_OP_WRITE;
	bool nodata = op == UET_SQE_OP_READ || op >= UET_SQE_OP_ATOMIC_FETCH_ADD;
	int i;

	if (op > UET_SQE_OP_ATOMIC_ADD || (e->flags & ~7) || e->reserved_58 ||
	    *(uint32_t *)e->reserved_120 || e->remote_key >> 32 ||
	    (op != UET_SQE_OP_ATOMIC_CMP_SWP && e->swap) || e->dst_qpn >> 24)
		return false;
	if (!remote && (e->remote_key || e->remote_addr))
		return false;
	if (nodata && ((e->flags & (UET_SQE_F_WITH_DATA | UET_SQE_F_INLINE)) ||
		       e->header_data))
		return false;
	if ((op == UET_SQE_OP_WRITE || op == UET_SQE_OP_READ) && e->match_bits)
		return false;
	if (e->flags & UET_SQE_F_INLINE)
		return e->length <= UET_SQE_MAX_INLINE && !e->num_sge;
	if (e->num_sge > UET_SQE_MAX_SGE)
		return false;
	for (i = 0; i < e->num_sge; i++)
		if (!sge_maybe_ok(self, &e->sge[i]))
			return false;
	if (op == UET_SQE_OP_ATOMIC_ADD)
		return !e->num_sge;
	if (op >= UET_SQE_OP_ATOMIC_FETCH_ADD)
		return e->num_sge == 1 && e->sge[0].length == 8;
	return true;
}

/* random bytes, or a random request of a valid shape; never valid */
static void sqe_garbage(FIXTURE_DATA(ring) *self, struct uet_sqe *e, uint64_t wr_id)
{
	int i;

	rnd_bytes(e, sizeof(*e));
	if (below(2)) {
		/* the shape of a request, random fields, zeros often */
		e->opcode = below(8);
		e->flags = below(8);
		e->reserved_58 = 0;
		memset(e->reserved_120, 0, 4);
		e->num_sge = below(5);
		e->length = below(2) ? below(64) : e->length;
		if (below(2))
			e->remote_key &= 0xffffffff;
		if (below(2))
			e->swap = 0;
		if (below(2))
			e->header_data = 0;
		if (below(2))
			e->match_bits = 0;
		if (below(2))
			e->dst_qpn &= 0xffffff;
		for (i = 0; i < 3; i++) {
			int want;

			switch (below(3)) {
			case 0:
				bad_sge(self, &e->sge[i], &want);
				break;
			case 1:
				e->sge[i].lkey = self->amr.mr->lkey;
				e->sge[i].addr = ar_addr(&self->amr, below(256));
				e->sge[i].length = below(512);
				break;
			}
		}
	}
	e->wr_id = wr_id;
	if (sqe_maybe_valid(self, e))
		e->reserved_58 = 1 + below(255);
}

static const char *st_name(int st)
{
	switch (st) {
	case ST_ANY_LOCAL: return "a local error";
	case ST_ANY_ERR: return "an error";
	case ST_ANY: return "anything";
	}
	return ibv_wc_status_str(st);
}

static bool st_match(int want, int got)
{
	switch (want) {
	case ST_ANY_LOCAL:
		return got == ST_LEN || got == ST_QPOP || got == ST_PROT ||
		       got == ST_ACCESS;
	case ST_ANY_ERR:
		return got != ST_OK;
	case ST_ANY:
		return true;
	}
	return want == got;
}

static uint32_t rec_new(FIXTURE_DATA(ring) *self, int want, int rc, int kind)
{
	struct rec *r = &self->recs[self->nrec % self->maxrec];

	r->want = want;
	r->rc = rc;
	r->got = -1;
	r->kind = kind;
	r->len = 0;
	return self->nrec++;
}

/* keeps n receives posted on B's main endpoint (for valid sends) */
static void b_receives(struct __test_metadata *_metadata,
		       FIXTURE_DATA(ring) *self, uint32_t n)
{
	while (self->b_recvs < n) {
		ASSERT_EQ(0, post_recv(&self->b, self->b_recv_seq,
				       (self->b_recv_seq % 32) * 16384, 16384));
		self->b_recv_seq++;
		self->b_recvs++;
	}
}

/* takes B's completions: receives of valid sends, target completions */
static void b_drain(FIXTURE_DATA(ring) *self)
{
	struct wcx w;

	while (!wait_wc(self->b.rcq, &w, 0))
		if (w.opcode == IBV_WC_RECV)
			self->b_recvs--;
	while (!wait_wc(self->b.scq, &w, 0))
		;
}

/* the requests of the running case, for the report of a lost one */
static const struct uet_sqe *diag_sqes;
static uint32_t diag_first, diag_n;

/* logs the first records of [first, until) without a completion */
static void report_missing(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ring) *self, uint32_t first, uint32_t until)
{
	uint32_t i, shown = 0;

	for (i = first; i < until && shown < 8; i++) {
		const struct rec *r = &self->recs[i % self->maxrec];
		const struct uet_sqe *e;

		if (r->got >= 0)
			continue;
		shown++;
		if (!diag_sqes || i < diag_first || i >= diag_first + diag_n) {
			TH_LOG("no completion: wr_id %u (kind %d, expected %s)", i,
			       r->kind, st_name(r->want));
			continue;
		}
		e = &diag_sqes[i - diag_first];
		TH_LOG("no completion: wr_id %u (kind %d, expected %s): opcode %u flags %#x "
		       "num_sge %u length %u dst_qpn %#x rkey %#llx raddr %#llx "
		       "sge0 %#llx+%u key %#x hdr %#llx match %#llx swap %#llx",
		       i, r->kind, st_name(r->want), e->opcode, e->flags, e->num_sge,
		       e->length, e->dst_qpn, (unsigned long long)e->remote_key,
		       (unsigned long long)e->remote_addr,
		       (unsigned long long)e->sge[0].addr, e->sge[0].length,
		       e->sge[0].lkey, (unsigned long long)e->header_data,
		       (unsigned long long)e->match_bits,
		       (unsigned long long)e->swap);
	}
}

/*
 * Takes the fuzzed endpoint's send completions until every record of
 * [first, until) has one (or ms pass), checking each against its record.
 */
static void sq_collect(struct __test_metadata *_metadata,
		       FIXTURE_DATA(ring) *self, uint32_t first, uint32_t until,
		       int ms)
{
	uint64_t end = now_ms() + ms;
	uint32_t left = 0, i;
	struct uet_cqe e;

	for (i = first; i < until; i++)
		left += self->recs[i % self->maxrec].got < 0;
	while (left) {
		if (!cq_take(&self->f.scq, &e)) {
			b_drain(self);
			if (now_ms() >= end)
				report_missing(_metadata, self, first, until);
			ASSERT_LT(now_ms(), end)
				TH_LOG("%u of %u requests never completed (first from %u); "
				       "send ring: prod %u cons %u",
				       left, until - first, first, self->f.sq.prod,
				       wq_cons(&self->f.sq));
			usleep(100);
			continue;
		}
		ASSERT_GE(e.wr_id, first) TH_LOG("completion of wr_id %llu"
						  ", not posted in this round", e.wr_id);
		ASSERT_LT(e.wr_id, until) TH_LOG("completion of wr_id %#llx"
						  ", never posted", e.wr_id);
		struct rec *r = &self->recs[e.wr_id % self->maxrec];

		ASSERT_EQ(-1, r->got) TH_LOG("wr_id %llu completed twice", e.wr_id);
		ASSERT_EQ(self->f.qp->qp_num, e.ep_num);
		r->got = e.status;
		r->got_rc = e.uet_rc;
		EXPECT_TRUE(st_match(r->want, e.status))
			TH_LOG("wr_id %llu (kind %d): %s (uet rc %#x), expected %s",
			       e.wr_id, r->kind, ibv_wc_status_str(e.status),
			       e.uet_rc, st_name(r->want));
		if (r->rc >= 0 && st_match(r->want, e.status))
			EXPECT_EQ(r->rc, e.uet_rc) TH_LOG("wr_id %llu", e.wr_id);
		left--;
	}
	b_drain(self);
}

/* posts the n requests of sqes[] (in ring-sized batches, each with a
 * doorbell) and collects their completions */
static void sq_run(struct __test_metadata *_metadata, FIXTURE_DATA(ring) *self,
		   const struct uet_sqe *sqes, uint32_t n, uint32_t first)
{
	uint32_t i = 0, batch;

	while (i < n) {
		batch = 1 + below(self->f.sq.entries);
		if (batch > n - i)
			batch = n - i;
		for (uint32_t j = 0; j < batch; j++)
			ASSERT_TRUE(wq_push(&self->f.sq, &sqes[i + j]))
				TH_LOG("the send ring is full: cons %u prod %u",
				       wq_cons(&self->f.sq), self->f.sq.prod);
		ASSERT_EQ(0, doorbell(&self->f, false));
		i += batch;
		sq_collect(_metadata, self, first, first + i, WAIT_MS);
		/* the device fetched everything (and said so) */
		ASSERT_EQ(self->f.sq.prod, wq_cons(&self->f.sq));
	}
}

/* ------------------------------------------------------ the cases */

/* random descriptors: each completes once, with a local error */
TEST_F_TIMEOUT(ring, random_sqe, 300)
{
	uint32_t n = env_ul("UET_RING_ITERS", 5000), i, first = self->nrec;
	struct uet_sqe *sqes = calloc(n, sizeof(*sqes));

	ASSERT_NE(NULL, sqes);
	diag_sqes = sqes, diag_first = first, diag_n = n;
	fuzz_seed(_metadata, "random_sqe");
	for (i = 0; i < n; i++)
		sqe_garbage(self, &sqes[i], rec_new(self, ST_ANY_LOCAL, -1, 99));
	sq_run(_metadata, self, sqes, n, first);
	TH_LOG("%u random requests, each failed once with a local error", n);
	free(sqes);
	check_memory(_metadata, self);
}

/*
 * Valid requests with one documented fault each (the status promised for
 * it), mixed with valid requests (which succeed on a clean wire) and with
 * requests of several faults (which fail).
 */
TEST_F_TIMEOUT(ring, faulty_sqe, 400)
{
	uint32_t n = env_ul("UET_RING_ITERS", 5000), i, first = self->nrec;
	struct uet_sqe *sqes = calloc(n, sizeof(*sqes));
	unsigned int valid = 0, faults = 0, multi = 0, remote = 0;

	ASSERT_NE(NULL, sqes);
	diag_sqes = sqes, diag_first = first, diag_n = n;
	fuzz_seed(_metadata, "faulty_sqe");
	b_receives(_metadata, self, 512);
	for (i = 0; i < n; i++) {
		int k = below(K_KINDS), want, rc, roll = below(10), m;
		uint32_t id = self->nrec;

		sqe_valid(self, &sqes[i], k, id);
		if (roll < 2) {
			/* valid (B keeps receives posted for the sends) */
			rec_new(self, ST_OK, -1, k);
			valid++;
		} else if (roll < 9) {
			want = sqe_fault(self, &sqes[i], k, &rc);
			rec_new(self, want, rc, k);
			faults++;
			remote += want == ST_REM_ACC || want == ST_REM_INV;
		} else {
			for (m = 0; m < 2 + (int)below(3); m++)
				sqe_fault(self, &sqes[i], k, &rc);
			rec_new(self, ST_ANY_ERR, -1, k);
			multi++;
		}
	}
	/* chunks of at most 256 requests: fewer sends than B's receives */
	for (i = 0; i < n; i += 256) {
		uint32_t c = n - i < 256 ? n - i : 256;

		b_drain(self);
		b_receives(_metadata, self, 512);
		sq_run(_metadata, self, sqes + i, c, first + i);
	}
	TH_LOG("%u requests: %u valid, %u with one fault (%u refused by the target), %u with several",
	       n, valid, faults, remote, multi);
	free(sqes);
	check_memory(_metadata, self);
}

/* one RQE: valid (one or two SGEs in A's region) or with one fault */
static int rqe_make(FIXTURE_DATA(ring) *self, struct uet_rqe *e, uint64_t wr_id,
		    bool valid, uint32_t *len)
{
	int i, want = ST_OK;

	memset(e, 0, sizeof(*e));
	e->wr_id = wr_id;
	e->num_sge = 1 + below(2);
	*len = 0;
	/* the SGEs in the two halves of the region: they do not overlap */
	for (i = 0; i < e->num_sge; i++) {
		uint32_t l = 1 + below(below(4) ? 1024 : 4096), half = self->amr.len / 2;

		e->sge[i].lkey = self->amr.mr->lkey;
		e->sge[i].addr = ar_addr(&self->amr, i * half + below(half - l));
		e->sge[i].length = l;
		*len += l;
	}
	if (valid)
		return ST_OK;
	switch (below(6)) {
	case 0:
		e->flags |= 1 << (1 + below(7));
		return ST_QPOP;
	case 1:
		e->reserved_50[below(6)] = 1 + below(255);
		return ST_QPOP;
	case 2:
		e->num_sge = UET_RQE_MAX_SGE + 1 + below(256 - UET_RQE_MAX_SGE - 1);
		return ST_LEN;
	case 3:
		e->sge[below(e->num_sge)].lkey = self->anowr.mr->lkey;
		for (i = 0; i < e->num_sge; i++)
			if (e->sge[i].lkey == self->anowr.mr->lkey)
				e->sge[i].addr = ar_addr(&self->anowr, 0);
		return ST_ACCESS;
	default:
		bad_sge(self, &e->sge[below(e->num_sge)], &want);
		return want;
	}
}

static void rqe_garbage(FIXTURE_DATA(ring) *self, struct uet_rqe *e, uint64_t wr_id)
{
	int i;
	bool ok;

	rnd_bytes(e, sizeof(*e));
	if (below(2)) {
		e->flags &= 1;
		memset(e->reserved_50, 0, sizeof(e->reserved_50));
		e->num_sge = below(4);
	}
	e->wr_id = wr_id;
	ok = !(e->flags & ~1) && !e->reserved_50[0] && !e->reserved_50[1] &&
	     !*(uint32_t *)&e->reserved_50[2] && e->num_sge <= UET_RQE_MAX_SGE;
	for (i = 0; ok && i < e->num_sge; i++)
		ok = sge_maybe_ok(self, &e->sge[i]) &&
		     e->sge[i].lkey != self->anowr.mr->lkey;
	if (ok)
		e->reserved_50[0] = 1 + below(255);
}

/* one message from B to the fuzzed endpoint: [8-byte seq][pattern(seq)] */
static int b_send_to_f(FIXTURE_DATA(ring) *self, uint64_t seq, uint32_t len)
{
	struct side *b = &self->b;
	uint8_t *p = b->buf + (2u << 18);

	fill(p, len, seq);
	memcpy(p, &seq, len < 8 ? len : 8);
	ibv_wr_start(b->qpx);
	b->qpx->wr_id = seq;
	b->qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(b->qpx);
	uetdv_wr_set_ru_addr(b->qpx, uetdv_ah_to_ah_ex(self->b_to_f), 0);
	ibv_wr_set_sge(b->qpx, b->mr->lkey, (uintptr_t)p, len);
	return ibv_wr_complete(b->qpx);
}

/* gathers a completed receive's bytes from the RQE it was posted with */
static size_t rqe_gather(const struct uet_rqe *e, uint8_t *out, size_t max)
{
	size_t n = 0;
	int i;

	for (i = 0; i < e->num_sge && n < max; i++) {
		size_t l = e->sge[i].length < max - n ? e->sge[i].length : max - n;

		memcpy(out + n, (void *)(uintptr_t)e->sge[i].addr, l);
		n += l;
	}
	return n;
}

/*
 * Receive-ring accounting: takes the receive completions there are,
 * checking each against its record (of [first, until)); a message's
 * bytes against what B sent (msgs[k] = length of message k). Returns how
 * many records of [first, until) have no completion yet.
 */
static uint32_t rq_take(struct __test_metadata *_metadata,
			FIXTURE_DATA(ring) *self, uint32_t first, uint32_t until,
			const struct uet_rqe *rqes, const uint32_t *msgs,
			uint32_t nmsg)
{
	static uint8_t tmp[16384];
	uint32_t left = 0, i;
	struct uet_cqe e;
	struct rec *r;

	while (cq_take(&self->f.rcq, &e)) {
		ASSERT_GE(e.wr_id, first) TH_LOG("receive wr_id %#llx never posted",
						 e.wr_id);
		ASSERT_LT(e.wr_id, until) TH_LOG("receive wr_id %#llx never posted",
						 e.wr_id);
		r = &self->recs[e.wr_id % self->maxrec];
		ASSERT_EQ(-1, r->got) TH_LOG("receive %llu completed twice", e.wr_id);
		r->got = e.status;
		/* a valid receive gets a message (whole, or too long for it)
		 * or is flushed */
		EXPECT_TRUE(st_match(r->want, e.status) ||
			    (r->want == ST_OK && (e.status == ST_LEN || e.status == ST_FLUSH)))
			TH_LOG("receive %llu: %s, expected %s", e.wr_id,
			       ibv_wc_status_str(e.status), st_name(r->want));
		if (r->want == ST_OK && e.status == ST_OK) {
			unsigned long long seq = 0;
			size_t n = rqe_gather(&rqes[e.wr_id - first], tmp, e.byte_len);

			ASSERT_EQ(n, e.byte_len) TH_LOG("receive %llu of %u bytes: %u",
							e.wr_id, r->len, e.byte_len);
			memcpy(&seq, tmp, n < 8 ? n : 8);
			if (n >= 8) {
				ASSERT_LT(seq, nmsg) TH_LOG("receive %llu"
							    ": no message %llu",
							    e.wr_id, seq);
				EXPECT_EQ(msgs[seq], e.byte_len);
				EXPECT_EQ(-1, check_from(tmp, n, seq, 8))
					TH_LOG("message %llu in receive %llu"
					       ": byte %ld wrong", seq, e.wr_id,
					       check_from(tmp, n, seq, 8));
			}
		}
	}
	for (i = first; i < until; i++)
		left += self->recs[i % self->maxrec].got < 0;
	return left;
}

/* takes receive completions until nmsg messages have each taken one */
static void rq_wait_msgs(struct __test_metadata *_metadata,
			 FIXTURE_DATA(ring) *self, uint32_t first, uint32_t until,
			 const struct uet_rqe *rqes, const uint32_t *msgs,
			 uint32_t nmsg)
{
	uint64_t end = now_ms() + WAIT_MS;

	for (;;) {
		uint32_t done = 0, i;

		rq_take(_metadata, self, first, until, rqes, msgs, nmsg);
		for (i = first; i < until; i++) {
			struct rec *r = &self->recs[i % self->maxrec];

			done += r->want == ST_OK && (r->got == ST_OK || r->got == ST_LEN);
		}
		if (done >= nmsg)
			return;
		ASSERT_LT(now_ms(), end) TH_LOG("%u of %u messages never arrived",
						nmsg - done, nmsg);
		usleep(200);
	}
}

/*
 * Random and faulty receive descriptors among valid ones; B sends
 * messages that must land in the valid ones only, and destroying the
 * endpoint flushes the rest: every descriptor completes exactly once.
 */
TEST_F_TIMEOUT(ring, random_rqe, 400)
{
	uint32_t n = env_ul("UET_RING_ITERS", 5000), i, first = self->nrec;
	struct uet_rqe *rqes = calloc(n, sizeof(*rqes));
	uint32_t *msgs = calloc(n, sizeof(*msgs));
	uint32_t valid = 0, nmsg = 0, batch, posted = 0, vposted = 0;
	uint32_t flushed = 0, whole = 0, longer = 0, bfail = 0;
	uint64_t end;
	struct wcx w;

	ASSERT_NE(NULL, rqes);
	ASSERT_NE(NULL, msgs);
	fuzz_seed(_metadata, "random_rqe");
	for (i = 0; i < n; i++) {
		uint32_t id = rec_new(self, 0, -1, 0), len = 0;
		int roll = below(10);
		struct rec *r = &self->recs[id % self->maxrec];

		if (roll < 4) {
			rqe_garbage(self, &rqes[i], id);
			r->want = ST_ANY_LOCAL;
		} else {
			r->want = rqe_make(self, &rqes[i], id, roll < 6, &len);
			r->len = len;
			valid += r->want == ST_OK;
		}
	}
	/*
	 * Post them in batches with a doorbell each; the valid ones stay
	 * posted: B sends messages, one at a time, to keep a few of them
	 * (a message goes to the oldest one: receives match in posting
	 * order; no message waits without a receive).
	 */
	while (posted < n) {
		batch = 1 + below(64);
		if (batch > n - posted)
			batch = n - posted;
		for (i = 0; i < batch; i++) {
			ASSERT_TRUE(wq_push(&self->f.rq, &rqes[posted + i]));
			vposted += self->recs[(first + posted + i) % self->maxrec].want == ST_OK;
		}
		ASSERT_EQ(0, doorbell(&self->f, true));
		posted += batch;
		while (vposted - nmsg > 8 || (posted == n && vposted - nmsg > 4)) {
			uint32_t len = 1 + below(2048);

			msgs[nmsg] = len;
			ASSERT_EQ(0, b_send_to_f(self, nmsg, len));
			ASSERT_EQ(0, wait_wc(self->b.scq, &w, WAIT_MS));
			bfail += w.status != IBV_WC_SUCCESS;
			nmsg++;
			/* its receive, checked before the next message may
			 * land in the same bytes */
			rq_wait_msgs(_metadata, self, first, first + n, rqes, msgs, nmsg);
		}
		rq_take(_metadata, self, first, first + n, rqes, msgs, nmsg);
		/* the device fetched everything; invalid ones completed */
		ASSERT_EQ(self->f.rq.prod, wq_cons(&self->f.rq));
	}
	/* the endpoint goes: the receives left are flushed */
	ASSERT_EQ(0, fuzz_destroy_qp(&self->f));
	end = now_ms() + WAIT_MS;
	while (rq_take(_metadata, self, first, first + n, rqes, msgs, nmsg))
		ASSERT_LT(now_ms(), end) TH_LOG("receives never completed nor flushed");
	usleep(100000);
	ASSERT_EQ(0, rq_take(_metadata, self, first, first + n, rqes, msgs, nmsg));
	for (i = first; i < first + n; i++) {
		struct rec *r = &self->recs[i % self->maxrec];

		if (r->want != ST_OK)
			continue;
		flushed += r->got == ST_FLUSH;
		whole += r->got == ST_OK;
		longer += r->got == ST_LEN;
	}
	TH_LOG("%u receive descriptors, %u valid; %u messages: %u received whole, %u too long; %u flushed",
	       n, valid, nmsg, whole, longer, flushed);
	/* each message took exactly one valid receive */
	EXPECT_EQ(nmsg, whole + longer);
	EXPECT_EQ(valid, whole + longer + flushed);
	if (bfail)
		TH_LOG("%u of B's sends completed in error (their receive was too short)",
		       bfail);
	free(rqes);
	free(msgs);
	check_memory(_metadata, self);
}

/* no completion on the fuzzed endpoint's send CQ for ms */
static bool sq_quiet(FIXTURE_DATA(ring) *self, int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (ld_acq(&cq_hdr(&self->f.scq)->prod_idx) != self->f.scq.cons)
			return false;
		usleep(1000);
	}
	return true;
}

/*
 * Producer indexes the device cannot trust: ahead of its consumer index
 * by more than the ring, behind it, far away. The doorbell answers EINVAL
 * and fetches nothing, until the index is sane again. A consumer index
 * written by user space is overwritten by the device's own.
 */
TEST_F_TIMEOUT(ring, producer_index, 300)
{
	struct wq *sq = &self->f.sq, *rq = &self->f.rq;
	uint32_t bad[8], i, j, first, cons, rcons;
	struct uet_sqe e;
	struct uet_rqe r;
	struct uet_cqe c;
	uint64_t end;
	uint32_t len;

	fuzz_seed(_metadata, "producer_index");
	for (j = 0; j < 20; j++) {
		/* a few valid requests and receives in the rings, unpublished */
		first = self->nrec;
		cons = wq_cons(sq);
		for (i = 0; i < 4; i++) {
			sqe_valid(self, &e, K_WRITE, rec_new(self, ST_OK, -1, K_WRITE));
			memcpy(wq_slot(sq, sq->prod + i), &e, sizeof(e));
		}
		rcons = wq_cons(rq);
		rqe_make(self, &r, 0x77000000 + j, true, &len);
		r.flags = 0x80;	/* an unknown flag: fails at fetch */
		memcpy(wq_slot(rq, rq->prod), &r, sizeof(r));

		bad[0] = cons + sq->entries + 1;
		bad[1] = cons + sq->entries + 1 + below(1u << 30);
		bad[2] = cons + (1u << 31);
		bad[3] = cons - 1;
		bad[4] = cons - 1 - below(sq->entries);
		bad[5] = cons + ~0u / 2 + below(1u << 30);
		bad[6] = cons ^ 0x80000000;
		bad[7] = rnd();
		for (i = 0; i < 8; i++) {
			if (bad[i] - cons <= sq->entries)
				continue;	/* the random one may be sane */
			st_rel(&wq_hdr(sq)->prod_idx, bad[i]);
			ASSERT_EQ(EINVAL, doorbell(&self->f, false))
				TH_LOG("send producer index %#x with consumer %#x", bad[i], cons);
			ASSERT_EQ(cons, wq_cons(sq));
			st_rel(&wq_hdr(rq)->prod_idx, bad[i] - cons + rcons);
			ASSERT_EQ(EINVAL, doorbell(&self->f, true))
				TH_LOG("receive producer index %#x with consumer %#x",
				       bad[i] - cons + rcons, rcons);
			ASSERT_EQ(rcons, wq_cons(rq));
		}
		/* nothing was fetched */
		ASSERT_TRUE(sq_quiet(self, 50));
		/* the device's consumer index, overwritten: it keeps its own */
		st_rel(&wq_hdr(sq)->cons_idx, rnd());
		st_rel(&wq_hdr(rq)->cons_idx, rnd());
		/* sane again: the four requests and the receive */
		sq->prod += 4;
		st_rel(&wq_hdr(sq)->prod_idx, sq->prod);
		ASSERT_EQ(0, doorbell(&self->f, false));
		sq_collect(_metadata, self, first, self->nrec, WAIT_MS);
		ASSERT_EQ(sq->prod, wq_cons(sq));
		rq->prod++;
		st_rel(&wq_hdr(rq)->prod_idx, rq->prod);
		ASSERT_EQ(0, doorbell(&self->f, true));
		end = now_ms() + WAIT_MS;
		while (!cq_take(&self->f.rcq, &c))
			ASSERT_LT(now_ms(), end);
		ASSERT_EQ(0x77000000 + j, c.wr_id);
		ASSERT_EQ(ST_QPOP, c.status);
		ASSERT_EQ(rq->prod, wq_cons(rq));
	}

	/* a ring exactly full: every entry fetched (garbage: fails at once) */
	first = self->nrec;
	for (i = 0; i < sq->entries; i++) {
		sqe_garbage(self, &e, rec_new(self, ST_ANY_LOCAL, -1, 99));
		memcpy(wq_slot(sq, sq->prod + i), &e, sizeof(e));
	}
	sq->prod += sq->entries;
	st_rel(&wq_hdr(sq)->prod_idx, sq->prod);
	ASSERT_EQ(0, doorbell(&self->f, false));
	sq_collect(_metadata, self, first, self->nrec, WAIT_MS);
	ASSERT_EQ(sq->prod, wq_cons(sq));
	/* a doorbell with nothing new fetches nothing, even after the
	 * consumed slots were rewritten: each entry is read once */
	for (i = 0; i < sq->entries; i++) {
		sqe_valid(self, &e, K_WRITE, 0xdead0000 + i);
		memcpy(wq_slot(sq, i), &e, sizeof(e));
	}
	ASSERT_EQ(0, doorbell(&self->f, false));
	ASSERT_EQ(0, doorbell(&self->f, true));
	ASSERT_TRUE(sq_quiet(self, 200)) TH_LOG("a consumed entry was fetched again");
	check_memory(_metadata, self);
}

/* the value of a device counter (hw_counters in sysfs), or -1 */
static long long dev_counter(const char *dev, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/hw_counters/%s",
		 dev, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Completion ring indexes: a producer index overwritten by user space is
 * rewritten by the device's own at the next completion; a consumer index
 * ahead of the producer, or further behind than the ring, makes the next
 * completion find the ring full: the CQ goes into error (IBV_EVENT_CQ_ERR,
 * counted cq_overflow), and its endpoint and the CQ can be destroyed. A
 * ring consumed properly wraps around many times without error.
 */
TEST_F_TIMEOUT(ring, cq_index, 300)
{
	struct fuzz g;
	struct uet_sqe e;
	struct uet_cqe c;
	const char *why;
	uint32_t i, round, got;
	long long before, after;

	fuzz_seed(_metadata, "cq_index");
	for (round = 0; round < 3; round++) {
		why = fuzz_new(&g, &self->a, 64, 64, 64, UETDV_DM_RUD);
		ASSERT_EQ(NULL, why) TH_LOG("%s: %s", why, strerror(errno));
		ASSERT_EQ(64, g.scq.entries);
		/* wraps: 5 rings' worth, consumed as they come */
		for (i = got = 0; i < 5 * g.scq.entries; i++) {
			sqe_garbage(self, &e, i);
			ASSERT_TRUE(wq_push(&g.sq, &e));
			ASSERT_EQ(0, doorbell(&g, false));
			while (cq_take(&g.scq, &c)) {
				ASSERT_EQ(got, c.wr_id);
				ASSERT_NE(ST_OK, c.status);
				got++;
			}
		}
		ASSERT_EQ(5 * g.scq.entries, got);
		ASSERT_EQ(0, drain_async(g.ctx, NULL, 0));
		/* a producer index of ours is overwritten with the device's */
		st_rel(&cq_hdr(&g.scq)->prod_idx, g.scq.cons + 1000 + below(1000));
		sqe_garbage(self, &e, got);
		ASSERT_TRUE(wq_push(&g.sq, &e));
		ASSERT_EQ(0, doorbell(&g, false));
		usleep(10000);
		ASSERT_EQ(g.scq.cons + 1, ld_acq(&cq_hdr(&g.scq)->prod_idx));
		ASSERT_TRUE(cq_take(&g.scq, &c));
		ASSERT_EQ(got, c.wr_id);
		got++;

		/* a bad consumer index: ahead, or too far behind */
		before = dev_counter(self->a.name, "cq_overflow");
		switch (round) {
		case 0:
			st_rel(&cq_hdr(&g.scq)->cons_idx, g.scq.cons + 1 + below(100));
			break;
		case 1:
			st_rel(&cq_hdr(&g.scq)->cons_idx,
			       g.scq.cons - g.scq.entries - 1 - below(1000));
			break;
		default:
			st_rel(&cq_hdr(&g.scq)->cons_idx, g.scq.cons + (1u << 31));
			break;
		}
		for (i = 0; i < 3; i++) {
			sqe_garbage(self, &e, got + i);
			ASSERT_TRUE(wq_push(&g.sq, &e));
			ASSERT_EQ(0, doorbell(&g, false));
		}
		/* nothing written over entries, the CQ in error */
		ASSERT_EQ(g.scq.cons, ld_acq(&cq_hdr(&g.scq)->prod_idx));
		ASSERT_EQ(1, drain_async(g.ctx, ibv_cq_ex_to_cq(g.scqx), 2000))
			TH_LOG("round %u: no IBV_EVENT_CQ_ERR", round);
		after = dev_counter(self->a.name, "cq_overflow");
		if (before >= 0)
			EXPECT_EQ(before + 3, after);
		/* still destroyable, in any order the verbs allow */
		ASSERT_EQ(0, fuzz_destroy(&g));
	}
	check_memory(_metadata, self);
}

/* ------------------------------------------------ the racing cases */

#define NCAND 64

struct race {
	FIXTURE_DATA(ring) *self;
	struct uet_sqe sc[NCAND];	/* candidates, all signaled */
	struct uet_rqe rc[NCAND];
	uint64_t seed;
	unsigned long writes;
	bool chaos;			/* random bytes over whole rings */
};

static __thread uint64_t trng;

static uint64_t trnd(void)
{
	trng ^= trng >> 12;
	trng ^= trng << 25;
	trng ^= trng >> 27;
	return trng * 0x2545f4914f6cdd1dULL;
}

/*
 * The rewriter: copies candidates (whole, or a random byte range of one)
 * over random slots of both rings while the main thread posts and rings;
 * or, in chaos mode, random bytes over any byte of the rings, their
 * headers and the CQ rings.
 */
static void *rewriter(void *arg)
{
	struct race *rc = arg;
	FIXTURE_DATA(ring) *self = rc->self;
	struct fuzz *f = &self->f;

	trng = rc->seed;
	while (!self->stop) {
		uint64_t v = trnd();

		if (rc->chaos) {
			struct { uint8_t *p; size_t n; } r[4] = {
				{ f->sq.base, f->sq.size }, { f->rq.base, f->rq.size },
				{ f->scq.base, f->scq.size }, { f->rcq.base, f->rcq.size },
			};
			int which = v % 4, len = 1 + (v >> 8) % 16;
			size_t at = (v >> 16) % (r[which].n - 16);

			/* the headers now and then */
			if ((v >> 56) < 2)
				at = ((v >> 54) & 1) ? 0 : 64;
			for (int i = 0; i < len; i++)
				r[which].p[at + i] = trnd();
		} else if (v & 1) {
			uint32_t slot = (v >> 8) % f->sq.entries;
			const uint8_t *c = (const uint8_t *)&rc->sc[(v >> 24) % NCAND];
			uint32_t from = (v >> 32) % sizeof(struct uet_sqe);
			uint32_t n = ((v >> 44) & 1) ? sizeof(struct uet_sqe) - from :
				     1 + (v >> 48) % (sizeof(struct uet_sqe) - from);

			if ((v >> 45) & 1)
				from = 0, n = sizeof(struct uet_sqe);
			memcpy((uint8_t *)wq_slot(&f->sq, slot) + from, c + from, n);
		} else {
			uint32_t slot = (v >> 8) % f->rq.entries;
			const uint8_t *c = (const uint8_t *)&rc->rc[(v >> 24) % NCAND];
			uint32_t from = (v >> 32) % sizeof(struct uet_rqe);
			uint32_t n = 1 + (v >> 48) % (sizeof(struct uet_rqe) - from);

			if ((v >> 45) & 1)
				from = 0, n = sizeof(struct uet_rqe);
			memcpy((uint8_t *)wq_slot(&f->rq, slot) + from, c + from, n);
		}
		rc->writes++;
		if (!(rc->writes & 63))
			sched_yield();
	}
	return NULL;
}

/*
 * A second thread rewrites descriptors (whole candidates, or byte ranges
 * of them: torn mixtures) while this one publishes them and rings the
 * doorbells. Candidates are valid or not, all signaled, with wr_ids that
 * differ in their low byte only, to one destination: whatever mixture the
 * device reads, it reads once and it completes once. B sends messages to
 * the endpoint meanwhile. Only regions with access are ever written.
 */
TEST_F_TIMEOUT(ring, rewrite_race, 300)
{
	unsigned int secs = env_ul("UET_RING_SECS", 20);
	struct race *rc = calloc(1, sizeof(*rc));
	uint32_t i, sposted = 0, rposted = 0, sdone = 0, rdone = 0, msgs = 0;
	uint32_t sok = 0, rok = 0;
	uint64_t end;
	struct uet_cqe c;
	struct wcx w;
	int rcode;

	ASSERT_NE(NULL, rc);
	fuzz_seed(_metadata, "rewrite_race");
	rc->self = self;
	rc->seed = rnd() | 1;
	for (i = 0; i < NCAND; i++) {
		int k = K_WRITE + below(K_KINDS - K_WRITE);
		uint32_t len;

		sqe_valid(self, &rc->sc[i], k, TAG | i);
		if (below(2))
			sqe_fault(self, &rc->sc[i], k, &rcode);
		/* one destination, every candidate signaled */
		memcpy(rc->sc[i].dst_addr, self->b.addr.raw, 16);
		rc->sc[i].dst_qpn = self->b.qp->qp_num;
		rc->sc[i].flags |= UET_SQE_F_SIGNALED;
		rc->sc[i].wr_id = TAG | i;
		rqe_make(self, &rc->rc[i], TAG | i, below(2), &len);
		rc->rc[i].wr_id = TAG | i;
	}
	self->stop = false;
	ASSERT_EQ(0, pthread_create(&self->thr, NULL, rewriter, rc));
	self->thr_on = true;

	end = now_ms() + secs * 1000;
	while (now_ms() < end) {
		/* post a candidate or two in each ring; the thread rewrites */
		for (i = 0; i < 1 + below(8); i++) {
			if (sposted - sdone >= self->f.sq.entries - 1)
				break;
			if (!wq_push(&self->f.sq, &rc->sc[below(NCAND)]))
				break;
			sposted++;
		}
		if (rposted - rdone < self->f.rq.entries / 2 && wq_push(&self->f.rq, &rc->rc[below(NCAND)]))
			rposted++;
		ASSERT_EQ(0, doorbell(&self->f, false));
		ASSERT_EQ(0, doorbell(&self->f, true));
		if (below(4) == 0 && b_send_to_f(self, msgs, 1 + below(1024)) == 0)
			msgs++;
		while (cq_take(&self->f.scq, &c)) {
			ASSERT_EQ(TAG, c.wr_id & ~0xffull)
				TH_LOG("send wr_id %#llx was never written", c.wr_id);
			sdone++;
			sok += c.status == ST_OK;
		}
		while (cq_take(&self->f.rcq, &c)) {
			ASSERT_EQ(TAG, c.wr_id & ~0xffull)
				TH_LOG("receive wr_id %#llx was never written", c.wr_id);
			rdone++;
			rok += c.status == ST_OK;
		}
		while (!wait_wc(self->b.scq, &w, 0))
			;
		b_drain(self);
	}
	self->stop = true;
	pthread_join(self->thr, NULL);
	self->thr_on = false;
	TH_LOG("%lu rewrites", rc->writes);

	/* every published send descriptor is fetched and completes once */
	ASSERT_EQ(0, doorbell(&self->f, false));
	ASSERT_EQ(0, doorbell(&self->f, true));
	end = now_ms() + WAIT_MS;
	while (sdone < sposted) {
		if (!cq_take(&self->f.scq, &c)) {
			b_drain(self);
			ASSERT_LT(now_ms(), end) TH_LOG("%u of %u sends never completed",
							sposted - sdone, sposted);
			usleep(1000);
			continue;
		}
		ASSERT_EQ(TAG, c.wr_id & ~0xffull);
		sdone++;
		sok += c.status == ST_OK;
	}
	usleep(200000);
	ASSERT_FALSE(cq_take(&self->f.scq, &c)) TH_LOG("a send completed twice");
	ASSERT_EQ(self->f.sq.prod, wq_cons(&self->f.sq));
	ASSERT_EQ(self->f.rq.prod, wq_cons(&self->f.rq));
	/* receives: completed, or flushed when the endpoint goes */
	ASSERT_EQ(0, fuzz_destroy_qp(&self->f));
	end = now_ms() + WAIT_MS;
	while (rdone < rposted) {
		if (!cq_take(&self->f.rcq, &c)) {
			ASSERT_LT(now_ms(), end) TH_LOG("%u of %u receives never completed",
							rposted - rdone, rposted);
			usleep(1000);
			continue;
		}
		ASSERT_EQ(TAG, c.wr_id & ~0xffull);
		rdone++;
		rok += c.status == ST_OK;
	}
	usleep(100000);
	ASSERT_FALSE(cq_take(&self->f.rcq, &c)) TH_LOG("a receive completed twice");
	TH_LOG("%u sends (%u succeeded), %u receives (%u got a message of %u sent)",
	       sposted, sok, rposted, rok, msgs);
	EXPECT_LE(rok, msgs);
	free(rc);
	check_memory(_metadata, self);
}

/*
 * Chaos: a second thread writes random bytes over the rings, their
 * indexes and the completion rings while this one rings both doorbells
 * and B sends to the endpoint. The doorbells answer 0 or EINVAL; the
 * endpoint and its CQs can then be destroyed, no guarded byte changed,
 * and the device still works: A's main endpoint reaches B.
 */
TEST_F_TIMEOUT(ring, chaos, 300)
{
	unsigned int secs = env_ul("UET_RING_SECS", 20);
	struct race *rc = calloc(1, sizeof(*rc));
	unsigned long rings = 0, einval = 0;
	uint32_t known[2] = { 0, 0 };	/* the device's consumer indexes */
	uint64_t end;
	struct wcx w;
	int err;

	ASSERT_NE(NULL, rc);
	fuzz_seed(_metadata, "chaos");
	rc->self = self;
	rc->seed = rnd() | 1;
	rc->chaos = true;
	self->stop = false;
	ASSERT_EQ(0, pthread_create(&self->thr, NULL, rewriter, rc));
	self->thr_on = true;
	end = now_ms() + secs * 1000;
	while (now_ms() < end) {
		bool recv = below(2);
		struct wq *q = recv ? &self->f.rq : &self->f.sq;

		/*
		 * Often a sane producer index over whatever the slots hold
		 * (mostly zeros with random bytes: many are valid sends to
		 * random addresses), relative to the consumer index the device
		 * published after the last doorbell that fetched.
		 */
		if (below(2))
			st_rel(&wq_hdr(q)->prod_idx, known[recv] + below(q->entries + 1));
		err = doorbell(&self->f, recv);
		/* (unless the thread has just overwritten it) */
		if (!err && wq_cons(q) - known[recv] <= q->entries)
			known[recv] = wq_cons(q);
		ASSERT_TRUE(err == 0 || err == EINVAL)
			TH_LOG("doorbell: %s", strerror(err));
		einval += err == EINVAL;
		rings++;
		if (below(8) == 0 && b_send_to_f(self, rings, 1 + below(1024)) == 0)
			while (!wait_wc(self->b.scq, &w, 0))
				;
	}
	self->stop = true;
	pthread_join(self->thr, NULL);
	self->thr_on = false;
	TH_LOG("%lu doorbells (%lu EINVAL), %lu random writes; consumer indexes %u (send), %u (receive)",
	       rings, einval, rc->writes, known[0], known[1]);
	ASSERT_EQ(0, fuzz_destroy(&self->f));
	/* B's sends to the endpoint completed one way or another */
	end = now_ms() + WAIT_MS;
	while (!wait_wc(self->b.scq, &w, 300) && now_ms() < end)
		;
	/* the device still works */
	ASSERT_EQ(0, post_recv(&self->b, 1, 0, 4096));
	fill(self->a.buf, 1000, 33);
	ASSERT_EQ(0, send_msg(&self->a, 2, 0, 1000));
	ASSERT_EQ(0, wait_wc(self->a.scq, &w, WAIT_MS));
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	for (;;) {
		ASSERT_EQ(0, wait_wc(self->b.rcq, &w, WAIT_MS));
		if (w.wr_id == 1)
			break;
	}
	ASSERT_EQ(IBV_WC_SUCCESS, w.status);
	ASSERT_EQ(-1, check(self->b.buf, 1000, 33));
	free(rc);
	check_memory(_metadata, self);
}

TEST_HARNESS_MAIN
