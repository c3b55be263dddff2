import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout, one line per event, with the component on every line. `buffered`: written
 * asynchronously, off the request path (the L7 proxy's access log, a line per request).
 */
export function createLogger(component: 'operator' | 'agent' | 'l7-proxy' | 'cli', level = 'info', buffered = false): Logger {
  return pino(
    {
      level,
      base: { component },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    buffered ? pino.destination({ dest: 1, sync: false }) : undefined,
  );
}
