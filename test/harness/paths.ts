export { repoRoot } from '../../sandbox/paths.js';
