/*
 * TC on the node's VXLAN device (collect-metadata: one device for every peer, the remote end
 * and VNI set per packet).
 * tc_to_overlay (egress): a packet routed into the tunnel goes to the node the ipcache names for
 * its destination (or to the destination itself, when that is another node's address: a pod's
 * traffic to a node never crosses the underlay with the pod's address), with its source's
 * identity as the VNI. A local pod's identity is its own;
 * this node's addresses are a "remote node" to the receiver; a node-local CIDR identity means
 * nothing elsewhere and goes as "world" (the receiver looks the address up itself).
 * tc_from_overlay (ingress): a decapsulated packet is accepted only from a node's address, and
 * its identity goes on in the mark to the endpoint program (lib/overlay.h); a backend's reply to
 * a NodePort flow this node forwarded is translated back to the client here (lib/nodeport.h).
 */
#include "lib/common.h"
#include "lib/endpoints.h"
#include "lib/ipcache.h"
#include "lib/metrics.h"
#include "lib/nodeport.h"
#include "lib/overlay.h"
#include "lib/parse.h"
#include "lib/tc.h"

#define TUNNEL_TTL 64

static __always_inline __u32 tunnel_identity(__u32 saddr)
{
	const struct endpoint_info *ep = endpoint_lookup4(saddr);

	if (ep && !(ep->flags & EP_F_HOST))
		return ep->identity;
	const struct ipcache_entry *e = ipcache_lookup4(saddr);

	if (!e)
		return IDENTITY_WORLD;
	if (e->flags & IPCACHE_F_NODE)
		return IDENTITY_REMOTE_NODE;
	return e->identity >= IDENTITY_FIRST_LOCAL ? IDENTITY_WORLD : e->identity;
}

SEC("tc")
int tc_to_overlay(struct __sk_buff *skb)
{
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_EGRESS);

	if (rc == TC_NOT_IPV4)
		return tc_drop(skb, DROP_NO_TUNNEL, METRICS_DIR_EGRESS);
	if (rc != TC_INSPECT)
		return rc;
	const struct ipcache_entry *dst = ipcache_lookup4(p.daddr);
	/* A pod's packet to another node's own address goes to that node (the agent routes those here). */
	__u32 remote = dst && (dst->flags & IPCACHE_F_NODE) && dst->identity != IDENTITY_HOST ? bpf_ntohl(p.daddr) : dst ? dst->tunnel_ip4 : 0;

	/* Routed here, yet no node hosts the destination (a node just removed): nowhere to send it. */
	if (!remote)
		return tc_drop(skb, DROP_NO_TUNNEL, METRICS_DIR_EGRESS);
	struct bpf_tunnel_key key = {
		.remote_ipv4 = remote, /* host byte order, as the helper takes it */
		.tunnel_id = tunnel_identity(p.saddr),
		.tunnel_ttl = TUNNEL_TTL,
	};

	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX) < 0)
		return tc_drop(skb, DROP_NO_TUNNEL, METRICS_DIR_EGRESS);
	metrics_account(REASON_FORWARDED, METRICS_DIR_EGRESS, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int tc_from_overlay(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};

	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0)
		return tc_drop(skb, DROP_TUNNEL_SOURCE, METRICS_DIR_INGRESS);
	const struct ipcache_entry *from = ipcache_lookup4(bpf_htonl(key.remote_ipv4));

	/* Only a node may speak for an identity: anyone else's VXLAN is forged. */
	if (!from || !(from->flags & IPCACHE_F_NODE) || from->identity == IDENTITY_HOST)
		return tc_drop(skb, DROP_TUNNEL_SOURCE, METRICS_DIR_INGRESS);
	__u32 id = key.tunnel_id;

	/* This node is the only "host": a peer's own traffic is a remote node's. */
	if (id == IDENTITY_HOST)
		id = IDENTITY_REMOTE_NODE;
	if (id != IDENTITY_ANY && id != IDENTITY_WORLD && id < IDENTITY_FIRST_LOCAL)
		skb->mark = identity_mark(id);
	/*
	 * The inner frame is addressed to the sender's device (the tunnel needs no neighbours): it is
	 * for this host all the same.
	 */
	bpf_skb_change_type(skb, 0 /* PACKET_HOST */);

	/* A backend's reply to a NodePort flow this node sent it: back to the client. */
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_INGRESS);

	if (rc == TC_INSPECT && (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) && !p.fragment) {
		int act = nodeport_reply_from_remote(skb, &p);

		if (act >= 0)
			return act;
	}
	metrics_account(REASON_FORWARDED, METRICS_DIR_INGRESS, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
