// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libuet: joining a context to a job (UVERBS_METHOD_JOB_JOIN) and querying
 * the job it joined (UVERBS_METHOD_JOB_QUERY). Both are protocol-neutral
 * methods of the core's UVERBS_OBJECT_JOB, which exists on devices whose
 * driver supports jobs; the job is a /dev/infiniband/job file descriptor
 * (include/uapi/rdma/rdma_job.h).
 */

#include <errno.h>
#include <string.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_job.h>

#include "uet.h"

/* a kernel or device without the object answers EPROTONOSUPPORT */
static int uet_job_err(int err)
{
	return err == EPROTONOSUPPORT ? EOPNOTSUPP : err;
}

int uetdv_join_job(struct ibv_context *ibvctx, int job_fd)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_JOB,
			       UVERBS_METHOD_JOB_JOIN, 1);
	int err;

	if (!is_uet_dev(ibvctx->device))
		return EOPNOTSUPP;
	if (job_fd < 0)
		return EBADF;

	/*
	 * UVERBS_ATTR_RAW_FD: the number in .data with len 0, as
	 * fill_attr_in_fd() encodes it; the kernel looks it up in the
	 * caller's file table (EBADF if it is not open).
	 */
	fill_attr_in_fd(cmd, UVERBS_ATTR_JOB_JOIN_FD, job_fd);

	err = execute_ioctl(ibvctx, cmd);
	if (err) {
		err = uet_job_err(err);
		verbs_debug(verbs_get_ctx(ibvctx), "join job fd %d: %s\n",
			    job_fd, strerror(err));
	}
	return err;
}

int uetdv_query_job(struct ibv_context *ibvctx, struct uetdv_job_info *info,
		    uint32_t inlen)
{
	DECLARE_COMMAND_BUFFER(cmd, UVERBS_OBJECT_JOB,
			       UVERBS_METHOD_JOB_QUERY, 1);
	struct rdma_job_info kinfo = {};
	int err;

	if (!is_uet_dev(ibvctx->device))
		return EOPNOTSUPP;

	/* every field of the first version is mandatory */
	if (!vext_field_avail(typeof(*info), tc, inlen)) {
		verbs_err(verbs_get_ctx(ibvctx), "%s: inlen %u too small\n",
			  __func__, inlen);
		return EINVAL;
	}

	fill_attr_out_ptr(cmd, UVERBS_ATTR_JOB_QUERY_RESP, &kinfo);
	err = execute_ioctl(ibvctx, cmd);
	if (err)
		return uet_job_err(err);

	/* fields this library does not know stay zero for newer callers */
	memset(info, 0, inlen);
	info->protocol = kinfo.protocol;
	info->state = kinfo.state;
	info->members = kinfo.members;
	if (kinfo.protocol == RDMA_JOB_PROTO_UET) {
		info->job_id = kinfo.uet.job_id;
		info->pid_on_fep_base = kinfo.uet.pid_on_fep_base;
		info->max_endpoints = kinfo.uet.max_endpoints;
		info->tc = kinfo.uet.tc;
	}
	/* no optional fields yet */
	info->comp_mask = 0;

	return 0;
}

/* ibv_import_job() of the proposed UET verbs: a context imports the job
 * whose descriptor it was given, which is what joining is here */
int uetdv_import_job(struct ibv_context *ibvctx, int job_fd)
{
	return uetdv_join_job(ibvctx, job_fd);
}
