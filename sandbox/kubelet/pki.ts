// The certificates of a cluster with real nodes, as kubeadm lays them out: one CA that signs the
// API server's serving certificate (with the names and addresses pods reach it by), the API
// server's client certificate towards kubelets, and each kubelet's client certificate (the Node
// authorizer knows a node by CN system:node:NAME in O system:nodes). Made with openssl: Node's
// crypto parses X.509 but does not issue it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertPair {
  cert: string;
  key: string;
}

export class ClusterPki {
  readonly ca: CertPair;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
    if (!existsSync(this.ca.cert)) {
      openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', this.ca.key, '-out', this.ca.cert, '-days', '30', '-subj', '/CN=weir-test-ca']);
    }
  }

  /** A certificate signed by the CA; `sans` (IP:..., DNS:...) makes it a serving certificate. */
  issue(name: string, subject: string, sans: string[] = []): CertPair {
    const pair = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    if (existsSync(pair.cert)) return pair;
    const csr = join(this.dir, `${name}.csr`);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', csr, '-subj', subject]);
    const args = ['x509', '-req', '-in', csr, '-CA', this.ca.cert, '-CAkey', this.ca.key, '-CAcreateserial', '-out', pair.cert, '-days', '30'];
    if (sans.length) {
      const ext = join(this.dir, `${name}.ext`);
      writeFileSync(ext, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`);
      args.push('-extfile', ext);
    }
    openssl(args);
    return pair;
  }

  /** The API server's serving certificate: the names in-cluster clients use, its address, 127.0.0.1. */
  apiServer(address: string, serviceIp: string): CertPair {
    const names = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];
    return this.issue('apiserver', '/CN=kube-apiserver', [...[address, serviceIp, '127.0.0.1'].map((a) => `IP:${a}`), ...names.map((n) => `DNS:${n}`)]);
  }

  /** The API server's client certificate towards kubelets (logs, exec, port-forward). */
  apiServerKubeletClient(): CertPair {
    return this.issue('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client');
  }

  /** A kubelet's client certificate, as the Node authorizer expects it. */
  kubelet(node: string): CertPair {
    return this.issue(`kubelet-${node}`, `/O=system:nodes/CN=system:node:${node}`);
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A kubeconfig for `server` with a client certificate or a token, trusting `caCert`. */
export function kubeconfigYaml(server: string, caCert: string, user: { cert: CertPair } | { token: string }): string {
  const creds = 'token' in user ? `    token: ${user.token}` : `    client-certificate: ${user.cert.cert}\n    client-key: ${user.cert.key}`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: weir',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caCert}`,
    'users:',
    '- name: weir-user',
    '  user:',
    creds,
    'contexts:',
    '- name: weir',
    '  context: {cluster: weir, user: weir-user}',
    'current-context: weir',
    '',
  ].join('\n');
}
