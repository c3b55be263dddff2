export { BpfError, BpfLoadError } from './errors.js';
export { AttachType, LinkType, MapFlags, MapType, ProgType, TcAction, UpdateFlags, XdpAction, XdpFlags } from './constants.js';
export { BpfMap, numPossibleCpus, perCpuValues, unpin, type Entry, type MapCreateSpec, type MapInfo } from './map.js';
export {
  BpfProgram,
  queryAttached,
  xdpQuery,
  type MapAttachment,
  type ProgInfo,
  type TestRunOptions,
  type TestRunResult,
  type XdpMode,
} from './program.js';
export { BpfLink, type LinkInfo } from './link.js';
export { BpfObject, type MapSpec, type OpenOptions, type ProgramSpec } from './object.js';
export { tcDestroyClsact, tcDetach, tcEnsureClsact, tcQuery, type TcDirection, type TcFilter } from './tc.js';
export { ifindex, withNetns } from './netns.js';
export { idsOf } from './ids.js';
