/**
 * Per-message latency and throughput of one message path (publisher → broker →
 * subscriber, or a bare WebSocket), with synthetic fMP4-sized messages that
 * carry their send time. Sender and receiver live in this process, so one
 * monotonic clock stamps both ends.
 */
export interface MessagePath {
  send(data: Buffer): void;
  /** Sets (replaces) the receiver's handler. */
  onMessage(handler: (data: Buffer) => void): void;
  close(): Promise<void>;
}

/** A message of `size` bytes shaped like a fragment: one `mdat` box holding [send time f64][seq u32][filler]. */
export function syntheticFragment(size: number, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32BE(size, 0);
  buf.write('mdat', 4, 'latin1');
  buf.writeDoubleBE(performance.now(), 8);
  buf.writeUInt32BE(seq, 16);
  for (let i = 20; i + 4 <= size; i += 4) buf.writeUInt32BE((seq * 2654435761 + i) >>> 0, i);
  return buf;
}

export interface PathResult {
  latencyMs: number[];
  sent: number;
  received: number;
  /** Received bytes / (last receive − first send), MB/s (10^6). */
  mbPerS?: number;
  timedOut: boolean;
}

/**
 * Sends `count` messages of `size` bytes, `perSecond` a second (Infinity: all at
 * once), and waits for them until `timeBoxMs` after the first send.
 */
export async function measurePath(path: MessagePath, size: number, count: number, perSecond: number, timeBoxMs: number): Promise<PathResult> {
  const latencyMs: number[] = [];
  let received = 0;
  let bytes = 0;
  let lastRecv = 0;
  let resolveAll: (() => void) | undefined;
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  path.onMessage((data) => {
    const now = performance.now();
    if (data.byteLength < 20 || data.toString('latin1', 4, 8) !== 'mdat') return;
    latencyMs.push(now - data.readDoubleBE(8));
    received++;
    bytes += data.byteLength;
    lastRecv = now;
    if (received >= count) resolveAll?.();
  });
  const firstSend = performance.now();
  const deadline = firstSend + timeBoxMs;
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const sending = (async () => {
    for (; sent < count && performance.now() < deadline; sent++) {
      if (Number.isFinite(perSecond)) {
        const due = firstSend + (sent * 1000) / perSecond;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      path.send(syntheticFragment(size, sent));
    }
  })();
  const boxed = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeBoxMs);
  });
  const outcome = await Promise.race([all.then(() => 'done' as const), boxed]);
  clearTimeout(timer);
  await sending;
  const span = lastRecv - firstSend;
  return { latencyMs, sent, received, mbPerS: received > 0 && span > 0 ? bytes / 1e6 / (span / 1000) : undefined, timedOut: outcome === 'timeout' };
}
