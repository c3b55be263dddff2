/*
 * weir_frag4: the ports of IPv4 datagrams in flight in fragments. Only the first fragment
 * carries the L4 header, so the TC endpoint programs record its ports by (addresses, IP id,
 * protocol) and judge the later fragments with them, as the first was judged. An LRU hash: when
 * full, the oldest datagram is forgotten and its later fragments are judged with port 0 (which
 * a port-restricted policy refuses). Mirrored by agent/maps/frag.ts.
 */
#ifndef WEIR_FRAG_H
#define WEIR_FRAG_H

#include "common.h"
#include "parse.h"

struct frag4_key {
	__u32 saddr;
	__u32 daddr;
	__u16 id;
	__u8 proto;
	__u8 pad;
};

struct frag4_ports {
	__u16 sport; /* network byte order */
	__u16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__uint(pinning, WEIR_PIN);
	__type(key, struct frag4_key);
	__type(value, struct frag4_ports);
} weir_frag4 SEC(".maps");

/* First fragment: remember its ports; later one: take them (or keep port 0 if unknown). */
static __always_inline void frag_ports(struct pkt4 *p)
{
	struct frag4_key k = { .saddr = p->saddr, .daddr = p->daddr, .id = p->ip_id, .proto = p->proto };

	if (p->fragment) {
		const struct frag4_ports *v = bpf_map_lookup_elem(&weir_frag4, &k);

		if (v) {
			p->sport = v->sport;
			p->dport = v->dport;
		}
	} else if (p->more_fragments) {
		struct frag4_ports v = { .sport = p->sport, .dport = p->dport };

		bpf_map_update_elem(&weir_frag4, &k, &v, BPF_ANY);
	}
}

#endif
