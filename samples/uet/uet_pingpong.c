// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_pingpong: messages back and forth between two UET endpoints, in the
 * manner of ibv_ud_pingpong, through a job started by uet-launch.
 *
 * Each side joins its device context to the job whose descriptor
 * uet-launch handed it ($UET_JOB_FD, uetdv_import_job()), creates an
 * endpoint (an RU queue pair, uetdv_create_qp_ex()), and the two exchange
 * {FEP address, QP number} over TCP. The client (given the server's host
 * name) then sends the first message; each side sends its next message
 * once its previous send completed and the peer's message arrived.
 *
 *	uet-launch --job-id 9 -n 1 -- uet_pingpong -d uet1 -s 4096 -n 1000
 *	uet-launch --job-id 9 -n 1 -- uet_pingpong -d uet0 -s 4096 -n 1000 HOST
 *
 * Options as ibv_ud_pingpong's (-p -d -i -s -r -n -e -g -c), plus -N to
 * post with the ibv_wr_* API and poll an extended CQ (checking the job of
 * every received message), -t to send tagged messages to tagged receives.
 * With -c, every message carries a pattern derived from its sequence
 * number and every received message is checked byte by byte; the program
 * fails on the first difference and otherwise prints
 *	content checked: N messages intact
 *
 * Build: make -C samples/uet RDMA_CORE_STAGE=<rdma-core DESTDIR>
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <infiniband/uetdv.h>
#include <infiniband/verbs.h>

#define SEND_WRID (1ULL << 63)
#define MSG_TAG 0x5545540000000000ULL	/* "UET" in the top bytes */
#define MAX_RING_BYTES (64u << 20)	/* receive buffers, at most */

struct pp_dest {
	uint32_t qpn;
	union ibv_gid gid;
};

struct pp {
	struct ibv_context *ctx;
	struct ibv_comp_channel *channel;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	struct ibv_cq *cq;
	struct ibv_cq_ex *cqx;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;
	struct ibv_ah *ah;
	uint8_t *buf;		/* send buffer, then rx_depth receive slots */
	size_t size;
	size_t slot;		/* bytes per buffer (size, at least 1) */
	unsigned int rx_depth;
	uint32_t job_id;
	bool wr_api, tagged, check;
	struct pp_dest peer;
};

static const char *prog = "uet_pingpong";

static void usage(void)
{
	printf("Usage:\n");
	printf("  %s            start a server and wait for connection\n", prog);
	printf("  %s <host>     connect to server at <host>\n", prog);
	printf("\n");
	printf("Options:\n");
	printf("  -p, --port=<port>      listen on/connect to port <port> (default 18515)\n");
	printf("  -d, --ib-dev=<dev>     use device <dev> (default $UET_DEV, else the first uet device)\n");
	printf("  -i, --ib-port=<port>   use port <port> of the device (default 1)\n");
	printf("  -s, --size=<size>      size of message to exchange (default 4096)\n");
	printf("  -r, --rx-depth=<dep>   number of receives to post at a time (default 500)\n");
	printf("  -n, --iters=<iters>    number of exchanges (default 1000)\n");
	printf("  -e, --events           sleep on CQ events (default poll)\n");
	printf("  -g, --gid-idx=<idx>    local port GID index: the FEP address (default 0)\n");
	printf("  -c, --chk              validate every received message\n");
	printf("  -N, --new_send         post with ibv_wr_*, poll with ibv_start_poll\n");
	printf("  -t, --tagged           tagged sends and receives\n");
	printf("\nThe job comes from uet-launch: $UET_JOB_FD.\n");
}

/* the byte at offset i of message number seq */
static uint8_t pattern(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

static void fill(uint8_t *p, size_t len, uint64_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(seq, i);
}

/* -1 if intact, else the offset of the first wrong byte */
static long verify(const uint8_t *p, size_t len, uint64_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(seq, i))
			return i;
	return -1;
}

static uint8_t *recv_slot(struct pp *pp, unsigned int i)
{
	return pp->buf + (size_t)(i + 1) * pp->slot;
}

static int post_recv(struct pp *pp, unsigned int i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)recv_slot(pp, i),
		.length = pp->size,
		.lkey = pp->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = i,
		.sg_list = &sge,
		.num_sge = 1,
	}, *bad;

	if (pp->tagged)
		return uetdv_post_tagged_recv(pp->qp, &wr, MSG_TAG, 0, &bad);
	return ibv_post_recv(pp->qp, &wr, &bad);
}

static int post_send(struct pp *pp, uint64_t seq)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)pp->buf,
		.length = pp->size,
		.lkey = pp->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = SEND_WRID | seq,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (pp->check)
		fill(pp->buf, pp->size, seq);

	if (!pp->wr_api && !pp->tagged) {
		wr.wr.ud.ah = pp->ah;
		wr.wr.ud.remote_qpn = pp->peer.qpn;
		return ibv_post_send(pp->qp, &wr, &bad);
	}

	ibv_wr_start(pp->qpx);
	pp->qpx->wr_id = wr.wr_id;
	pp->qpx->wr_flags = IBV_SEND_SIGNALED;
	if (pp->tagged)
		uetdv_wr_tagged_send(pp->qpx, MSG_TAG);
	else
		ibv_wr_send(pp->qpx);
	uetdv_wr_set_ru_addr(pp->qpx, uetdv_ah_to_ah_ex(pp->ah), 0);
	ibv_wr_set_sge(pp->qpx, sge.lkey, sge.addr, sge.length);
	return ibv_wr_complete(pp->qpx);
}

static struct ibv_device *find_device(struct ibv_device **list,
				      const char *name)
{
	int i;

	for (i = 0; list[i]; i++) {
		const char *n = ibv_get_device_name(list[i]);

		if (name ? !strcmp(n, name) : !strncmp(n, "uet", 3))
			return list[i];
	}
	return NULL;
}

static int setup(struct pp *pp, const char *devname, int ib_port,
		 int gidx, bool use_event, struct pp_dest *me)
{
	struct ibv_qp_init_attr_ex qattr = {};
	struct uetdv_qp_init_attr uattr = {};
	struct ibv_device **list;
	struct ibv_device *dev;
	struct uetdv_job_info job;
	const char *fd_s = getenv("UET_JOB_FD");
	size_t bytes;
	int err;

	if (!fd_s) {
		fprintf(stderr, "%s: not started by uet-launch ($UET_JOB_FD is not set)\n",
			prog);
		return -1;
	}
	list = ibv_get_device_list(NULL);
	if (!list) {
		perror("ibv_get_device_list");
		return -1;
	}
	dev = find_device(list, devname);
	if (!dev) {
		fprintf(stderr, "%s: device %s not found\n", prog,
			devname ? devname : "uet*");
		ibv_free_device_list(list);
		return -1;
	}
	pp->ctx = ibv_open_device(dev);
	ibv_free_device_list(list);
	if (!pp->ctx) {
		fprintf(stderr, "%s: cannot open the device: %s\n", prog,
			strerror(errno));
		return -1;
	}

	err = uetdv_import_job(pp->ctx, atoi(fd_s));
	if (err) {
		fprintf(stderr, "%s: uetdv_import_job(fd %s): %s\n", prog, fd_s,
			strerror(err));
		return -1;
	}
	err = uetdv_query_job(pp->ctx, &job, sizeof(job));
	if (err) {
		fprintf(stderr, "%s: uetdv_query_job: %s\n", prog,
			strerror(err));
		return -1;
	}
	pp->job_id = job.job_id;

	if (ibv_query_gid(pp->ctx, ib_port, gidx, &me->gid)) {
		fprintf(stderr, "%s: cannot read GID %d of port %d\n", prog,
			gidx, ib_port);
		return -1;
	}

	if (use_event) {
		pp->channel = ibv_create_comp_channel(pp->ctx);
		if (!pp->channel) {
			perror("ibv_create_comp_channel");
			return -1;
		}
	}
	pp->pd = ibv_alloc_pd(pp->ctx);
	if (!pp->pd) {
		perror("ibv_alloc_pd");
		return -1;
	}

	pp->slot = pp->size ? pp->size : 1;
	if ((uint64_t)pp->rx_depth * pp->slot > MAX_RING_BYTES)
		pp->rx_depth = MAX_RING_BYTES / pp->slot;
	if (pp->rx_depth < 2)
		pp->rx_depth = 2;
	bytes = (size_t)(pp->rx_depth + 1) * pp->slot;
	if (posix_memalign((void **)&pp->buf, sysconf(_SC_PAGESIZE), bytes)) {
		fprintf(stderr, "%s: cannot allocate %zu bytes\n", prog, bytes);
		return -1;
	}
	memset(pp->buf, 0, bytes);
	pp->mr = ibv_reg_mr(pp->pd, pp->buf, bytes, IBV_ACCESS_LOCAL_WRITE);
	if (!pp->mr) {
		perror("ibv_reg_mr");
		return -1;
	}

	if (pp->wr_api) {
		struct ibv_cq_init_attr_ex cattr = {
			.cqe = pp->rx_depth + 1,
			.channel = pp->channel,
			.wc_flags = IBV_WC_EX_WITH_BYTE_LEN |
				    IBV_WC_EX_WITH_SRC_QP,
		};

		pp->cqx = ibv_create_cq_ex(pp->ctx, &cattr);
		pp->cq = pp->cqx ? ibv_cq_ex_to_cq(pp->cqx) : NULL;
	} else {
		pp->cq = ibv_create_cq(pp->ctx, pp->rx_depth + 1, NULL,
				       pp->channel, 0);
	}
	if (!pp->cq) {
		perror("create CQ");
		return -1;
	}

	qattr.qp_type = IBV_QPT_DRIVER;
	qattr.send_cq = pp->cq;
	qattr.recv_cq = pp->cq;
	qattr.cap.max_send_wr = 1;
	qattr.cap.max_recv_wr = pp->rx_depth;
	qattr.cap.max_send_sge = 1;
	qattr.cap.max_recv_sge = 1;
	qattr.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	qattr.pd = pp->pd;
	qattr.send_ops_flags = IBV_QP_EX_WITH_SEND;
	uattr.driver_qp_type = UETDV_QP_TYPE_RU;
	uattr.delivery_mode = UETDV_DM_RUD;
	pp->qp = uetdv_create_qp_ex(pp->ctx, &qattr, &uattr, sizeof(uattr));
	if (!pp->qp) {
		fprintf(stderr, "%s: cannot create the endpoint: %s\n", prog,
			strerror(errno));
		return -1;
	}
	/* the ring may be smaller than asked for: never post more */
	if (qattr.cap.max_recv_wr < pp->rx_depth)
		pp->rx_depth = qattr.cap.max_recv_wr;
	pp->qpx = ibv_qp_to_qp_ex(pp->qp);
	if (!pp->qpx) {
		fprintf(stderr, "%s: no ibv_qp_ex\n", prog);
		return -1;
	}
	me->qpn = pp->qp->qp_num;
	return 0;
}

static void teardown(struct pp *pp)
{
	if (pp->ah)
		ibv_destroy_ah(pp->ah);
	if (pp->qp)
		ibv_destroy_qp(pp->qp);
	if (pp->cq)
		ibv_destroy_cq(pp->cq);
	if (pp->mr)
		ibv_dereg_mr(pp->mr);
	free(pp->buf);
	if (pp->pd)
		ibv_dealloc_pd(pp->pd);
	if (pp->channel)
		ibv_destroy_comp_channel(pp->channel);
	if (pp->ctx)
		ibv_close_device(pp->ctx);
}

/* --------------------------------------------- out-of-band exchange */

#define MSG_FMT "%06x:%32s\n"
#define MSG_LEN (6 + 1 + 32 + 1)

static void gid_to_hex(const union ibv_gid *gid, char *hex)
{
	int i;

	for (i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", gid->raw[i]);
}

static int hex_to_gid(const char *hex, union ibv_gid *gid)
{
	unsigned int v;
	int i;

	for (i = 0; i < 16; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		gid->raw[i] = v;
	}
	return 0;
}

static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += n;
	}
	return 0;
}

static int exchange(int sock, const struct pp_dest *me, struct pp_dest *peer)
{
	char msg[MSG_LEN + 1], hex[33];

	gid_to_hex(&me->gid, hex);
	snprintf(msg, sizeof(msg), "%06x:%s\n", me->qpn, hex);
	if (write(sock, msg, MSG_LEN) != MSG_LEN)
		return -1;
	if (read_full(sock, msg, MSG_LEN))
		return -1;
	msg[MSG_LEN] = 0;
	if (sscanf(msg, "%x:%32s", &peer->qpn, hex) != 2 ||
	    hex_to_gid(hex, &peer->gid))
		return -1;
	return 0;
}

static int client_connect(const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *t;
	char service[16];
	int sock = -1, n;

	snprintf(service, sizeof(service), "%d", port);
	n = getaddrinfo(host, service, &hints, &res);
	if (n) {
		fprintf(stderr, "%s: %s for %s:%d\n", prog, gai_strerror(n),
			host, port);
		return -1;
	}
	/* the server may still be starting: retry for 10 s */
	for (n = 0; n < 100 && sock < 0; n++) {
		if (n)
			usleep(100000);
		for (t = res; t; t = t->ai_next) {
			sock = socket(t->ai_family, t->ai_socktype,
				      t->ai_protocol);
			if (sock < 0)
				continue;
			if (!connect(sock, t->ai_addr, t->ai_addrlen))
				break;
			close(sock);
			sock = -1;
		}
	}
	freeaddrinfo(res);
	if (sock < 0)
		fprintf(stderr, "%s: cannot connect to %s:%d\n", prog, host,
			port);
	return sock;
}

static int server_accept(int port)
{
	struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_ANY_INIT,
	};
	int sock, conn, one = 1, zero = 0;

	sock = socket(AF_INET6, SOCK_STREAM, 0);
	if (sock < 0) {
		perror("socket");
		return -1;
	}
	setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* IPv4 clients too, as IPv4-mapped addresses */
	setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(sock, (struct sockaddr *)&sa, sizeof(sa)) || listen(sock, 1)) {
		fprintf(stderr, "%s: cannot listen on port %d: %s\n", prog, port,
			strerror(errno));
		close(sock);
		return -1;
	}
	conn = accept(sock, NULL, NULL);
	close(sock);
	if (conn < 0)
		perror("accept");
	return conn;
}

/* ------------------------------------------------------- completions */

struct pp_wc {
	uint64_t wr_id;
	enum ibv_wc_status status;
	uint32_t byte_len;
	uint32_t src_qp;
	uint32_t vendor_err;
	uint32_t job_id;
	bool has_job;
};

/* up to max completions into wc: how many, or -1 */
static int poll_some(struct pp *pp, struct pp_wc *wc, int max)
{
	struct ibv_poll_cq_attr attr = {};
	struct ibv_wc w[4];
	int n = 0, i, err;

	if (!pp->cqx) {
		n = ibv_poll_cq(pp->cq, max < 4 ? max : 4, w);
		if (n < 0)
			return -1;
		for (i = 0; i < n; i++) {
			wc[i].wr_id = w[i].wr_id;
			wc[i].status = w[i].status;
			wc[i].byte_len = w[i].byte_len;
			wc[i].src_qp = w[i].src_qp;
			wc[i].vendor_err = w[i].vendor_err;
			wc[i].has_job = false;
		}
		return n;
	}

	err = ibv_start_poll(pp->cqx, &attr);
	if (err == ENOENT)
		return 0;
	if (err)
		return -1;
	do {
		wc[n].wr_id = pp->cqx->wr_id;
		wc[n].status = pp->cqx->status;
		wc[n].byte_len = ibv_wc_read_byte_len(pp->cqx);
		wc[n].src_qp = ibv_wc_read_src_qp(pp->cqx);
		wc[n].vendor_err = ibv_wc_read_vendor_err(pp->cqx);
		wc[n].job_id = uetdv_wc_read_job_id(pp->cqx);
		wc[n].has_job = true;
		n++;
	} while (n < max && !(err = ibv_next_poll(pp->cqx)));
	ibv_end_poll(pp->cqx);
	if (err && err != ENOENT)
		return -1;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ .name = "port", .has_arg = 1, .val = 'p' },
		{ .name = "ib-dev", .has_arg = 1, .val = 'd' },
		{ .name = "ib-port", .has_arg = 1, .val = 'i' },
		{ .name = "size", .has_arg = 1, .val = 's' },
		{ .name = "rx-depth", .has_arg = 1, .val = 'r' },
		{ .name = "iters", .has_arg = 1, .val = 'n' },
		{ .name = "events", .has_arg = 0, .val = 'e' },
		{ .name = "gid-idx", .has_arg = 1, .val = 'g' },
		{ .name = "chk", .has_arg = 0, .val = 'c' },
		{ .name = "new_send", .has_arg = 0, .val = 'N' },
		{ .name = "tagged", .has_arg = 0, .val = 't' },
		{}
	};
	const char *devname = getenv("UET_DEV"), *servername = NULL;
	int port = 18515, ib_port = 1, gidx = 0, iters = 1000, sock = -1;
	struct pp pp = { .size = 4096, .rx_depth = 500 };
	unsigned int num_cq_events = 0, routs;
	int rcnt = 0, scnt = 0, ret = 1, c, i;
	struct uetdv_ah_attr_ex ah_attr = {};
	struct timeval start, end;
	bool use_event = false, send_busy;
	struct pp_dest me = {};
	int lead;
	char hex[40];

	while ((c = getopt_long(argc, argv, "p:d:i:s:r:n:eg:cNt", opts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			port = strtol(optarg, NULL, 0);
			if (port < 0 || port > 65535) {
				usage();
				return 1;
			}
			break;
		case 'd':
			devname = optarg;
			break;
		case 'i':
			ib_port = strtol(optarg, NULL, 0);
			if (ib_port < 1) {
				usage();
				return 1;
			}
			break;
		case 's':
			pp.size = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			pp.rx_depth = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			iters = strtol(optarg, NULL, 0);
			break;
		case 'e':
			use_event = true;
			break;
		case 'g':
			gidx = strtol(optarg, NULL, 0);
			break;
		case 'c':
			pp.check = true;
			break;
		case 'N':
			pp.wr_api = true;
			break;
		case 't':
			pp.tagged = true;
			break;
		default:
			usage();
			return 1;
		}
	}
	if (optind == argc - 1) {
		servername = argv[optind];
	} else if (optind < argc) {
		usage();
		return 1;
	}
	if (iters < 1) {
		usage();
		return 1;
	}

	if (setup(&pp, devname, ib_port, gidx, use_event, &me))
		goto out;

	/* receives first, so the peer's first message finds one */
	for (routs = 0; routs < pp.rx_depth; routs++) {
		int err = post_recv(&pp, routs);

		if (err) {
			fprintf(stderr, "%s: cannot post receive %u: %s\n",
				prog, routs, strerror(err));
			goto out;
		}
	}
	if (use_event && ibv_req_notify_cq(pp.cq, 0)) {
		fprintf(stderr, "%s: cannot request CQ notification\n", prog);
		goto out;
	}

	sock = servername ? client_connect(servername, port) :
			    server_accept(port);
	if (sock < 0)
		goto out;

	inet_ntop(AF_INET6, &me.gid, hex, sizeof(hex));
	printf("  local address:  QPN 0x%06x, GID %s, job %u\n", me.qpn, hex,
	       pp.job_id);
	if (exchange(sock, &me, &pp.peer)) {
		fprintf(stderr, "%s: cannot exchange addresses with the peer\n",
			prog);
		goto out;
	}
	inet_ntop(AF_INET6, &pp.peer.gid, hex, sizeof(hex));
	printf("  remote address: QPN 0x%06x, GID %s\n", pp.peer.qpn, hex);
	fflush(stdout);

	ah_attr.ah_attr.is_global = 1;
	ah_attr.ah_attr.grh.dgid = pp.peer.gid;
	ah_attr.ah_attr.grh.sgid_index = gidx;
	ah_attr.ah_attr.port_num = ib_port;
	ah_attr.remote_qpn = pp.peer.qpn;
	pp.ah = uetdv_create_ah_ex(pp.pd, &ah_attr);
	if (!pp.ah) {
		fprintf(stderr, "%s: cannot create the address handle: %s\n",
			prog, strerror(errno));
		goto out;
	}

	if (gettimeofday(&start, NULL)) {
		perror("gettimeofday");
		goto out;
	}

	/*
	 * The client sends message k once it has the server's reply k - 1,
	 * the server sends its reply k once it has message k; each side has
	 * one send outstanding at most.
	 */
	lead = servername ? 0 : 1;
	send_busy = false;
	if (servername) {
		if (post_send(&pp, scnt)) {
			fprintf(stderr, "%s: cannot post send\n", prog);
			goto out;
		}
		send_busy = true;
	}

	while (rcnt < iters || scnt < iters) {
		struct pp_wc wc[4];
		int ne;

		if (use_event) {
			struct ibv_cq *ev_cq;
			void *ev_ctx;

			if (ibv_get_cq_event(pp.channel, &ev_cq, &ev_ctx)) {
				fprintf(stderr, "%s: failed to get a CQ event\n",
					prog);
				goto out;
			}
			num_cq_events++;
			if (ev_cq != pp.cq) {
				fprintf(stderr, "%s: event for an unknown CQ\n",
					prog);
				goto out;
			}
			if (ibv_req_notify_cq(pp.cq, 0)) {
				fprintf(stderr, "%s: cannot request CQ notification\n",
					prog);
				goto out;
			}
		}

		do {
			ne = poll_some(&pp, wc, 4);
			if (ne < 0) {
				fprintf(stderr, "%s: poll CQ failed\n", prog);
				goto out;
			}
		} while (!use_event && ne < 1);

		for (i = 0; i < ne; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr,
					"%s: failed status %s (%d, vendor error %u) for wr_id 0x%" PRIx64 "\n",
					prog, ibv_wc_status_str(wc[i].status),
					wc[i].status, wc[i].vendor_err,
					wc[i].wr_id);
				goto out;
			}
			if (wc[i].wr_id & SEND_WRID) {
				scnt++;
				send_busy = false;
			} else {
				unsigned int s = wc[i].wr_id;
				long bad;

				if (s >= pp.rx_depth) {
					fprintf(stderr, "%s: completion for unknown wr_id %u\n",
						prog, s);
					goto out;
				}
				if (wc[i].byte_len != pp.size ||
				    wc[i].src_qp != pp.peer.qpn ||
				    (wc[i].has_job && wc[i].job_id != pp.job_id)) {
					fprintf(stderr,
						"%s: message %d: %u bytes from QPN 0x%06x job %u, expected %zu bytes from 0x%06x job %u\n",
						prog, rcnt, wc[i].byte_len,
						wc[i].src_qp, wc[i].job_id,
						pp.size, pp.peer.qpn,
						pp.job_id);
					goto out;
				}
				if (pp.check) {
					bad = verify(recv_slot(&pp, s), pp.size,
						     rcnt);
					if (bad >= 0) {
						fprintf(stderr,
							"%s: invalid data in message %d at byte %ld\n",
							prog, rcnt, bad);
						goto out;
					}
				}
				rcnt++;
				/* the slot is free again */
				if (post_recv(&pp, s)) {
					fprintf(stderr, "%s: cannot post receive\n",
						prog);
					goto out;
				}
			}
			if (!send_busy && scnt < iters && rcnt >= scnt + lead) {
				if (post_send(&pp, scnt)) {
					fprintf(stderr, "%s: cannot post send\n",
						prog);
					goto out;
				}
				send_busy = true;
			}
		}
	}

	if (gettimeofday(&end, NULL)) {
		perror("gettimeofday");
		goto out;
	}

	{
		double usec = (end.tv_sec - start.tv_sec) * 1000000. +
			      (end.tv_usec - start.tv_usec);
		long long bytes = (long long)pp.size * iters * 2;

		printf("%lld bytes in %.2f seconds = %.2f Mbit/sec\n", bytes,
		       usec / 1000000., usec > 0 ? bytes * 8. / usec : 0.);
		printf("%d iters in %.2f seconds = %.2f usec/iter\n", iters,
		       usec / 1000000., usec / iters);
		if (pp.check)
			printf("content checked: %d messages intact\n", rcnt);
	}

	/* neither side tears down before the other is done */
	if (write(sock, "done", 4) != 4 || read_full(sock, hex, 4)) {
		fprintf(stderr, "%s: the peer went away at the end\n", prog);
		goto out;
	}
	ret = 0;
out:
	if (pp.cq && num_cq_events)
		ibv_ack_cq_events(pp.cq, num_cq_events);
	if (sock >= 0)
		close(sock);
	teardown(&pp);
	return ret;
}
