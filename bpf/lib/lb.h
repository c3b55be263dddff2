/*
 * Service load balancing maps, in Cilium's layout:
 *   weir_lb4_services    (frontend, slot) -> slot 0: the service (backend count, flags);
 *                        slot n: the n-th backend's id. One entry per backend and port, which is
 *                        the sizing formula: LB entries = sum(backends x ports).
 *   weir_lb4_backends    backend id -> address and port
 *   weir_lb4_reverse_nat rev-NAT index -> frontend, for replies of packet-level NAT
 *   weir_lb4_affinity    (client, service) -> backend, for session affinity
 *   weir_lb4_sock_revnat (socket, backend) -> frontend, so UDP replies come from the service
 *   weir_lb4_source_ranges (rev-NAT index, client prefix): loadBalancerSourceRanges
 * Mirrored by agent/maps/lb.ts.
 */
#ifndef WEIR_LB_H
#define WEIR_LB_H

#include "common.h"

enum lb_service_flags {
	SVC_F_CLUSTER_IP = 1 << 0, /* reachable through the socket LB */
	SVC_F_NODE_PORT = 1 << 1,  /* frontend is a node address: packet-level NAT on the NIC */
	SVC_F_EXTERNAL = 1 << 2,   /* external IP / load-balancer IP: packet-level NAT too */
	SVC_F_AFFINITY = 1 << 3,   /* sessionAffinity: ClientIP */
	SVC_F_LOCAL_ONLY = 1 << 4, /* traffic policy Local: without a local endpoint, drop (not reject) */
	SVC_F_SOURCE_RANGES = 1 << 5, /* load-balancer address whose clients must be in weir_lb4_source_ranges */
};
WEIR_BTF_ENUM(lb_service_flags);

struct lb4_key {
	__u32 address;      /* frontend, network byte order */
	__u16 dport;        /* network byte order */
	__u16 backend_slot; /* 0: the service entry; 1..count: backends */
	__u8 proto;
	__u8 scope;         /* reserved for externalTrafficPolicy=Local frontends */
	__u16 pad;
};

struct lb4_service {
	__u32 backend_id;   /* slots >= 1 */
	__u16 count;        /* slot 0: number of backend slots */
	__u16 rev_nat;      /* slot 0: reverse-NAT index of this frontend */
	__u32 affinity_timeout_s;
	__u8 flags;
	__u8 pad[3];
};

struct lb4_backend {
	__u32 address;
	__u16 port;
	__u8 proto;
	__u8 flags;
};

struct lb4_reverse_nat {
	__u32 address;
	__u16 port;
	__u16 pad;
};

/* LPM key: prefixlen counts the bits after it, so a /n client prefix is 32 + n. */
struct lb4_source_range_key {
	__u32 prefixlen;
	__u16 rev_nat;
	__u16 pad;
	__u32 addr;
};
#define LB_SOURCE_RANGE_PREFIX_HDR 32

struct lb4_source_range {
	__u32 flags;
};

struct lb_affinity_key {
	__u64 client;  /* netns cookie (socket LB) or client IPv4 (packet LB) */
	__u16 rev_nat;
	__u8 netns;    /* 1: client is a netns cookie */
	__u8 pad[5];
};

struct lb_affinity {
	__u32 backend_id;
	__u32 last_used; /* CLOCK_MONOTONIC seconds */
};

struct lb4_sock_revnat_key {
	__u64 cookie;  /* socket cookie */
	__u32 address; /* backend */
	__u16 port;
	__u16 pad;
};

struct lb4_sock_revnat {
	__u32 address; /* frontend */
	__u16 port;
	__u16 rev_nat;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
} weir_lb4_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, __u32);
	__type(value, struct lb4_backend);
} weir_lb4_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65535 /* the index is 16 bits wide */);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, __u16);
	__type(value, struct lb4_reverse_nat);
} weir_lb4_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, struct lb4_source_range_key);
	__type(value, struct lb4_source_range);
} weir_lb4_source_ranges SEC(".maps");

/* A client of a frontend with loadBalancerSourceRanges must be inside one of them. */
static __always_inline int lb4_source_allowed(const struct lb4_service *svc, __u32 saddr)
{
	if (!(svc->flags & SVC_F_SOURCE_RANGES))
		return 1;
	struct lb4_source_range_key k = {
		.prefixlen = LB_SOURCE_RANGE_PREFIX_HDR + 32,
		.rev_nat = svc->rev_nat,
		.addr = saddr,
	};
	return bpf_map_lookup_elem(&weir_lb4_source_ranges, &k) != NULL;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_NAT_DEFAULT_MAX);
	__uint(pinning, WEIR_PIN);
	__type(key, struct lb_affinity_key);
	__type(value, struct lb_affinity);
} weir_lb4_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WEIR_NAT_DEFAULT_MAX);
	__uint(pinning, WEIR_PIN);
	__type(key, struct lb4_sock_revnat_key);
	__type(value, struct lb4_sock_revnat);
} weir_lb4_sock_revnat SEC(".maps");

static __always_inline const struct lb4_service *lb4_lookup_service(__u32 addr, __u16 dport, __u8 proto)
{
	struct lb4_key k = { .address = addr, .dport = dport, .proto = proto };

	return bpf_map_lookup_elem(&weir_lb4_services, &k);
}

static __always_inline const struct lb4_backend *lb4_backend(__u32 id)
{
	return bpf_map_lookup_elem(&weir_lb4_backends, &id);
}

/* A random backend slot of the service; fills *id. NULL when the slot or backend is missing. */
static __always_inline const struct lb4_backend *lb4_pick(__u32 addr, __u16 dport, __u8 proto,
							  const struct lb4_service *svc, __u32 *id)
{
	struct lb4_key k = {
		.address = addr,
		.dport = dport,
		.proto = proto,
		.backend_slot = (bpf_get_prandom_u32() % svc->count) + 1,
	};
	const struct lb4_service *slot = bpf_map_lookup_elem(&weir_lb4_services, &k);

	if (!slot)
		return NULL;
	*id = slot->backend_id;
	return lb4_backend(slot->backend_id);
}

/* Session affinity: the client's backend, while it exists and the timeout has not passed. */
static __always_inline const struct lb4_backend *
lb4_affinity_get(const struct lb_affinity_key *k, const struct lb4_service *svc, __u32 *id)
{
	struct lb_affinity *a = bpf_map_lookup_elem(&weir_lb4_affinity, k);

	if (!a || mono_now() - a->last_used > svc->affinity_timeout_s)
		return NULL;
	const struct lb4_backend *b = lb4_backend(a->backend_id);

	if (b) {
		*id = a->backend_id;
		a->last_used = mono_now();
	}
	return b;
}

static __always_inline void lb4_affinity_put(const struct lb_affinity_key *k, __u32 id)
{
	struct lb_affinity a = { .backend_id = id, .last_used = mono_now() };

	bpf_map_update_elem(&weir_lb4_affinity, k, &a, BPF_ANY);
}

/* A backend for a new flow: the affine one if any, else a random slot. */
static __always_inline const struct lb4_backend *
lb4_select(__u32 addr, __u16 dport, __u8 proto, const struct lb4_service *svc, __u64 client, __u8 netns, __u32 *id)
{
	struct lb_affinity_key ak = { .client = client, .rev_nat = svc->rev_nat, .netns = netns };
	const struct lb4_backend *b;

	if (svc->flags & SVC_F_AFFINITY) {
		b = lb4_affinity_get(&ak, svc, id);
		if (b)
			return b;
	}
	b = lb4_pick(addr, dport, proto, svc, id);
	if (b && (svc->flags & SVC_F_AFFINITY))
		lb4_affinity_put(&ak, *id);
	return b;
}

#endif
