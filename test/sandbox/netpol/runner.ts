// How an upstream netpol case runs, whatever the pods are (sandbox namespaces or pods on real
// kubelet nodes): steps applied through the API, and the reachability matrix probed from every pod
// at once until it matches (policies apply asynchronously) or the settle time passes. The cluster
// side comes in as a few operations.
import { ALL_PODS, expectedMatrix, formatMatrix, NAMESPACES, type PodRef, type Protocol, type Step } from './cases.js';

export type Matrix = Map<PodRef, Map<PodRef, boolean>>;

export interface NetpolCluster {
  /** The pod's address (for policies that name pod IPs). */
  ip(pod: PodRef): string;
  /** From `from`, which of `targets` (ip:port) answered within `ms`: TCP connect, UDP reply. */
  probe(from: PodRef, protocol: Protocol, ms: number, targets: string[]): Promise<boolean[]>;
  /** Applies a NetworkPolicy object (server-side). */
  applyPolicy(policy: object): Promise<void>;
  deletePolicies(ns: string): Promise<void>;
  /** Merge-patches labels (null removes one). */
  labelNamespace(ns: string, labels: Record<string, string | null>): Promise<void>;
  labelPod(pod: PodRef, labels: Record<string, string | null>): Promise<void>;
}

export interface NetpolRunner {
  run(step: Step, label: string): Promise<void>;
  /** Back to no policy and the original labels, and proven so: everything reaches everything. */
  reset(): Promise<void>;
}

export function netpolRunner(c: NetpolCluster, opts: { probeMs: number; settleMs: number; ports?: readonly number[] }): NetpolRunner {
  const probe = async (port: number, protocol: Protocol): Promise<Matrix> => {
    const rows = await Promise.all(
      ALL_PODS.map(async (from) => {
        const targets = ALL_PODS.filter((t) => t !== from);
        const got = await c.probe(
          from,
          protocol,
          opts.probeMs,
          targets.map((t) => `${c.ip(t)}:${port}`),
        );
        return [from, new Map<PodRef, boolean>([[from, true], ...targets.map((t, i) => [t, got[i] === true] as [PodRef, boolean])])] as const;
      }),
    );
    return new Map(rows);
  };
  const differs = (want: Matrix, got: Matrix) => ALL_PODS.some((f) => ALL_PODS.some((t) => f !== t && want.get(f)!.get(t) !== got.get(f)!.get(t)));
  const expectMatrix = async (label: string, port: number, protocol: Protocol, want: Matrix): Promise<void> => {
    const deadline = Date.now() + opts.settleMs;
    let got = await probe(port, protocol);
    while (differs(want, got) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      got = await probe(port, protocol);
    }
    if (differs(want, got)) throw new Error(`${label}: ${protocol}/${port} reachability differs after ${opts.settleMs / 1000} s\n${formatMatrix(want, got)}`);
  };
  return {
    async run(step, label) {
      if ('apply' in step) {
        for (const p of step.apply) {
          const spec = typeof p.spec === 'function' ? p.spec((r) => c.ip(r)) : p.spec;
          await c.applyPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name, namespace: p.ns }, spec });
        }
      } else if ('deletePolicies' in step) {
        for (const ns of NAMESPACES) await c.deletePolicies(ns);
      } else if ('labelNamespace' in step) {
        await c.labelNamespace(step.labelNamespace[0], step.labelNamespace[1]);
      } else if ('labelPod' in step) {
        await c.labelPod(step.labelPod[0], step.labelPod[1]);
      } else {
        await expectMatrix(label, step.check.port, step.check.protocol, expectedMatrix(step.check.edits));
      }
    },
    async reset() {
      for (const ns of NAMESPACES) await c.deletePolicies(ns);
      for (const ns of NAMESPACES) await c.labelNamespace(ns, { ns2: null });
      for (const p of ALL_PODS) await c.labelPod(p, { pod: p.split('/')[1], pod2: null, target: null });
      await expectMatrix('baseline', 80, 'TCP', expectedMatrix([]));
    },
  };
}
