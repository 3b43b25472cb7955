/**
 * Encoded video and audio in, the channel's init segment and one fragment per video
 * frame out (DESIGN §8: a fragment that starts a GOP starts with a keyframe). Each
 * fragment carries the video frame, the audio encoded since the previous fragment and a
 * `prft` with the capture wall clock (of the fragment's end, as ffmpeg stamps it), so a
 * viewer can measure glass-to-glass latency. Pure and synchronous: no timers, no I/O.
 *
 * Why not a muxing library: mediabunny (the well-kept choice) writes fragmented MP4 with
 * streaming callbacks, but it starts a new fragment only at a video keyframe
 * (`isobmff-muxer.ts`, "keyFrameQueuedEverywhere"), so with a keyframe every second each
 * frame would leave the browser up to a second late. One-frame fragments need a few
 * boxes per frame, written here; README.md "Go live from the browser" has the measurement.
 */
import { writeFragment, type FragmentSample, type TrackRun } from './fmp4-fragment-writer.js';
import {
  AUDIO_TRACK_ID, NON_SYNC_FLAGS, OPUS_TIMESCALE, SYNC_FLAGS, VIDEO_TIMESCALE, VIDEO_TRACK_ID, writeInit,
  type AudioTrackConfig, type VideoTrackConfig,
} from './fmp4-init-writer.js';

export interface VideoChunkIn {
  /** Presentation time, µs (VideoFrame / EncodedVideoChunk timestamp). */
  timestampUs: number;
  /** Stated duration, µs, when the encoder knows it. */
  durationUs?: number | null;
  keyframe: boolean;
  data: Uint8Array;
  /** Wall clock (Unix ms) when the frame was captured, for the prft. */
  wallClockMs: number;
}

export interface AudioChunkIn {
  timestampUs: number;
  durationUs: number;
  data: Uint8Array;
}

export interface MuxedFragment {
  data: Uint8Array;
  /** Starts with a video keyframe: a consumer may start here. */
  sync: boolean;
  /** Whether it holds a video frame (false: audio only, video stalled). */
  video: boolean;
}

export interface ChannelMuxerOptions {
  /** Whether an audio track is expected: the init waits for its config. */
  audio: boolean;
  onInit(init: Uint8Array): void;
  onFragment(fragment: MuxedFragment): void;
}

/** Audio chunks held while no video frame comes (~1 s of 20 ms Opus); then they go out alone. */
export const MAX_PENDING_AUDIO = 50;
const DEFAULT_FRAME_US = 1_000_000 / 30;
const MIN_FRAME_US = 4_000;
const MAX_FRAME_US = 250_000;
/** Audio whose clock is further than this from the video's at the start is rebased on its own. */
const MAX_CLOCK_SKEW_US = 2_000_000;

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);

export class ChannelMuxer {
  private video: VideoTrackConfig | undefined;
  private audio: AudioTrackConfig | undefined;
  private initWritten = false;
  private needKeyframe = true;
  private sequence = 0;
  private originUs: number | undefined;
  private audioOriginUs: number | undefined;
  private lastVideoUs: number | undefined;
  private frameUs = DEFAULT_FRAME_US;
  private pendingAudio: AudioChunkIn[] = [];
  /** Audio decode time the next audio sample should have (to close small gaps). */
  private nextAudioTime: number | undefined;

  private audioExpected: boolean;
  private audioOffsetUs: number | undefined;

  constructor(private readonly options: ChannelMuxerOptions) {
    this.audioExpected = options.audio;
  }

  /** Whether the init has (or will have) an audio track. */
  get hasAudio(): boolean {
    return this.audioExpected;
  }

  /**
   * How far the audio clock is behind the video clock, µs (added to audio timestamps). In
   * Chromium a camera's VideoFrames are stamped on one clock and a microphone's AudioData
   * on another (seconds since boot vs. since the page loaded): the session measures both
   * against performance.now() when it reads the first of each. Unset: the first audio
   * chunk is lined up with the newest video frame when the clocks are far apart.
   */
  setAudioClockOffset(offsetUs: number): void {
    this.audioOffsetUs = offsetUs;
  }

  /** No audio config came (a silent or broken microphone): go on with video only, in a new init. */
  withoutAudio(): void {
    if (!this.audioExpected) return;
    this.audioExpected = false;
    this.pendingAudio = [];
    this.initWritten = false;
    this.needKeyframe = true;
  }

  /** True until the next video keyframe has been muxed: the encoder should make one now. */
  get wantsKeyframe(): boolean {
    return this.needKeyframe;
  }

  get fragments(): number {
    return this.sequence;
  }

  /** The video decoder config (from the encoder's first output or a change of it): a new init when it differs. */
  setVideoConfig(config: VideoTrackConfig): void {
    if (this.video && this.video.width === config.width && this.video.height === config.height && sameBytes(this.video.avcC, config.avcC)) return;
    this.video = config;
    this.initWritten = false;
    this.needKeyframe = true;
  }

  setAudioConfig(config: AudioTrackConfig): void {
    if (this.audio && this.audio.channels === config.channels && this.audio.preSkip === config.preSkip && this.audio.sampleRate === config.sampleRate) return;
    this.audio = config;
    this.initWritten = false;
    this.needKeyframe = true;
  }

  addVideo(chunk: VideoChunkIn): void {
    if (!this.ready()) return;
    if (this.needKeyframe && !chunk.keyframe) return;
    if (this.lastVideoUs !== undefined && chunk.timestampUs <= this.lastVideoUs) return; // out of order: never from a realtime encoder
    if (!this.initWritten) {
      this.options.onInit(writeInit(this.video!, this.audioExpected ? this.audio : undefined));
      this.initWritten = true;
    }
    this.originUs ??= chunk.timestampUs;
    if (this.lastVideoUs !== undefined) this.frameUs = clamp(chunk.timestampUs - this.lastVideoUs, MIN_FRAME_US, MAX_FRAME_US);
    this.lastVideoUs = chunk.timestampUs;
    const durationUs = chunk.durationUs && chunk.durationUs > 0 ? chunk.durationUs : this.frameUs;
    const decodeTime = toUnits(chunk.timestampUs - this.originUs, VIDEO_TIMESCALE);
    const run: TrackRun = {
      trackId: VIDEO_TRACK_ID,
      baseDecodeTime: decodeTime,
      samples: [{ duration: toUnits(durationUs, VIDEO_TIMESCALE), data: chunk.data, flags: chunk.keyframe ? SYNC_FLAGS : NON_SYNC_FLAGS }],
    };
    const audio = this.takeAudio();
    // As ffmpeg's prft (and protocol/prft.ts reads it): the wall clock belongs to the fragment's end, one frame after the capture.
    const producer = { trackId: VIDEO_TRACK_ID, unixMs: chunk.wallClockMs + durationUs / 1000, mediaTime: decodeTime };
    this.emit(writeFragment(++this.sequence, audio ? [run, audio] : [run], producer), chunk.keyframe, true);
    this.needKeyframe = false;
  }

  addAudio(input: AudioChunkIn): void {
    if (!this.audioExpected || !this.initWritten || this.originUs === undefined) return; // nothing before the first keyframe
    const chunk = this.audioOffsetUs === undefined ? input : { ...input, timestampUs: input.timestampUs + this.audioOffsetUs };
    if (this.audioOriginUs === undefined) {
      const skewed = this.audioOffsetUs === undefined && Math.abs(chunk.timestampUs - this.originUs) > MAX_CLOCK_SKEW_US;
      this.audioOriginUs = skewed ? chunk.timestampUs - (this.lastVideoUs! - this.originUs) : this.originUs;
    }
    if (chunk.timestampUs < this.audioOriginUs) return;
    this.pendingAudio.push(chunk);
    if (this.pendingAudio.length >= MAX_PENDING_AUDIO) {
      const audio = this.takeAudio();
      if (audio) this.emit(writeFragment(++this.sequence, [audio]), false, false);
    }
  }

  private ready(): boolean {
    return this.video !== undefined && (!this.audioExpected || this.audio !== undefined);
  }

  /** The pending audio as one run; a sample's duration reaches to the next one's time, so small gaps close. */
  private takeAudio(): TrackRun | undefined {
    const chunks = this.pendingAudio;
    if (chunks.length === 0 || this.audioOriginUs === undefined) return undefined;
    this.pendingAudio = [];
    const times = chunks.map((c) => toUnits(c.timestampUs - this.audioOriginUs!, OPUS_TIMESCALE));
    const start = this.nextAudioTime !== undefined && Math.abs(times[0]! - this.nextAudioTime) <= 48 ? this.nextAudioTime : times[0]!;
    times[0] = start;
    const samples: FragmentSample[] = chunks.map((c, i) => {
      const own = toUnits(c.durationUs, OPUS_TIMESCALE);
      const next = times[i + 1];
      const duration = next !== undefined && next > times[i]! ? next - times[i]! : own;
      return { duration, data: c.data, flags: SYNC_FLAGS };
    });
    this.nextAudioTime = times[times.length - 1]! + samples[samples.length - 1]!.duration;
    return { trackId: AUDIO_TRACK_ID, baseDecodeTime: start, samples };
  }

  private emit(data: Uint8Array, sync: boolean, video: boolean): void {
    this.options.onFragment({ data, sync, video });
  }
}

function toUnits(us: number, timescale: number): number {
  return Math.max(0, Math.round((us * timescale) / 1_000_000));
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}
