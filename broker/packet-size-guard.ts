/**
 * Bounds the size of MQTT packets a client may send. Aedes has no such limit:
 * its parser buffers a packet until it is complete, so one oversized PUBLISH
 * header would let a client make the broker hold gigabytes. This reads only
 * the fixed headers (type byte + remaining-length varint) as bytes stream by
 * and destroys the connection as soon as a packet announces more than the limit.
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

class GuardTransform extends Transform {
  private readonly scanner: PacketSizeScanner;

  constructor(maxBytes: number) {
    super();
    this.scanner = new PacketSizeScanner(maxBytes);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    try {
      this.scanner.scan(chunk);
      callback(null, chunk);
    } catch (err) {
      callback(err as Error);
    }
  }
}

/**
 * Wraps a client connection so that inbound bytes pass the size check;
 * outbound writes go straight to the connection.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number): Duplex {
  const guard = new GuardTransform(maxBytes);
  conn.pipe(guard);
  const guarded = Duplex.from({ readable: guard, writable: conn });
  guard.on('error', (err) => {
    guarded.destroy(err);
    conn.destroy();
  });
  conn.on('error', (err) => guarded.destroy(err));
  conn.on('close', () => guarded.destroy());
  guarded.on('close', () => conn.destroy());
  return guarded;
}
