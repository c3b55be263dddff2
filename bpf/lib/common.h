/* Includes and helpers every Weir BPF program shares. */
#ifndef WEIR_COMMON_H
#define WEIR_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Sizes below are defaults only: the agent sets every map's max_entries before load. */
#define WEIR_PIN LIBBPF_PIN_BY_NAME

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#endif
