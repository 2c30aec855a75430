// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_job_ctl: one job ioctl on an inherited descriptor, for the shell
 * tests (uet_launch.sh checks what a rank's descriptor may do).
 *
 *	uet_job_ctl FD query|seal|revoke|realize|member
 *
 * Prints "ok" (query: "ok STATE JOBID MEMBERS MEMBER_FDS") or the errno
 * name, and exits 0 either way; 2 for bad usage.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rdma/rdma_job.h>

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case ENOTTY: return "ENOTTY";
	case EEXIST: return "EEXIST";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	struct rdma_job_realize r = { .protocol = RDMA_JOB_PROTO_UET };
	struct rdma_job_info info = {};
	const char *op;
	int fd, ret;

	if (argc != 3)
		goto usage;
	fd = atoi(argv[1]);
	op = argv[2];
	if (!strcmp(op, "query")) {
		ret = ioctl(fd, RDMA_JOB_IOC_QUERY, &info);
	} else if (!strcmp(op, "seal")) {
		ret = ioctl(fd, RDMA_JOB_IOC_SEAL);
	} else if (!strcmp(op, "revoke")) {
		ret = ioctl(fd, RDMA_JOB_IOC_REVOKE);
	} else if (!strcmp(op, "member")) {
		ret = ioctl(fd, RDMA_JOB_IOC_MEMBER_FD, 0ul);
	} else if (!strcmp(op, "realize")) {
		r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
		r.uet.max_endpoints = 1;
		ret = ioctl(fd, RDMA_JOB_IOC_REALIZE, &r);
	} else {
		goto usage;
	}
	if (ret < 0)
		printf("%s\n", errname(errno));
	else if (!strcmp(op, "query"))
		printf("ok %u %u %u %u\n", info.state, info.uet.job_id,
		       info.members, info.member_fds);
	else
		printf("ok\n");
	return 0;
usage:
	fprintf(stderr, "usage: uet_job_ctl FD query|seal|revoke|realize|member\n");
	return 2;
}
