/**
 * One "Go live": a camera (and microphone) stream → WebCodecs encoders → fMP4 muxer →
 * the channel's topics through the broker, until Stop. Start rejects with a coded
 * GoLiveFailure; later problems (broker refusal, encoder error, the camera unplugged)
 * end the session and are reported as an `error` event. Stop leaves the channel
 * `offline` with its retained init cleared, as `mqttcast publish` does.
 */
import { channelTopics, parseInit, type ChannelMetaInput, type InitInfo, type Track } from '../../protocol/index.js';
import { Emitter } from '../emitter.js';
import type { Logger } from '../log.js';
import { ChannelPublisher } from './channel-publisher.js';
import { AudioEncoding, VideoEncoding, canEncodeOpus, canEncodeVideo, type VideoSettings } from './encoders.js';
import { ChannelMuxer } from './fmp4-muxer.js';
import { hasTrackProcessor, readTrack, readVideoElement, type FrameSource } from './frame-source.js';
import { GoLiveFailure, asGoLiveError, goLiveError, type GoLiveError } from './go-live-errors.js';
import { PublishStats, type PublishSnapshot } from './publish-stats.js';

export interface GoLiveOptions {
  brokerUrl: string;
  username?: string;
  password?: string;
  prefix: string;
  name: string;
  clientId: string;
  stream: MediaStream;
  video: VideoSettings;
  /** The preview element: the frame source where the browser has no MediaStreamTrackProcessor. */
  preview: HTMLVideoElement;
  log: Logger;
}

export type GoLiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export type GoLiveEvents = {
  state: (state: GoLiveState, detail: string) => void;
  stats: (stats: PublishSnapshot) => void;
  /** The session ended because of this (it is already offline when this fires). */
  error: (error: GoLiveError) => void;
};

/** How often the retained meta is refreshed (bit rate, GOP) and stats are shown. */
export const META_INTERVAL_MS = 5000;
const STATS_INTERVAL_MS = 1000;
/** A microphone that gives no audio within this time is left out (a new init without audio). */
const AUDIO_WAIT_MS = 3000;

export class GoLiveSession extends Emitter<GoLiveEvents> {
  state: GoLiveState = 'connecting';
  readonly stats = new PublishStats();
  private readonly sources: FrameSource[] = [];
  private readonly timers: Array<ReturnType<typeof setInterval>> = [];
  private videoEncoding: VideoEncoding | undefined;
  private audioEncoding: AudioEncoding | undefined;
  private init: InitInfo | undefined;
  private stopping: Promise<void> | undefined;
  private readonly base: { publisher: string; started_at: string };

  private readonly muxer: ChannelMuxer;

  private constructor(private readonly options: GoLiveOptions, private readonly publisher: ChannelPublisher, audio: boolean, base: { publisher: string; started_at: string }) {
    super();
    this.base = base;
    this.muxer = new ChannelMuxer({ audio, onInit: (init) => this.onInit(init), onFragment: ({ data, sync }) => this.onFragment(data, sync) });
  }

  /** Checks the name and the encoders, connects, and starts publishing. */
  static async start(options: GoLiveOptions): Promise<GoLiveSession> {
    let topics;
    try {
      topics = channelTopics(options.prefix, options.name);
    } catch (err) {
      throw new GoLiveFailure(asGoLiveError(err, 'INVALID_REQUEST'));
    }
    const videoTrack = options.stream.getVideoTracks()[0];
    if (!videoTrack) throw new GoLiveFailure(goLiveError('CAMERA_UNAVAILABLE', 'the stream has no video track'));
    if (!(await canEncodeVideo(options.video))) throw new GoLiveFailure(goLiveError('ENCODER_UNSUPPORTED', `${options.video.width}×${options.video.height}`));
    const audioTrack = options.stream.getAudioTracks()[0];
    const audioSettings = audioTrack?.getSettings();
    const audio = audioTrack !== undefined && hasTrackProcessor() && (await canEncodeOpus(audioSettings?.sampleRate ?? 48_000, audioSettings?.channelCount ?? 1));
    const base = { publisher: publisherLabel(options.clientId), started_at: new Date().toISOString() };
    const publisher = await ChannelPublisher.connect({
      url: options.brokerUrl,
      // Its own id (like the CLI's mqttcast-pub-<name>-<random>): two tabs, or a tab and its player, never take over each other's connection.
      clientId: `mqttcast-golive-${options.name}-${randomHex(3)}`.slice(0, 64),
      username: options.username,
      password: options.password,
      topics,
      will: { state: 'offline', ...base, reason: 'connection_lost' },
    });
    const session = new GoLiveSession(options, publisher, audio, base);
    session.run(videoTrack, audio ? audioTrack : undefined);
    return session;
  }

  private run(videoTrack: MediaStreamTrack, audioTrack: MediaStreamTrack | undefined): void {
    const { log } = this.options;
    const fail = (error: GoLiveError): void => {
      if (this.stopping) return;
      log.warn('go live ended', error.message, error.detail);
      this.emit('error', error);
      this.stop(error.code === 'PUBLISH_REFUSED' ? 'refused' : 'input_failed').catch((err: unknown) => log.warn('stopping failed', err));
    };
    const encoderFailed = (err: Error): void => fail(goLiveError('ENCODER_FAILED', err.message));
    const ended = (err?: unknown): void => {
      if (this.stopping) return;
      const detail = err === undefined ? 'the camera stopped' : err instanceof Error ? err.message : String(err);
      this.emit('error', goLiveError('CAMERA_UNAVAILABLE', detail));
      this.stop(err === undefined ? 'input_ended' : 'input_failed').catch((e: unknown) => log.warn('stopping failed', e));
    };
    const video = new VideoEncoding(this.options.video, this.muxer, encoderFailed);
    this.videoEncoding = video;
    const wallClock = (): number => performance.timeOrigin + performance.now();
    // Each track's clock against performance.now(), from the first frame read (see ChannelMuxer.setAudioClockOffset).
    let videoClockUs: number | undefined;
    let audioClockUs: number | undefined;
    const lineUpClocks = (): void => {
      if (videoClockUs !== undefined && audioClockUs !== undefined) this.muxer.setAudioClockOffset(audioClockUs - videoClockUs);
    };
    const onVideo = (frame: VideoFrame): void => {
      if (videoClockUs === undefined) {
        videoClockUs = performance.now() * 1000 - frame.timestamp;
        lineUpClocks();
      }
      video.encode(frame, wallClock());
    };
    this.sources.push(
      hasTrackProcessor()
        ? readTrack<VideoFrame>(videoTrack, onVideo, ended)
        : readVideoElement(this.options.preview, this.options.video.framerate, onVideo),
    );
    if (audioTrack) {
      const audio = new AudioEncoding(this.muxer, encoderFailed);
      this.audioEncoding = audio;
      const onAudio = (data: AudioData): void => {
        if (audioClockUs === undefined) {
          audioClockUs = performance.now() * 1000 - data.timestamp;
          lineUpClocks();
        }
        audio.encode(data);
      };
      this.sources.push(readTrack<AudioData>(audioTrack, onAudio, (err) => err && log.warn('microphone ended', err)));
      const wait = setTimeout(() => {
        if (this.init || !this.muxer.hasAudio) return;
        log.warn(`no audio from the microphone within ${AUDIO_WAIT_MS} ms: publishing video only`);
        this.muxer.withoutAudio();
      }, AUDIO_WAIT_MS);
      this.timers.push(wait);
    }
    this.publisher.on('refused', fail);
    this.publisher.on('connection', (connected) => {
      if (connected) video.requestKeyframe();
      this.setState(connected ? (this.init ? 'live' : 'connecting') : 'reconnecting', connected ? '' : 'lost the broker; reconnecting');
    });
    this.timers.push(setInterval(() => this.emit('stats', this.snapshot()), STATS_INTERVAL_MS));
    this.timers.push(setInterval(() => this.init && this.publisher.setMeta(this.liveMeta()), META_INTERVAL_MS));
  }

  private onInit(init: Uint8Array): void {
    this.init = parseInit(init);
    this.publisher.setInit(init);
    this.publisher.setMeta(this.liveMeta());
    this.setState(this.publisher.connected ? 'live' : 'reconnecting', this.init.mimeCodec);
  }

  private onFragment(data: Uint8Array, sync: boolean): void {
    if (this.publisher.publishData(data, sync) === 'sent') this.stats.sent(data.byteLength, sync);
    else this.stats.droppedFragments++;
  }

  snapshot(): PublishSnapshot {
    return {
      bitrate: this.stats.bitrate(),
      frames: this.videoEncoding?.encoded ?? 0,
      dropped: (this.videoEncoding?.dropped ?? 0) + this.stats.droppedFragments,
      fragments: this.stats.fragments,
      gop: this.stats.gop,
      buffered: this.publisher.bufferedBytes,
    };
  }

  /** The codec string of what is being published, once the first keyframe is out. */
  get mimeCodec(): string | undefined {
    return this.init?.mimeCodec;
  }

  private liveMeta(): ChannelMetaInput {
    const tracks: Track[] = this.init!.tracks.map((t) => ({
      id: t.id, type: t.type === 'video' ? 'video' : 'audio', codec: t.codec, width: t.width, height: t.height, sampleRate: t.sampleRate, channels: t.channels,
    }));
    return {
      state: 'live', ...this.base, mimeCodec: this.init!.mimeCodec, tracks,
      bitrate: this.stats.bitrate(), gop: this.stats.gop, updated_at: new Date().toISOString(),
    };
  }

  private setState(state: GoLiveState, detail: string): void {
    if (this.stopping && state !== 'offline') return;
    this.state = state;
    this.emit('state', state, detail);
  }

  /** Stops capture and encoding, then leaves the channel offline (`reason`) and disconnects. Idempotent. */
  stop(reason = 'stopped'): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await Promise.all(this.sources.splice(0).map((s) => s.close()));
    await Promise.all([this.videoEncoding?.close(), this.audioEncoding?.close()]);
    await this.publisher.close({ state: 'offline', ...this.base, reason, updated_at: new Date().toISOString() });
    this.setState('offline', reason);
  }
}

function publisherLabel(clientId: string): string {
  return `browser ${clientId || randomHex(4)}`.slice(0, 128);
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}
