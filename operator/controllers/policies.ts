// The policies controller: one key per policy, `weir/ns/name` or `k8s/ns/name`. Reports what it
// selects and whether the datapath enforces it as written: a weir.dev policy in status (Ready,
// Enforced); a networking.k8s.io policy, which has no status, in Warning events on it.
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { API_VERSION, NetworkPolicyResource, resolveFeatures } from '../../api/v1alpha1/index.js';
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
    // Whether HTTP rules can be enforced follows the configs' l7Proxy.
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

  /** HTTP rules on nodes whose config runs no L7 proxy compile to L4 allows there: said, by config. */
  private l7Off(p: ReturnType<typeof fromWeirPolicy>, selected: readonly V1Pod[]): string[] {
    if (![...p.ingress, ...p.egress].some((r) => r.http)) return [];
    const off = new Set<string>();
    for (const pod of selected) {
      const node = this.c.nodes.get(pod.spec!.nodeName!);
      const sel = node ? this.c.configOf(node) : undefined;
      if (sel && 'config' in sel && !resolveFeatures(sel.config.spec.features).l7Proxy.enabled) off.add(sel.config.metadata.name);
    }
    return off.size ? [`L7 rules need the L7 proxy, which DatapathConfig ${[...off].sort().join(', ')} turns off (features.l7Proxy): its HTTP rules apply at L4 only there`] : [];
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
    const notEnforced = [...normalized.warnings, ...this.l7Off(normalized, selected)];
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
