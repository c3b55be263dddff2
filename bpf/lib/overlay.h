/*
 * The VXLAN overlay: what a packet carries from the sending node to the receiving one besides
 * itself. The sender's tc_to_overlay puts the source's security identity in the VNI; the
 * receiver's tc_from_overlay puts it in skb->mark, where the endpoint program reads it instead of
 * looking the inner source address up (which a remote pod shares with nothing, but a translated
 * or a not-yet-known address would not tell).
 */
#ifndef WEIR_OVERLAY_H
#define WEIR_OVERLAY_H

#include "common.h"
#include "config.h"
#include "ipcache.h"

/*
 * Bits 8-11 say "identity from the tunnel" (beside the proxy's 0x0a00 and encryption's 0x0e00);
 * the identity's low 16 bits sit in bits 16-31 and its high 8 bits in bits 0-7: a VNI is 24 bits.
 */
enum overlay_mark_bits {
	MARK_MAGIC_IDENTITY = 0x0c00,
	MARK_MAGIC_IDENTITY_MASK = 0x0f00,
};
WEIR_BTF_ENUM(overlay_mark_bits);

#define IDENTITY_REMOTE_NODE 6
/* Identities from here up are node-local (CIDR): they mean nothing on another node. */
#define IDENTITY_FIRST_LOCAL 16000000

static __always_inline __u32 identity_mark(__u32 identity)
{
	return MARK_MAGIC_IDENTITY | ((identity & 0xffff) << 16) | ((identity >> 16) & 0xff);
}

/*
 * The identity a tunnel gave the packet; 0 when it came by no tunnel (or one that gave none).
 * Believed only on a packet that came in through the tunnel device, whose ingress program alone
 * sets it: not on one this node made itself (no ingress interface), where any local process with
 * CAP_NET_ADMIN can set skb->mark (SO_MARK), a hostNetwork pod's included; nor on one another
 * interface brought in, whatever a tc or netfilter rule there marked. A pod cannot set it: the
 * mark is cleared when its packet crosses into the node's namespace.
 *
 * Nor while the node encrypts: pod traffic between nodes then comes through IPsec or WireGuard,
 * whose keys vouch for the inner source address (an ESP state, a peer's allowed IPs), while a VXLAN
 * datagram vouches for nothing more than that something could send from a node's address. So the
 * tunnel's identity is not believed and the inner source address decides, as natively
 * (docs/security.md).
 */
static __always_inline __u32 mark_identity(const struct __sk_buff *skb, const struct datapath_config *cfg)
{
	if (skb->ingress_ifindex == 0 || skb->ingress_ifindex != cfg->tunnel_ifindex)
		return 0;
	if (cfg->encrypt_mark || (cfg->flags & CFG_ENCRYPT_REQUIRED))
		return 0;
	if ((skb->mark & MARK_MAGIC_IDENTITY_MASK) != MARK_MAGIC_IDENTITY)
		return 0;
	return (skb->mark >> 16) | ((skb->mark & 0xff) << 16);
}

/* The source's identity on ingress: the tunnel's word when it gave one, else the ipcache's. */
static __always_inline __u32 source_identity(const struct __sk_buff *skb, const struct datapath_config *cfg, __u32 saddr)
{
	__u32 id = mark_identity(skb, cfg);

	return id ? id : identity_of4(saddr);
}

#endif
