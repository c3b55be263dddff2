/*
 * Answers a packet with ICMP destination unreachable, sent back out of the interface it came in
 * on: "port unreachable" is what a service with no backend says to a client outside the node, so
 * it fails at once (TCP connect: ECONNREFUSED) instead of timing out; "fragmentation needed" with
 * the next hop's MTU (RFC 1191) is what a packet too big for the path to its backend gets, so
 * the client's path MTU discovery works through a translation it cannot see.
 */
#ifndef WEIR_REJECT_H
#define WEIR_REJECT_H

#include "common.h"

/* The original IP header (no options) and the first 8 bytes of its payload, as RFC 792 asks. */
#define REJECT_QUOTE 28
#define REJECT_LEN (ETH_HLEN + sizeof(struct iphdr) + sizeof(struct icmp4hdr) + REJECT_QUOTE)

struct icmp_error {
	struct icmp4hdr icmp;
	__u8 quote[REJECT_QUOTE];
};

static __always_inline __u16 csum_fold32(__s64 sum)
{
	__u32 c = (__u32)sum;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)~c;
}

#define ICMP_FRAG_NEEDED 4

/*
 * Returns a TC action: TC_ACT_REDIRECT on success, TC_ACT_SHOT when the answer cannot be built.
 * `mtu` goes with ICMP_FRAG_NEEDED (0 otherwise).
 */
static __always_inline int reject_icmp4(struct __sk_buff *skb, __u8 code, __u16 mtu)
{
	struct ethhdr eth;
	struct iphdr ip = {};
	struct icmp_error err = {};
	__u8 mac[ETH_ALEN];

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, err.quote, REJECT_QUOTE) < 0)
		return TC_ACT_SHOT;

	struct iphdr *orig = (struct iphdr *)err.quote;

	ip.version = 4;
	ip.ihl = 5;
	ip.ttl = 64;
	ip.protocol = IPPROTO_ICMP;
	ip.tot_len = bpf_htons(REJECT_LEN - ETH_HLEN);
	ip.saddr = orig->daddr;
	ip.daddr = orig->saddr;
	ip.check = csum_fold32(bpf_csum_diff(NULL, 0, (__be32 *)&ip, sizeof(ip), 0));

	err.icmp.type = ICMP_DEST_UNREACH;
	err.icmp.code = code;
	/* RFC 1191: the next-hop MTU in the second half of the word after the checksum. */
	err.icmp.sequence = bpf_htons(mtu);
	err.icmp.checksum = csum_fold32(bpf_csum_diff(NULL, 0, (__be32 *)&err, sizeof(err), 0));

	__builtin_memcpy(mac, eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth.h_dest, mac, ETH_ALEN);

	if (bpf_skb_change_tail(skb, REJECT_LEN, 0) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &ip, sizeof(ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(ip), &err, sizeof(err), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

#endif
