/** Builders of small ISO-BMFF boxes for unit tests of the box reader. */
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function u16(n: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n);
  return b;
}

export function bytes(...parts: Array<Uint8Array | number[]>): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

export function box(type: string, ...payload: Array<Uint8Array | number[]>): Uint8Array {
  const body = bytes(...payload);
  return bytes(u32(body.length + 8), Array.from(type, (c) => c.charCodeAt(0)), body);
}

export function fullBox(type: string, version: number, flags: number, ...payload: Array<Uint8Array | number[]>): Uint8Array {
  return box(type, [version, (flags >> 16) & 0xff, (flags >> 8) & 0xff, flags & 0xff], ...payload);
}

export const zeros = (n: number): Uint8Array => new Uint8Array(n);

/** A moof with one traf; `firstFlags` goes into trun's first_sample_flags. */
export function moof(seq: number, trackId: number, decodeTime: number, firstFlags: number, samples = 2): Uint8Array {
  const trun = fullBox('trun', 0, 0x1 | 0x4 | 0x100, u32(samples), u32(0), u32(firstFlags), ...Array.from({ length: samples }, () => u32(512)));
  return box(
    'moof',
    fullBox('mfhd', 0, 0, u32(seq)),
    box('traf', fullBox('tfhd', 0, 0x20000, u32(trackId)), fullBox('tfdt', 1, 0, u32(0), u32(decodeTime)), trun),
  );
}

function trak(id: number, handler: string, entry: Uint8Array, timescale: number): Uint8Array {
  const tkhd = fullBox('tkhd', 0, 3, u32(0), u32(0), u32(id), zeros(60));
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(timescale), u32(0), zeros(4));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), Array.from(handler, (c) => c.charCodeAt(0)), zeros(12), [0]);
  const stsd = fullBox('stsd', 0, 0, u32(1), entry);
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', box('stbl', stsd))));
}

export function avc1Entry(avcC: number[], width: number, height: number): Uint8Array {
  return box('avc1', zeros(6), u16(1), zeros(16), u16(width), u16(height), zeros(50), box('avcC', avcC));
}

export function mp4aEntry(objectType: number, asc: number[]): Uint8Array {
  const dsi = [0x05, asc.length, ...asc];
  const dcd = [0x04, 13 + dsi.length, objectType, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...dsi];
  const es = [0x03, 3 + dcd.length, 0, 1, 0, ...dcd];
  return box('mp4a', zeros(6), u16(1), zeros(8), u16(2), u16(16), zeros(4), u32(48000 << 16), fullBox('esds', 0, 0, es));
}

export function init(tracks: Array<{ id: number; handler: 'vide' | 'soun'; entry: Uint8Array; timescale?: number }>): Uint8Array {
  const trex = tracks.map((t) => fullBox('trex', 0, 0, u32(t.id), u32(1), u32(0), u32(0), u32(0x10000)));
  return bytes(
    box('ftyp', Array.from('isom', (c) => c.charCodeAt(0)), u32(512)),
    box('moov', fullBox('mvhd', 0, 0, zeros(96)), ...tracks.map((t) => trak(t.id, t.handler, t.entry, t.timescale ?? 90000)), box('mvex', ...trex)),
  );
}
