// The default test limit for the layers that run real processes, kernels and API servers
// (privileged, cluster, guest): jest's 5 s holds only on a warm machine. Jest reads testTimeout
// from the global config only, so a project's own testTimeout is silently ignored; a setup file
// is the per-project place for it. Each test still ends on its own conditions; slow ones name
// their own limit. In the emulated guest the limit stretches by WEIR_TIME_SCALE.
import { jest } from '@jest/globals';
import { scaled } from '../../sandbox/wait.js';

export const REAL_TEST_TIMEOUT_MS = 60_000;

jest.setTimeout(scaled(REAL_TEST_TIMEOUT_MS));
