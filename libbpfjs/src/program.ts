// A loaded BPF program, by fd: info, pins and test runs. Attaching is links/ (one file per kind).
import { FdOwner } from './fd.js';
import { native, type NativeProgInfo } from './native.js';

export type ProgInfo = NativeProgInfo;

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
}
