// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_join: the rank side of a UET job.
 *
 * A launcher (uet-launch) creates a job on /dev/infiniband/job and starts
 * the ranks each with a member descriptor of the job inherited (it can
 * join the job and query it, not administer it); its number is in
 * $UET_JOB_FD. A rank opens its UET device, joins the device context to
 * the job with uetdv_join_job() and from then on every UET resource it
 * creates belongs to the job. This program does that and prints the job
 * as the device reports it for the context:
 *
 *	rank R: joined job J (members M)
 *
 * The device is $UET_DEV, or else the first device whose name starts with
 * "uet". With -s SECONDS it keeps the context (and its membership) that
 * long before it exits; with -d SECONDS it waits that long before joining;
 * with -c N it opens and joins N contexts (one line each).
 *
 *	uet-launch -n 2 -- uet_join
 *
 * Build: make -C samples/uet RDMA_CORE_STAGE=<rdma-core DESTDIR>
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/uetdv.h>
#include <infiniband/verbs.h>

static const char *prog = "uet_join";

static struct ibv_context *open_uet_device(void)
{
	const char *want = getenv("UET_DEV");
	struct ibv_device **list, *dev = NULL;
	struct ibv_context *ctx = NULL;
	int i, n;

	list = ibv_get_device_list(&n);
	if (!list) {
		fprintf(stderr, "%s: cannot list RDMA devices: %s\n", prog,
			strerror(errno));
		return NULL;
	}
	for (i = 0; i < n && !dev; i++) {
		const char *name = ibv_get_device_name(list[i]);

		if (want ? !strcmp(name, want) : !strncmp(name, "uet", 3))
			dev = list[i];
	}
	if (!dev) {
		fprintf(stderr, "%s: no UET device %s\n", prog,
			want ? want : "(no device named uet*)");
	} else {
		ctx = ibv_open_device(dev);
		if (!ctx)
			fprintf(stderr, "%s: cannot open %s: %s\n", prog,
				ibv_get_device_name(dev), strerror(errno));
	}
	ibv_free_device_list(list);
	return ctx;
}

int main(int argc, char **argv)
{
	const char *fd_s = getenv("UET_JOB_FD");
	const char *rank = getenv("UET_RANK");
	struct ibv_context *ctxs[16] = {};
	unsigned int hold = 0, delay = 0, n = 1, i;
	struct uetdv_job_info info;
	struct ibv_context *ctx;
	int opt, err = 0;
	char *end;
	long fd;

	while ((opt = getopt(argc, argv, "s:d:c:")) != -1) {
		switch (opt) {
		case 's':
			hold = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			delay = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			n = strtoul(optarg, NULL, 10);
			if (n < 1 || n > 16)
				n = 0;
			break;
		default:
			fprintf(stderr, "usage: %s [-s SECONDS] [-d SECONDS] [-c 1..16]\n",
				prog);
			return 2;
		}
	}
	if (!n) {
		fprintf(stderr, "%s: -c takes 1..16\n", prog);
		return 2;
	}

	if (!fd_s) {
		fprintf(stderr, "%s: UET_JOB_FD is not set (start me with uet-launch)\n",
			prog);
		return 1;
	}
	errno = 0;
	fd = strtol(fd_s, &end, 10);
	if (errno || *end || end == fd_s || fd < 0 || fd > 0x7fffffff) {
		fprintf(stderr, "%s: UET_JOB_FD=%s is not a file descriptor\n",
			prog, fd_s);
		return 1;
	}

	if (delay)
		sleep(delay);
	for (i = 0; i < n && !err; i++) {
		ctx = open_uet_device();
		ctxs[i] = ctx;
		if (!ctx) {
			err = 1;
			break;
		}

		err = uetdv_join_job(ctx, (int)fd);
		if (err) {
			fprintf(stderr, "%s: rank %s: joining job fd %ld on %s: %s\n",
				prog, rank ? rank : "?", fd,
				ibv_get_device_name(ctx->device), strerror(err));
			break;
		}

		err = uetdv_query_job(ctx, &info, sizeof(info));
		if (err) {
			fprintf(stderr, "%s: rank %s: querying the job: %s\n", prog,
				rank ? rank : "?", strerror(err));
			break;
		}

		printf("rank %s: joined job %u (members %u)\n", rank ? rank : "?",
		       info.job_id, info.members);
		fflush(stdout);
	}
	if (hold && !err)
		sleep(hold);
	for (i = 0; i < n; i++)
		if (ctxs[i])
			ibv_close_device(ctxs[i]);
	return err ? 1 : 0;
}
