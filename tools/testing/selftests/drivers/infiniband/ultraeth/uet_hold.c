// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Helper of the uet_soft shell selftests: opens a uet device, joins a new
 * job (-n: no job and no MR), creates a few objects (PD, MR, CQ) so the
 * context holds kernel resources, prints "ready" and then reports the
 * device's asynchronous events, one line each:
 *
 *	event IBV_EVENT_PORT_ERR port 1
 *
 * uet_hold [-n] [-d DEV] [-t SECONDS] hold
 *	Waits for IBV_EVENT_DEVICE_FATAL or a failure of the async event
 *	file (the device went away) and exits 0; exits 0 on SIGTERM/SIGINT
 *	("terminated") and 1 on timeout. After a fatal event it tries one more
 *	verb and prints how it failed, and checks that the kernel zapped the
 *	CQ ring's mapping (its pages were resident before and are not after;
 *	exit 3 if not).
 *
 * uet_hold [-d DEV] [-t SECONDS] events EVENT...
 *	Exits 0 once the named events (e.g. PORT_ERR PORT_ACTIVE) were seen
 *	in that order, 1 on timeout.
 *
 * DEV defaults to $UET_DEV, then to the first device named uet*. Setup
 * failures exit 2; no uet device exits 4 (KSFT_SKIP).
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "uet_test_job.h"

#define KSFT_SKIP 4
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* the context's mapping of the uverbs device (the CQ ring), from maps */
static void *map_start;
static size_t map_len;

static void find_uverbs_mapping(void)
{
	unsigned long lo, hi;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "/dev/infiniband/uverbs"))
			continue;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			map_start = (void *)lo;
			map_len = hi - lo;
			break;
		}
	}
	fclose(f);
}

/* pages of the uverbs mapping with a present page table entry */
static int resident_pages(void)
{
	unsigned char vec[256];
	size_t n = map_len / sysconf(_SC_PAGESIZE), i;
	int r = 0;

	if (!map_start || n > sizeof(vec) || mincore(map_start, map_len, vec))
		return -1;
	for (i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

/*
 * After the device went away: 0 if the ring's mapping was zapped. uverbs
 * queues DEVICE_FATAL before it disassociates the context, so the zap may
 * come a little after the event: wait up to 5 s for it.
 */
static int check_zapped(int before)
{
	int after = resident_pages(), i;

	for (i = 0; i < 500 && after != 0; i++) {
		usleep(10 * 1000);
		after = resident_pages();
	}

	printf("ring mapping: %d pages resident before, %d after: %s\n",
	       before, after,
	       before > 0 && after == 0 ? "zapped" : "NOT zapped");
	return before > 0 && after == 0 ? 0 : 3;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
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

static const char *event_name(enum ibv_event_type e)
{
	static const char *const names[] = {
		[IBV_EVENT_CQ_ERR] = "CQ_ERR",
		[IBV_EVENT_QP_FATAL] = "QP_FATAL",
		[IBV_EVENT_QP_REQ_ERR] = "QP_REQ_ERR",
		[IBV_EVENT_QP_ACCESS_ERR] = "QP_ACCESS_ERR",
		[IBV_EVENT_COMM_EST] = "COMM_EST",
		[IBV_EVENT_SQ_DRAINED] = "SQ_DRAINED",
		[IBV_EVENT_PATH_MIG] = "PATH_MIG",
		[IBV_EVENT_PATH_MIG_ERR] = "PATH_MIG_ERR",
		[IBV_EVENT_DEVICE_FATAL] = "DEVICE_FATAL",
		[IBV_EVENT_PORT_ACTIVE] = "PORT_ACTIVE",
		[IBV_EVENT_PORT_ERR] = "PORT_ERR",
		[IBV_EVENT_LID_CHANGE] = "LID_CHANGE",
		[IBV_EVENT_PKEY_CHANGE] = "PKEY_CHANGE",
		[IBV_EVENT_SM_CHANGE] = "SM_CHANGE",
		[IBV_EVENT_SRQ_ERR] = "SRQ_ERR",
		[IBV_EVENT_SRQ_LIMIT_REACHED] = "SRQ_LIMIT_REACHED",
		[IBV_EVENT_QP_LAST_WQE_REACHED] = "QP_LAST_WQE_REACHED",
		[IBV_EVENT_CLIENT_REREGISTER] = "CLIENT_REREGISTER",
		[IBV_EVENT_GID_CHANGE] = "GID_CHANGE",
		[IBV_EVENT_WQ_FATAL] = "WQ_FATAL",
	};

	if ((unsigned int)e < ARRAY_SIZE(names) && names[e])
		return names[e];
	return "UNKNOWN";
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: uet_hold [-n] [-d DEV] [-t SECONDS] hold | events EVENT...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *name = getenv("UET_DEV");
	struct ibv_device **list, *dev;
	struct ibv_async_event ev;
	struct ibv_context *ctx;
	struct sigaction sa = {};
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	struct ibv_pd *pd;
	const char *mode;
	int timeout = 30;
	int next = 0, nexp, job_fd = -1, no_job = 0, before;
	char **expect;
	long deadline;
	void *buf;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "nd:t:")) != -1) {
		switch (opt) {
		case 'n':
			no_job = 1;
			break;
		case 'd':
			name = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	mode = argv[optind++];
	expect = &argv[optind];
	nexp = argc - optind;
	if (strcmp(mode, "hold") && (strcmp(mode, "events") || !nexp))
		usage();

	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	list = ibv_get_device_list(NULL);
	if (!list) {
		printf("ibv_get_device_list: %s\n", strerror(errno));
		return KSFT_SKIP;
	}
	dev = find_device(list, name);
	if (!dev) {
		printf("no uet device%s%s\n", name ? " named " : "",
		       name ? name : "");
		return KSFT_SKIP;
	}
	ctx = ibv_open_device(dev);
	if (!ctx) {
		printf("ibv_open_device %s: %s\n", ibv_get_device_name(dev),
		       strerror(errno));
		return 2;
	}
	if (!no_job) {
		job_fd = uet_test_join(ctx);
		if (job_fd < 0) {
			printf("joining a job: %s\n", strerror(-job_fd));
			return 2;
		}
	}
	pd = ibv_alloc_pd(ctx);
	buf = calloc(1, 65536);
	mr = pd && buf && !no_job ?
		     ibv_reg_mr(pd, buf, 65536, IBV_ACCESS_LOCAL_WRITE) :
		     NULL;
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (!pd || (!mr && !no_job) || !cq) {
		printf("setup: pd %p mr %p cq %p: %s\n", (void *)pd,
		       (void *)mr, (void *)cq, strerror(errno));
		return 2;
	}
	find_uverbs_mapping();
	before = resident_pages();
	printf("ready %s pid %d\n", ibv_get_device_name(dev), getpid());

	deadline = now_ms() + timeout * 1000L;
	for (;;) {
		struct pollfd pfd = { .fd = ctx->async_fd, .events = POLLIN };
		long left = deadline - now_ms();
		int n;

		if (stop) {
			printf("terminated by signal %d\n", (int)stop);
			break;
		}
		if (left <= 0) {
			printf("timeout after %d s\n", timeout);
			return 1;
		}
		n = poll(&pfd, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			printf("poll: %s\n", strerror(errno));
			return 2;
		}
		if (!n)
			continue;
		if (ibv_get_async_event(ctx, &ev)) {
			/* the device went away: a clean error is fine */
			printf("async fd error: %s\n", strerror(errno));
			if (!strcmp(mode, "hold"))
				return check_zapped(before);
			return 1;
		}
		printf("event IBV_EVENT_%s port %d\n",
		       event_name(ev.event_type),
		       ev.event_type == IBV_EVENT_PORT_ACTIVE ||
				       ev.event_type == IBV_EVENT_PORT_ERR ?
			       ev.element.port_num :
			       0);
		ibv_ack_async_event(&ev);

		if (ev.event_type == IBV_EVENT_DEVICE_FATAL) {
			struct ibv_pd *pd2 = ibv_alloc_pd(ctx);

			printf("after fatal: ibv_alloc_pd %s (%s)\n",
			       pd2 ? "succeeded" : "failed",
			       pd2 ? "-" : strerror(errno));
			int rc = check_zapped(before);

			/* tear down what we can; the kernel already did */
			if (pd2)
				ibv_dealloc_pd(pd2);
			ibv_destroy_cq(cq);
			if (mr)
				ibv_dereg_mr(mr);
			ibv_dealloc_pd(pd);
			ibv_close_device(ctx);
			ibv_free_device_list(list);
			return !strcmp(mode, "hold") ? rc : 1;
		}
		if (!strcmp(mode, "events") &&
		    !strcmp(event_name(ev.event_type), expect[next]) &&
		    ++next == nexp) {
			printf("all %d events seen\n", nexp);
			break;
		}
	}

	ibv_destroy_cq(cq);
	if (mr)
		ibv_dereg_mr(mr);
	ibv_dealloc_pd(pd);
	free(buf);
	ibv_close_device(ctx);
	if (job_fd >= 0)
		close(job_fd);
	ibv_free_device_list(list);
	return 0;
}
