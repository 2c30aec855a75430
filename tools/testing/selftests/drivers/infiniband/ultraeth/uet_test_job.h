/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Shared by the verbs selftests: a context must join a job before it can
 * register memory (include/uapi/rdma/rdma_job.h). uet_test_join() realizes
 * a UET job with an allocated JobID on /dev/infiniband/job and joins @ctx
 * to it; the job lives while the returned fd (or the context) holds it.
 */
#ifndef UET_TEST_JOB_H
#define UET_TEST_JOB_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <infiniband/uetdv.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_job.h>

/* a realized UET job with an allocated JobID: its fd, or -errno */
static inline int uet_test_job_new(void)
{
	struct rdma_job_realize r;
	int fd, err;

	fd = open("/dev/infiniband/job", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.protocol = RDMA_JOB_PROTO_UET;
	r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
	r.uet.max_endpoints = 16;
	if (ioctl(fd, RDMA_JOB_IOC_REALIZE, &r)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* joins @ctx to a new job: the job fd, or -errno */
static inline int uet_test_join(struct ibv_context *ctx)
{
	int fd = uet_test_job_new(), err;

	if (fd < 0)
		return fd;
	err = uetdv_join_job(ctx, fd);
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

#endif /* UET_TEST_JOB_H */
