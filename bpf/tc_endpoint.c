/*
 * TC on the host side of each pod veth: tc_from_endpoint on ingress (what the pod sends: its
 * egress policy), tc_to_endpoint on egress (what the pod receives: its ingress policy).
 *
 * A packet of a known flow skips the policy trie: conntrack says whether it is the initiator's
 * direction or a reply. The policy generation in the entry makes a flow re-check once after any
 * policy change, so a revocation reaches established flows too.
 */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/conntrack.h"
#include "lib/encrypt.h"
#include "lib/endpoints.h"
#include "lib/enforce.h"
#include "lib/frag.h"
#include "lib/ipcache.h"
#include "lib/overlay.h"
#include "lib/metrics.h"
#include "lib/parse.h"
#include "lib/proxy.h"
#include "lib/tc.h"

static __always_inline int deny_reason(__u8 verdict)
{
	return verdict == VERDICT_DENY ? DROP_POLICY_DENIED : DROP_POLICY_DEFAULT;
}

static __always_inline int pass(struct __sk_buff *skb, __u8 mdir, const struct ct_entry *e)
{
	if (e->flags & CT_F_PROXY)
		return proxy_handoff(skb, e->proxy_port);
	metrics_account(REASON_FORWARDED, mdir, skb->len);
	return TC_ACT_OK;
}

/*
 * An ICMP error about a packet of a tracked flow, in either direction and either scope, belongs
 * to that flow (as "related" in netfilter): fragmentation needed must reach the sender, or path
 * MTU discovery fails, though policy allows no ICMP from the router that sent it. Only on its way
 * to the quoted packet's sender, as netfilter requires: otherwise anyone with one tracked flow
 * could send "errors" quoting it, up to an MTU of payload, to any address past both policies.
 */
static __always_inline int icmp_error_related(const struct pkt4 *p)
{
	if (p->daddr != p->quoted_saddr)
		return 0;

	struct ct4_key k = {
		.saddr = p->quoted_saddr,
		.daddr = p->quoted_daddr,
		.sport = p->quoted_sport,
		.dport = p->quoted_dport,
		.proto = p->quoted_proto,
	};

	for (int reversed = 0; reversed < 2; reversed++) {
		for (__u8 scope = CT_SCOPE_EGRESS; scope <= CT_SCOPE_INGRESS; scope++) {
			k.scope = scope;
			if (ct_lookup(&k))
				return 1;
		}
		k = ct_reverse(&k, CT_SCOPE_EGRESS);
	}
	return 0;
}

/* The remote side's identity; on ingress, the tunnel it came through may have said (lib/overlay.h). */
static __always_inline __u32 remote_identity_of(const struct __sk_buff *skb, const struct datapath_config *cfg, __u8 dir,
						__u32 remote_addr)
{
	return dir == POLICY_EGRESS ? identity_of4(remote_addr) : source_identity(skb, cfg, remote_addr);
}

/*
 * dir is the endpoint's policy direction for this hook; the remote side is the destination on
 * egress and the source on ingress.
 */
static __always_inline int endpoint_enforce(struct __sk_buff *skb, const struct pkt4 *p,
					    const struct endpoint_info *ep, __u8 dir)
{
	struct datapath_config cfg_scratch;
	const struct datapath_config *cfg = config_get(&cfg_scratch);
	__u8 mdir = dir == POLICY_EGRESS ? METRICS_DIR_EGRESS : METRICS_DIR_INGRESS;
	__u8 own_scope = dir == POLICY_EGRESS ? CT_SCOPE_EGRESS : CT_SCOPE_INGRESS;
	__u8 other_scope = dir == POLICY_EGRESS ? CT_SCOPE_INGRESS : CT_SCOPE_EGRESS;
	__u32 remote_addr = dir == POLICY_EGRESS ? p->daddr : p->saddr;
	if (p->proto == IPPROTO_ICMP && p->icmp_error && icmp_error_related(p)) {
		metrics_account(REASON_FORWARDED, mdir, skb->len);
		return TC_ACT_OK;
	}

	struct ct4_key key = ct_tuple(p, own_scope);
	struct ct_entry *e = ct_lookup(&key);
	int reply = 0;

	if (e && ct_is_reopen(e, p->proto, p->tcp_flags)) {
		ct_delete(&key);
		e = NULL;
	}
	if (!e) {
		/* A reply: the flow was opened the other way, tracked in the other scope. */
		key = ct_reverse(&key, other_scope);
		e = ct_lookup(&key);
		reply = e != NULL;
	}

	if (e) {
		if (e->policy_gen != cfg->policy_gen) {
			/* Policy changed since the flow was allowed: judge it once more, as first opened. */
			__u8 flow_dir = reply ? (dir == POLICY_EGRESS ? POLICY_INGRESS : POLICY_EGRESS) : dir;
			struct policy_result r = endpoint_verdict(ep, flow_dir, remote_identity_of(skb, cfg, dir, remote_addr), p->proto,
								  key.dport);

			if (policy_drops(&r, cfg, mdir, skb->len)) {
				ct_delete(&key);
				return tc_drop(skb, deny_reason(r.verdict), mdir);
			}
			/*
			 * HTTP rules now apply to a flow that was allowed at L4: its requests so far were
			 * never judged, and a connection cannot move into the proxy mid-stream. It is
			 * forgotten: the client's next segment is a new flow, handed to the proxy, whose
			 * stack answers a segment of no connection it knows with a reset; the client
			 * reconnects, through the proxy. The server's segments meanwhile are dropped.
			 */
			if (r.verdict == VERDICT_REDIRECT && !(e->flags & (CT_F_PROXY | CT_F_FROM_PROXY))) {
				ct_delete(&key);
				if (reply)
					return tc_drop(skb, DROP_L7_REJUDGED, mdir);
				goto new_flow;
			}
			e->policy_gen = cfg->policy_gen;
		}
		ct_account(e, p->proto, p->tcp_flags, reply, cfg);
		/* Payload through the stack: this direction stays there (see enum ct_path). */
		if (p->proto == IPPROTO_TCP && p->payload)
			ct_path_set(e, reply ? CT_PATH_RX_STACK : CT_PATH_TX_STACK);
		if (reply) {
			/* The answer to the proxy's upstream connection goes to the proxy, not the client. */
			if (e->flags & CT_F_FROM_PROXY)
				return proxy_handoff(skb, 0);
			metrics_account(REASON_FORWARDED, mdir, skb->len);
			return TC_ACT_OK;
		}
		return pass(skb, mdir, e);
	}

	/* No flow here, yet a reply to a node socket holding the pod's address: the proxy's upstream. */
	if (dir == POLICY_INGRESS && p->proto == IPPROTO_TCP && !((p->tcp_flags & TCP_FLAG_SYN) && !(p->tcp_flags & TCP_FLAG_ACK)) &&
	    proxy_holds(skb, p->saddr, p->daddr, p->sport, p->dport))
		return proxy_handoff(skb, 0);

	/* A new flow. */
new_flow:
	if (cfg->flags & CFG_DRAIN)
		return tc_drop(skb, DROP_DRAINING, mdir);
	__u32 remote_identity = remote_identity_of(skb, cfg, dir, remote_addr);
	struct policy_result r = endpoint_verdict(ep, dir, remote_identity, p->proto, p->dport);

	if (policy_drops(&r, cfg, mdir, skb->len))
		return tc_drop(skb, deny_reason(r.verdict), mdir);

	struct ct_entry fresh = {
		.src_identity = dir == POLICY_EGRESS ? ep->identity : remote_identity,
		.policy_gen = cfg->policy_gen,
		/* Data on a SYN (TCP Fast Open) took the stack. */
		.path = p->proto == IPPROTO_TCP && p->payload ? CT_PATH_TX_STACK : 0,
	};

	/* The proxy's own upstream connection: judged at L3/L4 above, never handed to it again. */
	if (dir == POLICY_INGRESS && from_proxy(skb, cfg)) {
		fresh.flags = CT_F_FROM_PROXY;
	} else if (r.verdict == VERDICT_REDIRECT) {
		fresh.flags = CT_F_PROXY;
		fresh.proxy_port = r.proxy_port;
	}
	ct_account(&fresh, p->proto, p->tcp_flags, 0, cfg);
	key = ct_tuple(p, own_scope);
	if (ct_create(&key, &fresh) < 0)
		return tc_drop(skb, DROP_CT_FULL, mdir);
	return pass(skb, mdir, &fresh);
}

/*
 * Policy covers IPv4 only, so an enforced endpoint's other traffic (IPv6, link-local included)
 * fails closed until IPv6 is supported; ARP keeps working, or IPv4 would not.
 */
static __always_inline int not_ipv4(struct __sk_buff *skb, const struct endpoint_if *ifs, __u32 enforce, __u8 mdir)
{
	if (skb->protocol == bpf_htons(ETH_P_ARP) || !ifs || !(ifs->flags & enforce))
		return TC_ACT_OK;
	return tc_drop(skb, DROP_NOT_IPV4, mdir);
}

SEC("tc")
int tc_from_endpoint(struct __sk_buff *skb)
{
	const struct endpoint_if *ifs = endpoint_if_lookup(skb->ifindex);
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_EGRESS);

	if (rc == TC_NOT_IPV4)
		return not_ipv4(skb, ifs, EP_F_ENFORCE_EGRESS, METRICS_DIR_EGRESS);
	if (rc != TC_INSPECT)
		return rc;
	/* Later fragments are judged with the first fragment's ports. */
	if (p.fragment || p.more_fragments)
		frag_ports(&p);

	/* A pod may only send from its own address (another pod's included: no spoofing). */
	const struct endpoint_info *ep = endpoint_lookup4(p.saddr);

	if (!ep || (ep->flags & EP_F_HOST) || (ifs && ifs->addr != p.saddr))
		return tc_drop(skb, DROP_INVALID_SOURCE, METRICS_DIR_EGRESS);

	struct datapath_config cfg_scratch;

	/*
	 * It leaves this node encrypted or not at all; refused before conntrack sees it. A flow the
	 * policy hands to the L7 proxy takes the proxy's mark instead.
	 */
	if (encrypt_mark(skb, p.daddr, config_get(&cfg_scratch)) == ENCRYPT_REFUSED)
		return tc_drop(skb, DROP_NO_ENCRYPTION, METRICS_DIR_EGRESS);
	return endpoint_enforce(skb, &p, ep, POLICY_EGRESS);
}

SEC("tc")
int tc_to_endpoint(struct __sk_buff *skb)
{
	const struct endpoint_if *ifs = endpoint_if_lookup(skb->ifindex);
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_INGRESS);

	if (rc == TC_NOT_IPV4)
		return not_ipv4(skb, ifs, EP_F_ENFORCE_INGRESS, METRICS_DIR_INGRESS);
	if (rc != TC_INSPECT)
		return rc;
	if (p.fragment || p.more_fragments)
		frag_ports(&p);

	const struct endpoint_info *ep = endpoint_lookup4(p.daddr);

	/* Not addressed to an endpoint (broadcast, multicast): not policy's business. */
	if (!ep || (ep->flags & EP_F_HOST))
		return TC_ACT_OK;
	/* Another endpoint's traffic (a bridge flooding an unknown MAC) is not this pod's to see. */
	if (ifs && ifs->addr != p.daddr)
		return tc_drop(skb, DROP_WRONG_ENDPOINT, METRICS_DIR_INGRESS);
	return endpoint_enforce(skb, &p, ep, POLICY_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
