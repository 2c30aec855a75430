/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * RDMA jobs: /dev/infiniband/job.
 *
 * Opening /dev/infiniband/job creates an empty job container bound to the
 * opener's network namespace. RDMA_JOB_IOC_REALIZE turns it into a job of
 * one transport protocol (UET: a JobID and its properties). The file
 * descriptor is the capability: whoever holds it (by inheritance or
 * SCM_RIGHTS) can join a uverbs context to the job (UVERBS_METHOD_JOIN_JOB),
 * which then is the context's security domain. See
 * Documentation/userspace-api/rdma_job.rst.
 */

#ifndef RDMA_JOB_H
#define RDMA_JOB_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RDMA_JOB_IOCTL_MAGIC 0xEB

/* Transport protocols a job can be realized for */
enum rdma_job_protocol {
	RDMA_JOB_PROTO_NONE = 0,	/* not realized yet */
	RDMA_JOB_PROTO_UET = 1,		/* Ultra Ethernet Transport */
};

enum rdma_job_state {
	RDMA_JOB_STATE_EMPTY = 0,	/* opened, not realized */
	RDMA_JOB_STATE_ACTIVE = 1,	/* realized, accepting members */
	RDMA_JOB_STATE_SEALED = 2,	/* realized, no new members */
	RDMA_JOB_STATE_REVOKED = 3,	/* ended: members can no longer use it */
};

/* rdma_job_uet.flags */
enum rdma_job_uet_flags {
	/* let the kernel pick a free JobID; job_id must be 0 */
	RDMA_JOB_UET_F_ALLOC_JOB_ID = 1 << 0,
};

#define RDMA_JOB_UET_MAX_JOB_ID 0xffffff	/* 24 bits, 0 is invalid */
#define RDMA_JOB_UET_MAX_PID_ON_FEP 0xfff	/* 12 bits */
#define RDMA_JOB_UET_MAX_TC 15

/* UET job properties */
struct rdma_job_uet {
	__u32 job_id;		/* 1..RDMA_JOB_UET_MAX_JOB_ID; out with ALLOC */
	__u32 flags;		/* enum rdma_job_uet_flags */
	__u16 pid_on_fep_base;	/* first PIDonFEP of the job */
	__u16 max_endpoints;	/* PIDonFEPs [base, base + max_endpoints) */
	__u8 tc;		/* traffic class, 0..RDMA_JOB_UET_MAX_TC */
	__u8 reserved_68[11];
};

/*
 * RDMA_JOB_IOC_REALIZE argument. Extensible: the ioctl's size field is
 * the size of the struct user space knows; a shorter struct reads as
 * zero-extended, a longer one must be zero past the part the kernel knows
 * (else E2BIG), like copy_struct_from_user().
 */
struct rdma_job_realize {
	__u32 protocol;		/* enum rdma_job_protocol */
	__u32 flags;		/* none defined yet, must be 0 */
	union {
		struct rdma_job_uet uet;
		__u8 reserved_40[56];	/* room for other protocols */
	};
};

/* RDMA_JOB_IOC_QUERY result, also returned by UVERBS_METHOD_QUERY_JOB */
struct rdma_job_info {
	__u32 protocol;		/* enum rdma_job_protocol */
	__u32 state;		/* enum rdma_job_state */
	__u32 members;		/* uverbs contexts that joined */
	__u32 flags;		/* reserved, 0 */
	union {
		struct rdma_job_uet uet;
		__u8 reserved_80[56];
	};
};

/*
 * Ioctl numbers are in an enum so that they can be resolved by Rust bindgen.
 *
 * REALIZE: EBUSY if already realized; EPROTONOSUPPORT for an unknown or
 *	unloaded protocol; EEXIST if the JobID is in use in this network
 *	namespace; EINVAL for out-of-range values, unknown flags or non-zero
 *	reserved fields; EADDRNOTAVAIL if ALLOC finds no free JobID. The
 *	struct is written back (with the allocated JobID); if that copy
 *	faults (EFAULT) the job stays realized and QUERY reports it.
 * QUERY: the job's state (any state).
 * SEAL: no new members; EINVAL if not realized; EPERM if revoked.
 * REVOKE: the job ends; its JobID stays taken until the last reference to
 *	the job goes. Members' resources go to an error state and their later
 *	operations fail with EIO. EINVAL if not realized.
 * Anything else: ENOTTY.
 */
enum {
	RDMA_JOB_IOC_REALIZE = _IOWR(RDMA_JOB_IOCTL_MAGIC, 0x01, struct rdma_job_realize),
	RDMA_JOB_IOC_QUERY = _IOR(RDMA_JOB_IOCTL_MAGIC, 0x02, struct rdma_job_info),
	RDMA_JOB_IOC_SEAL = _IO(RDMA_JOB_IOCTL_MAGIC, 0x03),
	RDMA_JOB_IOC_REVOKE = _IO(RDMA_JOB_IOCTL_MAGIC, 0x04),
};

#endif /* RDMA_JOB_H */
