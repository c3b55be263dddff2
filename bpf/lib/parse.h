/* IPv4 header parsing shared by XDP and TC programs. */
#ifndef WEIR_PARSE_H
#define WEIR_PARSE_H

#include "common.h"

/* The L3/L4 facts of one IPv4 packet. Addresses and ports in network byte order. */
struct pkt4 {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags; /* TCP flag byte (FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10) */
	__u16 l4_off;   /* from the start of the frame */
	__u16 payload;  /* L4 payload bytes (TCP/UDP), 0 otherwise */
	__u8 fragment;  /* non-first fragment: no L4 header */
	__u8 ihl_ok;    /* header without options */
	__u8 more_fragments; /* MF: a first (or middle) fragment */
	__u8 dont_fragment;  /* DF: too big for a hop means an ICMP "fragmentation needed" */
	__u16 ip_id;    /* network byte order: with the addresses and protocol, names the datagram */
	/*
	 * An ICMP error (unreachable, fragmentation needed, time exceeded, parameter problem)
	 * and the packet it quotes: that packet's tuple, as it was sent.
	 */
	__u8 icmp_error;
	__u8 quoted_proto;
	__u16 quoted_sport;
	__u16 quoted_dport;
	__u32 quoted_saddr;
	__u32 quoted_daddr;
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IPV4 = 1, /* ARP, IPv6, ...: not ours to judge */
	PARSE_MALFORMED = -1,
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

static __always_inline int parse_ipv4(void *data, void *data_end, struct pkt4 *p)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end)
		return PARSE_MALFORMED;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return PARSE_MALFORMED;
	if (ip->ihl < 5 || ip->version != 4)
		return PARSE_MALFORMED;

	__u32 ihl = ip->ihl * 4;
	__u16 tot = bpf_ntohs(ip->tot_len);

	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->payload = 0;
	p->icmp_error = 0;
	p->ihl_ok = ihl == 20;
	p->l4_off = sizeof(*eth) + ihl;
	/* Fragment offset != 0: later fragments carry no ports (policy sees port 0). */
	p->fragment = (ip->frag_off & bpf_htons(0x1fff)) != 0;
	p->more_fragments = (ip->frag_off & bpf_htons(0x2000)) != 0;
	p->dont_fragment = (ip->frag_off & bpf_htons(0x4000)) != 0;
	p->ip_id = ip->id;
	if (p->fragment || tot < ihl)
		return PARSE_OK;

	void *l4 = (void *)ip + ihl;

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return PARSE_MALFORMED;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		__u32 doff = tcp->doff * 4;
		if (tot >= ihl + doff)
			p->payload = tot - ihl - doff;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return PARSE_MALFORMED;
		p->sport = udp->source;
		p->dport = udp->dest;
		if (tot >= ihl + sizeof(*udp))
			p->payload = tot - ihl - sizeof(*udp);
	} else if (p->proto == IPPROTO_SCTP) {
		/* SCTP's common header starts with both ports, as UDP's does. */
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end)
			return PARSE_MALFORMED;
		p->sport = ports[0];
		p->dport = ports[1];
	} else if (p->proto == IPPROTO_ICMP) {
		struct icmp4hdr *icmp = l4;

		if ((void *)(icmp + 1) > data_end)
			return PARSE_MALFORMED;
		/* Echo id in both ports: a request and its reply then share a tuple, reversed. */
		if (icmp->type == ICMP_ECHO || icmp->type == ICMP_ECHOREPLY) {
			p->sport = icmp->id;
			p->dport = icmp->id;
		} else if (icmp->type == ICMP_DEST_UNREACH || icmp->type == ICMP_TIME_EXCEEDED ||
			   icmp->type == ICMP_PARAMETERPROB) {
			/* The quoted header and the first bytes of its L4 header: the ports. */
			struct iphdr *q = (void *)(icmp + 1);

			if ((void *)(q + 1) > data_end || q->version != 4 || q->ihl < 5)
				return PARSE_OK;
			__be16 *ports = (void *)q + (q->ihl & 0xf) * 4;

			if ((void *)(ports + 2) > data_end)
				return PARSE_OK;
			p->icmp_error = 1;
			p->quoted_saddr = q->saddr;
			p->quoted_daddr = q->daddr;
			p->quoted_proto = q->protocol;
			if (q->protocol == IPPROTO_TCP || q->protocol == IPPROTO_UDP || q->protocol == IPPROTO_SCTP) {
				p->quoted_sport = ports[0];
				p->quoted_dport = ports[1];
			} else {
				p->quoted_sport = 0;
				p->quoted_dport = 0;
			}
		}
	}
	return PARSE_OK;
}

#endif
