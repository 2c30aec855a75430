/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Direct verbs of Ultra Ethernet Transport (UET) devices: what libibverbs
 * cannot express. Link with -luet.
 */

#ifndef __UETDV_H__
#define __UETDV_H__

#include <stdint.h>

#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device capabilities, in uetdv_device_attr.dev_caps */
enum uetdv_device_caps {
	UETDV_DEVICE_CAP_RUD = 1 << 0,		/* reliable unordered delivery */
	UETDV_DEVICE_CAP_ROD = 1 << 1,		/* reliable ordered delivery */
	UETDV_DEVICE_CAP_RUDI = 1 << 2,		/* reliable unordered, idempotent */
	UETDV_DEVICE_CAP_UUD = 1 << 3,		/* unreliable unordered delivery */
	UETDV_DEVICE_CAP_TAGGED = 1 << 4,	/* tagged send/receive matching */
	UETDV_DEVICE_CAP_JOBS = 1 << 5,		/* contexts join jobs */
};

/* UET profiles (UEC 1.0), in uetdv_device_attr.profiles */
enum uetdv_profiles {
	UETDV_PROFILE_AI_BASE = 1 << 0,
	UETDV_PROFILE_AI_FULL = 1 << 1,
	UETDV_PROFILE_HPC = 1 << 2,
};

struct uetdv_device_attr {
	uint64_t comp_mask;
	uint32_t dev_caps;		/* enum uetdv_device_caps */
	uint32_t profiles;		/* enum uetdv_profiles */
	uint32_t max_pdc;		/* packet delivery contexts per device */
	uint32_t max_endpoints;		/* endpoints per context */
	uint32_t mtu;			/* UET payload bytes per packet */
	uint32_t max_msg_size;		/* bytes */
	uint32_t max_cqe;		/* entries of the largest CQ */
	uint32_t cqe_size;		/* bytes per completion ring entry */
	uint8_t uet_version_major;
	uint8_t uet_version_minor;
	uint8_t reserved[6];
};

int uetdv_query_device(struct ibv_context *ibvctx,
		       struct uetdv_device_attr *attr, uint32_t inlen);

/*
 * Jobs: a context joins the job whose file descriptor (an open
 * /dev/infiniband/job, usually inherited from uet-launch as $UET_JOB_FD)
 * it presents. Its UET resources then belong to that job.
 */
enum uetdv_job_protocol {
	UETDV_JOB_PROTO_NONE = 0,
	UETDV_JOB_PROTO_UET = 1,
};

enum uetdv_job_state {
	UETDV_JOB_STATE_EMPTY = 0,	/* not realized */
	UETDV_JOB_STATE_ACTIVE = 1,	/* accepting members */
	UETDV_JOB_STATE_SEALED = 2,	/* no new members */
	UETDV_JOB_STATE_REVOKED = 3,	/* ended */
};

struct uetdv_job_info {
	uint64_t comp_mask;
	uint32_t protocol;		/* enum uetdv_job_protocol */
	uint32_t state;			/* enum uetdv_job_state */
	uint32_t members;		/* contexts that joined the job */
	uint32_t job_id;		/* UET JobID, 24 bits */
	uint16_t pid_on_fep_base;	/* first PIDonFEP of the job */
	uint16_t max_endpoints;		/* PIDonFEPs of the job */
	uint8_t tc;			/* traffic class */
	uint8_t reserved[3];
};

int uetdv_join_job(struct ibv_context *ibvctx, int job_fd);
int uetdv_query_job(struct ibv_context *ibvctx, struct uetdv_job_info *info,
		    uint32_t inlen);

#ifdef __cplusplus
}
#endif

#endif /* __UETDV_H__ */
