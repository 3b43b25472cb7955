/**
 * Sound in WebCodecs mode: AudioDecoder → AudioBuffers scheduled on a Web
 * Audio context against the video clock (the frame pacer's media → page time
 * map), so sound and picture stay together. Buffers play back to back while
 * they stay within a few ms of where the video clock puts them; further off,
 * playback re-anchors; audio that would play in the past is dropped.
 */
import type { MediaSample } from '../protocol/fmp4-samples.js';
import type { Logger } from './log.js';

export interface AudioPlayoutOptions {
  context: AudioContext;
  /** The page time (performance.now) at which media time `timestampUs` is shown; undefined before the first frame. */
  wallFor: (timestampUs: number) => number | undefined;
  log: Logger;
  onError: (message: string) => void;
}

/** Buffers this close to the end of the previous one are played back to back. */
const CONTIGUOUS_S = 0.03;
/**
 * Sound may trail the picture by up to this much rather than be dropped. With one
 * video frame per fragment the picture is drawn the moment it is decoded, and the
 * sound of the same instant arrives with it: scheduled on the picture's clock it is
 * always a little late (measured 30–90 ms in Chromium; every buffer was dropped).
 */
const MAX_TRAIL_S = 0.25;
/** A late buffer starts this far ahead of the audio clock, so it is not cut. */
const START_LEAD_S = 0.02;
/** Decoder queue bound: beyond it, chunks are dropped (the page is too slow). */
const MAX_QUEUE = 50;

export class AudioPlayout {
  /** Buffers scheduled; dropped because they came too late (or the decoder was behind). */
  scheduled = 0;
  dropped = 0;
  /** Buffers decoded before the first video frame gave the clock. */
  beforeClock = 0;
  private readonly decoder: AudioDecoder;
  private readonly gain: GainNode;
  private nextTime = 0;
  private closed = false;

  constructor(
    private readonly options: AudioPlayoutOptions,
    config: AudioDecoderConfig,
  ) {
    this.gain = options.context.createGain();
    this.gain.connect(options.context.destination);
    this.decoder = new AudioDecoder({
      output: (data) => this.onData(data),
      error: (err) => {
        if (!this.closed) options.onError(`AudioDecoder: ${err.message}`);
      },
    });
    this.decoder.configure(config);
  }

  set muted(muted: boolean) {
    this.gain.gain.value = muted ? 0 : 1;
  }

  push(sample: MediaSample): void {
    if (this.closed || this.decoder.state !== 'configured') return;
    if (this.decoder.decodeQueueSize > MAX_QUEUE) {
      this.dropped++;
      return;
    }
    this.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: sample.timestampUs, duration: sample.durationUs, data: sample.data }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.decoder.state !== 'closed') this.decoder.close();
    this.gain.disconnect();
  }

  private onData(data: AudioData): void {
    try {
      if (!this.closed) this.schedule(data);
    } finally {
      data.close();
    }
  }

  private schedule(data: AudioData): void {
    const ctx = this.options.context;
    const wall = this.options.wallFor(data.timestamp);
    if (wall === undefined || ctx.state !== 'running') {
      this.beforeClock++;
      return;
    }
    const stamp = ctx.getOutputTimestamp();
    const ctxNow = stamp.contextTime ?? ctx.currentTime;
    const perfNow = stamp.performanceTime ?? performance.now();
    let when = ctxNow + (wall - perfNow) / 1000 - (ctx.outputLatency || 0);
    // Back to back with the previous buffer when close to it, or when behind it by less than the trail allowed.
    if (Math.abs(when - this.nextTime) < CONTIGUOUS_S || (when < this.nextTime && this.nextTime - when < MAX_TRAIL_S)) when = this.nextTime;
    const buffer = this.toBuffer(ctx, data);
    const late = ctx.currentTime - when;
    if (late > MAX_TRAIL_S) {
      this.dropped++;
      this.options.log.debug(`audio ${Math.round(late * 1000)} ms late: dropped`);
      return;
    }
    if (late > 0) when = ctx.currentTime + START_LEAD_S; // trails the picture by about `late`
    if (when !== this.nextTime && this.scheduled > 0) this.options.log.debug(`audio re-anchored by ${Math.round((when - this.nextTime) * 1000)} ms`);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.gain);
    source.start(Math.max(when, ctx.currentTime));
    this.nextTime = Math.max(when, ctx.currentTime) + buffer.duration;
    this.scheduled++;
  }

  private toBuffer(ctx: AudioContext, data: AudioData): AudioBuffer {
    const buffer = ctx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
    for (let ch = 0; ch < data.numberOfChannels; ch++) {
      const plane = new Float32Array(data.numberOfFrames);
      data.copyTo(plane, { planeIndex: ch, format: 'f32-planar' });
      buffer.copyToChannel(plane, ch);
    }
    return buffer;
  }
}
