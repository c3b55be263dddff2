// The image the real-node layer runs (scripts/image.sh) against the Dockerfile users build: the
// same Debian packages installed, every path the Dockerfile copies present, the same entrypoint,
// the Node major the base image carries, and every command the agent runs on the PATH. Read from
// the OCI archive itself, layer by layer, as containerd unpacks it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages } from '../../sandbox/kubelet/cluster.js';
import { repoRoot } from '../harness/paths.js';
import { describeGated, isRoot } from '../harness/privileged.js';

interface Unpacked {
  root: string;
  config: { config: { Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string } };
}

/** Unpacks an OCI archive's single image into a directory, layers in order. */
function unpack(archive: string): Unpacked {
  const dir = mkdtempSync(join(tmpdir(), 'weir-image-'));
  const root = join(dir, 'root');
  execFileSync('mkdir', ['-p', join(dir, 'oci'), root]);
  execFileSync('tar', ['-xf', archive, '-C', join(dir, 'oci')]);
  const blob = (digest: string) => join(dir, 'oci', 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(join(dir, 'oci', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const layer of manifest.layers) execFileSync('tar', ['-xf', blob(layer.digest), '-C', root]);
  return { root, config: JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as Unpacked['config'] };
}

/** The programs the components run: every exec/execFile/spawn of a literal name, and nsenter. */
function commandsRun(): string[] {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/\b(?:exec|execFile|execFileSync|spawn|spawnSync)\('([a-z0-9_.-]+)'/g)) found.add(m[1]);
        for (const m of text.matchAll(/'(nsenter)'/g)) found.add(m[1]);
      }
    }
  };
  for (const d of ['agent', 'common', 'operator']) walk(join(repoRoot, d));
  return [...found].sort();
}

describeGated('the test layer image and the Dockerfile', isRoot ? null : 'needs root (buildah)', () => {
  let image: Unpacked;
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  beforeAll(() => {
    image = unpack(buildImages().weir);
  }, 600_000);
  afterAll(() => {
    if (image) rmSync(join(image.root, '..'), { recursive: true, force: true });
  });

  it('installs the runtime packages the Dockerfile installs (one list, image/runtime-packages)', () => {
    expect(runtime).toContain('COPY image/runtime-packages');
    const wanted = readFileSync(join(repoRoot, 'image', 'runtime-packages'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    const status = readFileSync(join(image.root, 'var', 'lib', 'dpkg', 'status'), 'utf8');
    const installed = new Set(
      status
        .split('\n\n')
        .filter((stanza) => /^Status: install ok installed$/m.test(stanza))
        .map((stanza) => /^Package: (\S+)$/m.exec(stanza)?.[1]),
    );
    expect(wanted.filter((p) => !installed.has(p))).toEqual([]);
  });

  it('holds every path the Dockerfile copies, with its entrypoint and command', () => {
    const copies = [...runtime.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map(([, src, dest]) => {
      const base = dest.endsWith('/') ? join(dest, src.split('/').pop()!) : dest;
      return join('/app', base.replace(/^\.\//, ''));
    });
    expect(copies.length).toBeGreaterThan(5);
    expect(copies.filter((p) => !existsSync(join(image.root, p)))).toEqual([]);
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(runtime)![1]) as string[];
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(runtime)![1]) as string[];
    expect(image.config.config.Entrypoint).toEqual(entrypoint);
    expect(image.config.config.Cmd).toEqual(cmd);
  });

  it('carries the Node major of the Dockerfile base, and every command the agent runs', () => {
    const major = /^FROM node:(\d+)-/m.exec(runtime)![1];
    const version = execFileSync(join(image.root, 'usr', 'local', 'bin', 'node'), ['--version'], { encoding: 'utf8' });
    expect(version.split('.')[0]).toBe(`v${major}`);
    const path = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
    const has = (cmd: string) => path.some((d) => existsSync(join(image.root, d, cmd)));
    const commands = commandsRun();
    expect(commands).toEqual(expect.arrayContaining(['ip', 'nft', 'iptables', 'sysctl', 'wg', 'nsenter']));
    expect(commands.filter((c) => !has(c))).toEqual([]);
  });
});
