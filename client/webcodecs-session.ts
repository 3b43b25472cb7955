/**
 * One play session in WebCodecs mode: each fragment's samples go to a
 * VideoDecoder configured for low latency (and an AudioDecoder), decoding
 * starts at a keyframe, each decoded frame is drawn to the canvas when the
 * frame pacer says (at once for one-frame fragments) and closed. The decode
 * queue is bounded: a viewer that falls behind skips to the next keyframe.
 */
import { parseFragment, parseInit, type FragmentInfo, type InitInfo } from '../protocol/index.js';
import { decoderDescriptions } from '../protocol/fmp4-codec-config.js';
import { parseFragmentSamples, parseTrackDefaults, type MediaSample, type SampleTrack } from '../protocol/fmp4-samples.js';
import { FramePacer } from './frame-pacer.js';
import type { MediaSink, SinkFrames, SinkOptions } from './media-sink.js';
import { producerReference, type ProducerReference } from './stats.js';
import { AudioPlayout } from './webcodecs-audio.js';
import { FrameCanvas } from './webcodecs-canvas.js';

export interface WebCodecsSessionOptions extends SinkOptions {
  canvas: HTMLCanvasElement;
  /** The engine's shared audio context, or why there is no sound. */
  audio: { context: AudioContext; muted: boolean } | { off: string };
}

/** Chunks waiting in the video decoder beyond which the player skips to the next keyframe. */
export const MAX_DECODE_QUEUE = 16;

export class WebCodecsSession implements MediaSink {
  init: InitInfo | undefined;
  firstFrameDecoded = false;
  decoded = 0;
  skipped = 0;
  private video: VideoDecoder | undefined;
  private audio: AudioPlayout | undefined;
  private audioState: string;
  private tracks: SampleTrack[] = [];
  private timescales = new Map<number, number>();
  private waitKey = true;
  private receivedEndUs = 0;
  private oneFramePerFragment = false;
  private producerRef: ProducerReference | null = null;
  private readonly pacer = new FramePacer();
  private readonly canvas: FrameCanvas;
  private destroyed = false;

  constructor(private readonly options: WebCodecsSessionOptions) {
    this.canvas = new FrameCanvas(options.canvas, this.pacer, () => this.onDrawn());
    this.audioState = 'off' in options.audio ? `off: ${options.audio.off}` : '';
  }

  get hasInit(): boolean {
    return this.init !== undefined;
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  appendInit(bytes: Uint8Array<ArrayBuffer>): InitInfo {
    const init = parseInit(bytes);
    const defaults = parseTrackDefaults(bytes);
    const descriptions = decoderDescriptions(bytes);
    this.init = init;
    this.tracks = init.tracks.map((t) => ({ id: t.id, timescale: t.timescale, defaults: defaults.get(t.id) }));
    this.timescales = new Map(init.tracks.map((t) => [t.id, t.timescale]));
    const video = init.tracks.find((t) => t.id === init.videoTrackId);
    if (video) this.configureVideo({ codec: video.codec, description: descriptions.get(video.id), optimizeForLatency: true });
    const audio = init.tracks.find((t) => t.type === 'audio');
    if (audio && !('off' in this.options.audio)) {
      this.configureAudio({
        codec: audio.codec,
        sampleRate: audio.sampleRate ?? 48_000,
        numberOfChannels: audio.channels ?? 2,
        description: descriptions.get(audio.id),
      });
    } else if (!audio) this.audioState = 'off: the stream has no sound';
    return init;
  }

  appendFragment(bytes: Uint8Array<ArrayBuffer>): FragmentInfo {
    const info = parseFragment(bytes);
    const samples = parseFragmentSamples(bytes, this.tracks);
    this.producerRef = producerReference(info, this.timescales) ?? this.producerRef;
    const videoId = this.init?.videoTrackId;
    const videoSamples = samples.filter((s) => s.trackId === videoId).length;
    // Fragments with video decide: one frame each is drawn on output, several are paced.
    if (videoSamples > 0) this.oneFramePerFragment = videoSamples === 1;
    for (const sample of samples) {
      if (sample.trackId === videoId) this.decodeVideo(sample);
      else this.audio?.push(sample);
    }
    return info;
  }

  tick(): void {
    // Frames are drawn from decoder callbacks and timers; nothing to do on the player's tick.
  }

  bufferAheadS(): number {
    const shown = this.canvas.lastTimestampUs;
    return shown === undefined ? 0 : Math.max(0, (this.receivedEndUs - shown) / 1e6);
  }

  latencyMs(nowMs: number): number | null {
    return this.producerRef ? this.canvas.latencyMs(nowMs, this.producerRef) : null;
  }

  playhead(): { currentTime: number; paused: boolean } {
    return { currentTime: (this.canvas.lastTimestampUs ?? 0) / 1e6, paused: false };
  }

  frames(): SinkFrames {
    const audio = this.audio;
    return {
      decoded: this.decoded,
      drawn: this.canvas.drawn,
      dropped: this.skipped + this.canvas.superseded,
      decodeQueue: this.video?.decodeQueueSize ?? 0,
      fps: this.canvas.fps(performance.now()),
      width: this.canvas.width,
      height: this.canvas.height,
      audio: audio ? `${this.audioState} · ${audio.scheduled} played${audio.dropped > 0 ? ` · ${audio.dropped} late` : ''}` : this.audioState,
    };
  }

  set muted(muted: boolean) {
    if (this.audio) this.audio.muted = muted;
    if (this.audio) this.audioState = muted ? 'muted' : 'on';
  }

  async endOfStream(): Promise<void> {
    if (this.video?.state === 'configured') await this.video.flush();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.video && this.video.state !== 'closed') this.video.close();
    this.audio?.close();
    this.canvas.destroy();
  }

  private configureVideo(config: VideoDecoderConfig): void {
    this.video = new VideoDecoder({
      output: (frame) => this.onFrame(frame),
      error: (err) => {
        if (!this.destroyed) this.options.onMediaError(`VideoDecoder: ${err.message}`);
      },
    });
    this.video.configure(config);
  }

  private configureAudio(config: AudioDecoderConfig): void {
    if ('off' in this.options.audio) return;
    const { context, muted } = this.options.audio;
    try {
      this.audio = new AudioPlayout(
        {
          context,
          wallFor: (ts) => this.pacer.wallFor(ts),
          log: this.options.log.child('audio'),
          onError: (message) => {
            this.options.log.warn('sound stopped', message);
            this.audioState = `off: ${message}`;
            this.audio?.close();
            this.audio = undefined;
          },
        },
        config,
      );
      this.muted = muted;
    } catch (err) {
      this.audioState = `off: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Decoding starts at a keyframe; a full decode queue skips to the next one. */
  private decodeVideo(sample: MediaSample): void {
    const decoder = this.video;
    if (!decoder || decoder.state !== 'configured') return;
    this.receivedEndUs = sample.timestampUs + sample.durationUs;
    const full = decoder.decodeQueueSize >= MAX_DECODE_QUEUE;
    if (full && !this.waitKey) this.options.log.info('decoder behind: skipping to the next keyframe');
    if (full) this.waitKey = true;
    if (this.waitKey && (!sample.keyframe || full)) {
      this.skipped++;
      this.options.onDropped(1);
      return;
    }
    this.waitKey = false;
    const type = sample.keyframe ? 'key' : 'delta';
    decoder.decode(new EncodedVideoChunk({ type, timestamp: sample.timestampUs, duration: sample.durationUs, data: sample.data }));
  }

  private onFrame(frame: VideoFrame): void {
    if (this.destroyed) {
      frame.close();
      return;
    }
    this.decoded++;
    this.canvas.show(frame, this.oneFramePerFragment);
  }

  private onDrawn(): void {
    if (this.firstFrameDecoded || this.destroyed) return;
    this.firstFrameDecoded = true;
    this.options.onFirstFrame();
  }
}
