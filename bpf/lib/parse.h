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
};

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
	p->ihl_ok = ihl == 20;
	p->l4_off = sizeof(*eth) + ihl;
	/* Fragment offset != 0: later fragments carry no ports (policy sees port 0). */
	p->fragment = (ip->frag_off & bpf_htons(0x1fff)) != 0;
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
		}
	}
	return PARSE_OK;
}

#endif
