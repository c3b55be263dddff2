/* The policy decision for one endpoint and direction, shared by the TC and sk_msg paths. */
#ifndef WEIR_ENFORCE_H
#define WEIR_ENFORCE_H

#include "common.h"
#include "endpoints.h"
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

#endif
