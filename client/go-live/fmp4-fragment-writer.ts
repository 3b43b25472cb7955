/**
 * One fragment message of the browser's channel: `prft` + `moof` + `mdat`, the layout
 * `mqttcast publish` gets from ffmpeg (`default-base-is-moof`, `tfdt` version 1, a
 * `trun` with duration, size and flags per sample), one video frame and the audio
 * encoded since the previous one.
 */
import { box, concat, fourcc, fullBox, u32, u64 } from './mp4-box-writer.js';

export interface FragmentSample {
  /** Duration in the track's timescale. */
  duration: number;
  data: Uint8Array;
  /** trun sample flags (SYNC_FLAGS or NON_SYNC_FLAGS). */
  flags: number;
}

export interface TrackRun {
  trackId: number;
  /** Decode time of the first sample, in the track's timescale. */
  baseDecodeTime: number;
  samples: readonly FragmentSample[];
}

export interface ProducerTime {
  trackId: number;
  /** Wall-clock time (Unix ms) of the frame the fragment starts with. */
  unixMs: number;
  /** That frame's decode time in the reference track's timescale. */
  mediaTime: number;
}

const NTP_UNIX_OFFSET_S = 2_208_988_800;
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
const TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400; // data offset, duration, size, flags per sample
/** Size and type of the mdat box: the first sample's bytes follow them. */
const MDAT_HEADER = 8;

/** NTP 64-bit time (seconds since 1900 and a binary fraction) of a Unix time in ms. */
export function ntpTime(unixMs: number): bigint {
  const seconds = Math.floor(unixMs / 1000);
  const fraction = Math.round(((unixMs - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_UNIX_OFFSET_S) << 32n) + BigInt(Math.min(fraction, 2 ** 32 - 1));
}

/** `prft` version 1: the producer's wall clock for a media time (read by protocol's parseFragment). */
export function prft(time: ProducerTime): Uint8Array {
  return fullBox('prft', 1, 0, u32(time.trackId), u64(ntpTime(time.unixMs)), u64(time.mediaTime));
}

function traf(run: TrackRun, dataOffset: number): Uint8Array {
  const table = run.samples.map((s) => concat([u32(s.duration), u32(s.data.byteLength), u32(s.flags)]));
  return box(
    'traf',
    fullBox('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF, u32(run.trackId)),
    fullBox('tfdt', 1, 0, u64(run.baseDecodeTime)),
    fullBox('trun', 0, TRUN_FLAGS, u32(run.samples.length), u32(dataOffset), ...table),
  );
}

/**
 * `[prft]` + `moof` + `mdat` with the runs' samples in order. Runs without samples are
 * left out. `sequence` starts at 1 and grows by one per fragment.
 */
export function writeFragment(sequence: number, runs: readonly TrackRun[], producer?: ProducerTime): Uint8Array {
  const used = runs.filter((r) => r.samples.length > 0);
  if (used.length === 0) throw new Error('a fragment needs at least one sample');
  // The moof's size does not depend on the offsets' values: measure it once with zeros.
  const mfhd = fullBox('mfhd', 0, 0, u32(sequence));
  const moofSize = box('moof', mfhd, ...used.map((r) => traf(r, 0))).byteLength;
  let offset = moofSize + MDAT_HEADER;
  const trafs = used.map((r) => {
    const t = traf(r, offset);
    offset += r.samples.reduce((n, s) => n + s.data.byteLength, 0);
    return t;
  });
  const moof = box('moof', mfhd, ...trafs);
  // The samples are copied once, straight into the message (the mdat is most of its bytes).
  const mdatHeader = concat([u32(offset - moofSize), fourcc('mdat')]);
  const data = used.flatMap((r) => r.samples.map((s) => s.data));
  return concat(producer ? [prft(producer), moof, mdatHeader, ...data] : [moof, mdatHeader, ...data]);
}
