import { setTimeout as delay } from 'node:timers/promises';

export interface WaitForOptions {
  /** Give up after this long (default 20 000 ms). */
  timeoutMs?: number;
  /** Pause between polls (default 50 ms). */
  intervalMs?: number;
  /** Included in the timeout error to say what was being waited for. */
  message?: string;
}

type Falsy = undefined | null | false | 0 | '';

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return delay(ms);
}

/**
 * Polls `fn` until it returns (or resolves to) a truthy value, and resolves with it.
 * Errors thrown by `fn` count as "not yet" and the last one is reported on timeout.
 */
export async function waitFor<T>(
  fn: () => T | Falsy | Promise<T | Falsy>,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const remaining = deadline - Date.now();
    try {
      const result = await withDeadline(Promise.resolve().then(fn), Math.max(remaining, 1));
      if (result.done && result.value) return result.value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = opts.message ? `: ${opts.message}` : '';
      const why = lastError === undefined ? '' : ` (last error: ${describeError(lastError)})`;
      throw new Error(`waitFor timed out after ${timeoutMs} ms and ${attempts} attempts${what}${why}`);
    }
    await delay(Math.min(intervalMs, Math.max(deadline - Date.now(), 0)));
  }
}

async function withDeadline<V>(p: Promise<V>, ms: number): Promise<{ done: boolean; value?: V }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: boolean }>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
  });
  try {
    return await Promise.race([p.then((value) => ({ done: true, value })), timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
