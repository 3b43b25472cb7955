/**
 * One FIFO of operations per SourceBuffer (model: hls.js buffer-operation-queue).
 * One operation at a time; the next starts on `updateend`. A failing operation is
 * reported through `onError` and the queue moves on. QuotaExceededError evicts the
 * back buffer and retries once. An append watchdog reports appends that never end.
 * The queue is bounded: when full, queued fragments are dropped up to the next
 * sync fragment, so it never grows and decoding always resumes on a keyframe.
 */

export interface TimeRangesLike {
  readonly length: number;
  start(index: number): number;
  end(index: number): number;
}

/** The part of `SourceBuffer` the queue uses; tests supply a fake. */
export interface SourceBufferLike {
  readonly updating: boolean;
  readonly buffered: TimeRangesLike;
  appendBuffer(data: Uint8Array<ArrayBuffer>): void;
  remove(start: number, end: number): void;
  abort(): void;
  addEventListener(type: 'updateend' | 'error', listener: () => void): void;
  removeEventListener(type: 'updateend' | 'error', listener: () => void): void;
}

export type OperationKind = 'init' | 'fragment' | 'remove';

export interface AppendQueueError {
  operation: OperationKind;
  /** `QuotaExceededError`, `InvalidStateError`, `TimeoutError`, `DecodeError`, ... */
  name: string;
  message: string;
  cause?: unknown;
}

export interface AppendQueueOptions {
  /** Media time of the playhead, for back-buffer eviction. */
  currentTime: () => number;
  onError: (error: AppendQueueError) => void;
  /** Fragments dropped because the queue was full or was waiting for a sync fragment. */
  onDrop?: (count: number) => void;
  /** Bound on queued (not yet appended) fragments. */
  maxFragments?: number;
  /** An append or remove that has not ended after this long is reported and aborted. */
  appendTimeoutMs?: number;
  /** Seconds kept behind the playhead when evicting after QuotaExceededError. */
  backBufferS?: number;
}

type Operation =
  | { kind: 'init' | 'fragment'; data: Uint8Array<ArrayBuffer>; sync: boolean; retried: boolean }
  | { kind: 'remove'; start: number; end: number };

export const DEFAULT_MAX_FRAGMENTS = 60;
export const DEFAULT_APPEND_TIMEOUT_MS = 5000;
export const DEFAULT_BACK_BUFFER_S = 2.5;

export class AppendQueue {
  private readonly queue: Operation[] = [];
  private current: Operation | null = null;
  /** The running operation was reported failed by an `error` event. */
  private currentFailed = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private waitForSync = false;
  private destroyed = false;
  private drainWaiters: Array<() => void> = [];
  private readonly maxFragments: number;
  private readonly appendTimeoutMs: number;
  private readonly backBufferS: number;
  /** Fragments appended successfully. */
  appended = 0;
  /** Fragments dropped without being appended. */
  dropped = 0;

  constructor(
    private readonly sb: SourceBufferLike,
    private readonly options: AppendQueueOptions,
  ) {
    this.maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    this.appendTimeoutMs = options.appendTimeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS;
    this.backBufferS = options.backBufferS ?? DEFAULT_BACK_BUFFER_S;
    sb.addEventListener('updateend', this.onUpdateEnd);
    sb.addEventListener('error', this.onSourceBufferError);
  }

  /** Queued fragments, not counting one being appended. */
  get pendingFragments(): number {
    return this.queue.filter((op) => op.kind === 'fragment').length;
  }

  /** Whether nothing is queued or running. */
  get idle(): boolean {
    return this.current === null && this.queue.length === 0;
  }

  appendInit(data: Uint8Array<ArrayBuffer>): void {
    if (this.destroyed) return;
    this.queue.push({ kind: 'init', data, sync: true, retried: false });
    this.next();
  }

  /** Queues a fragment; returns false when it was dropped instead. */
  appendFragment(data: Uint8Array<ArrayBuffer>, sync: boolean): boolean {
    if (this.destroyed) return false;
    if (this.waitForSync && !sync) {
      this.drop(1);
      return false;
    }
    this.waitForSync = false;
    if (this.pendingFragments >= this.maxFragments && !this.makeRoom(sync)) {
      this.drop(1);
      return false;
    }
    this.queue.push({ kind: 'fragment', data, sync, retried: false });
    this.next();
    return true;
  }

  /** Queues removal of [start, end); merges with a removal still waiting in the queue. */
  remove(start: number, end: number): void {
    if (this.destroyed || !(end - start > 0.01)) return;
    const waiting = this.queue.find((op) => op.kind === 'remove');
    if (waiting && waiting.kind === 'remove') {
      waiting.start = Math.min(waiting.start, start);
      waiting.end = Math.max(waiting.end, end);
      return;
    }
    this.queue.push({ kind: 'remove', start, end });
    this.next();
  }

  /** Resolves when the queue has nothing queued or running (or is destroyed). */
  whenDrained(): Promise<void> {
    if (this.idle || this.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.clearWatchdog();
    this.queue.length = 0;
    this.current = null;
    this.sb.removeEventListener('updateend', this.onUpdateEnd);
    this.sb.removeEventListener('error', this.onSourceBufferError);
    this.resolveDrained();
  }

  /**
   * Frees room for one more fragment by dropping queued fragments up to the next
   * sync fragment. Returns false when the incoming fragment must be dropped too.
   */
  private makeRoom(incomingSync: boolean): boolean {
    const fragments = this.queue.filter((op) => op.kind === 'fragment');
    const nextSync = fragments.findIndex((op, i) => i > 0 && op.kind === 'fragment' && op.sync);
    const doomed = new Set<Operation>(nextSync > 0 ? fragments.slice(0, nextSync) : fragments);
    this.removeFromQueue(doomed);
    this.drop(doomed.size);
    if (nextSync > 0 || incomingSync) return true;
    this.waitForSync = true;
    return false;
  }

  private removeFromQueue(doomed: Set<Operation>): void {
    const kept = this.queue.filter((op) => !doomed.has(op));
    this.queue.length = 0;
    this.queue.push(...kept);
  }

  private drop(count: number): void {
    if (count <= 0) return;
    this.dropped += count;
    this.options.onDrop?.(count);
  }

  private next(): void {
    while (!this.destroyed && this.current === null && !this.sb.updating) {
      const op = this.queue.shift();
      if (!op) {
        this.resolveDrained();
        return;
      }
      this.current = op;
      this.currentFailed = false;
      try {
        if (op.kind === 'remove') this.sb.remove(op.start, op.end);
        else this.sb.appendBuffer(op.data);
        this.armWatchdog(op);
      } catch (err) {
        this.current = null;
        this.onSyncFailure(op, err);
      }
    }
  }

  private onSyncFailure(op: Operation, err: unknown): void {
    const name = errorName(err);
    if (name === 'QuotaExceededError' && op.kind !== 'remove' && !op.retried) {
      const evict = this.evictableRange();
      if (evict) {
        this.queue.unshift({ kind: 'remove', ...evict }, { ...op, retried: true });
        return;
      }
    }
    this.report(op.kind, name, errorMessage(err), err);
  }

  /** Back buffer that may go: from the first buffered time to `backBufferS` behind the playhead. */
  private evictableRange(): { start: number; end: number } | null {
    const buffered = this.sb.buffered;
    if (buffered.length === 0) return null;
    const start = buffered.start(0);
    const end = this.options.currentTime() - this.backBufferS;
    return end - start > 0.1 ? { start, end } : null;
  }

  private readonly onUpdateEnd = (): void => {
    // An `updateend` queued by abort() may fire while the next operation runs: ignore it.
    if (this.destroyed || this.sb.updating) return;
    const op = this.current;
    this.current = null;
    this.clearWatchdog();
    if (op && op.kind === 'fragment' && !this.currentFailed) this.appended++;
    this.next();
  };

  private readonly onSourceBufferError = (): void => {
    const op = this.current;
    this.currentFailed = true;
    this.report(op?.kind ?? 'fragment', 'DecodeError', 'the browser could not parse or decode the appended media');
  };

  private armWatchdog(op: Operation): void {
    this.clearWatchdog();
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      if (this.current !== op || this.destroyed) return;
      this.current = null;
      this.report(op.kind, 'TimeoutError', `${op.kind} did not finish within ${this.appendTimeoutMs} ms`);
      try {
        this.sb.abort();
      } catch (err) {
        this.report(op.kind, errorName(err), `abort after timeout failed: ${errorMessage(err)}`, err);
      }
      this.next();
    }, this.appendTimeoutMs);
  }

  private clearWatchdog(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private report(operation: OperationKind, name: string, message: string, cause?: unknown): void {
    if (this.destroyed) return;
    this.options.onError({ operation, name, message, cause });
  }

  private resolveDrained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function errorName(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'name' in err && typeof err.name === 'string') return err.name;
  return 'Error';
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err !== null && typeof err === 'object' && 'message' in err && typeof err.message === 'string') return err.message;
  return String(err);
}
