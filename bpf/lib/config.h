/*
 * weir_config: one entry of node-wide settings the agent writes (feature switches, the policy
 * generation, conntrack timeouts). A map rather than .rodata so the agent changes them live.
 * Mirrored by agent/maps/config.ts.
 */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include "common.h"

enum config_flags {
	/* Prefilter drops packets whose destination is no endpoint, service or node address. */
	CFG_PREFILTER_VALID_DST = 1 << 0,
	/* Socket fast path (sk_msg redirect) for local TCP connections. */
	CFG_SOCKMAP_FASTPATH = 1 << 1,
	/*
	 * Maps are being switched (resize): no new flow may start on this node, so none is born in
	 * a map about to be replaced; established flows carry on. Set for the switch only.
	 */
	CFG_DRAIN = 1 << 2,
	CFG_POLICY_AUDIT = 1 << 3, /* auditMode: would-be policy drops pass, counted */
	/*
	 * Pod traffic to another node must be encrypted but this node cannot (no kernel support, no
	 * key yet): it is dropped, counted, rather than sent in clear. See lib/encrypt.h.
	 */
	CFG_ENCRYPT_REQUIRED = 1 << 4,
};
WEIR_BTF_ENUM(config_flags);

struct datapath_config {
	__u32 flags;
	/*
	 * Bumped by the agent on every policy change. A conntrack entry records the generation it
	 * was last allowed under; an older one makes the flow re-check policy once, so established
	 * flows skip policy in the steady state and a revocation still takes effect.
	 */
	__u32 policy_gen;
	__u32 ct_tcp_established_s;
	__u32 ct_tcp_syn_s;
	__u32 ct_tcp_close_s;
	__u32 ct_any_s;
	__u32 node_ip4; /* source for NodePort traffic sent on to another node (SNAT) */
	/*
	 * skb->mark for pod traffic to another node's pods (lib/encrypt.h): the xfrm policies
	 * (IPsec, with the key generation in the mark) or the routing rule (WireGuard) the agent
	 * installed match it. 0: not encrypting.
	 */
	__u32 encrypt_mark;
	/*
	 * The cgroup (v2 id) the L7 proxy runs in: its upstream connections are the proxy's own
	 * traffic, judged at L3/L4 with the client's identity (their source address) and never
	 * handed to the proxy again. 0: no proxy.
	 */
	__u64 proxy_cgroup_id;
	/*
	 * The VXLAN device's index: an identity mark (lib/overlay.h) is believed only on a packet
	 * that came in through it. 0: no tunnel, no mark is believed.
	 */
	__u32 tunnel_ifindex;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(pinning, WEIR_PIN);
	__type(key, __u32);
	__type(value, struct datapath_config);
} weir_config SEC(".maps");

/*
 * The live config, or Cilium's defaults in *scratch until the agent has written one (an all-zero
 * entry). Defaults are filled at run time: a const struct would need a .rodata section, which
 * this libbpf rejects when the compiler folds it away.
 */
static __always_inline const struct datapath_config *config_get(struct datapath_config *scratch)
{
	__u32 zero = 0;
	const struct datapath_config *c = bpf_map_lookup_elem(&weir_config, &zero);

	if (c && c->ct_tcp_established_s != 0)
		return c;
	__builtin_memset(scratch, 0, sizeof(*scratch));
	scratch->ct_tcp_established_s = 21600;
	scratch->ct_tcp_syn_s = 60;
	scratch->ct_tcp_close_s = 10;
	scratch->ct_any_s = 60;
	return scratch;
}

static __always_inline __u32 config_flags(void)
{
	__u32 zero = 0;
	const struct datapath_config *c = bpf_map_lookup_elem(&weir_config, &zero);

	return c ? c->flags : 0;
}

#endif
