/*
 * Node interface accounting: XDP on ingress, TC on egress, both passing every packet. The first
 * brick of the datapath and the end-to-end check that build, load, attach and map reads work.
 */
#include "common.h"
#include "metrics.h"

SEC("xdp")
int xdp_node_count(struct xdp_md *ctx)
{
	metrics_account(REASON_FORWARDED, METRICS_DIR_INGRESS, ctx->data_end - ctx->data);
	return XDP_PASS;
}

SEC("tc")
int tc_node_count(struct __sk_buff *skb)
{
	metrics_account(REASON_FORWARDED, METRICS_DIR_EGRESS, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
