/**
 * Reads an fMP4 init segment (ftyp + moov): tracks, their RFC 6381 codec
 * strings computed from the real decoder configuration, and trex defaults.
 */
import { readEsds } from './esds.js';
import { BoxFormatError, findChild, findChildFrom, findChildren, findPath, fourcc, iterateBoxes, type BoxHeader } from './isobmff.js';

export interface InitTrack {
  id: number;
  type: 'video' | 'audio' | 'other';
  timescale: number;
  /** Sample entry type, e.g. `avc1`, `mp4a`. */
  entry: string;
  /** RFC 6381 codec string, e.g. `avc1.640028`. */
  codec: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** `trex` default sample flags. */
  defaultSampleFlags: number;
  /** `trex` default sample duration, in the track's timescale (0: none). */
  defaultSampleDuration: number;
}

export interface InitInfo {
  tracks: InitTrack[];
  /** `video/mp4; codecs="..."`, or `audio/mp4` when there is no video track. */
  mimeCodec: string;
  videoTrackId?: number;
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
const dec2 = (n: number): string => n.toString().padStart(2, '0');

export function parseInit(bytes: Uint8Array): InitInfo {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const moov = findPath(bytes, ['moov']);
  if (!moov) throw new BoxFormatError('init segment has no moov box');
  const trex = new Map<number, TrexDefaults>();
  const mvex = findChild(bytes, moov, 'mvex');
  if (mvex) {
    for (const box of findChildren(bytes, mvex, 'trex')) {
      if (box.end - box.payload < 24) throw new BoxFormatError('trex box is too short');
      trex.set(dv.getUint32(box.payload + 4), { duration: dv.getUint32(box.payload + 12), flags: dv.getUint32(box.payload + 20) });
    }
  }
  const tracks = findChildren(bytes, moov, 'trak').map((trak) => parseTrak(bytes, dv, trak, trex));
  const usable = tracks.filter((t) => t.type !== 'other');
  const video = usable.find((t) => t.type === 'video');
  const kind = video ? 'video' : 'audio';
  const mimeCodec = `${kind}/mp4; codecs="${usable.map((t) => t.codec).join(', ')}"`;
  return { tracks: usable, mimeCodec, videoTrackId: video?.id };
}

interface TrexDefaults {
  duration: number;
  flags: number;
}

function parseTrak(bytes: Uint8Array, dv: DataView, trak: BoxHeader, trex: Map<number, TrexDefaults>): InitTrack {
  const tkhd = findChild(bytes, trak, 'tkhd');
  const mdhd = findPath(bytes, ['mdia', 'mdhd'], trak);
  const hdlr = findPath(bytes, ['mdia', 'hdlr'], trak);
  const stsd = findPath(bytes, ['mdia', 'minf', 'stbl', 'stsd'], trak);
  if (!tkhd || !mdhd || !hdlr || !stsd) throw new BoxFormatError('trak is missing tkhd, mdhd, hdlr or stsd');
  const tkhdVersion = bytes[tkhd.payload]!;
  const id = dv.getUint32(tkhd.payload + (tkhdVersion === 1 ? 20 : 12));
  const mdhdVersion = bytes[mdhd.payload]!;
  const timescale = dv.getUint32(mdhd.payload + (mdhdVersion === 1 ? 20 : 12));
  const handler = fourcc(bytes, hdlr.payload + 8);
  const type = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other';
  const entry = readBoxAt(bytes, stsd.payload + 8, stsd.end);
  const defaults = trex.get(id);
  const base = { id, type, timescale, entry: entry.type, defaultSampleFlags: defaults?.flags ?? 0, defaultSampleDuration: defaults?.duration ?? 0 } as const;
  if (type === 'video') {
    const width = dv.getUint16(entry.payload + 24);
    const height = dv.getUint16(entry.payload + 26);
    return { ...base, width, height, codec: videoCodec(bytes, dv, entry, entry.payload + 78) };
  }
  if (type === 'audio') {
    const channels = dv.getUint16(entry.payload + 16);
    const sampleRate = dv.getUint32(entry.payload + 24) >>> 16;
    return { ...base, channels, sampleRate, codec: audioCodec(bytes, entry, entry.payload + 28) };
  }
  return { ...base, codec: entry.type };
}

function readBoxAt(bytes: Uint8Array, offset: number, end: number): BoxHeader {
  const first = iterateBoxes(bytes, offset, end).next();
  if (first.done) throw new BoxFormatError('stsd has no sample entry');
  return first.value;
}

function videoCodec(bytes: Uint8Array, dv: DataView, entry: BoxHeader, children: number): string {
  switch (entry.type) {
    case 'avc1':
    case 'avc3': {
      const avcC = findChildFrom(bytes, entry, children, 'avcC');
      if (!avcC) throw new BoxFormatError(`${entry.type} without avcC`);
      const p = avcC.payload;
      return `${entry.type}.${hex2(bytes[p + 1]!)}${hex2(bytes[p + 2]!)}${hex2(bytes[p + 3]!)}`;
    }
    case 'hvc1':
    case 'hev1': {
      const hvcC = findChildFrom(bytes, entry, children, 'hvcC');
      if (!hvcC) throw new BoxFormatError(`${entry.type} without hvcC`);
      return hevcCodec(entry.type, bytes, dv, hvcC.payload);
    }
    case 'av01': {
      const av1C = findChildFrom(bytes, entry, children, 'av1C');
      if (!av1C) throw new BoxFormatError('av01 without av1C');
      return av1Codec(bytes, av1C.payload);
    }
    case 'vp09': {
      const vpcC = findChildFrom(bytes, entry, children, 'vpcC');
      if (!vpcC) throw new BoxFormatError('vp09 without vpcC');
      const p = vpcC.payload + 4; // full box
      return `vp09.${dec2(bytes[p]!)}.${dec2(bytes[p + 1]!)}.${dec2(bytes[p + 2]! >> 4)}`;
    }
    default:
      return entry.type;
  }
}

function hevcCodec(type: string, bytes: Uint8Array, dv: DataView, p: number): string {
  const b1 = bytes[p + 1]!;
  const space = ['', 'A', 'B', 'C'][b1 >> 6]!;
  const tier = (b1 >> 5) & 1 ? 'H' : 'L';
  const profile = b1 & 0x1f;
  let compat = dv.getUint32(p + 2);
  let reversed = 0;
  for (let i = 0; i < 32; i++) {
    reversed = (reversed << 1) | (compat & 1);
    compat >>>= 1;
  }
  const constraints = Array.from(bytes.subarray(p + 6, p + 12));
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const level = bytes[p + 12]!;
  const parts = [type, `${space}${profile}`, (reversed >>> 0).toString(16).toUpperCase(), `${tier}${level}`];
  for (const c of constraints) parts.push(c.toString(16).toUpperCase());
  return parts.join('.');
}

function av1Codec(bytes: Uint8Array, p: number): string {
  const b1 = bytes[p + 1]!;
  const b2 = bytes[p + 2]!;
  const profile = b1 >> 5;
  const level = b1 & 0x1f;
  const tier = b2 >> 7 ? 'H' : 'M';
  const highBitDepth = (b2 >> 6) & 1;
  const twelveBit = (b2 >> 5) & 1;
  const depth = highBitDepth ? (twelveBit ? 12 : 10) : 8;
  return `av01.${profile}.${dec2(level)}${tier}.${dec2(depth)}`;
}

function audioCodec(bytes: Uint8Array, entry: BoxHeader, children: number): string {
  switch (entry.type) {
    case 'mp4a': {
      const esds = findChildFrom(bytes, entry, children, 'esds');
      return esds ? mp4aCodec(bytes, esds.payload + 4, esds.end) : 'mp4a.40.2';
    }
    case 'Opus':
      return 'opus';
    case 'fLaC':
      return 'flac';
    default:
      return entry.type;
  }
}

/** The object type and audio object type from the ES descriptor chain (ISO 14496-1). */
function mp4aCodec(bytes: Uint8Array, start: number, end: number): string {
  const esds = readEsds(bytes, start, end);
  if (!esds) throw new BoxFormatError('esds without ES descriptor or decoder config');
  if (esds.objectType !== 0x40) return `mp4a.${hex2(esds.objectType)}`;
  const dsi = esds.specificInfo;
  if (!dsi || dsi.length === 0) return 'mp4a.40';
  let aot = dsi[0]! >> 3;
  if (aot === 31) aot = 32 + (((dsi[0]! & 0x7) << 3) | ((dsi[1] ?? 0) >> 5));
  return `mp4a.40.${aot}`;
}
