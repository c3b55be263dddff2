import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout, one line per event, with the component on every line. */
export function createLogger(component: 'operator' | 'agent' | 'l7-proxy' | 'cli', level = 'info'): Logger {
  return pino({
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
