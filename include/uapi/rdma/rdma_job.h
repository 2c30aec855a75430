/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * RDMA jobs: /dev/infiniband/job.
 *
 * Opening /dev/infiniband/job creates an empty job container bound to the
 * opener's network namespace, and an *admin* file descriptor for it.
 * RDMA_JOB_IOC_REALIZE turns it into a job of one transport protocol (UET:
 * a JobID and its properties). File descriptors are capabilities:
 *
 *  - an admin descriptor opened for writing (O_WRONLY or O_RDWR) may
 *    REALIZE, SEAL, REVOKE and derive member descriptors (MEMBER_FD);
 *    opened O_RDONLY it may only QUERY and join (the others: EBADF);
 *  - a member descriptor (RDMA_JOB_IOC_MEMBER_FD) may only QUERY and join
 *    (the others: EPERM). Launchers hand these to the ranks.
 *
 * Whoever holds a descriptor of a realized job (by inheritance or
 * SCM_RIGHTS) can join a uverbs context to the job (UVERBS_METHOD_JOB_JOIN
 * of UVERBS_OBJECT_JOB, attribute UVERBS_ATTR_JOB_JOIN_FD) on a device whose
 * netdev is in the job's network namespace; the job then is the context's
 * security domain. See Documentation/userspace-api/rdma_job.rst.
 *
 * Layout rule for the structures here and every protocol block added to
 * them: fixed-size fields only, naturally aligned at offsets that are the
 * same on 32- and 64-bit ABIs; a 64-bit field is __aligned_u64 (as in
 * efa-abi.h), so that i386 and x86_64 agree.
 */

#ifndef RDMA_JOB_H
#define RDMA_JOB_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RDMA_JOB_IOCTL_MAGIC 0xEB

/*
 * Transport protocols a job can be realized for. REALIZE loads the module
 * of a protocol of this list on demand (alias rdma-job-proto-N); any other
 * number is EPROTONOSUPPORT without loading anything.
 */
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

/*
 * RDMA_JOB_IOC_QUERY result, also returned by UVERBS_METHOD_JOB_QUERY of
 * UVERBS_OBJECT_JOB (attribute UVERBS_ATTR_JOB_QUERY_RESP). Extensible:
 * the size user space gives (the ioctl's size field, at least 8; the
 * attribute's length, at least 72: up to reserved_80) is the size of the
 * struct it knows; a shorter one gets the first bytes, a longer one gets
 * the kernel's struct followed by zeroes, like copy_struct_to_user().
 */
struct rdma_job_info {
	__u32 protocol;		/* enum rdma_job_protocol */
	__u32 state;		/* enum rdma_job_state */
	__u32 members;		/* uverbs contexts that joined and did not leave */
	__u32 flags;		/* reserved, 0 */
	union {
		struct rdma_job_uet uet;
		__u8 reserved_80[56];
	};
	/*
	 * Member descriptors (from RDMA_JOB_IOC_MEMBER_FD) through which at
	 * least one current member joined: a launcher that gives each rank
	 * its own member descriptor counts the ranks that joined.
	 */
	__u32 member_fds;
	__u32 reserved_260;
};

/* RDMA_JOB_IOC_MEMBER_FD argument (the ioctl's third argument, by value) */
enum rdma_job_member_fd_flags {
	RDMA_JOB_MEMBER_FD_CLOEXEC = 1 << 0,	/* the new descriptor is O_CLOEXEC */
};

/*
 * Ioctl command numbers (the _IOC_NR field), in an enum so that Rust
 * bindgen resolves them; the ioctl numbers themselves are macros below
 * (an _IOWR() value does not fit the int an enumerator must be).
 * The errors of each (Documentation/userspace-api/rdma_job.rst has them all):
 *
 * REALIZE (admin, writable): EPERM on a member descriptor, EBADF on one
 *	opened O_RDONLY; EINVAL for out-of-range values, unknown flags or
 *	non-zero reserved fields (also a size below 8); E2BIG for non-zero
 *	bytes past the kernel's struct; EPROTONOSUPPORT for a protocol
 *	outside enum rdma_job_protocol (no module is loaded for it) or one
 *	whose module cannot be loaded; EBUSY if already realized (checked
 *	after the protocol number, before any module is loaded); EEXIST if the JobID is in use in this
 *	network namespace; EADDRNOTAVAIL if ALLOC finds no free JobID;
 *	ENOMEM; EFAULT. The struct is written back (with the allocated JobID); if
 *	that copy faults (EFAULT) the job stays realized and QUERY reports it.
 * QUERY (any job descriptor): the job's state, in any state; EINVAL for a
 *	size below 8; EFAULT.
 * SEAL (admin, writable): no new members; EPERM/EBADF as REALIZE; EINVAL
 *	if not realized; EPERM if revoked.
 * REVOKE (admin, writable): the job ends: every member is told (its
 *	resources go to an error state, later operations fail with EIO) and
 *	the JobID is free for a new job when REVOKE returns. EPERM/EBADF as
 *	REALIZE; EINVAL if not realized. Revoking a revoked job succeeds.
 * MEMBER_FD (admin, writable): returns a new member descriptor of the same
 *	job (in any state); the argument is enum rdma_job_member_fd_flags.
 *	EPERM/EBADF as REALIZE; EINVAL for unknown flags; EMFILE, ENFILE,
 *	ENOMEM.
 * Anything else (also a defined number with another direction or, except
 *	for REALIZE and QUERY, another size): ENOTTY.
 */
enum {
	RDMA_JOB_CMD_REALIZE = 0x01,
	RDMA_JOB_CMD_QUERY = 0x02,
	RDMA_JOB_CMD_SEAL = 0x03,
	RDMA_JOB_CMD_REVOKE = 0x04,
	RDMA_JOB_CMD_MEMBER_FD = 0x05,
};

#define RDMA_JOB_IOC_REALIZE \
	_IOWR(RDMA_JOB_IOCTL_MAGIC, RDMA_JOB_CMD_REALIZE, struct rdma_job_realize)
#define RDMA_JOB_IOC_QUERY \
	_IOR(RDMA_JOB_IOCTL_MAGIC, RDMA_JOB_CMD_QUERY, struct rdma_job_info)
#define RDMA_JOB_IOC_SEAL _IO(RDMA_JOB_IOCTL_MAGIC, RDMA_JOB_CMD_SEAL)
#define RDMA_JOB_IOC_REVOKE _IO(RDMA_JOB_IOCTL_MAGIC, RDMA_JOB_CMD_REVOKE)
#define RDMA_JOB_IOC_MEMBER_FD _IO(RDMA_JOB_IOCTL_MAGIC, RDMA_JOB_CMD_MEMBER_FD)

#endif /* RDMA_JOB_H */
