// Numeric values of the kernel UAPI enums (include/uapi/linux/bpf.h, if_link.h). The system
// headers are from Linux 6.1; values added later (tcx) are stated here from the 6.6+ UAPI.

export const MapType = {
  Hash: 1,
  Array: 2,
  ProgArray: 3,
  PerfEventArray: 4,
  PercpuHash: 5,
  PercpuArray: 6,
  LruHash: 9,
  LruPercpuHash: 10,
  LpmTrie: 11,
  ArrayOfMaps: 12,
  HashOfMaps: 13,
  DevMap: 14,
  SockMap: 15,
  SockHash: 18,
  RingBuf: 27,
  BloomFilter: 30,
} as const;
export type MapType = (typeof MapType)[keyof typeof MapType];

export const PERCPU_MAP_TYPES: ReadonlySet<number> = new Set([
  MapType.PercpuHash,
  MapType.PercpuArray,
  MapType.LruPercpuHash,
]);

export const ProgType = {
  SocketFilter: 1,
  SchedCls: 3,
  SchedAct: 4,
  Xdp: 6,
  CgroupSkb: 8,
  CgroupSock: 9,
  SockOps: 13,
  SkSkb: 14,
  SkMsg: 16,
  CgroupSockAddr: 18,
} as const;
export type ProgType = (typeof ProgType)[keyof typeof ProgType];

export const AttachType = {
  CgroupInetIngress: 0,
  CgroupInetEgress: 1,
  CgroupInetSockCreate: 2,
  CgroupSockOps: 3,
  SkSkbStreamParser: 4,
  SkSkbStreamVerdict: 5,
  SkMsgVerdict: 7,
  CgroupInet4Bind: 8,
  CgroupInet4Connect: 10,
  CgroupInet6Connect: 11,
  CgroupUdp4Sendmsg: 14,
  CgroupUdp6Sendmsg: 15,
  CgroupUdp4Recvmsg: 19,
  CgroupUdp6Recvmsg: 20,
  CgroupInet4Getpeername: 29,
  Xdp: 37,
  SkSkbVerdict: 38,
  TcxIngress: 46,
  TcxEgress: 47,
} as const;
export type AttachType = (typeof AttachType)[keyof typeof AttachType];

export const LinkType = {
  Cgroup: 3,
  Iter: 4,
  Netns: 5,
  Xdp: 6,
  Tcx: 11,
} as const;

/** BPF_ANY / BPF_NOEXIST / BPF_EXIST / BPF_F_LOCK for element updates. */
export const UpdateFlags = { Any: 0, NoExist: 1, Exist: 2, Lock: 4 } as const;

/** Map creation flags (BPF_F_*). */
export const MapFlags = { NoPrealloc: 1, NoCommonLru: 2, NumaNode: 4, RdOnly: 8, WrOnly: 16, RdOnlyProg: 128, WrOnlyProg: 256 } as const;

export const XdpFlags = { UpdateIfNoExist: 1, SkbMode: 2, DrvMode: 4, HwMode: 8, Replace: 16 } as const;

/** Return codes, for readable assertions on test runs. */
export const XdpAction = { Aborted: 0, Drop: 1, Pass: 2, Tx: 3, Redirect: 4 } as const;
export const TcAction = { Unspec: -1, Ok: 0, Shot: 2, Redirect: 7 } as const;
