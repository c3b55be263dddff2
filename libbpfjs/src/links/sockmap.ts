// sk_msg / sk_skb programs onto a sockmap or sockhash, with BPF_PROG_ATTACH: the system libbpf
// has no link type for these.
import { AttachType } from '../constants.js';
import { invalidArgument } from '../errors.js';
import type { BpfMap } from '../map.js';
import { native } from '../native.js';
import type { BpfProgram } from '../program.js';

export interface MapAttachment {
  readonly map: BpfMap;
  readonly attachType: number;
  detach(): void;
}

const MAP_ATTACH_TYPES: readonly number[] = [AttachType.SkMsgVerdict, AttachType.SkSkbStreamParser, AttachType.SkSkbStreamVerdict, AttachType.SkSkbVerdict];

export function attachToMap(prog: BpfProgram, map: BpfMap, attachType: number): MapAttachment {
  if (!MAP_ATTACH_TYPES.includes(attachType)) throw invalidArgument('program attach', `attach type ${attachType} does not attach to a map`);
  native.progAttach(prog.fd, map.fd, attachType);
  return { map, attachType, detach: () => native.progDetach(prog.fd, map.fd, attachType) };
}
