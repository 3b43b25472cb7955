/**
 * The init segment (ftyp + moov) of the browser's channel: an H.264 track from the
 * VideoEncoder's avcC and, when there is a microphone, an Opus track (`Opus` + `dOps`,
 * "Encapsulation of Opus in ISO-BMFF") from the AudioEncoder's OpusHead. Same shape as
 * ffmpeg's fragmented MP4 for `mqttcast publish`: empty sample tables, `mvex`/`trex`, so
 * every sample lives in the fragments.
 */
import { box, concat, fourcc, fullBox, u16, u32, u8, zeros } from './mp4-box-writer.js';

export const VIDEO_TRACK_ID = 1;
export const AUDIO_TRACK_ID = 2;
/** 90 kHz, the usual video timescale (exact for 25, 30, 50 and 60 fps). */
export const VIDEO_TIMESCALE = 90_000;
/** Opus in MP4 is always timed at 48 kHz, whatever the input rate. */
export const OPUS_TIMESCALE = 48_000;

/** trex default flags: a video sample depends on others and is not a sync sample; audio samples are all sync. */
export const NON_SYNC_FLAGS = 0x01010000;
export const SYNC_FLAGS = 0x02000000;

export interface VideoTrackConfig {
  width: number;
  height: number;
  /** AVCDecoderConfigurationRecord (`VideoDecoderConfig.description` with `avc: {format: 'avc'}`). */
  avcC: Uint8Array;
}

export interface AudioTrackConfig {
  channels: number;
  /** The input rate before Opus encoding (informative). */
  sampleRate: number;
  /** Samples at 48 kHz the decoder drops at the start (from OpusHead; 312 for libopus when absent). */
  preSkip: number;
}

const MATRIX = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000].map(u32);
const DEFAULT_PRE_SKIP = 312;

/**
 * Pre-skip and channel count from an OpusHead (RFC 7845 §5.1, little-endian), the
 * `description` Chromium's AudioEncoder gives for Opus. Missing or short: libopus' default.
 */
export function opusHeadFacts(description: Uint8Array | undefined, channels: number): { preSkip: number; channels: number } {
  if (!description || description.byteLength < 19 || String.fromCharCode(...description.subarray(0, 8)) !== 'OpusHead') {
    return { preSkip: DEFAULT_PRE_SKIP, channels };
  }
  const dv = new DataView(description.buffer, description.byteOffset, description.byteLength);
  return { preSkip: dv.getUint16(10, true), channels: description[9] || channels };
}

function tkhd(trackId: number, audio: boolean, width: number, height: number): Uint8Array {
  return fullBox('tkhd', 0, 3, u32(0), u32(0), u32(trackId), u32(0), u32(0), zeros(8), u16(0), u16(audio ? 1 : 0), u16(audio ? 0x0100 : 0), u16(0), ...MATRIX, u32(width * 0x10000), u32(height * 0x10000));
}

function mdia(handler: 'vide' | 'soun', timescale: number, entry: Uint8Array): Uint8Array {
  const name = handler === 'vide' ? 'VideoHandler' : 'SoundHandler';
  const mediaHeader = handler === 'vide' ? fullBox('vmhd', 0, 1, zeros(8)) : fullBox('smhd', 0, 0, zeros(4));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), entry),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0), u32(0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  return box(
    'mdia',
    fullBox('mdhd', 0, 0, u32(0), u32(0), u32(timescale), u32(0), u16(0x55c4), u16(0)), // language "und"
    fullBox('hdlr', 0, 0, u32(0), fourcc(handler), zeros(12), new TextEncoder().encode(`${name}\0`)),
    box('minf', mediaHeader, dinf, stbl),
  );
}

function avc1(video: VideoTrackConfig): Uint8Array {
  const compressor = zeros(32);
  return box(
    'avc1', zeros(6), u16(1), // reserved, data_reference_index
    zeros(16), u16(video.width), u16(video.height),
    u32(0x00480000), u32(0x00480000), u32(0), u16(1), compressor, u16(0x0018), u16(0xffff),
    box('avcC', video.avcC),
  );
}

function opus(audio: AudioTrackConfig): Uint8Array {
  const dOps = box('dOps', u8(0), u8(audio.channels), u16(audio.preSkip), u32(audio.sampleRate), u16(0), u8(0));
  return box('Opus', zeros(6), u16(1), zeros(8), u16(audio.channels), u16(16), u16(0), u16(0), u32(OPUS_TIMESCALE * 0x10000), dOps);
}

function trex(trackId: number, flags: number): Uint8Array {
  return fullBox('trex', 0, 0, u32(trackId), u32(1), u32(0), u32(0), u32(flags));
}

/** ftyp + moov for a video track and an optional Opus track. */
export function writeInit(video: VideoTrackConfig, audio?: AudioTrackConfig): Uint8Array {
  const ftyp = box('ftyp', fourcc('iso5'), u32(512), fourcc('iso5'), fourcc('iso6'), fourcc('avc1'), fourcc('mp41'));
  const next = audio ? AUDIO_TRACK_ID + 1 : VIDEO_TRACK_ID + 1;
  const mvhd = fullBox('mvhd', 0, 0, u32(0), u32(0), u32(1000), u32(0), u32(0x10000), u16(0x0100), zeros(10), ...MATRIX, zeros(24), u32(next));
  const traks = [box('trak', tkhd(VIDEO_TRACK_ID, false, video.width, video.height), mdia('vide', VIDEO_TIMESCALE, avc1(video)))];
  const trexes = [trex(VIDEO_TRACK_ID, NON_SYNC_FLAGS)];
  if (audio) {
    traks.push(box('trak', tkhd(AUDIO_TRACK_ID, true, 0, 0), mdia('soun', OPUS_TIMESCALE, opus(audio))));
    trexes.push(trex(AUDIO_TRACK_ID, SYNC_FLAGS));
  }
  return concat([ftyp, box('moov', mvhd, ...traks, box('mvex', ...trexes))]);
}
