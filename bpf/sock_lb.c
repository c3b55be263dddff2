/*
 * Socket-level load balancing on the cgroup hooks: a connect() or sendto() to a service frontend
 * is rewritten to a backend before a packet exists, so in-cluster service traffic needs no
 * per-packet NAT. UDP replies are translated back to the frontend at recvmsg(), so the
 * application sees them come from the address it sent to.
 */
#include "lib/common.h"
#include "lib/lb.h"
#include "lib/metrics.h"

#define ECONNREFUSED 111

#define SVC_F_SOCKET_LB (SVC_F_CLUSTER_IP | SVC_F_NODE_PORT | SVC_F_EXTERNAL)

static __always_inline int refuse(void)
{
	metrics_account(DROP_NO_SERVICE, METRICS_DIR_EGRESS, 0);
	/* The caller's connect()/sendto() fails with ECONNREFUSED rather than EPERM. */
	bpf_set_retval(-ECONNREFUSED);
	return 0;
}

static __always_inline int translate(struct bpf_sock_addr *ctx, __u8 proto)
{
	__u32 addr = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	const struct lb4_service *svc = lb4_lookup_service(addr, port, proto);

	/*
	 * A load-balancer address with source ranges is left to the packet path, which sees the
	 * client's address (a connect() may not have one yet).
	 */
	if (!svc || !(svc->flags & SVC_F_SOCKET_LB) || (svc->flags & SVC_F_SOURCE_RANGES))
		return 1;
	if (svc->count == 0)
		return refuse();

	__u32 id = 0;
	const struct lb4_backend *be = lb4_select(addr, port, proto, svc, bpf_get_netns_cookie(ctx), 1, &id);

	if (!be)
		return refuse();
	ctx->user_ip4 = be->address;
	ctx->user_port = be->port;
	if (proto == IPPROTO_UDP) {
		struct lb4_sock_revnat_key k = {
			.cookie = bpf_get_socket_cookie(ctx),
			.address = be->address,
			.port = be->port,
		};
		struct lb4_sock_revnat v = { .address = addr, .port = port, .rev_nat = svc->rev_nat };

		bpf_map_update_elem(&weir_lb4_sock_revnat, &k, &v, BPF_ANY);
	}
	return 1;
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 1;
	return translate(ctx, ctx->protocol);
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_UDP)
		return 1;
	return translate(ctx, IPPROTO_UDP);
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct lb4_sock_revnat_key k = {
		.cookie = bpf_get_socket_cookie(ctx),
		.address = ctx->user_ip4,
		.port = (__u16)ctx->user_port,
	};
	const struct lb4_sock_revnat *rn = bpf_map_lookup_elem(&weir_lb4_sock_revnat, &k);

	if (rn) {
		ctx->user_ip4 = rn->address;
		ctx->user_port = rn->port;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
