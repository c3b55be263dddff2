// What tc_from_overlay leaves in skb->mark for the endpoint program: the identity the sender put
// in the VNI. enum overlay_mark_bits, bpf/lib/overlay.h.

export const OverlayMark = { MagicIdentity: 0x0c00, MagicIdentityMask: 0x0f00 } as const;

/** The mark for `identity` (24 bits): its low 16 bits in bits 16-31, its high 8 in bits 0-7. */
export const identityMarkOf = (identity: number): number => (OverlayMark.MagicIdentity | ((identity & 0xffff) << 16) | ((identity >>> 16) & 0xff)) >>> 0;
