// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/skbuff.h>
#include <net/inet_ecn.h>
#include <net/ipv6.h>

#ifdef CONFIG_NET

__rust_helper struct sk_buff *rust_helper_alloc_skb(unsigned int size, gfp_t priority)
{
	return alloc_skb(size, priority);
}

__rust_helper void rust_helper_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

__rust_helper unsigned int rust_helper_skb_headlen(const struct sk_buff *skb)
{
	return skb_headlen(skb);
}

__rust_helper unsigned int rust_helper_skb_headroom(const struct sk_buff *skb)
{
	return skb_headroom(skb);
}

__rust_helper int rust_helper_skb_tailroom(const struct sk_buff *skb)
{
	return skb_tailroom(skb);
}

__rust_helper void rust_helper_skb_set_dst_pending_confirm(struct sk_buff *skb, u32 val)
{
	skb_set_dst_pending_confirm(skb, val);
}

__rust_helper void rust_helper_skb_reserve(struct sk_buff *skb, int len)
{
	skb_reserve(skb, len);
}

#ifndef CONFIG_TRACEPOINTS
/* a real function with tracepoints, an inline without */
__rust_helper void rust_helper_consume_skb(struct sk_buff *skb)
{
	consume_skb(skb);
}
#endif

__rust_helper int rust_helper_skb_cloned(const struct sk_buff *skb)
{
	return skb_cloned(skb);
}

__rust_helper int rust_helper_skb_cow_head(struct sk_buff *skb, unsigned int headroom)
{
	return skb_cow_head(skb, headroom);
}

__rust_helper int rust_helper_skb_iif(const struct sk_buff *skb)
{
	return skb->skb_iif;
}

/* The next skb of a chain built through skb->next (not a queue). */
__rust_helper struct sk_buff *rust_helper_skb_chain_next(const struct sk_buff *skb)
{
	return skb->next;
}

__rust_helper void rust_helper_skb_chain_set_next(struct sk_buff *skb, struct sk_buff *next)
{
	skb->next = next;
}

/*
 * Source and destination addresses and ECN field of a received IPv4 or
 * IPv6 packet whose network header is set: the addresses as IPv6
 * (IPv4-mapped for IPv4). -EPROTONOSUPPORT for other protocols.
 */
__rust_helper int rust_helper_skb_ip_addrs(const struct sk_buff *skb, u8 *saddr, u8 *daddr,
					   u8 *ecn)
{
	if (skb->protocol == htons(ETH_P_IP)) {
		struct in6_addr a;

		/* the outputs are byte arrays: build each address aligned */
		ipv6_addr_set_v4mapped(ip_hdr(skb)->saddr, &a);
		memcpy(saddr, &a, sizeof(a));
		ipv6_addr_set_v4mapped(ip_hdr(skb)->daddr, &a);
		memcpy(daddr, &a, sizeof(a));
		*ecn = ip_hdr(skb)->tos & INET_ECN_MASK;
		return 0;
	}
	if (skb->protocol == htons(ETH_P_IPV6)) {
		memcpy(saddr, &ipv6_hdr(skb)->saddr, sizeof(struct in6_addr));
		memcpy(daddr, &ipv6_hdr(skb)->daddr, sizeof(struct in6_addr));
		*ecn = ipv6_get_dsfield(ipv6_hdr(skb)) & INET_ECN_MASK;
		return 0;
	}
	return -EPROTONOSUPPORT;
}

/*
 * Appends @size bytes of @page at @off as a page fragment of @skb and
 * takes a page reference, which the skb drops when it is freed.
 * -EMSGSIZE when every fragment slot is used, -EINVAL for a cloned skb.
 */
__rust_helper int rust_helper_skb_append_page(struct sk_buff *skb, struct page *page,
					      unsigned int off, unsigned int size)
{
	int i = skb_shinfo(skb)->nr_frags;

	/* the fragment array is shared with clones; a frag_list or managed
	 * (zerocopy) fragments would need more than a page reference */
	if (skb_cloned(skb) || skb_has_frag_list(skb) ||
	    (skb_shinfo(skb)->flags & SKBFL_MANAGED_FRAG_REFS))
		return -EINVAL;
	if (i >= MAX_SKB_FRAGS)
		return -EMSGSIZE;
	get_page(page);
	skb_fill_page_desc(skb, i, page, off, size);
	skb->len += size;
	skb->data_len += size;
	/* the fragment keeps the whole page alive */
	skb->truesize += PAGE_SIZE;
	return 0;
}

/* Frees @skb from any context, also with interrupts off (deferred then). */
__rust_helper void rust_helper_dev_kfree_skb_any(struct sk_buff *skb)
{
	dev_kfree_skb_any(skb);
}

#endif /* CONFIG_NET */
