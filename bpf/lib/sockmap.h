/*
 * weir_sock4: established TCP sockets between local endpoints, keyed by their 4-tuple as the
 * socket sees it (local first). sock_ops fills it; sk_msg redirects into it.
 * Mirrored by agent/maps/sockmap.ts.
 */
#ifndef WEIR_SOCKMAP_H
#define WEIR_SOCKMAP_H

#include "common.h"

struct sock4_key {
	__u32 sip; /* local, network byte order */
	__u32 dip;
	__u16 sport; /* network byte order */
	__u16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1 << 18);
	__uint(pinning, WEIR_PIN);
	__type(key, struct sock4_key);
	__type(value, __u64);
} weir_sock4 SEC(".maps");

#endif
