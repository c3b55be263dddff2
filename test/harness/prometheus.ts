// A real Prometheus (Debian's package) scraping given targets, queried over its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../sandbox/sandbox.js';
import { eventually } from './wait.js';

export interface ScrapeTarget {
  address: string;
  labels: Record<string, string>;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export class TestPrometheus {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly url: string,
  ) {}

  static async start(job: string, targets: readonly ScrapeTarget[]): Promise<TestPrometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'weir-prom-'));
    const port = await freePort();
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [{ job_name: job, static_configs: targets.map((t) => ({ targets: [t.address], labels: t.labels })) }],
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
    const proc = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: 'ignore' },
    );
    const p = new TestPrometheus(proc, dir, `http://127.0.0.1:${port}`);
    await eventually('prometheus ready', async () => (await fetch(`${p.url}/-/ready`)).ok, 30_000);
    return p;
  }

  async query(promql: string): Promise<Sample[]> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await r.json()) as { status: string; data?: { result: Sample[] }; error?: string };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error}`);
    return body.data?.result ?? [];
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const gone = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
