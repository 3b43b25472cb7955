/**
 * The samples of an fMP4 fragment, for decoders that take one coded frame at a
 * time (WebCodecs): moof/traf/tfhd/tfdt/trun and the mdat bytes they point at,
 * with durations, sizes and flags from trun, then tfhd defaults, then trex
 * defaults. Pure; no I/O. Data views share the message's buffer (no copy).
 */
import { BoxFormatError, findChild, findChildren, isSyncSampleFlags, iterateBoxes, type BoxHeader } from './isobmff.js';

/** The `trex` defaults of one track (moov/mvex/trex). */
export interface TrackDefaults {
  duration: number;
  size: number;
  flags: number;
}

/** What the sample parser needs to know about a track from the init segment. */
export interface SampleTrack {
  id: number;
  timescale: number;
  defaults?: TrackDefaults;
}

export interface MediaSample {
  trackId: number;
  /** Presentation time (decode time + composition offset), microseconds. */
  timestampUs: number;
  durationUs: number;
  keyframe: boolean;
  /** Decode time in the track's timescale. */
  decodeTime: number;
  data: Uint8Array;
}

const NO_DEFAULTS: TrackDefaults = { duration: 0, size: 0, flags: 0 };

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads the `trex` boxes of an init segment: per track id, its default sample duration, size and flags. */
export function parseTrackDefaults(init: Uint8Array): Map<number, TrackDefaults> {
  const dv = view(init);
  const out = new Map<number, TrackDefaults>();
  const moov = [...iterateBoxes(init)].find((b) => b.type === 'moov');
  const mvex = moov ? findChild(init, moov, 'mvex') : undefined;
  if (!mvex) return out;
  for (const trex of findChildren(init, mvex, 'trex')) {
    if (trex.end - trex.payload < 24) throw new BoxFormatError('trex box is too short');
    const p = trex.payload;
    out.set(dv.getUint32(p + 4), { duration: dv.getUint32(p + 12), size: dv.getUint32(p + 16), flags: dv.getUint32(p + 20) });
  }
  return out;
}

/**
 * Every sample of every `moof`+`mdat` in a fragment message, in the order
 * they are stored (decode order per track). Tracks not in `tracks` are skipped.
 * Throws BoxFormatError when a table or a sample's bytes fall outside the message.
 */
export function parseFragmentSamples(bytes: Uint8Array, tracks: readonly SampleTrack[]): MediaSample[] {
  const byId = new Map(tracks.map((t) => [t.id, t]));
  const dv = view(bytes);
  const out: MediaSample[] = [];
  let moof: BoxHeader | undefined;
  for (const box of iterateBoxes(bytes)) {
    if (box.type === 'moof') moof = box;
    else if (box.type === 'mdat' && moof) {
      readMoof(bytes, dv, moof, box, byId, out);
      moof = undefined;
    }
  }
  if (moof) throw new BoxFormatError('moof without the mdat that follows it');
  return out;
}

function readMoof(bytes: Uint8Array, dv: DataView, moof: BoxHeader, mdat: BoxHeader, byId: Map<number, SampleTrack>, out: MediaSample[]): void {
  // Without a base offset, the first traf's data starts at the moof; later ones after the previous traf's data.
  let nextDataAt = moof.start;
  for (const traf of findChildren(bytes, moof, 'traf')) {
    nextDataAt = readTraf(bytes, dv, moof, mdat, traf, byId, nextDataAt, out);
  }
}

interface Tfhd {
  trackId: number;
  baseOffset: number | undefined;
  duration: number | undefined;
  size: number | undefined;
  flags: number | undefined;
  moofBased: boolean;
}

function readTfhd(dv: DataView, tfhd: BoxHeader): Tfhd {
  const flags = dv.getUint32(tfhd.payload) & 0xffffff;
  const need = 8 + [0x1, 0x2, 0x8, 0x10, 0x20].reduce((n, f) => n + (flags & f ? (f === 0x1 ? 8 : 4) : 0), 0);
  if (tfhd.end - tfhd.payload < need) throw new BoxFormatError('tfhd box is too short for its flags');
  let at = tfhd.payload + 8;
  const take = (flag: number, size: 4 | 8): number | undefined => {
    if (!(flags & flag)) return undefined;
    const v = size === 8 ? Number(dv.getBigUint64(at)) : dv.getUint32(at);
    at += size;
    return v;
  };
  const baseOffset = take(0x1, 8);
  take(0x2, 4); // sample_description_index
  const duration = take(0x8, 4);
  const size = take(0x10, 4);
  const sampleFlags = take(0x20, 4);
  return { trackId: dv.getUint32(tfhd.payload + 4), baseOffset, duration, size, flags: sampleFlags, moofBased: (flags & 0x20000) !== 0 };
}

function readTfdt(bytes: Uint8Array, dv: DataView, traf: BoxHeader): number {
  const tfdt = findChild(bytes, traf, 'tfdt');
  if (!tfdt) return 0;
  return bytes[tfdt.payload] === 1 ? Number(dv.getBigUint64(tfdt.payload + 4)) : dv.getUint32(tfdt.payload + 4);
}

function readTraf(
  bytes: Uint8Array,
  dv: DataView,
  moof: BoxHeader,
  mdat: BoxHeader,
  traf: BoxHeader,
  byId: Map<number, SampleTrack>,
  implicitBase: number,
  out: MediaSample[],
): number {
  const tfhdBox = findChild(bytes, traf, 'tfhd');
  if (!tfhdBox) throw new BoxFormatError('traf without tfhd');
  const tfhd = readTfhd(dv, tfhdBox);
  const track = byId.get(tfhd.trackId);
  const trex = track?.defaults ?? NO_DEFAULTS;
  // A base_data_offset is a file offset: meaningless in a message on its own, so it is taken as relative to it.
  const base = tfhd.baseOffset ?? (tfhd.moofBased ? moof.start : implicitBase);
  let decodeTime = readTfdt(bytes, dv, traf);
  let dataAt = base;
  for (const trun of findChildren(bytes, traf, 'trun')) {
    const flags = dv.getUint32(trun.payload) & 0xffffff;
    const version = bytes[trun.payload]!;
    const count = dv.getUint32(trun.payload + 4);
    let p = trun.payload + 8;
    if (flags & 0x1) {
      dataAt = base + dv.getInt32(p);
      p += 4;
    }
    let firstFlags: number | undefined;
    if (flags & 0x4) {
      firstFlags = dv.getUint32(p);
      p += 4;
    }
    const fields = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
    if (p + fields * 4 * count > trun.end) throw new BoxFormatError('trun sample table overruns its box');
    const u32 = (): number => {
      const v = dv.getUint32(p);
      p += 4;
      return v;
    };
    for (let i = 0; i < count; i++) {
      const duration = flags & 0x100 ? u32() : (tfhd.duration ?? trex.duration);
      const size = flags & 0x200 ? u32() : (tfhd.size ?? trex.size);
      const ownFlags = flags & 0x400 ? u32() : undefined;
      const sampleFlags = i === 0 && firstFlags !== undefined ? firstFlags : (ownFlags ?? tfhd.flags ?? trex.flags);
      // Composition offsets are unsigned in trun version 0 and signed in version 1.
      const cto = flags & 0x800 ? (version === 0 ? u32() : u32() | 0) : 0;
      if (dataAt < mdat.payload || dataAt + size > mdat.end) {
        throw new BoxFormatError(`sample ${i} of track ${tfhd.trackId} lies outside its mdat`);
      }
      if (track) {
        out.push({
          trackId: tfhd.trackId,
          timestampUs: toUs(decodeTime + cto, track.timescale),
          durationUs: toUs(duration, track.timescale),
          keyframe: isSyncSampleFlags(sampleFlags),
          decodeTime,
          data: bytes.subarray(dataAt, dataAt + size),
        });
      }
      decodeTime += duration;
      dataAt += size;
    }
  }
  return dataAt;
}

function toUs(t: number, timescale: number): number {
  return Math.round((t * 1_000_000) / timescale);
}
