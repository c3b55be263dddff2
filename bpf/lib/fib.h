/*
 * Sends a packet on from TC ingress without the stack's routing: a FIB lookup for its
 * destination, L2 addresses rewritten, TTL decremented, out of the egress device. Needed where
 * the stack would refuse the packet (a translated reply carrying a local source address).
 */
#ifndef WEIR_FIB_H
#define WEIR_FIB_H

#include <stddef.h>
#include "common.h"

#define AF_INET 2

/* Returns a TC action; *ok is 0 when no route exists (the caller counts the drop). */
static __always_inline int fib_redirect4(struct __sk_buff *skb, int *ok)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct bpf_fib_lookup fib = {};

	*ok = 0;
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_SHOT;
	if (ip->ttl <= 1)
		return TC_ACT_SHOT;
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = skb->ingress_ifindex;

	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);

	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_SHOT;

	/* TTL and protocol share a 16-bit checksum word. */
	__u16 old = *(__u16 *)&ip->ttl;
	__u8 ttl = ip->ttl - 1;

	if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, ttl), &ttl, 1, 0) < 0)
		return TC_ACT_SHOT;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_SHOT;
	if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), old, *(__u16 *)&ip->ttl, 2) < 0)
		return TC_ACT_SHOT;
	*ok = 1;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		/* The neighbour subsystem resolves the next hop's address. */
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) < 0 || bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(fib.ifindex, 0);
}

/*
 * The MTU of the route to `daddr` when a packet of `tot_len` bytes is too big for it (0: it fits,
 * or there is no route, which the caller's forwarding reports).
 */
static __always_inline __u16 fib_mtu_exceeded4(struct __sk_buff *skb, __u32 saddr, __u32 daddr, __u16 tot_len)
{
	struct bpf_fib_lookup fib = {};

	fib.family = AF_INET;
	fib.ipv4_src = saddr;
	fib.ipv4_dst = daddr;
	fib.tot_len = tot_len;
	fib.ifindex = skb->ingress_ifindex;
	/* The MTU is checked before neighbours: NO_NEIGH here means it fits. */
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return fib.mtu_result;
	return 0;
}

#endif
