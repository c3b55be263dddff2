/*
 * Connection tracking: weir_ct4_tcp and weir_ct4_any (LRU hashes, as Cilium's, so a full table
 * evicts the coldest flow instead of refusing new ones). The agent garbage-collects expired
 * entries (agent/conntrack/gc.ts) so the pressure it reports is live flows, not dead ones.
 *
 * Entries are scoped: the same 4-tuple is tracked separately at a local endpoint's egress, at an
 * endpoint's ingress, and at a service frontend, since one packet can pass all three on a node.
 * Mirrored by agent/maps/conntrack.ts.
 */
#ifndef WEIR_CONNTRACK_H
#define WEIR_CONNTRACK_H

#include "common.h"
#include "config.h"
#include "parse.h"

enum ct_scope {
	CT_SCOPE_EGRESS = 1,   /* flow opened by a local endpoint */
	CT_SCOPE_INGRESS = 2,  /* flow opened towards a local endpoint */
	CT_SCOPE_SERVICE = 3,  /* client -> service frontend: remembers the backend */
	CT_SCOPE_NODEPORT = 4, /* client -> chosen backend: remembers the frontend for replies */
};
WEIR_BTF_ENUM(ct_scope);

enum ct_flags {
	CT_F_SEEN_REPLY = 1 << 0,
	CT_F_TX_CLOSING = 1 << 1, /* FIN or RST from the initiator */
	CT_F_RX_CLOSING = 1 << 2, /* FIN or RST from the responder */
	CT_F_PROXY = 1 << 3,      /* goes through the L7 proxy */
	CT_F_FROM_PROXY = 1 << 4, /* the L7 proxy's upstream connection: replies go back to it */
};
WEIR_BTF_ENUM(ct_flags);

#define CT_F_CLOSING (CT_F_TX_CLOSING | CT_F_RX_CLOSING)

/*
 * How each direction's TCP payload travels (ct_entry.path). A receiving socket in the sockhash
 * has two queues: its psock's (payload sk_msg redirected into it) and TCP's own. A read returns
 * bytes from one queue only, so while both hold data a read is short though more is queued, and
 * an event loop that takes "short read + POLLHUP" for end of stream (libuv before 1.52: libuv
 * issue 2319) drops the rest. So a direction never changes path while its receiver can hold
 * redirected bytes: once redirected it stays redirected, through FIN, for as long as the peer
 * socket is in the sockhash (it leaves at close, when nobody reads any more); once on the stack
 * it stays there, since redirected bytes would overtake stack bytes still in flight.
 *
 * Bits are only ever set, with an atomic OR: the TC and sk_msg programs write them concurrently,
 * and a lost "fast" bit would move a direction to the stack behind its receiver's queue.
 */
enum ct_path {
	CT_PATH_TX_STACK = 1 << 0, /* initiator's payload went through the stack */
	CT_PATH_RX_STACK = 1 << 1, /* responder's payload went through the stack */
	CT_PATH_TX_FAST = 1 << 2,  /* initiator's payload was redirected socket to socket */
	CT_PATH_RX_FAST = 1 << 3,  /* responder's payload was redirected socket to socket */
	/*
	 * A resize replaced maps the flow's sk_msg program reads (a socket keeps the program it
	 * joined with): no new direction starts on the fast path, and a fast one leaves for the
	 * stack, where the new TC programs judge it, at the next policy change.
	 */
	CT_PATH_RETIRED = 1 << 4,
};
WEIR_BTF_ENUM(ct_path);

struct ct4_key {
	__u32 saddr; /* initiator */
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 scope;
	__u16 pad;
};

struct ct_entry {
	__u32 expires;      /* CLOCK_MONOTONIC seconds */
	__u32 src_identity; /* identity of the initiator */
	__u32 backend_id;   /* CT_SCOPE_SERVICE: the backend this flow sticks to */
	__u16 rev_nat;      /* CT_SCOPE_NODEPORT: reverse-NAT index for replies */
	__u16 flags;
	__u32 policy_gen;   /* policy generation the flow was last allowed under */
	__u8 tx_tcp_flags;  /* TCP flags seen from the initiator */
	__u8 rx_tcp_flags;  /* ... and from the responder */
	__u16 proxy_port;
	__u32 path;         /* enum ct_path bits; set with ct_path_set only */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 20);
	__uint(pinning, WEIR_PIN);
	__type(key, struct ct4_key);
	__type(value, struct ct_entry);
} weir_ct4_tcp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 18);
	__uint(pinning, WEIR_PIN);
	__type(key, struct ct4_key);
	__type(value, struct ct_entry);
} weir_ct4_any SEC(".maps");

enum ct_status {
	CT_NEW = 0,
	CT_ESTABLISHED = 1, /* packet in the initiator's direction */
	CT_REPLY = 2,       /* packet in the responder's direction */
};

static __always_inline struct ct4_key ct_tuple(const struct pkt4 *p, __u8 scope)
{
	struct ct4_key k = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
		.scope = scope,
	};
	return k;
}

static __always_inline struct ct4_key ct_reverse(const struct ct4_key *k, __u8 scope)
{
	struct ct4_key r = {
		.saddr = k->daddr,
		.daddr = k->saddr,
		.sport = k->dport,
		.dport = k->sport,
		.proto = k->proto,
		.scope = scope,
	};
	return r;
}

static __always_inline struct ct_entry *ct_lookup(const struct ct4_key *k)
{
	if (k->proto == IPPROTO_TCP)
		return bpf_map_lookup_elem(&weir_ct4_tcp, k);
	return bpf_map_lookup_elem(&weir_ct4_any, k);
}

static __always_inline int ct_create(const struct ct4_key *k, const struct ct_entry *e)
{
	if (k->proto == IPPROTO_TCP)
		return bpf_map_update_elem(&weir_ct4_tcp, k, e, BPF_ANY);
	return bpf_map_update_elem(&weir_ct4_any, k, e, BPF_ANY);
}

static __always_inline void ct_delete(const struct ct4_key *k)
{
	if (k->proto == IPPROTO_TCP)
		bpf_map_delete_elem(&weir_ct4_tcp, k);
	else
		bpf_map_delete_elem(&weir_ct4_any, k);
}

static __always_inline __u32 ct_lifetime(__u8 proto, __u16 flags, const struct datapath_config *cfg)
{
	if (proto != IPPROTO_TCP)
		return cfg->ct_any_s;
	if (flags & CT_F_CLOSING)
		return cfg->ct_tcp_close_s;
	if (!(flags & CT_F_SEEN_REPLY))
		return cfg->ct_tcp_syn_s;
	return cfg->ct_tcp_established_s;
}

/*
 * Folds one packet into its entry: TCP flags per side, closing on FIN/RST, the reply bit, and
 * the expiry. Writes only what changed, so a busy flow does not bounce the entry's cache line
 * between CPUs on every packet.
 */
static __always_inline void ct_account(struct ct_entry *e, __u8 proto, __u8 tcp_flags, int reply,
				       const struct datapath_config *cfg)
{
	__u16 flags = e->flags;

	if (reply)
		flags |= CT_F_SEEN_REPLY;
	if (proto == IPPROTO_TCP) {
		if (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			flags |= reply ? CT_F_RX_CLOSING : CT_F_TX_CLOSING;
		/* RST ends the flow for both sides. */
		if (tcp_flags & TCP_FLAG_RST)
			flags |= CT_F_CLOSING;
		if (reply) {
			if ((e->rx_tcp_flags | tcp_flags) != e->rx_tcp_flags)
				e->rx_tcp_flags |= tcp_flags;
		} else if ((e->tx_tcp_flags | tcp_flags) != e->tx_tcp_flags) {
			e->tx_tcp_flags |= tcp_flags;
		}
	}
	if (flags != e->flags)
		e->flags = flags;

	__u32 expires = mono_now() + ct_lifetime(proto, flags, cfg);

	if (e->expires != expires)
		e->expires = expires;
}

static __always_inline void ct_path_set(struct ct_entry *e, __u32 bits)
{
	if ((e->path & bits) != bits)
		__sync_fetch_and_or(&e->path, bits);
}

/* A new SYN on a closing tuple starts a new connection (port reuse), not more of the old one. */
static __always_inline int ct_is_reopen(const struct ct_entry *e, __u8 proto, __u8 tcp_flags)
{
	return proto == IPPROTO_TCP && (e->flags & CT_F_CLOSING) &&
	       (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

#endif
