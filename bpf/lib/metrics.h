/*
 * weir_metrics: per-CPU packet and byte counters by reason and direction, read and summed by
 * the agent at scrape time. Mirrored by agent/maps/metrics.ts.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include "common.h"

enum metrics_dir {
	METRICS_DIR_INGRESS = 1,
	METRICS_DIR_EGRESS = 2,
};
WEIR_BTF_ENUM(metrics_dir);

/*
 * Reasons below 128 are not drops (forwarded, or handed somewhere); 128 and up are drop reasons,
 * as in Cilium's drop codes. The agent exports them by name; keep agent/maps/metrics.ts in step.
 */
enum metrics_reason {
	REASON_FORWARDED = 0,
	REASON_REDIRECT_PROXY = 1,   /* marked for the L7 proxy */
	REASON_SOCKMAP_REDIRECT = 2, /* carried socket to socket by sk_msg (bytes = payload) */
	REASON_SERVICE_DNAT = 3,     /* packet-level service translation (NodePort, external) */
	REASON_REJECT_SENT = 4,      /* ICMP unreachable answered for a service with no backend */
	AUDIT_POLICY_DENIED = 5,     /* auditMode: a deny rule matched; passed */
	AUDIT_POLICY_DEFAULT = 6,    /* auditMode: no rule allowed it; passed */
	DROP_POLICY_DENIED = 130,    /* an explicit deny rule matched */
	DROP_POLICY_DEFAULT = 131,   /* enforced endpoint, no rule allowed it */
	DROP_PREFILTER_CIDR = 132,   /* source in a prefilter deny CIDR */
	DROP_INVALID_DST = 133,      /* destination neither endpoint, service nor node */
	DROP_INVALID_SOURCE = 134,   /* packet from a pod interface with a source not its own */
	DROP_NO_SERVICE = 135,       /* service without backend (socket LB: connect refused) */
	DROP_CT_FULL = 136,          /* conntrack entry could not be created */
	DROP_MALFORMED = 137,        /* truncated or unparsable header */
	DROP_NAT_FAILED = 138,       /* packet rewrite failed */
	DROP_DRAINING = 139,         /* a new flow while the node's maps switch (the client retries) */
	DROP_NOT_IPV4 = 140,         /* an enforced endpoint's traffic that is neither IPv4 nor ARP */
	DROP_WRONG_ENDPOINT = 141,   /* IPv4 for one endpoint arriving at another endpoint's interface */
	DROP_NO_ENCRYPTION = 142,    /* pod traffic to another node that must be encrypted and cannot be */
	DROP_NO_PROXY = 143,         /* a flow the L7 proxy must judge, and no proxy socket takes it */
	DROP_NO_TUNNEL = 144,        /* routed into the overlay with no node hosting its destination */
	DROP_TUNNEL_SOURCE = 145,    /* VXLAN from an address that is not a node's */
	DROP_SOURCE_RANGE = 146,     /* a load-balancer address's client outside its loadBalancerSourceRanges */
	DROP_L7_REJUDGED = 147,      /* a flow allowed at L4 that policy now hands to the L7 proxy: cut */
};
WEIR_BTF_ENUM(metrics_reason);

struct metrics_key {
	__u8 reason;
	__u8 dir;
	__u16 reserved;
};

struct metrics_value {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__uint(pinning, WEIR_PIN);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
} weir_metrics SEC(".maps");

static __always_inline void metrics_account(__u8 reason, __u8 dir, __u64 bytes)
{
	struct metrics_key key = { .reason = reason, .dir = dir };
	struct metrics_value *v = bpf_map_lookup_elem(&weir_metrics, &key);

	if (v) {
		/* Per-CPU slot: no other CPU writes it, so no atomics are needed. */
		v->packets += 1;
		v->bytes += bytes;
		return;
	}
	struct metrics_value init = { .packets = 1, .bytes = bytes };
	bpf_map_update_elem(&weir_metrics, &key, &init, BPF_NOEXIST);
}

#endif
