// weir_prefilter: source CIDRs the XDP prefilter drops. Declared in bpf/lib/prefilter.h.
import { lpmIpKey, type LpmIpKey } from './ipcache.js';
import { struct, u32 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const prefilterEntry = struct('prefilter_entry', 4, { flags: u32(0) });

export const prefilterMap: MapSpec<LpmIpKey, { flags: number }> = {
  name: 'weir_prefilter',
  header: 'bpf/lib/prefilter.h',
  key: lpmIpKey,
  value: prefilterEntry,
  type: MapType.LpmTrie,
  size: { from: 'prefilter', holds: 'prefilterEntries' },
};
