// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_ru_pingpong: messages back and forth between two RU queue pairs,
 * written only against the UET verbs proposed for libibverbs (ibv_uet(7)),
 * with the options of ibv_rc_pingpong:
 *
 *   uet_ru_pingpong [options]            server
 *   uet_ru_pingpong [options] SERVER     client
 *
 *   -p PORT   TCP port of the exchange (18515)     -d DEV   device
 *   -i PORT   device port (1)                      -g IDX   GID index (0)
 *   -s SIZE   message bytes (4096)                 -r N     receives posted (500)
 *   -n N      exchanges (1000)                     -e       completion events
 *   -c        check every message's content        -j ID    JobID (46)
 *   -J        the job must come from $UET_JOB_FD (uet-launch)
 *   -N        ibv_wr_* and ibv_start_poll, else ibv_post_send (wr.ru)
 *   -I 0|32|64  immediate data width (0: none)     -A       job address table
 *   -S ID     source ID of our QP: ID on the client, ID + 1 on the server
 *             (IBV_QP_INIT_ATTR_SRC_ID); else it is the QP number
 *   -W        64-bit local keys: receives through ibv_post_recv64 (struct
 *             ibv_sge64), sends with IBV_SEND_SGE64 (sg64_list) or, with -N,
 *             ibv_wr_set_sge64, all with the region's lkey64; first, each
 *             of the three must refuse lkey64 | 1 << 32 with EINVAL
 *   -X        instead: check that the UET verbs it lists on device -d refuse
 *             with EOPNOTSUPP (a device without IBV_DEVICE_RU), but
 *             ibv_reg_mr_ex() of an address, which registers
 *
 * With -N the receiver checks on every message the JobID, the source ID
 * (the sender's -S value, else its QP number) and the 64-bit immediate;
 * without -N, wc.src_qp, which libuet fills with the same source ID.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <poll.h>
#include <sys/time.h>

#include "uet_ru.h"

#define SEND_WRID 1
#define RECV_WRID 2

struct pp {
	struct ru_common c;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	struct ibv_cq_ex *cqx;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;
	struct ibv_mr *mr;
	uint8_t *buf;		/* rx_depth receive slots, then a send slot */
	size_t size;
	uint32_t rx_depth;
	int events;
	int check;
	int new_api;
	int imm;
	int wide;		/* -W: ibv_sge64, ibv_post_recv64 */
	struct ru_peer peer;
	unsigned long bad;
};

static uint8_t *slot(struct pp *pp, uint32_t i)
{
	return pp->buf + (size_t)i * (pp->size ? pp->size : 1);
}

static uint8_t pattern(uint32_t iter, size_t off, int from_client)
{
	return (uint8_t)(iter * 7 + off * 13 + (from_client ? 0x5a : 0xa5));
}

static uint64_t imm_of(uint32_t iter)
{
	return 0xfeed000000000000ull | ((uint64_t)iter << 8) | 0x64;
}

static int post_recv(struct pp *pp, uint32_t i)
{
	struct ibv_sge64 sge64 = {
		.addr = (uintptr_t)slot(pp, i),
		.length = pp->size,
		.lkey64 = pp->mr->lkey64,
	};
	struct ibv_recv_wr64 wr64 = {
		.wr_id = RECV_WRID | ((uint64_t)i << 8),
		.sg_list = &sge64,
		.num_sge = pp->size ? 1 : 0,
	}, *bad64;
	struct ibv_sge sge = {
		.addr = (uintptr_t)slot(pp, i),
		.length = pp->size,
		.lkey = pp->mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = RECV_WRID | ((uint64_t)i << 8),
		.sg_list = &sge,
		.num_sge = pp->size ? 1 : 0,
	}, *bad;

	if (pp->wide)
		return ibv_post_recv64(pp->qp, &wr64, &bad64);
	return ibv_post_recv(pp->qp, &wr, &bad);
}

static int post_send(struct pp *pp, uint32_t iter, int client)
{
	uint8_t *s = slot(pp, pp->rx_depth);
	struct ibv_sge sge = {
		.addr = (uintptr_t)s, .length = pp->size, .lkey = pp->mr->lkey,
	};
	struct ibv_sge64 sge64 = {
		.addr = (uintptr_t)s, .length = pp->size,
		.lkey64 = pp->mr->lkey64,
	};
	struct ibv_send_wr wr = {}, *bad;
	size_t k;

	for (k = 0; k < pp->size; k++)
		s[k] = pattern(iter, k, client);
	if (pp->new_api) {
		ibv_wr_start(pp->qpx);
		pp->qpx->wr_id = SEND_WRID;
		pp->qpx->wr_flags = IBV_SEND_SIGNALED;
		if (pp->imm == 64)
			ibv_wr_send_imm64(pp->qpx, htobe64(imm_of(iter)));
		else if (pp->imm == 32)
			ibv_wr_send_imm(pp->qpx, htonl((uint32_t)imm_of(iter)));
		else
			ibv_wr_send(pp->qpx);
		ru_wr_dest(&pp->c, pp->qpx);
		if (pp->size && pp->wide)
			ibv_wr_set_sge64(pp->qpx, sge64.lkey64, sge64.addr,
					 sge64.length);
		else if (pp->size)
			ibv_wr_set_sge(pp->qpx, sge.lkey, sge.addr, sge.length);
		return ibv_wr_complete(pp->qpx);
	}
	wr.wr_id = SEND_WRID;
	wr.num_sge = pp->size ? 1 : 0;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (pp->wide) {
		wr.sg64_list = &sge64;
		wr.send_flags |= IBV_SEND_SGE64;
	} else {
		wr.sg_list = &sge;
	}
	if (pp->imm) {
		wr.opcode = IBV_WR_SEND_WITH_IMM;
		wr.imm_data = htonl((uint32_t)imm_of(iter));
	} else {
		wr.opcode = IBV_WR_SEND;
	}
	if (pp->c.addr_table) {
		wr.wr.ru.ah = NULL;
		wr.wr.ru.addr_idx = RU_ADDR_IDX;
	} else {
		wr.wr.ru.ah = pp->c.ah_ex;
	}
	wr.wr.ru.jkey = pp->c.jkey->jkey;
	return ibv_post_send(pp->qp, &wr, &bad);
}

static int wait_event(struct pp *pp)
{
	struct ibv_cq *cq;
	void *cq_ctx;

	if (ibv_get_cq_event(pp->ch, &cq, &cq_ctx)) {
		ru_err("ibv_get_cq_event: %s\n", strerror(errno));
		return -1;
	}
	ibv_ack_cq_events(cq, 1);
	if (ibv_req_notify_cq(cq, 0)) {
		ru_err("ibv_req_notify_cq failed\n");
		return -1;
	}
	return 0;
}

/* checks a received message: content, and with -N its completion fields */
static void check_recv(struct pp *pp, uint32_t slotno, uint32_t len,
		       uint32_t iter, int client, int has_imm, uint64_t imm)
{
	uint8_t *r = slot(pp, slotno);
	size_t k;

	if (len != pp->size) {
		ru_err("message %u: %u bytes, want %zu\n", iter, len, pp->size);
		pp->bad++;
		return;
	}
	if (pp->imm && !has_imm) {
		ru_err("message %u: no immediate\n", iter);
		pp->bad++;
	}
	if (pp->imm == 64 && imm != imm_of(iter)) {
		ru_err("message %u: imm64 0x%" PRIx64 ", want 0x%" PRIx64 "\n",
		       iter, imm, imm_of(iter));
		pp->bad++;
	}
	if (pp->imm == 32 && (uint32_t)imm != (uint32_t)imm_of(iter)) {
		ru_err("message %u: imm 0x%x\n", iter, (uint32_t)imm);
		pp->bad++;
	}
	if (!pp->check)
		return;
	for (k = 0; k < pp->size; k++)
		if (r[k] != pattern(iter, k, !client)) {
			ru_err("message %u: byte %zu is 0x%02x\n", iter, k, r[k]);
			pp->bad++;
			return;
		}
}

/*
 * Waits for the receive of message iter and the completion of our last
 * send (if one is outstanding), reposting the receive slot.
 */
static int wait_for(struct pp *pp, uint32_t iter, int client, int *sends,
		    bool want_recv)
{
	bool got_recv = !want_recv;

	while (!got_recv || *sends) {
		uint64_t wr_id, imm = 0;
		uint32_t len = 0, slotno;
		enum ibv_wc_status st;
		int opcode, has_imm = 0, n = 0;

		if (pp->new_api) {
			struct ibv_poll_cq_attr attr = {};
			int ret = ibv_start_poll(pp->cqx, &attr);

			if (ret == ENOENT) {
				if (pp->events && wait_event(pp))
					return -1;
				continue;
			}
			if (ret) {
				ru_err("ibv_start_poll: %s\n", strerror(ret));
				return -1;
			}
			wr_id = pp->cqx->wr_id;
			st = pp->cqx->status;
			opcode = ibv_wc_read_opcode(pp->cqx);
			if (st == IBV_WC_SUCCESS && (opcode & IBV_WC_RECV)) {
				len = ibv_wc_read_byte_len(pp->cqx);
				has_imm = !!(ibv_wc_read_wc_flags(pp->cqx) &
					     IBV_WC_WITH_IMM);
				if (pp->imm == 64)
					imm = be64toh(
						ibv_wc_read_imm64_data(pp->cqx));
				else if (has_imm)
					imm = ntohl(
						ibv_wc_read_imm_data(pp->cqx));
				if (ibv_wc_read_job_id(pp->cqx) !=
				    pp->c.job_id) {
					ru_err("message %u: JobID %u\n", iter,
					       ibv_wc_read_job_id(pp->cqx));
					pp->bad++;
				}
				if (ibv_wc_read_src_id(pp->cqx) !=
				    pp->peer.src_id) {
					ru_err("message %u: source ID 0x%x, "
					       "want 0x%x\n", iter,
					       ibv_wc_read_src_id(pp->cqx),
					       pp->peer.src_id);
					pp->bad++;
				}
			}
			ibv_end_poll(pp->cqx);
			n = 1;
		} else {
			struct ibv_wc wc;

			n = ibv_poll_cq(pp->cq, 1, &wc);
			if (n < 0) {
				ru_err("ibv_poll_cq failed\n");
				return -1;
			}
			if (!n) {
				if (pp->events && wait_event(pp))
					return -1;
				continue;
			}
			wr_id = wc.wr_id;
			st = wc.status;
			opcode = wc.opcode;
			len = wc.byte_len;
			has_imm = !!(wc.wc_flags & IBV_WC_WITH_IMM);
			imm = has_imm ? ntohl(wc.imm_data) : 0;
			if (st == IBV_WC_SUCCESS && (opcode & IBV_WC_RECV) &&
			    wc.src_qp != pp->peer.src_id) {
				ru_err("message %u: src_qp 0x%x, want 0x%x\n",
				       iter, wc.src_qp, pp->peer.src_id);
				pp->bad++;
			}
		}
		if (st != IBV_WC_SUCCESS) {
			ru_err("completion of wr_id 0x%" PRIx64 ": %s\n", wr_id,
			       ibv_wc_status_str(st));
			return -1;
		}
		if ((wr_id & 0xff) == SEND_WRID) {
			(*sends)--;
			continue;
		}
		slotno = wr_id >> 8;
		if (got_recv) {
			ru_err("message %u: one receive too many\n", iter);
			return -1;
		}
		check_recv(pp, slotno, len, iter, client, has_imm, imm);
		(void)opcode;
		if (post_recv(pp, slotno)) {
			ru_err("ibv_post_recv failed\n");
			return -1;
		}
		got_recv = true;
	}
	return 0;
}

/* -X: a device without the UET verbs must refuse every one of them */
static int refuse_check(const char *devname)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	struct ibv_device_attr_ex dattr = {};
	struct ibv_job_attr jattr = { .comp_mask = IBV_JOB_ATTR_ID, .id = 46 };
	struct ibv_qp_semantics sem;
	struct ibv_ah_attr_ex aattr = {};
	struct ibv_mr_init_attr mattr = {};
	struct ibv_qp_init_attr_ex qattr = {};
	struct ibv_cq *cq;
	struct ibv_job *job = NULL;
	struct ibv_pd *pd;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	static char buf[4096] __attribute__((aligned(4096)));
	int i, bad = 0, err;

	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), devname))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx) {
		ru_err("cannot open %s\n", devname);
		return 1;
	}
#define REFUSED(what, cond)                                                  \
	do {                                                                 \
		bool ok = (cond);                                            \
		printf("%s: %s: %s\n", devname, what,                        \
		       ok ? "refused with EOPNOTSUPP" : "NOT refused");       \
		bad += !ok;                                                  \
	} while (0)
#define WORKS(what, cond)                                                    \
	do {                                                                 \
		bool ok = (cond);                                            \
		printf("%s: %s: %s\n", devname, what,                        \
		       ok ? "as expected" : "NOT as expected");              \
		bad += !ok;                                                  \
	} while (0)
	err = ibv_query_device_ex(ctx, NULL, &dattr);
	WORKS("ibv_query_device_ex() does not report IBV_DEVICE_RU",
	      !err && !(dattr.device_cap_flags_ex & IBV_DEVICE_RU));
	errno = 0;
	REFUSED("ibv_alloc_job", !ibv_alloc_job(ctx, &jattr, NULL) &&
				      errno == EOPNOTSUPP);
	REFUSED("ibv_import_job", ibv_import_job(ctx, 0, &job) == EOPNOTSUPP);
	REFUSED("ibv_query_qp_semantics",
		ibv_query_qp_semantics(ctx, IBV_QPT_RU, 1, 0, &sem,
				       sizeof(sem)) == EOPNOTSUPP);
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 4, NULL, NULL, 0);
	if (!pd || !cq) {
		ru_err("%s: no PD or CQ\n", devname);
		return 1;
	}
	aattr.ah_attr.is_global = 1;
	aattr.ah_attr.port_num = 1;
	errno = 0;
	REFUSED("ibv_create_ah_ex", !ibv_create_ah_ex(pd, &aattr) &&
					errno == EOPNOTSUPP);
	/* the forms without UET attributes register as ibv_reg_mr() does */
	mattr.comp_mask = IBV_REG_MR_MASK_ADDR;
	mattr.addr = buf;
	mattr.length = sizeof(buf);
	mattr.access = IBV_ACCESS_LOCAL_WRITE;
	mr = ibv_reg_mr_ex(pd, &mattr);
	WORKS("ibv_reg_mr_ex(ADDR) registers, lkey64/rkey64 are the keys",
	      mr && mr->addr == buf && mr->length == sizeof(buf) &&
	      mr->pd == pd && mr->lkey64 == mr->lkey &&
	      mr->rkey64 == mr->rkey);
	/* after ibv_rereg_mr() they are still the (maybe new) keys */
	if (mr && ibv_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			       IBV_ACCESS_LOCAL_WRITE |
			       IBV_ACCESS_REMOTE_WRITE))
		printf("%s: ibv_rereg_mr: %s (not checked)\n", devname,
		       strerror(errno));
	else if (mr)
		WORKS("ibv_rereg_mr: lkey64/rkey64 follow the keys",
		      mr->lkey64 == mr->lkey && mr->rkey64 == mr->rkey);
	WORKS("ibv_dereg_mr", mr && !ibv_dereg_mr(mr));
	mattr.comp_mask = IBV_REG_MR_MASK_ADDR | IBV_REG_MR_MASK_IOVA;
	mattr.iova = 0x100000;
	mr = ibv_reg_mr_ex(pd, &mattr);
	if (!mr)
		printf("%s: ibv_reg_mr_ex(ADDR, IOVA): %s\n", devname,
		       strerror(errno));
	WORKS("ibv_reg_mr_ex(ADDR, IOVA) registers",
	      mr && mr->addr == buf && !ibv_dereg_mr(mr));
	/* neither an address nor a dma-buf */
	mattr.comp_mask = IBV_REG_MR_MASK_IOVA;
	errno = 0;
	WORKS("ibv_reg_mr_ex(IOVA only) is EINVAL",
	      !ibv_reg_mr_ex(pd, &mattr) && errno == EINVAL);
	mattr.comp_mask = IBV_REG_MR_MASK_ADDR | IBV_REG_MR_MASK_RKEY;
	mattr.rkey = 0x5eed;
	errno = 0;
	REFUSED("ibv_reg_mr_ex(RKEY)", !ibv_reg_mr_ex(pd, &mattr) &&
					   errno == EOPNOTSUPP);
	mattr.comp_mask = IBV_REG_MR_MASK_ADDR | IBV_REG_MR_MASK_JKEY;
	mattr.job_key = NULL;
	errno = 0;
	REFUSED("ibv_reg_mr_ex(JKEY)", !ibv_reg_mr_ex(pd, &mattr) &&
					   errno == EOPNOTSUPP);
	qattr.qp_type = IBV_QPT_RU;
	qattr.send_cq = cq;
	qattr.recv_cq = cq;
	qattr.cap.max_send_wr = qattr.cap.max_recv_wr = 4;
	qattr.cap.max_send_sge = qattr.cap.max_recv_sge = 1;
	qattr.comp_mask = IBV_QP_INIT_ATTR_PD;
	qattr.pd = pd;
	errno = 0;
	REFUSED("ibv_create_qp_ex(IBV_QPT_RU)",
		!ibv_create_qp_ex(ctx, &qattr) && errno == EOPNOTSUPP);
	qattr.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	qattr.send_ops_flags = IBV_QP_EX_WITH_SEND;
	errno = 0;
	REFUSED("ibv_create_qp_ex(IBV_QPT_RU, send ops)",
		!ibv_create_qp_ex(ctx, &qattr) && errno == EOPNOTSUPP);

	/* a CQ asked for the UET completion fields, each and together */
	for (i = 0; i < 4; i++) {
		static const uint64_t f[] = {
			IBV_WC_EX_WITH_IMM64, IBV_WC_EX_WITH_SRC_ID,
			IBV_WC_EX_WITH_JOB_ID,
			IBV_WC_EX_WITH_IMM64 | IBV_WC_EX_WITH_SRC_ID |
				IBV_WC_EX_WITH_JOB_ID,
		};
		static const char *const n[] = {
			"ibv_create_cq_ex(IBV_WC_EX_WITH_IMM64)",
			"ibv_create_cq_ex(IBV_WC_EX_WITH_SRC_ID)",
			"ibv_create_cq_ex(IBV_WC_EX_WITH_JOB_ID)",
			"ibv_create_cq_ex(IMM64 | SRC_ID | JOB_ID)",
		};
		struct ibv_cq_init_attr_ex cqa = {
			.cqe = 4,
			.wc_flags = IBV_WC_EX_WITH_BYTE_LEN | f[i],
		};
		struct ibv_cq_ex *cqx;

		errno = 0;
		cqx = ibv_create_cq_ex(ctx, &cqa);
		REFUSED(n[i], !cqx && errno == EOPNOTSUPP);
		if (cqx)
			ibv_destroy_cq(ibv_cq_ex_to_cq(cqx));
	}

	/* on a QP the device has (RC): the calls that take one */
	memset(&qattr, 0, sizeof(qattr));
	qattr.qp_type = IBV_QPT_RC;
	qattr.send_cq = cq;
	qattr.recv_cq = cq;
	qattr.cap.max_send_wr = qattr.cap.max_recv_wr = 4;
	qattr.cap.max_send_sge = qattr.cap.max_recv_sge = 1;
	qattr.comp_mask = IBV_QP_INIT_ATTR_PD;
	qattr.pd = pd;
	qp = ibv_create_qp_ex(ctx, &qattr);
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
	if (!qp || !mr) {
		printf("%s: an RC QP and an MR: NOT as expected (%s)\n",
		       devname, strerror(errno));
		bad++;
	} else {
		struct ibv_sge64 sge = {
			.addr = (uintptr_t)buf, .length = 64,
			.lkey64 = mr->lkey64,
		};
		struct ibv_recv_wr64 rwr = { .sg_list = &sge, .num_sge = 1 };
		struct ibv_recv_wr64 *badwr = NULL;

		/* the command layer (ibv_cmd_reg_mr) copies the keys for
		 * every provider: this provider's MR has them too */
		WORKS("ibv_reg_mr: lkey64/rkey64 are the keys",
		      mr->lkey64 == mr->lkey && mr->rkey64 == mr->rkey);
		REFUSED("ibv_post_recv64",
			ibv_post_recv64(qp, &rwr, &badwr) == EOPNOTSUPP &&
			badwr == &rwr);
		REFUSED("ibv_attach_mr", ibv_attach_mr(qp, mr) == EOPNOTSUPP);
		REFUSED("ibv_detach_mr", ibv_detach_mr(qp, mr) == EOPNOTSUPP);
	}
	if (qp)
		ibv_destroy_qp(qp);
	if (mr)
		ibv_dereg_mr(mr);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	printf("%s: %s\n", devname, bad ? "FAILED" :
	       "every UET verb checked refused, plain ibv_reg_mr_ex registered");
	return bad ? 1 : 0;
}

static void usage(const char *argv0)
{
	printf("usage: %s [-p port] [-d dev] [-i ib-port] [-g gid-idx] "
	       "[-s size] [-r rx-depth] [-n iters] [-e] [-c] [-j jobid] [-J] [-N] "
	       "[-I 0|32|64] [-A] [-S src-id] [-W] [server]\n       %s -X -d dev\n",
	       argv0, argv0);
}

int main(int argc, char **argv)
{
	struct pp pp = { .size = 4096, .rx_depth = 500 };
	struct ibv_cq_init_attr_ex cqa = {};
	struct ru_peer mine = {};
	struct timeval t0, t1;
	const char *server = NULL;
	int port = 18515, iters = 1000, refuse = 0, opt, sends = 0;
	uint64_t ops;
	uint32_t i;

	pp.c.ib_port = 1;
	pp.c.job_id = 46;
	while ((opt = getopt(argc, argv, "p:d:i:g:s:r:n:ecj:JNI:AS:WXh")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'd': pp.c.devname = optarg; break;
		case 'i': pp.c.ib_port = atoi(optarg); break;
		case 'g': pp.c.gidx = atoi(optarg); break;
		case 's': pp.size = strtoul(optarg, NULL, 0); break;
		case 'r': pp.rx_depth = strtoul(optarg, NULL, 0); break;
		case 'n': iters = atoi(optarg); break;
		case 'e': pp.events = 1; break;
		case 'c': pp.check = 1; break;
		case 'j': pp.c.job_id = strtoul(optarg, NULL, 0); break;
		case 'J': pp.c.need_import = true; break;
		case 'N': pp.new_api = 1; break;
		case 'I': pp.imm = atoi(optarg); break;
		case 'A': pp.c.addr_table = true; break;
		case 'S':
			pp.c.set_src_id = true;
			pp.c.src_id = strtoul(optarg, NULL, 0);
			break;
		case 'W': pp.wide = 1; break;
		case 'X': refuse = 1; break;
		default: usage(argv[0]); return 1;
		}
	}
	if (refuse) {
		if (!pp.c.devname) {
			usage(argv[0]);
			return 1;
		}
		return refuse_check(pp.c.devname);
	}
	if (optind == argc - 1)
		server = argv[optind];
	else if (optind < argc) {
		usage(argv[0]);
		return 1;
	}
	if ((pp.imm != 0 && pp.imm != 32 && pp.imm != 64) ||
	    (pp.imm == 64 && !pp.new_api) || !pp.rx_depth || iters < 1) {
		ru_err("-I 64 needs -N; -r and -n must be positive\n");
		return 1;
	}

	/* the server's source ID differs from the client's */
	if (!server)
		pp.c.src_id++;
	if (ru_open(&pp.c))
		return 1;
	pp.buf = calloc(pp.rx_depth + 1, pp.size ? pp.size : 1);
	if (!pp.buf)
		return 1;
	pp.mr = ibv_reg_mr(pp.c.pd, pp.buf,
			   (size_t)(pp.rx_depth + 1) * (pp.size ? pp.size : 1),
			   IBV_ACCESS_LOCAL_WRITE);
	if (!pp.mr) {
		ru_err("ibv_reg_mr: %s\n", strerror(errno));
		return 1;
	}
	if (pp.mr->lkey64 != pp.mr->lkey || pp.mr->rkey64 != pp.mr->rkey) {
		ru_err("ibv_mr: lkey64/rkey64 are not the keys\n");
		return 1;
	}
	if (pp.events) {
		pp.ch = ibv_create_comp_channel(pp.c.ctx);
		if (!pp.ch)
			return 1;
	}
	cqa.cqe = 2 * pp.rx_depth + 2;
	cqa.channel = pp.ch;
	cqa.wc_flags = IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM |
		       IBV_WC_EX_WITH_IMM64 | IBV_WC_EX_WITH_SRC_ID |
		       IBV_WC_EX_WITH_JOB_ID;
	if (pp.new_api) {
		pp.cqx = ibv_create_cq_ex(pp.c.ctx, &cqa);
		pp.cq = pp.cqx ? ibv_cq_ex_to_cq(pp.cqx) : NULL;
	} else {
		pp.cq = ibv_create_cq(pp.c.ctx, cqa.cqe, NULL, pp.ch, 0);
	}
	if (!pp.cq) {
		ru_err("create CQ: %s\n", strerror(errno));
		return 1;
	}
	if (pp.events && ibv_req_notify_cq(pp.cq, 0))
		return 1;
	ops = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
	      IBV_QP_EX_WITH_SEND_WITH_IMM64;
	pp.qp = ru_create_qp(&pp.c, pp.cq, pp.rx_depth, ops, 0);
	if (!pp.qp)
		return 1;
	pp.qpx = ibv_qp_to_qp_ex(pp.qp);
	for (i = 0; i < pp.rx_depth; i++)
		if (post_recv(&pp, i)) {
			ru_err("ibv_post_recv failed\n");
			return 1;
		}

	mine.qpn = pp.qp->qp_num;
	mine.job_id = pp.c.job_id;
	mine.gid = pp.c.gid;
	mine.src_id = pp.c.src_id;
	if (ru_exchange(server, port, &mine, &pp.peer) || ru_connect(&pp.c, &pp.peer))
		return 1;
	if (ru_check_plain_ah(&pp.c, pp.qp))
		return 1;
	if (pp.wide && ru_check_wide_lkeys(&pp.c, pp.qp, pp.mr))
		return 1;
	printf("local QPN 0x%06x, remote QPN 0x%06x, JobID %u (%s), source "
	       "IDs 0x%x (%s), peer 0x%x\n", mine.qpn, pp.peer.qpn,
	       pp.c.job_id, pp.c.imported ? "imported" : "allocated",
	       mine.src_id, pp.c.set_src_id ? "chosen" : "the QP number",
	       pp.peer.src_id);
	if (pp.peer.job_id != pp.c.job_id) {
		ru_err("the peer is in job %u\n", pp.peer.job_id);
		return 1;
	}

	gettimeofday(&t0, NULL);
	for (i = 0; i < (uint32_t)iters; i++) {
		if (server) {
			if (post_send(&pp, i, 1)) {
				ru_err("post send %u failed\n", i);
				return 1;
			}
			sends++;
			if (wait_for(&pp, i, 1, &sends, true))
				return 1;
		} else {
			/* our previous send may complete after the next
			 * message came: wait_for() takes both */
			if (wait_for(&pp, i, 0, &sends, true))
				return 1;
			if (post_send(&pp, i, 0)) {
				ru_err("post send %u failed\n", i);
				return 1;
			}
			sends++;
		}
	}
	if (wait_for(&pp, iters, 0, &sends, false))
		return 1;
	gettimeofday(&t1, NULL);
	{
		double us = (t1.tv_sec - t0.tv_sec) * 1e6 +
			    (t1.tv_usec - t0.tv_usec);

		printf("%d iters in %.2f seconds = %.2f usec/iter\n", iters,
		       us / 1e6, us / iters);
	}
	if (pp.bad) {
		printf("FAILED: %lu bad messages\n", pp.bad);
		return 1;
	}
	if (pp.check)
		printf("content checked: %d messages intact%s\n", iters,
		       pp.wide ? ", through 64-bit local keys" : "");
	printf("source ID checked: %d messages from 0x%x\n", iters,
	       pp.peer.src_id);

	ibv_destroy_qp(pp.qp);
	ibv_destroy_cq(pp.cq);
	if (pp.ch)
		ibv_destroy_comp_channel(pp.ch);
	ibv_dereg_mr(pp.mr);
	free(pp.buf);
	if (ru_close(&pp.c))
		return 1;
	return 0;
}
