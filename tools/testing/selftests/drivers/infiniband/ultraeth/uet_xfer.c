// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_xfer: content-checked messages, RMA and atomics between two UET
 * endpoints on two hosts (each its own process and kernel), the
 * two-machine counterpart of uet_msg and uet_rma:
 *
 *	uet_xfer -d uet0 -a 10.77.0.1 [-p PORT] [-j JOBID]         server
 *	uet_xfer -d uet0 -a 10.77.0.2 [-p PORT] [-j JOBID] SERVER  client
 *
 * -a is this side's FEP address (an address of the device's netdev). Each
 * side realizes a UET job with JOBID (default 77) and joins its context to
 * it, makes an endpoint and a 16 MiB region open to remote write, read and
 * atomics, and the two exchange {address, QPN, rkey, region address} and
 * then step through the cases over a TCP connection (the client retries
 * its connect for 60 s). The client is the initiator of RMA and atomics;
 * messages go both ways. Every received or written byte is checked, and
 * the bytes after the target area must keep their canary.
 *
 * Output: one line per check, "ok <what>" or "not ok <what>", on each
 * side for what that side saw; the exit status is the number of failed
 * checks (capped at 100), or 100 + a setup failure.
 */

#define _GNU_SOURCE
#define BUF_BYTES (16u << 20)
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include "uet_pair.h"

#define SRC_OFF 0u			/* what this side sends or writes */
#define RCV_OFF (4u << 20)		/* receive buffers, read results */
#define TGT_OFF (8u << 20)		/* the target of the peer's RMA */
#define AMO_OFF (14u << 20)		/* the target of the peer's atomics */
#define RES_OFF (15u << 20)		/* fetched atomic values */
#define AREA (4u << 20)
#define GUARD 64			/* canary bytes after an area */
#define ACCESS (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
		IBV_ACCESS_REMOTE_ATOMIC)

static FILE *cin, *cout;
static bool server;
static int fails;
static struct side s;
static uint32_t peer_rkey;
static uint64_t peer_buf;

static void result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %s: ", ok ? "" : "not ", server ? "server" : "client");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		fails++;
}

static void __attribute__((noreturn)) setup_fail(const char *what)
{
	printf("not ok %s: setup: %s\n", server ? "server" : "client", what);
	exit(101);
}

/* one line to the peer */
static void put(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(cout, fmt, ap);
	va_end(ap);
	fputc('\n', cout);
	fflush(cout);
}

/* the peer's next line, which must start with word; what follows it */
static const char *get(const char *word)
{
	static char line[256];
	size_t n = strlen(word);

	if (!fgets(line, sizeof(line), cin)) {
		printf("not ok %s: the peer closed the connection (waiting for \"%s\")\n",
		       server ? "server" : "client", word);
		exit(102);
	}
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, word, n)) {
		printf("not ok %s: expected \"%s\" from the peer, got \"%s\"\n",
		       server ? "server" : "client", word, line);
		exit(103);
	}
	return line + n;
}

static int tcp_server(int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int sock, conn, one = 1;

	sock = socket(AF_INET, SOCK_STREAM, 0);
	if (sock < 0)
		return -1;
	setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(sock, (struct sockaddr *)&sa, sizeof(sa)) || listen(sock, 1)) {
		close(sock);
		return -1;
	}
	printf("# listening on port %d\n", port);
	fflush(stdout);
	conn = accept(sock, NULL, NULL);
	close(sock);
	return conn;
}

static int tcp_client(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	char service[16];
	int sock, i;

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &res))
		return -1;
	for (i = 0; i < 600; i++) {
		sock = socket(res->ai_family, res->ai_socktype, 0);
		if (sock >= 0 && !connect(sock, res->ai_addr, res->ai_addrlen))
			break;
		if (sock >= 0)
			close(sock);
		sock = -1;
		usleep(100000);
	}
	freeaddrinfo(res);
	return sock;
}

/* the completion of one request of ours: its status, or -1 if none came */
static int done(uint64_t wr_id)
{
	struct wcx w;

	if (wait_wc(s.scq, &w, WAIT_MS))
		return -1;
	if (w.wr_id != wr_id)
		return 1000 + w.status;
	return w.status;
}

static int rma_post(uint64_t wr_id, bool read, size_t loff, size_t len,
		    size_t roff)
{
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = wr_id;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	if (read)
		ibv_wr_rdma_read(s.qpx, peer_rkey, peer_buf + roff);
	else
		ibv_wr_rdma_write(s.qpx, peer_rkey, peer_buf + roff);
	uetdv_wr_set_ru_addr(s.qpx, uetdv_ah_to_ah_ex(s.to_peer), 0);
	ibv_wr_set_sge(s.qpx, s.mr->lkey, (uintptr_t)s.buf + loff, len);
	return ibv_wr_complete(s.qpx);
}

static int amo_post(uint64_t wr_id, bool cas, uint64_t add_cmp, uint64_t swap)
{
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = wr_id;
	s.qpx->wr_flags = IBV_SEND_SIGNALED;
	if (cas)
		ibv_wr_atomic_cmp_swp(s.qpx, peer_rkey, peer_buf + AMO_OFF,
				      add_cmp, swap);
	else
		ibv_wr_atomic_fetch_add(s.qpx, peer_rkey, peer_buf + AMO_OFF,
					add_cmp);
	uetdv_wr_set_ru_addr(s.qpx, uetdv_ah_to_ah_ex(s.to_peer), 0);
	ibv_wr_set_sge(s.qpx, s.mr->lkey, (uintptr_t)s.buf + RES_OFF, 8);
	return ibv_wr_complete(s.qpx);
}

static const size_t msg_sizes[] = { 1, 64, 4096, 4097, 65536, 1u << 20 };
static const size_t rma_sizes[] = { 1, 4096, 65539, 1u << 20, 4u << 20 };
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* messages of every size from the sender to the receiver, one at a time */
static void messages(bool sender, const char *dir)
{
	struct wcx w;
	unsigned int i;
	long bad;
	int st;

	for (i = 0; i < N(msg_sizes); i++) {
		size_t len = msg_sizes[i];
		uint64_t seed = 100 + i;

		if (sender) {
			get("ready");
			fill(s.buf + SRC_OFF, len, seed);
			st = send_msg(&s, i, SRC_OFF, len) ? -2 : done(i);
			result(st == IBV_WC_SUCCESS, "send %s %zu B: completion %d", dir, len, st);
			get("checked");
			continue;
		}
		memset(s.buf + RCV_OFF, CANARY, len + GUARD);
		if (post_recv(&s, i, RCV_OFF, len)) {
			result(false, "receive %s %zu B: ibv_post_recv failed", dir, len);
			put("ready");
			put("checked");
			continue;
		}
		put("ready");
		st = wait_wc(s.rcq, &w, WAIT_MS) ? -1 : (int)w.status;
		bad = st ? 0 : check(s.buf + RCV_OFF, len, seed);
		result(st == IBV_WC_SUCCESS && w.byte_len == len && bad < 0 &&
		       first_not(s.buf + RCV_OFF + len, GUARD, CANARY) < 0,
		       "receive %s %zu B: status %d, %u bytes, first wrong byte %ld, guard %s",
		       dir, len, st, st ? 0 : w.byte_len, bad,
		       first_not(s.buf + RCV_OFF + len, GUARD, CANARY) < 0 ? "intact" : "overwritten");
		put("checked");
	}
}

/* many 4 KiB messages in flight at once; order free, each exactly once */
#define BURST 200
#define BLEN 4096u
static void burst(bool sender, const char *dir)
{
	static bool seen[BURST];
	unsigned int i, got = 0, dup = 0, badc = 0, st = 0;
	struct wcx w;
	uint64_t idx;

	if (sender) {
		get("ready");
		for (i = 0; i < BURST; i++) {
			uint8_t *p = s.buf + SRC_OFF + (size_t)i * BLEN;

			fill(p, BLEN, 777);
			idx = i;
			memcpy(p, &idx, 8);
			if (send_msg(&s, i, SRC_OFF + (size_t)i * BLEN, BLEN))
				break;
		}
		for (got = 0; got < i; got++) {
			if (wait_wc(s.scq, &w, WAIT_MS))
				break;
			if (w.status)
				st++;
		}
		result(got == BURST && !st, "%d sends of %u B %s in flight at once: %u completed, %u with errors",
		       BURST, BLEN, dir, got, st);
		get("checked");
		return;
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < BURST; i++)
		if (post_recv(&s, i, RCV_OFF + (size_t)i * BLEN, BLEN))
			break;
	put("ready");
	for (got = 0; got < BURST; got++) {
		uint8_t *p;

		if (wait_wc(s.rcq, &w, WAIT_MS))
			break;
		if (w.status || w.byte_len != BLEN || w.wr_id >= BURST) {
			st++;
			continue;
		}
		p = s.buf + RCV_OFF + w.wr_id * BLEN;
		memcpy(&idx, p, 8);
		if (idx >= BURST || check_from(p, BLEN, 777, 8) >= 0)
			badc++;
		else if (seen[idx])
			dup++;
		else
			seen[idx] = true;
	}
	result(got == BURST && !st && !badc && !dup,
	       "%d messages of %u B %s: %u received, %u errors, %u corrupt, %u twice",
	       BURST, BLEN, dir, got, st, badc, dup);
	put("checked");
}

static void writes(void)
{
	unsigned int i;
	long bad;
	int st;

	for (i = 0; i < N(rma_sizes); i++) {
		size_t len = rma_sizes[i];
		uint64_t seed = 200 + i;

		if (server) {
			memset(s.buf + TGT_OFF, CANARY, len + GUARD);
			put("ready");
			get("written");
			bad = check(s.buf + TGT_OFF, len, seed);
			result(bad < 0 && first_not(s.buf + TGT_OFF + len, GUARD, CANARY) < 0,
			       "RMA write of %zu B landed: first wrong byte %ld, guard %s", len, bad,
			       first_not(s.buf + TGT_OFF + len, GUARD, CANARY) < 0 ? "intact" : "overwritten");
			put("checked");
			continue;
		}
		get("ready");
		fill(s.buf + SRC_OFF, len, seed);
		st = rma_post(i, false, SRC_OFF, len, TGT_OFF) ? -2 : done(i);
		result(st == IBV_WC_SUCCESS, "RMA write of %zu B: completion %d", len, st);
		put("written");
		get("checked");
	}
}

static void reads(void)
{
	unsigned int i;
	long bad;
	int st;

	for (i = 0; i < N(rma_sizes); i++) {
		size_t len = rma_sizes[i];
		uint64_t seed = 300 + i;

		if (server) {
			fill(s.buf + TGT_OFF, len, seed);
			put("ready");
			get("read");
			bad = check(s.buf + TGT_OFF, len, seed);
			result(bad < 0, "RMA read of %zu B left the source as it was (first changed byte %ld)",
			       len, bad);
			continue;
		}
		get("ready");
		memset(s.buf + RCV_OFF, CANARY, len + GUARD);
		st = rma_post(i, true, RCV_OFF, len, TGT_OFF) ? -2 : done(i);
		bad = st ? 0 : check(s.buf + RCV_OFF, len, seed);
		result(st == IBV_WC_SUCCESS && bad < 0 &&
		       first_not(s.buf + RCV_OFF + len, GUARD, CANARY) < 0,
		       "RMA read of %zu B: completion %d, first wrong byte %ld, guard %s", len, st, bad,
		       first_not(s.buf + RCV_OFF + len, GUARD, CANARY) < 0 ? "intact" : "overwritten");
		put("read");
	}
}

/* 64 writes of 64 KiB in flight at once, each to its own place */
static void write_burst(void)
{
	unsigned int i, k, got, st = 0, badw = 0;
	struct wcx w;

	if (server) {
		memset(s.buf + TGT_OFF, CANARY, AREA + GUARD);
		put("ready");
		get("written");
		for (k = 0; k < 64; k++)
			if (check(s.buf + TGT_OFF + k * 65536u, 65536, 400 + k) >= 0)
				badw++;
		result(!badw && first_not(s.buf + TGT_OFF + AREA, GUARD, CANARY) < 0,
		       "64 pipelined RMA writes of 64 KiB landed: %u wrong, guard %s", badw,
		       first_not(s.buf + TGT_OFF + AREA, GUARD, CANARY) < 0 ? "intact" : "overwritten");
		put("checked");
		return;
	}
	get("ready");
	for (i = 0; i < 64; i++) {
		fill(s.buf + SRC_OFF + i * 65536u, 65536, 400 + i);
		if (rma_post(i, false, SRC_OFF + i * 65536u, 65536, TGT_OFF + i * 65536u))
			break;
	}
	for (got = 0; got < i; got++) {
		if (wait_wc(s.scq, &w, WAIT_MS))
			break;
		if (w.status)
			st++;
	}
	result(got == 64 && !st, "64 pipelined RMA writes of 64 KiB: %u completed, %u with errors", got, st);
	put("written");
	get("checked");
}

static void atomics(void)
{
	uint64_t *target = (uint64_t *)(s.buf + AMO_OFF);
	uint64_t *res = (uint64_t *)(s.buf + RES_OFF);
	unsigned int i, wrong = 0;
	int st = 0;

	if (server) {
		*target = 1000;
		put("ready");
		get("done");
		result(*target == 42, "atomics: the target holds %" PRIu64 " (want 42)", *target);
		return;
	}
	get("ready");
	for (i = 0; i < 100 && !st; i++) {
		*res = ~0ull;
		st = amo_post(i, false, 7, 0) ? -2 : done(i);
		if (!st && *res != 1000 + 7ull * i)
			wrong++;
	}
	result(!st && !wrong, "100 fetch-and-add of 7: last completion %d, %u wrong fetched values", st, wrong);
	*res = 0;
	st = amo_post(200, true, 1700, 42) ? -2 : done(200);
	result(!st && *res == 1700, "compare-and-swap 1700 -> 42: completion %d, fetched %" PRIu64, st, *res);
	*res = 0;
	st = amo_post(201, true, 1, 99) ? -2 : done(201);
	result(!st && *res == 42, "compare-and-swap 1 -> 99 (no match): completion %d, fetched %" PRIu64, st, *res);
	put("done");
}

int main(int argc, char **argv)
{
	const char *dev = "uet0", *addr = NULL, *peer_addr;
	char gidbuf[64];
	unsigned int qpn;
	union ibv_gid pgid;
	int port = 18800, job = 77, c, fd;
	const char *w;

	while ((c = getopt(argc, argv, "d:a:p:j:")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'j': job = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s -d DEV -a ADDR [-p PORT] [-j JOBID] [SERVER]\n", argv[0]);
			return 2;
		}
	}
	if (!addr) {
		fprintf(stderr, "%s: -a ADDR (this side's address) is required\n", argv[0]);
		return 2;
	}
	server = optind >= argc;
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&s, 0, sizeof(s));
	s.job_fd = -1;
	w = side_open(&s, dev, "", addr, job);
	if (w)
		setup_fail(w);
	s.mr_access = ACCESS;
	w = side_resources(&s);
	if (w)
		setup_fail(w);

	fd = server ? tcp_server(port) : tcp_client(argv[optind], port);
	if (fd < 0)
		setup_fail(server ? "cannot accept the client" : "cannot connect to the server");
	cin = fdopen(fd, "r");
	cout = fdopen(dup(fd), "w");
	if (!cin || !cout)
		setup_fail("fdopen");

	/* {address, QPN, rkey, region address}, both ways */
	put("hello %s %u %u %" PRIu64, addr, s.qp->qp_num, s.mr->rkey, (uint64_t)(uintptr_t)s.buf);
	if (sscanf(get("hello "), "%63s %u %u %" SCNu64, gidbuf, &qpn, &peer_rkey, &peer_buf) != 4 ||
	    addr_to_gid(gidbuf, &pgid))
		setup_fail("bad hello from the peer");
	peer_addr = gidbuf;
	s.to_peer = ah_to(&s, &pgid, qpn);
	if (!s.to_peer)
		setup_fail("no address handle to the peer");
	printf("# %s on %s (%s, QPN %u), peer %s QPN %u, job %d\n", server ? "server" : "client",
	       dev, addr, s.qp->qp_num, peer_addr, qpn, job);

	messages(!server, "client to server");
	messages(server, "server to client");
	burst(!server, "client to server");
	burst(server, "server to client");
	writes();
	reads();
	write_burst();
	atomics();

	put("bye");
	get("bye");
	side_close(&s);
	printf("# %s: %d failed\n", server ? "server" : "client", fails);
	return fails > 100 ? 100 : fails;
}
