/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Two UET endpoints on two devices joined by a wire, driven by one
 * process: the helpers uet_msg.c and uet_rma.c share (opening a device in
 * a network namespace, joining a job, endpoints, address handles, posting
 * and polling). Side A is $UET_DEV0 in the current network namespace,
 * side B is $UET_DEV1 whose netdev lives in $UET_NS1; see uet_msg.c.
 */

#ifndef UET_PAIR_H
#define UET_PAIR_H

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/uetdv.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_job.h>

#ifndef BUF_BYTES
#define BUF_BYTES (4u << 20)		/* per side: 1 MiB messages + room */
#endif
#define RECV_OFF (2u << 20)		/* receive buffers start here */
#define CANARY 0xa5
#define QUIET_MS 500			/* a completion that should not */
#define SQ_DEPTH 256
#define RQ_DEPTH 1024

/*
 * How long a completion that should come is waited for: 30 s, times
 * $UET_WAIT_SCALE (1 to 20; the debug lane's kernel, about four times
 * slower, sets 4). Scaling does not hide a lost completion: it still
 * fails, later.
 */
static inline int uet_wait_ms(void)
{
	static int ms;

	if (!ms) {
		const char *s = getenv("UET_WAIT_SCALE");
		int k = s ? atoi(s) : 1;

		ms = 30000 * (k >= 1 && k <= 20 ? k : 1);
	}
	return ms;
}
#define WAIT_MS uet_wait_ms()

struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq_ex *scq, *rcq;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;
	struct ibv_mr *mr;
	uint8_t *buf;
	int job_fd;
	union ibv_gid addr;		/* this side's FEP address */
	struct ibv_ah *to_peer;		/* extended AH of the other side */
	struct uetdv_device_attr dattr;
	const char *name;
	uint32_t sq_depth;		/* of the last endpoint made */
	int mr_access;			/* of s->mr, besides LOCAL_WRITE */
};

struct wcx {
	uint64_t wr_id;
	enum ibv_wc_status status;
	enum ibv_wc_opcode opcode;
	uint32_t byte_len, src_qp, qp_num, vendor_err, job_id, src_id;
	unsigned int wc_flags, uflags;
	uint64_t match_bits, header_data;
	__be32 imm;
	union ibv_gid src_addr;
};

static inline const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v ? v : def;
}

/* an IP address as a GID (IPv4-mapped IPv6 for IPv4) */
static inline int addr_to_gid(const char *s, union ibv_gid *gid)
{
	struct in_addr a4;

	memset(gid, 0, sizeof(*gid));
	if (inet_pton(AF_INET, s, &a4) == 1) {
		gid->raw[10] = 0xff;
		gid->raw[11] = 0xff;
		memcpy(&gid->raw[12], &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, s, gid->raw) == 1 ? 0 : -1;
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static inline uint8_t pattern(uint64_t seed, size_t i)
{
	return (uint8_t)(seed * 37 + i * 13 + (i >> 9));
}

static inline void fill(uint8_t *p, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(seed, i);
}

/* like check(), from byte from on (the bytes before hold a number) */
static inline long check_from(const uint8_t *p, size_t len, uint64_t seed,
			      size_t from)
{
	size_t i;

	for (i = from; i < len; i++)
		if (p[i] != pattern(seed, i))
			return i;
	return -1;
}

/* -1 if p holds the pattern of seed, else the first wrong offset */
static inline long check(const uint8_t *p, size_t len, uint64_t seed)
{
	return check_from(p, len, seed, 0);
}

/* -1 if every byte of p[0, len) is v, else the first other one */
static inline long first_not(const uint8_t *p, size_t len, uint8_t v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != v)
			return i;
	return -1;
}

/* enter the named network namespace ("" stays); the old one's fd, or -1 */
static inline int enter_ns(const char *ns)
{
	char path[256];
	int old, fd;

	if (!*ns)
		return open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	/* where ip netns keeps them: /run/netns (older: /var/run/netns) */
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	old = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (old < 0 || setns(fd, CLONE_NEWNET)) {
		close(fd);
		if (old >= 0)
			close(old);
		return -1;
	}
	close(fd);
	return old;
}

static inline void leave_ns(int old)
{
	if (old >= 0) {
		setns(old, CLONE_NEWNET);
		close(old);
	}
}

/* a realized UET job with this JobID in the current namespace, or -errno */
static inline int job_new(uint32_t job_id)
{
	struct rdma_job_realize r;
	int fd, err;

	fd = open("/dev/infiniband/job", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.protocol = RDMA_JOB_PROTO_UET;
	r.uet.job_id = job_id;
	/* room for the fixture's endpoints and endpoints_256's */
	r.uet.max_endpoints = 300;
	if (ioctl(fd, RDMA_JOB_IOC_REALIZE, &r)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static inline struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	if (!list)
		return NULL;
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	return ctx;
}

/* opens the device and, if job_id, joins it to that job in namespace ns:
 * 0 or a message */
static inline const char *side_open(struct side *s, const char *dev, const char *ns,
			     const char *addr, uint32_t job_id)
{
	const char *why = NULL;
	int old, err;

	s->name = dev;
	s->job_fd = -1;
	if (addr_to_gid(addr, &s->addr))
		return "bad address";
	old = enter_ns(ns);
	if (old < 0)
		return "cannot enter the network namespace";
	s->ctx = open_dev(dev);
	if (!s->ctx) {
		why = "cannot open the device";
		goto out;
	}
	if (uetdv_query_device(s->ctx, &s->dattr, sizeof(s->dattr))) {
		why = "uetdv_query_device failed";
		goto out;
	}
	if (job_id) {
		s->job_fd = job_new(job_id);
		if (s->job_fd < 0) {
			why = "cannot realize the job";
			goto out;
		}
		err = uetdv_import_job(s->ctx, s->job_fd);
		if (err) {
			why = "uetdv_import_job failed";
			goto out;
		}
	}
out:
	leave_ns(old);
	return why;
}

static inline struct ibv_cq_ex *cq_ex_new(struct ibv_context *ctx, int cqe,
				   struct ibv_comp_channel *ch)
{
	struct ibv_cq_init_attr_ex a = {
		.cqe = cqe,
		.channel = ch,
		.wc_flags = IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM |
			    IBV_WC_EX_WITH_QP_NUM | IBV_WC_EX_WITH_SRC_QP,
	};

	return ibv_create_cq_ex(ctx, &a);
}

static inline struct ibv_qp *ep_new(struct side *s, uint32_t sq, uint32_t rq,
			     struct uetdv_qp_init_attr *ua)
{
	struct ibv_qp_init_attr_ex a = {
		.qp_type = IBV_QPT_DRIVER,
		.send_cq = ibv_cq_ex_to_cq(s->scq),
		.recv_cq = ibv_cq_ex_to_cq(s->rcq),
		.cap = {
			.max_send_wr = sq,
			.max_recv_wr = rq,
			.max_send_sge = 3,
			.max_recv_sge = 2,
			.max_inline_data = 48,
		},
		.comp_mask = IBV_QP_INIT_ATTR_PD |
			     IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = s->pd,
		.send_ops_flags = IBV_QP_EX_WITH_SEND |
				  IBV_QP_EX_WITH_SEND_WITH_IMM |
				  IBV_QP_EX_WITH_RDMA_WRITE |
				  IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
				  IBV_QP_EX_WITH_RDMA_READ |
				  IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
				  IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP,
	};
	struct uetdv_qp_init_attr def = {
		.driver_qp_type = UETDV_QP_TYPE_RU,
		.delivery_mode = UETDV_DM_RUD,
	};

	struct ibv_qp *qp;

	qp = uetdv_create_qp_ex(s->ctx, &a, ua ? : &def, sizeof(def));
	if (qp)
		s->sq_depth = a.cap.max_send_wr;
	return qp;
}

/* PD, CQs, an endpoint and a registered buffer: 0 or a message */
static inline const char *side_resources(struct side *s)
{
	s->pd = ibv_alloc_pd(s->ctx);
	if (!s->pd)
		return "ibv_alloc_pd failed";
	s->scq = cq_ex_new(s->ctx, 4096, NULL);
	s->rcq = cq_ex_new(s->ctx, 4096, NULL);
	if (!s->scq || !s->rcq)
		return "ibv_create_cq_ex failed";
	if (posix_memalign((void **)&s->buf, 4096, BUF_BYTES))
		return "no memory";
	memset(s->buf, 0, BUF_BYTES);
	s->mr = ibv_reg_mr(s->pd, s->buf, BUF_BYTES,
			   IBV_ACCESS_LOCAL_WRITE | s->mr_access);
	if (!s->mr)
		return "ibv_reg_mr failed";
	s->qp = ep_new(s, SQ_DEPTH, RQ_DEPTH, NULL);
	if (!s->qp)
		return "uetdv_create_qp_ex failed";
	s->qpx = ibv_qp_to_qp_ex(s->qp);
	if (!s->qpx)
		return "ibv_qp_to_qp_ex failed";
	return NULL;
}

static inline struct ibv_ah *ah_to(struct side *s, const union ibv_gid *addr,
			    uint32_t qpn)
{
	struct uetdv_ah_attr_ex a = {};

	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *addr;
	a.ah_attr.port_num = 1;
	a.remote_qpn = qpn;
	return uetdv_create_ah_ex(s->pd, &a);
}

/*
 * The pair the tests drive: side A on $UET_DEV0 in this namespace, side B
 * on $UET_DEV1 in $UET_NS1, both joined to a job with JobID job_id (one
 * realized in each namespace), with resources (regions with local write
 * and access) and an address handle to each other's endpoint. NULL, or
 * what failed; *skip is set when side A's device does not open and no
 * setup named one ($UET_DEV0 unset): nothing to test, not a failure.
 */
static inline const char *pair_open(struct side *a, struct side *b,
				    uint32_t job_id, int access, bool *skip)
{
	static char why[128];
	const char *w;

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->job_fd = b->job_fd = -1;
	*skip = false;
	w = side_open(a, env_or("UET_DEV0", "uet0"), "",
		      env_or("UET_ADDR0", "10.77.0.1"), job_id);
	if (w) {
		*skip = !getenv("UET_DEV0");
		snprintf(why, sizeof(why), "side A (%s): %s",
			 env_or("UET_DEV0", "uet0"), w);
		return why;
	}
	w = side_open(b, env_or("UET_DEV1", "uet1"),
		      env_or("UET_NS1", "uet-msg-peer"),
		      env_or("UET_ADDR1", "10.77.0.2"), job_id);
	if (!w) {
		a->mr_access = b->mr_access = access;
		w = side_resources(a);
		if (w) {
			snprintf(why, sizeof(why), "side A: %s", w);
			return why;
		}
		w = side_resources(b);
	}
	if (w) {
		snprintf(why, sizeof(why), "side B: %s", w);
		return why;
	}
	a->to_peer = ah_to(a, &b->addr, b->qp->qp_num);
	b->to_peer = ah_to(b, &a->addr, a->qp->qp_num);
	return a->to_peer && b->to_peer ? NULL : "no address handle";
}

static inline void side_close(struct side *s)
{
	if (s->to_peer)
		ibv_destroy_ah(s->to_peer);
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->scq)
		ibv_destroy_cq(ibv_cq_ex_to_cq(s->scq));
	if (s->rcq)
		ibv_destroy_cq(ibv_cq_ex_to_cq(s->rcq));
	if (s->mr)
		ibv_dereg_mr(s->mr);
	free(s->buf);
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	if (s->ctx)
		ibv_close_device(s->ctx);
	if (s->job_fd >= 0)
		close(s->job_fd);
	memset(s, 0, sizeof(*s));
	s->job_fd = -1;
}

/* one completion of cq into *w within ms: 0, -ETIMEDOUT or -EIO */
static inline int wait_wc(struct ibv_cq_ex *cq, struct wcx *w, int ms)
{
	struct ibv_poll_cq_attr pa = {};
	uint64_t end = now_ms() + ms;
	int err;

	for (;;) {
		err = ibv_start_poll(cq, &pa);
		if (!err)
			break;
		if (err != ENOENT)
			return -EIO;
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(200);
	}
	w->wr_id = cq->wr_id;
	w->status = cq->status;
	w->opcode = ibv_wc_read_opcode(cq);
	w->vendor_err = ibv_wc_read_vendor_err(cq);
	w->byte_len = ibv_wc_read_byte_len(cq);
	w->qp_num = ibv_wc_read_qp_num(cq);
	w->src_qp = ibv_wc_read_src_qp(cq);
	w->wc_flags = ibv_wc_read_wc_flags(cq);
	w->imm = ibv_wc_read_imm_data(cq);
	w->job_id = uetdv_wc_read_job_id(cq);
	w->src_id = uetdv_wc_read_src_id(cq);
	w->uflags = uetdv_wc_read_flags(cq);
	w->match_bits = uetdv_wc_read_match_bits(cq);
	w->header_data = uetdv_wc_read_header_data(cq);
	uetdv_wc_read_src_addr(cq, &w->src_addr);
	ibv_end_poll(cq);
	return 0;
}

static inline int post_recv(struct side *s, uint64_t wr_id, size_t off, size_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->buf + off,
		.length = len,
		.lkey = s->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	}, *bad;

	return ibv_post_recv(s->qp, &wr, &bad);
}

static inline int post_trecv(struct side *s, uint64_t wr_id, size_t off,
		      size_t len, uint64_t match, uint64_t ignore)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->buf + off,
		.length = len,
		.lkey = s->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	}, *bad;

	return uetdv_post_tagged_recv(s->qp, &wr, match, ignore, &bad);
}

/* a signaled send through ibv_wr_*: tagged if tag, with lkey */
static inline int wr_send(struct side *s, uint64_t wr_id, size_t off, size_t len,
		   uint32_t lkey, bool tagged, uint64_t tag)
{
	ibv_wr_start(s->qpx);
	s->qpx->wr_id = wr_id;
	s->qpx->wr_flags = IBV_SEND_SIGNALED;
	if (tagged)
		uetdv_wr_tagged_send(s->qpx, tag);
	else
		ibv_wr_send(s->qpx);
	uetdv_wr_set_ru_addr(s->qpx, uetdv_ah_to_ah_ex(s->to_peer), 0);
	ibv_wr_set_sge(s->qpx, lkey, (uintptr_t)s->buf + off, len);
	return ibv_wr_complete(s->qpx);
}

static inline int send_msg(struct side *s, uint64_t wr_id, size_t off, size_t len)
{
	return wr_send(s, wr_id, off, len, s->mr->lkey, false, 0);
}

#endif /* UET_PAIR_H */
