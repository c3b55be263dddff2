/*
 * Handing flows to the node's L7 proxy. A hook that decides a packet belongs to the proxy (a flow
 * whose policy verdict is "redirect", or a reply to one of the proxy's upstream connections)
 * marks it and redirects it into loopback's ingress; there tc_to_proxy assigns it to the proxy's
 * socket (bpf_sk_assign) and the routing rule for the mark delivers it locally, with its original
 * addresses. One place for the assignment, reachable from TC ingress and egress alike (the pod
 * veth's egress, where ingress policy runs, cannot assign a socket itself).
 */
#ifndef WEIR_PROXY_H
#define WEIR_PROXY_H

#include "common.h"
#include "config.h"
#include "policy.h"

/* Loopback is the first interface of every network namespace. */
#define LOOPBACK_IFINDEX 1

static __always_inline int proxy_handoff(struct __sk_buff *skb, __u16 port)
{
	/* Loopback's address is all zeros: a frame for another MAC would be dropped as not for it. */
	__u8 lo_mac[ETH_ALEN] = {};

	skb->mark = proxy_mark(port);
	if (bpf_skb_store_bytes(skb, 0, lo_mac, ETH_ALEN, 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(LOOPBACK_IFINDEX, BPF_F_INGRESS);
}

/* A packet of the proxy's own sockets (its upstream connections), by the cgroup it runs in. */
static __always_inline int from_proxy(struct __sk_buff *skb, const struct datapath_config *cfg)
{
	return cfg->proxy_cgroup_id != 0 && bpf_skb_cgroup_id(skb) == cfg->proxy_cgroup_id;
}

/*
 * A TCP packet for a connection one of the node's own sockets holds with these addresses: to a
 * pod's address, that can only be the proxy's upstream connection (which took its client's
 * address), whose replies come back through here without a flow this hook tracked.
 */
static __always_inline int proxy_holds(struct __sk_buff *skb, __u32 saddr, __u32 daddr, __u16 sport, __u16 dport)
{
	struct bpf_sock_tuple t = { .ipv4 = { .saddr = saddr, .daddr = daddr, .sport = sport, .dport = dport } };
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);

	if (!sk)
		return 0;
	int held = sk->state != BPF_TCP_LISTEN;

	bpf_sk_release(sk);
	return held;
}

#endif
