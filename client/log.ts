/**
 * A small prefixed logger for the browser. Quiet by default so the console
 * stays clean; enabled with `?debug` in the page URL (or `debug: true`).
 */
export interface Logger {
  debug(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
  child(name: string): Logger;
}

export type LogSink = (level: 'debug' | 'info' | 'warn' | 'error', line: string, details: unknown[]) => void;

const consoleSink: LogSink = (level, line, details) => {
  console[level](line, ...details);
};

export function createLogger(name: string, enabled: boolean, sink: LogSink = consoleSink): Logger {
  const emit =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, ...details: unknown[]): void => {
      if (enabled) sink(level, `[mqttcast:${name}] ${message}`, details);
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (sub: string) => createLogger(`${name}:${sub}`, enabled, sink),
  };
}

/** Whether the page was opened with `?debug` (or `?debug=1`). */
export function debugRequested(search: string): boolean {
  const value = new URLSearchParams(search).get('debug');
  return value !== null && value !== '0' && value !== 'false';
}
