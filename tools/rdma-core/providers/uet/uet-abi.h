/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Command and response buffers of the uet uverbs ABI
 * (kernel-headers/rdma/uet-abi.h) wrapped for libibverbs.
 */

#ifndef __UET_ABI_H__
#define __UET_ABI_H__

#include <infiniband/kern-abi.h>
#include <kernel-abi/uet-abi.h>
#include <rdma/uet-abi.h>

DECLARE_DRV_CMD(uet_alloc_ucontext, IB_USER_VERBS_CMD_GET_CONTEXT,
		uet_ibv_alloc_ucontext_cmd, uet_ibv_alloc_ucontext_resp);
DECLARE_DRV_CMD(uet_create_cq, IB_USER_VERBS_CMD_CREATE_CQ,
		uet_ibv_create_cq, uet_ibv_create_cq_resp);
DECLARE_DRV_CMD(uet_create_qp, IB_USER_VERBS_CMD_CREATE_QP,
		uet_ibv_create_qp, uet_ibv_create_qp_resp);
DECLARE_DRV_CMD(uet_reg_mr, IB_USER_VERBS_CMD_REG_MR,
		uet_ibv_reg_mr, empty);

#endif /* __UET_ABI_H__ */
