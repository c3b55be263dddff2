/*
 * weir_nat4: source NAT of NodePort traffic this node forwards to a backend on another node, so
 * the backend's replies come back through this node (which alone can undo the DNAT). Two entries
 * per flow: the forward mapping (client -> backend becomes node:port -> backend) and the reverse
 * one the reply is found by. An LRU hash: idle mappings age out on their own.
 * Mirrored by agent/maps/nat.ts.
 */
#ifndef WEIR_SNAT_H
#define WEIR_SNAT_H

#include "common.h"

enum nat_dir {
	NAT_OUT = 1, /* keyed by the original tuple */
	NAT_IN = 2,  /* keyed by the reply's tuple */
};
WEIR_BTF_ENUM(nat_dir);

struct nat4_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 dir;
	__u16 pad;
};

struct nat4_entry {
	__u32 to_addr; /* NAT_OUT: new source; NAT_IN: original client */
	__u16 to_port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_NAT_DEFAULT_MAX);
	__uint(pinning, WEIR_PIN);
	__type(key, struct nat4_key);
	__type(value, struct nat4_entry);
} weir_nat4 SEC(".maps");

#define SNAT_PORT_MIN 32768
#define SNAT_PORT_RANGE 28232 /* 32768-60999, Linux's default ephemeral range */
#define SNAT_TRIES 8

/*
 * The node-side port for (client -> backend): the client's own port when free, else a random
 * one; the reverse entry is created with NOEXIST, so two flows never share a mapping.
 * Returns the port (network order) or 0 when none was free.
 */
static __always_inline __u16 snat_port(__u32 client, __u16 cport, __u32 backend, __u16 bport, __u8 proto, __u32 node)
{
	struct nat4_key out = { .saddr = client, .daddr = backend, .sport = cport, .dport = bport, .proto = proto, .dir = NAT_OUT };
	struct nat4_entry *have = bpf_map_lookup_elem(&weir_nat4, &out);

	if (have)
		return have->to_port;

	struct nat4_entry back = { .to_addr = client, .to_port = cport };
	struct nat4_key in = { .saddr = backend, .daddr = node, .sport = bport, .proto = proto, .dir = NAT_IN };
	__u16 port = cport;

	for (int i = 0; i < SNAT_TRIES; i++) {
		in.dport = port;
		if (bpf_map_update_elem(&weir_nat4, &in, &back, BPF_NOEXIST) == 0) {
			struct nat4_entry fwd = { .to_addr = node, .to_port = port };

			bpf_map_update_elem(&weir_nat4, &out, &fwd, BPF_ANY);
			return port;
		}
		port = bpf_htons(SNAT_PORT_MIN + bpf_get_prandom_u32() % SNAT_PORT_RANGE);
	}
	return 0;
}

#endif
