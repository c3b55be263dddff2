// The control-plane benchmark's stopwatch, on its own thread: the main thread hosts 98 hollow
// agents and is too busy to notice promptly when NodeDatapaths change. Waits for the start time,
// then lists NodeDatapaths until every affected node reports the new revision programmed, and
// posts when the operator had written them all, when the real nodes were done, and when all were.
import { parentPort, workerData } from 'node:worker_threads';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { NodeDatapathResource, gvr, type NodeDatapath, type Stored } from '../api/v1alpha1/index.js';

export interface WatchInput {
  kubeconfigPath: string;
  affected: string[];
  real: string[];
  before: Record<string, number>;
  timeoutMs: number;
}
export interface WatchMarks {
  written?: number;
  real?: number;
  all?: number;
  error?: string;
}
export type Ndp = Stored<NodeDatapath>;

const input = workerData as WatchInput;
const kc = new KubeConfig();
kc.loadFromFile(input.kubeconfigPath);
const api = kc.makeApiClient(CustomObjectsApi);
const affected = new Set(input.affected);
const real = new Set(input.real);

parentPort?.once('message', (start: number) => {
  void (async () => {
    const marks: WatchMarks = {};
    while (marks.all === undefined && Date.now() - start < input.timeoutMs) {
      try {
        const items = ((await api.listClusterCustomObject({ ...gvr(NodeDatapathResource), })) as { items: Ndp[] }).items;
        const at = Date.now() - start;
        const changed = items.filter((d) => affected.has(d.metadata.name) && d.spec.revision !== input.before[d.metadata.name]);
        const done = changed.filter((d) => d.status?.observedRevision === d.spec.revision);
        if (changed.length === affected.size) marks.written ??= at;
        if (done.filter((d) => real.has(d.metadata.name)).length === real.size) marks.real ??= at;
        if (done.length === affected.size) marks.all ??= at;
      } catch (err) {
        // An API server that refuses is asked again shortly, not in a tight loop.
        marks.error = String(err);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    parentPort?.postMessage(marks);
  })();
});
