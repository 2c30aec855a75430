// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

#include <linux/netdevice.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/sock.h>
#include <net/udp_tunnel.h>

#if IS_ENABLED(CONFIG_RUST_UDP_TUNNEL_ABSTRACTIONS)

/* The route for @fl4 in @sk's namespace (fills the source address), or NULL. */
__rust_helper struct rtable *rust_helper_udp_tunnel_route4(struct sock *sk, struct flowi4 *fl4)
{
	struct rtable *rt = ip_route_output_key(sock_net(sk), fl4);

	return IS_ERR(rt) ? NULL : rt;
}

/* Headroom a datagram routed by @rt needs: link layer, IPv4 and UDP headers. */
__rust_helper unsigned int rust_helper_udp_tunnel_headroom4(const struct rtable *rt)
{
	return LL_RESERVED_SPACE(rt->dst.dev) + sizeof(struct iphdr) + sizeof(struct udphdr);
}

/* The TTL for datagrams routed by @rt (the route's hop limit). */
__rust_helper int rust_helper_udp_tunnel_ttl4(const struct rtable *rt)
{
	return ip4_dst_hoplimit(&rt->dst);
}

__rust_helper void rust_helper_udp_tunnel_bh_disable(void)
{
	local_bh_disable();
}

__rust_helper void rust_helper_udp_tunnel_bh_enable(void)
{
	local_bh_enable();
}

/* @skb is sent from no device of ours. */
__rust_helper void rust_helper_udp_tunnel_skb_clear_dev(struct sk_buff *skb)
{
	skb->dev = NULL;
}

__rust_helper void rust_helper_ip_rt_put(struct rtable *rt)
{
	ip_rt_put(rt);
}

__rust_helper void *rust_helper_udp_tunnel_sk_user_data_rcu(struct sock *sk)
{
	return rcu_dereference_sk_user_data(sk);
}

#if IS_ENABLED(CONFIG_IPV6)
/* The route for @fl6 in @sk's namespace (fills the source address), or NULL. */
__rust_helper struct dst_entry *rust_helper_udp_tunnel_route6(struct sock *sk, struct flowi6 *fl6)
{
	struct dst_entry *dst = ip6_dst_lookup_flow(sock_net(sk), sk, fl6, NULL);

	return IS_ERR(dst) ? NULL : dst;
}

/* Headroom a datagram routed by @dst needs: link layer, IPv6 and UDP headers. */
__rust_helper unsigned int rust_helper_udp_tunnel_headroom6(const struct dst_entry *dst)
{
	return LL_RESERVED_SPACE(dst->dev) + sizeof(struct ipv6hdr) + sizeof(struct udphdr);
}

/* The hop limit for datagrams routed by @dst. */
__rust_helper int rust_helper_udp_tunnel_ttl6(struct dst_entry *dst)
{
	return ip6_dst_hoplimit(dst);
}
#endif

/* Asks for an IPv6-only socket (IPv4 has a socket of its own). */
__rust_helper void rust_helper_udp_port_cfg_set_v6only(struct udp_port_cfg *cfg)
{
	cfg->ipv6_v6only = 1;
}

#endif
