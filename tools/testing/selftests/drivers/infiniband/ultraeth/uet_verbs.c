// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Verbs on a uet_soft device through libibverbs and libuet: device and port
 * queries, uetdv_query_device, PD, MR and CQ, the errors of bad requests,
 * the device limits it reports (each one enforced), memory registration
 * needing a job, and no kernel memory growth over 1000
 * open/create/destroy/close rounds.
 *
 * The device must exist already: uet_verbs.sh creates it (rdma link add
 * uet0 type uet netdev veth0) and runs this program. The device is $UET_DEV,
 * or else the first device whose name starts with "uet"; its netdev is
 * $UET_NETDEV, or else the one sysfs names for its first GID.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/uetdv.h>
#include <infiniband/verbs.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "kselftest_harness.h"
#include "uet_test_job.h"

/*
 * Each leak round pins LEAK_MR_BYTES and maps a ring of up to LEAK_CQE
 * entries (256 KiB), so a leaked pin or ring costs 256 MiB over the rounds,
 * far above the noise of MemAvailable (per-CPU page lists, the test's own
 * heap: about 7 MiB seen with rxe); a leaked slab object of 1 KiB shows in
 * SUnreclaim (noise about 160 KiB).
 */
#define LEAK_ROUNDS 1000
#define LEAK_WARMUP 50
#define LEAK_MR_BYTES (64 * 4096)
#define LEAK_CQE 4096
/* allowed growth over LEAK_ROUNDS rounds */
#define LEAK_SLAB_KB 1024
#define LEAK_AVAIL_KB (32 * 1024)

/* the uet device, or NULL; *list must be freed by the caller */
static struct ibv_device *uet_find_device(struct ibv_device ***list)
{
	const char *want = getenv("UET_DEV");
	int i;

	*list = ibv_get_device_list(NULL);
	if (!*list)
		return NULL;
	for (i = 0; (*list)[i]; i++) {
		const char *n = ibv_get_device_name((*list)[i]);

		if (want ? !strcmp(n, want) : !strncmp(n, "uet", 3))
			return (*list)[i];
	}
	return NULL;
}

/* a device of the list that is not a uet device, or NULL */
static struct ibv_device *other_device(struct ibv_device **list)
{
	int i;

	for (i = 0; list[i]; i++)
		if (strncmp(ibv_get_device_name(list[i]), "uet", 3))
			return list[i];
	return NULL;
}

/* the netdev under the device: $UET_NETDEV or sysfs, "" if unknown */
static void uet_netdev(const char *dev, char *buf, size_t len)
{
	const char *env = getenv("UET_NETDEV");
	char path[256];
	FILE *f;

	buf[0] = 0;
	if (env) {
		snprintf(buf, len, "%s", env);
		return;
	}
	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/gid_attrs/ndevs/0", dev);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* /sys/class/net/NETDEV/carrier: 1, 0, or -1 if it cannot be read */
static int netdev_carrier(const char *netdev)
{
	char path[256];
	int c = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", netdev);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &c) != 1)
		c = -1;
	fclose(f);
	return c;
}

/* a field of /proc/meminfo in kB, or -1 */
static long meminfo_kb(const char *field)
{
	size_t flen = strlen(field);
	char line[256];
	long v = -1;
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void settle_memory(void)
{
	FILE *f;

	sync();
	f = fopen("/proc/sys/vm/drop_caches", "w");
	if (f) {
		fputs("3\n", f);
		fclose(f);
	}
	usleep(200 * 1000);
}

FIXTURE(uet)
{
	struct ibv_device **list;
	struct ibv_device *dev;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_device_attr_ex attr;
	int job_fd;
	void *buf;
	size_t buf_len;
};

FIXTURE_SETUP(uet)
{
	self->dev = uet_find_device(&self->list);
	if (!self->dev)
		SKIP(return, "no uet device (create one with rdma link add uet0 type uet netdev DEV, or set UET_DEV)");

	self->ctx = ibv_open_device(self->dev);
	ASSERT_NE(NULL, self->ctx) TH_LOG("ibv_open_device(%s): %s",
				   ibv_get_device_name(self->dev),
				   strerror(errno));
	ASSERT_EQ(0, ibv_query_device_ex(self->ctx, NULL, &self->attr));
	/* memory registration needs a job */
	self->job_fd = uet_test_join(self->ctx);
	ASSERT_LE(0, self->job_fd) TH_LOG("joining a job: %s",
					  strerror(-self->job_fd));
	self->pd = ibv_alloc_pd(self->ctx);
	ASSERT_NE(NULL, self->pd) TH_LOG("ibv_alloc_pd: %s", strerror(errno));

	self->buf_len = 64 * 1024;
	self->buf = mmap(NULL, self->buf_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, 0x5a, self->buf_len);
}

FIXTURE_TEARDOWN(uet)
{
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, self->buf_len);
	if (self->pd)
		EXPECT_EQ(0, ibv_dealloc_pd(self->pd));
	if (self->ctx)
		EXPECT_EQ(0, ibv_close_device(self->ctx));
	if (self->job_fd > 0)
		close(self->job_fd);
	if (self->list)
		ibv_free_device_list(self->list);
}

/* sensible device attributes */
TEST_F(uet, query_device)
{
	struct ibv_device_attr *a = &self->attr.orig_attr;

	TH_LOG("%s: fw %s guid %016llx max_mr_size %llu max_cqe %d max_cq %d max_mr %d max_pd %d",
	       ibv_get_device_name(self->dev), a->fw_ver,
	       (unsigned long long)be64toh(a->node_guid),
	       (unsigned long long)a->max_mr_size, a->max_cqe, a->max_cq,
	       a->max_mr, a->max_pd);
	EXPECT_EQ(1, a->phys_port_cnt);
	EXPECT_NE(0, a->node_guid);
	/* a vendor id of its own (as rxe and siw have) */
	EXPECT_NE(0, a->vendor_id);
	EXPECT_LT(0, a->max_cqe);
	EXPECT_LT(0, a->max_cq);
	EXPECT_LT(0, a->max_mr);
	EXPECT_LT(0, a->max_pd);
	EXPECT_LE(1ULL << 20, a->max_mr_size);
	EXPECT_NE(0, a->page_size_cap);
}

/* one port, unspecified link layer, state following the netdev's carrier */
TEST_F(uet, query_port)
{
	struct ibv_port_attr pa;
	char netdev[64];
	int carrier;

	ASSERT_EQ(0, ibv_query_port(self->ctx, 1, &pa));
	uet_netdev(ibv_get_device_name(self->dev), netdev, sizeof(netdev));
	carrier = netdev[0] ? netdev_carrier(netdev) : -1;
	TH_LOG("port 1: state %s link_layer %d active_mtu %d gid_tbl_len %d; netdev '%s' carrier %d",
	       ibv_port_state_str(pa.state), pa.link_layer, pa.active_mtu,
	       pa.gid_tbl_len, netdev, carrier);
	/* not Ethernet: user space would take the GIDs for RoCE GIDs */
	EXPECT_EQ(IBV_LINK_LAYER_UNSPECIFIED, pa.link_layer);
	EXPECT_LT(0, pa.gid_tbl_len);
	if (carrier == 1) {
		EXPECT_EQ(IBV_PORT_ACTIVE, pa.state);
	} else if (carrier == 0) {
		EXPECT_EQ(IBV_PORT_DOWN, pa.state);
	}

	/* there is no port 2 */
	EXPECT_NE(0, ibv_query_port(self->ctx, 2, &pa));
}

/* UET capabilities through uetdv, with the inlen rules */
TEST_F(uet, uetdv_query_device)
{
	struct {
		struct uetdv_device_attr attr;
		uint8_t newer[16];
	} big;
	struct uetdv_device_attr da;
	struct ibv_context *octx;
	struct ibv_device *odev;
	unsigned int i;

	memset(&da, 0xff, sizeof(da));
	ASSERT_EQ(0, uetdv_query_device(self->ctx, &da, sizeof(da)));
	TH_LOG("uet %u.%u caps %#x profiles %#x max_pdc %u max_endpoints %u mtu %u max_msg_size %u max_cqe %u cqe_size %u",
	       da.uet_version_major, da.uet_version_minor, da.dev_caps,
	       da.profiles, da.max_pdc, da.max_endpoints, da.mtu,
	       da.max_msg_size, da.max_cqe, da.cqe_size);
	EXPECT_EQ(0, da.comp_mask);
	/*
	 * Every capability there is, each exercised by uet_msg.sh and
	 * uet_rma.sh (jobs, the four delivery modes, tagged matching, RMA,
	 * atomics), and no unknown bit.
	 */
	EXPECT_EQ(UETDV_DEVICE_CAP_JOBS | UETDV_DEVICE_CAP_RUD |
			  UETDV_DEVICE_CAP_ROD | UETDV_DEVICE_CAP_RUDI |
			  UETDV_DEVICE_CAP_UUD | UETDV_DEVICE_CAP_TAGGED |
			  UETDV_DEVICE_CAP_RMA | UETDV_DEVICE_CAP_ATOMIC,
		  da.dev_caps);
	/* atomics are atomic among the device's own; reads may be many */
	EXPECT_EQ(IBV_ATOMIC_HCA, self->attr.orig_attr.atomic_cap);
	EXPECT_LE(1, self->attr.orig_attr.max_qp_rd_atom);
	EXPECT_LE(1, self->attr.orig_attr.max_qp_init_rd_atom);
	EXPECT_EQ(0, self->attr.orig_attr.max_qp > 0 ? 0 : 1);
	EXPECT_EQ(0, da.profiles & ~0x7u);
	EXPECT_EQ(64, da.cqe_size);
	EXPECT_EQ((uint32_t)self->attr.orig_attr.max_cqe, da.max_cqe);
	EXPECT_LE(1, da.uet_version_major);
	/* endpoints and PDCs exist; an endpoint is a QP, so no more of them */
	EXPECT_LE(1, da.max_pdc);
	EXPECT_LE(1, da.max_endpoints);
	EXPECT_LE(da.max_endpoints, (uint32_t)self->attr.orig_attr.max_qp);
	EXPECT_EQ(0, da.profiles);
	EXPECT_LE(256, da.mtu);
	EXPECT_LE(da.mtu, da.max_msg_size);
	for (i = 0; i < sizeof(da.reserved); i++)
		EXPECT_EQ(0, da.reserved[i]);

	/* too small for the mandatory fields */
	EXPECT_EQ(EINVAL, uetdv_query_device(self->ctx, &da, 0));
	EXPECT_EQ(EINVAL, uetdv_query_device(self->ctx, &da,
					     offsetof(struct uetdv_device_attr,
						      uet_version_minor)));

	/* a newer caller's larger struct: same values, unknown tail zeroed */
	memset(&big, 0xff, sizeof(big));
	ASSERT_EQ(0, uetdv_query_device(self->ctx, &big.attr, sizeof(big)));
	EXPECT_EQ(0, memcmp(&big.attr, &da, sizeof(da)));
	for (i = 0; i < sizeof(big.newer); i++)
		EXPECT_EQ(0, big.newer[i]);

	/* another provider's device, if the machine has one */
	odev = other_device(self->list);
	if (odev) {
		octx = ibv_open_device(odev);
		if (octx) {
			EXPECT_EQ(EOPNOTSUPP,
				  uetdv_query_device(octx, &da, sizeof(da)));
			ibv_close_device(octx);
		}
	}
}

TEST_F(uet, alloc_pd)
{
	struct ibv_pd *pd[4];
	int i;

	for (i = 0; i < 4; i++) {
		pd[i] = ibv_alloc_pd(self->ctx);
		ASSERT_NE(NULL, pd[i]) TH_LOG("pd %d: %s", i, strerror(errno));
	}
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, ibv_dealloc_pd(pd[i]));
}

/* MRs register, get distinct keys and keep their PD busy */
TEST_F(uet, reg_mr_valid)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;
	struct ibv_mr *mr, *mr2, *ro;

	mr = ibv_reg_mr(self->pd, self->buf, self->buf_len, access);
	ASSERT_NE(NULL, mr) TH_LOG("ibv_reg_mr: %s", strerror(errno));
	EXPECT_EQ(self->buf, mr->addr);
	EXPECT_EQ(self->buf_len, mr->length);

	/* an unaligned sub-range, registered twice: distinct keys */
	mr2 = ibv_reg_mr(self->pd, (char *)self->buf + 100, 5000, access);
	ASSERT_NE(NULL, mr2) TH_LOG("ibv_reg_mr: %s", strerror(errno));
	TH_LOG("lkey %#x rkey %#x, lkey %#x rkey %#x", mr->lkey, mr->rkey,
	       mr2->lkey, mr2->rkey);
	EXPECT_NE(mr->lkey, mr2->lkey);
	EXPECT_NE(mr->rkey, mr2->rkey);

	/* local read only */
	ro = ibv_reg_mr(self->pd, self->buf, 4096, 0);
	ASSERT_NE(NULL, ro) TH_LOG("ibv_reg_mr(access 0): %s",
				   strerror(errno));

	/* the PD is in use while it has MRs */
	EXPECT_EQ(EBUSY, ibv_dealloc_pd(self->pd));

	EXPECT_EQ(0, ibv_dereg_mr(ro));
	EXPECT_EQ(0, ibv_dereg_mr(mr2));
	EXPECT_EQ(0, ibv_dereg_mr(mr));
}

/* memory that is not mapped cannot be pinned: EFAULT */
TEST_F(uet, reg_mr_unmapped)
{
	struct ibv_mr *mr;
	void *hole;

	hole = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole, 4 * 4096));

	errno = 0;
	mr = ibv_reg_mr(self->pd, hole, 4 * 4096, IBV_ACCESS_LOCAL_WRITE);
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(EFAULT, errno) TH_LOG("errno %d (%s)", errno, strerror(errno));
	if (mr)
		ibv_dereg_mr(mr);
}

/* remote write/atomic need local write; unknown bits: EINVAL */
TEST_F(uet, reg_mr_bad_access)
{
	static const int bad[] = {
		IBV_ACCESS_REMOTE_WRITE,
		IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
		IBV_ACCESS_REMOTE_ATOMIC,
		IBV_ACCESS_LOCAL_WRITE | (1 << 15),
	};
	struct ibv_mr *mr;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		mr = ibv_reg_mr(self->pd, self->buf, 4096, bad[i]);
		EXPECT_EQ(NULL, mr) TH_LOG("access %#x accepted", bad[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("access %#x: errno %d (%s)",
						bad[i], errno, strerror(errno));
		if (mr)
			ibv_dereg_mr(mr);
	}
}

TEST_F(uet, reg_mr_zero_length)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(self->pd, self->buf, 0, IBV_ACCESS_LOCAL_WRITE);
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(EINVAL, errno) TH_LOG("errno %d (%s)", errno, strerror(errno));
	if (mr)
		ibv_dereg_mr(mr);
}

/* 0, max_cqe + 1 and -1 entries: EINVAL */
TEST_F(uet, create_cq_bad_size)
{
	int bad[] = { 0, self->attr.orig_attr.max_cqe + 1, -1 };
	struct ibv_cq *cq;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		cq = ibv_create_cq(self->ctx, bad[i], NULL, NULL, 0);
		EXPECT_EQ(NULL, cq) TH_LOG("cqe %d accepted", bad[i]);
		EXPECT_EQ(EINVAL, errno) TH_LOG("cqe %d: errno %d (%s)",
						bad[i], errno, strerror(errno));
		if (cq)
			ibv_destroy_cq(cq);
	}
}

/* an empty CQ polls 0 without a system call, arms, and is destroyed */
TEST_F(uet, cq_empty)
{
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq, *big;
	struct ibv_wc wc[16];

	ch = ibv_create_comp_channel(self->ctx);
	ASSERT_NE(NULL, ch) TH_LOG("ibv_create_comp_channel: %s",
				   strerror(errno));
	cq = ibv_create_cq(self->ctx, 16, NULL, ch, 0);
	ASSERT_NE(NULL, cq) TH_LOG("ibv_create_cq: %s", strerror(errno));
	EXPECT_LE(16, cq->cqe);

	EXPECT_EQ(0, ibv_poll_cq(cq, 1, wc));
	EXPECT_EQ(0, ibv_poll_cq(cq, 16, wc));
	EXPECT_EQ(0, ibv_req_notify_cq(cq, 0));
	EXPECT_EQ(0, ibv_req_notify_cq(cq, 1));
	EXPECT_EQ(0, ibv_poll_cq(cq, 16, wc));

	/* the largest CQ the device allows */
	big = ibv_create_cq(self->ctx, self->attr.orig_attr.max_cqe, NULL,
			    NULL, 0);
	ASSERT_NE(NULL, big) TH_LOG("ibv_create_cq(max_cqe %d): %s",
				    self->attr.orig_attr.max_cqe,
				    strerror(errno));
	EXPECT_EQ(0, ibv_poll_cq(big, 16, wc));
	EXPECT_EQ(0, ibv_destroy_cq(big));

	EXPECT_EQ(0, ibv_destroy_cq(cq));
	EXPECT_EQ(0, ibv_destroy_comp_channel(ch));
}

/* verbs libuet does not provide fail cleanly */
/*
 * The object limits query_device reports are the ones the device enforces:
 * exactly max_pd PDs and max_cq CQs can exist on the device at once, and
 * MRs up to max_mr_size (the next byte is refused).
 */
TEST_F_TIMEOUT(uet, limits_are_enforced, 600)
{
	struct ibv_device_attr *a = &self->attr.orig_attr;
	struct ibv_pd **pds;
	struct ibv_cq **cqs, *cq;
	struct ibv_mr *mr;
	int i, n;

	/* the fixture's PD counts: max_pd - 1 more fit, then ENOMEM */
	pds = calloc(a->max_pd, sizeof(*pds));
	ASSERT_NE(NULL, pds);
	for (n = 0; n < a->max_pd; n++) {
		pds[n] = ibv_alloc_pd(self->ctx);
		if (!pds[n])
			break;
	}
	EXPECT_EQ(a->max_pd - 1, n) TH_LOG("PDs beyond the fixture's: %d, errno %s",
					   n, strerror(errno));
	EXPECT_EQ(ENOMEM, errno);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, ibv_dealloc_pd(pds[i]));
	free(pds);

	cqs = calloc(a->max_cq + 1, sizeof(*cqs));
	ASSERT_NE(NULL, cqs);
	for (n = 0; n <= a->max_cq; n++) {
		cqs[n] = ibv_create_cq(self->ctx, 1, NULL, NULL, 0);
		if (!cqs[n])
			break;
	}
	EXPECT_EQ(a->max_cq, n) TH_LOG("CQs: %d, errno %s", n, strerror(errno));
	EXPECT_EQ(ENOMEM, errno);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, ibv_destroy_cq(cqs[i]));
	free(cqs);

	/* the largest CQ, and one entry more */
	cq = ibv_create_cq(self->ctx, a->max_cqe, NULL, NULL, 0);
	ASSERT_NE(NULL, cq) TH_LOG("max_cqe %d: %s", a->max_cqe, strerror(errno));
	EXPECT_LE(a->max_cqe, cq->cqe);
	EXPECT_EQ(0, ibv_destroy_cq(cq));
	cq = ibv_create_cq(self->ctx, a->max_cqe + 1, NULL, NULL, 0);
	EXPECT_EQ(NULL, cq);
	if (cq)
		ibv_destroy_cq(cq);

	/* one byte beyond max_mr_size is refused before anything is pinned */
	mr = ibv_reg_mr(self->pd, self->buf, a->max_mr_size + 1,
			IBV_ACCESS_LOCAL_WRITE);
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(EINVAL, errno);
	if (mr)
		ibv_dereg_mr(mr);
}

/* max_mr MRs, not one more */
TEST_F_TIMEOUT(uet, mr_limit_is_enforced, 900)
{
	int max = self->attr.orig_attr.max_mr, i, n;
	struct ibv_mr **mrs;

	mrs = calloc(max + 1, sizeof(*mrs));
	ASSERT_NE(NULL, mrs);
	for (n = 0; n <= max; n++) {
		mrs[n] = ibv_reg_mr(self->pd, self->buf, 4096, 0);
		if (!mrs[n])
			break;
	}
	EXPECT_EQ(max, n) TH_LOG("MRs: %d, errno %s", n, strerror(errno));
	EXPECT_EQ(ENOMEM, errno);
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, ibv_dereg_mr(mrs[i]));
	free(mrs);
}

/*
 * Memory keys belong to a job: a context that has not joined one can make
 * PDs and CQs but not register memory (EPERM); once it joined, it can.
 */
TEST_F(uet, reg_mr_needs_a_job)
{
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	int fd;

	ctx = ibv_open_device(self->dev);
	ASSERT_NE(NULL, ctx);
	pd = ibv_alloc_pd(ctx);
	ASSERT_NE(NULL, pd) TH_LOG("PD without a job: %s", strerror(errno));
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	ASSERT_NE(NULL, cq) TH_LOG("CQ without a job: %s", strerror(errno));
	mr = ibv_reg_mr(pd, self->buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(EPERM, errno);
	if (mr)
		ibv_dereg_mr(mr);

	fd = uet_test_join(ctx);
	ASSERT_LE(0, fd) TH_LOG("join: %s", strerror(-fd));
	mr = ibv_reg_mr(pd, self->buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	EXPECT_NE(NULL, mr) TH_LOG("MR after joining: %s", strerror(errno));
	/* a second job cannot be joined: the context is bound */
	{
		int fd2 = uet_test_job_new();

		ASSERT_LE(0, fd2);
		EXPECT_EQ(EBUSY, uetdv_join_job(ctx, fd2));
		close(fd2);
	}
	if (mr)
		EXPECT_EQ(0, ibv_dereg_mr(mr));
	EXPECT_EQ(0, ibv_destroy_cq(cq));
	EXPECT_EQ(0, ibv_dealloc_pd(pd));
	EXPECT_EQ(0, ibv_close_device(ctx));
	close(fd);
}

/*
 * REVOKE of the context's job: every CQ of the context reports
 * IBV_EVENT_CQ_ERR on the async event file, once, and every later verb on
 * the context that can report an error fails with EIO (objects can still
 * be destroyed).
 */
TEST_F(uet, revoke_puts_cqs_in_error)
{
	struct ibv_async_event ev;
	struct ibv_cq *cq[2], *cq3;
	struct uetdv_job_info info;
	struct pollfd pfd;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	int seen[2] = {}, i, n;

	for (i = 0; i < 2; i++) {
		cq[i] = ibv_create_cq(self->ctx, 4, NULL, NULL, 0);
		ASSERT_NE(NULL, cq[i]);
	}
	ASSERT_EQ(0, ibv_req_notify_cq(cq[0], 0));
	ASSERT_EQ(0, ioctl(self->job_fd, RDMA_JOB_IOC_REVOKE));

	for (n = 0; n < 2; n++) {
		pfd.fd = self->ctx->async_fd;
		pfd.events = POLLIN;
		ASSERT_EQ(1, poll(&pfd, 1, 5000)) TH_LOG("no async event after REVOKE");
		ASSERT_EQ(0, ibv_get_async_event(self->ctx, &ev));
		EXPECT_EQ(IBV_EVENT_CQ_ERR, ev.event_type);
		for (i = 0; i < 2; i++)
			if (ev.event_type == IBV_EVENT_CQ_ERR && ev.element.cq == cq[i])
				seen[i]++;
		ibv_ack_async_event(&ev);
	}
	EXPECT_EQ(1, seen[0]);
	EXPECT_EQ(1, seen[1]);
	/* once: nothing more follows */
	pfd.fd = self->ctx->async_fd;
	pfd.events = POLLIN;
	EXPECT_EQ(0, poll(&pfd, 1, 500));

	/*
	 * ibv_req_notify_cq() cannot fail here: uverbs ignores what the
	 * driver's req_notify_cq returns (the device refuses to arm, EIO).
	 */
	pd = ibv_alloc_pd(self->ctx);
	EXPECT_EQ(NULL, pd);
	EXPECT_EQ(EIO, errno);
	cq3 = ibv_create_cq(self->ctx, 4, NULL, NULL, 0);
	EXPECT_EQ(NULL, cq3);
	EXPECT_EQ(EIO, errno);
	mr = ibv_reg_mr(self->pd, self->buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	EXPECT_EQ(NULL, mr);
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(EIO, uetdv_query_job(self->ctx, &info, sizeof(info)));
	EXPECT_EQ(EIO, uetdv_join_job(self->ctx, self->job_fd));
	if (pd)
		ibv_dealloc_pd(pd);
	if (cq3)
		ibv_destroy_cq(cq3);
	if (mr)
		ibv_dereg_mr(mr);
	/* what exists can still be destroyed */
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, ibv_destroy_cq(cq[i]));
}

/*
 * The job methods (UVERBS_OBJECT_JOB) exist only on devices whose driver
 * implements jobs: a raw JOB_QUERY on another provider's device is an
 * unknown method (EPROTONOSUPPORT), on a uet device it is served (ENOENT
 * for a context without a job).
 */
static int raw_job_query(struct ibv_context *ctx)
{
	const char *name = ibv_get_device_name(ctx->device);
	struct rdma_job_info info;
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attr;
	} cmd = {
		.hdr = {
			.length = sizeof(cmd),
			.object_id = UVERBS_OBJECT_JOB,
			.method_id = UVERBS_METHOD_JOB_QUERY,
			.num_attrs = 1,
			/* uverbs checks the caller knows the driver */
			.driver_id = !strncmp(name, "uet", 3) ? RDMA_DRIVER_UET :
				     !strncmp(name, "rxe", 3) ? RDMA_DRIVER_RXE :
								RDMA_DRIVER_UNKNOWN,
		},
		.attr = {
			.attr_id = UVERBS_ATTR_JOB_QUERY_RESP,
			.len = sizeof(info),
			.data = (uintptr_t)&info,
		},
	};

	return ioctl(ctx->cmd_fd, RDMA_VERBS_IOCTL, &cmd) ? errno : 0;
}

TEST_F(uet, job_object_only_on_job_devices)
{
	struct ibv_context *ctx, *octx;
	struct ibv_device *odev;

	ctx = ibv_open_device(self->dev);
	ASSERT_NE(NULL, ctx);
	EXPECT_EQ(ENOENT, raw_job_query(ctx));
	ibv_close_device(ctx);
	/* the fixture's context has joined: served */
	EXPECT_EQ(0, raw_job_query(self->ctx));

	odev = other_device(self->list);
	if (!odev || strncmp(ibv_get_device_name(odev), "rxe", 3))
		SKIP(return, "no rxe device (rdma_rxe not available)");
	octx = ibv_open_device(odev);
	ASSERT_NE(NULL, octx);
	TH_LOG("%s: JOB_QUERY: %s", ibv_get_device_name(odev),
	       strerror(raw_job_query(octx)));
	EXPECT_EQ(EPROTONOSUPPORT, raw_job_query(octx));
	ibv_close_device(octx);
}

TEST_F(uet, unsupported_verbs)
{
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_cq *cq;
	struct ibv_qp *qp;

	cq = ibv_create_cq(self->ctx, 4, NULL, NULL, 0);
	ASSERT_NE(NULL, cq);
	qa.send_cq = cq;
	qa.recv_cq = cq;
	errno = 0;
	qp = ibv_create_qp(self->pd, &qa);
	EXPECT_EQ(NULL, qp);
	EXPECT_NE(0, errno);
	TH_LOG("ibv_create_qp: %s", strerror(errno));
	if (qp)
		ibv_destroy_qp(qp);
	EXPECT_EQ(0, ibv_destroy_cq(cq));
}

/* one open/alloc/reg/create/destroy/close round; 0 or a failing step */
static int leak_round(struct ibv_device *dev, void *buf, int cqe)
{
	struct ibv_context *ctx;
	struct ibv_cq *cq = NULL;
	struct ibv_mr *mr = NULL;
	struct ibv_pd *pd = NULL;
	int ret = 0, job;

	ctx = ibv_open_device(dev);
	if (!ctx)
		return 1;
	/* a job per round: its JobID and membership must not leak either */
	job = uet_test_join(ctx);
	if (job < 0) {
		ret = 9;
		goto out;
	}
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		ret = 2;
		goto out;
	}
	mr = ibv_reg_mr(pd, buf, LEAK_MR_BYTES,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr) {
		ret = 3;
		goto out;
	}
	cq = ibv_create_cq(ctx, cqe, NULL, NULL, 0);
	if (!cq) {
		ret = 4;
		goto out;
	}
out:
	if (cq && ibv_destroy_cq(cq))
		ret = ret ?: 5;
	if (mr && ibv_dereg_mr(mr))
		ret = ret ?: 6;
	if (pd && ibv_dealloc_pd(pd))
		ret = ret ?: 7;
	if (ibv_close_device(ctx))
		ret = ret ?: 8;
	if (job >= 0)
		close(job);
	return ret;
}

/* LEAK_ROUNDS rounds grow neither unreclaimable slab nor used memory */
TEST_F_TIMEOUT(uet, no_leak, 600)
{
	int cqe = self->attr.orig_attr.max_cqe < LEAK_CQE ?
			  self->attr.orig_attr.max_cqe : LEAK_CQE;
	long slab0, slab1, avail0, avail1;
	void *buf;
	int i, r;

	buf = mmap(NULL, LEAK_MR_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, LEAK_MR_BYTES);

	/* warm the caches (slab, page tables) before measuring */
	for (i = 0; i < LEAK_WARMUP; i++) {
		r = leak_round(self->dev, buf, cqe);
		ASSERT_EQ(0, r) TH_LOG("warmup round %d failed at step %d: %s",
				       i, r, strerror(errno));
	}
	settle_memory();
	slab0 = meminfo_kb("SUnreclaim");
	avail0 = meminfo_kb("MemAvailable");
	ASSERT_LE(0, avail0);

	for (i = 0; i < LEAK_ROUNDS; i++) {
		r = leak_round(self->dev, buf, cqe);
		ASSERT_EQ(0, r) TH_LOG("round %d failed at step %d: %s", i, r,
				       strerror(errno));
	}
	settle_memory();
	slab1 = meminfo_kb("SUnreclaim");
	avail1 = meminfo_kb("MemAvailable");

	TH_LOG("%d rounds: SUnreclaim %ld -> %ld kB, MemAvailable %ld -> %ld kB",
	       LEAK_ROUNDS, slab0, slab1, avail0, avail1);
	if (slab0 >= 0 && slab1 >= 0)
		EXPECT_GT(LEAK_SLAB_KB, slab1 - slab0);
	EXPECT_GT(LEAK_AVAIL_KB, avail0 - avail1);
	munmap(buf, LEAK_MR_BYTES);
}

TEST_HARNESS_MAIN
