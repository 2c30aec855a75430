// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libuet: device matching, verbs_device_ops and user contexts.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uet.h"

static void uet_free_context(struct ibv_context *ibvctx);

static const struct verbs_match_ent uet_table[] = {
	VERBS_DRIVER_ID(RDMA_DRIVER_UET),
	{}
};

/*
 * Verbs not listed here (SRQs, MWs, RDMA, ...) are not provided:
 * libibverbs answers them with EOPNOTSUPP/ENOSYS. QPs are UET endpoints
 * (IBV_QPT_DRIVER, see uetdv_create_qp_ex()); address handles are
 * user-space objects naming a peer's FEP address.
 */
static const struct verbs_context_ops uet_ctx_ops = {
	.alloc_pd = uet_alloc_pd,
	.create_ah = uet_create_ah,
	.create_cq = uet_create_cq,
	.create_cq_ex = uet_create_cq_ex,
	.create_qp = uet_create_qp,
	.create_qp_ex = uet_create_qp_ex,
	.dealloc_pd = uet_dealloc_pd,
	.dereg_mr = uet_dereg_mr,
	.destroy_ah = uet_destroy_ah,
	.destroy_cq = uet_destroy_cq,
	.destroy_qp = uet_destroy_qp,
	.modify_qp = uet_modify_qp,
	.poll_cq = uet_poll_cq,
	.post_recv = uet_post_recv,
	.post_send = uet_post_send,
	.query_device_ex = uet_query_device_ex,
	.query_port = uet_query_port,
	.query_qp = uet_query_qp,
	.reg_mr = uet_reg_mr,
	.req_notify_cq = uet_arm_cq,
	.free_context = uet_free_context,
};

static struct verbs_context *uet_alloc_context(struct ibv_device *ibvdev,
					       int cmd_fd,
					       void *private_data)
{
	struct uet_alloc_ucontext_resp resp = {};
	struct uet_alloc_ucontext cmd = {};
	struct uet_context *ctx;
	int err;

	ctx = verbs_init_and_alloc_context(ibvdev, cmd_fd, ctx, ibvctx,
					   RDMA_DRIVER_UET);
	if (!ctx)
		return NULL;

	err = ibv_cmd_get_context(&ctx->ibvctx, &cmd.ibv_cmd, sizeof(cmd),
				  &resp.ibv_resp, sizeof(resp));
	if (err) {
		verbs_err(&ctx->ibvctx, "ibv_cmd_get_context failed: %d\n",
			  err);
		errno = err;
		goto err_free_ctx;
	}

	/* poll_cq reads the ring with our struct layout: it must match */
	if (resp.cqe_size != sizeof(struct uet_cqe)) {
		verbs_err(&ctx->ibvctx,
			  "kernel CQE size %u, libuet expects %zu\n",
			  resp.cqe_size, sizeof(struct uet_cqe));
		errno = EPROTO;
		goto err_free_ctx;
	}

	ctx->dev_caps = resp.dev_caps;
	ctx->max_cqe = resp.max_cqe;
	ctx->cqe_size = resp.cqe_size;
	ctx->max_msg_size = resp.max_msg_size;
	ctx->max_pdc = resp.max_pdc;
	ctx->profiles = resp.profiles;
	ctx->max_endpoints = resp.max_endpoints;
	ctx->mtu = resp.mtu;
	ctx->uet_version_major = resp.uet_version_major;
	ctx->uet_version_minor = resp.uet_version_minor;

	pthread_mutex_init(&ctx->job_lock, NULL);
	verbs_set_ops(&ctx->ibvctx, &uet_ctx_ops);
	verbs_set_ops(&ctx->ibvctx, &uet_ru_ops);

	return &ctx->ibvctx;

err_free_ctx:
	verbs_uninit_context(&ctx->ibvctx);
	free(ctx);
	return NULL;
}

static void uet_free_context(struct ibv_context *ibvctx)
{
	struct uet_context *ctx = to_uet_context(ibvctx);

	/* the job (its descriptor, address table) and job keys */
	uet_ru_free_context(ctx);
	pthread_mutex_destroy(&ctx->job_lock);
	verbs_uninit_context(&ctx->ibvctx);
	free(ctx);
}

static struct verbs_device *uet_device_alloc(struct verbs_sysfs_dev *sysfs_dev)
{
	struct uet_device *dev;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;

	dev->pg_sz = sysconf(_SC_PAGESIZE);

	return &dev->vdev;
}

static void uet_uninit_device(struct verbs_device *verbs_device)
{
	struct uet_device *dev = to_uet_dev(&verbs_device->device);

	free(dev);
}

static const struct verbs_device_ops uet_dev_ops = {
	.name = "uet",
	.match_min_abi_version = UET_UVERBS_ABI_VERSION,
	.match_max_abi_version = UET_UVERBS_ABI_VERSION,
	.match_table = uet_table,
	.alloc_device = uet_device_alloc,
	.uninit_device = uet_uninit_device,
	.alloc_context = uet_alloc_context,
};

bool is_uet_dev(struct ibv_device *device)
{
	struct verbs_device *verbs_device = verbs_get_device(device);

	return verbs_device->ops == &uet_dev_ops;
}
PROVIDER_DRIVER(uet, uet_dev_ops);
