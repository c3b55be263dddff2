// Each node's spec.encryption: its node id, its peers (every other node that encrypts the same
// way: address, pod CIDRs, boot id, WireGuard public key) and, for IPsec, the key generations to
// accept and send with (rotation.ts), read from the Secret the config names. Cluster-wide inputs
// are derived once per change, not once per node.
import type { KubeConfig, V1Node } from '@kubernetes/client-node';
import {
  resolveFeatures,
  type EncryptionMode,
  type EncryptionPeer,
  type IpsecKeyRef,
  type NodeEncryption,
  type ResolvedFeatures,
} from '../../api/v1alpha1/index.js';
import { keyFingerprint, newestKey, parseIpsecSecret } from '../../common/encryption/ipsec-keys.js';
import { nodeAddresses } from '../../common/kube.js';
import type { Logger } from '../../common/log.js';
import { Derived } from '../../common/runtime/derived.js';
import { SecretWatch, type SecretRef } from '../../common/secretwatch.js';
import type { OperatorCaches } from '../caches.js';
import { slots } from '../rollout/gate.js';
import { assignNodeIds } from './nodeids.js';
import { decideKeys, type KeyDecision } from './rotation.js';

interface EncryptingNode {
  name: string;
  mode: EncryptionMode;
  features: ResolvedFeatures['encryption'];
  maxUnavailable?: number | string;
  peer: Omit<EncryptionPeer, 'nodeId'>;
}

const refKey = (r: SecretRef) => `${r.namespace}/${r.name}`;

export class EncryptionPlanner {
  private readonly secrets = new Map<string, SecretWatch>();
  /** Nodes that encrypt, by name, with what their peers need of them. */
  private readonly nodes: Derived<Map<string, EncryptingNode>>;
  private readonly ids: Derived<Map<string, number>>;
  private readonly decisions = new Map<string, KeyDecision | { error: string }>();

  constructor(
    private readonly c: OperatorCaches,
    private readonly kc: KubeConfig,
    private readonly log: Logger,
    /** Everything encryption decides changed for every node (a Secret, a peer). */
    private readonly changed: () => void,
  ) {
    this.nodes = new Derived(() => this.encryptingNodes(), [c.nodes, c.configs, c.nodeDatapaths]);
    this.ids = new Derived(() => {
      const existing = new Map<string, number>();
      for (const ndp of c.nodeDatapaths.list()) if (ndp.spec?.encryption?.nodeId) existing.set(ndp.metadata!.name!, ndp.spec.encryption.nodeId);
      return assignNodeIds([...this.nodes.get().keys()], existing);
    }, [c.nodes, c.configs, c.nodeDatapaths]);
    for (const s of [c.nodes, c.configs, c.nodeDatapaths]) s.onEvent(() => this.decisions.clear());
  }

  private encryptingNodes(): Map<string, EncryptingNode> {
    const out = new Map<string, EncryptingNode>();
    for (const node of this.c.nodes.list()) {
      const sel = this.c.configOf(node);
      if (!('config' in sel)) continue;
      const enc = resolveFeatures(sel.config.spec.features).encryption;
      if (!enc.enabled) continue;
      const name = node.metadata!.name!;
      const address = nodeAddresses(node)[0];
      const podCIDRs = (node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : [])).filter((c) => !c.includes(':'));
      const publicKey = this.c.nodeDatapaths.get(name)?.status?.encryption?.publicKey;
      out.set(name, {
        name,
        mode: enc.mode,
        features: enc,
        maxUnavailable: sel.config.spec.rollout?.maxUnavailable,
        peer: { name, address: address ?? '', podCIDRs, ...(node.status?.nodeInfo?.bootID ? { bootID: node.status.nodeInfo.bootID } : {}), ...(publicKey ? { publicKey } : {}) },
      });
    }
    return out;
  }

  /** The watched Secret for `ref`, started on first use. */
  private secret(ref: SecretRef): SecretWatch {
    let w = this.secrets.get(refKey(ref));
    if (!w) {
      w = new SecretWatch(this.kc, this.log, () => {
        this.decisions.clear();
        this.changed();
      });
      this.secrets.set(refKey(ref), w);
      w.want(ref);
    }
    return w;
  }

  /** The key decision for every node using `ref`, or why there is none. */
  private keys(ref: SecretRef, maxUnavailable: number | string | undefined): KeyDecision | { error: string } | 'pending' {
    const watch = this.secret(ref);
    if (!watch.synced) return 'pending';
    const cached = this.decisions.get(refKey(ref));
    if (cached) return cached;
    let decision: KeyDecision | { error: string };
    const secret = watch.get();
    if (!secret) decision = { error: `Secret ${refKey(ref)} not found` };
    else {
      try {
        const newest = newestKey(parseIpsecSecret(secret.data));
        const users = [...this.nodes.get().values()].filter((n) => n.mode === 'ipsec' && refKey(n.features.secretRef) === refKey(ref));
        const views = users.map((n) => {
          const ndp = this.c.nodeDatapaths.get(n.name);
          const ipsec = ndp?.spec?.encryption?.ipsec;
          const st = ndp?.status?.encryption;
          return {
            name: n.name,
            spec: ipsec && ipsec.keys.length ? { keys: ipsec.keys, send: ipsec.send } : undefined,
            status: st ? { active: st.active, installedKeys: st.installedKeys, sendingKey: st.sendingKey } : undefined,
          };
        });
        decision = decideKeys({ id: newest.id, fingerprint: keyFingerprint(newest) }, views, slots(maxUnavailable, users.length));
      } catch (err) {
        decision = { error: `Secret ${refKey(ref)}: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    this.decisions.set(refKey(ref), decision);
    return decision;
  }

  /**
   * spec.encryption for `node` (undefined: it does not encrypt), and what stands in the way.
   * 'pending' until the Secret's first list.
   */
  forNode(node: V1Node): { spec?: NodeEncryption; problem?: string } | 'pending' {
    const name = node.metadata!.name!;
    const me = this.nodes.get().get(name);
    if (!me) return {};
    const ids = this.ids.get();
    const peers: EncryptionPeer[] = [...this.nodes.get().values()]
      .filter((n) => n.name !== name && n.mode === me.mode && n.peer.address && n.peer.podCIDRs.length > 0)
      .map((n) => ({ ...n.peer, nodeId: ids.get(n.name)! }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const spec: NodeEncryption = { mode: me.mode, strict: me.features.strictMode, nodeId: ids.get(name)!, ...(me.peer.bootID ? { bootID: me.peer.bootID } : {}), peers };
    if (me.mode !== 'ipsec') return { spec };
    const ref = me.features.secretRef;
    const d = this.keys(ref, me.maxUnavailable);
    if (d === 'pending') return 'pending';
    const previous = this.c.nodeDatapaths.get(name)?.spec?.encryption?.ipsec;
    if ('error' in d) {
      // Nodes keep the keys they have: traffic goes on while the Secret is fixed.
      if (previous) spec.ipsec = previous;
      return { spec, problem: d.error };
    }
    const mine = d.perNode.get(name);
    if (mine) spec.ipsec = { secret: { namespace: ref.namespace, name: ref.name }, keys: mine.keys.map((k: IpsecKeyRef) => ({ id: k.id, fingerprint: k.fingerprint })), send: mine.send };
    return { spec, ...(d.refused ? { problem: `Secret ${refKey(ref)}: ${d.refused}` } : {}) };
  }

  /** Why the Secret `ref` cannot be rolled out, if it cannot. */
  problemOf(ref: SecretRef): string | undefined {
    const d = this.decisions.get(refKey(ref));
    if (!d) return undefined;
    return 'error' in d ? d.error : d.refused ? `Secret ${refKey(ref)}: ${d.refused}` : undefined;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.secrets.values()].map((w) => w.stop()));
  }
}
