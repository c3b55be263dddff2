// Jest's limits stretched by WEIR_TIME_SCALE (sandbox/wait.ts), for suites that run on a slower
// machine than the one their limits were measured on: the VM layer's emulated guest. A test or
// hook given a timeout gets that many times more; one without gets the run's --testTimeout. On the
// host the factor is 1 and nothing is wrapped.
import { scaled, TIME_SCALE } from '../../sandbox/wait.js';

type Registrar = (...args: unknown[]) => unknown;

function stretch(name: 'it' | 'test' | 'beforeAll' | 'afterAll' | 'beforeEach' | 'afterEach'): void {
  const g = globalThis as unknown as Record<string, Registrar>;
  const original = g[name];
  if (!original) return;
  const wrap = (f: Registrar): Registrar =>
    function (this: unknown, ...args: unknown[]) {
      const last = args.length - 1;
      if (last >= 1 && typeof args[last] === 'number') args[last] = scaled(args[last]);
      return f.apply(this, args);
    };
  const wrapped = wrap(original);
  // it.only, it.skip, it.each ... stay reachable; the two that take a timeout are stretched too.
  for (const [k, v] of Object.entries(original)) (wrapped as unknown as Record<string, unknown>)[k] = v;
  for (const k of ['only', 'failing'] as const) {
    const sub = (original as unknown as Record<string, Registrar | undefined>)[k];
    if (typeof sub === 'function') (wrapped as unknown as Record<string, Registrar>)[k] = wrap(sub.bind(original));
  }
  g[name] = wrapped;
}

if (TIME_SCALE > 1) for (const name of ['it', 'test', 'beforeAll', 'afterAll', 'beforeEach', 'afterEach'] as const) stretch(name);
