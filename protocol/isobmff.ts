/**
 * A small ISO-BMFF (MP4) box reader shared by Node and the browser: box
 * boundaries, and what a fragment says about itself (sequence number, base
 * decode time, sync start, producer reference time). No I/O, no Buffer.
 */

export interface BoxHeader {
  type: string;
  /** Offset of the box's first byte. */
  start: number;
  /** Offset of the box's payload (after size/type/largesize). */
  payload: number;
  /** Offset one past the box's last byte. */
  end: number;
}

/** Boxes larger than this are refused: no sane fragment or init segment comes near it. */
export const MAX_BOX_SIZE = 64 * 1024 * 1024;

export class BoxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BoxFormatError';
  }
}

export function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Reads the header of the box at `offset`. Returns null when fewer bytes than
 * the header needs are available; the box body itself may be incomplete
 * (compare `end` with the data length).
 */
export function readBoxHeader(bytes: Uint8Array, offset: number, limit = bytes.byteLength): BoxHeader | null {
  if (limit - offset < 8) return null;
  const dv = view(bytes);
  let size = dv.getUint32(offset);
  const type = fourcc(bytes, offset + 4);
  let payload = offset + 8;
  if (size === 1) {
    if (limit - offset < 16) return null;
    const big = dv.getBigUint64(offset + 8);
    if (big > BigInt(MAX_BOX_SIZE)) throw new BoxFormatError(`box ${type} is too large (${big} bytes)`);
    size = Number(big);
    payload = offset + 16;
  } else if (size === 0) {
    throw new BoxFormatError(`box ${type} extends to end of file; not supported in a stream`);
  }
  if (size < payload - offset) throw new BoxFormatError(`box ${type} has invalid size ${size}`);
  if (size > MAX_BOX_SIZE) throw new BoxFormatError(`box ${type} is too large (${size} bytes)`);
  return { type, start: offset, payload, end: offset + size };
}

/** Iterates the complete child boxes in [start, end); throws if one overruns. */
export function* iterateBoxes(bytes: Uint8Array, start = 0, end = bytes.byteLength): Generator<BoxHeader> {
  let offset = start;
  while (offset < end) {
    const header = readBoxHeader(bytes, offset, end);
    if (!header || header.end > end) throw new BoxFormatError(`truncated box at offset ${offset}`);
    yield header;
    offset = header.end;
  }
}

/** Types of the top-level boxes in a message, in order. */
export function topLevelTypes(bytes: Uint8Array): string[] {
  return [...iterateBoxes(bytes)].map((b) => b.type);
}

/** Finds the first child of `parent` with the given type. */
export function findChild(bytes: Uint8Array, parent: BoxHeader, type: string): BoxHeader | undefined {
  return findChildFrom(bytes, parent, parent.payload, type);
}

export function findChildren(bytes: Uint8Array, parent: BoxHeader, type: string): BoxHeader[] {
  return [...iterateBoxes(bytes, parent.payload, parent.end)].filter((b) => b.type === type);
}

/** Follows a path of box types from the top level, e.g. ['moov', 'mvex']. */
export function findPath(bytes: Uint8Array, path: string[], from?: BoxHeader): BoxHeader | undefined {
  let current = from;
  for (const type of path) {
    const next = current
      ? findChild(bytes, current, type)
      : [...iterateBoxes(bytes)].find((b) => b.type === type);
    if (!next) return undefined;
    current = next;
  }
  return current;
}

/** Sample flag bit: sample_is_non_sync_sample. */
const NON_SYNC_SAMPLE = 0x10000;

export function isSyncSampleFlags(flags: number): boolean {
  return (flags & NON_SYNC_SAMPLE) === 0;
}

export interface TrackFragmentInfo {
  trackId: number;
  baseDecodeTime: number;
  sampleCount: number;
  /** Sum of sample durations when the fragment states them (else undefined). */
  duration?: number;
  /** Flags of the first sample, when stated in the fragment. */
  firstSampleFlags?: number;
}

export interface FragmentInfo {
  sequence: number;
  tracks: TrackFragmentInfo[];
  /** Producer reference time (prft) as Unix milliseconds, when present. */
  producerTimeMs?: number;
  /** Media time the prft refers to, in the reference track's timescale. */
  producerMediaTime?: number;
  producerTrackId?: number;
}

/** Reads `moof` (and `prft`) of a fragment message. Throws BoxFormatError if there is no moof. */
export function parseFragment(bytes: Uint8Array): FragmentInfo {
  const dv = view(bytes);
  let info: FragmentInfo | undefined;
  let prft: Pick<FragmentInfo, 'producerTimeMs' | 'producerMediaTime' | 'producerTrackId'> = {};
  for (const box of iterateBoxes(bytes)) {
    if (box.type === 'prft') prft = parsePrft(dv, box);
    if (box.type !== 'moof') continue;
    const mfhd = findChild(bytes, box, 'mfhd');
    const sequence = mfhd ? dv.getUint32(mfhd.payload + 4) : 0;
    const tracks = findChildren(bytes, box, 'traf').map((traf) => parseTraf(bytes, dv, traf));
    info = { sequence, tracks };
    break;
  }
  if (!info) throw new BoxFormatError('message has no moof box');
  return { ...info, ...prft };
}

function parseTraf(bytes: Uint8Array, dv: DataView, traf: BoxHeader): TrackFragmentInfo {
  const tfhd = findChild(bytes, traf, 'tfhd');
  if (!tfhd) throw new BoxFormatError('traf without tfhd');
  const tfhdFlags = dv.getUint32(tfhd.payload) & 0xffffff;
  const trackId = dv.getUint32(tfhd.payload + 4);
  let at = tfhd.payload + 8;
  if (tfhdFlags & 0x1) at += 8; // base_data_offset
  if (tfhdFlags & 0x2) at += 4; // sample_description_index
  const defaultDuration = tfhdFlags & 0x8 ? dv.getUint32(at) : undefined;
  if (tfhdFlags & 0x8) at += 4;
  if (tfhdFlags & 0x10) at += 4; // default_sample_size
  const defaultFlags = tfhdFlags & 0x20 ? dv.getUint32(at) : undefined;

  const tfdt = findChild(bytes, traf, 'tfdt');
  let baseDecodeTime = 0;
  if (tfdt) {
    const version = bytes[tfdt.payload]!;
    baseDecodeTime = version === 1 ? Number(dv.getBigUint64(tfdt.payload + 4)) : dv.getUint32(tfdt.payload + 4);
  }

  let sampleCount = 0;
  let duration: number | undefined = 0;
  let firstSampleFlags = defaultFlags;
  for (const trun of findChildren(bytes, traf, 'trun')) {
    const flags = dv.getUint32(trun.payload) & 0xffffff;
    const count = dv.getUint32(trun.payload + 4);
    let p = trun.payload + 8;
    if (flags & 0x1) p += 4; // data_offset
    let first: number | undefined;
    if (flags & 0x4) {
      first = dv.getUint32(p);
      p += 4;
    }
    const perSample = ((flags & 0x100 ? 1 : 0) + (flags & 0x200 ? 1 : 0) + (flags & 0x400 ? 1 : 0) + (flags & 0x800 ? 1 : 0)) * 4;
    if (p + perSample * count > trun.end) throw new BoxFormatError('trun sample table overruns its box');
    for (let i = 0; i < count; i++) {
      let q = p + i * perSample;
      if (flags & 0x100) {
        if (duration !== undefined) duration += dv.getUint32(q);
        q += 4;
      } else if (defaultDuration !== undefined && duration !== undefined) duration += defaultDuration;
      else duration = undefined;
      if (flags & 0x200) q += 4;
      if (i === 0 && sampleCount === 0) {
        if (first !== undefined) firstSampleFlags = first;
        else if (flags & 0x400) firstSampleFlags = dv.getUint32(q);
      }
    }
    sampleCount += count;
  }
  return { trackId, baseDecodeTime, sampleCount, duration: sampleCount > 0 ? duration : 0, firstSampleFlags };
}

const NTP_UNIX_OFFSET_S = 2_208_988_800;

function parsePrft(dv: DataView, box: BoxHeader): Pick<FragmentInfo, 'producerTimeMs' | 'producerMediaTime' | 'producerTrackId'> {
  const version = dv.getUint8(box.payload);
  const producerTrackId = dv.getUint32(box.payload + 4);
  const ntpSeconds = dv.getUint32(box.payload + 8);
  const ntpFraction = dv.getUint32(box.payload + 12);
  const producerTimeMs = (ntpSeconds - NTP_UNIX_OFFSET_S) * 1000 + (ntpFraction / 2 ** 32) * 1000;
  const producerMediaTime =
    version === 1 ? Number(dv.getBigUint64(box.payload + 16)) : dv.getUint32(box.payload + 16);
  return { producerTimeMs, producerMediaTime, producerTrackId };
}

/**
 * Whether a fragment starts with a sync sample on the given track (normally
 * the video track). `defaultFlags` are the track's `trex` default sample flags.
 */
export function fragmentStartsWithSync(info: FragmentInfo, trackId: number | undefined, defaultFlags = 0): boolean {
  const traf = trackId === undefined ? info.tracks[0] : info.tracks.find((t) => t.trackId === trackId);
  if (!traf) return trackId === undefined;
  if (traf.sampleCount === 0) return false;
  return isSyncSampleFlags(traf.firstSampleFlags ?? defaultFlags);
}

/** The first child box of `type` inside `parent`, its children starting at `from` (after a sample entry's fixed fields). */
export function findChildFrom(bytes: Uint8Array, parent: BoxHeader, from: number, type: string): BoxHeader | undefined {
  if (from >= parent.end) return undefined;
  for (const box of iterateBoxes(bytes, from, parent.end)) if (box.type === type) return box;
  return undefined;
}
