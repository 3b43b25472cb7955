/**
 * WebCodecs encoders for Go live: H.264 (`avc: {format: 'avc'}`, so the decoder config
 * is an avcC record for the MP4 sample entry), realtime latency mode, a keyframe every
 * second or whenever the muxer or the publisher asks (a new init, a reconnect); and
 * Opus for the microphone, because Chromium's AudioEncoder has no AAC on Linux
 * (`isConfigSupported({codec: 'mp4a.40.2'})` is false in Debian's Chromium 156) while
 * its MSE plays Opus in fMP4. Frames arrive faster than the encoder takes them: a frame
 * is dropped when two are already queued.
 */
import { opusHeadFacts } from './fmp4-init-writer.js';
import type { ChannelMuxer } from './fmp4-muxer.js';

export interface VideoSettings {
  width: number;
  height: number;
  framerate: number;
  /** Bits per second. */
  bitrate: number;
}

export const KEYFRAME_INTERVAL_US = 1_000_000;
const MAX_ENCODE_QUEUE = 2;
const MAX_WALL_CLOCKS = 64;
export const AUDIO_BITRATE = 64_000;

/** `avc1.42E0LL`: constrained baseline (no B-frames: decode order = presentation order), level by picture size. */
export function avcCodecFor(width: number, height: number): string {
  const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
  const level = macroblocks <= 1620 ? 0x1e : macroblocks <= 3600 ? 0x1f : macroblocks <= 8192 ? 0x28 : 0x33;
  return `avc1.42E0${level.toString(16).toUpperCase()}`;
}

export function videoEncoderConfig(s: VideoSettings): VideoEncoderConfig {
  return {
    codec: avcCodecFor(s.width, s.height), width: s.width, height: s.height, bitrate: s.bitrate, framerate: s.framerate,
    latencyMode: 'realtime', avc: { format: 'avc' },
  };
}

export async function canEncodeVideo(s: VideoSettings): Promise<boolean> {
  if (typeof VideoEncoder === 'undefined') return false;
  const { supported } = await VideoEncoder.isConfigSupported(videoEncoderConfig(s));
  return supported === true;
}

export async function canEncodeOpus(sampleRate: number, channels: number): Promise<boolean> {
  if (typeof AudioEncoder === 'undefined') return false;
  const { supported } = await AudioEncoder.isConfigSupported({ codec: 'opus', sampleRate, numberOfChannels: channels, bitrate: AUDIO_BITRATE });
  return supported === true;
}

const bytesOf = (chunk: EncodedVideoChunk | EncodedAudioChunk): Uint8Array => {
  const data = new Uint8Array(chunk.byteLength);
  chunk.copyTo(data);
  return data;
};

const descriptionBytes = (d: AllowSharedBufferSource | undefined): Uint8Array | undefined =>
  d === undefined ? undefined : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice() : new Uint8Array(d).slice();

export class VideoEncoding {
  /** Frames handed to the encoder, and frames dropped because it was busy. */
  encoded = 0;
  dropped = 0;
  private readonly encoder: VideoEncoder;
  private size = '';
  private lastKeyUs = -Infinity;
  private forceKey = false;
  private readonly wallClocks = new Map<number, number>();

  constructor(private readonly settings: VideoSettings, private readonly muxer: ChannelMuxer, onError: (err: Error) => void) {
    this.encoder = new VideoEncoder({ output: (chunk, meta) => this.onChunk(chunk, meta), error: (err) => onError(err) });
  }

  /** The next frame is made a keyframe (after a reconnect). */
  requestKeyframe(): void {
    this.forceKey = true;
  }

  /** Encodes (or drops) one frame and closes it. */
  encode(frame: VideoFrame, wallClockMs: number): void {
    try {
      if (this.encoder.state === 'closed') return;
      if (this.encoder.encodeQueueSize >= MAX_ENCODE_QUEUE) {
        this.dropped++;
        return;
      }
      // Even sizes (4:2:0), from the frame itself: a camera may not give the size asked for.
      const width = frame.displayWidth & ~1;
      const height = frame.displayHeight & ~1;
      if (`${width}x${height}` !== this.size) {
        this.size = `${width}x${height}`;
        this.encoder.configure(videoEncoderConfig({ ...this.settings, width, height }));
        this.forceKey = true;
      }
      const keyFrame = this.forceKey || this.muxer.wantsKeyframe || frame.timestamp - this.lastKeyUs >= KEYFRAME_INTERVAL_US;
      if (keyFrame) {
        this.lastKeyUs = frame.timestamp;
        this.forceKey = false;
      }
      this.wallClocks.set(frame.timestamp, wallClockMs);
      if (this.wallClocks.size > MAX_WALL_CLOCKS) this.wallClocks.delete(this.wallClocks.keys().next().value!);
      this.encoder.encode(frame, { keyFrame });
      this.encoded++;
    } finally {
      frame.close();
    }
  }

  private onChunk(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined): void {
    const config = meta?.decoderConfig;
    const avcC = descriptionBytes(config?.description);
    if (config && avcC) this.muxer.setVideoConfig({ width: config.codedWidth ?? 0, height: config.codedHeight ?? 0, avcC });
    const wallClockMs = this.wallClocks.get(chunk.timestamp) ?? performance.timeOrigin + performance.now();
    this.wallClocks.delete(chunk.timestamp);
    this.muxer.addVideo({ timestampUs: chunk.timestamp, durationUs: chunk.duration, keyframe: chunk.type === 'key', data: bytesOf(chunk), wallClockMs });
  }

  async close(): Promise<void> {
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}

export class AudioEncoding {
  private readonly encoder: AudioEncoder;
  private configured = false;

  constructor(private readonly muxer: ChannelMuxer, onError: (err: Error) => void) {
    this.encoder = new AudioEncoder({ output: (chunk, meta) => this.onChunk(chunk, meta), error: (err) => onError(err) });
  }

  /** Encodes one AudioData and closes it; the encoder is configured from the first one's rate and channels. */
  encode(data: AudioData): void {
    try {
      if (this.encoder.state === 'closed') return;
      if (!this.configured) {
        this.encoder.configure({ codec: 'opus', sampleRate: data.sampleRate, numberOfChannels: data.numberOfChannels, bitrate: AUDIO_BITRATE });
        this.configured = true;
      }
      this.encoder.encode(data);
    } finally {
      data.close();
    }
  }

  private onChunk(chunk: EncodedAudioChunk, meta: EncodedAudioChunkMetadata | undefined): void {
    const config = meta?.decoderConfig;
    if (config) {
      const facts = opusHeadFacts(descriptionBytes(config.description), config.numberOfChannels);
      this.muxer.setAudioConfig({ channels: facts.channels, sampleRate: config.sampleRate, preSkip: facts.preSkip });
    }
    this.muxer.addAudio({ timestampUs: chunk.timestamp, durationUs: chunk.duration ?? 20_000, data: bytesOf(chunk) });
  }

  async close(): Promise<void> {
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}
