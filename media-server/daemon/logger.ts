/** The one root logger: JSON when not on a terminal, readable lines on one. */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export function createLogger(level: string, format: 'auto' | 'json' | 'pretty' = 'auto', stream: NodeJS.WritableStream = process.stderr): Logger {
  const usePretty = format === 'pretty' || (format === 'auto' && (stream as NodeJS.WriteStream).isTTY === true);
  if (usePretty) {
    return pino({ level }, pretty({ destination: stream, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
  }
  return pino({ level, base: undefined }, stream);
}
