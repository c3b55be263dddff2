/*
 * Socket-layer fast path for TCP between two local endpoints. sock_ops puts each established
 * socket in weir_sock4; sk_msg then moves a sender's payload straight into the peer socket's
 * receive queue, skipping TCP, IP, veth and TC for established local traffic.
 *
 * It redirects only flows the TC path already tracked and allowed (both ends' conntrack
 * entries), under the current policy generation: after a policy change the flow is judged again
 * here, and a revoked flow's send fails (SK_DROP: EACCES) instead of sneaking past TC. Which path
 * each direction takes is fixed by its first payload and kept to the end (enum ct_path): a
 * receiver must never hold redirected and stack bytes at once.
 */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/conntrack.h"
#include "lib/endpoints.h"
#include "lib/enforce.h"
#include "lib/metrics.h"
#include "lib/sockmap.h"

#define AF_INET 2
#define AF_INET6 10

/*
 * IPv4 traffic on a dual-stack socket (a server listening on "::" accepts IPv4 clients as
 * ::ffff:a.b.c.d) is IPv4 for the datapath: local_ip4/remote_ip4 hold its addresses.
 */
static __always_inline int is_ipv4(__u32 family, __u32 remote_ip6_0, __u32 remote_ip6_1, __u32 remote_ip6_2)
{
	if (family == AF_INET)
		return 1;
	return family == AF_INET6 && remote_ip6_0 == 0 && remote_ip6_1 == 0 && remote_ip6_2 == bpf_htonl(0xffff);
}

/* Both ports as network-order 16-bit values: the kernel exposes remote_port shifted by 16. */
static __always_inline __u16 local_port_be(__u32 local_port)
{
	return bpf_htons((__u16)local_port);
}

static __always_inline __u16 remote_port_be(__u32 remote_port)
{
	return (__u16)(remote_port >> 16);
}

SEC("sockops")
int sock_ops_fastpath(struct bpf_sock_ops *skops)
{
	if (!is_ipv4(skops->family, skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2]))
		return 1;
	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	if (!(config_flags() & CFG_SOCKMAP_FASTPATH))
		return 1;

	const struct endpoint_info *local = endpoint_lookup4(skops->local_ip4);
	const struct endpoint_info *remote = endpoint_lookup4(skops->remote_ip4);

	/* Only pod-to-pod on this node: anything else has a wire hop the fast path cannot skip. */
	if (!local || !remote || (local->flags & EP_F_HOST) || (remote->flags & EP_F_HOST))
		return 1;

	struct sock4_key k = {
		.sip = skops->local_ip4,
		.dip = skops->remote_ip4,
		.sport = local_port_be(skops->local_port),
		.dport = remote_port_be(skops->remote_port),
	};

	bpf_sock_hash_update(skops, &weir_sock4, &k, BPF_ANY);
	return 1;
}

/* Re-judges a flow under a new policy generation; both ends are local endpoints. */
static __always_inline __u8 flow_verdict(const struct ct4_key *k)
{
	const struct endpoint_info *client = endpoint_lookup4(k->saddr);
	const struct endpoint_info *server = endpoint_lookup4(k->daddr);

	if (!client || !server)
		return VERDICT_NONE;
	struct policy_result out = endpoint_verdict(client, POLICY_EGRESS, server->identity, IPPROTO_TCP, k->dport);
	struct policy_result in = endpoint_verdict(server, POLICY_INGRESS, client->identity, IPPROTO_TCP, k->dport);

	if (out.verdict == VERDICT_DENY || in.verdict == VERDICT_DENY)
		return VERDICT_DENY;
	if (out.verdict == VERDICT_NONE || in.verdict == VERDICT_NONE)
		return VERDICT_NONE;
	if (out.verdict == VERDICT_REDIRECT || in.verdict == VERDICT_REDIRECT)
		return VERDICT_REDIRECT;
	return VERDICT_ALLOW;
}

/* This direction's payload goes through the stack from now on. */
static __always_inline int take_stack(struct ct_entry *out, struct ct_entry *in, __u32 stack_bit)
{
	ct_path_set(out, stack_bit);
	ct_path_set(in, stack_bit);
	return SK_PASS;
}

SEC("sk_msg")
int sk_msg_fastpath(struct sk_msg_md *msg)
{
	if (!is_ipv4(msg->family, msg->remote_ip6[0], msg->remote_ip6[1], msg->remote_ip6[2]))
		return SK_PASS;

	__u32 local = msg->local_ip4, remote = msg->remote_ip4;
	__u16 lport = local_port_be(msg->local_port), rport = remote_port_be(msg->remote_port);
	/* The flow as conntrack knows it: initiator first. Try this socket as the client. */
	struct ct4_key k = { .saddr = local, .daddr = remote, .sport = lport, .dport = rport,
			     .proto = IPPROTO_TCP, .scope = CT_SCOPE_EGRESS };
	struct ct_entry *out = ct_lookup(&k);
	int initiator = out != NULL;

	if (!out) {
		k.saddr = remote;
		k.daddr = local;
		k.sport = rport;
		k.dport = lport;
		out = ct_lookup(&k);
	}
	if (!out)
		return SK_PASS;
	k.scope = CT_SCOPE_INGRESS;
	struct ct_entry *in = ct_lookup(&k);

	if (!in)
		return SK_PASS;

	__u16 flags = out->flags | in->flags;
	__u32 path = out->path | in->path;
	__u32 stack_bit = initiator ? CT_PATH_TX_STACK : CT_PATH_RX_STACK;
	__u32 fast_bit = initiator ? CT_PATH_TX_FAST : CT_PATH_RX_FAST;

	if ((flags & CT_F_PROXY) || (path & stack_bit))
		return SK_PASS;
	/* A direction's first payload: join the fast path only on a live, current flow. */
	if (!(path & fast_bit) && ((flags & CT_F_CLOSING) || (path & CT_PATH_RETIRED)))
		return take_stack(out, in, stack_bit);

	struct datapath_config cfg_scratch;
	const struct datapath_config *cfg = config_get(&cfg_scratch);

	if (out->policy_gen != cfg->policy_gen || in->policy_gen != cfg->policy_gen) {
		/* This program's policy maps were replaced: the TC programs judge with the live ones. */
		if (path & CT_PATH_RETIRED)
			return take_stack(out, in, stack_bit);

		struct policy_result v = { .verdict = flow_verdict(&k) };

		if (policy_drops(&v, cfg, METRICS_DIR_EGRESS, msg->size)) {
			metrics_account(v.verdict == VERDICT_DENY ? DROP_POLICY_DENIED : DROP_POLICY_DEFAULT, METRICS_DIR_EGRESS,
					msg->size);
			return SK_DROP;
		}
		/*
		 * HTTP rules now apply to a flow allowed at L4, and an L7 proxy cannot join a byte
		 * stream in the middle: every send on it fails from now on (EACCES), either side, so
		 * no byte crosses unjudged, and the client reconnects, through the proxy. The
		 * generation stays old, so each send is judged again. (tc_endpoint.c does the same
		 * for flows whose payload takes the stack.)
		 */
		if (v.verdict == VERDICT_REDIRECT) {
			metrics_account(DROP_L7_REJUDGED, METRICS_DIR_EGRESS, msg->size);
			return SK_DROP;
		}
		out->policy_gen = cfg->policy_gen;
		in->policy_gen = cfg->policy_gen;
	}

	/* No packets refresh the entries while the fast path carries the flow: refresh them here. */
	__u32 lifetime = (flags & CT_F_CLOSING) ? cfg->ct_tcp_close_s : cfg->ct_tcp_established_s;
	__u32 expires = mono_now() + lifetime;

	if (out->expires < expires)
		out->expires = expires;
	if (in->expires < expires)
		in->expires = expires;

	/* Marked before the redirect, so no concurrent writer sees this direction unclaimed. */
	ct_path_set(out, fast_bit);
	ct_path_set(in, fast_bit);

	struct sock4_key peer = { .sip = remote, .dip = local, .sport = rport, .dport = lport };

	if (bpf_msg_redirect_hash(msg, &weir_sock4, &peer, BPF_F_INGRESS) == SK_PASS) {
		metrics_account(REASON_SOCKMAP_REDIRECT, METRICS_DIR_EGRESS, msg->size);
		return SK_PASS;
	}
	/*
	 * The peer socket is not in the sockhash: not there yet (this is the direction's first
	 * payload), or gone (closed: nobody can read what was redirected to it any more). Either
	 * way its receive side holds no redirected bytes this payload could be read ahead of.
	 */
	return take_stack(out, in, stack_bit);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
