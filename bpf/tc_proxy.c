/*
 * TC ingress on loopback: packets the other hooks handed to the L7 proxy (lib/proxy.h) are
 * assigned to the proxy's socket here, the connection's own once the proxy has accepted it, else
 * its listener on the port in the mark. No socket takes it: dropped and counted, never passed
 * unchecked. Everything else on loopback passes untouched.
 */
#include "lib/common.h"
#include "lib/metrics.h"
#include "lib/parse.h"
#include "lib/policy.h"
#include "lib/tc.h"

SEC("tc")
int tc_to_proxy(struct __sk_buff *skb)
{
	if ((skb->mark & MARK_MAGIC_PROXY_MASK) != MARK_TO_PROXY)
		return TC_ACT_OK;
	__u16 port = skb->mark >> 16;
	struct pkt4 p;
	int rc = tc_parse4(skb, &p, METRICS_DIR_INGRESS);

	if (rc == TC_NOT_IPV4 || (rc == TC_INSPECT && p.proto != IPPROTO_TCP))
		return tc_drop(skb, DROP_NO_PROXY, METRICS_DIR_INGRESS);
	if (rc != TC_INSPECT)
		return rc;

	struct bpf_sock_tuple t = { .ipv4 = { .saddr = p.saddr, .daddr = p.daddr, .sport = p.sport, .dport = p.dport } };
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);

	/* Found the listener of the flow's own port (a local service): not the proxy's. */
	if (sk && sk->state == BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		sk = NULL;
	}
	if (!sk && port) {
		t.ipv4.dport = bpf_htons(port);
		sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
		if (sk && sk->state != BPF_TCP_LISTEN) {
			bpf_sk_release(sk);
			sk = NULL;
		}
	}
	if (!sk)
		return tc_drop(skb, DROP_NO_PROXY, METRICS_DIR_INGRESS);
	long err = bpf_sk_assign(skb, sk, 0);

	bpf_sk_release(sk);
	if (err)
		return tc_drop(skb, DROP_NO_PROXY, METRICS_DIR_INGRESS);
	metrics_account(REASON_REDIRECT_PROXY, METRICS_DIR_INGRESS, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
