// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * An ioctl fuzzer for /dev/infiniband/job: random command numbers (biased
 * to the job magic 0xEB and to the defined numbers with random sizes and
 * directions), random sizes and random or bad pointers (NULL, unmapped,
 * kernel addresses, the edge of a guard page, read-only memory, valid
 * buffers of random bytes or of nearly valid requests), on a pool of jobs
 * in every state (empty, active, sealed, revoked), through admin, read-only
 * admin and member descriptors, that is renewed as it goes. Descriptors
 * that MEMBER_FD returns are closed again.
 *
 * Every call must return 0, or -1 with an errno the job device documents;
 * anything else fails. The process must survive, and uet_job_fuzz.sh
 * checks the kernel log afterwards.
 *
 * UET_FUZZ_ITERS (default 5000 per test, two tests) and UET_FUZZ_SEED
 * (default: time and pid, printed) tune a run.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <rdma/rdma_job.h>

#include "kselftest_harness.h"

#define JOB_DEV "/dev/infiniband/job"
#define POOL 8
#define BUF_LEN (64 * 1024)

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
	return (uint32_t)(rnd() % n);
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

static void fuzz_seed(struct __test_metadata *_metadata)
{
	rng = env_ul("UET_FUZZ_SEED", 0);
	if (!rng)
		rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	TH_LOG("seed %#llx (UET_FUZZ_SEED reproduces a run)", (unsigned long long)rng);
}

static const unsigned long valid_cmds[] = {
	RDMA_JOB_IOC_REALIZE,
	RDMA_JOB_IOC_QUERY,
	RDMA_JOB_IOC_SEAL,
	RDMA_JOB_IOC_REVOKE,
	RDMA_JOB_IOC_MEMBER_FD,
};

/* handled by the VFS for every file before the driver sees them */
static const unsigned long vfs_cmds[] = {
	FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC, FIOQSIZE, FIONREAD,
	FIFREEZE, FITHAW, FS_IOC_FIEMAP, FIGETBSZ, FICLONE, FICLONERANGE,
	FIDEDUPERANGE, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS,
	FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR,
#ifdef FS_IOC_GETFSUUID
	FS_IOC_GETFSUUID,
#endif
#ifdef FS_IOC_GETFSSYSFSPATH
	FS_IOC_GETFSSYSFSPATH,
#endif
};

static int allowed(int e)
{
	switch (e) {
	case EINVAL:
	case ENOTTY:
	case EFAULT:
	case E2BIG:
	case EBUSY:
	case EEXIST:
	case EPROTONOSUPPORT:
	case EPERM:
	case EADDRNOTAVAIL:
	case EBADF:
		return 1;
	}
	return 0;
}

static uint32_t random_size(void)
{
	switch (below(6)) {
	case 0:
		return 0;
	case 1:
		return below(16);
	case 2:
		return sizeof(struct rdma_job_realize) + below(3) - 1;
	case 3:
		return sizeof(struct rdma_job_info) + below(3) - 1;
	case 4:
		return below(512);
	default:
		return below(_IOC_SIZEMASK + 1);
	}
}

static unsigned long random_cmd(void)
{
	unsigned long cmd;
	unsigned int i;

	switch (below(10)) {
	case 0: case 1: case 2: case 3:
		/* a defined command */
		return valid_cmds[below(ARRAY_SIZE(valid_cmds))];
	case 4: case 5:
		/* a defined number, random direction and size */
		return _IOC(below(4), RDMA_JOB_IOCTL_MAGIC, 1 + below(5),
			    random_size());
	case 6: case 7:
		/* the job magic, anything else */
		return _IOC(below(4), RDMA_JOB_IOCTL_MAGIC,
			    below(2) ? below(8) : below(256), random_size());
	default:
		/* anything */
		do {
			cmd = (uint32_t)rnd();
			for (i = 0; i < ARRAY_SIZE(vfs_cmds); i++)
				if (cmd == (uint32_t)vfs_cmds[i])
					cmd = 0;
		} while (!cmd);
		return cmd;
	}
}

struct mem {
	unsigned char *buf;	/* BUF_LEN read-write bytes */
	unsigned char *edge;	/* a page followed by a PROT_NONE page */
	unsigned char *ro;	/* a read-only page */
	void *unmapped;		/* an address with nothing mapped */
	long page;
};

static void fill_request(unsigned char *p)
{
	struct rdma_job_realize r;

	memset(&r, 0, sizeof(r));
	r.protocol = below(8) ? RDMA_JOB_PROTO_UET : below(4);
	/* a few ids, so that they collide (EEXIST) */
	r.uet.job_id = below(4) ? 0x7f0000 + below(8) : (uint32_t)rnd();
	if (!below(3)) {
		r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
		if (below(4))
			r.uet.job_id = 0;
	}
	r.uet.pid_on_fep_base = below(8) ? below(4096) : (uint16_t)rnd();
	r.uet.max_endpoints = below(8) ? 1 + below(4096 - r.uet.pid_on_fep_base) :
					 (uint16_t)rnd();
	r.uet.tc = below(8) ? below(16) : (uint8_t)rnd();
	if (!below(8))
		((unsigned char *)&r)[below(sizeof(r))] ^= 1 << below(8);
	memcpy(p, &r, sizeof(r));
}

static void *random_ptr(struct mem *m, uint32_t size)
{
	static const unsigned long kernel[] = {
		0xffffffff81000000UL, 0xffff888000000000UL, 0xffffc90000000000UL,
		-1UL, -4096UL, 0x8000000000000000UL,
	};
	unsigned char *p;
	uint32_t i, off;

	switch (below(12)) {
	case 0:
		return NULL;
	case 1:
		return (void *)(unsigned long)(1 + below(4096));
	case 2:
		return m->unmapped;
	case 3:
		return (void *)kernel[below(ARRAY_SIZE(kernel))];
	case 4:
		/* the struct runs into the guard page */
		return m->edge + m->page - (size ? below(size) + 1 : below(64));
	case 5:
		return m->ro;
	case 6: case 7:
		/* a nearly valid request */
		off = below(BUF_LEN - _IOC_SIZEMASK - 64);
		memset(m->buf + off, 0, _IOC_SIZEMASK + 1);
		fill_request(m->buf + off);
		if (!below(4))
			m->buf[off + below(_IOC_SIZEMASK)] = (uint8_t)rnd();
		return m->buf + off;
	default:
		/* random bytes */
		off = below(BUF_LEN - _IOC_SIZEMASK - 1);
		p = m->buf + off;
		for (i = 0; i < (size > 256 ? 256 : size); i++)
			p[i] = (uint8_t)rnd();
		return p;
	}
}

static int new_job(int realized)
{
	int fd = open(JOB_DEV, O_RDWR | O_CLOEXEC);
	struct rdma_job_realize r;
	int m;

	/* now and then a read-only admin descriptor (EBADF for REALIZE ...) */
	if (fd >= 0 && !below(8)) {
		close(fd);
		return open(JOB_DEV, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0 || !realized)
		return fd;
	memset(&r, 0, sizeof(r));
	r.protocol = RDMA_JOB_PROTO_UET;
	r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
	r.uet.max_endpoints = 16;
	if (ioctl(fd, RDMA_JOB_IOC_REALIZE, &r)) {
		close(fd);
		return -1;
	}
	/* some sealed, some revoked */
	if (!below(4))
		ioctl(fd, RDMA_JOB_IOC_SEAL);
	if (!below(4))
		ioctl(fd, RDMA_JOB_IOC_REVOKE);
	/* now and then a member descriptor (EPERM for REALIZE ...) */
	if (!below(6)) {
		m = ioctl(fd, RDMA_JOB_IOC_MEMBER_FD, RDMA_JOB_MEMBER_FD_CLOEXEC);
		close(fd);
		return m;
	}
	return fd;
}

FIXTURE(fuzz)
{
	struct mem m;
	int fds[POOL];
};

FIXTURE_SETUP(fuzz)
{
	unsigned char *map;
	int i;

	fuzz_seed(_metadata);
	self->m.page = sysconf(_SC_PAGESIZE);
	self->m.buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->m.buf);
	map = mmap(NULL, 4 * self->m.page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	memset(map, 0, 4 * self->m.page);
	/* [edge page][guard][read-only][unmapped] */
	self->m.edge = map;
	ASSERT_EQ(0, mprotect(map + self->m.page, self->m.page, PROT_NONE));
	self->m.ro = map + 2 * self->m.page;
	fill_request(self->m.ro);
	ASSERT_EQ(0, mprotect(self->m.ro, self->m.page, PROT_READ));
	self->m.unmapped = map + 3 * self->m.page;
	ASSERT_EQ(0, munmap(self->m.unmapped, self->m.page));
	for (i = 0; i < POOL; i++)
		self->fds[i] = -1;
}

FIXTURE_TEARDOWN(fuzz)
{
	int i;

	for (i = 0; i < POOL; i++)
		if (self->fds[i] >= 0)
			close(self->fds[i]);
}

static void run(struct __test_metadata *_metadata, struct mem *m, int *fds,
		int realized)
{
	unsigned long iters = env_ul("UET_FUZZ_ITERS", 5000), n, ok = 0;
	unsigned long errs[256] = {};
	int i, fd, ret, e;

	for (i = 0; i < POOL; i++) {
		fds[i] = new_job(realized && below(4));
		ASSERT_LE(0, fds[i]) TH_LOG(JOB_DEV ": %s", strerror(errno));
	}
	for (n = 0; n < iters; n++) {
		unsigned long cmd = random_cmd();
		void *ptr = random_ptr(m, _IOC_SIZE(cmd));

		i = below(POOL);
		/* renew a job now and then: fresh jobs see REALIZE again */
		if (!below(32)) {
			close(fds[i]);
			fds[i] = new_job(realized && below(2));
			ASSERT_LE(0, fds[i]) TH_LOG(JOB_DEV ": %s", strerror(errno));
		}
		fd = fds[i];
		errno = 0;
		ret = ioctl(fd, cmd, ptr);
		e = errno;
		if (ret == 0) {
			ok++;
			continue;
		}
		/* MEMBER_FD: a new descriptor */
		if (ret > 0 && cmd == RDMA_JOB_IOC_MEMBER_FD) {
			ASSERT_EQ(0, close(ret));
			ok++;
			continue;
		}
		ASSERT_EQ(-1, ret) TH_LOG("ioctl(%#lx, %p) returned %d", cmd, ptr, ret);
		ASSERT_TRUE(allowed(e))
			TH_LOG("call %lu: ioctl(%#lx, %p): errno %d (%s) is not a documented one",
			       n, cmd, ptr, e, strerror(e));
		errs[e & 255]++;
	}
	TH_LOG("%lu calls: %lu ok, EINVAL %lu, ENOTTY %lu, EFAULT %lu, E2BIG %lu, EBUSY %lu, EEXIST %lu, EPROTONOSUPPORT %lu, EPERM %lu, EBADF %lu",
	       iters, ok, errs[EINVAL], errs[ENOTTY], errs[EFAULT], errs[E2BIG],
	       errs[EBUSY], errs[EEXIST], errs[EPROTONOSUPPORT], errs[EPERM],
	       errs[EBADF]);
	/* the generator reached the interesting outcomes */
	if (iters >= 1000) {
		EXPECT_LT(0, ok);
		EXPECT_LT(0, errs[EINVAL]);
		EXPECT_LT(0, errs[ENOTTY]);
		EXPECT_LT(0, errs[EFAULT]);
		EXPECT_LT(0, errs[EBUSY]);
	}
}

/* a pool of jobs that start empty */
TEST_F_TIMEOUT(fuzz, fresh_jobs, 600)
{
	run(_metadata, &self->m, self->fds, 0);
}

/* a pool that starts mostly realized, sealed or revoked */
TEST_F_TIMEOUT(fuzz, realized_jobs, 600)
{
	run(_metadata, &self->m, self->fds, 1);
}

TEST_HARNESS_MAIN
