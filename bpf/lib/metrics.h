/*
 * weir_metrics: per-CPU packet and byte counters by reason and direction, read and summed by
 * the agent at scrape time. Mirrored by agent/maps/metrics.ts.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include "common.h"

enum metrics_dir {
	METRICS_DIR_INGRESS = 1,
	METRICS_DIR_EGRESS = 2,
};

/* Reason 0 is "forwarded"; drop reasons start at 130, as the verdict codes of later programs. */
enum metrics_reason {
	REASON_FORWARDED = 0,
};

struct metrics_key {
	__u8 reason;
	__u8 dir;
	__u16 reserved;
};

struct metrics_value {
	__u64 packets;
	__u64 bytes;
};

#define METRICS_MAP_DEFAULT_MAX 1024

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, METRICS_MAP_DEFAULT_MAX);
	__uint(pinning, WEIR_PIN);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
} weir_metrics SEC(".maps");

static __always_inline void metrics_account(__u8 reason, __u8 dir, __u64 bytes)
{
	struct metrics_key key = { .reason = reason, .dir = dir };
	struct metrics_value *v = bpf_map_lookup_elem(&weir_metrics, &key);

	if (v) {
		/* Per-CPU slot: no other CPU writes it, so no atomics are needed. */
		v->packets += 1;
		v->bytes += bytes;
		return;
	}
	struct metrics_value init = { .packets = 1, .bytes = bytes };
	bpf_map_update_elem(&weir_metrics, &key, &init, BPF_NOEXIST);
}

#endif
