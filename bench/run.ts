// One command for every benchmark: `npm run bench` (or `bash bench/run.sh`). `npm run bench --
// datapath` runs one by name.
import { benchControlPlane } from './controlplane.js';
import { benchDatapath } from './datapath.js';
import { benchEncryption } from './encryption.js';
import { benchFootprint } from './footprint.js';
import { benchL7 } from './l7.js';
import { benchMapOps } from './mapops.js';
import { benchOverlay } from './overlay.js';
import { benchResize } from './resize.js';
import { benchServices } from './services.js';

const all: Record<string, () => Promise<unknown>> = { datapath: benchDatapath, services: benchServices, mapops: benchMapOps, resize: benchResize, controlplane: benchControlPlane, encryption: benchEncryption, footprint: benchFootprint, l7: benchL7, overlay: benchOverlay };
const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(all)) {
  const fn = all[name];
  if (!fn) throw new Error(`unknown benchmark ${name}; have: ${Object.keys(all).join(', ')}`);
  await fn();
}
