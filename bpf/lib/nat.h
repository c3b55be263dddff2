/* In-place IPv4/L4 address and port rewrites with incremental checksum updates (TC only). */
#ifndef WEIR_NAT_H
#define WEIR_NAT_H

#include <stddef.h>
#include "common.h"
#include "parse.h"

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))

static __always_inline int l4_csum_off(const struct pkt4 *p, __u32 *off, __u64 *flags)
{
	if (p->proto == IPPROTO_TCP) {
		*off = p->l4_off + offsetof(struct tcphdr, check);
		*flags = 0;
		return 0;
	}
	if (p->proto == IPPROTO_UDP) {
		*off = p->l4_off + offsetof(struct udphdr, check);
		/* A zero UDP checksum means "none": keep it zero. */
		*flags = BPF_F_MARK_MANGLED_0;
		return 0;
	}
	return -1;
}

/* Rewrites the destination (is_src = 0) or source (is_src = 1) address and port. */
static __always_inline int nat_rewrite4(struct __sk_buff *skb, const struct pkt4 *p, int is_src,
					__u32 new_addr, __u16 new_port)
{
	__u32 old_addr = is_src ? p->saddr : p->daddr;
	__u16 old_port = is_src ? p->sport : p->dport;
	__u32 csum_off;
	__u64 l4_flags;

	if (p->fragment || l4_csum_off(p, &csum_off, &l4_flags) < 0)
		return -1;
	if (new_addr != old_addr) {
		if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
					l4_flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)) < 0)
			return -1;
		if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)) < 0)
			return -1;
		if (bpf_skb_store_bytes(skb, is_src ? IP_SRC_OFF : IP_DST_OFF, &new_addr, sizeof(new_addr), 0) < 0)
			return -1;
	}
	if (new_port != old_port) {
		/* Source and destination ports sit at the same offsets in TCP and UDP. */
		__u32 port_off = p->l4_off + (is_src ? offsetof(struct tcphdr, source) : offsetof(struct tcphdr, dest));

		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4_flags | sizeof(new_port)) < 0)
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) < 0)
			return -1;
	}
	return 0;
}

#endif
