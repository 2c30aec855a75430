// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Content-checked traffic for the fault cycles of uet_fault_cycles.sh:
 * side A sends numbered messages to side B (the two devices of
 * uet_pair.h) with a window of sends and receives outstanding; B checks
 * every byte of every message and that none arrives twice.
 *
 *   uet_churn traffic [--lenient] [--ready FILE] [--stop FILE] [SECONDS]
 *	Sends until SECONDS passed or FILE exists, then drains. Strict (the
 *	default, for faults the transport must ride out): every completion
 *	succeeds and every message arrives intact, exit 0. --lenient (for
 *	faults that end the transfer: device or netdev deleted): error
 *	completions are allowed, but every posted request must complete
 *	exactly once unless the device went away
 *	(IBV_EVENT_DEVICE_FATAL); exit 0 then too. --ready FILE is created
 *	once the first messages arrived intact.
 *   uet_churn revoke CYCLES
 *	CYCLES times: a fresh pair and job, traffic, REVOKE of one side's
 *	job (A and B alternately) mid-transfer; every outstanding send,
 *	and the revoked side's receives, must then complete, each exactly
 *	once (the other side's receives stay posted). When A was
 *	revoked, a send posted afterwards must be accepted and complete
 *	with IBV_WC_WR_FLUSH_ERR, once.
 *   uet_churn gone [--ready FILE]
 *	Opens the pair, creates FILE, waits for A's device to be reported
 *	gone, posts on A and checks A's CQs return no completion.
 *   uet_churn side a|b --dir DIR [--ready FILE] [--stop FILE]
 *	One rank of a two-process transfer, so that one rank can be killed
 *	while the other survives (uet_fault_cycles.sh's SIGKILL cycles).
 *	Each process opens its own side only (A: $UET_DEV0 here, B:
 *	$UET_DEV1 in $UET_NS1) and publishes its endpoint's number in
 *	DIR/a or DIR/b (written whole, then renamed); A waits for B's, the
 *	addresses are $UET_ADDR0/1. B posts its receives before it
 *	publishes, checks every byte, that none arrives twice, creates
 *	--ready FILE once WIN messages arrived intact, and on --stop FILE
 *	destroys its endpoint (posted receives may flush) and exits 0. A
 *	sends numbered messages with WIN outstanding until --stop FILE
 *	exists or a send fails (the peer gone), then drains: every send it
 *	posted must complete exactly once (errors allowed) within twice the
 *	wait of uet_pair.h (60 s), else exit 1.
 *
 * Exit: 0 ok, 1 a failure (printed), 4 nothing to test (no device).
 * Environment as uet_msg.c: UET_DEV0/1, UET_NS1, UET_ADDR0/1, UET_JOB.
 */

#define _GNU_SOURCE
#include <inttypes.h>
#include <sys/stat.h>
#include "uet_pair.h"

#define LEN 4096		/* bytes per message */
#define WIN 64			/* sends outstanding */
#define RWIN 256		/* receives outstanding */
#define MAX_MSGS (1u << 22)	/* messages a run may send */
#define HDR 8			/* the sequence number heading a message */

static uint8_t *seen;		/* bitmap: message received */
static uint8_t done_send[WIN], done_recv[RWIN];	/* lenient accounting */

static int fail(const char *what, uint64_t a, uint64_t b)
{
	printf("uet_churn: %s (%" PRIu64 ", %" PRIu64 ")\n", what, a, b);
	return 1;
}

static bool file_exists(const char *path)
{
	struct stat st;

	return path && !stat(path, &st);
}

static void touch(const char *path)
{
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

/* the device went away: its async fd says so */
static bool device_fatal(struct side *s)
{
	struct ibv_async_event ev;
	struct pollfd p = { .fd = s->ctx->async_fd, .events = POLLIN };
	bool fatal = false;
	int fl;

	fl = fcntl(p.fd, F_GETFL);
	fcntl(p.fd, F_SETFL, fl | O_NONBLOCK);
	while (poll(&p, 1, 0) == 1 && !ibv_get_async_event(s->ctx, &ev)) {
		if (ev.event_type == IBV_EVENT_DEVICE_FATAL)
			fatal = true;
		ibv_ack_async_event(&ev);
	}
	return fatal;
}

static int send_slot(struct side *a, unsigned int slot, uint64_t seq)
{
	uint8_t *p = a->buf + (size_t)slot * LEN;

	memcpy(p, &seq, HDR);
	fill(p + HDR, LEN - HDR, seq);
	return send_msg(a, slot, (size_t)slot * LEN, LEN);
}

static int recv_slot(struct side *b, unsigned int slot)
{
	return post_recv(b, slot, RECV_OFF + (size_t)slot * LEN, LEN);
}

/* checks the message in receive slot @slot: 0 or a failure */
static int check_recv(struct side *b, const struct wcx *w, uint64_t *got)
{
	uint8_t *p = b->buf + RECV_OFF + (size_t)w->wr_id * LEN;
	uint64_t seq;

	if (w->byte_len != LEN)
		return fail("message of the wrong length", w->wr_id, w->byte_len);
	memcpy(&seq, p, HDR);
	if (seq >= MAX_MSGS)
		return fail("message with a bad sequence number", seq, 0);
	if (seen[seq / 8] & (1u << (seq % 8)))
		return fail("message received twice", seq, 0);
	if (check(p + HDR, LEN - HDR, seq) >= 0)
		return fail("message corrupt", seq, check(p + HDR, LEN - HDR, seq));
	seen[seq / 8] |= 1u << (seq % 8);
	(*got)++;
	memset(p, 0, LEN);
	return 0;
}

struct run {
	struct side a, b;
	uint64_t next, sent_ok, got, errors;
	unsigned int sends_out, recvs_out, recvs_min;
	bool stop;
	char first_err[96];	/* the first error completion (lenient) */
};

static void note_err(struct run *r, const char *side, const struct wcx *w)
{
	if (!r->first_err[0])
		snprintf(r->first_err, sizeof(r->first_err), "%s: %s (vendor error %u)",
			 side, ibv_wc_status_str(w->status), w->vendor_err);
}

/* one completion of cq into *w if there is one, without waiting: 0 */
static int poll1(struct ibv_cq_ex *cq, struct wcx *w)
{
	/* a deadline already past: wait_wc() polls once */
	return wait_wc(cq, w, -1);
}

/*
 * Polls both CQs once: reposts, checks, counts. At most a window of each
 * per call: in one guest a send's doorbell runs the whole exchange (the
 * peer's receive, the ACK) before it returns, so A's queue may never run
 * dry, and B must get its turn to repost receives, as a real receiver
 * would in its own thread. Returns 0, 1 on a
 * failure, or -1 when a side's device went away (lenient only).
 */
static int step(struct run *r, bool lenient, bool more)
{
	struct wcx w;
	int rc = 0, n;

	for (n = 0; n < WIN && !poll1(r->a.scq, &w); n++) {
		if (w.wr_id >= WIN)
			return fail("send completion for a request never posted", w.wr_id, 0);
		if (lenient && done_send[w.wr_id]++)
			return fail("send completed twice", w.wr_id, 0);
		r->sends_out--;
		if (w.status != IBV_WC_SUCCESS) {
			if (!lenient) {
				printf("uet_churn: %" PRIu64 " messages intact, receives posted: at least %u of %u\n",
				       r->got, r->recvs_min, RWIN);
				return fail(ibv_wc_status_str(w.status), w.wr_id, w.vendor_err);
			}
			note_err(r, "send", &w);
			r->errors++;
			r->stop = true;
			continue;
		}
		r->sent_ok++;
		if (more && !r->stop && r->next < MAX_MSGS) {
			if (send_slot(&r->a, w.wr_id, r->next))
				return lenient ? 0 : fail("send post failed", r->next, errno);
			if (lenient)
				done_send[w.wr_id] = 0;
			r->next++;
			r->sends_out++;
		}
	}
	for (n = 0; n < RWIN && !poll1(r->b.rcq, &w); n++) {
		if (w.wr_id >= RWIN)
			return fail("receive completion for a request never posted", w.wr_id, 0);
		if (lenient && done_recv[w.wr_id]++)
			return fail("receive completed twice", w.wr_id, 0);
		r->recvs_out--;
		if (r->recvs_out < r->recvs_min)
			r->recvs_min = r->recvs_out;
		if (w.status != IBV_WC_SUCCESS) {
			if (!lenient)
				return fail(ibv_wc_status_str(w.status), w.wr_id, w.vendor_err);
			note_err(r, "receive", &w);
			r->errors++;
			r->stop = true;
			continue;
		}
		rc = check_recv(&r->b, &w, &r->got);
		if (rc)
			return rc;
		if (!r->stop) {
			if (recv_slot(&r->b, w.wr_id))
				return lenient ? 0 : fail("receive post failed", w.wr_id, errno);
			if (lenient)
				done_recv[w.wr_id] = 0;
			r->recvs_out++;
		}
	}
	if (lenient && (device_fatal(&r->a) || device_fatal(&r->b)))
		return -1;
	return 0;
}

static int pair_start(struct run *r, uint32_t job)
{
	bool skip;
	const char *why;
	unsigned int i;

	memset(&r->a, 0, sizeof(r->a));
	memset(&r->b, 0, sizeof(r->b));
	r->next = r->sent_ok = r->got = r->errors = 0;
	r->sends_out = r->recvs_out = 0;
	r->recvs_min = RWIN;
	r->stop = false;
	r->first_err[0] = 0;
	memset(seen, 0, MAX_MSGS / 8);
	memset(done_send, 0, sizeof(done_send));
	memset(done_recv, 0, sizeof(done_recv));
	why = pair_open(&r->a, &r->b, job, 0, &skip);
	if (why) {
		printf("uet_churn: %s\n", why);
		return skip ? 4 : 1;
	}
	for (i = 0; i < RWIN; i++) {
		if (recv_slot(&r->b, i))
			return fail("receive post failed", i, errno);
		r->recvs_out++;
	}
	for (i = 0; i < WIN; i++) {
		if (send_slot(&r->a, i, r->next))
			return fail("send post failed", i, errno);
		r->next++;
		r->sends_out++;
	}
	return 0;
}

static void pair_stop(struct run *r)
{
	side_close(&r->a);
	side_close(&r->b);
}

static int traffic(int argc, char **argv)
{
	const char *ready = NULL, *stopf = NULL;
	uint64_t end, secs = 3600, last = 0;
	bool lenient = false, announced = false;
	struct run r;
	int i, rc;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--lenient"))
			lenient = true;
		else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
			ready = argv[++i];
		else if (!strcmp(argv[i], "--stop") && i + 1 < argc)
			stopf = argv[++i];
		else
			secs = strtoull(argv[i], NULL, 0);
	}
	rc = pair_start(&r, strtoul(env_or("UET_JOB", "30"), NULL, 0));
	if (rc)
		return rc;
	end = now_ms() + secs * 1000;
	while (!r.stop && now_ms() < end && !file_exists(stopf)) {
		rc = step(&r, lenient, true);
		if (rc > 0)
			return rc;
		if (rc < 0) {
			printf("uet_churn: device gone after %" PRIu64 " messages intact\n", r.got);
			return 0;
		}
		if (!announced && r.got >= WIN) {
			touch(ready);
			announced = true;
		}
		if (r.got == last)
			usleep(100);
		last = r.got;
	}
	/* drain: every request still outstanding completes */
	end = now_ms() + WAIT_MS;
	while (r.sends_out && now_ms() < end) {
		rc = step(&r, lenient, false);
		if (rc > 0)
			return rc;
		if (rc < 0) {
			printf("uet_churn: device gone while draining\n");
			return 0;
		}
		usleep(100);
	}
	if (r.sends_out)
		return fail("sends never completed (sent, outstanding)", r.next, r.sends_out);
	if (!lenient) {
		/* every successful send delivered its message */
		while (r.got < r.sent_ok && now_ms() < end) {
			rc = step(&r, lenient, false);
			if (rc)
				return rc;
		}
		if (r.got != r.sent_ok)
			return fail("messages sent but not received", r.sent_ok, r.got);
	}
	printf("uet_churn: %" PRIu64 " messages intact, %" PRIu64 " error completions%s%s (receives posted: at least %u of %u)\n",
	       r.got, r.errors, r.errors ? ", first " : "", r.first_err, r.recvs_min, RWIN);
	pair_stop(&r);
	return 0;
}

static int revoke_cycles(int argc, char **argv)
{
	unsigned long cycles = argc ? strtoul(argv[0], NULL, 0) : 100, c;
	uint32_t job = strtoul(env_or("UET_JOB", "40"), NULL, 0);
	uint64_t end, total = 0;
	struct run r;
	int rc;

	for (c = 0; c < cycles; c++) {
		struct side *victim;

		rc = pair_start(&r, job);
		if (rc)
			return rc;
		end = now_ms() + WAIT_MS;
		while (r.got < WIN / 2 && now_ms() < end) {
			rc = step(&r, false, true);
			if (rc)
				return rc;
		}
		if (r.got < WIN / 2)
			return fail("no traffic before the revoke (cycle, received)", c, r.got);
		victim = c % 2 ? &r.b : &r.a;
		if (ioctl(victim->job_fd, RDMA_JOB_IOC_REVOKE))
			return fail("REVOKE failed (cycle, errno)", c, errno);
		r.stop = true;
		/*
		 * Every send outstanding completes, once: flushed if A was
		 * revoked, refused by B (or delivered before) if B was. So do
		 * B's receives if B was revoked; if A was, they stay posted.
		 */
		end = now_ms() + WAIT_MS;
		while ((r.sends_out || (victim == &r.b && r.recvs_out)) && now_ms() < end) {
			rc = step(&r, true, false);
			if (rc)
				return rc > 0 ? rc : fail("device gone", c, 0);
			usleep(100);
		}
		if (r.sends_out || (victim == &r.b && r.recvs_out)) {
			printf("uet_churn: cycle %lu, revoked side %s: %u sends and %u receives never completed\n",
			       c, victim == &r.a ? "A" : "B", r.sends_out, r.recvs_out);
			return 1;
		}
		if (victim == &r.a) {
			/*
			 * A send posted after REVOKE is posted (libuet returns
			 * 0 once the entry is in the ring, whatever the
			 * doorbell says) and completes flushed, exactly once.
			 */
			struct wcx w;
			int seen = 0;

			if (send_slot(&r.a, 0, r.next))
				return fail("a send posted after REVOKE was refused (cycle, errno)",
					    c, errno);
			end = now_ms() + WAIT_MS;
			while (!seen && now_ms() < end) {
				if (poll1(r.a.scq, &w)) {
					usleep(100);
					continue;
				}
				if (w.wr_id != 0 || w.status != IBV_WC_WR_FLUSH_ERR)
					return fail("after REVOKE: a completion other than slot 0 flushed (wr_id, status)",
						    w.wr_id, w.status);
				seen = 1;
			}
			if (!seen)
				return fail("a send posted after REVOKE never completed (cycle, waited ms)",
					    c, WAIT_MS);
			/* and nothing more comes */
			end = now_ms() + 50;
			while (now_ms() < end) {
				if (!poll1(r.a.scq, &w))
					return fail("after REVOKE: a second completion (wr_id, status)",
						    w.wr_id, w.status);
				usleep(1000);
			}
		}
		total += r.got;
		pair_stop(&r);
	}
	printf("uet_churn: %lu revokes mid-transfer, every request completed, %" PRIu64 " messages intact\n",
	       cycles, total);
	return 0;
}

/*
 * gone: a fresh pair whose side A has completed nothing yet (its CQs at
 * index 0); touches the --ready file and waits for A's device to be
 * reported gone (the script deletes it), then posts a receive and a send
 * on A and polls A's CQs for a second: nothing may come back as a
 * completion. After a device is gone every page of A's ring mappings is
 * one shared zeroed page that these very posts write into; a CQ must not
 * read them as completions (uet_cqe.seq).
 */
static int gone(int argc, char **argv)
{
	const char *ready = argc >= 2 && !strcmp(argv[0], "--ready") ? argv[1] : NULL;
	uint32_t job = strtoul(env_or("UET_JOB", "30"), NULL, 0);
	struct run r;
	struct wcx w;
	uint64_t end;
	const char *why;
	bool skip;

	memset(&r, 0, sizeof(r));
	why = pair_open(&r.a, &r.b, job, 0, &skip);
	if (why) {
		printf("uet_churn: %s\n", why);
		return skip ? 4 : 1;
	}
	touch(ready);
	end = now_ms() + WAIT_MS;
	while (!device_fatal(&r.a) && now_ms() < end)
		usleep(10000);
	if (now_ms() >= end)
		return fail("A's device was not reported gone (waited ms)", WAIT_MS, 0);
	/* either may fail now: what matters is what the CQs return */
	post_recv(&r.a, 254, RECV_OFF, LEN);
	send_slot(&r.a, 0, 0);
	end = now_ms() + 1000;
	while (now_ms() < end) {
		if (!poll1(r.a.scq, &w) || !poll1(r.a.rcq, &w))
			return fail("a completion from a device that is gone (wr_id, status)",
				    w.wr_id, w.status);
		usleep(1000);
	}
	printf("uet_churn: no completion from the gone device\n");
	return 0;
}

/* publishes this side's endpoint number as DIR/NAME: 0 or -1 */
static int qpn_put(const char *dir, const char *name, uint32_t qpn)
{
	char tmp[512], path[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", qpn);
	if (fclose(f))
		return -1;
	return rename(tmp, path);
}

/* the peer's endpoint number from DIR/NAME, waited for: 0 or -1 */
static int qpn_get(const char *dir, const char *name, uint32_t *qpn)
{
	uint64_t end = now_ms() + WAIT_MS;
	char path[512];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	while (now_ms() < end) {
		f = fopen(path, "r");
		if (f) {
			n = fscanf(f, "%u", qpn);
			fclose(f);
			if (n == 1)
				return 0;
		}
		usleep(10000);
	}
	return -1;
}

/* side B alone: receives and checks until the stop file appears */
static int side_b(struct side *b, const char *dir, const char *ready,
		  const char *stopf)
{
	uint64_t got = 0, errors = 0;
	unsigned int i, outstanding = 0;
	bool announced = false;
	struct wcx w;
	int n;

	for (i = 0; i < RWIN; i++) {
		if (recv_slot(b, i))
			return fail("receive post failed", i, errno);
		outstanding++;
	}
	if (qpn_put(dir, "b", b->qp->qp_num))
		return fail("cannot publish B's endpoint (errno)", errno, 0);
	while (!file_exists(stopf)) {
		for (n = 0; n < RWIN && !poll1(b->rcq, &w); n++) {
			if (w.wr_id >= RWIN)
				return fail("receive completion for a request never posted", w.wr_id, 0);
			if (done_recv[w.wr_id]++)
				return fail("receive completed twice", w.wr_id, 0);
			outstanding--;
			if (w.status != IBV_WC_SUCCESS) {
				/* reposted: the peer's next incarnation may send */
				printf("uet_churn: B: receive %s (vendor error %u)\n",
				       ibv_wc_status_str(w.status), w.vendor_err);
				errors++;
			} else if (check_recv(b, &w, &got)) {
				return 1;
			}
			if (recv_slot(b, w.wr_id))
				return fail("receive post failed", w.wr_id, errno);
			done_recv[w.wr_id] = 0;
			outstanding++;
		}
		if (device_fatal(b))
			return fail("B's device reported gone", got, 0);
		if (!announced && got >= WIN) {
			touch(ready);
			announced = true;
		}
		if (!n)
			usleep(200);
	}
	printf("uet_churn: B: %" PRIu64 " messages intact, none twice, %" PRIu64 " error completions; %u receives posted at the stop\n",
	       got, errors, outstanding);
	side_close(b);
	return 0;
}

/* side A alone: sends until the stop file appears or a send fails, drains */
static int side_a(struct side *a, const char *dir, const char *stopf)
{
	uint64_t next = 0, ok = 0, errors = 0, posted = 0, end;
	unsigned int i, outstanding = 0;
	union ibv_gid peer;
	char first[96] = "";
	bool stop = false;
	uint32_t qpn;
	struct wcx w;
	int n;

	if (qpn_put(dir, "a", a->qp->qp_num))
		return fail("cannot publish A's endpoint (errno)", errno, 0);
	if (qpn_get(dir, "b", &qpn))
		return fail("B's endpoint never published (waited ms)", WAIT_MS, 0);
	if (addr_to_gid(env_or("UET_ADDR1", "10.77.0.2"), &peer))
		return fail("bad UET_ADDR1", 0, 0);
	a->to_peer = ah_to(a, &peer, qpn);
	if (!a->to_peer)
		return fail("no address handle to B (qpn, errno)", qpn, errno);
	for (i = 0; i < WIN; i++) {
		if (send_slot(a, i, next))
			return fail("send post failed", i, errno);
		next++;
		posted++;
		outstanding++;
	}
	end = UINT64_MAX;
	while (outstanding && now_ms() < end) {
		if (!stop && file_exists(stopf)) {
			stop = true;
			end = now_ms() + 2 * WAIT_MS;
		}
		for (n = 0; n < WIN && !poll1(a->scq, &w); n++) {
			if (w.wr_id >= WIN)
				return fail("send completion for a request never posted", w.wr_id, 0);
			if (done_send[w.wr_id]++)
				return fail("send completed twice", w.wr_id, 0);
			outstanding--;
			if (w.status != IBV_WC_SUCCESS) {
				if (!first[0])
					snprintf(first, sizeof(first), "%s (vendor error %u)",
						 ibv_wc_status_str(w.status), w.vendor_err);
				errors++;
				if (!stop) {
					/* the peer is gone: drain from here */
					stop = true;
					end = now_ms() + 2 * WAIT_MS;
				}
				continue;
			}
			ok++;
			if (stop || next >= MAX_MSGS)
				continue;
			if (send_slot(a, w.wr_id, next)) {
				/* drained like a failure: nothing more is posted */
				stop = true;
				end = now_ms() + 2 * WAIT_MS;
				continue;
			}
			done_send[w.wr_id] = 0;
			next++;
			posted++;
			outstanding++;
		}
		if (device_fatal(a))
			return fail("A's device reported gone (posted, outstanding)", posted, outstanding);
		if (!n)
			usleep(200);
	}
	if (outstanding) {
		printf("uet_churn: A: %u of %" PRIu64 " sends never completed within %d ms (%" PRIu64 " ok, %" PRIu64 " errors)\n",
		       outstanding, posted, 2 * WAIT_MS, ok, errors);
		return 1;
	}
	printf("uet_churn: A: %" PRIu64 " sends posted, each completed once: %" PRIu64 " ok, %" PRIu64 " errors%s%s\n",
	       posted, ok, errors, errors ? ", first " : "", first);
	side_close(a);
	return 0;
}

/* side a|b --dir DIR [--ready FILE] [--stop FILE]: one rank of a transfer */
static int side_main(int argc, char **argv)
{
	const char *dir = NULL, *ready = NULL, *stopf = NULL, *why;
	uint32_t job = strtoul(env_or("UET_JOB", "30"), NULL, 0);
	struct side s;
	bool is_a;
	int i;

	if (argc < 1 || (strcmp(argv[0], "a") && strcmp(argv[0], "b")))
		return fail("side: a or b", 0, 0);
	is_a = !strcmp(argv[0], "a");
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
			ready = argv[++i];
		else if (!strcmp(argv[i], "--stop") && i + 1 < argc)
			stopf = argv[++i];
		else
			return fail("side: unknown argument (index)", i, 0);
	}
	if (!dir)
		return fail("side: --dir is needed", 0, 0);
	memset(&s, 0, sizeof(s));
	if (is_a)
		why = side_open(&s, env_or("UET_DEV0", "uet0"), "",
				env_or("UET_ADDR0", "10.77.0.1"), job);
	else
		why = side_open(&s, env_or("UET_DEV1", "uet1"),
				env_or("UET_NS1", "uet-msg-peer"),
				env_or("UET_ADDR1", "10.77.0.2"), job);
	if (!why)
		why = side_resources(&s);
	if (why) {
		printf("uet_churn: side %s: %s\n", argv[0], why);
		return !getenv(is_a ? "UET_DEV0" : "UET_DEV1") ? 4 : 1;
	}
	return is_a ? side_a(&s, dir, stopf) : side_b(&s, dir, ready, stopf);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	seen = calloc(MAX_MSGS / 8, 1);
	if (!seen)
		return 1;
	if (argc >= 2 && !strcmp(argv[1], "traffic"))
		return traffic(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "revoke"))
		return revoke_cycles(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "gone"))
		return gone(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "side"))
		return side_main(argc - 2, argv + 2);
	fprintf(stderr, "usage: uet_churn traffic [--lenient] [--ready F] [--stop F] [SECONDS]\n"
			"       uet_churn revoke CYCLES\n"
			"       uet_churn gone [--ready F]\n"
			"       uet_churn side a|b --dir DIR [--ready F] [--stop F]\n");
	return 2;
}
