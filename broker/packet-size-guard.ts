/**
 * Bounds the size of MQTT packets a client may send. Aedes 1 had no such limit:
 * its parser buffers a packet until it is complete, so one oversized PUBLISH
 * header would let a client make the broker hold gigabytes. This reads only
 * the fixed headers (type byte + remaining-length varint) as bytes stream by
 * and stops the connection as soon as a packet announces more than the limit.
 *
 * Two ways to stop: destroy the connection at once (the default; the
 * WebSocket gateway to Mosquitto), or hand the chunk that holds the oversized
 * header to the broker, read nothing more, and destroy after `handOverMs`
 * unless the broker closed it first. Aedes 2 with the same `maximumPacketSize`
 * answers an MQTT 5 client with DISCONNECT 0x95 (Packet too large) and drops a
 * 3.1.1 client, as before; the guard still bounds what is buffered.
 */
import { Duplex, Transform, type TransformCallback } from 'node:stream';

export class PacketTooLargeError extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(`MQTT packet of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'PacketTooLargeError';
  }
}

/** Incremental MQTT fixed-header scanner. */
export class PacketSizeScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private remaining = 0;

  constructor(private readonly maxBytes: number) {}

  /** Throws PacketTooLargeError (or Error for a malformed length) on the first bad header. */
  scan(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        if (this.multiplier > 128 ** 4) throw new Error('malformed MQTT remaining length');
        continue;
      }
      if (this.length > this.maxBytes) throw new PacketTooLargeError(this.length, this.maxBytes);
      this.remaining = this.length;
      this.state = this.remaining > 0 ? 'body' : 'type';
    }
  }
}

/** Bytes on the wire of a packet whose remaining length is `remaining` (type byte + varint + body). */
export function packetWireSize(remaining: number): number {
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remaining;
}

class GuardTransform extends Transform {
  private readonly scanner: PacketSizeScanner;
  /** Set once a packet was too large in hand-over mode: later bytes are dropped. */
  tripped: PacketTooLargeError | undefined;

  constructor(maxBytes: number, private readonly handOver: boolean) {
    super();
    this.scanner = new PacketSizeScanner(maxBytes);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.tripped) {
      callback();
      return;
    }
    try {
      this.scanner.scan(chunk);
      callback(null, chunk);
    } catch (err) {
      if (this.handOver && err instanceof PacketTooLargeError) {
        this.tripped = err;
        this.emit('tooLarge', err);
        callback(null, chunk); // the broker sees the header and answers; nothing after this chunk reaches it
        return;
      }
      callback(err as Error);
    }
  }
}

export interface GuardOptions {
  /**
   * 0 (default): destroy the connection at the oversized header. Above 0: pass
   * that chunk on so the broker can refuse the packet itself, stop reading, and
   * destroy the connection after this many milliseconds if it is still open.
   */
  handOverMs?: number;
}

/**
 * Wraps a client connection so that inbound bytes pass the size check;
 * outbound writes go straight to the connection.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, options: GuardOptions = {}): Duplex {
  const handOverMs = options.handOverMs ?? 0;
  const guard = new GuardTransform(maxBytes, handOverMs > 0);
  conn.pipe(guard);
  const guarded = Duplex.from({ readable: guard, writable: conn });
  let backstop: NodeJS.Timeout | undefined;
  guard.on('tooLarge', (err: PacketTooLargeError) => {
    conn.unpipe(guard);
    conn.pause();
    backstop = setTimeout(() => {
      guarded.destroy(err);
      conn.destroy();
    }, handOverMs);
  });
  guard.on('error', (err) => {
    guarded.destroy(err);
    conn.destroy();
  });
  conn.on('error', (err) => guarded.destroy(err));
  conn.on('close', () => {
    clearTimeout(backstop);
    guarded.destroy();
  });
  guarded.on('close', () => conn.destroy());
  return guarded;
}
