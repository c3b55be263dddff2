/* What every TC program does first: parse, let non-IPv4 through, drop what cannot be parsed. */
#ifndef WEIR_TC_H
#define WEIR_TC_H

#include "common.h"
#include "metrics.h"
#include "parse.h"

/* tc_parse4's answer when the packet is IPv4 and the program should look at it. */
#define TC_INSPECT (-2)
/* ... and when it is not IPv4: the program decides (a NIC passes it, an enforced pod does not). */
#define TC_NOT_IPV4 (-3)

static __always_inline int tc_drop(struct __sk_buff *skb, __u8 reason, __u8 mdir)
{
	metrics_account(reason, mdir, skb->len);
	return TC_ACT_SHOT;
}

/* Fills p; returns TC_INSPECT, or the verdict for a packet that is not the program's business. */
static __always_inline int tc_parse4(struct __sk_buff *skb, struct pkt4 *p, __u8 mdir)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	int rc = parse_ipv4(data, data_end, p);

	if (rc == PARSE_NOT_IPV4)
		return TC_NOT_IPV4;
	if (rc < 0)
		return tc_drop(skb, DROP_MALFORMED, mdir);
	return TC_INSPECT;
}

#endif
