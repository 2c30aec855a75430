/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * libuet: the rdma-core provider of Ultra Ethernet Transport devices
 * (driver id RDMA_DRIVER_UET, e.g. the uet_soft software device).
 */

#ifndef __UET_H__
#define __UET_H__

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/driver.h>

#include "uet-abi.h"
#include "uetdv.h"

struct uet_device {
	struct verbs_device vdev;
	size_t pg_sz;
};

struct uet_context {
	struct verbs_context ibvctx;
	/* from uet_ibv_alloc_ucontext_resp */
	uint32_t dev_caps;
	uint32_t max_cqe;
	uint32_t cqe_size;
	uint32_t max_msg_size;
	uint32_t max_pdc;
	uint16_t profiles;
	uint16_t max_endpoints;
	uint16_t mtu;
	uint8_t uet_version_major;
	uint8_t uet_version_minor;
};

struct uet_cq {
	struct verbs_cq vcq;
	/* serialises pollers: one consumer index per ring */
	pthread_spinlock_t lock;
	/* the mapped ring: header, then num_entries CQEs */
	void *ring;
	size_t ring_size;
	struct uet_cq_ring_hdr *hdr;
	struct uet_cqe *cqes;
	uint32_t num_entries;
	/* entries consumed so far, runs free like the ring's indexes */
	uint32_t cons_idx;
	uint32_t cq_idx;
};

static inline struct uet_device *to_uet_dev(struct ibv_device *ibvdev)
{
	return container_of(ibvdev, struct uet_device, vdev.device);
}

static inline struct uet_context *to_uet_context(struct ibv_context *ibvctx)
{
	return container_of(ibvctx, struct uet_context, ibvctx.context);
}

static inline struct uet_cq *to_uet_cq(struct ibv_cq *ibvcq)
{
	return container_of(ibvcq, struct uet_cq, vcq.cq);
}

bool is_uet_dev(struct ibv_device *device);

int uet_query_device_ex(struct ibv_context *ibvctx,
			const struct ibv_query_device_ex_input *input,
			struct ibv_device_attr_ex *attr, size_t attr_size);
int uet_query_port(struct ibv_context *ibvctx, uint8_t port,
		   struct ibv_port_attr *port_attr);

struct ibv_pd *uet_alloc_pd(struct ibv_context *ibvctx);
int uet_dealloc_pd(struct ibv_pd *ibvpd);

struct ibv_mr *uet_reg_mr(struct ibv_pd *ibvpd, void *addr, size_t length,
			  uint64_t hca_va, int access);
int uet_dereg_mr(struct verbs_mr *vmr);

struct ibv_cq *uet_create_cq(struct ibv_context *ibvctx, int ncqe,
			     struct ibv_comp_channel *channel, int vec);
int uet_destroy_cq(struct ibv_cq *ibvcq);
int uet_poll_cq(struct ibv_cq *ibvcq, int nwc, struct ibv_wc *wc);
int uet_arm_cq(struct ibv_cq *ibvcq, int solicited_only);

#endif /* __UET_H__ */
