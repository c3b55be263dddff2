// Informers for the Kubernetes kinds both the operator and the agents read, each with its watch
// path, typed list call and client-node model (watch events are converted to it, common/wire.ts).
import {
  CoreV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type V1EndpointSlice,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { ResilientInformer } from './informer.js';
import type { Logger } from './log.js';

export interface KubeInformers {
  nodes: ResilientInformer<V1Node>;
  pods: ResilientInformer<V1Pod>;
  namespaces: ResilientInformer<V1Namespace>;
  services: ResilientInformer<V1Service>;
  endpointSlices: ResilientInformer<V1EndpointSlice>;
  networkPolicies: ResilientInformer<V1NetworkPolicy>;
}

export function kubeInformers(kc: KubeConfig, log: Logger): KubeInformers {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const net = kc.makeApiClient(NetworkingV1Api);
  return {
    nodes: new ResilientInformer(kc, { name: 'nodes', path: '/api/v1/nodes', list: () => core.listNode(), model: 'V1Node' }, log),
    pods: new ResilientInformer(kc, { name: 'pods', path: '/api/v1/pods', list: () => core.listPodForAllNamespaces(), model: 'V1Pod' }, log),
    namespaces: new ResilientInformer(kc, { name: 'namespaces', path: '/api/v1/namespaces', list: () => core.listNamespace(), model: 'V1Namespace' }, log),
    services: new ResilientInformer(kc, { name: 'services', path: '/api/v1/services', list: () => core.listServiceForAllNamespaces(), model: 'V1Service' }, log),
    endpointSlices: new ResilientInformer(
      kc,
      { name: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', list: () => discovery.listEndpointSliceForAllNamespaces(), model: 'V1EndpointSlice' },
      log,
    ),
    networkPolicies: new ResilientInformer(
      kc,
      { name: 'networkpolicies', path: '/apis/networking.k8s.io/v1/networkpolicies', list: () => net.listNetworkPolicyForAllNamespaces(), model: 'V1NetworkPolicy' },
      log,
    ),
  };
}
