// The operator's controllers, by the name their queue and metrics carry.
export type ControllerName = 'nodes' | 'configs' | 'policies' | 'identities';
