/**
 * Writing ISO-BMFF boxes: big-endian integers, a box from its parts, a full box
 * with version and flags. The readers live in protocol/isobmff.ts; this is their
 * mirror for the browser publisher (Go live), which makes its own fMP4.
 */
export type Part = Uint8Array | readonly number[];

export function u8(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff);
}

export function u16(n: number): Uint8Array {
  const out = new Uint8Array(2);
  new DataView(out.buffer).setUint16(0, n & 0xffff);
  return out;
}

export function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0);
  return out;
}

/** A 64-bit unsigned integer (media times, NTP stamps); `n` must be a safe integer ≥ 0. */
export function u64(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** A four-character code. */
export function fourcc(code: string): Uint8Array {
  if (code.length !== 4) throw new Error(`a box type has four characters, not "${code}"`);
  return Uint8Array.from(code, (c) => c.charCodeAt(0));
}

export function concat(parts: readonly Part[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `size`, `type`, then the payload. */
export function box(type: string, ...payload: Part[]): Uint8Array {
  const body = concat(payload);
  return concat([u32(8 + body.byteLength), fourcc(type), body]);
}

/** A box whose payload starts with a version byte and 24 bits of flags. */
export function fullBox(type: string, version: number, flags: number, ...payload: Part[]): Uint8Array {
  return box(type, u8(version), [(flags >> 16) & 0xff, (flags >> 8) & 0xff, flags & 0xff], ...payload);
}

export const zeros = (n: number): Uint8Array => new Uint8Array(n);
