/*
 * weir_prefilter4: source CIDRs the XDP prefilter drops before anything else runs. Keyed like the
 * ipcache (family byte first), so IPv6 CIDRs can share the map later.
 * Mirrored by agent/maps/prefilter.ts.
 */
#ifndef WEIR_PREFILTER_H
#define WEIR_PREFILTER_H

#include "common.h"
#include "ipcache.h"

struct prefilter_entry {
	__u32 flags; /* reserved */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, struct lpm_ip_key);
	__type(value, struct prefilter_entry);
} weir_prefilter SEC(".maps");

static __always_inline int prefilter_denied4(__u32 saddr)
{
	struct lpm_ip_key k = {
		.prefixlen = IPCACHE_PREFIX_HDR + 32,
		.family = IPCACHE_FAMILY_V4,
		.addr = { saddr },
	};
	return bpf_map_lookup_elem(&weir_prefilter, &k) != NULL;
}

#endif
