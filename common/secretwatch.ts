// One named Secret, watched: what a component needs of Secrets is one object, so it lists and
// watches that one (a field selector, which RBAC can restrict by resourceNames), never the
// namespace's or the cluster's Secrets. The reference may change (a config naming another Secret):
// the watch follows it.
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { ResilientInformer } from './informer.js';
import type { Logger } from './log.js';

export interface SecretRef {
  namespace: string;
  name: string;
}

export class SecretWatch {
  private current?: { ref: SecretRef; informer: ResilientInformer<V1Secret> };
  private readonly core: CoreV1Api;

  constructor(
    private readonly kc: KubeConfig,
    private readonly log: Logger,
    /** Called on every change of the watched Secret, and when the watch moves to another one. */
    private readonly changed: () => void,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Watches `ref` from now on (undefined: none). Cheap when it is already the one watched. */
  want(ref: SecretRef | undefined): void {
    const cur = this.current?.ref;
    if (cur?.namespace === ref?.namespace && cur?.name === ref?.name) return;
    const old = this.current?.informer;
    this.current = undefined;
    if (old) void old.stop();
    if (ref) {
      const { namespace, name } = ref;
      const fieldSelector = `metadata.name=${name}`;
      const informer = new ResilientInformer<V1Secret>(
        this.kc,
        { name: `secret ${namespace}/${name}`, path: `/api/v1/namespaces/${namespace}/secrets`, fieldSelector, list: () => this.core.listNamespacedSecret({ namespace, fieldSelector }) },
        this.log,
      );
      informer.onEvent(() => this.changed());
      this.current = { ref, informer };
      void informer.start();
    }
    this.changed();
  }

  /** False until the watched Secret's first list landed. */
  get synced(): boolean {
    return this.current?.informer.synced ?? true;
  }

  /** The Secret as last seen; undefined when it does not exist (or nothing is watched). */
  get(): V1Secret | undefined {
    const c = this.current;
    return c ? c.informer.get(c.ref.name, c.ref.namespace) : undefined;
  }

  get ref(): SecretRef | undefined {
    return this.current?.ref;
  }

  async stop(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.informer.stop();
  }
}
