#!/usr/bin/env node
// The single entry point of the image: `weir operator`, `weir agent`, and the tools around them.
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { Agent } from '../agent/agent.js';
import { KernelDatapath } from '../agent/datapath/kernel.js';
import { runPreflight } from '../agent/preflight/checks.js';
import { untilAborted } from '../common/abort.js';
import { ConfigError, loadAgentConfig, loadOperatorConfig } from '../common/config.js';
import { startHttpEndpoint } from '../common/http.js';
import { loadKubeConfig } from '../common/kube.js';
import { createLogger } from '../common/log.js';
import { Operator } from '../operator/operator.js';
import { LeaderElector } from '../operator/runtime/leader.js';

/** Aborts on the first SIGTERM or SIGINT; a second one exits at once. */
function shutdownSignal(): AbortSignal {
  const ctl = new AbortController();
  const onSignal = (): void => {
    if (ctl.signal.aborted) process.exit(130);
    ctl.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return ctl.signal;
}

/** The config file and the flags both commands share, as config-loader input. */
function commonSources(opts: Record<string, unknown>): { file: string | undefined; flags: Record<string, unknown> } {
  return {
    file: opts.config as string | undefined,
    flags: { logLevel: opts.logLevel, kubeconfig: opts.kubeconfig, httpAddress: opts.httpAddress },
  };
}

async function operator(opts: Record<string, unknown>): Promise<void> {
  const { file, flags } = commonSources(opts);
  const cfg = loadOperatorConfig({
    file,
    flags: {
      ...flags,
      leaderElection: opts.leaderElection === false ? { enabled: false } : undefined,
    },
  });
  const log = createLogger('operator', cfg.logLevel);
  const signal = shutdownSignal();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const leader = new Gauge({ name: 'weir_operator_leader', help: '1 while this replica holds the leader lease', registers: [registry] });
  const kc = loadKubeConfig(cfg.kubeconfig);
  const op = new Operator(kc, log, registry, { workers: cfg.workers });
  let leadingNow = false;
  const http = await startHttpEndpoint({
    address: cfg.httpAddress,
    registry,
    // A standby replica is ready (it serves metrics and waits for the lease); a leader once its caches have synced.
    readiness: { caches: () => (!leadingNow || op.synced ? null : 'informer caches not synced') },
    log,
  });

  const identity = `${hostname()}_${process.pid}`;
  let running: Promise<void> = Promise.resolve();
  const lead = (leading: AbortSignal): void => {
    leader.set(1);
    leadingNow = true;
    log.info({ identity }, 'leading: this replica writes NodeDatapath and Identity objects');
    running = op.run(leading).catch((err: unknown) => log.error({ err }, 'operator stopped with an error'));
    leading.addEventListener(
      'abort',
      () => {
        leader.set(0);
        leadingNow = false;
      },
      { once: true },
    );
  };
  if (cfg.leaderElection.enabled) {
    const le = cfg.leaderElection;
    const elector = new LeaderElector(
      kc.makeApiClient(CoordinationV1Api),
      {
        namespace: le.namespace,
        name: le.leaseName,
        identity,
        leaseDurationMs: le.leaseDurationSeconds * 1000,
        renewDeadlineMs: le.renewDeadlineSeconds * 1000,
        retryPeriodMs: le.retryPeriodSeconds * 1000,
      },
      log,
    );
    await elector.run(signal, {
      onStartedLeading: lead,
      onStoppedLeading: () => log.info('stopped leading'),
      onNewLeader: (who) => log.info({ leader: who }, 'another replica leads'),
    });
    await running;
    await http.close();
    // A replica that lost its lease without being asked to stop restarts rather than risk two writers.
    process.exitCode = signal.aborted ? 0 : 1;
    return;
  }
  const standalone = new AbortController();
  lead(standalone.signal);
  await untilAborted(signal);
  standalone.abort();
  await running;
  await http.close();
}

/** Where the compiled BPF objects are: absolute, or relative to the package (dist/cli/..). */
function objectDir(dir: string): string {
  return isAbsolute(dir) ? dir : join(fileURLToPath(new URL('../..', import.meta.url)), dir);
}

async function agent(opts: Record<string, unknown>): Promise<void> {
  const { file, flags } = commonSources(opts);
  const cfg = loadAgentConfig({
    file,
    flags: {
      ...flags,
      nodeName: opts.nodeName,
      bpffsRoot: opts.bpffsRoot,
      netns: opts.netns,
      cgroupPath: opts.cgroup,
      devices: opts.device,
      xdpMode: opts.xdpMode,
      bpfObjectDir: opts.bpfObjectDir,
    },
  });
  const log = createLogger('agent', cfg.logLevel);
  const agentOpts = {
    nodeName: cfg.nodeName,
    pinRoot: cfg.bpffsRoot,
    objectDir: objectDir(cfg.bpfObjectDir),
    netns: cfg.netns ?? null,
    cgroupPath: cfg.cgroupPath ?? cfg.cgroupRoot,
    devices: cfg.devices,
    xdpMode: cfg.xdpMode,
    resyncMs: cfg.resyncSeconds * 1000,
    conntrackGcMs: cfg.conntrackGcSeconds * 1000,
  };
  if (opts.uninstall) {
    const removed = new KernelDatapath({ pinRoot: agentOpts.pinRoot, objectDir: agentOpts.objectDir, netns: agentOpts.netns }).uninstall();
    log.info({ links: removed.links, pins: removed.pins, pinRoot: agentOpts.pinRoot }, 'uninstalled: every link and pin under the pin root removed');
    return;
  }
  const signal = shutdownSignal();
  const checks = runPreflight({ cgroupRoot: cfg.cgroupRoot });
  for (const c of checks) (c.ok ? log.info.bind(log) : log.error.bind(log))({ check: c.name }, c.detail);
  const failing = checks.filter((c) => !c.ok);
  if (failing.length > 0) throw new Error(`preflight failed: ${failing.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const kc = loadKubeConfig(cfg.kubeconfig);
  const node = new Agent(kc, agentOpts, registry, log);
  const http = await startHttpEndpoint({ address: cfg.httpAddress, registry, readiness: { datapath: () => node.readiness() }, log });
  log.info({ node: cfg.nodeName, pinRoot: agentOpts.pinRoot, netns: agentOpts.netns, cgroup: agentOpts.cgroupPath }, 'agent running');
  await node.run(signal);
  await http.close();
}

const program = new Command('weir').description('Weir: an eBPF datapath for Kubernetes').showHelpAfterError();
const common = (cmd: Command): Command =>
  cmd
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--kubeconfig <path>', 'kubeconfig (default: in-cluster, then $KUBECONFIG, ~/.kube/config)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal']))
    .option('--http-address <host:port>', 'listen address for /metrics, /healthz, /readyz');

common(program.command('operator').description('run the cluster operator (leader-elected)'))
  .option('--no-leader-election', 'run without the Lease (a single replica only)')
  .action(operator);

common(program.command('agent').description('run the node agent'))
  .option('--node-name <name>', 'this node (default: $WEIR_NODE_NAME)')
  .option('--bpffs-root <dir>', 'bpffs directory for pins')
  .option('--netns <path>', "network namespace holding the node's interfaces (sandbox nodes)")
  .option('--cgroup <dir>', 'cgroup v2 directory for the socket programs (default: the cgroup root)')
  .option('--device <name...>', 'node interfaces for the prefilter and NodePort (default: the one with the InternalIP)')
  .addOption(new Option('--xdp-mode <mode>', 'XDP attach mode').choices(['driver', 'generic']))
  .option('--bpf-object-dir <dir>', 'compiled BPF objects')
  .option('--uninstall', 'remove every program, link and pin this agent made, then exit')
  .action(agent);

program.command('preflight').description('check this host for what the agent needs').option('--cgroup-root <dir>', 'cgroup v2 mount', '/sys/fs/cgroup/unified').action((opts: { cgroupRoot: string }) => {
  const results = runPreflight({ cgroupRoot: opts.cgroupRoot });
  for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(15)} ${r.detail}\n`);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
});

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`weir: ${e instanceof ConfigError ? e.message : e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
