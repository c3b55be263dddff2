import { KubeConfig } from '@kubernetes/client-node';

/** An explicit kubeconfig path, else in-cluster service account, else $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`no cluster in kubeconfig${path ? ` ${path}` : ''}`);
  return kc;
}
