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

/** The errno values callers tell apart. */
export const Errno = { EPERM: 1, ENOENT: 2, E2BIG: 7, ENODEV: 19, EBUSY: 16, EEXIST: 17, EINVAL: 22, ENOSPC: 28, ENOLINK: 67, EOPNOTSUPP: 95, ENOTSUPP: 524 } as const;

const errnoOf = (e: unknown): number | undefined => (e instanceof BpfError ? e.errno : undefined);

/** No such object: a missing pin, key, map or program name, or a link whose target went away. */
export const isNotExist = (e: unknown): boolean => errnoOf(e) === Errno.ENOENT;
/** The object, or what it was attached to, is gone: ENOENT, ENOLINK from a defunct link, ENODEV for an interface. */
export const isGone = (e: unknown): boolean => errnoOf(e) === Errno.ENOENT || errnoOf(e) === Errno.ENOLINK || errnoOf(e) === Errno.ENODEV;
/** Already there: a key under NoExist, an attachment refused as a duplicate. */
export const isExist = (e: unknown): boolean => errnoOf(e) === Errno.EEXIST;
/** The map is full: E2BIG from a hash, ENOSPC from an LPM trie or a batch larger than allowed. */
export const isNoSpace = (e: unknown): boolean => errnoOf(e) === Errno.E2BIG || errnoOf(e) === Errno.ENOSPC;
/** The hook is taken by another program. */
export const isBusy = (e: unknown): boolean => errnoOf(e) === Errno.EBUSY;
/** The kernel lacks the feature (an attach type, a map type, a helper). */
export const isNotSupported = (e: unknown): boolean => errnoOf(e) === Errno.EOPNOTSUPP || errnoOf(e) === Errno.ENOTSUPP;
export const isPermission = (e: unknown): boolean => errnoOf(e) === Errno.EPERM;

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
