// Where Weir in replace mode and kube-proxy knowingly differ on the parity table
// (services.priv.test.ts), each with why. A difference that stops showing fails the test, so this
// list stays true; docs/services.md carries the same table for users.
export type Column = 'kube-proxy iptables' | 'kube-proxy nftables' | 'Weir replace' | 'Weir nftables fallback';

const KEEPS_CLIENT =
  'the backend is on the node the client reached, so its replies pass back through that node\'s NIC program without SNAT: Weir keeps the client\'s address (as Cilium does); kube-proxy masquerades every Cluster-policy flow from outside';

const SAME_NIC_PATH = {
  'NodePort, backend on the receiving node': { result: 'web-a:8080 (source client)', why: KEEPS_CLIENT },
  'external IP from outside': { result: 'web-a:8080+web-b:8080+web-c:8080 (source client/node)', why: `${KEEPS_CLIENT} (web-a is on the node the external IP is routed to; web-b and web-c are not)` },
  'loadBalancerSourceRanges, source inside': { result: 'web-a:8080 (source client)', why: KEEPS_CLIENT },
};

export const PARITY_DIFFERENCES: Partial<Record<Column, Record<string, { result: string; why: string }>>> = {
  // The fallback replaces only the socket hooks: traffic from outside still meets the NIC program.
  'Weir nftables fallback': SAME_NIC_PATH,
  'Weir replace': {
    ...SAME_NIC_PATH,
    'internalTrafficPolicy Local, no local endpoint': {
      result: 'refused',
      why: 'the socket LB decides at connect(), before any packet exists: with no local endpoint the connect() fails with ECONNREFUSED at once, where kube-proxy drops the SYN and the client waits for its timeout',
    },
  },
};
