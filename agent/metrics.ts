// The agent's Prometheus metrics. Map and datapath figures are read from the kernel when
// Prometheus scrapes, so they are never staler than the scrape itself.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DatapathBackend } from './datapath/backend.js';
import type { NodeEncryptionSync } from './encryption/encryption.js';
import { reasonName } from '../common/maps/metrics.js';

export interface AgentMetrics {
  mapSyncOps: Counter<'map' | 'op'>;
  mapWriteFailures: Counter<'map'>;
  gcDeleted: Counter<'map'>;
  gcRuns: Counter<'map'>;
  gcFailures: Counter;
  linkOps: Counter<'op'>;
  resizes: Counter<'result'>;
  resizeDrain: Histogram;
  servicesDatapath: Gauge<'datapath' | 'mode'>;
  servicesDegraded: Gauge;
}

const DIRECTION = { 1: 'ingress', 2: 'egress' } as Record<number, string>;

/** Encryption figures from the kernel (xfrm states and statistics, the WireGuard device) at scrape time. */
function encryptionMetrics(registry: Registry, encryption: NodeEncryptionSync): void {
  let pending: ReturnType<NodeEncryptionSync['counters']> | undefined;
  const readErrors = new Counter({
    name: 'weir_encryption_read_errors_total',
    help: "Scrapes whose read of the kernel's encryption counters (xfrm states, /proc/net/xfrm_stat, the WireGuard device) failed: the packet and error series are absent from those scrapes.",
    registers: [registry],
  });
  // One read of the kernel serves every metric of a scrape.
  const read = () =>
    (pending ??= encryption
      .counters()
      .catch(() => {
        readErrors.inc();
        return undefined;
      })
      .finally(() => setTimeout(() => (pending = undefined), 100)));
  new Counter({
    name: 'weir_encryption_packets_total',
    help: 'Pod packets between nodes encrypted (sent) and decrypted (received) by the kernel, through IPsec states or the WireGuard device.',
    labelNames: ['direction'],
    registers: [registry],
    async collect() {
      this.reset();
      const c = await read();
      if (!c) return;
      this.inc({ direction: 'encrypt' }, c.encrypted);
      this.inc({ direction: 'decrypt' }, c.decrypted);
    },
  });
  new Counter({
    name: 'weir_encryption_errors_total',
    help: "The kernel's encryption error counters by name (IPsec: /proc/net/xfrm_stat, e.g. XfrmInStateProtoError for a wrong key; WireGuard: device errors).",
    labelNames: ['error'],
    registers: [registry],
    async collect() {
      this.reset();
      const c = await read();
      for (const [error, n] of Object.entries(c?.errors ?? {})) this.inc({ error }, n);
    },
  });
  new Gauge({
    name: 'weir_encryption_key_generation',
    help: 'IPsec key generation (its id in the Secret) this node sends with; absent when not sending with IPsec.',
    registers: [registry],
    collect() {
      this.reset();
      const sendingKey = encryption.state?.sendingKey;
      if (sendingKey !== undefined) this.set(sendingKey);
    },
  });
  new Gauge({
    name: 'weir_encryption_active',
    help: '1 when this node encrypts its pod traffic to other nodes as its config asks, 0 when it cannot (see NodeDatapath status); absent when encryption is off.',
    registers: [registry],
    // From what the agent applied, not a kernel read: a failed read must not make it vanish.
    collect() {
      this.reset();
      const s = encryption.state;
      if (s) this.set(s.active ? 1 : 0);
    },
  });
}

export function agentMetrics(registry: Registry, kernel: DatapathBackend, encryption?: NodeEncryptionSync): AgentMetrics {
  if (encryption) encryptionMetrics(registry, encryption);
  const mapStatus = () => (kernel.isLoaded ? kernel.mapStatus() : []);
  new Gauge({
    name: 'weir_bpf_map_entries',
    help: 'Entries in a BPF map, counted at scrape time.',
    labelNames: ['map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of mapStatus()) this.set({ map: m.name }, m.entries);
    },
  });
  new Gauge({
    name: 'weir_bpf_map_capacity',
    help: 'max_entries of a BPF map.',
    labelNames: ['map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of mapStatus()) this.set({ map: m.name }, m.maxEntries);
    },
  });
  new Gauge({
    name: 'weir_bpf_map_pressure',
    help: 'Fill of a BPF map: entries / max_entries, from 0 to 1.',
    labelNames: ['map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of mapStatus()) this.set({ map: m.name }, m.pressure);
    },
  });
  const datapath = () => kernel.counters();
  // Counters whose value lives in the kernel: each scrape sets them to the per-CPU sums.
  new Counter({
    name: 'weir_datapath_packets_total',
    help: 'Packets the datapath forwarded or dropped, by direction and reason (forwarded, or the drop reason).',
    labelNames: ['direction', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of datapath()) this.inc({ direction: DIRECTION[m.dir] ?? String(m.dir), reason: reasonName(m.reason) }, Number(m.packets));
    },
  });
  new Counter({
    name: 'weir_datapath_bytes_total',
    help: 'Bytes the datapath forwarded or dropped, by direction and reason.',
    labelNames: ['direction', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of datapath()) this.inc({ direction: DIRECTION[m.dir] ?? String(m.dir), reason: reasonName(m.reason) }, Number(m.bytes));
    },
  });
  return {
    mapSyncOps: new Counter({
      name: 'weir_agent_map_sync_operations_total',
      help: 'Map entries written or deleted by the agent when syncing desired state, by map and operation.',
      labelNames: ['map', 'op'],
      registers: [registry],
    }),
    mapWriteFailures: new Counter({
      name: 'weir_agent_map_write_failures_total',
      help: 'Syncs in which a map could not take every entry it should hold (a full map), by map.',
      labelNames: ['map'],
      registers: [registry],
    }),
    gcDeleted: new Counter({
      name: 'weir_conntrack_gc_deleted_entries_total',
      help: 'Expired conntrack entries deleted by garbage collection.',
      labelNames: ['map'],
      registers: [registry],
    }),
    gcRuns: new Counter({ name: 'weir_conntrack_gc_runs_total', help: 'Conntrack garbage collection passes.', labelNames: ['map'], registers: [registry] }),
    gcFailures: new Counter({ name: 'weir_conntrack_gc_failures_total', help: 'Conntrack garbage collection passes that failed (entries then age only by LRU eviction).', registers: [registry] }),
    resizes: new Counter({ name: 'weir_agent_map_resizes_total', help: 'Map resizes by result: done, refused, failed.', labelNames: ['result'], registers: [registry] }),
    resizeDrain: new Histogram({
      name: 'weir_agent_map_resize_drain_seconds',
      help: 'How long new flows were held back while the maps switched.',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    servicesDatapath: new Gauge({
      name: 'weir_services_datapath',
      help: "Who serves Services on this node: 1 for the datapath in use (ebpf, nftables for the iptablesFallback, none), by serviceLB mode.",
      labelNames: ['datapath', 'mode'],
      registers: [registry],
    }),
    servicesDegraded: new Gauge({
      name: 'weir_services_degraded_features',
      help: 'Service features this node does not provide as its config asks (listed in NodeDatapath status.services.degraded).',
      registers: [registry],
    }),
    linkOps: new Counter({
      name: 'weir_agent_link_operations_total',
      help: 'BPF link operations: created, adopted (program swapped in), removed, failed.',
      labelNames: ['op'],
      registers: [registry],
    }),
  };
}
