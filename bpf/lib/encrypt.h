/*
 * Transparent encryption of pod traffic between nodes (Cilium's model): the datapath only marks
 * a packet from a local pod to another node's pod; the kernel encrypts what carries the mark,
 * through the agent's xfrm policies (IPsec: the key generation is in the mark, so a rotation is
 * one config write) or its routing rule into the WireGuard device. Traffic to node addresses and
 * to outside the cluster carries no mark and stays in clear.
 */
#ifndef WEIR_ENCRYPT_H
#define WEIR_ENCRYPT_H

#include "common.h"
#include "config.h"
#include "ipcache.h"

/*
 * The mark the agent writes into the config: bits 8-11 say "encrypt" (as MARK_TO_PROXY says "to
 * the proxy"), bits 12-15 the IPsec key generation (0 for WireGuard). The agent's xfrm policies
 * and routing rule match these bits.
 */
enum encrypt_mark_bits {
	ENCRYPT_MARK_MAGIC = 0x0e00,
	ENCRYPT_MARK_MAGIC_MASK = 0x0f00,
	ENCRYPT_MARK_GEN_SHIFT = 12,
	ENCRYPT_MARK_GEN_MASK = 0xff00,
};
WEIR_BTF_ENUM(encrypt_mark_bits);

enum encrypt_verdict {
	ENCRYPT_NONE = 0,    /* not pod traffic to another node: untouched */
	ENCRYPT_MARKED = 1,  /* marked for the kernel to encrypt */
	ENCRYPT_REFUSED = 2, /* must be encrypted and cannot be: the caller drops it */
};

/* A remote pod: an ipcache entry hosted by another node, not a node address itself. */
static __always_inline int is_remote_pod(__u32 daddr)
{
	const struct ipcache_entry *e = ipcache_lookup4(daddr);

	return e && e->tunnel_ip4 != 0 && !(e->flags & (IPCACHE_F_NODE | IPCACHE_F_LOCAL));
}

static __always_inline int encrypt_mark(struct __sk_buff *skb, __u32 daddr, const struct datapath_config *cfg)
{
	if (!(cfg->encrypt_mark || (cfg->flags & CFG_ENCRYPT_REQUIRED)) || !is_remote_pod(daddr))
		return ENCRYPT_NONE;
	if (!cfg->encrypt_mark)
		return ENCRYPT_REFUSED;
	skb->mark = cfg->encrypt_mark;
	return ENCRYPT_MARKED;
}

#endif
