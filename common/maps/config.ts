// weir_config: node-wide datapath settings, one entry. Declared in bpf/lib/config.h.
import { ip4, struct, u32, u64 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

/** enum config_flags. */
export const ConfigFlags = { PrefilterValidDst: 1 << 0, SockmapFastpath: 1 << 1, Drain: 1 << 2, PolicyAudit: 1 << 3, EncryptRequired: 1 << 4 } as const;

/**
 * enum encrypt_mark_bits (bpf/lib/encrypt.h): `encryptMark` is Magic | generation << GenShift;
 * the agent's xfrm policies match Magic and the generation under GenMask, its WireGuard routing
 * rule Magic under GenMask (generation 0).
 */
export const EncryptMark = { Magic: 0x0e00, MagicMask: 0x0f00, GenShift: 12, GenMask: 0xff00 } as const;

export const encryptMarkOf = (generation: number): number => EncryptMark.Magic | ((generation & 0xf) << EncryptMark.GenShift);

export const configKey = struct('__u32', 4, { index: u32(0) });
export const datapathConfig = struct('datapath_config', 48, {
  flags: u32(0),
  policyGen: u32(4),
  ctTcpEstablishedS: u32(8, 'ct_tcp_established_s'),
  ctTcpSynS: u32(12, 'ct_tcp_syn_s'),
  ctTcpCloseS: u32(16, 'ct_tcp_close_s'),
  ctAnyS: u32(20, 'ct_any_s'),
  nodeIp4: ip4(24, 'node_ip4'),
  encryptMark: u32(28, 'encrypt_mark'),
  proxyCgroupId: u64(32, 'proxy_cgroup_id'),
  tunnelIfindex: u32(40, 'tunnel_ifindex'),
  reserved: u32(44),
});
/** struct datapath_config: the node-wide settings the programs read (not the DatapathConfig CRD). */
export type NodeSettings = ReturnType<typeof datapathConfig.decode>;

/** Cilium's conntrack timeouts, which the programs also fall back to before the agent writes. */
export const DEFAULT_CONFIG: NodeSettings = {
  flags: 0,
  policyGen: 0,
  ctTcpEstablishedS: 21600,
  ctTcpSynS: 60,
  ctTcpCloseS: 10,
  ctAnyS: 60,
  nodeIp4: '0.0.0.0',
  encryptMark: 0,
  proxyCgroupId: 0n,
  tunnelIfindex: 0,
  reserved: 0,
};

export const configMap: MapSpec<{ index: number }, NodeSettings> = {
  name: 'weir_config',
  header: 'bpf/lib/config.h',
  key: configKey,
  value: datapathConfig,
  type: MapType.Array,
  size: { fixed: 1 },
};
