// Jest inside the test VM: a project's tests on the guest kernel, run as root from this checkout,
// with their results brought back as jest's JSON (test/vm/*.vm.test.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestVm } from './vm.js';

/**
 * Software emulation runs every instruction several times slower than the host (measured: the
 * two-node sandbox and L7 suites 4 to 5 times): the guest's limits, measured on the host, stretch
 * by this (WEIR_TIME_SCALE, sandbox/wait.ts); tests on default timeouts get EMULATED_TEST_TIMEOUT_MS.
 */
export const EMULATION_SLOWDOWN = 5;
/** The host projects' default test limit (jest.config.js), stretched likewise. */
export const EMULATED_TEST_TIMEOUT_MS = 60_000 * EMULATION_SLOWDOWN;

export interface JestJson {
  numFailedTests: number;
  numPassedTests: number;
  testResults: Array<{
    name: string;
    message: string;
    startTime: number;
    endTime: number;
    assertionResults: Array<{ fullName: string; title: string; status: string; duration?: number | null; failureMessages: string[] }>;
  }>;
}

/**
 * Runs jest's `projects` on `paths` (and test names matching `names`) inside the guest: one jest
 * process for all of them, as each start costs the guest about half a minute.
 */
export async function jestInVm(vm: TestVm, projects: 'privileged' | 'guest' | Array<'privileged' | 'guest'>, paths: string, names?: string): Promise<JestJson> {
  const project = [projects].flat().join(' ');
  const t0 = Date.now();
  const out = join(vm.jobDir, `jest-${t0}.json`);
  const r = await vm.run(
    `CI=true WEIR_TIME_SCALE=${EMULATION_SLOWDOWN} node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects ${project} --testPathPatterns '${paths}' ${names ? `-t '${names}'` : ''} --runInBand --forceExit --testTimeout=${EMULATED_TEST_TIMEOUT_MS} --json --outputFile=/mnt/job/${out.split('/').pop()}`,
    3_600_000,
  );
  if (!existsSync(out)) throw new Error(`jest in the VM wrote no results (exit ${r.rc}):\n${r.out.slice(-4000)}\n${vm.console(20)}`);
  const j = JSON.parse(readFileSync(out, 'utf8')) as JestJson;
  console.log(`jest in the guest (${project}, ${paths}): ${((Date.now() - t0) / 1000).toFixed(1)} s in all\n${timings(j)}`);
  return j;
}

/** Where the guest's time went, file by file and test by test: the VM layer is the test command's long pole. */
export function timings(j: JestJson): string {
  const s = (ms: number | null | undefined) => `${((ms ?? 0) / 1000).toFixed(1)} s`;
  return j.testResults
    .flatMap((f) => [
      `${f.name.replace(/^.*?\/(test|agent|libbpfjs)\//, '$1/')}: ${s(f.endTime - f.startTime)}`,
      ...f.assertionResults.filter((a) => a.status !== 'pending').map((a) => `  ${s(a.duration).padStart(8)} ${a.status} ${a.title}`),
    ])
    .join('\n');
}

/** Each failed test (or file that failed before its tests) with its message. */
export const failures = (j: JestJson): string[] =>
  j.testResults.flatMap((f) => [
    ...(f.assertionResults.length === 0 && f.message ? [`${f.name}: ${f.message.slice(0, 2000)}`] : []),
    ...f.assertionResults.filter((a) => a.status === 'failed').map((a) => `${a.fullName}: ${a.failureMessages.join('\n').slice(0, 2000)}`),
  ]);
