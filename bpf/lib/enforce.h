/* The policy decision for one endpoint and direction, shared by the TC and sk_msg paths. */
#ifndef WEIR_ENFORCE_H
#define WEIR_ENFORCE_H

#include "common.h"
#include "config.h"
#include "endpoints.h"
#include "metrics.h"
#include "policy.h"

/* Ports count for policy only where the protocol has them; ICMP echo ids are not ports. */
static __always_inline __u16 policy_port(__u8 proto, __u16 dport)
{
	return (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) ? dport : 0;
}

static __always_inline struct policy_result endpoint_verdict(const struct endpoint_info *ep, __u8 dir,
							     __u32 remote_identity, __u8 proto, __u16 dport)
{
	__u32 enforce = dir == POLICY_INGRESS ? EP_F_ENFORCE_INGRESS : EP_F_ENFORCE_EGRESS;
	struct policy_result allow = { .verdict = VERDICT_ALLOW };

	if (!(ep->flags & enforce))
		return allow;
	return policy_lookup(ep->identity, remote_identity, dir, proto, policy_port(proto, dport));
}

/*
 * Whether a verdict drops. Under auditMode (CFG_POLICY_AUDIT) a would-be policy drop passes as
 * allowed, counted under its audit reason, so users see what enforcing would drop before they do.
 */
static __always_inline int policy_drops(struct policy_result *r, const struct datapath_config *cfg, __u8 mdir, __u32 len)
{
	if (r->verdict != VERDICT_DENY && r->verdict != VERDICT_NONE)
		return 0;
	if (!(cfg->flags & CFG_POLICY_AUDIT))
		return 1;
	metrics_account(r->verdict == VERDICT_DENY ? AUDIT_POLICY_DENIED : AUDIT_POLICY_DEFAULT, mdir, len);
	r->verdict = VERDICT_ALLOW;
	return 0;
}

#endif
