/*
 * XDP on node interfaces: the earliest, cheapest drop. Sources in a deny CIDR go first; then,
 * when the agent turns it on, packets whose destination is neither a local endpoint, a service
 * frontend, nor an address of the node itself.
 */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/endpoints.h"
#include "lib/lb.h"
#include "lib/metrics.h"
#include "lib/parse.h"
#include "lib/prefilter.h"

static __always_inline int is_multicast_or_broadcast(__u32 addr)
{
	__u32 h = bpf_ntohl(addr);

	return (h & 0xf0000000) == 0xe0000000 || h == 0xffffffff;
}

static __always_inline int valid_destination(const struct pkt4 *p)
{
	if (endpoint_lookup4(p->daddr))
		return 1;
	if (is_multicast_or_broadcast(p->daddr))
		return 1;
	if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) && !p->fragment &&
	    lb4_lookup_service(p->daddr, p->dport, p->proto))
		return 1;
	return 0;
}

SEC("xdp")
int xdp_prefilter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct pkt4 p;

	/* Malformed IPv4 is the stack's to count and drop; the prefilter only judges addresses. */
	if (parse_ipv4(data, data_end, &p) != PARSE_OK)
		return XDP_PASS;
	if (prefilter_denied4(p.saddr)) {
		metrics_account(DROP_PREFILTER_CIDR, METRICS_DIR_INGRESS, len);
		return XDP_DROP;
	}
	if ((config_flags() & CFG_PREFILTER_VALID_DST) && !valid_destination(&p)) {
		metrics_account(DROP_INVALID_DST, METRICS_DIR_INGRESS, len);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
