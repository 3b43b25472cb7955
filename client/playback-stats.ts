/**
 * The numbers behind the stats overlay for the current play: counters fed by
 * the player, plus what the media sink (MSE or WebCodecs) knows right now.
 */
import type { MediaSink } from './media-sink.js';
import { BitrateMeter, History, emptyStats, type StatsSnapshot } from './stats.js';

type Counters = Pick<StatsSnapshot, 'codec' | 'mode' | 'engine' | 'ttffMs' | 'skipped' | 'playerDropped' | 'fragments' | 'bytes'>;

export class PlaybackStats {
  readonly latencyHistory = new History(60);
  readonly bitrateHistory = new History(60);
  counters: Counters = emptyStats();
  private readonly meter = new BitrateMeter();

  /** A new play: counters start from zero. */
  reset(codec = '', mode = '', engine = ''): void {
    this.counters = { ...emptyStats(), codec, mode, engine };
    this.meter.reset();
    this.latencyHistory.clear();
    this.bitrateHistory.clear();
  }

  media(bytes: number, now: number): void {
    this.counters.bytes += bytes;
    this.meter.add(bytes, now);
  }

  snapshot(session: MediaSink | null): StatsSnapshot {
    const base = { ...emptyStats(), ...this.counters };
    if (!session) return base;
    const frames = session.frames();
    return {
      ...base,
      width: frames.width,
      height: frames.height,
      bitrateBps: this.meter.bitsPerSecond(performance.now()),
      latencyMs: session.latencyMs(Date.now()),
      bufferS: session.bufferAheadS(),
      decodedFrames: frames.decoded,
      droppedFrames: frames.dropped,
      drawnFrames: frames.drawn ?? null,
      decodeQueue: frames.decodeQueue ?? null,
      fps: frames.fps ?? null,
      audio: frames.audio ?? '',
      targetS: session.liveTargetS ?? null,
    };
  }

  /** Adds one point to each sparkline history. */
  sample(stats: StatsSnapshot): void {
    if (stats.latencyMs !== null) this.latencyHistory.push(stats.latencyMs);
    if (stats.bitrateBps !== null) this.bitrateHistory.push(stats.bitrateBps);
  }
}
