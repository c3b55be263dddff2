// The weir.dev API group: its version and the resources it serves. Every client of the API
// (operator, agent, CLI, sandbox, bench, tests) names a resource through these, never by string.

export const GROUP = 'weir.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface Resource {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** The CRD that serves it, under crds/ (and charts/weir/crds/). */
  readonly crdFile: string;
}

const resource = (kind: string, plural: string, namespaced: boolean): Resource => ({
  group: GROUP,
  version: VERSION,
  kind,
  plural,
  namespaced,
  crdFile: `${kind.toLowerCase()}.yaml`,
});

export const DatapathConfigResource = resource('DatapathConfig', 'datapathconfigs', false);
export const NetworkPolicyResource = resource('NetworkPolicy', 'networkpolicies', true);
export const NodeDatapathResource = resource('NodeDatapath', 'nodedatapaths', false);
export const IdentityResource = resource('Identity', 'identities', false);

export const RESOURCES: readonly Resource[] = [DatapathConfigResource, NetworkPolicyResource, NodeDatapathResource, IdentityResource];

/** The API path of a resource's collection (all namespaces for a namespaced one). */
export const collectionPath = (r: Resource): string => `/apis/${r.group}/${r.version}/${r.plural}`;

/** On NodeDatapath: digest of the operator's last written content, to skip no-op writes. */
export const CONTENT_HASH_ANNOTATION = `${GROUP}/content-hash`;

/** group, version and plural: the coordinates CustomObjectsApi calls take. */
export const gvr = (r: Resource): { group: string; version: string; plural: string } => ({ group: r.group, version: r.version, plural: r.plural });
