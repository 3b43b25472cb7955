/**
 * One play session on the video element: a fresh MediaSource with one
 * SourceBuffer fed through the append queue, start-up positioning, live-edge
 * control, back-buffer trimming and first-frame detection.
 */
import { parseFragment, parseInit, readBoxHeader, fragmentStartsWithSync } from '../protocol/index.js';
import type { FragmentInfo, InitInfo } from '../protocol/index.js';
import { AppendQueue, type AppendQueueError } from './append-queue.js';
import { ArrivalJitter } from './arrival-jitter.js';
import { LiveEdgeController, backBufferToTrim, bufferAhead, rangesOf, readyToStart, startPosition, type Range } from './live-edge.js';
import type { MediaSink, SinkFrames, SinkOptions } from './media-sink.js';
import { attachMediaSource, closeMediaSource, type MediaSourceImpl } from './media-source.js';
import { fragmentSpan, latencyMs, producerReference, type ProducerReference } from './stats.js';

export interface MediaSessionOptions extends SinkOptions {
  video: HTMLVideoElement;
  impl: MediaSourceImpl;
}

const TRIM_EVERY_MS = 2000;
/** Start anyway when this much time passed since the first fragment without reaching the target. */
const START_ANYWAY_MS = 1500;

/** Whether a message is an init segment (starts with `ftyp` or `moov`). */
export function isInitSegment(bytes: Uint8Array): boolean {
  const header = bytes.byteLength >= 8 ? readBoxHeader(bytes, 0) : null;
  return header?.type === 'ftyp' || header?.type === 'moov';
}

export class MediaSession implements MediaSink {
  init: InitInfo | undefined;
  firstFrameDecoded = false;
  private mediaSource: MediaSource | undefined;
  private objectUrl: string | undefined;
  private queue: AppendQueue | undefined;
  private sourceBuffer: SourceBuffer | undefined;
  private readonly liveEdge: LiveEdgeController;
  private timescales = new Map<number, number>();
  private producerRef: ProducerReference | null = null;
  private started = false;
  private firstDataAt: number | undefined;
  private readonly jitter = new ArrivalJitter();
  private lastTrimAt = 0;
  private frameCallback: number | undefined;
  private destroyed = false;
  private readonly video: HTMLVideoElement;

  constructor(private readonly options: MediaSessionOptions) {
    this.video = options.video;
    this.liveEdge = new LiveEdgeController(options.liveTargetS === undefined ? {} : { targetS: options.liveTargetS });
  }

  /** Seconds behind the buffered end that live playback aims for now. */
  get liveTargetS(): number {
    return this.liveEdge.targetS;
  }

  async open(): Promise<void> {
    const { mediaSource, objectUrl, opened } = attachMediaSource(this.video, this.options.impl);
    this.mediaSource = mediaSource;
    this.objectUrl = objectUrl;
    await opened;
    if (this.destroyed) return;
    const sb = mediaSource.addSourceBuffer(this.options.mimeCodec);
    sb.mode = 'segments';
    // Start as soon as the first fragment is in, not at the next tick.
    sb.addEventListener('updateend', this.maybeStart);
    this.sourceBuffer = sb;
    this.queue = new AppendQueue(sb, {
      currentTime: () => this.video.currentTime,
      onError: (err) => this.onQueueError(err),
      onDrop: (count) => this.options.onDropped(count),
    });
    this.video.addEventListener('timeupdate', this.onTimeUpdate);
    this.video.addEventListener('error', this.onVideoError);
  }

  get hasInit(): boolean {
    return this.init !== undefined;
  }

  /** Parses and queues the init segment. Throws BoxFormatError for a malformed one. */
  appendInit(bytes: Uint8Array<ArrayBuffer>): InitInfo {
    const init = parseInit(bytes);
    this.init = init;
    this.timescales = new Map(init.tracks.map((t) => [t.id, t.timescale]));
    this.queue?.appendInit(bytes);
    if (init.videoTrackId !== undefined && 'requestVideoFrameCallback' in this.video) {
      this.frameCallback = this.video.requestVideoFrameCallback(() => this.firstFrame());
    }
    return init;
  }

  /** Parses and queues one fragment. Throws BoxFormatError for a malformed one. */
  appendFragment(bytes: Uint8Array<ArrayBuffer>): FragmentInfo {
    const info = parseFragment(bytes);
    const videoId = this.init?.videoTrackId;
    const flags = this.init?.tracks.find((t) => t.id === videoId)?.defaultSampleFlags ?? 0;
    this.queue?.appendFragment(bytes, fragmentStartsWithSync(info, videoId, flags));
    this.producerRef = producerReference(info, this.timescales) ?? this.producerRef;
    this.measureArrival(info, performance.now());
    return info;
  }

  /** Called a few times a second: start-up position, live edge, back-buffer trimming. */
  tick(now: number): void {
    if (this.destroyed || !this.queue) return;
    const video = this.video;
    this.maybeStart();
    const buffered = rangesOf(video.buffered);
    this.markLive(buffered);
    const action = this.liveEdge.decide({
      currentTime: video.currentTime,
      buffered,
      firstFrameDecoded: this.firstFrameDecoded,
      live: this.options.live,
      paused: video.paused && this.started,
      now,
    });
    if (video.playbackRate !== action.rate) video.playbackRate = action.rate;
    if (action.seekTo !== undefined) {
      this.options.log.debug(`seek ${action.reason}`, video.currentTime, '→', action.seekTo);
      video.currentTime = action.seekTo;
    }
    if (now - this.lastTrimAt >= TRIM_EVERY_MS) {
      this.lastTrimAt = now;
      const trim = backBufferToTrim(video.currentTime, buffered);
      if (trim) this.queue.remove(trim.start, trim.end);
    }
  }

  playhead(): { currentTime: number; paused: boolean } {
    return { currentTime: this.video.currentTime, paused: this.video.paused && this.firstFrameDecoded };
  }

  frames(): SinkFrames {
    const video = this.video;
    const quality = typeof video.getVideoPlaybackQuality === 'function' ? video.getVideoPlaybackQuality() : null;
    const initVideo = this.init?.tracks.find((t) => t.type === 'video');
    return {
      decoded: quality?.totalVideoFrames ?? 0,
      dropped: quality?.droppedVideoFrames ?? 0,
      width: video.videoWidth || initVideo?.width || 0,
      height: video.videoHeight || initVideo?.height || 0,
      audio: video.muted ? 'muted (video controls)' : 'on',
    };
  }

  bufferAheadS(): number {
    return bufferAhead(this.video.currentTime, rangesOf(this.video.buffered));
  }

  latencyMs(nowMs: number): number | null {
    if (!this.producerRef || !this.firstFrameDecoded) return null;
    return latencyMs(nowMs, this.video.currentTime, this.producerRef);
  }

  /** Lets the buffered media play out, then ends the MediaSource (source ended). */
  async endOfStream(): Promise<void> {
    await this.queue?.whenDrained();
    if (!this.destroyed && this.mediaSource?.readyState === 'open') this.mediaSource.endOfStream();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue?.destroy();
    this.sourceBuffer?.removeEventListener('updateend', this.maybeStart);
    if (this.frameCallback !== undefined) this.video.cancelVideoFrameCallback(this.frameCallback);
    this.video.removeEventListener('timeupdate', this.onTimeUpdate);
    this.video.removeEventListener('error', this.onVideoError);
    this.video.playbackRate = 1;
    closeMediaSource(this.video, this.objectUrl);
  }

  /** The live-edge target follows the measured jitter of fragment arrivals (unless `?latency=` fixed it). */
  private measureArrival(info: FragmentInfo, now: number): void {
    this.firstDataAt ??= now;
    if (!this.options.live) return;
    const span = fragmentSpan(info, this.init?.videoTrackId, this.timescales);
    if (!span) return;
    this.jitter.add(now, span.startS, span.endS);
    const target = this.options.liveTargetS ?? this.jitter.targetS();
    this.liveEdge.retarget(target, this.jitter.fragmentS());
  }

  /** A live stream: duration Infinity and what is buffered is seekable. */
  private markLive(buffered: readonly Range[]): void {
    const ms = this.mediaSource;
    const first = buffered[0];
    const last = buffered[buffered.length - 1];
    if (!this.options.live || !ms || ms.readyState !== 'open' || this.sourceBuffer?.updating || !first || !last) return;
    try {
      if (ms.duration !== Infinity) ms.duration = Infinity;
      if (typeof ms.setLiveSeekableRange === 'function') ms.setLiveSeekableRange(first[0], last[1]);
    } catch (err) {
      this.options.log.debug('could not mark the stream live', err);
    }
  }

  /**
   * Once enough is buffered (the live-edge target, so playback does not start
   * on one fragment), move to the start of the first range and play.
   */
  private readonly maybeStart = (): void => {
    const video = this.video;
    if (this.started || this.destroyed || video.buffered.length === 0) return;
    const buffered = rangesOf(video.buffered);
    const pos = startPosition(video.currentTime, buffered);
    const from = pos ?? video.currentTime;
    const waited = performance.now() - (this.firstDataAt ?? performance.now());
    if (this.options.live && waited < START_ANYWAY_MS && !readyToStart(from, buffered, this.liveEdge.targetS)) return;
    this.started = true;
    if (pos !== null) video.currentTime = pos;
    video.play().catch((err: unknown) => this.options.log.debug('play() did not start', err));
  };

  private firstFrame(): void {
    if (this.firstFrameDecoded || this.destroyed) return;
    this.firstFrameDecoded = true;
    this.options.onFirstFrame();
  }

  /**
   * Fallback for browsers without requestVideoFrameCallback, for audio-only
   * streams, and for hidden tabs (which present no frames).
   */
  private readonly onTimeUpdate = (): void => {
    const video = this.video;
    const fallback = this.frameCallback === undefined || video.ownerDocument.hidden;
    if (fallback && this.started && !video.paused && video.readyState >= 2) this.firstFrame();
  };

  private readonly onVideoError = (): void => {
    const err = this.video.error;
    if (this.destroyed || !err) return;
    this.options.onMediaError(err.message || `media error ${err.code}`);
  };

  private onQueueError(err: AppendQueueError): void {
    this.options.log.warn(`append queue: ${err.operation} failed`, err.name, err.message);
    // A failed back-buffer removal costs only memory; the next trim tries again.
    if (err.operation === 'remove') return;
    this.options.onMediaError(`${err.name} during ${err.operation}: ${err.message}`);
  }
}
