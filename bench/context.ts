/**
 * What every scenario gets: the mode, the recorder, and a cleanup registry
 * through which every process, server and client a scenario starts is
 * closed — after the scenario, on error, and on SIGINT.
 */
import type { Recorder } from './report.js';

export interface Closeable {
  close(): Promise<void>;
}

const CLOSE_TIMEOUT_MS = 15_000;

export class Cleanup {
  private items: Array<{ name: string; item: Closeable }> = [];

  constructor(private readonly log: (msg: string) => void) {}

  /** Registers something to close later; returns it. */
  add<T extends Closeable>(name: string, item: T): T {
    this.items.push({ name, item });
    return item;
  }

  /** Closes one registered item now. */
  async close(item: Closeable): Promise<void> {
    const i = this.items.findIndex((x) => x.item === item);
    if (i < 0) return;
    const [entry] = this.items.splice(i, 1);
    await this.closeOne(entry!);
  }

  /** Closes everything registered, newest first; failures are logged, never thrown. */
  async closeAll(): Promise<void> {
    while (this.items.length > 0) await this.closeOne(this.items.pop()!);
  }

  get size(): number {
    return this.items.length;
  }

  private async closeOne(entry: { name: string; item: Closeable }): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
    });
    try {
      const result = await Promise.race([entry.item.close().then(() => 'ok' as const), timeout]);
      if (result === 'timeout') this.log(`cleanup: closing ${entry.name} took over ${CLOSE_TIMEOUT_MS} ms; moving on`);
    } catch (err) {
      this.log(`cleanup: closing ${entry.name} failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface ScenarioContext {
  quick: boolean;
  rec: Recorder;
  cleanup: Cleanup;
  log(msg: string): void;
  /** Aborted when the scenario runs out of time or the bench is interrupted. */
  signal: AbortSignal;
  /** Waits `ms`; rejects at once when `signal` is aborted. */
  sleep(ms: number): Promise<void>;
}

/** A sleep that an AbortSignal cuts short (with a rejection), so long waits end with their scenario. */
export function abortableSleep(signal: AbortSignal): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error('aborted'));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
}

export interface Scenario {
  name: string;
  description: string;
  /** Seconds this scenario may run, when it needs more than the run's default per-scenario limit. */
  timeLimitS?: { quick: number; full: number };
  run(ctx: ScenarioContext): Promise<void>;
}
