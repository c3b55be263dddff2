// The policies controller: one key per policy, `weir/ns/name` or `k8s/ns/name`. Reports what it
// selects and whether the datapath enforces it as written: a weir.dev policy in status (Ready,
// Enforced); a networking.k8s.io policy, which has no status, in Warning events on it.
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { API_VERSION, NetworkPolicyResource, resolveFeatures, type ResolvedFeatures } from '../../api/v1alpha1/index.js';
import { condition } from '../../common/conditions.js';
import type { EventRecorder } from '../../common/events.js';
import type { ReconcileResult } from '../../common/runtime/controller.js';
import type { Queues, Reconciler } from '../../common/runtime/reconciler.js';
import type { WeirApi } from '../../common/weirapi.js';
import type { OperatorCaches } from '../caches.js';
import { matchesSelector } from '../policy/selector.js';
import { fromK8sPolicy, fromWeirPolicy, type WeirNetworkPolicy } from '../policy/translate.js';
import type { ControllerName } from './names.js';
import { OPERATOR_FIELD_MANAGER } from './nodes.js';

export class PoliciesReconciler implements Reconciler<ControllerName> {
  readonly name = 'policies';
  readonly workers = 1;

  constructor(
    private readonly c: OperatorCaches,
    private readonly api: WeirApi,
    private readonly events: EventRecorder,
  ) {}

  watch(q: Queues<ControllerName>): void {
    this.c.weirPolicies.onEvent((_e, p) => q.policies(`weir/${p.metadata.namespace}/${p.metadata.name}`));
    this.c.k8sPolicies.onEvent((e, p) => e !== 'delete' && q.policies(`k8s/${p.metadata?.namespace}/${p.metadata?.name}`));
    // Whether the rules are enforced follows the configs (endpointPolicy, auditMode, l7Proxy).
    this.c.configs.onEvent(() => {
      for (const p of this.c.weirPolicies.list()) q.policies(`weir/${p.metadata.namespace}/${p.metadata.name}`);
    });
    // What a policy selects changes with the pods of its namespace.
    this.c.pods.onEvent((_e, pod) => {
      const ns = pod.metadata?.namespace;
      if (!ns) return;
      for (const p of this.c.weirPolicies.list()) if (p.metadata.namespace === ns) q.policies(`weir/${ns}/${p.metadata.name}`);
    });
  }

  /**
   * The configs governing the nodes of the selected pods (every node's while it selects none: the
   * policy applies wherever its pods will run), with their resolved features.
   */
  private configsFor(selected: readonly V1Pod[]): Map<string, ResolvedFeatures> {
    const nodes = selected.length ? [...new Set(selected.map((pod) => pod.spec!.nodeName!))].map((n) => this.c.nodes.get(n)) : this.c.nodes.list();
    const out = new Map<string, ResolvedFeatures>();
    for (const node of nodes) {
      const sel = node ? this.c.configOf(node) : undefined;
      if (sel && 'config' in sel && !out.has(sel.config.metadata.name)) out.set(sel.config.metadata.name, resolveFeatures(sel.config.spec.features));
    }
    return out;
  }

  /** What the configs of the nodes involved do not enforce of this policy, one sentence each. */
  private notInEffect(p: ReturnType<typeof fromWeirPolicy>, configs: ReadonlyMap<string, ResolvedFeatures>): string[] {
    const named = (pred: (f: ResolvedFeatures) => boolean) => [...configs].filter(([, f]) => pred(f)).map(([n]) => n).sort().join(', ');
    const out: string[] = [];
    const off = named((f) => !f.endpointPolicy.enabled);
    if (off) out.push(`DatapathConfig ${off} turns endpoint policy off (features.endpointPolicy.enabled): no rule is enforced there`);
    const audit = named((f) => f.endpointPolicy.enabled && f.endpointPolicy.auditMode);
    if (audit) out.push(`DatapathConfig ${audit} runs endpoint policy in audit mode (features.endpointPolicy.auditMode): what it denies is counted, not dropped, there`);
    // HTTP rules on nodes whose config runs no L7 proxy compile to L4 allows there.
    const noProxy = [...p.ingress, ...p.egress].some((r) => r.http) ? named((f) => f.endpointPolicy.enabled && !f.l7Proxy.enabled) : '';
    if (noProxy) out.push(`L7 rules need the L7 proxy, which DatapathConfig ${noProxy} turns off (features.l7Proxy): its HTTP rules apply at L4 only there`);
    return out;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [kind, namespace, name] = key.split('/') as ['weir' | 'k8s', string, string];
    const obj = kind === 'weir' ? this.c.weirPolicies.get(name, namespace) : this.c.k8sPolicies.get(name, namespace);
    if (!obj) return;
    const normalized = kind === 'weir' ? fromWeirPolicy(obj as WeirNetworkPolicy) : fromK8sPolicy(obj as V1NetworkPolicy);
    const ref = { apiVersion: kind === 'weir' ? (obj.apiVersion ?? API_VERSION) : 'networking.k8s.io/v1', kind: 'NetworkPolicy', name, namespace, uid: obj.metadata?.uid };
    const selected = this.c.pods
      .list()
      .filter((pod) => pod.metadata?.namespace === namespace && pod.spec?.nodeName && pod.status?.podIP && matchesSelector(normalized.endpointSelector, pod.metadata?.labels ?? {}));
    const notEnforced = [...normalized.warnings, ...this.notInEffect(normalized, this.configsFor(selected))];
    for (const w of notEnforced) this.events.emit(ref, 'Warning', 'NotEnforced', w);
    if (kind === 'k8s') return;

    const generation = obj.metadata?.generation ?? 0;
    const prev = (obj as WeirNetworkPolicy).status?.conditions ?? [];
    const full = notEnforced.length === 0;
    await this.api.applyStatus(
      NetworkPolicyResource,
      {
        metadata: { name, namespace },
        status: {
          observedGeneration: generation,
          selectedEndpoints: selected.length,
          conditions: [
            condition(prev, 'Ready', 'True', full ? 'Compiled' : 'PartiallyEnforced', `selects ${selected.length} endpoint(s)`, generation),
            condition(prev, 'Enforced', full ? 'True' : 'False', full ? 'Compiled' : 'NotFullyEnforced', full ? 'every rule is enforced as written' : notEnforced.join('; '), generation),
          ],
        },
      },
      OPERATOR_FIELD_MANAGER,
    );
  }
}
