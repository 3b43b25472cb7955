import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { guardPacketSize, packetWireSize, PacketSizeScanner, PacketTooLargeError } from './packet-size-guard.js';

/** An MQTT PUBLISH-like packet: type byte, remaining length varint, body. */
function packet(bodyLength: number): Buffer {
  const len: number[] = [];
  let n = bodyLength;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(bodyLength)]);
}

describe('PacketSizeScanner', () => {
  it('passes packets up to the limit in any chunking', () => {
    const stream = Buffer.concat([packet(0), packet(100), packet(1000), packet(200_000)]);
    for (const size of [1, 3, 1000, stream.length]) {
      const s = new PacketSizeScanner(200_000);
      for (let i = 0; i < stream.length; i += size) s.scan(stream.subarray(i, i + size));
    }
  });

  it('stops at the header of a packet over the limit, before its body arrives', () => {
    const s = new PacketSizeScanner(1000);
    s.scan(packet(10));
    expect(() => s.scan(packet(5000).subarray(0, 4))).toThrow(PacketTooLargeError);
  });

  it('refuses a malformed length', () => {
    expect(() => new PacketSizeScanner(1e9).scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow(/malformed/);
  });
});

describe('guardPacketSize', () => {
  it('counts wire sizes like MQTT 5 Maximum Packet Size (type byte + varint + body)', () => {
    expect([0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152].map(packetWireSize)).toEqual([2, 129, 131, 16_386, 16_388, 2_097_155, 2_097_157]);
    for (const n of [0, 127, 128, 5000, 200_000]) expect(packetWireSize(n)).toBe(packet(n).length);
  });

  it('destroys the connection at an oversized header by default', async () => {
    const conn = new PassThrough();
    const guarded = guardPacketSize(conn, 1000);
    const got: Buffer[] = [];
    guarded.on('data', (b: Buffer) => got.push(b));
    const errors: Error[] = [];
    const error = new Promise<Error>((resolve) => guarded.on('error', (err) => resolve(errors[errors.push(err) - 1]!)));
    conn.write(packet(10));
    conn.write(packet(5000).subarray(0, 4));
    expect(await error).toBeInstanceOf(PacketTooLargeError);
    expect(conn.destroyed).toBe(true);
    expect(Buffer.concat(got).equals(packet(10))).toBe(true);
  });

  it('in hand-over mode passes the oversized header on, drops what follows, and destroys after the grace', async () => {
    const conn = new PassThrough();
    const guarded = guardPacketSize(conn, 1000, { handOverMs: 50 });
    const got: Buffer[] = [];
    guarded.on('data', (b: Buffer) => got.push(b));
    const errors: Error[] = [];
    guarded.on('error', (err) => errors.push(err));
    const closed = Promise.all([conn, guarded].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve()))));
    const header = packet(5000).subarray(0, 4);
    conn.write(packet(10));
    conn.write(header);
    conn.write(Buffer.alloc(4000, 7));
    await closed;
    expect(Buffer.concat(got).equals(Buffer.concat([packet(10), header]))).toBe(true);
    expect(guarded.destroyed).toBe(true);
    expect(errors.map((e) => e.name)).toEqual(['PacketTooLargeError']);
  });
});
