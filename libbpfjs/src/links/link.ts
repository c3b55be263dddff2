import { FdOwner } from '../fd.js';
import { native, type NativeLinkInfo } from '../native.js';
import type { BpfProgram } from '../program.js';

export type LinkInfo = NativeLinkInfo;

/**
 * A bpf_link. The attachment lives as long as the link fd or a pin of it: closing an unpinned
 * link detaches; pin it to keep the attachment across process restarts.
 */
export class BpfLink extends FdOwner {
  /** Takes ownership of `fd`. */
  constructor(fd: number) {
    super(fd);
  }

  static openPinned(path: string): BpfLink {
    return new BpfLink(native.objGet(path));
  }

  static fromId(id: number): BpfLink {
    return new BpfLink(native.fdById('link', id));
  }

  info(): LinkInfo {
    return native.linkInfo(this.fd);
  }

  /**
   * Atomically swaps the program behind the link: traffic sees the old program or the new one,
   * never neither. With `expected`, the swap only happens if that program is still attached.
   */
  update(prog: BpfProgram, expected?: BpfProgram): void {
    native.linkUpdate(this.fd, prog.fd, expected?.fd);
  }

  /** Detaches even while other fds or pins still reference the link (it becomes defunct). */
  detach(): void {
    native.linkDetach(this.fd);
  }

  pin(path: string): void {
    native.objPin(this.fd, path);
  }
}
