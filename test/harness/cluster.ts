// The test side of the local cluster: one per test file, started before its tests.
import { LocalCluster, type ClusterOptions } from '../../sandbox/cluster.js';

export { clusterBinaries, LocalCluster as TestCluster } from '../../sandbox/cluster.js';

/**
 * One cluster for a test file: started before its tests (first run builds the binaries, hence
 * the long timeout), optionally prepared by `setup`, and stopped after them.
 */
export function useTestCluster(setup?: (c: LocalCluster) => Promise<void>, opts?: ClusterOptions): () => LocalCluster {
  let cluster: LocalCluster | undefined;
  beforeAll(async () => {
    cluster = await LocalCluster.start(opts);
    await setup?.(cluster);
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('test cluster is not running');
    return cluster;
  };
}
