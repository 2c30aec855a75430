// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

#include <linux/anon_inodes.h>
#include <linux/inetdevice.h>
#include <linux/kmod.h>
#include <linux/netdevice.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <net/addrconf.h>
#include <net/net_namespace.h>
#include <linux/skbuff.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

#if IS_ENABLED(CONFIG_RUST_RDMA_ABSTRACTIONS)

__rust_helper bool rust_helper_ib_device_try_get(struct ib_device *dev)
{
	return ib_device_try_get(dev);
}

__rust_helper int rust_helper_ib_copy_from_udata(void *dest, struct ib_udata *udata,
						 size_t len)
{
	return ib_copy_from_udata(dest, udata, len);
}

__rust_helper int rust_helper_ib_copy_to_udata(struct ib_udata *udata, void *src,
					       size_t len)
{
	return ib_copy_to_udata(udata, src, len);
}

__rust_helper bool rust_helper_ib_is_udata_cleared(struct ib_udata *udata,
						   size_t offset, size_t len)
{
	return ib_is_udata_cleared(udata, offset, len);
}

__rust_helper struct ib_udata *
rust_helper_rdma_attrs_driver_udata(struct uverbs_attr_bundle *attrs)
{
	return attrs ? &attrs->driver_udata : NULL;
}

__rust_helper struct ib_ucontext *rust_helper_rdma_udata_to_ucontext(struct ib_udata *udata)
{
	return udata ? container_of(udata, struct uverbs_attr_bundle, driver_udata)->context :
		       NULL;
}

__rust_helper u64 rust_helper_rdma_user_mmap_get_offset(const struct rdma_user_mmap_entry *entry)
{
	return rdma_user_mmap_get_offset(entry);
}

__rust_helper enum ib_port_state rust_helper_ib_get_curr_port_state(struct net_device *ndev)
{
	return ib_get_curr_port_state(ndev);
}

__rust_helper struct net_device *
rust_helper_netdev_notifier_info_to_dev(const struct netdev_notifier_info *info)
{
	return netdev_notifier_info_to_dev(info);
}

__rust_helper void rust_helper_dev_hold(struct net_device *dev)
{
	dev_hold(dev);
}

__rust_helper void rust_helper_dev_put(struct net_device *dev)
{
	dev_put(dev);
}

__rust_helper struct net *rust_helper_rdma_get_current_net(void)
{
	return get_net(current->nsproxy->net_ns);
}

__rust_helper struct net *rust_helper_rdma_current_net_ptr(void)
{
	return current->nsproxy->net_ns;
}

/* Loads the module that realizes jobs of @protocol (MODULE_ALIAS rdma-job-proto-N). */
__rust_helper int rust_helper_rdma_job_request_protocol(u32 protocol)
{
	return request_module("rdma-job-proto-%u", protocol);
}

__rust_helper void rust_helper_rdma_put_net(struct net *net)
{
	put_net(net);
}

__rust_helper struct net *rust_helper_dev_net(const struct net_device *dev)
{
	return dev_net(dev);
}

/*
 * A new descriptor for an existing job (a member descriptor): an anonymous
 * inode file with the job device's @fops and @priv as its private data.
 */
__rust_helper int rust_helper_rdma_job_anon_fd(const struct file_operations *fops,
					       void *priv, int flags)
{
	return anon_inode_getfd("[rdma_job]", fops, priv, flags);
}

/*
 * The IPv4 addresses of @dev, first and next (in_dev_for_each_ifa_rcu());
 * the caller holds rcu_read_lock().
 */
__rust_helper struct in_ifaddr *rust_helper_rdma_ifa4_first_rcu(struct net_device *dev)
{
	struct in_device *in_dev = __in_dev_get_rcu(dev);

	return in_dev ? rcu_dereference(in_dev->ifa_list) : NULL;
}

__rust_helper struct in_ifaddr *rust_helper_rdma_ifa4_next_rcu(struct in_ifaddr *ifa)
{
	return rcu_dereference(ifa->ifa_next);
}

/*
 * The IPv6 device of @dev (NULL without IPv6), and the address after @prev
 * on its list (the first if @prev is NULL; NULL at the end). Both with
 * rcu_read_lock() held; the walk keeps the inet6_dev it started with, so a
 * concurrent change of dev->ip6_ptr cannot mix two lists.
 */
__rust_helper struct inet6_dev *rust_helper_rdma_in6_dev_rcu(struct net_device *dev)
{
#if IS_ENABLED(CONFIG_IPV6)
	return __in6_dev_get(dev);
#else
	return NULL;
#endif
}

__rust_helper struct inet6_ifaddr *rust_helper_rdma_ifa6_next_rcu(struct inet6_dev *idev,
								   struct inet6_ifaddr *prev)
{
#if IS_ENABLED(CONFIG_IPV6)
	struct list_head *next;

	next = rcu_dereference(list_next_rcu(prev ? &prev->if_list : &idev->addr_list));
	return next == &idev->addr_list ? NULL : list_entry(next, struct inet6_ifaddr, if_list);
#else
	return NULL;
#endif
}

#endif

/* Whether @dev is registered (not yet being unregistered); RTNL held. */
__rust_helper bool rust_helper_rdma_netdev_registered(const struct net_device *dev)
{
	return READ_ONCE(dev->reg_state) == NETREG_REGISTERED;
}

/* Calls the completion handler of @cq, as hardware drivers do on an event. */
__rust_helper void rust_helper_rdma_cq_comp_handler(struct ib_cq *cq)
{
	if (cq->comp_handler)
		cq->comp_handler(cq, cq->cq_context);
}

/* Calls @cb for every netdev of @net; RTNL held (keeps the list stable). */
__rust_helper void rust_helper_rdma_for_each_netdev(struct net *net,
						    void (*cb)(struct net_device *, void *),
						    void *ctx)
{
	struct net_device *dev;

	ASSERT_RTNL();
	for_each_netdev(net, dev)
		cb(dev, ctx);
}

/*
 * Appends bytes [@offset, @offset + @len) of @umem to @skb as page
 * fragments (one per page piece), each holding a page reference, so the
 * skb keeps the pages even if the umem is released first. -EMSGSIZE when
 * the skb runs out of fragment slots (fragments added so far stay),
 * -EINVAL if the range is not inside the umem.
 */
__rust_helper int rust_helper_rdma_umem_to_skb_frags(struct ib_umem *umem, struct sk_buff *skb,
						      unsigned long offset, unsigned long len)
{
	unsigned long skip = offset + ib_umem_offset(umem);
	struct scatterlist *sg;
	unsigned int i;

	/* the fragment array is shared with clones; a frag_list or managed
	 * (zerocopy) fragments would need more than a page reference */
	if (skb_cloned(skb) || skb_has_frag_list(skb) ||
	    (skb_shinfo(skb)->flags & SKBFL_MANAGED_FRAG_REFS))
		return -EINVAL;
	/* user memory: it may change while the stack holds the skb */
	skb_shinfo(skb)->flags |= SKBFL_SHARED_FRAG;
	for_each_sg(umem->sgt_append.sgt.sgl, sg, umem->sgt_append.sgt.orig_nents, i) {
		unsigned long sl = sg->length;

		if (skip >= sl) {
			skip -= sl;
			continue;
		}
		while (len && skip < sl) {
			unsigned long pos = sg->offset + skip;
			struct page *p = sg_page(sg) + (pos >> PAGE_SHIFT);
			unsigned int po = offset_in_page(pos);
			unsigned int n = min3(len, sl - skip, PAGE_SIZE - po);
			int f = skb_shinfo(skb)->nr_frags;

			if (f >= MAX_SKB_FRAGS)
				return -EMSGSIZE;
			get_page(p);
			skb_fill_page_desc(skb, f, p, po, n);
			skb->len += n;
			skb->data_len += n;
			/* the fragment keeps the whole page alive */
			skb->truesize += PAGE_SIZE;
			skip += n;
			len -= n;
		}
		if (!len)
			return 0;
		skip = 0;
	}
	return len ? -EINVAL : 0;
}
