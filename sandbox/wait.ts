/**
 * How much slower than the machines its limits were measured on this one runs: an emulated guest
 * (the VM test layer sets WEIR_TIME_SCALE, test/harness/vm-jest.ts) runs every instruction in
 * software. Limits are safety nets, never what a test waits for: each wait ends on its condition,
 * and only a wait that would never end meets its limit, stretched by this factor.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.WEIR_TIME_SCALE) || 1);

/** A limit measured on the host, for the machine this runs on. */
export const scaled = (ms: number): number => Math.round(ms * TIME_SCALE);

/**
 * Polls `probe` until it returns something other than undefined/false, and returns that.
 * Errors thrown by the probe count as "not yet"; the last one is the timeout's cause.
 */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  timeoutMs = scaled(timeoutMs);
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
}
