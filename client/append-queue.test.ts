import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AppendQueue,
  type AppendQueueError,
  type AppendQueueOptions,
  type SourceBufferLike,
  type TimeRangesLike,
} from './append-queue.js';

type Plan = { throws: string } | 'hang' | 'ok';

/**
 * A SourceBuffer stand-in: operations stay `updating` until the test calls
 * finish() or fail(), so tests control exactly when `updateend` fires.
 */
class FakeSourceBuffer extends EventTarget implements SourceBufferLike {
  updating = false;
  ranges: Array<[number, number]> = [];
  /** Log of started operations: appended payload tags and removals. */
  log: string[] = [];
  /** Planned outcomes of the next appendBuffer calls (default: 'ok'). */
  plans: Plan[] = [];
  aborts = 0;
  listeners = 0;

  get buffered(): TimeRangesLike {
    const r = this.ranges;
    return { length: r.length, start: (i) => r[i]![0], end: (i) => r[i]![1] };
  }

  appendBuffer(data: Uint8Array<ArrayBuffer>): void {
    if (this.updating) throw domError('InvalidStateError', 'appendBuffer while updating');
    const plan = this.plans.shift() ?? 'ok';
    if (typeof plan === 'object') throw domError(plan.throws, `planned ${plan.throws}`);
    this.updating = true;
    this.log.push(tag(data));
  }

  remove(start: number, end: number): void {
    if (this.updating) throw domError('InvalidStateError', 'remove while updating');
    this.updating = true;
    this.log.push(`remove ${start}-${end}`);
  }

  abort(): void {
    this.aborts++;
    this.updating = false;
  }

  /** Completes the running operation. */
  finish(): void {
    if (!this.updating) throw new Error('nothing to finish');
    this.updating = false;
    this.dispatchEvent(new Event('updateend'));
  }

  /** Fails the running operation the way a decode error does: `error`, then `updateend`. */
  fail(): void {
    this.updating = false;
    this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new Event('updateend'));
  }

  override addEventListener(type: string, listener: () => void): void {
    this.listeners++;
    super.addEventListener(type, listener);
  }

  override removeEventListener(type: string, listener: () => void): void {
    this.listeners--;
    super.removeEventListener(type, listener);
  }
}

function domError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

function bytes(label: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(label) as Uint8Array<ArrayBuffer>;
}

function tag(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

function makeQueue(options: Partial<AppendQueueOptions> = {}) {
  const sb = new FakeSourceBuffer();
  const errors: AppendQueueError[] = [];
  const drops: number[] = [];
  let currentTime = 0;
  const queue = new AppendQueue(sb, {
    currentTime: () => currentTime,
    onError: (e) => errors.push(e),
    onDrop: (n) => drops.push(n),
    ...options,
  });
  return { sb, queue, errors, drops, setTime: (t: number) => (currentTime = t) };
}

/** Finishes operations until the queue is idle; returns how many it finished. */
function drain(sb: FakeSourceBuffer): number {
  let n = 0;
  while (sb.updating) {
    sb.finish();
    n++;
  }
  return n;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('AppendQueue ordering', () => {
  it('runs one operation at a time, in order, starting the next on updateend', () => {
    const { sb, queue, errors } = makeQueue();
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('f1'), true);
    queue.appendFragment(bytes('f2'), false);
    expect(sb.log).toEqual(['init']);
    expect(queue.pendingFragments).toBe(2);
    sb.finish();
    expect(sb.log).toEqual(['init', 'f1']);
    sb.finish();
    expect(sb.log).toEqual(['init', 'f1', 'f2']);
    sb.finish();
    expect(queue.idle).toBe(true);
    expect(queue.appended).toBe(2);
    expect(errors).toEqual([]);
  });

  it('resolves whenDrained only after the last operation ended', async () => {
    const { sb, queue } = makeQueue();
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('f1'), true);
    let drained = false;
    const done = queue.whenDrained().then(() => (drained = true));
    sb.finish();
    await Promise.resolve();
    expect(drained).toBe(false);
    sb.finish();
    await done;
    expect(drained).toBe(true);
  });

  it('merges back-buffer removals that wait in the queue', () => {
    const { sb, queue } = makeQueue();
    queue.appendInit(bytes('init'));
    queue.remove(0, 2);
    queue.remove(1, 4);
    queue.remove(3, 3); // empty: ignored
    drain(sb);
    expect(sb.log).toEqual(['init', 'remove 0-4']);
  });
});

describe('AppendQueue errors', () => {
  it('reports an append that throws and goes on with the next operation', () => {
    const { sb, queue, errors } = makeQueue();
    sb.plans = ['ok', { throws: 'InvalidStateError' }];
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('bad'), true);
    queue.appendFragment(bytes('f2'), false);
    sb.finish();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ operation: 'fragment', name: 'InvalidStateError' });
    expect(sb.log).toEqual(['init', 'f2']);
    sb.finish();
    expect(queue.appended).toBe(1);
  });

  it('reports a decode error (error event) and does not count the fragment as appended', () => {
    const { sb, queue, errors } = makeQueue();
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('f1'), true);
    queue.appendFragment(bytes('f2'), false);
    sb.finish();
    sb.fail();
    expect(errors.map((e) => [e.operation, e.name])).toEqual([['fragment', 'DecodeError']]);
    expect(sb.log).toEqual(['init', 'f1', 'f2']);
    sb.finish();
    expect(queue.appended).toBe(1);
  });

  it('on QuotaExceededError removes the back buffer and retries the append once', () => {
    const { sb, queue, errors, setTime } = makeQueue({ backBufferS: 2.5 });
    sb.ranges = [[0, 10]];
    setTime(8);
    sb.plans = [{ throws: 'QuotaExceededError' }];
    queue.appendFragment(bytes('f1'), true);
    expect(sb.log).toEqual(['remove 0-5.5']);
    sb.finish();
    expect(sb.log).toEqual(['remove 0-5.5', 'f1']);
    sb.finish();
    expect(errors).toEqual([]);
    expect(queue.appended).toBe(1);
  });

  it('reports QuotaExceededError when the retry fails too, then continues', () => {
    const { sb, queue, errors, setTime } = makeQueue();
    sb.ranges = [[0, 10]];
    setTime(8);
    sb.plans = [{ throws: 'QuotaExceededError' }, { throws: 'QuotaExceededError' }];
    queue.appendFragment(bytes('f1'), true);
    queue.appendFragment(bytes('f2'), false);
    sb.finish(); // the removal
    expect(errors.map((e) => e.name)).toEqual(['QuotaExceededError']);
    expect(sb.log).toEqual(['remove 0-5.5', 'f2']);
  });

  it('reports QuotaExceededError at once when there is no back buffer to evict', () => {
    const { sb, queue, errors, setTime } = makeQueue();
    sb.ranges = [[7, 10]];
    setTime(8);
    sb.plans = [{ throws: 'QuotaExceededError' }];
    queue.appendFragment(bytes('f1'), true);
    expect(errors.map((e) => e.name)).toEqual(['QuotaExceededError']);
    expect(sb.log).toEqual([]);
  });

  it('reports an append that never ends, aborts it and moves on', () => {
    vi.useFakeTimers();
    const { sb, queue, errors } = makeQueue({ appendTimeoutMs: 1000 });
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('f1'), true);
    vi.advanceTimersByTime(999);
    expect(errors).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(errors.map((e) => [e.operation, e.name])).toEqual([['init', 'TimeoutError']]);
    expect(sb.aborts).toBe(1);
    expect(sb.log).toEqual(['init', 'f1']);
    // The updateend that abort() queues arrives while f1 runs: it must not end f1.
    sb.dispatchEvent(new Event('updateend'));
    expect(sb.updating).toBe(true);
    expect(queue.idle).toBe(false);
    expect(queue.appended).toBe(0);
    queue.appendFragment(bytes('f2'), false);
    expect(sb.log).toEqual(['init', 'f1']);
    sb.finish();
    expect(sb.log).toEqual(['init', 'f1', 'f2']);
    expect(errors).toHaveLength(1);
  });
});

describe('AppendQueue bound', () => {
  it('when full, drops queued fragments up to the next sync fragment', () => {
    const { sb, queue, drops } = makeQueue({ maxFragments: 4 });
    queue.appendInit(bytes('init')); // stays updating: fragments pile up
    queue.appendFragment(bytes('A'), true);
    queue.appendFragment(bytes('b'), false);
    queue.appendFragment(bytes('c'), false);
    queue.appendFragment(bytes('D'), true);
    expect(queue.pendingFragments).toBe(4);
    expect(queue.appendFragment(bytes('e'), false)).toBe(true);
    expect(drops).toEqual([3]);
    expect(queue.pendingFragments).toBe(2);
    drain(sb);
    expect(sb.log).toEqual(['init', 'D', 'e']);
    expect(queue.dropped).toBe(3);
  });

  it('with no sync fragment queued, drops everything until a sync fragment arrives', () => {
    const { sb, queue } = makeQueue({ maxFragments: 3 });
    queue.appendInit(bytes('init'));
    for (const f of ['a', 'b', 'c']) queue.appendFragment(bytes(f), false);
    expect(queue.appendFragment(bytes('d'), false)).toBe(false);
    expect(queue.appendFragment(bytes('e'), false)).toBe(false);
    expect(queue.appendFragment(bytes('F'), true)).toBe(true);
    queue.appendFragment(bytes('g'), false);
    drain(sb);
    expect(sb.log).toEqual(['init', 'F', 'g']);
    expect(queue.dropped).toBe(5);
  });

  it('keeps an incoming sync fragment when the full queue has none', () => {
    const { sb, queue } = makeQueue({ maxFragments: 2 });
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('a'), false);
    queue.appendFragment(bytes('b'), false);
    expect(queue.appendFragment(bytes('C'), true)).toBe(true);
    drain(sb);
    expect(sb.log).toEqual(['init', 'C']);
  });

  it('never holds more than the bound', () => {
    const { queue } = makeQueue({ maxFragments: 5 });
    queue.appendInit(bytes('init'));
    for (let i = 0; i < 100; i++) {
      queue.appendFragment(bytes(`f${i}`), i % 7 === 0);
      expect(queue.pendingFragments).toBeLessThanOrEqual(5);
    }
  });
});

describe('AppendQueue destroy', () => {
  it('stops all work, removes its listeners and ignores later calls', async () => {
    vi.useFakeTimers();
    const { sb, queue, errors } = makeQueue({ appendTimeoutMs: 100 });
    queue.appendInit(bytes('init'));
    queue.appendFragment(bytes('f1'), true);
    expect(sb.listeners).toBe(2);
    queue.destroy();
    expect(sb.listeners).toBe(0);
    expect(queue.appendFragment(bytes('f2'), true)).toBe(false);
    queue.remove(0, 10);
    sb.finish();
    vi.advanceTimersByTime(1000);
    expect(sb.log).toEqual(['init']);
    expect(errors).toEqual([]);
    await expect(queue.whenDrained()).resolves.toBeUndefined();
    queue.destroy(); // twice is harmless
  });
});
