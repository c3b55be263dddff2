/*
 * weir_endpoints4: the node's local endpoints by IPv4 address (and the node's own addresses,
 * flagged HOST). Mirrored by agent/maps/endpoints.ts.
 */
#ifndef WEIR_ENDPOINTS_H
#define WEIR_ENDPOINTS_H

#include "common.h"

enum endpoint_flags {
	EP_F_ENFORCE_INGRESS = 1 << 0,
	EP_F_ENFORCE_EGRESS = 1 << 1,
	EP_F_HOST = 1 << 2, /* an address of the node itself */
};
WEIR_BTF_ENUM(endpoint_flags);

struct endpoint_key4 {
	__u32 addr;
};

struct endpoint_info {
	__u32 ifindex; /* host side of the endpoint's veth */
	__u32 identity;
	__u32 flags;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, struct endpoint_key4);
	__type(value, struct endpoint_info);
} weir_endpoints4 SEC(".maps");

static __always_inline const struct endpoint_info *endpoint_lookup4(__u32 addr)
{
	struct endpoint_key4 k = { .addr = addr };

	return bpf_map_lookup_elem(&weir_endpoints4, &k);
}

/*
 * weir_endpoint_ifs: the same endpoints by the host side of their veth, so a program on a pod
 * interface knows whose it is: what address the pod may send from, and whether its non-IPv4
 * traffic must fail closed. Mirrored by agent/maps/endpoints.ts.
 */
struct endpoint_if {
	__u32 addr; /* the endpoint's IPv4 address, network byte order */
	__u32 identity;
	__u32 flags; /* enum endpoint_flags */
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, __u32);
	__type(value, struct endpoint_if);
} weir_endpoint_ifs SEC(".maps");

static __always_inline const struct endpoint_if *endpoint_if_lookup(__u32 ifindex)
{
	return bpf_map_lookup_elem(&weir_endpoint_ifs, &ifindex);
}

#endif
