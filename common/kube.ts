import { ApiException, KubeConfig, type V1Node } from '@kubernetes/client-node';

/** An explicit kubeconfig path, else in-cluster service account, else $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (e) {
    throw new Error(`cannot load kubeconfig ${path || '(default)'}: ${(e as Error).message}`, { cause: e });
  }
  if (!kc.getCurrentCluster()) throw new Error(`no cluster in kubeconfig ${path || '(default)'}`);
  return kc;
}

/** The HTTP status of a failed API call (404, 409, ...), or undefined for any other error. */
export function apiStatus(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** A node's IPv4 InternalIP and ExternalIP addresses, as the datapath uses them (NodePort, ipcache). */
export function nodeAddresses(node: V1Node | undefined): string[] {
  return (node?.status?.addresses ?? []).filter((a) => (a.type === 'InternalIP' || a.type === 'ExternalIP') && IPV4.test(a.address)).map((a) => a.address);
}
