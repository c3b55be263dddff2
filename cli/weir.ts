#!/usr/bin/env node
// The single entry point of the image: `weir operator`, `weir agent`, and the tools around them.
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { Agent, removeProxyRouting } from '../agent/agent.js';
import { KernelDatapath } from '../agent/datapath/kernel.js';
import { removeOverlay } from '../agent/network/overlay.js';
import { NetnsCommands } from '../agent/network/ipcmd.js';
import { removeServiceTable } from '../agent/services/nftables.js';
import { removeNodeRules } from '../agent/network/noderules.js';
import { runHealthServers } from '../agent/services/health.js';
import { install as installCni, uninstall as uninstallCni } from '../agent/cni/install.js';
import { runPreflight } from '../agent/preflight/checks.js';
import { runL7Proxy } from '../agent/l7/main.js';
import { removeEncryption } from '../agent/encryption/encryption.js';
import { CGROUP2_ROOT } from '../sandbox/cgroup.js';
import { defaultSandboxDir, down, readState, up } from '../sandbox/up.js';
import { dumpMap, listMaps } from './maps.js';
import { formatPlan, planFromCluster, planFromDescription, readDescription } from './plan.js';
import { statusReport } from './status.js';
import { untilAborted } from '../common/abort.js';
import { cgroup2Root } from '../common/cgroup.js';
import { ConfigError, loadAgentConfig, loadOperatorConfig, splitHostPort } from '../common/config.js';
import { startHttpEndpoint } from '../common/http.js';
import { loadKubeConfig } from '../common/kube.js';
import { createLogger } from '../common/log.js';
import { Operator } from '../operator/operator.js';
import { LeaderElector } from '../common/runtime/leader.js';

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
  // An operator whose run fails while leading hands the Lease back and exits non-zero (restarted
  // by its Deployment), so a standby takes over instead of waiting behind a Lease nobody serves.
  const failed = new AbortController();
  const lead = (leading: AbortSignal): void => {
    leader.set(1);
    leadingNow = true;
    log.info({ identity }, 'leading: this replica writes NodeDatapath and Identity objects');
    // A failpoint for the test of this path (test/cluster/leader.cluster.test.ts): the run fails at once.
    const run = process.env.WEIR_FAILPOINT === 'operator-run' ? Promise.reject(new Error('failpoint operator-run')) : op.run(leading);
    running = run.then(
      () => {
        if (!leading.aborted) {
          log.error('operator stopped while leading; releasing the lease');
          failed.abort();
        }
      },
      (err: unknown) => {
        log.error({ err }, 'operator stopped with an error; releasing the lease');
        failed.abort();
      },
    );
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
    await elector.run(AbortSignal.any([signal, failed.signal]), {
      onStartedLeading: lead,
      onStoppedLeading: () => log.info('stopped leading'),
      onNewLeader: (who) => log.info({ leader: who }, 'another replica leads'),
    });
    await running;
    await http.close();
    // A replica that lost its lease without being asked to stop restarts rather than risk two writers.
    process.exitCode = signal.aborted && !failed.signal.aborted ? 0 : 1;
    return;
  }
  const standalone = new AbortController();
  lead(standalone.signal);
  await untilAborted(AbortSignal.any([signal, failed.signal]));
  standalone.abort();
  await running;
  await http.close();
  if (failed.signal.aborted) process.exitCode = 1;
}

/** Where the compiled BPF objects are: absolute, or relative to the package (dist/cli/..). */
/** A path relative to the install (the repository, or /app in the image). */
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
      tcAttach: opts.tcAttach,
      bpfObjectDir: opts.bpfObjectDir,
      cniSocket: opts.cniSocket,
      cniStateDir: opts.cniStateDir,
      cniConfDir: opts.cniConfDir,
      unavailableHooks: opts.unavailableHooks,
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
    tcAttach: cfg.tcAttach,
    resyncMs: cfg.resyncSeconds * 1000,
    conntrackGcMs: cfg.conntrackGcSeconds * 1000,
    cni: { socket: cfg.cniSocket, stateDir: cfg.cniStateDir, confDir: cfg.cniConfDir },
    unavailableHooks: cfg.unavailableHooks,
    metricsHost: splitHostPort(cfg.httpAddress).host,
  };
  if (opts.uninstall) {
    await uninstallNode(agentOpts, log, opts.cniBinDir as string | undefined);
    return;
  }
  const signal = shutdownSignal();
  const checks = runPreflight({ cgroupRoot: cfg.cgroupRoot });
  for (const c of checks) (c.ok ? (c.fallback ? log.warn.bind(log) : log.info.bind(log)) : log.error.bind(log))({ check: c.name }, c.fallback ?? c.detail);
  const failing = checks.filter((c) => !c.ok);
  if (failing.length > 0) throw new Error(`preflight failed: ${failing.map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const kc = loadKubeConfig(cfg.kubeconfig);
  const node = new Agent(kc, agentOpts, registry, log);
  const http = await startHttpEndpoint({ address: cfg.httpAddress, registry, readiness: { datapath: () => node.readiness() }, log });
  log.info({ node: cfg.nodeName, pinRoot: agentOpts.pinRoot, netns: agentOpts.netns, cgroup: agentOpts.cgroupPath }, 'agent running');
  await node.run(signal);
  // After the loop has stopped, so nothing re-attaches what is being removed.
  if (opts.uninstallOnStop) await uninstallNode(agentOpts, log, opts.cniBinDir as string | undefined);
  await http.close();
}

/**
 * Removes what an agent made on its node: every link and pin under the pin root, the encryption
 * state, the L7 proxy routing, the overlay device, the routes to other nodes, the nftables service
 * table, Weir's own netfilter rules, and (given the CNI binary directory) weir-cni from the node's
 * CNI configuration, the interface plugin's MTU as it was before.
 */
async function uninstallNode(agentOpts: { pinRoot: string; objectDir: string; netns: string | null; tcAttach: 'auto' | 'tcx' | 'legacy'; cni: { confDir: string } }, log: ReturnType<typeof createLogger>, cniBinDir?: string): Promise<void> {
  const removed = new KernelDatapath({ pinRoot: agentOpts.pinRoot, objectDir: agentOpts.objectDir, netns: agentOpts.netns, tcAttach: agentOpts.tcAttach }).uninstall();
  const xfrm = await removeEncryption(agentOpts.netns);
  await removeProxyRouting(agentOpts.netns);
  const routes = await removeOverlay(agentOpts.netns);
  const cmd = new NetnsCommands(agentOpts.netns);
  const serviceTable = await removeServiceTable(cmd);
  const nodeRules = await removeNodeRules(cmd);
  if (cniBinDir) uninstallCni({ binDir: cniBinDir, confDir: agentOpts.cni.confDir });
  log.info(
    { links: removed.links, pins: removed.pins, pinRoot: agentOpts.pinRoot, xfrmEntries: xfrm, routes, serviceTable, nodeRules, cni: cniBinDir ? agentOpts.cni.confDir : undefined },
    "uninstalled: every link and pin under the pin root, the encryption state, the L7 proxy routing, the overlay device, the routes to other nodes, the nftables service table and Weir's own netfilter rules removed",
  );
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
  .addOption(new Option('--tc-attach <mode>', 'TC attach: tcx links (6.6+) or cls_bpf filters; auto picks what the kernel has').choices(['auto', 'tcx', 'legacy']))
  .option('--bpf-object-dir <dir>', 'compiled BPF objects')
  .option('--cni-socket <path>', 'where weir-cni reaches this agent (default /run/weir/cni.sock)')
  .option('--cni-state-dir <dir>', 'where the pods weir-cni reported are kept (default /run/weir/cni)')
  .option('--cni-conf-dir <dir>', "the runtime's CNI configuration, where the pod MTU is kept (default /etc/cni/net.d)")
  .addOption(new Option('--unavailable-hooks <hook...>', 'socket hooks to treat as missing (to try the fallback on a kernel that has them)').choices(['connect4', 'sendmsg4']))
  .option('--uninstall', 'remove every program, link and pin this agent made, then exit')
  .option('--uninstall-on-stop', 'do what --uninstall does when stopped (SIGTERM), once the loop has stopped')
  .option('--cni-bin-dir <dir>', 'with --uninstall or --uninstall-on-stop: also take weir-cni out of the CNI configuration and this plugin directory')
  .action(agent);

program
  .command('l7-proxy')
  .description("the node's L7 proxy (started and fed by the agent; its state comes on stdin)")
  .requiredOption('--bpffs-root <dir>', "the agent's bpffs directory (the ipcache is read from it)")
  .option('--port <port>', 'proxy port (features.l7Proxy.port)', (v) => Number(v), 15001)
  .option('--metrics-address <host:port>', '/metrics', '127.0.0.1:9964')
  .option('--log-level <level>', 'log level', 'info')
  .action(async (opts: { bpffsRoot: string; port: number; metricsAddress: string; logLevel: string }) => {
    await runL7Proxy({ port: opts.port, bpffsRoot: opts.bpffsRoot, metricsAddress: opts.metricsAddress }, createLogger('l7-proxy', opts.logLevel, true));
  });

program
  .command('service-health')
  .description("the node's healthCheckNodePort servers (started and fed by the agent; the table comes on stdin)")
  .action(() => runHealthServers());

program
  .command('cni-install')
  .description("chain weir-cni into this node's CNI configuration (the agent DaemonSet's init container)")
  .option('--binary <path>', 'the weir-cni shim to install', objectDir('build/cni/weir-cni'))
  .option('--cni-bin-dir <dir>', "the runtime's CNI plugin directory", '/opt/cni/bin')
  .option('--cni-conf-dir <dir>', "the runtime's CNI configuration directory", '/etc/cni/net.d')
  .option('--cni-socket <path>', 'where weir-cni reaches the agent', '/run/weir/cni.sock')
  .option('--uninstall', 'take weir-cni out of the configuration and remove the shim')
  .action((opts: { binary: string; cniBinDir: string; cniConfDir: string; cniSocket: string; uninstall?: boolean }) => {
    if (opts.uninstall) {
      uninstallCni({ binDir: opts.cniBinDir, confDir: opts.cniConfDir });
      console.log(`weir-cni removed from ${opts.cniConfDir} and ${opts.cniBinDir}`);
      return;
    }
    const file = installCni({ binary: opts.binary, binDir: opts.cniBinDir, confDir: opts.cniConfDir, socket: opts.cniSocket });
    console.log(`weir-cni chained in ${file}, reaching the agent at ${opts.cniSocket}`);
  });

/** The kubeconfig to use: the flag, else the sandbox's while one is up, else the usual lookup. */
function commandKubeConfig(opts: { kubeconfig?: string; dir?: string }): KubeConfig {
  const state = readState(opts.dir ?? defaultSandboxDir());
  return loadKubeConfig(opts.kubeconfig ?? state?.cluster.kubeconfig ?? '');
}

function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (network namespaces, BPF programs and maps, cgroups); run it with sudo`);
}

program
  .command('up')
  .description('start the local sandbox: API server, nodes as namespaces, operator, agents and a demo')
  .option('--nodes <n>', 'number of nodes', (v) => Number(v), 2)
  .option('--dir <dir>', 'where the sandbox keeps its state, logs and kubeconfig', defaultSandboxDir())
  .action(async (opts: { nodes: number; dir: string }) => {
    needRoot('weir up');
    if (!Number.isInteger(opts.nodes) || opts.nodes < 2 || opts.nodes > 8) throw new Error('--nodes must be from 2 to 8 (the demo spans two nodes)');
    const failing = runPreflight({ cgroupRoot: CGROUP2_ROOT }).filter((c) => !c.ok);
    if (failing.length) throw new Error(`this host lacks what the datapath needs:\n  ${failing.map((c) => `${c.name}: ${c.detail}`).join('\n  ')}`);
    const t0 = Date.now();
    const { state, checks } = await up({ dir: opts.dir, nodes: opts.nodes, progress: (l) => process.stderr.write(`==> ${l}\n`) });
    const kc = loadKubeConfig(state.cluster.kubeconfig);
    process.stdout.write(`\nWeir sandbox up in ${Math.round((Date.now() - t0) / 1000)} s.\n\n${await statusReport(kc)}\n\nDemo traffic:\n`);
    for (const c of checks) process.stdout.write(`  ${c.what}\n    expected ${c.expected}; got ${c.got}\n`);
    process.stdout.write(
      [
        '',
        `kubectl:  export KUBECONFIG=${state.cluster.kubeconfig}; kubectl get nodedatapaths`,
        `metrics:  ${state.sandbox.nodes.map((n) => `http://127.0.0.1:${n.metricsPort}/metrics (${n.name})`).join('\n          ')}`,
        `maps:     weir map list --node ${state.sandbox.nodes[0]?.name ?? ''}`,
        `logs:     ${state.sandbox.logDir}`,
        'status:   weir status      (weir status --watch refreshes)',
        'remove:   weir down',
        '',
      ].join('\n'),
    );
  });

program
  .command('down')
  .description('remove the local sandbox and everything it made')
  .option('--dir <dir>', 'the sandbox state directory', defaultSandboxDir())
  .action((opts: { dir: string }) => {
    needRoot('weir down');
    for (const line of down(opts.dir)) process.stdout.write(`removed ${line}\n`);
  });

program
  .command('status')
  .description('configs, rollout, and per node: revision, programs, attachments, map fill')
  .option('--kubeconfig <path>', 'kubeconfig (default: the sandbox while it is up, then the usual lookup)')
  .option('--watch', 'refresh every 2 seconds')
  .action(async (opts: { kubeconfig?: string; watch?: boolean }) => {
    const kc = commandKubeConfig(opts);
    for (;;) {
      const report = await statusReport(kc).catch((e: unknown) => {
        throw new Error(`cannot read the cluster (${kc.getCurrentCluster()?.server ?? 'no server'}): ${e instanceof Error ? e.message : String(e)}`);
      });
      process.stdout.write(opts.watch ? `\x1b[2J\x1b[H${new Date().toISOString()}\n\n${report}\n` : `${report}\n`);
      if (!opts.watch) return;
      await new Promise((r) => setTimeout(r, 2000));
    }
  });

const maps = program.command('map').description("a node's pinned BPF maps (run on the node, as root)");
const pinRootOf = (opts: { bpffsRoot?: string; node?: string; dir?: string }): string => {
  if (opts.bpffsRoot) return opts.bpffsRoot;
  if (opts.node) {
    const n = readState(opts.dir ?? defaultSandboxDir())?.sandbox.nodes.find((x) => x.name === opts.node);
    if (!n) throw new Error(`no sandbox node ${opts.node} (weir status lists them)`);
    return n.pinRoot;
  }
  return loadAgentConfig({ flags: { nodeName: 'local' } }).bpffsRoot;
};
maps
  .command('list')
  .description('every map: type, max entries, entries, pressure')
  .option('--bpffs-root <dir>', "the agent's pin root (default /sys/fs/bpf/weir)")
  .option('--node <name>', 'a sandbox node')
  .action((opts: { bpffsRoot?: string; node?: string }) => {
    needRoot('weir map');
    process.stdout.write(`${listMaps(pinRootOf(opts))}\n`);
  });
maps
  .command('dump <name>')
  .description('every entry of one map, decoded (name with or without weir_)')
  .option('--bpffs-root <dir>', "the agent's pin root (default /sys/fs/bpf/weir)")
  .option('--node <name>', 'a sandbox node')
  .action((name: string, opts: { bpffsRoot?: string; node?: string }) => {
    needRoot('weir map');
    process.stdout.write(`${dumpMap(pinRootOf(opts), name)}\n`);
  });

program
  .command('plan')
  .description('capacity planner: map sizes per node and the demand on them, from a description or the live cluster')
  .option('-f, --file <description.yaml>', 'a description of the cluster (node types, services, policy size)')
  .option('--kubeconfig <path>', 'plan for the live cluster (default when no --file)')
  .action(async (opts: { file?: string; kubeconfig?: string }) => {
    const rows = opts.file ? planFromDescription(readDescription(opts.file)) : await planFromCluster(commandKubeConfig(opts));
    process.stdout.write(`${formatPlan(rows)}\n`);
    if (rows.some((r) => r.verdict !== 'ok')) process.exitCode = 1;
  });

program.command('preflight').description('check this host for what the agent needs').option('--cgroup-root <dir>', 'cgroup v2 mount (default: where this host mounts it)').action((opts: { cgroupRoot?: string }) => {
  const results = runPreflight({ cgroupRoot: opts.cgroupRoot ?? cgroup2Root() });
  for (const r of results) process.stdout.write(`${r.ok ? (r.fallback ? 'ok* ' : 'ok  ') : 'FAIL'}  ${r.name.padEnd(15)} ${r.fallback ?? r.detail}\n`);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
});

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`weir: ${e instanceof ConfigError ? e.message : e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
