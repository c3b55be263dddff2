// tcx (Linux 6.6+): TC programs attached through bpf_link, ordered with others on the same hook
// and swapped atomically with link.update().
import { AttachType } from '../constants.js';
import { BpfError, Errno } from '../errors.js';
import { native } from '../native.js';
import type { BpfProgram } from '../program.js';
import { BpfLink } from './link.js';
import type { TcDirection } from './tc.js';

export function attachTcx(prog: BpfProgram, ifindex: number, direction: TcDirection): BpfLink {
  return new BpfLink(native.linkCreate(prog.fd, ifindex, direction === 'ingress' ? AttachType.TcxIngress : AttachType.TcxEgress));
}

/**
 * Whether this kernel has tcx (Linux 6.6+): a query of loopback's tcx ingress hook, which older
 * kernels refuse as an unknown attach type. Run in the network namespace of interest.
 */
export function tcxSupported(): boolean {
  try {
    native.progQuery(1, AttachType.TcxIngress);
    return true;
  } catch (e) {
    if (e instanceof BpfError && e.errno === Errno.EINVAL) return false;
    throw e;
  }
}
