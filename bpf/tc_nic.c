/*
 * TC on the node's NIC: packet-level load balancing for traffic from outside the node.
 * tc_from_netdev (ingress) translates a NodePort / external frontend to a backend (DNAT), with
 * the backend kept in conntrack so every packet of the flow goes to the same one;
 * tc_to_netdev (egress) turns the backend's replies back into the frontend (reverse NAT).
 * A frontend without backends answers ICMP port unreachable.
 *
 * A backend on another node gets the flow with this node as its source (SNAT, weir_nat4), so
 * the reply returns here to be translated back; both directions of such a flow are sent on by
 * FIB lookup and redirect, since the stack would drop a packet arriving with its own address as
 * source.
 */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/conntrack.h"
#include "lib/endpoints.h"
#include "lib/fib.h"
#include "lib/ipcache.h"
#include "lib/lb.h"
#include "lib/metrics.h"
#include "lib/nat.h"
#include "lib/nodeport.h"
#include "lib/parse.h"
#include "lib/tc.h"
#include "lib/reject.h"
#include "lib/snat.h"

static __always_inline int nodeport_dnat(struct __sk_buff *skb, const struct pkt4 *p, const struct lb4_service *svc)
{
	struct datapath_config cfg_scratch;
	const struct datapath_config *cfg = config_get(&cfg_scratch);
	struct ct4_key skey = ct_tuple(p, CT_SCOPE_SERVICE);
	struct ct_entry *se = ct_lookup(&skey);
	const struct lb4_backend *be = NULL;
	__u32 backend_id = 0;

	/* Every packet, so narrowing the ranges cuts flows already open from outside them. */
	if (!lb4_source_allowed(svc, p->saddr))
		return tc_drop(skb, DROP_SOURCE_RANGE, METRICS_DIR_INGRESS);

	if (se && ct_is_reopen(se, p->proto, p->tcp_flags)) {
		ct_delete(&skey);
		se = NULL;
	}
	if (se) {
		backend_id = se->backend_id;
		be = lb4_backend(backend_id);
	}
	if (!be) {
		if (cfg->flags & CFG_DRAIN)
			return tc_drop(skb, DROP_DRAINING, METRICS_DIR_INGRESS);
		/* New flow, or its backend went away: choose (again). */
		if (svc->count == 0) {
			/* As kube-proxy: a Local policy's node without an endpoint drops, others reject. */
			if (!p->ihl_ok || (svc->flags & SVC_F_LOCAL_ONLY))
				return tc_drop(skb, DROP_NO_SERVICE, METRICS_DIR_INGRESS);
			metrics_account(REASON_REJECT_SENT, METRICS_DIR_INGRESS, skb->len);
			return reject_icmp4(skb, ICMP_PORT_UNREACH, 0);
		}
		be = lb4_select(p->daddr, p->dport, p->proto, svc, p->saddr, 0, &backend_id);
		if (!be)
			return tc_drop(skb, DROP_NO_SERVICE, METRICS_DIR_INGRESS);
		struct ct_entry fresh = {
			.backend_id = backend_id,
			.rev_nat = svc->rev_nat,
			.src_identity = identity_of4(p->saddr),
		};
		ct_account(&fresh, p->proto, p->tcp_flags, 0, cfg);
		if (ct_create(&skey, &fresh) < 0)
			return tc_drop(skb, DROP_CT_FULL, METRICS_DIR_INGRESS);
	} else {
		ct_account(se, p->proto, p->tcp_flags, 0, cfg);
	}

	/*
	 * A backend on another node may be behind a smaller MTU (the overlay's): a packet too big for
	 * it, that may not be fragmented, is answered "fragmentation needed" before any translation,
	 * so the client sees its own packet quoted and lowers its path MTU.
	 */
	if (p->dont_fragment && !endpoint_lookup4(be->address)) {
		__u16 mtu = fib_mtu_exceeded4(skb, p->saddr, be->address, (__u16)(skb->len - ETH_HLEN));

		if (mtu) {
			metrics_account(REASON_REJECT_SENT, METRICS_DIR_INGRESS, skb->len);
			return reject_icmp4(skb, ICMP_FRAG_NEEDED, mtu);
		}
	}

	/* The post-translation tuple, so the backend's replies find their frontend. */
	struct ct4_key nkey = {
		.saddr = p->saddr,
		.daddr = be->address,
		.sport = p->sport,
		.dport = be->port,
		.proto = p->proto,
		.scope = CT_SCOPE_NODEPORT,
	};
	struct ct_entry *ne = ct_lookup(&nkey);

	if (ne) {
		if (ne->rev_nat != svc->rev_nat)
			ne->rev_nat = svc->rev_nat;
		ct_account(ne, p->proto, p->tcp_flags, 0, cfg);
	} else {
		struct ct_entry fresh = { .rev_nat = svc->rev_nat, .backend_id = backend_id };

		ct_account(&fresh, p->proto, p->tcp_flags, 0, cfg);
		if (ct_create(&nkey, &fresh) < 0)
			return tc_drop(skb, DROP_CT_FULL, METRICS_DIR_INGRESS);
	}

	__u32 addr = be->address;
	__u16 port = be->port;

	if (nat_rewrite4(skb, p, 0, addr, port) < 0)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	metrics_account(REASON_SERVICE_DNAT, METRICS_DIR_INGRESS, skb->len);
	if (endpoint_lookup4(addr) || !cfg->node_ip4)
		return TC_ACT_OK;

	/* Remote backend: this node becomes the source, and the packet leaves at once. */
	__u16 sport = snat_port(p->saddr, p->sport, addr, port, p->proto, cfg->node_ip4);

	if (!sport)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	struct pkt4 q = *p;

	q.daddr = addr;
	q.dport = port;
	if (nat_rewrite4(skb, &q, 1, cfg->node_ip4, sport) < 0)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	int ok;
	int act = fib_redirect4(skb, &ok);

	if (!ok)
		return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_INGRESS);
	return act;
}

SEC("tc")
int tc_from_netdev(struct __sk_buff *skb)
{
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_INGRESS);

	if (rc != TC_INSPECT)
		return rc == TC_NOT_IPV4 ? TC_ACT_OK : rc;
	if ((p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) && !p.fragment) {
		const struct lb4_service *svc = lb4_lookup_service(p.daddr, p.dport, p.proto);

		if (svc && (svc->flags & (SVC_F_NODE_PORT | SVC_F_EXTERNAL)))
			return nodeport_dnat(skb, &p, svc);
		int act = nodeport_reply_from_remote(skb, &p);

		if (act >= 0)
			return act;
	}
	metrics_account(REASON_FORWARDED, METRICS_DIR_INGRESS, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int tc_to_netdev(struct __sk_buff *skb)
{
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_EGRESS);

	if (rc != TC_INSPECT)
		return rc == TC_NOT_IPV4 ? TC_ACT_OK : rc;
	if ((p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) && !p.fragment) {
		/* A reply of a translated flow: backend -> client, tracked as client -> backend. */
		struct ct4_key nkey = {
			.saddr = p.daddr,
			.daddr = p.saddr,
			.sport = p.dport,
			.dport = p.sport,
			.proto = p.proto,
			.scope = CT_SCOPE_NODEPORT,
		};
		struct ct_entry *ne = ct_lookup(&nkey);

		if (ne && ne->rev_nat) {
			__u16 idx = ne->rev_nat;
			const struct lb4_reverse_nat *rn = bpf_map_lookup_elem(&weir_lb4_reverse_nat, &idx);

			if (!rn)
				return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_EGRESS);
			struct datapath_config cfg_scratch;
	const struct datapath_config *cfg = config_get(&cfg_scratch);

			ct_account(ne, p.proto, p.tcp_flags, 1, cfg);
			/* The frontend's entry learns the reply too, so it ages as an established flow. */
			struct ct4_key skey = {
				.saddr = p.daddr,
				.daddr = rn->address,
				.sport = p.dport,
				.dport = rn->port,
				.proto = p.proto,
				.scope = CT_SCOPE_SERVICE,
			};
			struct ct_entry *se = ct_lookup(&skey);

			if (se)
				ct_account(se, p.proto, p.tcp_flags, 1, cfg);
			if (nat_rewrite4(skb, &p, 1, rn->address, rn->port) < 0)
				return tc_drop(skb, DROP_NAT_FAILED, METRICS_DIR_EGRESS);
			metrics_account(REASON_SERVICE_DNAT, METRICS_DIR_EGRESS, skb->len);
			return TC_ACT_OK;
		}
	}
	metrics_account(REASON_FORWARDED, METRICS_DIR_EGRESS, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
