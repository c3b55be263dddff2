// cgroup v2 hooks (connect4, sendmsg4, recvmsg4, sock_ops, ...): through bpf_link, or through
// BPF_PROG_ATTACH for callers that manage the attachment themselves.
import { closeSync, openSync, constants as fsc } from 'node:fs';
import { native } from '../native.js';
import type { BpfProgram } from '../program.js';
import { BpfLink } from './link.js';

function withCgroup<T>(path: string, fn: (fd: number) => T): T {
  const cg = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    return fn(cg);
  } finally {
    closeSync(cg);
  }
}

export function attachCgroup(prog: BpfProgram, cgroupPath: string, attachType: number): BpfLink {
  return withCgroup(cgroupPath, (cg) => new BpfLink(native.linkCreate(prog.fd, cg, attachType)));
}

/** Program ids attached to a cgroup for an attach type (links and legacy attachments alike). */
export function queryAttached(cgroupPath: string, attachType: number): number[] {
  return withCgroup(cgroupPath, (cg) => native.progQuery(cg, attachType).progIds);
}

/** BPF_PROG_ATTACH to any target fd (legacy, non-link attachment). */
export function attachLegacy(prog: BpfProgram, targetFd: number, attachType: number, flags = 0, replace?: BpfProgram): void {
  native.progAttach(prog.fd, targetFd, attachType, flags, replace?.fd);
}

export function detachLegacy(prog: BpfProgram, targetFd: number, attachType: number): void {
  native.progDetach(prog.fd, targetFd, attachType);
}
