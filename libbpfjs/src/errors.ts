/** A failed libbpf or bpf(2) call: `op` names the step, `errno`/`code` the kernel's answer. */
export class BpfError extends Error {
  override name = 'BpfError';
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An object failed to load; `verifierLog` holds the kernel verifier's (or libbpf's) explanation. */
export class BpfLoadError extends BpfError {
  override name = 'BpfLoadError';
  constructor(op: string, errno: number, code: string, message: string, readonly verifierLog: string) {
    super(op, errno, code, message);
  }
}

/** Used for argument errors detected before any syscall, so callers can match them the same way. */
export function invalidArgument(op: string, detail: string): BpfError {
  return new BpfError(op, 22, 'EINVAL', `${op}: ${detail}`);
}

export function makeNativeError(
  kind: string,
  op: string,
  errno: number,
  code: string,
  message: string,
  log: string,
): Error {
  return kind === 'BpfLoadError'
    ? new BpfLoadError(op, errno, code, message, log)
    : new BpfError(op, errno, code, message);
}
