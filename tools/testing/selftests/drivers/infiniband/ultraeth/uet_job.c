// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * RDMA jobs: /dev/infiniband/job (include/uapi/rdma/rdma_job.h) and joining
 * a uverbs context to a job through libuet (uetdv_join_job,
 * uetdv_query_job). This is the security boundary of UET, so every rule of
 * the contract is checked for its real outcome:
 *
 *  - the device node: root only; an unprivileged user gets EACCES, yet
 *    can use a job FD it was handed;
 *  - REALIZE: the valid request, each invalid one (EINVAL, and the job
 *    stays empty), EBUSY, EPROTONOSUPPORT, ENOTTY, the extensible size
 *    (zero-extended when shorter, E2BIG for non-zero bytes past the known
 *    struct), JobID allocation, EEXIST per network namespace;
 *    and no module request for a protocol outside enum rdma_job_protocol;
 *  - QUERY (extensible: a larger struct gets its tail cleared), SEAL and
 *    REVOKE through the states;
 *  - rights: member descriptors (MEMBER_FD) and read-only admin
 *    descriptors query and join but cannot REALIZE, SEAL, REVOKE or make
 *    member descriptors (EPERM, EBADF); member_fds counts member
 *    descriptors with a member, not contexts;
 *  - JOIN: EBADF without the FD, EINVAL for a non-job or empty job, an FD
 *    received over SCM_RIGHTS works, EPERM when sealed, EKEYREVOKED when
 *    revoked, EBUSY for a second join, EXDEV from another netns, and
 *    EXDEV for a job of another netns with the same JobID on the same
 *    device; a netdev that leaves its namespace takes the device and its
 *    memberships with it;
 *  - lifetime: the job and its JobID live while a member holds it after
 *    its creator closed the FD; REVOKE with members makes their later
 *    verbs fail with EIO, frees the JobID at once and tears down cleanly.
 *
 * The join tests need a uet device: uet_job.sh creates uet0 on veth0 and
 * runs this program (UET_DEV names the device, else the first "uet*").
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/uetdv.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_job.h>

#include "kselftest_harness.h"

#define JOB_DEV "/dev/infiniband/job"

/* JobIDs used here; every test closes its jobs, which frees them */
#define ID_A 0x7e0001
#define ID_B 0x7e0002
#define ID_C 0x7e0003

/* the uid/gid of "uetuser" in the guest's /etc/passwd */
#define UNPRIV_ID 1000

static int job_open(void)
{
	return open(JOB_DEV, O_RDWR | O_CLOEXEC);
}

static struct rdma_job_realize uet_req(uint32_t id, uint16_t base,
				       uint16_t max, uint8_t tc)
{
	struct rdma_job_realize r;

	memset(&r, 0, sizeof(r));
	r.protocol = RDMA_JOB_PROTO_UET;
	r.uet.job_id = id;
	r.uet.pid_on_fep_base = base;
	r.uet.max_endpoints = max;
	r.uet.tc = tc;
	return r;
}

/* 0 or the errno of the ioctl */
static int do_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static int realize(int fd, struct rdma_job_realize *r)
{
	return do_ioctl(fd, RDMA_JOB_IOC_REALIZE, r);
}

/* REALIZE with the ioctl size field set to @size */
static int realize_sized(int fd, void *buf, size_t size)
{
	return do_ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, RDMA_JOB_IOCTL_MAGIC,
				 0x01, size), buf);
}

static int job_query(int fd, struct rdma_job_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	return do_ioctl(fd, RDMA_JOB_IOC_QUERY, info);
}

static int job_seal(int fd)
{
	return do_ioctl(fd, RDMA_JOB_IOC_SEAL, NULL);
}

static int job_revoke(int fd)
{
	return do_ioctl(fd, RDMA_JOB_IOC_REVOKE, NULL);
}

/* a new UET job with JobID @id (0: allocated): its fd, or -errno */
static int job_new(uint32_t id)
{
	struct rdma_job_realize r = uet_req(id, 0, 64, 0);
	int fd, err;

	if (!id)
		r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
	fd = job_open();
	if (fd < 0)
		return -errno;
	err = realize(fd, &r);
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

/* the state of the job open as @fd, or -1 */
static int job_state(int fd)
{
	struct rdma_job_info info;

	return job_query(fd, &info) ? -1 : (int)info.state;
}

static int all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len--)
		if (*b++)
			return 0;
	return 1;
}

/*
 * Run @fn(@arg) in a child process; returns its exit status, or -1 if it
 * did not exit normally.
 */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (!pid)
		_exit(fn(arg));
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(UNPRIV_ID) || setuid(UNPRIV_ID))
		return -1;
	return getuid() == UNPRIV_ID && geteuid() == UNPRIV_ID ? 0 : -1;
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte = 'j';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* a descriptor received over @sock, or -1 */
static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* the uet device context, or NULL */
static struct ibv_context *uet_open(void)
{
	const char *want = getenv("UET_DEV");
	struct ibv_context *ctx = NULL;
	struct ibv_device **list;
	int i;

	list = ibv_get_device_list(NULL);
	if (!list)
		return NULL;
	for (i = 0; list[i]; i++) {
		const char *n = ibv_get_device_name(list[i]);

		if (want ? !strcmp(n, want) : !strncmp(n, "uet", 3)) {
			ctx = ibv_open_device(list[i]);
			break;
		}
	}
	ibv_free_device_list(list);
	return ctx;
}

/* ---- the device node --------------------------------------------------- */

/* a root-only character device */
TEST(device_node)
{
	struct stat st;
	int fd;

	ASSERT_EQ(0, stat(JOB_DEV, &st)) TH_LOG(JOB_DEV ": %s", strerror(errno));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);
	fd = job_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, close(fd));
}

static int unpriv_open(void *arg)
{
	int fd;

	if (drop_privileges())
		return 10;
	fd = open(JOB_DEV, O_RDWR);
	if (fd >= 0)
		return 11;
	if (errno != EACCES)
		return 12;
	fd = open(JOB_DEV, O_RDONLY);
	if (fd >= 0 || errno != EACCES)
		return 13;
	return 0;
}

/* an unprivileged user cannot open the device: EACCES */
TEST(unprivileged_open)
{
	EXPECT_EQ(0, in_child(unpriv_open, NULL))
		TH_LOG("10: cannot become uid %d, 11: open succeeded, 12/13: errno is not EACCES",
		       UNPRIV_ID);
}

/* ---- REALIZE, QUERY, SEAL, REVOKE ---------------------------------------- */

/* a fresh job is empty; QUERY works in every state */
TEST(query_empty)
{
	struct rdma_job_info info;
	int fd = job_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, job_query(fd, &info));
	EXPECT_EQ(RDMA_JOB_PROTO_NONE, info.protocol);
	EXPECT_EQ(RDMA_JOB_STATE_EMPTY, info.state);
	EXPECT_EQ(0, info.members);
	EXPECT_EQ(0, info.flags);
	EXPECT_TRUE(all_zero(&info.uet, sizeof(info.reserved_80)));
	close(fd);
}

TEST(realize_fixed)
{
	struct rdma_job_realize r = uet_req(ID_A, 16, 32, 7);
	struct rdma_job_info info;
	int fd = job_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, realize(fd, &r));
	EXPECT_EQ(ID_A, r.uet.job_id);
	ASSERT_EQ(0, job_query(fd, &info));
	EXPECT_EQ(RDMA_JOB_PROTO_UET, info.protocol);
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, info.state);
	EXPECT_EQ(0, info.members);
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(ID_A, info.uet.job_id);
	EXPECT_EQ(0, info.uet.flags);
	EXPECT_EQ(16, info.uet.pid_on_fep_base);
	EXPECT_EQ(32, info.uet.max_endpoints);
	EXPECT_EQ(7, info.uet.tc);
	EXPECT_TRUE(all_zero(info.uet.reserved_68, sizeof(info.uet.reserved_68)));
	close(fd);
}

/* the extremes of every range are valid */
TEST(realize_limits)
{
	struct rdma_job_realize r;
	int fd;

	r = uet_req(RDMA_JOB_UET_MAX_JOB_ID, RDMA_JOB_UET_MAX_PID_ON_FEP, 1,
		    RDMA_JOB_UET_MAX_TC);
	fd = job_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, realize(fd, &r));
	close(fd);

	r = uet_req(1, 0, RDMA_JOB_UET_MAX_PID_ON_FEP + 1, 0);
	fd = job_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, realize(fd, &r));
	close(fd);
}

/* each invalid request: EINVAL, and the job is still empty and usable */
TEST(realize_einval)
{
	static const struct {
		const char *what;
		uint32_t id, uflags, flags;
		uint16_t base, max;
		uint8_t tc;
		int byte; /* offset in struct rdma_job_realize set to 1, or -1 */
	} c[] = {
		{ "JobID 0", 0, 0, 0, 0, 64, 0, -1 },
		{ "JobID > 24 bits", RDMA_JOB_UET_MAX_JOB_ID + 1, 0, 0, 0, 64, 0, -1 },
		{ "JobID 0xffffffff", 0xffffffff, 0, 0, 0, 64, 0, -1 },
		{ "ALLOC with a JobID", ID_A, RDMA_JOB_UET_F_ALLOC_JOB_ID, 0, 0, 64, 0, -1 },
		{ "unknown UET flag", ID_A, 1 << 1, 0, 0, 64, 0, -1 },
		{ "unknown UET flag 31", ID_A, 1u << 31, 0, 0, 64, 0, -1 },
		{ "realize.flags", ID_A, 0, 1, 0, 64, 0, -1 },
		{ "max_endpoints 0", ID_A, 0, 0, 0, 0, 0, -1 },
		{ "base + max > 4096", ID_A, 0, 0, 4095, 2, 0, -1 },
		{ "max_endpoints 4097", ID_A, 0, 0, 0, 4097, 0, -1 },
		{ "base 0xffff", ID_A, 0, 0, 0xffff, 1, 0, -1 },
		{ "tc 16", ID_A, 0, 0, 0, 64, 16, -1 },
		{ "tc 255", ID_A, 0, 0, 0, 64, 255, -1 },
		{ "uet.reserved_68[0]", ID_A, 0, 0, 0, 64, 0,
		  offsetof(struct rdma_job_realize, uet.reserved_68) },
		{ "uet.reserved_68[10]", ID_A, 0, 0, 0, 64, 0,
		  offsetof(struct rdma_job_realize, uet.reserved_68) + 10 },
		{ "union byte after rdma_job_uet", ID_A, 0, 0, 0, 64, 0,
		  8 + sizeof(struct rdma_job_uet) },
		{ "last union byte", ID_A, 0, 0, 0, 64, 0,
		  sizeof(struct rdma_job_realize) - 1 },
	};
	struct rdma_job_realize r;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int fd = job_open();

		ASSERT_LE(0, fd);
		r = uet_req(c[i].id, c[i].base, c[i].max, c[i].tc);
		r.uet.flags = c[i].uflags;
		r.flags = c[i].flags;
		if (c[i].byte >= 0)
			((unsigned char *)&r)[c[i].byte] = 1;
		EXPECT_EQ(EINVAL, realize(fd, &r)) TH_LOG("case: %s", c[i].what);
		EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd)) TH_LOG("case: %s", c[i].what);
		/* nothing was taken: the same job realizes validly now */
		r = uet_req(ID_A, 0, 64, 0);
		EXPECT_EQ(0, realize(fd, &r)) TH_LOG("after case: %s", c[i].what);
		close(fd);
	}
}

/* a realized job cannot be realized again */
TEST(realize_ebusy)
{
	struct rdma_job_realize r = uet_req(ID_A, 0, 64, 0);
	struct rdma_job_info info;
	int fd = job_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, realize(fd, &r));
	r = uet_req(ID_A, 0, 64, 0);
	EXPECT_EQ(EBUSY, realize(fd, &r));
	r = uet_req(ID_B, 0, 64, 0);
	EXPECT_EQ(EBUSY, realize(fd, &r));
	r = uet_req(0, 0, 64, 0);
	r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
	EXPECT_EQ(EBUSY, realize(fd, &r));
	/* also after SEAL and REVOKE */
	ASSERT_EQ(0, job_seal(fd));
	r = uet_req(ID_B, 0, 64, 0);
	EXPECT_EQ(EBUSY, realize(fd, &r));
	ASSERT_EQ(0, job_revoke(fd));
	EXPECT_EQ(EBUSY, realize(fd, &r));
	ASSERT_EQ(0, job_query(fd, &info));
	EXPECT_EQ(ID_A, info.uet.job_id);
	close(fd);
	/* ID_B was never taken */
	fd = job_new(ID_B);
	EXPECT_LE(0, fd) TH_LOG("JobID %#x: %s", ID_B, strerror(-fd));
	close(fd);
}

TEST(realize_unknown_protocol)
{
	static const uint32_t proto[] = { RDMA_JOB_PROTO_NONE, 2, 0x100,
					  0xffffffff };
	struct rdma_job_realize r;
	unsigned int i;
	int fd = job_open();

	ASSERT_LE(0, fd);
	for (i = 0; i < ARRAY_SIZE(proto); i++) {
		r = uet_req(ID_A, 0, 64, 0);
		r.protocol = proto[i];
		EXPECT_EQ(EPROTONOSUPPORT, realize(fd, &r))
			TH_LOG("protocol %#x", proto[i]);
		EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd));
	}
	close(fd);
}

TEST(unknown_ioctls)
{
	struct rdma_job_realize r = uet_req(ID_A, 0, 64, 0);
	char buf[256] = {};
	int fd = job_open();

	ASSERT_LE(0, fd);
	/* numbers the job device does not define */
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IO(RDMA_JOB_IOCTL_MAGIC, 0x00), NULL));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IO(RDMA_JOB_IOCTL_MAGIC, 0x06), NULL));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOWR(RDMA_JOB_IOCTL_MAGIC, 0xff, char[256]), buf));
	/* another magic with the same numbers */
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOWR(0xEA, 0x01, struct rdma_job_realize), &r));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IO('x', 0x03), NULL));
	/* a defined number with the wrong direction */
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOW(RDMA_JOB_IOCTL_MAGIC, 0x01, struct rdma_job_realize), &r));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IO(RDMA_JOB_IOCTL_MAGIC, 0x01), NULL));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOW(RDMA_JOB_IOCTL_MAGIC, 0x02, struct rdma_job_info), buf));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOR(RDMA_JOB_IOCTL_MAGIC, 0x03, int), buf));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOW(RDMA_JOB_IOCTL_MAGIC, 0x04, int), buf));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOR(RDMA_JOB_IOCTL_MAGIC, 0x05, int), buf));
	EXPECT_EQ(ENOTTY, do_ioctl(fd, _IOWR(RDMA_JOB_IOCTL_MAGIC, 0x05, int), buf));
	/* none of them touched the job */
	EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd));
	close(fd);
}

/* REALIZE is extensible: a shorter struct is zero-extended, a longer one
 * must be zero past the kernel's struct (E2BIG otherwise)
 */
TEST(realize_sizes)
{
	static const size_t big[] = { sizeof(struct rdma_job_realize) + 1, 128,
				      4096, _IOC_SIZEMASK };
	struct rdma_job_realize r = uet_req(ID_A, 8, 16, 3);
	struct rdma_job_info info;
	unsigned char *buf;
	unsigned int i;
	int fd;

	buf = calloc(1, _IOC_SIZEMASK + 1);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < ARRAY_SIZE(big); i++) {
		/* non-zero last byte: E2BIG, nothing realized */
		memset(buf, 0, big[i]);
		memcpy(buf, &r, sizeof(r));
		buf[big[i] - 1] = 0x80;
		fd = job_open();
		ASSERT_LE(0, fd);
		EXPECT_EQ(E2BIG, realize_sized(fd, buf, big[i])) TH_LOG("size %zu", big[i]);
		EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd));
		/* all zero past the struct: realized */
		buf[big[i] - 1] = 0;
		EXPECT_EQ(0, realize_sized(fd, buf, big[i])) TH_LOG("size %zu", big[i]);
		ASSERT_EQ(0, job_query(fd, &info));
		EXPECT_EQ(ID_A, info.uet.job_id);
		EXPECT_EQ(3, info.uet.tc);
		close(fd);
	}

	/* a struct that ends after max_endpoints: tc reads as 0 */
	memset(buf, 0xff, 64);
	memcpy(buf, &r, offsetof(struct rdma_job_realize, uet.tc));
	fd = job_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, realize_sized(fd, buf, offsetof(struct rdma_job_realize, uet.tc)));
	ASSERT_EQ(0, job_query(fd, &info));
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, info.state);
	EXPECT_EQ(ID_A, info.uet.job_id);
	EXPECT_EQ(16, info.uet.max_endpoints);
	EXPECT_EQ(0, info.uet.tc);
	close(fd);

	/* one that ends before max_endpoints: 0 endpoints, EINVAL */
	fd = job_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, realize_sized(fd, buf,
					offsetof(struct rdma_job_realize, uet.max_endpoints)));
	EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd));
	close(fd);
	free(buf);
}

/* the kernel allocates distinct, valid JobIDs and writes them back */
TEST(realize_alloc)
{
	struct rdma_job_realize r;
	struct rdma_job_info info;
	int a, b, c;

	a = job_open();
	ASSERT_LE(0, a);
	r = uet_req(0, 0, 64, 0);
	r.uet.flags = RDMA_JOB_UET_F_ALLOC_JOB_ID;
	ASSERT_EQ(0, realize(a, &r));
	EXPECT_NE(0, r.uet.job_id);
	EXPECT_GE(RDMA_JOB_UET_MAX_JOB_ID, r.uet.job_id);
	ASSERT_EQ(0, job_query(a, &info));
	EXPECT_EQ(r.uet.job_id, info.uet.job_id);
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, info.state);

	b = job_new(0);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, job_query(b, &info));
	EXPECT_NE(0, info.uet.job_id);
	EXPECT_NE(r.uet.job_id, info.uet.job_id);

	/* the allocated id is taken for fixed requests too */
	c = job_new(r.uet.job_id);
	EXPECT_EQ(-EEXIST, c);
	if (c >= 0)
		close(c);
	close(a);
	close(b);
}

/*
 * Allocation is cyclic, also when the JobID freed was the last one of its
 * namespace (a fresh namespace, so that no other job keeps its JobIDs):
 * allocate, free, allocate gives another JobID.
 */
TEST(alloc_not_reused_at_once)
{
	struct rdma_job_info info;
	uint32_t first;
	int fd;

	if (unshare(CLONE_NEWNET))
		SKIP(return, "unshare(CLONE_NEWNET): %s", strerror(errno));
	fd = job_new(0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, job_query(fd, &info));
	first = info.uet.job_id;
	close(fd);
	fd = job_new(0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, job_query(fd, &info));
	EXPECT_NE(first, info.uet.job_id);
	close(fd);
	/* the first one is free again: a fixed request gets it */
	fd = job_new(first);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
}

static int realize_in_new_netns(void *arg)
{
	uint32_t id = *(uint32_t *)arg;
	int a, b;

	if (unshare(CLONE_NEWNET))
		return 10;
	a = job_new(id);
	if (a < 0)
		return 11;
	/* unique within this namespace too */
	b = job_new(id);
	if (b != -EEXIST)
		return 12;
	close(a);
	return 0;
}

/* a JobID is unique per network namespace */
TEST(job_id_per_netns)
{
	uint32_t id = ID_A;
	int a, b;

	a = job_new(ID_A);
	ASSERT_LE(0, a);
	b = job_new(ID_A);
	EXPECT_EQ(-EEXIST, b);
	if (b >= 0)
		close(b);
	EXPECT_EQ(0, in_child(realize_in_new_netns, &id))
		TH_LOG("10: unshare, 11: realize in the new netns failed, 12: no EEXIST there");
	close(a);
	/* the last reference went: the id is free again */
	b = job_new(ID_A);
	EXPECT_LE(0, b);
	close(b);
}

TEST(states)
{
	struct rdma_job_realize r = uet_req(ID_A, 0, 64, 0);
	struct rdma_job_info info;
	int fd = job_open(), again;

	ASSERT_LE(0, fd);
	/* not realized: SEAL and REVOKE are refused */
	EXPECT_EQ(EINVAL, job_seal(fd));
	EXPECT_EQ(EINVAL, job_revoke(fd));
	EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd));

	ASSERT_EQ(0, realize(fd, &r));
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, job_state(fd));
	EXPECT_EQ(0, job_seal(fd));
	EXPECT_EQ(RDMA_JOB_STATE_SEALED, job_state(fd));
	EXPECT_EQ(0, job_seal(fd));
	EXPECT_EQ(RDMA_JOB_STATE_SEALED, job_state(fd));
	EXPECT_EQ(0, job_revoke(fd));
	EXPECT_EQ(RDMA_JOB_STATE_REVOKED, job_state(fd));
	EXPECT_EQ(0, job_revoke(fd));
	EXPECT_EQ(EPERM, job_seal(fd));
	EXPECT_EQ(RDMA_JOB_STATE_REVOKED, job_state(fd));
	close(fd);

	/*
	 * REVOKE straight from ACTIVE; with no member, the JobID is free as
	 * soon as REVOKE returns, while QUERY still reports it
	 */
	fd = job_new(ID_B);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, job_revoke(fd));
	EXPECT_EQ(RDMA_JOB_STATE_REVOKED, job_state(fd));
	again = job_new(ID_B);
	EXPECT_LE(0, again) TH_LOG("JobID not freed by REVOKE: %s", strerror(-again));
	ASSERT_EQ(0, job_query(fd, &info));
	EXPECT_EQ(ID_B, info.uet.job_id);
	/* the new job's id is not freed by the old job's close */
	close(fd);
	EXPECT_EQ(-EEXIST, job_new(ID_B));
	close(again);
}

/* QUERY with the ioctl size field set to @size */
static int query_sized(int fd, void *buf, size_t size)
{
	return do_ioctl(fd, _IOC(_IOC_READ, RDMA_JOB_IOCTL_MAGIC, 0x02, size), buf);
}

/*
 * QUERY is extensible: a shorter struct gets the first bytes, a longer one
 * the kernel's struct and zeroes, never stale bytes
 */
TEST(query_sizes)
{
	static const size_t big[] = { sizeof(struct rdma_job_info) + 1,
				      sizeof(struct rdma_job_info) + 16, 4096,
				      _IOC_SIZEMASK };
	long pg = sysconf(_SC_PAGESIZE);
	struct rdma_job_info *info;
	unsigned char *buf, *m;
	unsigned int i;
	int fd = job_new(ID_A);

	ASSERT_LE(0, fd);
	buf = malloc(_IOC_SIZEMASK + 1);
	ASSERT_NE(NULL, buf);
	info = (struct rdma_job_info *)buf;
	for (i = 0; i < ARRAY_SIZE(big); i++) {
		memset(buf, 0xa5, _IOC_SIZEMASK + 1);
		EXPECT_EQ(0, query_sized(fd, buf, big[i])) TH_LOG("size %zu", big[i]);
		EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, info->state);
		EXPECT_EQ(ID_A, info->uet.job_id);
		EXPECT_EQ(0, info->member_fds);
		EXPECT_EQ(0, info->reserved_260);
		EXPECT_TRUE(all_zero(buf + sizeof(*info), big[i] - sizeof(*info)))
			TH_LOG("size %zu: the tail was not cleared", big[i]);
		/* nothing past the size */
		EXPECT_EQ(0xa5, buf[big[i]]);
	}
	/* a shorter (older) struct: its bytes only */
	memset(buf, 0xa5, 256);
	EXPECT_EQ(0, query_sized(fd, buf, offsetof(struct rdma_job_info, member_fds)));
	EXPECT_EQ(ID_A, info->uet.job_id);
	EXPECT_EQ(0xa5, buf[offsetof(struct rdma_job_info, member_fds)]);
	memset(buf, 0xa5, 256);
	EXPECT_EQ(0, query_sized(fd, buf, 8));
	EXPECT_EQ(RDMA_JOB_PROTO_UET, info->protocol);
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, info->state);
	EXPECT_EQ(0xa5, buf[8]);
	/* smaller than protocol and state: EINVAL, nothing written */
	memset(buf, 0xa5, 256);
	EXPECT_EQ(EINVAL, query_sized(fd, buf, 7));
	EXPECT_EQ(EINVAL, query_sized(fd, buf, 0));
	EXPECT_EQ(0xa5, buf[0]);
	/* a tail that is not writable: EFAULT */
	m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, mprotect(m + pg, pg, PROT_READ));
	EXPECT_EQ(EFAULT, query_sized(fd, m + pg - sizeof(*info), sizeof(*info) + 64));
	munmap(m, 2 * pg);
	free(buf);
	close(fd);
}

/* ---- rights ---------------------------------------------------------------- */

static int member_fd(int fd, unsigned long flags)
{
	int m = ioctl(fd, RDMA_JOB_IOC_MEMBER_FD, flags);

	return m < 0 ? -errno : m;
}

/* member descriptors query and join, nothing else */
TEST(member_fd_rights)
{
	struct rdma_job_realize r = uet_req(ID_B, 0, 64, 0);
	struct rdma_job_info info;
	int fd = job_new(ID_A), m, m2;

	ASSERT_LE(0, fd);
	m = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	ASSERT_LE(0, m) TH_LOG("MEMBER_FD: %s", strerror(-m));
	EXPECT_EQ(FD_CLOEXEC, fcntl(m, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDONLY, fcntl(m, F_GETFL) & O_ACCMODE);
	m2 = member_fd(fd, 0);
	ASSERT_LE(0, m2);
	EXPECT_EQ(0, fcntl(m2, F_GETFD) & FD_CLOEXEC);
	close(m2);
	EXPECT_EQ(-EINVAL, member_fd(fd, 2));
	EXPECT_EQ(-EINVAL, member_fd(fd, ~0ul));

	/* the same job */
	ASSERT_EQ(0, job_query(m, &info));
	EXPECT_EQ(ID_A, info.uet.job_id);
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, info.state);
	/* no administration */
	EXPECT_EQ(EPERM, realize(m, &r));
	EXPECT_EQ(EPERM, job_seal(m));
	EXPECT_EQ(EPERM, job_revoke(m));
	EXPECT_EQ(-EPERM, member_fd(m, 0));
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, job_state(fd));

	/* it keeps the job alive after the admin descriptor closed */
	close(fd);
	EXPECT_EQ(-EEXIST, job_new(ID_A));
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, job_state(m));
	close(m);
	fd = job_new(ID_A);
	EXPECT_LE(0, fd);
	close(fd);

	/* made from an empty job, it sees the realization */
	fd = job_open();
	ASSERT_LE(0, fd);
	m = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	ASSERT_LE(0, m);
	EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(m));
	r = uet_req(ID_B, 0, 64, 0);
	EXPECT_EQ(EPERM, realize(m, &r));
	EXPECT_EQ(0, realize(fd, &r));
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, job_state(m));
	/* a revoked job still makes member descriptors (QUERY only) */
	EXPECT_EQ(0, job_revoke(fd));
	m2 = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	EXPECT_LE(0, m2);
	EXPECT_EQ(RDMA_JOB_STATE_REVOKED, job_state(m2));
	close(m2);
	close(m);
	close(fd);
}

/* an admin descriptor opened O_RDONLY may only query (and join): EBADF */
TEST(readonly_admin)
{
	struct rdma_job_realize r = uet_req(ID_A, 0, 64, 0);
	int fd = open(JOB_DEV, O_RDONLY | O_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_EQ(EBADF, realize(fd, &r));
	EXPECT_EQ(EBADF, job_seal(fd));
	EXPECT_EQ(EBADF, job_revoke(fd));
	EXPECT_EQ(-EBADF, member_fd(fd, 0));
	EXPECT_EQ(RDMA_JOB_STATE_EMPTY, job_state(fd));
	close(fd);
	/* nothing was taken */
	fd = job_new(ID_A);
	EXPECT_LE(0, fd);
	close(fd);
	/* write-only is writable */
	fd = open(JOB_DEV, O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, realize(fd, &r));
	EXPECT_EQ(0, job_seal(fd));
	close(fd);
}

#define MODPROBE_SYSCTL "/proc/sys/kernel/modprobe"
#define MODPROBE_LOG "/tmp/uet_job_modprobe.log"
#define MODPROBE_FAKE "/tmp/uet_job_modprobe.sh"

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0755);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/*
 * The kernel's modprobe helper replaced by a script that logs its
 * arguments; the teardown puts the old helper back whatever the test did
 * (it also runs after a failed ASSERT), so that a failure here does not
 * break module autoloading for the tests after it.
 */
FIXTURE(modprobe)
{
	char old[256];
	bool swapped;
};

FIXTURE_SETUP(modprobe)
{
	ssize_t n;
	int sfd;

	self->swapped = false;
	sfd = open(MODPROBE_SYSCTL, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		SKIP(return, MODPROBE_SYSCTL ": %s", strerror(errno));
	n = read(sfd, self->old, sizeof(self->old) - 1);
	close(sfd);
	ASSERT_LT(0, n);
	self->old[n] = 0;
	unlink(MODPROBE_LOG);
	ASSERT_EQ(0, write_file(MODPROBE_FAKE,
				"#!/bin/sh\necho \"$*\" >>" MODPROBE_LOG "\nexit 1\n"));
	ASSERT_EQ(0, write_file(MODPROBE_SYSCTL, MODPROBE_FAKE));
	self->swapped = true;
}

FIXTURE_TEARDOWN(modprobe)
{
	if (self->swapped)
		EXPECT_EQ(0, write_file(MODPROBE_SYSCTL, self->old));
	unlink(MODPROBE_LOG);
	unlink(MODPROBE_FAKE);
}

/*
 * Only a protocol of enum rdma_job_protocol may make REALIZE ask for a
 * module, and only from a descriptor that may REALIZE, for an empty job.
 */
TEST_F(modprobe, realize_module_requests)
{
	static const uint32_t proto[] = { RDMA_JOB_PROTO_NONE, 2, 7, 0x100,
					  0x7fffffff, 0xffffffff };
	struct rdma_job_realize r;
	char log[256] = "";
	struct stat st;
	unsigned int i;
	int fd, m, lfd;
	ssize_t n;

	fd = job_open();
	ASSERT_LE(0, fd);
	for (i = 0; i < ARRAY_SIZE(proto); i++) {
		r = uet_req(ID_A, 0, 64, 0);
		r.protocol = proto[i];
		EXPECT_EQ(EPROTONOSUPPORT, realize(fd, &r)) TH_LOG("protocol %#x", proto[i]);
	}
	/* a member or read-only descriptor: refused before anything */
	m = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	ASSERT_LE(0, m);
	r = uet_req(ID_A, 0, 64, 0);
	r.protocol = 2;
	EXPECT_EQ(EPERM, realize(m, &r));
	close(m);
	m = open(JOB_DEV, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, m);
	EXPECT_EQ(EBADF, realize(m, &r));
	close(m);
	/*
	 * A realized job: the protocol number is checked before the state
	 * (EPROTONOSUPPORT for an unknown one, still without a module
	 * request), then the state (EBUSY).
	 */
	r = uet_req(ID_A, 0, 64, 0);
	ASSERT_EQ(0, realize(fd, &r));
	r.protocol = 2;
	EXPECT_EQ(EPROTONOSUPPORT, realize(fd, &r));
	r.protocol = RDMA_JOB_PROTO_UET;
	EXPECT_EQ(EBUSY, realize(fd, &r));
	close(fd);

	lfd = open(MODPROBE_LOG, O_RDONLY | O_CLOEXEC);
	if (lfd >= 0) {
		n = read(lfd, log, sizeof(log) - 1);
		log[n > 0 ? n : 0] = 0;
		close(lfd);
	}
	EXPECT_NE(0, stat(MODPROBE_LOG, &st)) TH_LOG("modprobe was run: %s", log);
}

/* ---- joining ------------------------------------------------------------- */

FIXTURE(join)
{
	struct ibv_context *ctx;
};

FIXTURE_SETUP(join)
{
	self->ctx = uet_open();
	if (!self->ctx)
		SKIP(return, "no uet device (uet_job.sh creates uet0, or set UET_DEV)");
}

FIXTURE_TEARDOWN(join)
{
	if (self->ctx)
		EXPECT_EQ(0, ibv_close_device(self->ctx));
}

TEST_F(join, bad_fd)
{
	struct uetdv_job_info info;
	int fd;

	EXPECT_EQ(EBADF, uetdv_join_job(self->ctx, -1));
	fd = dup(0);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(EBADF, uetdv_join_job(self->ctx, fd));
	EXPECT_EQ(EBADF, uetdv_join_job(self->ctx, 0x7ffffff0));
	EXPECT_EQ(ENOENT, uetdv_query_job(self->ctx, &info, sizeof(info)));
}

TEST_F(join, not_a_job)
{
	struct uetdv_job_info info;
	int fd, sv[2];

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, uetdv_join_job(self->ctx, fd));
	close(fd);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	EXPECT_EQ(EINVAL, uetdv_join_job(self->ctx, sv[0]));
	close(sv[0]);
	close(sv[1]);
	/* the uverbs file itself */
	EXPECT_EQ(EINVAL, uetdv_join_job(self->ctx, self->ctx->cmd_fd));
	/* an empty (not realized) job */
	fd = job_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(EINVAL, uetdv_join_job(self->ctx, fd));
	close(fd);
	EXPECT_EQ(ENOENT, uetdv_query_job(self->ctx, &info, sizeof(info)));
}

TEST_F(join, join_and_query)
{
	struct rdma_job_realize r = uet_req(ID_A, 100, 200, 5);
	struct uetdv_job_info info;
	struct rdma_job_info ji;
	struct ibv_context *ctx2;
	int fd = job_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, realize(fd, &r));
	EXPECT_EQ(ENOENT, uetdv_query_job(self->ctx, &info, sizeof(info)));
	ASSERT_EQ(0, uetdv_join_job(self->ctx, fd));

	memset(&info, 0xa5, sizeof(info));
	ASSERT_EQ(0, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(0, info.comp_mask);
	EXPECT_EQ(UETDV_JOB_PROTO_UET, info.protocol);
	EXPECT_EQ(UETDV_JOB_STATE_ACTIVE, info.state);
	EXPECT_EQ(1, info.members);
	EXPECT_EQ(ID_A, info.job_id);
	EXPECT_EQ(100, info.pid_on_fep_base);
	EXPECT_EQ(200, info.max_endpoints);
	EXPECT_EQ(5, info.tc);
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(1, ji.members);

	/* a second context joins too: two members */
	ctx2 = uet_open();
	ASSERT_NE(NULL, ctx2);
	ASSERT_EQ(0, uetdv_join_job(ctx2, fd));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(2, ji.members);
	ASSERT_EQ(0, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(2, info.members);
	/* closing a member's context leaves the job */
	EXPECT_EQ(0, ibv_close_device(ctx2));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(1, ji.members);

	/* the compatibility rules of inlen */
	EXPECT_EQ(EINVAL, uetdv_query_job(self->ctx, &info,
					  offsetof(struct uetdv_job_info, tc)));
	{
		unsigned char big[sizeof(info) + 16];

		memset(big, 0xa5, sizeof(big));
		EXPECT_EQ(0, uetdv_query_job(self->ctx, (void *)big, sizeof(big)));
		EXPECT_TRUE(all_zero(big + sizeof(info), 16));
		EXPECT_EQ(ID_A, ((struct uetdv_job_info *)big)->job_id);
	}
	close(fd);
}

TEST_F(join, second_join_ebusy)
{
	struct uetdv_job_info info;
	int a = job_new(ID_A), b = job_new(ID_B);

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, uetdv_join_job(self->ctx, a));
	EXPECT_EQ(EBUSY, uetdv_join_job(self->ctx, a));
	EXPECT_EQ(EBUSY, uetdv_join_job(self->ctx, b));
	ASSERT_EQ(0, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(ID_A, info.job_id);
	EXPECT_EQ(1, info.members);
	close(a);
	close(b);
}

TEST_F(join, sealed_eperm)
{
	struct ibv_context *ctx2;
	struct uetdv_job_info info;
	int fd = job_new(ID_A);

	ASSERT_LE(0, fd);
	/* a member from before the seal stays */
	ASSERT_EQ(0, uetdv_join_job(self->ctx, fd));
	ASSERT_EQ(0, job_seal(fd));
	ctx2 = uet_open();
	ASSERT_NE(NULL, ctx2);
	EXPECT_EQ(EPERM, uetdv_join_job(ctx2, fd));
	EXPECT_EQ(ENOENT, uetdv_query_job(ctx2, &info, sizeof(info)));
	EXPECT_EQ(0, ibv_close_device(ctx2));
	ASSERT_EQ(0, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(UETDV_JOB_STATE_SEALED, info.state);
	EXPECT_EQ(1, info.members);
	close(fd);
}

TEST_F(join, revoked_refused)
{
	struct uetdv_job_info info;
	int fd = job_new(ID_A);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, job_revoke(fd));
	EXPECT_EQ(EKEYREVOKED, uetdv_join_job(self->ctx, fd));
	EXPECT_EQ(ENOENT, uetdv_query_job(self->ctx, &info, sizeof(info)));
	close(fd);
}

struct scm_result {
	int guess_err;	/* join with the parent's fd number, never received */
	int join_err;	/* join with the received fd */
	int query_err;
	uint32_t job_id;
};

/*
 * A process that does not hold the job FD cannot join it; once it
 * receives the FD over a UNIX socket (SCM_RIGHTS), it can.
 */
TEST_F(join, scm_rights)
{
	struct scm_result res = { -1, -1, -1, 0 };
	int sv[2], pfd[2], fd, st;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct ibv_context *ctx;
		struct uetdv_job_info info;
		int num, got;

		close(sv[0]);
		close(pfd[0]);
		ctx = uet_open();
		if (!ctx)
			_exit(10);
		/* the parent's descriptor number; not open here */
		if (read(sv[1], &num, sizeof(num)) != sizeof(num))
			_exit(11);
		res.guess_err = fcntl(num, F_GETFD) < 0 && errno == EBADF ?
					uetdv_join_job(ctx, num) : -2;
		got = recv_fd(sv[1]);
		if (got < 0)
			_exit(12);
		res.join_err = uetdv_join_job(ctx, got);
		res.query_err = uetdv_query_job(ctx, &info, sizeof(info));
		res.job_id = info.job_id;
		if (write(pfd[1], &res, sizeof(res)) != sizeof(res))
			_exit(13);
		ibv_close_device(ctx);
		_exit(0);
	}
	close(sv[1]);
	close(pfd[1]);
	/*
	 * Created after the fork: the child never inherited it. A high
	 * number, so that the child has nothing open under it either.
	 */
	st = job_new(ID_A);
	ASSERT_LE(0, st);
	fd = fcntl(st, F_DUPFD_CLOEXEC, 500);
	ASSERT_LE(500, fd);
	close(st);
	ASSERT_EQ(sizeof(fd), write(sv[0], &fd, sizeof(fd)));
	ASSERT_EQ(0, send_fd(sv[0], fd));
	EXPECT_EQ(sizeof(res), read(pfd[0], &res, sizeof(res)));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	EXPECT_EQ(EBADF, res.guess_err);
	EXPECT_EQ(0, res.join_err);
	EXPECT_EQ(0, res.query_err);
	EXPECT_EQ(ID_A, res.job_id);
	close(fd);
	close(sv[0]);
	close(pfd[0]);
}

static int join_in_new_netns(void *arg)
{
	int fd = *(int *)arg;
	struct ibv_context *ctx;
	int err;

	if (unshare(CLONE_NEWNET))
		return 10;
	ctx = uet_open();
	if (!ctx)
		return 11;
	err = uetdv_join_job(ctx, fd);
	ibv_close_device(ctx);
	return err == EXDEV ? 0 : 12;
}

/* a job of another network namespace cannot be joined: EXDEV */
TEST_F(join, other_netns_exdev)
{
	int fd = job_new(ID_A);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, in_child(join_in_new_netns, &fd))
		TH_LOG("10: unshare, 11: no uet device in the new netns, 12: not EXDEV");
	close(fd);
}

static int unpriv_join(void *arg)
{
	int fd = *(int *)arg;
	struct ibv_context *ctx;
	struct uetdv_job_info info;

	if (drop_privileges())
		return 10;
	if (open(JOB_DEV, O_RDWR) >= 0 || errno != EACCES)
		return 11;
	ctx = uet_open();
	if (!ctx)
		return 12;
	if (uetdv_join_job(ctx, fd))
		return 13;
	if (uetdv_query_job(ctx, &info, sizeof(info)) || info.job_id != ID_A)
		return 14;
	ibv_close_device(ctx);
	return 0;
}

/* the FD is the capability: an unprivileged process handed one joins */
TEST_F(join, unprivileged_member)
{
	int fd = job_new(ID_A);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, in_child(unpriv_join, &fd))
		TH_LOG("10: setuid, 11: could open " JOB_DEV ", 12: cannot open the uet device, 13: join, 14: query");
	close(fd);
}

/*
 * The creator closes its FD while a member holds the job: the job lives on,
 * its JobID stays taken, and goes when the member leaves.
 */
TEST_F(join, survives_creator_close)
{
	struct uetdv_job_info info;
	int fd = job_new(ID_A), again;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, uetdv_join_job(self->ctx, fd));
	ASSERT_EQ(0, close(fd));

	ASSERT_EQ(0, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(UETDV_JOB_STATE_ACTIVE, info.state);
	EXPECT_EQ(ID_A, info.job_id);
	EXPECT_EQ(1, info.members);
	EXPECT_EQ(-EEXIST, job_new(ID_A));

	EXPECT_EQ(0, ibv_close_device(self->ctx));
	self->ctx = NULL;
	again = job_new(ID_A);
	EXPECT_LE(0, again) TH_LOG("JobID not released: %s", strerror(-again));
	close(again);
}

/* The reference count of a loaded module; -1 if it cannot be read. */
static long module_refcnt(const char *name)
{
	char path[128], buf[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/*
 * REVOKE with an active member: the member's job reads revoked, creating
 * objects fails with EIO, what exists can still be destroyed, the driver
 * lets go of the membership at once, and the context closes cleanly.
 */
TEST_F(join, revoke_with_members)
{
	struct uetdv_job_info info;
	struct rdma_job_info ji;
	struct ibv_pd *pd, *pd2;
	struct ibv_cq *cq, *cq2;
	struct ibv_mr *mr;
	long refs;
	void *buf;
	int fd;

	/* a realized job holds its protocol's module: uet_soft */
	refs = module_refcnt("uet_soft");
	if (refs < 0)
		TH_LOG("no /sys/module/uet_soft/refcnt: the job's module reference is not checked");
	fd = job_new(ID_A);
	ASSERT_LE(0, fd);
	if (refs >= 0)
		EXPECT_EQ(refs + 1, module_refcnt("uet_soft"));
	ASSERT_EQ(0, uetdv_join_job(self->ctx, fd));
	buf = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, 65536);
	pd = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, pd) TH_LOG("alloc_pd in a job: %s", strerror(errno));
	cq = ibv_create_cq(self->ctx, 16, NULL, NULL, 0);
	ASSERT_NE(NULL, cq) TH_LOG("create_cq in a job: %s", strerror(errno));
	mr = ibv_reg_mr(pd, buf, 65536, IBV_ACCESS_LOCAL_WRITE);
	ASSERT_NE(NULL, mr) TH_LOG("reg_mr in a job: %s", strerror(errno));

	ASSERT_EQ(0, job_revoke(fd));
	/* the member lost its job: every later verb fails with EIO */
	EXPECT_EQ(EIO, uetdv_query_job(self->ctx, &info, sizeof(info)));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(RDMA_JOB_STATE_REVOKED, ji.state);
	/* uet_soft let go of the membership when told, context still open */
	EXPECT_EQ(0, ji.members);

	errno = 0;
	pd2 = ibv_alloc_pd(self->ctx);
	EXPECT_EQ(NULL, pd2);
	EXPECT_EQ(EIO, errno);
	errno = 0;
	cq2 = ibv_create_cq(self->ctx, 16, NULL, NULL, 0);
	EXPECT_EQ(NULL, cq2);
	EXPECT_EQ(EIO, errno);
	errno = 0;
	EXPECT_EQ(NULL, ibv_reg_mr(pd, buf, 4096, IBV_ACCESS_LOCAL_WRITE));
	EXPECT_EQ(EIO, errno);

	EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(0, ibv_destroy_cq(cq));
	EXPECT_EQ(0, ibv_dealloc_pd(pd));
	close(fd);
	/*
	 * The last descriptor is closed and nothing holds the job any more,
	 * although its former member context is still open: the job is freed
	 * and with it its reference to the module.
	 */
	if (refs >= 0)
		EXPECT_EQ(refs, module_refcnt("uet_soft"));
	EXPECT_EQ(0, ibv_close_device(self->ctx));
	self->ctx = NULL;
	munmap(buf, 65536);
}

static int join_same_id_in_new_netns(void *arg)
{
	struct ibv_context *ctx;
	int fd, err;

	(void)arg;
	if (unshare(CLONE_NEWNET))
		return 10;
	/* the JobID is free in this namespace */
	fd = job_new(ID_A);
	if (fd < 0)
		return 11;
	/* the device is shared across namespaces, its netdev is not here */
	ctx = uet_open();
	if (!ctx)
		return 12;
	err = uetdv_join_job(ctx, fd);
	ibv_close_device(ctx);
	close(fd);
	return err == EXDEV ? 0 : 13;
}

/*
 * Two namespaces, one device, the same JobID: only the job of the
 * netdev's namespace can be joined on the device, so a JobID on its wire
 * names one job.
 */
TEST_F(join, same_job_id_other_netns_exdev)
{
	struct uetdv_job_info info;
	int fd = job_new(ID_A);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, uetdv_join_job(self->ctx, fd));
	EXPECT_EQ(0, in_child(join_same_id_in_new_netns, NULL))
		TH_LOG("10: unshare, 11: realize, 12: no uet device, 13: join was not EXDEV");
	ASSERT_EQ(0, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(1, info.members);
	close(fd);
}

/* members through member descriptors; member_fds counts descriptors */
TEST_F(join, member_fd_joins)
{
	struct ibv_context *ctx2, *ctx3;
	struct uetdv_job_info info;
	struct rdma_job_info ji;
	int fd = job_new(ID_A), m1, m2;

	ASSERT_LE(0, fd);
	m1 = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	m2 = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	ASSERT_LE(0, m1);
	ASSERT_LE(0, m2);
	ctx2 = uet_open();
	ctx3 = uet_open();
	ASSERT_NE(NULL, ctx2);
	ASSERT_NE(NULL, ctx3);

	/* one rank, two contexts: one member descriptor */
	ASSERT_EQ(0, uetdv_join_job(self->ctx, m1));
	ASSERT_EQ(0, uetdv_join_job(ctx2, m1));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(2, ji.members);
	EXPECT_EQ(1, ji.member_fds);
	/* a second rank */
	ASSERT_EQ(0, uetdv_join_job(ctx3, m2));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(3, ji.members);
	EXPECT_EQ(2, ji.member_fds);
	ASSERT_EQ(0, uetdv_query_job(ctx3, &info, sizeof(info)));
	EXPECT_EQ(ID_A, info.job_id);

	/* leaving: the count follows the contexts */
	EXPECT_EQ(0, ibv_close_device(ctx2));
	ASSERT_EQ(0, job_query(m2, &ji));
	EXPECT_EQ(2, ji.members);
	EXPECT_EQ(2, ji.member_fds);
	EXPECT_EQ(0, ibv_close_device(ctx3));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(1, ji.members);
	EXPECT_EQ(1, ji.member_fds);
	/* closing a member descriptor does not end its members */
	close(m1);
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(1, ji.member_fds);
	/* the member cannot seal */
	EXPECT_EQ(EPERM, job_seal(m2));
	close(m2);
	close(fd);
}

/*
 * A member context outlives every descriptor of its job: the job and its
 * JobID live on until REVOKE (from a descriptor kept elsewhere) or the
 * context's end. REVOKE frees the JobID at once, with the member still
 * open.
 */
TEST_F(join, revoke_frees_job_id_with_members)
{
	struct uetdv_job_info info;
	struct rdma_job_info ji;
	int fd = job_new(ID_A), m, again;

	ASSERT_LE(0, fd);
	m = member_fd(fd, RDMA_JOB_MEMBER_FD_CLOEXEC);
	ASSERT_LE(0, m);
	ASSERT_EQ(0, uetdv_join_job(self->ctx, m));
	close(m);
	EXPECT_EQ(-EEXIST, job_new(ID_A));
	ASSERT_EQ(0, job_revoke(fd));
	again = job_new(ID_A);
	EXPECT_LE(0, again) TH_LOG("JobID still taken after REVOKE: %s", strerror(-again));
	/*
	 * the old member lost its job (uet_soft lets go of the membership
	 * when told; its verbs fail with EIO); the old job still reports its
	 * JobID; the new job is apart
	 */
	EXPECT_EQ(EIO, uetdv_query_job(self->ctx, &info, sizeof(info)));
	ASSERT_EQ(0, job_query(fd, &ji));
	EXPECT_EQ(RDMA_JOB_STATE_REVOKED, ji.state);
	EXPECT_EQ(ID_A, ji.uet.job_id);
	EXPECT_EQ(0, ji.members);
	EXPECT_EQ(0, ji.member_fds);
	errno = 0;
	EXPECT_EQ(NULL, ibv_alloc_pd(self->ctx));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(RDMA_JOB_STATE_ACTIVE, job_state(again));
	/* the old job's end does not free the new job's JobID */
	close(fd);
	EXPECT_EQ(0, ibv_close_device(self->ctx));
	self->ctx = NULL;
	EXPECT_EQ(-EEXIST, job_new(ID_A));
	close(again);
}

/* the device, by name, or NULL */
static struct ibv_context *uet_open_name(const char *name)
{
	struct ibv_context *ctx = NULL;
	struct ibv_device **list;
	int i;

	list = ibv_get_device_list(NULL);
	if (!list)
		return NULL;
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name)) {
			ctx = ibv_open_device(list[i]);
			break;
		}
	ibv_free_device_list(list);
	return ctx;
}

static int wait_gone(const char *path)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (access(path, F_OK))
			return 0;
		usleep(100000);
	}
	return -1;
}

/*
 * The netdev leaves the job's namespace: it is unregistered there
 * (NETDEV_UNREGISTER), uet_soft unregisters the device on it, and its
 * contexts are disassociated, which ends their memberships.
 */
FIXTURE(netdev_move)
{
	struct ibv_context *ctx;
	int fd;
};

FIXTURE_SETUP(netdev_move)
{
	static const char *up =
		"ip link add ujob0 type veth peer name ujob1 && ip link set ujob0 up && rdma link add uetjob0 type uet netdev ujob0";

	self->ctx = NULL;
	self->fd = -1;
	if (system(up))
		SKIP(return, "cannot create uetjob0 on a veth");
}

FIXTURE_TEARDOWN(netdev_move)
{
	static const char *down =
		"rdma link delete uetjob0 2>/dev/null; ip netns delete ujobns 2>/dev/null; ip link delete ujob0 2>/dev/null; true";

	if (self->ctx)
		ibv_close_device(self->ctx);
	if (self->fd >= 0)
		close(self->fd);
	/* whatever is left; deleting the namespace deletes the veth pair */
	if (system(down))
		TH_LOG("cleanup failed");
}

TEST_F(netdev_move, memberships_end)
{
	struct rdma_job_info ji;

	self->ctx = uet_open_name("uetjob0");
	ASSERT_NE(NULL, self->ctx);
	self->fd = job_new(ID_C);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, uetdv_join_job(self->ctx, self->fd));
	ASSERT_EQ(0, job_query(self->fd, &ji));
	EXPECT_EQ(1, ji.members);

	ASSERT_EQ(0, system("ip netns add ujobns && ip link set ujob0 netns ujobns"));
	EXPECT_EQ(0, wait_gone("/sys/class/infiniband/uetjob0"));
	ASSERT_EQ(0, job_query(self->fd, &ji));
	EXPECT_EQ(0, ji.members) TH_LOG("the membership outlived the device");
}

TEST_HARNESS_MAIN
