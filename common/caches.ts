// The cluster-wide caches every component reads: Nodes, Pods, Namespaces, Services,
// EndpointSlices and Identities. The agent reads them as they are; the operator extends them with
// what only it needs (operator/caches.ts). Hollow agents in a scale benchmark share one set, as
// agents on separate nodes share nothing but the API server.
import type { KubeConfig, KubernetesObject, V1EndpointSlice, V1Namespace, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { IdentityResource, type Identity } from '../api/v1alpha1/index.js';
import type { ResilientInformer } from './informer.js';
import { kubeInformers, type KubeInformers } from './kinds.js';
import type { Logger } from './log.js';
import { WeirApi } from './weirapi.js';

export class ClusterCaches {
  readonly nodes: ResilientInformer<V1Node>;
  readonly pods: ResilientInformer<V1Pod>;
  readonly namespaces: ResilientInformer<V1Namespace>;
  readonly services: ResilientInformer<V1Service>;
  readonly endpointSlices: ResilientInformer<V1EndpointSlice>;
  readonly identities: ResilientInformer<Identity>;
  protected readonly kube: KubeInformers;
  protected readonly api: WeirApi;
  private started?: Promise<void>;

  constructor(kc: KubeConfig, log: Logger) {
    this.kube = kubeInformers(kc, log);
    this.api = new WeirApi(kc);
    this.nodes = this.kube.nodes;
    this.pods = this.kube.pods;
    this.namespaces = this.kube.namespaces;
    this.services = this.kube.services;
    this.endpointSlices = this.kube.endpointSlices;
    this.identities = this.api.informer<Identity>(kc, IdentityResource, log);
  }

  get all(): Array<ResilientInformer<KubernetesObject>> {
    return [this.nodes, this.pods, this.namespaces, this.services, this.endpointSlices, this.identities] as Array<ResilientInformer<KubernetesObject>>;
  }

  get synced(): boolean {
    return this.all.every((i) => i.synced);
  }

  /** Starts once, however many readers ask. */
  start(): Promise<void> {
    this.started ??= Promise.all(this.all.map((i) => i.start())).then(() => undefined);
    return this.started;
  }

  waitForSync(): Promise<void> {
    return Promise.all(this.all.map((i) => i.waitForSync())).then(() => undefined);
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }
}
