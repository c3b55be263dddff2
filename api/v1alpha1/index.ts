// The weir.dev/v1alpha1 API: one file per kind, the group's resources, and the identity contract.
export * from './group.js';
export * from './meta.js';
export * from './datapathconfig.js';
export * from './networkpolicy.js';
export * from './nodedatapath.js';
export * from './identity.js';
