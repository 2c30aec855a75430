// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Load on the job core (/dev/infiniband/job, include/uapi/rdma/rdma_job.h):
 *
 *  - alloc_100k: 100000 jobs with an allocated JobID, all alive at once;
 *    the time per allocation is printed per batch of 10000 (it must stay
 *    flat: the allocator is O(log n); nothing asserts on time), then they
 *    are freed and every JobID they had can be realized again;
 *  - six_threads: six threads REALIZE, QUERY, SEAL, REVOKE, derive member
 *    descriptors, close and dup2 over a shared table of descriptors at
 *    random. Every error must be one the documentation lists for that
 *    ioctl (a slot replaced under the caller by another file is EBADF or
 *    ENOTTY), and afterwards every JobID that was used can be realized
 *    again: nothing leaked.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <rdma/rdma_job.h>

#include "kselftest_harness.h"

#define JOB_DEV "/dev/infiniband/job"

#define N_JOBS 100000
#define BATCH 10000

static int job_open(void)
{
	return open(JOB_DEV, O_RDWR | O_CLOEXEC);
}

/* REALIZE a UET job, @id 0 for an allocated one; 0 or errno */
static int realize(int fd, uint32_t id, uint32_t *out)
{
	struct rdma_job_realize r;

	memset(&r, 0, sizeof(r));
	r.protocol = RDMA_JOB_PROTO_UET;
	r.uet.job_id = id;
	r.uet.flags = id ? 0 : RDMA_JOB_UET_F_ALLOC_JOB_ID;
	r.uet.max_endpoints = 1;
	if (ioctl(fd, RDMA_JOB_IOC_REALIZE, &r))
		return errno;
	if (out)
		*out = r.uet.job_id;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

TEST(alloc_100k)
{
	struct rlimit rl = { N_JOBS + 1000, N_JOBS + 1000 };
	uint32_t *ids;
	int *fds, i, fd;
	double t0, t, first = 0, last = 0;

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl))
		TH_LOG("RLIMIT_NOFILE %d: %s", N_JOBS + 1000, strerror(errno));
	fds = calloc(N_JOBS, sizeof(*fds));
	ids = calloc(N_JOBS, sizeof(*ids));
	ASSERT_NE(NULL, fds);
	ASSERT_NE(NULL, ids);

	t0 = now();
	for (i = 0; i < N_JOBS; i++) {
		fds[i] = job_open();
		ASSERT_LE(0, fds[i]) TH_LOG("job %d: open: %s", i, strerror(errno));
		ASSERT_EQ(0, realize(fds[i], 0, &ids[i])) TH_LOG("job %d", i);
		if ((i + 1) % BATCH == 0) {
			t = now();
			last = (t - t0) * 1e6 / BATCH;
			if (!first)
				first = last;
			ksft_print_msg("jobs %6d..%6d: %.1f us per open+REALIZE(ALLOC), %d alive\n",
				       i + 1 - BATCH, i, last, i + 1);
			t0 = t;
		}
	}
	ksft_print_msg("last batch / first batch: %.2f\n", last / first);

	/* distinct, valid */
	qsort(ids, N_JOBS, sizeof(*ids), cmp_u32);
	for (i = 0; i < N_JOBS; i++) {
		ASSERT_NE(0, ids[i]);
		ASSERT_GE(RDMA_JOB_UET_MAX_JOB_ID, ids[i]);
		if (i)
			ASSERT_NE(ids[i - 1], ids[i]);
	}

	t0 = now();
	for (i = 0; i < N_JOBS; i++)
		close(fds[i]);
	ksft_print_msg("closing %d jobs: %.1f us each\n", N_JOBS,
		       (now() - t0) * 1e6 / N_JOBS);

	/* all free again: a sample of them, fixed */
	for (i = 0; i < N_JOBS; i += 997) {
		fd = job_open();
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, realize(fd, ids[i], NULL)) TH_LOG("JobID %u", ids[i]);
		close(fd);
	}
	free(fds);
	free(ids);
}

/* ---- six threads ----------------------------------------------------------- */

#define SLOTS 12
#define POOL 8			/* fixed JobIDs used */
#define ID_BASE 0x7d0000
#define THREADS 6
#define SECONDS 8
#define MAX_ALLOC 4096		/* allocated JobIDs remembered */

struct shared {
	int slot[SLOTS];	/* descriptor numbers, fixed; contents change */
	int stop;		/* __atomic */
	pthread_mutex_t lock;
	uint32_t alloc_ids[MAX_ALLOC];
	int n_alloc;
	int bad;		/* undocumented errors seen */
	char why[256];
	unsigned long ops, errs;
};

static struct shared sh;

static void bad(const char *op, int err)
{
	pthread_mutex_lock(&sh.lock);
	if (!sh.bad++)
		snprintf(sh.why, sizeof(sh.why), "%s: %s (%d)", op, strerror(err), err);
	pthread_mutex_unlock(&sh.lock);
}

/* documented errors of each operation; EBADF/ENOTTY: the slot was closed
 * or replaced by another file (a non-job file, or read-only) meanwhile
 */
static int allowed(const char *op, int err)
{
	if (err == EBADF || err == ENOTTY)
		return 1;
	if (!strcmp(op, "realize"))
		return err == EBUSY || err == EEXIST || err == EPERM || err == EADDRNOTAVAIL;
	if (!strcmp(op, "query"))
		return 0;
	if (!strcmp(op, "seal"))
		return err == EINVAL || err == EPERM;
	if (!strcmp(op, "revoke"))
		return err == EINVAL || err == EPERM;
	if (!strcmp(op, "member"))
		return err == EPERM || err == EMFILE;
	return 0;
}

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 7919u + 1;
	struct rdma_job_info info;
	const char *op = NULL;
	int err, fd, s;
	uint32_t id;

	while (!__atomic_load_n(&sh.stop, __ATOMIC_RELAXED)) {
		s = sh.slot[rand_r(&seed) % SLOTS];
		err = 0;
		switch (rand_r(&seed) % 10) {
		case 0: /* a new job over the slot */
			fd = job_open();
			if (fd < 0) {
				op = "open";
				err = errno;
				break;
			}
			dup2(fd, s);
			close(fd);
			continue;
		case 1: /* REALIZE fixed */
			op = "realize";
			err = realize(s, ID_BASE + rand_r(&seed) % POOL, NULL);
			break;
		case 2: /* REALIZE allocated */
			op = "realize";
			err = realize(s, 0, &id);
			if (!err) {
				pthread_mutex_lock(&sh.lock);
				if (sh.n_alloc < MAX_ALLOC)
					sh.alloc_ids[sh.n_alloc++] = id;
				pthread_mutex_unlock(&sh.lock);
			}
			break;
		case 3:
			op = "query";
			err = ioctl(s, RDMA_JOB_IOC_QUERY, &info) ? errno : 0;
			break;
		case 4:
			op = "seal";
			err = ioctl(s, RDMA_JOB_IOC_SEAL) ? errno : 0;
			break;
		case 5:
			op = "revoke";
			err = ioctl(s, RDMA_JOB_IOC_REVOKE) ? errno : 0;
			break;
		case 6: /* a member descriptor over another slot */
			op = "member";
			fd = ioctl(s, RDMA_JOB_IOC_MEMBER_FD, RDMA_JOB_MEMBER_FD_CLOEXEC);
			if (fd < 0) {
				err = errno;
				break;
			}
			dup2(fd, sh.slot[rand_r(&seed) % SLOTS]);
			close(fd);
			continue;
		case 7: /* close the slot (later ioctls: EBADF) */
			close(s);
			continue;
		case 8: /* copy a slot over another */
			dup2(sh.slot[rand_r(&seed) % SLOTS], s);
			continue;
		default: /* a non-job file over the slot */
			fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				dup2(fd, s);
				close(fd);
			}
			continue;
		}
		__atomic_add_fetch(&sh.ops, 1, __ATOMIC_RELAXED);
		if (err) {
			__atomic_add_fetch(&sh.errs, 1, __ATOMIC_RELAXED);
			if (!allowed(op, err))
				bad(op, err);
		}
	}
	return NULL;
}

TEST(six_threads)
{
	pthread_t th[THREADS];
	int i, fd, base;

	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.lock, NULL);
	/* reserve SLOTS descriptor numbers, far from the others */
	base = 900;
	for (i = 0; i < SLOTS; i++) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		sh.slot[i] = base + i;
		ASSERT_EQ(sh.slot[i], dup3(fd, sh.slot[i], O_CLOEXEC));
		close(fd);
	}
	for (i = 0; i < THREADS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i));
	sleep(SECONDS);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ksft_print_msg("%lu ioctls, %lu failed as documented, %d allocated JobIDs\n",
		       sh.ops, sh.errs, sh.n_alloc);
	EXPECT_EQ(0, sh.bad) TH_LOG("undocumented error: %s", sh.why);
	for (i = 0; i < SLOTS; i++)
		close(sh.slot[i]);

	/* nothing leaked: every JobID used can be realized again */
	for (i = 0; i < POOL; i++) {
		fd = job_open();
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, realize(fd, ID_BASE + i, NULL)) TH_LOG("JobID %#x", ID_BASE + i);
		close(fd);
	}
	for (i = 0; i < sh.n_alloc; i++) {
		fd = job_open();
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, realize(fd, sh.alloc_ids[i], NULL))
			TH_LOG("allocated JobID %u", sh.alloc_ids[i]);
		close(fd);
	}
}

TEST_HARNESS_MAIN
