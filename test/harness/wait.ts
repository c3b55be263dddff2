export { eventually } from '../../sandbox/wait.js';
