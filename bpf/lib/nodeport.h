/*
 * NodePort replies from a backend on another node. A node sends a NodePort flow on to a remote
 * backend with itself as the source (SNAT, weir_nat4), so the backend's replies come back to it:
 * natively on its NIC (tc_from_netdev), or through the tunnel in VXLAN mode (tc_from_overlay).
 * Either way the reply is translated back to the client and sent on by FIB lookup, since the
 * stack would drop a packet arriving with its own address as source.
 */
#ifndef WEIR_NODEPORT_H
#define WEIR_NODEPORT_H

#include "common.h"
#include "config.h"
#include "conntrack.h"
#include "fib.h"
#include "lb.h"
#include "metrics.h"
#include "nat.h"
#include "parse.h"
#include "snat.h"
#include "tc.h"

/*
 * The reply of a flow sent on to a remote backend: undo the SNAT (back to the client), then the
 * DNAT (from the frontend), and send it back out. Returns -1 when the packet is no such reply.
 */
static __always_inline int nodeport_reply_from_remote(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct nat4_key in = { .saddr = p->saddr, .daddr = p->daddr, .sport = p->sport, .dport = p->dport, .proto = p->proto, .dir = NAT_IN };
	struct nat4_entry *back = bpf_map_lookup_elem(&weir_nat4, &in);

	if (!back)
		return -1;
	__u32 client = back->to_addr;
	__u16 cport = back->to_port;
	struct ct4_key nkey = {
		.saddr = client,
		.daddr = p->saddr,
		.sport = cport,
		.dport = p->sport,
		.proto = p->proto,
		.scope = CT_SCOPE_NODEPORT,
	};
	struct ct_entry *ne = ct_lookup(&nkey);

	if (!ne || !ne->rev_nat)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	__u16 idx = ne->rev_nat;
	const struct lb4_reverse_nat *rn = bpf_map_lookup_elem(&weir_lb4_reverse_nat, &idx);

	if (!rn)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	struct datapath_config cfg_scratch;
	const struct datapath_config *cfg = config_get(&cfg_scratch);

	ct_account(ne, p->proto, p->tcp_flags, 1, cfg);
	__u32 fe_addr = rn->address;
	__u16 fe_port = rn->port;

	if (nat_rewrite4(skb, p, 0, client, cport) < 0)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	struct pkt4 q = *p;

	q.daddr = client;
	q.dport = cport;
	if (nat_rewrite4(skb, &q, 1, fe_addr, fe_port) < 0)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	metrics_account(REASON_SERVICE_DNAT, METRICS_DIR_EGRESS, skb->len);
	int ok;
	int act = fib_redirect4(skb, &ok);

	if (!ok)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	return act;
}

#endif
