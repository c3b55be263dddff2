// XDP: through a bpf_link (owned by the link, swapped with link.update()), or through netlink
// (the interface owns it; replaced only by naming the program it replaces).
import { AttachType, XdpFlags } from '../constants.js';
import { native } from '../native.js';
import type { BpfProgram } from '../program.js';
import { BpfLink } from './link.js';

export type XdpMode = 'driver' | 'generic' | 'auto';

function modeFlags(mode: XdpMode): number {
  switch (mode) {
    case 'driver':
      return XdpFlags.DrvMode;
    case 'generic':
      return XdpFlags.SkbMode;
    case 'auto':
      return 0;
  }
}

export function attachXdpLink(prog: BpfProgram, ifindex: number, mode: XdpMode = 'auto'): BpfLink {
  return new BpfLink(native.linkCreate(prog.fd, ifindex, AttachType.Xdp, modeFlags(mode)));
}

/**
 * XDP through netlink. With `replace`, the kernel swaps atomically and only if that program is
 * the one attached; without it, an existing program is refused (EBUSY) unless `force`.
 */
export function attachXdp(prog: BpfProgram, ifindex: number, opts: { mode?: XdpMode; replace?: BpfProgram; force?: boolean } = {}): void {
  let flags = modeFlags(opts.mode ?? 'auto');
  if (!opts.replace && !opts.force) flags |= XdpFlags.UpdateIfNoExist;
  native.xdpAttach(ifindex, prog.fd, flags, opts.replace?.fd);
}

/** Detaches netlink XDP from `ifindex`, only if `prog` is the one attached. */
export function detachXdp(prog: BpfProgram, ifindex: number, mode: XdpMode = 'auto'): void {
  native.xdpDetach(ifindex, modeFlags(mode), prog.fd);
}

/** Which XDP program runs on an interface, and in which mode. */
export function xdpQuery(ifindex: number): { attachMode: number; progId: number } {
  const q = native.xdpQuery(ifindex);
  return { attachMode: q.attachMode, progId: q.progId };
}
