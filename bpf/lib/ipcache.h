/*
 * weir_ipcache: longest-prefix match of an address to its security identity (and, for remote
 * pods, the node that hosts them). One map for both families, as Cilium's ipcache: the family
 * byte sits in the key before the address, so IPv6 entries can follow without a new layout.
 * Mirrored by agent/maps/ipcache.ts.
 */
#ifndef WEIR_IPCACHE_H
#define WEIR_IPCACHE_H

#include "common.h"

#define IPCACHE_FAMILY_V4 4
#define IPCACHE_FAMILY_V6 6
/* Key bits before the address: family (8) + pad (24). */
#define IPCACHE_PREFIX_HDR 32

struct lpm_ip_key {
	__u32 prefixlen; /* IPCACHE_PREFIX_HDR + address prefix length */
	__u8 family;
	__u8 pad[3];
	__u32 addr[4]; /* IPv4 in addr[0], network byte order */
};

enum ipcache_flags {
	IPCACHE_F_LOCAL = 1 << 0, /* an endpoint on this node */
	IPCACHE_F_NODE = 1 << 1,  /* a node address (this or another) */
};
WEIR_BTF_ENUM(ipcache_flags);

struct ipcache_entry {
	__u32 identity;
	__u32 tunnel_ip4; /* node hosting the address (0: none / this node) */
	__u32 flags;
};

/* Reserved identities, as the operator numbers them (operator/identity/reserved.ts). */
#define IDENTITY_ANY 0
#define IDENTITY_HOST 1
#define IDENTITY_WORLD 2

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, struct lpm_ip_key);
	__type(value, struct ipcache_entry);
} weir_ipcache SEC(".maps");

static __always_inline const struct ipcache_entry *ipcache_lookup4(__u32 addr)
{
	struct lpm_ip_key k = {
		.prefixlen = IPCACHE_PREFIX_HDR + 32,
		.family = IPCACHE_FAMILY_V4,
		.addr = { addr },
	};
	return bpf_map_lookup_elem(&weir_ipcache, &k);
}

/* Unknown addresses are "world". */
static __always_inline __u32 identity_of4(__u32 addr)
{
	const struct ipcache_entry *e = ipcache_lookup4(addr);

	return e ? e->identity : IDENTITY_WORLD;
}

#endif
