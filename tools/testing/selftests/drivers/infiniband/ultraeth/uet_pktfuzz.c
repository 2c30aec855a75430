// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uet_pktfuzz: hostile packets at a uet device's UDP port 4793.
 *
 * Runs in the namespace of the device's peer, on the peer's end of the
 * wire, and sends Ethernet frames from an AF_PACKET socket (so that it can
 * forge IP source addresses, ports, checksums and lengths) to the device
 * on the other end while a legitimate transfer runs between the two
 * devices. Before and while it sends, it captures the UET packets of that
 * transfer on the same interface (both directions) and replays them
 * mutated:
 *
 *   random    random bytes of random length;
 *   empty     an empty UDP payload;
 *   stack     a frame the IP or UDP layer must drop (bad UDP or IP
 *             checksum, UDP length beyond the datagram, IP total length
 *             beyond the frame): never reaches the device;
 *   field     one header field (PDS and SES, every layout) set to 0, all
 *             ones, a neighbour of its value, a flipped bit or random;
 *   trunc     a packet cut at every length in turn (also by a UDP length
 *             shorter than the datagram: the trailer is junk);
 *   extend    a packet with random bytes appended;
 *   prologue  the PDS type, next header and flags swept over all values,
 *             and the SES flags;
 *   job       bad JobIDs;
 *   blind     forged PSNs and PDC ids from the real peer's address: what
 *             an off-path attacker who knows the addresses can send;
 *   syn       SYN floods of new PDCs (requests of every kind, huge request
 *             lengths) from many forged source addresses and ports;
 *   dup       exact replays of captured packets (duplicates while the PDC
 *             lives, stale replays after): the peer's packets from the
 *             peer's address, as a duplicating network delivers them,
 *             no older than UET_FUZZ_DUP_AGE seconds: the engine keeps
 *             what it needs to drop a copy for its quiet time (7.5 s)
 *             after it last heard from the PDC (a network copy lives
 *             at most max_pkt_life); an older copy of a SYN is a new
 *             message to UET without TSS (issue 9);
 *   template  well-formed packets of every PDS type and SES format.
 *
 * What carries the JobID of the legitimate transfer (-j) is rewritten to
 * the victim JobID (-J) before it is sent, except exact replays: UET
 * without TSS authenticates nothing, so a packet from any address that
 * names a live {JobID, PIDonFEP, resource index} is delivered, by design;
 * the test shows that what names another job (here, a victim endpoint of
 * job -J on the same device) leaves the transfer alone. Mutations of the
 * transfer's own packets from the peer's address (what an on-path
 * attacker can do) are sent only with -O, SYN floods spoofing the peer's
 * own address only with -S.
 *
 *	uet_pktfuzz -i IF -m DSTMAC -d DSTIP -p PEERIP -j JOB -J VICTIMJOB [-O] [-S]
 *
 * Environment (defaults in brackets):
 *   UET_FUZZ_COUNT    packets to send [1000000]
 *   UET_FUZZ_SEED     PRNG seed [time and pid; printed, reproduces a run]
 *   UET_FUZZ_CAPTURE  packets to capture before sending [64]
 *   UET_FUZZ_WAIT     seconds to wait for them [30]
 *   UET_FUZZ_LAN      forged sources in the peer's /24 [16]
 *   UET_FUZZ_PROCS    sending processes [the number of CPUs]
 *   UET_FUZZ_ONLY     generators to use, comma-separated [all]
 *   UET_FUZZ_SYN_OP   the SYN flood's SES opcode only (a reproducer) [all]
 *   UET_FUZZ_DUP_AGE  oldest packet the dup generator replays, seconds [5]
 *
 * The last lines of the output are "key=value" counts for the shell:
 * sent (frames the wire took), per generator, and the accounting classes
 * stack (dropped by IP/UDP), empty (reach the device, empty), bad (reach
 * the device, certain to fail its parser: unknown PDS type or shorter
 * than a prologue) and uet (reach the device, parsed or not), with
 * stack_* per kind. Exit 0 unless setup failed.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UET_PORT 4793
#define MAX_PAYLOAD 1472	/* 1500-byte MTU less IPv4 and UDP headers */
#define FRAME_MAX (14 + 20 + 8 + MAX_PAYLOAD)
#define POOL 512
#define BATCH 32

/* PDS types (UET-FACTS.md, wire/pds.rs) */
enum {
	T_TSS = 1, T_RUD = 2, T_ROD = 3, T_RUDI_REQ = 4, T_RUDI_RESP = 5,
	T_UUD = 6, T_ACK = 7, T_ACK_CC = 8, T_ACK_CCX = 9, T_NACK = 10,
	T_CTRL = 11, T_NACK_CCX = 12, T_RUD_CC = 13, T_ROD_CC = 14,
};

/* next header codes */
enum { NH_NONE, NH_SMALL, NH_MEDIUM, NH_STD, NH_RESP, NH_RESP_DATA, NH_RESP_SMALL };

/* PDS flags */
#define F_EPSN 0x40
#define F_RETX 0x10
#define F_AR 0x08
#define F_SYN 0x04

/* SES flags */
#define S_SOM 0x01
#define S_EOM 0x02

static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, v);
}

static uint64_t getn(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static void putn(uint8_t *p, int n, uint64_t v)
{
	while (n--) {
		p[n] = v;
		v >>= 8;
	}
}

static void fill(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = rnd();
}

struct pkt {
	uint16_t len;
	bool from_peer;		/* sent by the peer to the device */
	double at;		/* captured (now_s()) */
	uint8_t b[MAX_PAYLOAD];
};

static double now_s(void);

static struct pkt pool[POOL];
static unsigned int pool_n, pool_next;
static double dup_age;
static uint64_t captured, captured_peer;

/* Settings */
static uint32_t dst_ip, peer_ip, lan_base;	/* network order */
static unsigned int lan_count;
static uint32_t job, victim;
static bool onpath, peer_syn;
static uint8_t dst_mac[6], src_mac[6];

/* Length of the PDS header of `p` (its type, and the flags that change
 * it), or 0 for a type without one. */
static int pds_len(const uint8_t *p, int len)
{
	int ty, fl;

	if (len < 2)
		return 0;
	ty = p[0] >> 3;
	fl = p[1] & 0x7f;
	switch (ty) {
	case T_RUD: case T_ROD: return 12;
	case T_RUD_CC: case T_ROD_CC: return 16;
	case T_RUDI_REQ: case T_RUDI_RESP: return 8;
	case T_UUD: return 4;
	case T_ACK: return fl & F_EPSN ? 16 : 12;
	case T_ACK_CC: return 32;
	case T_ACK_CCX: return 40;
	case T_NACK: case T_CTRL: return 16;
	case T_NACK_CCX: return 32;
	}
	return 0;
}

static int next_hdr(const uint8_t *p)
{
	return (getn(p, 2) >> 7) & 0xf;
}

/* A packet the parser refuses whatever follows: shorter than a prologue,
 * or a PDS type it does not know (TSS is not implemented). */
static bool certain_bad(const uint8_t *p, int len)
{
	int ty;

	if (len < 2)
		return true;
	ty = p[0] >> 3;
	return ty == 0 || ty == T_TSS || ty > T_ROD_CC;
}

/* Offset of the SES JobID (24 bits) in `p`, or -1. Every SES header
 * carries it in bytes 5-7 (requests and all three responses). */
static int job_off(const uint8_t *p, int len)
{
	int n = pds_len(p, len), nh;

	if (!n || len < 2)
		return -1;
	nh = next_hdr(p);
	if (nh == NH_NONE || nh > NH_RESP_SMALL || p[0] >> 3 == T_NACK ||
	    p[0] >> 3 == T_NACK_CCX || p[0] >> 3 == T_CTRL)
		return -1;
	return n + 5 + 3 <= len ? n + 5 : -1;
}

/* Keeps forged packets out of the legitimate job (see the top comment). */
static void sanitize(uint8_t *p, int len)
{
	int o = job_off(p, len);

	if (o >= 0 && getn(p + o, 3) == job)
		putn(p + o, 3, victim);
}

struct field {
	uint8_t off, width;
};

/* The fields of `p` by its layout: PDS header, then the SES header its
 * next-header code names, then the request's extension. */
static int fields(const uint8_t *p, int len, struct field *f)
{
	int n = 0, ty, nh, s, op;

#define F(o, w) do { f[n].off = (o); f[n].width = (w); n++; } while (0)
	if (len < 2)
		return 0;
	ty = p[0] >> 3;
	F(0, 1); F(1, 1);	/* prologue: type/next header, flags */
	switch (ty) {
	case T_RUD: case T_ROD: case T_RUD_CC: case T_ROD_CC:
	case T_CTRL:
		F(2, 2); F(4, 4); F(8, 2); F(10, 2);
		if (ty >= T_RUD_CC || ty == T_CTRL)
			F(12, 4);
		break;
	case T_RUDI_REQ: case T_RUDI_RESP:
		F(2, 2); F(4, 4);
		break;
	case T_UUD:
		F(2, 2);
		break;
	case T_ACK: case T_ACK_CC: case T_ACK_CCX:
		F(2, 2); F(4, 4); F(8, 2); F(10, 2);
		if (ty == T_ACK) {
			F(12, 4);	/* EPSN word, or the SES */
		} else {
			F(12, 1); F(13, 1); F(14, 2); F(16, 8); F(24, 8);
			if (ty == T_ACK_CCX)
				F(32, 8);
		}
		break;
	case T_NACK: case T_NACK_CCX:
		F(2, 1); F(3, 1); F(4, 4); F(8, 2); F(10, 2); F(12, 4);
		if (ty == T_NACK_CCX) {
			F(16, 8); F(24, 8);
		}
		break;
	default:
		return n;
	}
	s = pds_len(p, len);
	nh = next_hdr(p);
	if (!s || nh == NH_NONE || ty == T_NACK || ty == T_NACK_CCX || ty == T_CTRL)
		goto out;
	/* common: opcode, version/flags, msg id or length, generation, JobID,
	 * PIDonFEP, resource index (responses: list/opcode, rc, ...) */
	F(s, 1); F(s + 1, 1); F(s + 2, 2); F(s + 4, 1); F(s + 5, 3);
	F(s + 8, 2); F(s + 10, 2);
	op = s < len ? p[s] & 0x3f : 0;
	switch (nh) {
	case NH_STD:
		F(s + 12, 8); F(s + 16, 4); F(s + 20, 4); F(s + 24, 8);
		F(s + 32, 2); F(s + 34, 2); F(s + 36, 4);	/* header data */
		F(s + 40, 4);					/* request length */
		if (op == 6 || op == 0xa) {		/* rendezvous */
			F(s + 44, 4); F(s + 48, 4); F(s + 52, 8); F(s + 60, 8);
		} else if (op == 3 || op == 4 || op == 0xd || op == 0xe) {
			F(s + 44, 1); F(s + 45, 1); F(s + 46, 1); F(s + 47, 1);
			F(s + 48, 8); F(s + 64, 8);
		}
		break;
	case NH_MEDIUM:
		F(s + 12, 8); F(s + 20, 4); F(s + 24, 8);
		break;
	case NH_SMALL:
		F(s + 12, 8);
		break;
	case NH_RESP_DATA:
		F(s + 12, 4); F(s + 16, 4);
		break;
	}
out:
	/* only what the packet holds */
	{
		int i, m = 0;

		for (i = 0; i < n; i++)
			if (f[i].off + f[i].width <= len)
				f[m++] = f[i];
		n = m;
	}
#undef F
	return n;
}

/* A well-formed packet of a random kind, addressed to the victim job. */
static int template(uint8_t *p, uint32_t pid, uint32_t ri)
{
	static const uint8_t types[] = {
		T_RUD, T_ROD, T_RUD_CC, T_ROD_CC, T_RUDI_REQ, T_RUDI_RESP,
		T_UUD, T_ACK, T_ACK_CC, T_ACK_CCX, T_NACK, T_NACK_CCX, T_CTRL,
	};
	static const uint8_t ops[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0 };
	int ty = types[below(sizeof(types))], nh = NH_NONE, n, s, plen, op;
	uint8_t fl = 0;

	memset(p, 0, 128);
	switch (ty) {
	case T_RUD: case T_ROD: case T_RUD_CC: case T_ROD_CC:
		nh = NH_SMALL + below(3);
		fl = below(2) ? F_SYN : 0;
		fl |= below(4) ? 0 : F_AR;
		put16(p + 2, below(2) ? 0 : rnd());
		put32(p + 4, rnd());
		put16(p + 8, rnd());
		put16(p + 10, fl & F_SYN ? below(16) : rnd());
		if (ty >= T_RUD_CC)
			put32(p + 12, rnd());
		break;
	case T_RUDI_REQ:
		nh = NH_SMALL + below(3);
		put32(p + 4, rnd());
		break;
	case T_RUDI_RESP:
		nh = NH_RESP + below(3);
		put32(p + 4, rnd());
		break;
	case T_UUD:
		nh = NH_SMALL + below(3);
		break;
	case T_ACK: case T_ACK_CC: case T_ACK_CCX:
		nh = below(2) ? NH_NONE : NH_RESP + below(3);
		fl = below(8) & 0x26;
		if (ty == T_ACK && below(4) == 0)
			fl |= F_EPSN;
		put16(p + 2, below(16));
		put32(p + 4, rnd());
		put16(p + 8, rnd());
		put16(p + 10, rnd());
		if (ty != T_ACK) {
			p[12] = below(2) << 4;
			p[13] = below(16);
			put16(p + 14, below(64) & ~7);
			put64(p + 16, rnd());
			fill(p + 24, ty == T_ACK_CCX ? 16 : 8);
		} else if (fl & F_EPSN) {
			put32(p + 12, rnd());
		}
		break;
	case T_NACK: case T_NACK_CCX:
		p[2] = 1 + below(0x1a);
		put32(p + 4, rnd());
		put16(p + 8, rnd());
		put16(p + 10, rnd());
		put32(p + 12, rnd());
		if (ty == T_NACK_CCX)
			fill(p + 16, 16);
		break;
	case T_CTRL:
		nh = below(10);	/* the control type */
		fl = below(2) ? F_SYN : 0;
		put32(p + 4, rnd());
		put16(p + 8, rnd());
		put16(p + 10, fl & F_SYN ? below(16) : rnd());
		put32(p + 12, rnd());
		break;
	}
	put16(p, ty << 11 | nh << 7 | fl);
	n = pds_len(p, 64);
	if (ty == T_CTRL || nh == NH_NONE)
		return n;
	s = n;
	plen = below(4) ? below(64) : below(1024);
	if (nh <= NH_STD) {
		op = ops[below(sizeof(ops))];
		p[s] = op;
		p[s + 1] = S_SOM | S_EOM | (below(4) ? 0 : 0x3c & rnd());
		put32(p + s + 4, victim);
		put16(p + s + 8, pid);
		put16(p + s + 10, ri);
		if (nh == NH_STD) {
			put16(p + s + 2, rnd());
			put64(p + s + 12, below(2) ? 0 : rnd());
			put32(p + s + 20, rnd());
			put64(p + s + 24, below(2) ? rnd() : below(4));
			put64(p + s + 32, rnd());
			/* the whole message, or a huge one */
			put32(p + s + 40, below(4) ? (uint32_t)plen : 0xffffffffu - below(4096));
			n = s + 44;
			if (op == 6 || op == 0xa) {
				put32(p + n, below(2) ? (uint32_t)plen : (uint32_t)rnd());
				put32(p + n + 4, rnd());
				put64(p + n + 8, rnd());
				put64(p + n + 16, rnd());
				n += 24;
			} else if (op == 3 || op == 4 || op == 0xd || op == 0xe) {
				p[n] = below(0x14);
				p[n + 1] = below(12);
				p[n + 2] = 0;
				p[n + 3] = 0;
				n += 4;
				if (p[n - 4] >= 0x0d && p[n - 4] <= 0x12) {
					fill(p + n, 32);
					n += 32;
				}
			}
		} else {
			put16(p + s + 2, plen & 0x3fff);
			put64(p + s + 12, rnd());
			n = s + 20;
			if (nh == NH_MEDIUM) {
				put32(p + s + 20, rnd());
				put64(p + s + 24, rnd());
				n = s + 32;
			}
			if (op == 3 || op == 4 || op == 0xd || op == 0xe) {
				p[n] = 2;
				p[n + 1] = 7;
				n += 4;
			}
		}
	} else {
		p[s] = (nh == NH_RESP ? below(4) : 2) | below(4) << 6;
		p[s + 1] = below(0x25);
		put32(p + s + 4, victim);
		if (nh == NH_RESP) {
			put16(p + s + 2, rnd());
			put32(p + s + 8, rnd());
			n = s + 12;
			plen = 0;
		} else if (nh == NH_RESP_DATA) {
			put16(p + s + 2, rnd());
			put32(p + s + 8, (uint32_t)rnd() << 16 | (plen & 0x3fff));
			put32(p + s + 12, rnd());
			put32(p + s + 16, rnd());
			n = s + 20;
		} else {
			put16(p + s + 2, plen & 0x3fff);
			put32(p + s + 8, rnd());
			n = s + 12;
		}
	}
	if (n + plen > MAX_PAYLOAD)
		plen = MAX_PAYLOAD - n;
	fill(p + n, plen);
	return n + plen;
}

static int syn_op = -1;

/* A RUD request, standard SES header of opcode `op`, single packet, to
 * the victim job at the endpoint seen (UET_FUZZ_SYN_OP narrows the SYN
 * flood to one opcode). */
static uint16_t seen_pid, seen_ri;

static int syn_std(uint8_t *p, int op)
{
	int s = 12, plen = below(64), n;

	memset(p, 0, 12 + 44 + 24);
	put16(p, T_RUD << 11 | NH_STD << 7);
	put32(p + 4, rnd());
	put16(p + 8, rnd());
	p[s] = op;
	p[s + 1] = S_SOM | S_EOM;
	put16(p + s + 2, rnd());
	put32(p + s + 4, victim);
	put16(p + s + 8, seen_pid);
	put16(p + s + 10, seen_ri);
	put32(p + s + 40, plen);
	n = s + 44;
	if (op == 6 || op == 0xa) {
		put32(p + n, plen);
		put64(p + n + 8, rnd());
		n += 24;
		put32(p + s + 40, plen + 1 + below(1 << 20));
	}
	fill(p + n, plen);
	return n + plen;
}

/* Captured addressing of the device's endpoints, to aim at its PIDs */

static void learn(const struct pkt *k)
{
	int s = pds_len(k->b, k->len), nh;

	if (!s || !k->from_peer || s + 12 > k->len)
		return;
	nh = next_hdr(k->b);
	if (nh >= NH_SMALL && nh <= NH_STD) {
		seen_pid = getn(k->b + s + 8, 2) & 0xfff;
		seen_ri = getn(k->b + s + 10, 2) & 0xfff;
	}
}

/* Capture */
static int cap_fd = -1;

static int cap_open(int ifindex)
{
	/* IPv4, not a fragment, UDP, destination port 4793 (offsets from
	 * the IP header: SOCK_DGRAM). ETH_P_ALL: a socket bound to one
	 * protocol does not see what the host sends (the peer's packets). */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 8),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 6),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 4, 0),
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, UET_PORT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ifindex,
	};
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_ALL));

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		close(fd);
		return -1;
	}
	cap_fd = fd;
	return 0;
}

/* Takes what the capture socket holds into the pool (a ring). */
static void cap_drain(void)
{
	uint8_t buf[2048];
	struct sockaddr_ll from;
	socklen_t fl;
	ssize_t n;
	int ihl;

	for (;;) {
		struct pkt *k;

		fl = sizeof(from);
		n = recvfrom(cap_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		ihl = (buf[0] & 0xf) * 4;
		if (n < ihl + 8 || ihl < 20)
			continue;
		k = &pool[pool_next];
		k->len = n - ihl - 8 > MAX_PAYLOAD ? MAX_PAYLOAD : n - ihl - 8;
		k->from_peer = from.sll_pkttype == PACKET_OUTGOING;
		k->at = now_s();
		memcpy(k->b, buf + ihl + 8, k->len);
		learn(k);
		pool_next = (pool_next + 1) % POOL;
		if (pool_n < POOL)
			pool_n++;
		captured++;
		captured_peer += k->from_peer;
	}
}

/* Sending */
static int tx_fd;
static struct sockaddr_ll tx_to;

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, int n)
{
	int i;

	for (i = 0; i + 1 < n; i += 2)
		s += p[i] << 8 | p[i + 1];
	if (n & 1)
		s += p[n - 1] << 8;
	return s;
}

enum stack_kind { SK_NONE, SK_UDP_CSUM, SK_UDP_LEN, SK_IP_CSUM, SK_IP_LEN, SK_N };

enum gen {
	G_RANDOM, G_EMPTY, G_STACK, G_FIELD, G_TRUNC, G_EXTEND, G_PROLOGUE,
	G_JOB, G_BLIND, G_SYN, G_DUP, G_TEMPLATE, G_N
};

static const char *const gen_name[G_N] = {
	"random", "empty", "stack", "field", "trunc", "extend", "prologue",
	"job", "blind", "syn", "dup", "template",
};

/* per mille (UET_FUZZ_ONLY=name,... keeps the named ones) */
static unsigned int gen_weight[G_N] = {
	[G_RANDOM] = 90, [G_EMPTY] = 10, [G_STACK] = 20, [G_FIELD] = 200,
	[G_TRUNC] = 100, [G_EXTEND] = 50, [G_PROLOGUE] = 70, [G_JOB] = 60,
	[G_BLIND] = 80, [G_SYN] = 200, [G_DUP] = 70, [G_TEMPLATE] = 50,
};

static unsigned int gen_total = 1000;

/* UET_FUZZ_ONLY: a comma-separated list of generators to keep */
static void gen_only(const char *list)
{
	unsigned int g;

	if (!list || !*list)
		return;
	gen_total = 0;
	for (g = 0; g < G_N; g++) {
		const char *p = strstr(list, gen_name[g]);
		size_t n = strlen(gen_name[g]);

		if (!p || (p != list && p[-1] != ',') || (p[n] && p[n] != ','))
			gen_weight[g] = 0;
		gen_total += gen_weight[g];
	}
	if (!gen_total) {
		fprintf(stderr, "uet_pktfuzz: UET_FUZZ_ONLY=%s names no generator\n", list);
		exit(2);
	}
}

struct frame {
	uint16_t len;
	uint8_t b[FRAME_MAX];
};

static struct frame batch[BATCH];
static uint8_t batch_class[BATCH], batch_gen[BATCH], batch_sk[BATCH];
static unsigned int batch_n;

enum cls { C_STACK, C_EMPTY, C_BAD, C_UET, C_N };
static const char *const cls_name[C_N] = { "stack", "empty", "bad", "uet" };
static const char *const sk_name[SK_N] = { "none", "udp_csum", "udp_len", "ip_csum", "ip_len" };

static uint64_t n_gen[G_N], n_cls[C_N], n_sk[SK_N], enobufs, sent;

/* What each sending process counted, summed by the first */
struct counts {
	uint64_t gen[G_N], cls[C_N], sk[SK_N], enobufs, sent, captured;
};

/* Builds the frame for UET payload `p` from `src` (port `sport`); `sk`
 * corrupts it for the stack; `ulen_cut` > 0 gives a UDP length that
 * covers only that many payload bytes (the rest is trailer). */
static void frame(struct frame *f, const uint8_t *p, int len, uint32_t src,
		  uint16_t sport, enum stack_kind sk, int ulen_cut)
{
	uint8_t *e = f->b, *ip = e + 14, *udp = ip + 20;
	int ulen = 8 + (ulen_cut > 0 ? ulen_cut : len);
	uint16_t c;
	uint32_t s;

	memcpy(e, dst_mac, 6);
	memcpy(e + 6, src_mac, 6);
	put16(e + 12, ETH_P_IP);
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, 20 + 8 + len);
	put16(ip + 4, rnd());
	put16(ip + 6, 0x4000);	/* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	put16(ip + 10, 0);
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst_ip, 4);
	put16(udp, sport);
	put16(udp + 2, UET_PORT);
	put16(udp + 4, ulen);
	put16(udp + 6, 0);
	memcpy(udp + 8, p, len);
	f->len = 14 + 20 + 8 + len;
	/* UDP checksum: none (0, allowed over IPv4) or correct, over the
	 * UDP length */
	if (below(4) == 0 || sk == SK_UDP_CSUM) {
		s = csum_add(0, ip + 12, 8);
		s += IPPROTO_UDP + ulen;
		s = csum_add(s, udp, ulen);
		c = csum_fold(s);
		if (!c)
			c = 0xffff;
		if (sk == SK_UDP_CSUM) {
			c ^= 0x0101;
			if (c == 0 || c == 0xffff)
				c ^= 0x0303;
		}
		put16(udp + 6, c);
	}
	if (sk == SK_UDP_LEN)
		put16(udp + 4, ulen + 1 + below(64));
	if (sk == SK_IP_LEN)
		put16(ip + 2, 20 + 8 + len + 1 + below(64));
	c = csum_fold(csum_add(0, ip, 20));
	if (sk == SK_IP_CSUM)
		c ^= 1 + below(0xfffe);
	put16(ip + 10, c);
}

static void flush(void)
{
	struct mmsghdr m[BATCH];
	struct iovec v[BATCH];
	unsigned int i, done = 0;
	int r;

	for (i = 0; i < batch_n; i++) {
		v[i].iov_base = batch[i].b;
		v[i].iov_len = batch[i].len;
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = &tx_to;
		m[i].msg_hdr.msg_namelen = sizeof(tx_to);
	}
	while (done < batch_n) {
		r = sendmmsg(tx_fd, m + done, batch_n - done, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				/* the receiver's backlog is full: the frame was
				 * dropped, not delivered; send it again */
				enobufs++;
				usleep(200);
				continue;
			}
			perror("uet_pktfuzz: sendmmsg");
			exit(1);
		}
		for (i = done; i < done + r; i++) {
			n_gen[batch_gen[i]]++;
			n_cls[batch_class[i]]++;
			n_sk[batch_sk[i]]++;
			sent++;
		}
		done += r;
	}
	batch_n = 0;
}

static void queue(const uint8_t *p, int len, uint32_t src, uint16_t sport,
		  enum gen g, enum stack_kind sk, int ulen_cut)
{
	int seen = ulen_cut > 0 ? ulen_cut : len;

	frame(&batch[batch_n], p, len, src, sport, sk, ulen_cut);
	batch_gen[batch_n] = g;
	batch_sk[batch_n] = sk;
	if (sk != SK_NONE)
		batch_class[batch_n] = C_STACK;
	else if (seen == 0)
		batch_class[batch_n] = C_EMPTY;
	else if (certain_bad(p, seen))
		batch_class[batch_n] = C_BAD;
	else
		batch_class[batch_n] = C_UET;
	if (++batch_n == BATCH)
		flush();
}

/* A forged source: one of `lan_count` addresses of the peer's /24 (not the
 * device's or the peer's), or an address of 198.18.0.0/15 (no route back). */
static uint32_t forged_src(void)
{
	if (lan_count && below(10) < 7)
		return htonl(ntohl(lan_base) + below(lan_count));
	return htonl(0xc6120000u | below(0x20000));
}

static const struct pkt *pick(void)
{
	return pool_n ? &pool[below(pool_n)] : NULL;
}

/* A captured packet no older than dup_age (a few tries), or NULL: on a
 * slow kernel the pool holds packets older than the engine's quiet time. */
static const struct pkt *pick_fresh(void)
{
	double old = now_s() - dup_age;
	int k;

	for (k = 0; pool_n && k < 8; k++) {
		const struct pkt *c = &pool[below(pool_n)];

		if (c->at >= old)
			return c;
	}
	return NULL;
}

/* A packet to mutate: a captured one (its JobID rewritten) or a template. */
static int base(uint8_t *p, bool *from_peer)
{
	const struct pkt *k = below(8) ? pick() : NULL;

	if (!k) {
		*from_peer = false;
		return template(p, below(4) ? seen_pid : below(16), below(4) ? seen_ri : below(8));
	}
	memcpy(p, k->b, k->len);
	*from_peer = k->from_peer;
	return k->len;
}

static uint64_t mutate_value(uint64_t old, int width)
{
	uint64_t max = width >= 8 ? ~0ULL : (1ULL << (8 * width)) - 1;

	switch (below(8)) {
	case 0: return 0;
	case 1: return max;
	case 2: return (old + 1) & max;
	case 3: return (old - 1) & max;
	case 4: return old ^ (1ULL << below(8 * width));
	case 5: return (old + below(64) - 32) & max;
	case 6: return (max >> 1) + below(2);	/* sign boundary */
	default: return rnd() & max;
	}
}

static void one(uint64_t i)
{
	static uint8_t p[MAX_PAYLOAD + 256];
	static uint64_t trunc_at, sweep;
	uint32_t r, acc = 0, src = 0;
	uint16_t sport = 1 + below(0xffff);
	struct field f[48];
	bool peer = false;
	int g, len = 0, n, k, cut = 0;
	enum stack_kind sk = SK_NONE;
	const struct pkt *c;

	r = below(gen_total);
	for (g = 0; g < G_N; g++) {
		acc += gen_weight[g];
		if (r < acc)
			break;
	}
	switch (g) {
	case G_RANDOM:
		len = below(4) ? 1 + below(64) : 1 + below(MAX_PAYLOAD);
		fill(p, len);
		sanitize(p, len);
		break;
	case G_EMPTY:
		len = 0;
		break;
	case G_STACK:
		len = base(p, &peer);
		sanitize(p, len);
		sk = 1 + below(SK_N - 1);
		break;
	case G_FIELD:
		len = base(p, &peer);
		n = fields(p, len, f);
		for (k = 0; n && k < 1 + (below(4) == 0); k++) {
			struct field *x = &f[below(n)];

			putn(p + x->off, x->width,
			     mutate_value(getn(p + x->off, x->width), x->width));
		}
		sanitize(p, len);
		break;
	case G_TRUNC:
		len = base(p, &peer);
		sanitize(p, len);
		/* every length of the packet in turn */
		trunc_at++;
		if (below(4) == 0 && len > 1)
			cut = trunc_at % len;	/* by the UDP length */
		else
			len = trunc_at % (len + 1);
		break;
	case G_EXTEND:
		len = base(p, &peer);
		sanitize(p, len);
		n = 1 + (below(4) ? below(16) : below(256));
		if (len + n > MAX_PAYLOAD)
			n = MAX_PAYLOAD - len;
		fill(p + len, n);
		len += n;
		break;
	case G_PROLOGUE:
		len = base(p, &peer);
		if (len < 2)
			break;
		sweep++;
		switch (below(3)) {
		case 0:	/* type: all 32 */
			p[0] = (p[0] & 7) | (sweep % 32) << 3;
			break;
		case 1:	/* next header: all 16 */
			put16(p, (getn(p, 2) & ~0x780) | (sweep % 16) << 7);
			break;
		default:	/* flags: all 128, and the SES flags */
			p[1] = (p[1] & 0x80) | sweep % 128;
			k = pds_len(p, len);
			if (k && k + 1 < len && below(2))
				p[k + 1] = (p[k + 1] & 0xc0) | below(64);
			break;
		}
		sanitize(p, len);
		break;
	case G_JOB:
		len = base(p, &peer);
		k = job_off(p, len);
		if (k >= 0) {
			static const int32_t near[] = { 1, -1, 2, 0x800000, 0 };
			uint32_t v;

			switch (below(4)) {
			case 0: v = victim + near[below(4)]; break;
			case 1: v = job + near[below(5) ? below(4) : 0] + 1; break;
			case 2: v = below(2) ? 0 : 0xffffff; break;
			default: v = rnd(); break;
			}
			v &= 0xffffff;
			putn(p + k, 3, v == job ? victim : v);
		}
		break;
	case G_BLIND:
		/* Off-path: the peer's address, the rest guessed. A packet that
		 * carried the transfer's JobID names the victim job instead. */
		len = base(p, &peer);
		sanitize(p, len);
		if (len >= 12 && pds_len(p, len)) {
			put32(p + 4, rnd());
			put16(p + 8, rnd());
			put16(p + 10, rnd());
			p[1] &= ~F_SYN;
		}
		src = peer_ip;
		break;
	case G_SYN:
		/* a new PDC: a request with SYN, random SPDCID and PSN */
		do {
			len = template(p, below(4) ? seen_pid : below(16), below(4) ? seen_ri : below(8));
		} while (!((p[0] >> 3 >= T_RUD && p[0] >> 3 <= T_ROD) ||
			   p[0] >> 3 == T_RUD_CC || p[0] >> 3 == T_ROD_CC));
		if (syn_op >= 0 && next_hdr(p) >= NH_SMALL && next_hdr(p) <= NH_STD) {
			/* UET_FUZZ_SYN_OP: one opcode (std header) only */
			len = syn_std(p, syn_op);
		}
		p[1] |= F_SYN;
		put16(p + 10, below(2) ? 0 : below(16));
		if (peer_syn && below(2))
			src = peer_ip;	/* -S: spoofing the peer */
		break;
	case G_DUP:
		c = pick_fresh();
		if (!c) {
			len = template(p, seen_pid, seen_ri);
			break;
		}
		memcpy(p, c->b, c->len);
		len = c->len;
		if (c->from_peer)
			src = peer_ip;	/* exactly as the network would */
		else
			sanitize(p, len);
		break;
	case G_TEMPLATE:
	default:
		g = G_TEMPLATE;
		len = template(p, below(4) ? seen_pid : below(16), below(4) ? seen_ri : below(8));
		break;
	}
	if (onpath && peer && g != G_DUP && g != G_BLIND && below(2)) {
		/* -O: the transfer's own packets, mutated, from the peer's
		 * address (what an on-path attacker can send) */
		src = peer_ip;
		c = pick();
		if (c && c->from_peer && g == G_FIELD) {
			memcpy(p, c->b, c->len);
			len = c->len;
			n = fields(p, len, f);
			if (n) {
				struct field *x = &f[below(n)];

				putn(p + x->off, x->width,
				     mutate_value(getn(p + x->off, x->width), x->width));
			}
		}
	}
	if (!src)
		src = forged_src();
	if (len > MAX_PAYLOAD)
		len = MAX_PAYLOAD;
	(void)i;
	queue(p, len, src, sport, g, sk, cut);
}

static int parse_mac(const char *s, uint8_t *m)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", m, m + 1, m + 2,
		      m + 3, m + 4, m + 5) == 6 ? 0 : -1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: uet_pktfuzz -i IF -m DSTMAC -d DSTIP -p PEERIP -j JOB -J VICTIMJOB [-O] [-S]\n"
		"  env: UET_FUZZ_COUNT UET_FUZZ_SEED UET_FUZZ_CAPTURE UET_FUZZ_WAIT UET_FUZZ_LAN\n"
		"       UET_FUZZ_PROCS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *ifname = NULL;
	unsigned long count, want, wait_s;
	struct ifreq ifr;
	struct in_addr a;
	double t0, t1;
	struct counts *shared;
	unsigned int procs, me = 0, k;
	uint64_t i, mine;
	int o, one_ = 1, ifindex, g, st, failed = 0;

	dst_ip = peer_ip = 0;
	while ((o = getopt(argc, argv, "i:m:d:p:j:J:OS")) != -1) {
		switch (o) {
		case 'i': ifname = optarg; break;
		case 'm': if (parse_mac(optarg, dst_mac)) usage(); break;
		case 'd': if (!inet_aton(optarg, &a)) usage(); dst_ip = a.s_addr; break;
		case 'p': if (!inet_aton(optarg, &a)) usage(); peer_ip = a.s_addr; break;
		case 'j': job = strtoul(optarg, NULL, 0) & 0xffffff; break;
		case 'J': victim = strtoul(optarg, NULL, 0) & 0xffffff; break;
		case 'O': onpath = true; break;
		case 'S': peer_syn = true; break;
		default: usage();
		}
	}
	if (!ifname || !dst_ip || !peer_ip || !job || !victim || job == victim)
		usage();
	count = env_ul("UET_FUZZ_COUNT", 1000000);
	want = env_ul("UET_FUZZ_CAPTURE", 64);
	wait_s = env_ul("UET_FUZZ_WAIT", 30);
	lan_count = env_ul("UET_FUZZ_LAN", 16);
	gen_only(getenv("UET_FUZZ_ONLY"));
	syn_op = getenv("UET_FUZZ_SYN_OP") ? (int)env_ul("UET_FUZZ_SYN_OP", 0) : -1;
	dup_age = env_ul("UET_FUZZ_DUP_AGE", 5);
	seen_pid = 1;
	procs = env_ul("UET_FUZZ_PROCS", sysconf(_SC_NPROCESSORS_ONLN));
	if (procs < 1 || procs > 64)
		procs = 1;
	if (lan_count > 200)
		lan_count = 200;
	/* 10.N.0.2 is the peer: forged neighbours from .3 on (.1 is the
	 * device) */
	lan_base = htonl((ntohl(peer_ip) & ~0xffu) | 3);
	rng = env_ul("UET_FUZZ_SEED", 0);
	if (!rng)
		rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	printf("seed %#llx (UET_FUZZ_SEED reproduces the packets; timing differs)\n",
	       (unsigned long long)rng);

	ifindex = if_nametoindex(ifname);
	tx_fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (!ifindex || tx_fd < 0) {
		fprintf(stderr, "uet_pktfuzz: %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(tx_fd, SIOCGIFHWADDR, &ifr)) {
		perror("uet_pktfuzz: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
	/* the frames go to the driver directly: not seen by packet taps (our
	 * capture), and a full receive backlog is reported (ENOBUFS) */
	if (setsockopt(tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one_, sizeof(one_)))
		perror("uet_pktfuzz: PACKET_QDISC_BYPASS (continuing)");
	tx_to.sll_family = AF_PACKET;
	tx_to.sll_ifindex = ifindex;
	tx_to.sll_halen = 6;
	memcpy(tx_to.sll_addr, dst_mac, 6);
	if (cap_open(ifindex)) {
		perror("uet_pktfuzz: capture socket");
		return 1;
	}

	t0 = now_s();
	while (pool_n < want && now_s() - t0 < wait_s) {
		struct pollfd pfd = { .fd = cap_fd, .events = POLLIN };

		poll(&pfd, 1, 100);
		cap_drain();
	}
	printf("captured %llu packets in %.1f s (%llu from the peer)%s\n",
	       (unsigned long long)captured, now_s() - t0,
	       (unsigned long long)captured_peer,
	       pool_n < want ? ": fewer than asked, templates fill in" : "");
	printf("device endpoint seen: pid %u ri %u; JobID %#x protected, victim %#x%s\n",
	       seen_pid, seen_ri, job, victim, onpath ? "; on-path mutations (-O)" : "");
	fflush(stdout);

	/* procs senders, one per CPU by default: the receive path runs in
	 * the sender's softirq, so one process keeps one CPU busy */
	shared = mmap(NULL, procs * sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("uet_pktfuzz: mmap");
		return 1;
	}
	memset(shared, 0, procs * sizeof(*shared));
	t0 = now_s();
	for (k = 1; k < procs; k++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("uet_pktfuzz: fork");
			return 1;
		}
		if (!pid) {
			me = k;
			break;
		}
	}
	rng ^= 0x9e3779b97f4a7c15ULL * me;
	mine = count / procs + (me == 0 ? count % procs : 0);
	for (i = 0; i < mine; i++) {
		one(i);
		if ((i & 255) == 0)
			cap_drain();
		if (i && i % 100000 == 0) {
			fprintf(stderr, "uet_pktfuzz[%u]: %llu packets, %.0f/s\n", me,
				(unsigned long long)i, i / (now_s() - t0));
		}
	}
	flush();
	cap_drain();
	memcpy(shared[me].gen, n_gen, sizeof(n_gen));
	memcpy(shared[me].cls, n_cls, sizeof(n_cls));
	memcpy(shared[me].sk, n_sk, sizeof(n_sk));
	shared[me].enobufs = enobufs;
	shared[me].sent = sent;
	shared[me].captured = captured;
	if (me)
		_exit(0);
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	t1 = now_s();
	memset(n_gen, 0, sizeof(n_gen));
	memset(n_cls, 0, sizeof(n_cls));
	memset(n_sk, 0, sizeof(n_sk));
	enobufs = sent = captured = 0;
	for (k = 0; k < procs; k++) {
		for (g = 0; g < G_N; g++)
			n_gen[g] += shared[k].gen[g];
		for (g = 0; g < C_N; g++)
			n_cls[g] += shared[k].cls[g];
		for (g = 0; g < SK_N; g++)
			n_sk[g] += shared[k].sk[g];
		enobufs += shared[k].enobufs;
		sent += shared[k].sent;
		captured += shared[k].captured;
	}

	printf("sent %llu frames in %.1f s by %u processes: %.0f frames/s; %llu ENOBUFS retries; %llu packets captured\n",
	       (unsigned long long)sent, t1 - t0, procs, sent / (t1 - t0),
	       (unsigned long long)enobufs, (unsigned long long)captured);
	printf("sent=%llu\n", (unsigned long long)sent);
	printf("seconds=%.1f\n", t1 - t0);
	printf("enobufs=%llu\n", (unsigned long long)enobufs);
	printf("captured=%llu\n", (unsigned long long)captured);
	for (g = 0; g < G_N; g++)
		printf("gen_%s=%llu\n", gen_name[g], (unsigned long long)n_gen[g]);
	for (g = 0; g < C_N; g++)
		printf("%s=%llu\n", cls_name[g], (unsigned long long)n_cls[g]);
	for (g = 1; g < SK_N; g++)
		printf("stack_%s=%llu\n", sk_name[g], (unsigned long long)n_sk[g]);
	return failed;
}
