/**
 * Waits for the JSON reply to one request on the reply topic, matched by
 * `request_id` (a reply without one matches too), with a timeout.
 */
import type { ReplyMessage } from './replies.js';

export type WaitResult = ReplyMessage | 'timeout' | 'cancelled';

export class ReplyWaiter {
  private pending: { requestId: string; finish: (result: WaitResult) => void } | null = null;

  /** Starts waiting for the reply to `requestId`; an earlier wait is cancelled. */
  expect(requestId: string, timeoutMs: number): Promise<WaitResult> {
    this.cancel();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      const finish = (result: WaitResult): void => {
        clearTimeout(timer);
        if (this.pending?.finish === finish) this.pending = null;
        resolve(result);
      };
      this.pending = { requestId, finish };
    });
  }

  /** Offers a reply; returns true when it answered the pending request. */
  offer(msg: ReplyMessage): boolean {
    const pending = this.pending;
    if (!pending || msg.kind === 'unknown') return false;
    if (msg.requestId !== undefined && msg.requestId !== pending.requestId) return false;
    pending.finish(msg);
    return true;
  }

  cancel(): void {
    this.pending?.finish('cancelled');
  }
}
