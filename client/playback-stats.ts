/**
 * The numbers behind the stats overlay for the current play: counters fed by
 * the player, plus what the video element and media session know right now.
 */
import type { MediaSession } from './media-session.js';
import { BitrateMeter, History, emptyStats, type StatsSnapshot } from './stats.js';

type Counters = Pick<StatsSnapshot, 'codec' | 'mode' | 'ttffMs' | 'skipped' | 'playerDropped' | 'fragments' | 'bytes'>;

export class PlaybackStats {
  readonly latencyHistory = new History(60);
  readonly bitrateHistory = new History(60);
  counters: Counters = emptyStats();
  private readonly meter = new BitrateMeter();

  /** A new play: counters start from zero. */
  reset(codec = '', mode = ''): void {
    this.counters = { ...emptyStats(), codec, mode };
    this.meter.reset();
    this.latencyHistory.clear();
    this.bitrateHistory.clear();
  }

  media(bytes: number, now: number): void {
    this.counters.bytes += bytes;
    this.meter.add(bytes, now);
  }

  snapshot(video: HTMLVideoElement, session: MediaSession | null): StatsSnapshot {
    const quality = typeof video.getVideoPlaybackQuality === 'function' ? video.getVideoPlaybackQuality() : null;
    const initVideo = session?.init?.tracks.find((t) => t.type === 'video');
    return {
      ...emptyStats(),
      ...this.counters,
      width: session ? video.videoWidth || initVideo?.width || 0 : 0,
      height: session ? video.videoHeight || initVideo?.height || 0 : 0,
      bitrateBps: session ? this.meter.bitsPerSecond(performance.now()) : null,
      latencyMs: session?.latencyMs(Date.now()) ?? null,
      bufferS: session?.bufferAheadS() ?? 0,
      decodedFrames: session ? (quality?.totalVideoFrames ?? 0) : 0,
      droppedFrames: session ? (quality?.droppedVideoFrames ?? 0) : 0,
    };
  }

  /** Adds one point to each sparkline history. */
  sample(stats: StatsSnapshot): void {
    if (stats.latencyMs !== null) this.latencyHistory.push(stats.latencyMs);
    if (stats.bitrateBps !== null) this.bitrateHistory.push(stats.bitrateBps);
  }
}
