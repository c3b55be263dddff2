import { openSync, closeSync, constants as fsc } from 'node:fs';
import { AttachType, XdpFlags } from './constants.js';
import { invalidArgument } from './errors.js';
import { FdOwner } from './fd.js';
import { BpfLink } from './link.js';
import type { BpfMap } from './map.js';
import { native, type NativeProgInfo } from './native.js';
import type { TcDirection, TcFilter } from './tc.js';

export type ProgInfo = NativeProgInfo;
export type XdpMode = 'driver' | 'generic' | 'auto';

export interface TestRunOptions {
  /** Packet bytes (data_in). */
  data?: Buffer;
  /** Room for the output packet; defaults to the input size plus headroom for encapsulation. */
  dataOutSize?: number;
  /** Context in (e.g. struct __sk_buff or xdp_md bytes). */
  ctx?: Buffer;
  ctxOutSize?: number;
  /** Runs the program this many times; duration is the mean per run in ns. */
  repeat?: number;
  flags?: number;
}

export interface TestRunResult {
  retval: number;
  /** Mean nanoseconds per run, as the kernel measures it. */
  duration: number;
  dataOut: Buffer | null;
  ctxOut: Buffer | null;
}

/** A program attached to a sockmap/sockhash with BPF_PROG_ATTACH (no link type exists for these on this libbpf). */
export interface MapAttachment {
  readonly map: BpfMap;
  readonly attachType: number;
  detach(): void;
}

function xdpModeFlags(mode: XdpMode): number {
  switch (mode) {
    case 'driver':
      return XdpFlags.DrvMode;
    case 'generic':
      return XdpFlags.SkbMode;
    case 'auto':
      return 0;
  }
}

/** A loaded BPF program, by fd. */
export class BpfProgram extends FdOwner {
  /** Takes ownership of `fd`. */
  constructor(
    fd: number,
    readonly name: string = native.progInfo(fd).name,
  ) {
    super(fd);
  }

  static openPinned(path: string): BpfProgram {
    return new BpfProgram(native.objGet(path));
  }

  static fromId(id: number): BpfProgram {
    return new BpfProgram(native.fdById('prog', id));
  }

  info(): ProgInfo {
    return native.progInfo(this.fd);
  }

  /** Ids of the maps this program uses, as the verifier recorded them. */
  mapIds(): number[] {
    return native.progMapIds(this.fd);
  }

  pin(path: string): void {
    native.objPin(this.fd, path);
  }

  /** BPF_PROG_TEST_RUN: runs the program on crafted input, off the event loop. */
  async testRun(opts: TestRunOptions = {}): Promise<TestRunResult> {
    const dataOutSize = opts.dataOutSize ?? (opts.data ? opts.data.length + 256 : undefined);
    return native.progTestRun(this.fd, { ...opts, dataOutSize });
  }

  /**
   * XDP through netlink (no link). With `replace`, the kernel swaps atomically and only if that
   * program is the one attached; without it, an existing program is refused (EBUSY).
   */
  attachXdp(ifindex: number, opts: { mode?: XdpMode; replace?: BpfProgram; force?: boolean } = {}): void {
    let flags = xdpModeFlags(opts.mode ?? 'auto');
    if (!opts.replace && !opts.force) flags |= XdpFlags.UpdateIfNoExist;
    native.xdpAttach(ifindex, this.fd, flags, opts.replace?.fd);
  }

  /** Detaches XDP from `ifindex`, only if this program is the one attached. */
  detachXdp(ifindex: number, mode: XdpMode = 'auto'): void {
    native.xdpDetach(ifindex, xdpModeFlags(mode), this.fd);
  }

  /** XDP through a bpf_link: owned by the link, swapped with link.update(). */
  attachXdpLink(ifindex: number, mode: XdpMode = 'auto'): BpfLink {
    return new BpfLink(native.linkCreate(this.fd, ifindex, AttachType.Xdp, xdpModeFlags(mode)));
  }

  /** tcx (kernel 6.6+): link-based TC with multi-program ordering and atomic update. */
  attachTcx(ifindex: number, direction: TcDirection): BpfLink {
    const type = direction === 'ingress' ? AttachType.TcxIngress : AttachType.TcxEgress;
    return new BpfLink(native.linkCreate(this.fd, ifindex, type));
  }

  /**
   * cls_bpf direct-action filter on clsact (created if missing). `replace` swaps the program of
   * an existing (handle, priority) filter in place.
   */
  attachTc(
    ifindex: number,
    direction: TcDirection,
    opts: { handle?: number; priority?: number; replace?: boolean } = {},
  ): TcFilter {
    native.tcHookCreate(ifindex, direction);
    const r = native.tcAttach(ifindex, direction, this.fd, opts.handle ?? 1, opts.priority ?? 1, opts.replace ?? false);
    return { ifindex, direction, ...r };
  }

  /** Cgroup v2 hook via bpf_link (connect4, sendmsg4, recvmsg4, sock_ops, ...). */
  attachCgroup(cgroupPath: string, attachType: number): BpfLink {
    const cg = openSync(cgroupPath, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      return new BpfLink(native.linkCreate(this.fd, cg, attachType));
    } finally {
      closeSync(cg);
    }
  }

  /** sk_msg / sk_skb programs onto a sockmap or sockhash. */
  attachToMap(map: BpfMap, attachType: number): MapAttachment {
    const allowed: number[] = [
      AttachType.SkMsgVerdict,
      AttachType.SkSkbStreamParser,
      AttachType.SkSkbStreamVerdict,
      AttachType.SkSkbVerdict,
    ];
    if (!allowed.includes(attachType))
      throw invalidArgument('program attach', `attach type ${attachType} does not attach to a map`);
    native.progAttach(this.fd, map.fd, attachType);
    return {
      map,
      attachType,
      detach: () => native.progDetach(this.fd, map.fd, attachType),
    };
  }

  /** Attaches with BPF_PROG_ATTACH to any target fd (legacy, non-link attachment). */
  attachLegacy(targetFd: number, attachType: number, flags = 0, replace?: BpfProgram): void {
    native.progAttach(this.fd, targetFd, attachType, flags, replace?.fd);
  }

  detachLegacy(targetFd: number, attachType: number): void {
    native.progDetach(this.fd, targetFd, attachType);
  }
}

/** Program ids attached to a cgroup (or other target) for an attach type. */
export function queryAttached(cgroupPath: string, attachType: number): number[] {
  const cg = openSync(cgroupPath, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    return native.progQuery(cg, attachType).progIds;
  } finally {
    closeSync(cg);
  }
}

/** Which XDP program runs on an interface, and in which mode. */
export function xdpQuery(ifindex: number): { attachMode: number; progId: number } {
  const q = native.xdpQuery(ifindex);
  return { attachMode: q.attachMode, progId: q.progId };
}
