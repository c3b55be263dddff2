/* Includes and helpers every Weir BPF program shares. */
#ifndef WEIR_COMMON_H
#define WEIR_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * Maps are pinned by name under the pin root the agent chooses, so every object of a node shares
 * one instance of each map. The max_entries in the headers are defaults only: the agent sets
 * every map's size before load from NodeDatapath.
 */
#define WEIR_PIN LIBBPF_PIN_BY_NAME

/* Connection-scale maps (NAT, affinity, UDP reverse NAT): 2/3 of conntrack's defaults, as in Cilium. */
#define WEIR_NAT_DEFAULT_MAX (((1 << 20) + (1 << 18)) * 2 / 3)

/*
 * Keeps an enum's type in the object's BTF, which clang emits only for types a program or map
 * uses, so a test can check the TypeScript side's constants against it. The section is not one
 * libbpf loads ("skipping unrecognized data section"): nothing reaches the kernel but BTF.
 */
#define WEIR_BTF_ENUM(name) enum name __weir_btf_enum_##name __attribute__((section(".weir_btf_enums"), used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* linux/icmp.h pulls in libc headers that do not build for the BPF target. */
struct icmp4hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 id; /* echo request / reply */
	__be16 sequence;
};

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#define ICMP_ECHO 8

#define NSEC_PER_SEC 1000000000ULL

/* CLOCK_MONOTONIC seconds: the clock conntrack expiry uses, and the agent's GC compares with. */
static __always_inline __u32 mono_now(void)
{
	return (__u32)(bpf_ktime_get_ns() / NSEC_PER_SEC);
}

#endif
