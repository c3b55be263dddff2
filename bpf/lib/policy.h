/*
 * weir_policy: the endpoint policy of every local identity, one LPM trie for the node.
 * Key: (subject identity, peer identity, direction) always in full, then protocol and
 * destination port as a prefix: protocol 0 with prefix 72 is "any protocol", prefix 80 "any
 * port", and port ranges become aligned power-of-two blocks. Peer 0 is "any identity".
 *
 * A lookup is two trie walks (the peer, then "any peer"); a deny from either wins. Within one
 * peer the longest match wins, so the agent pushes a broader deny down into the narrower allows
 * it covers (agent/maps/policy.ts) and the trie never lets an allow shadow a deny.
 * Mirrored by agent/maps/policy.ts.
 */
#ifndef WEIR_POLICY_H
#define WEIR_POLICY_H

#include "common.h"
#include "ipcache.h"

enum policy_dir {
	POLICY_INGRESS = 1,
	POLICY_EGRESS = 2,
};
WEIR_BTF_ENUM(policy_dir);

enum policy_verdict {
	VERDICT_NONE = 0, /* no entry matched: default deny on enforced endpoints */
	VERDICT_ALLOW = 1,
	VERDICT_DENY = 2,
	VERDICT_REDIRECT = 3, /* allow through the L7 proxy */
};
WEIR_BTF_ENUM(policy_verdict);

/* Bits of key data after prefixlen: subject 32 + peer 32 + dir 8 + proto 8 + port 16. */
#define POLICY_PREFIX_FULL 96
#define POLICY_PREFIX_ANY_PORT 80
#define POLICY_PREFIX_ANY_PROTO 72

struct policy_key {
	__u32 prefixlen;
	__u32 subject; /* local identity the policy belongs to */
	__u32 peer;    /* remote identity, 0 = any */
	__u8 dir;
	__u8 proto;
	__u16 dport; /* network byte order, so ranges are prefixes */
};

struct policy_entry {
	__u8 verdict;
	__u8 flags;
	__u16 proxy_port; /* host byte order; VERDICT_REDIRECT only */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, WEIR_PIN);
	__type(key, struct policy_key);
	__type(value, struct policy_entry);
} weir_policy SEC(".maps");

struct policy_result {
	__u8 verdict;
	__u16 proxy_port;
};

static __always_inline struct policy_result
policy_lookup(__u32 subject, __u32 peer, __u8 dir, __u8 proto, __u16 dport)
{
	struct policy_key k = {
		.prefixlen = POLICY_PREFIX_FULL,
		.subject = subject,
		.peer = peer,
		.dir = dir,
		.proto = proto,
		.dport = dport,
	};
	struct policy_result r = { .verdict = VERDICT_NONE };
	const struct policy_entry *exact = bpf_map_lookup_elem(&weir_policy, &k);

	k.peer = IDENTITY_ANY;
	const struct policy_entry *any = bpf_map_lookup_elem(&weir_policy, &k);

	if ((exact && exact->verdict == VERDICT_DENY) || (any && any->verdict == VERDICT_DENY)) {
		r.verdict = VERDICT_DENY;
		return r;
	}
	/* A redirect from either side wins over a plain allow: L7 rules must see the traffic. */
	if (exact && exact->verdict == VERDICT_REDIRECT) {
		r.verdict = VERDICT_REDIRECT;
		r.proxy_port = exact->proxy_port;
	} else if (any && any->verdict == VERDICT_REDIRECT) {
		r.verdict = VERDICT_REDIRECT;
		r.proxy_port = any->proxy_port;
	} else if ((exact && exact->verdict == VERDICT_ALLOW) || (any && any->verdict == VERDICT_ALLOW)) {
		r.verdict = VERDICT_ALLOW;
	}
	return r;
}

/*
 * skb->mark for traffic the L7 proxy must take (lib/proxy.h): bits 8-11 say "to the proxy", bits
 * 16-31 the proxy's port (0: to the proxy's established socket for the flow, whichever it is).
 */
#define MARK_TO_PROXY 0x0a00
#define MARK_MAGIC_PROXY_MASK 0x0f00
static __always_inline __u32 proxy_mark(__u16 port)
{
	return ((__u32)port << 16) | MARK_TO_PROXY;
}

#endif
