import { describe, expect, it } from 'vitest';
import { PacketSizeScanner, PacketTooLargeError } from './packet-size-guard.js';

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
