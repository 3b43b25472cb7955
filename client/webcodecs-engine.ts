/**
 * WebCodecs mode: VideoDecoder/AudioDecoder drawing to a <canvas>, for the
 * lowest latency. Feature detection (the page falls back to MSE without
 * VideoDecoder), codec probing with isConfigSupported, one shared AudioContext.
 */
import { playerError, type PlayerError } from './errors.js';
import type { Logger } from './log.js';
import { codecsOf, type MediaEngine, type MediaSink, type SinkOptions } from './media-sink.js';
import { CANDIDATE_CODECS } from './media-source.js';
import { WebCodecsSession } from './webcodecs-session.js';

/** Whether this page can decode video with WebCodecs. */
export function hasWebCodecs(scope: object = globalThis): boolean {
  const s = scope as { VideoDecoder?: unknown; EncodedVideoChunk?: unknown; VideoFrame?: unknown };
  return typeof s.VideoDecoder === 'function' && typeof s.EncodedVideoChunk === 'function' && typeof s.VideoFrame === 'function';
}

function hasAudioDecoder(): boolean {
  return typeof (globalThis as { AudioDecoder?: unknown }).AudioDecoder === 'function';
}

const VIDEO_PREFIXES = ['avc1', 'avc3', 'hvc1', 'hev1', 'av01', 'vp09', 'vp8'];
const isVideoCodec = (codec: string): boolean => VIDEO_PREFIXES.some((p) => codec.startsWith(p));

async function videoSupported(codec: string): Promise<boolean> {
  try {
    return (await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true })).supported === true;
  } catch {
    return false; // a TypeError means the codec string is not even valid: not supported
  }
}

async function audioSupported(codec: string): Promise<boolean> {
  if (!hasAudioDecoder()) return false;
  try {
    return (await AudioDecoder.isConfigSupported({ codec, sampleRate: 48_000, numberOfChannels: 2 })).supported === true;
  } catch {
    return false;
  }
}

export class WebCodecsEngine implements MediaEngine {
  readonly kind = 'webcodecs';
  readonly label = 'WebCodecs';
  private probed: Promise<readonly string[]> | undefined;
  private context: AudioContext | undefined;
  private current: WebCodecsSession | undefined;
  private mutedState = true;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly log: Logger,
  ) {}

  codecs(): Promise<readonly string[]> {
    this.probed ??= (async () => {
      const checks = await Promise.all(
        CANDIDATE_CODECS.map(async ({ codec, kind }) => ((kind === 'video' ? await videoSupported(codec) : await audioSupported(codec)) ? codec : null)),
      );
      return checks.filter((c): c is string => c !== null);
    })();
    return this.probed;
  }

  async check(mimeCodec: string): Promise<PlayerError | null> {
    for (const codec of codecsOf(mimeCodec).filter(isVideoCodec)) {
      if (!(await videoSupported(codec))) return playerError('CODEC_UNSUPPORTED', `${codec} (WebCodecs)`);
    }
    return null;
  }

  get muted(): boolean {
    return this.mutedState;
  }

  /** Sound on or off; turning it on from a click also lets the audio context start. */
  set muted(muted: boolean) {
    this.mutedState = muted;
    if (!muted && this.context?.state === 'suspended') {
      this.context.resume().catch((err: unknown) => this.log.warn('audio could not start', err));
    }
    if (this.current) this.current.muted = muted;
  }

  create(options: SinkOptions): MediaSink {
    const session = new WebCodecsSession({ ...options, canvas: this.canvas, audio: this.audioFor(options.mimeCodec) });
    this.current = session;
    return session;
  }

  private audioFor(mimeCodec: string): { context: AudioContext; muted: boolean } | { off: string } {
    const audio = codecsOf(mimeCodec).find((c) => !isVideoCodec(c));
    if (!audio) return { off: 'the stream has no sound' };
    if (!hasAudioDecoder() || typeof AudioContext !== 'function') return { off: 'this browser has no AudioDecoder' };
    this.context ??= new AudioContext({ latencyHint: 'interactive' });
    if (this.context.state === 'suspended') {
      this.context.resume().catch((err: unknown) => this.log.info('audio waits for a click', err));
    }
    return { context: this.context, muted: this.mutedState };
  }
}
