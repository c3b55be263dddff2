// One client for weir.dev objects over client-node's CustomObjectsApi, naming resources through
// api/v1alpha1 (never by string): list, server-side apply of spec or status, delete, and an
// informer per resource. Operator, agent, CLI, sandbox and bench all use it.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, collectionPath, type Resource } from '../api/v1alpha1/index.js';
import { ResilientInformer } from './informer.js';
import { apiStatus } from './kube.js';
import type { Logger } from './log.js';

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export class WeirApi {
  readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** Every object of a resource (all namespaces for a namespaced one). */
  async list<T extends KubernetesObject>(r: Resource, opts: { fieldSelector?: string } = {}): Promise<KubernetesListObject<T>> {
    const base = { group: r.group, version: r.version, plural: r.plural, ...opts };
    return (await (r.namespaced ? this.custom.listCustomObjectForAllNamespaces(base) : this.custom.listClusterCustomObject(base))) as KubernetesListObject<T>;
  }

  async get<T extends KubernetesObject>(r: Resource, name: string, namespace?: string): Promise<T | undefined> {
    try {
      const base = { group: r.group, version: r.version, plural: r.plural, name };
      return (await (r.namespaced ? this.custom.getNamespacedCustomObject({ ...base, namespace: namespace! }) : this.custom.getClusterCustomObject(base))) as T;
    } catch (e) {
      if (apiStatus(e) === 404) return undefined;
      throw e;
    }
  }

  /** Server-side apply of the fields `body` names, owned by `fieldManager`. */
  async apply(r: Resource, body: { metadata: { name: string; namespace?: string } } & Record<string, unknown>, fieldManager: string, subresource: 'spec' | 'status' = 'spec'): Promise<void> {
    const full = { apiVersion: API_VERSION, kind: r.kind, ...body };
    const base = { group: r.group, version: r.version, plural: r.plural, name: body.metadata.name, body: full, fieldManager, force: true };
    const ns = body.metadata.namespace;
    if (subresource === 'status') {
      if (r.namespaced) await this.custom.patchNamespacedCustomObjectStatus({ ...base, namespace: ns! }, SSA);
      else await this.custom.patchClusterCustomObjectStatus(base, SSA);
    } else if (r.namespaced) await this.custom.patchNamespacedCustomObject({ ...base, namespace: ns! }, SSA);
    else await this.custom.patchClusterCustomObject(base, SSA);
  }

  applyStatus(r: Resource, body: { metadata: { name: string; namespace?: string } } & Record<string, unknown>, fieldManager: string): Promise<void> {
    return this.apply(r, body, fieldManager, 'status');
  }

  /** Deletes; an object already gone is not an error. */
  async delete(r: Resource, name: string, namespace?: string): Promise<void> {
    const base = { group: r.group, version: r.version, plural: r.plural, name };
    try {
      if (r.namespaced) await this.custom.deleteNamespacedCustomObject({ ...base, namespace: namespace! });
      else await this.custom.deleteClusterCustomObject(base);
    } catch (e) {
      if (apiStatus(e) !== 404) throw e;
    }
  }

  /** Creates; the caller handles 409 (the name is taken). */
  async create(r: Resource, body: { metadata: { name: string; namespace?: string } } & Record<string, unknown>): Promise<void> {
    const full = { apiVersion: API_VERSION, kind: r.kind, ...body };
    const base = { group: r.group, version: r.version, plural: r.plural, body: full };
    if (r.namespaced) await this.custom.createNamespacedCustomObject({ ...base, namespace: body.metadata.namespace! });
    else await this.custom.createClusterCustomObject(base);
  }

  /** An informer over a resource; with `name`, over that one object. */
  informer<T extends KubernetesObject>(kc: KubeConfig, r: Resource, log: Logger, opts: { name?: string } = {}): ResilientInformer<T> {
    const fieldSelector = opts.name ? `metadata.name=${opts.name}` : undefined;
    return new ResilientInformer<T>(
      kc,
      {
        name: opts.name ? `${r.plural}/${opts.name}` : `${r.plural}.${r.group}`,
        path: collectionPath(r),
        list: () => this.list<T>(r, fieldSelector ? { fieldSelector } : {}),
        ...(fieldSelector ? { fieldSelector } : {}),
      },
      log,
    );
  }
}
