/**
 * Live-edge control (model: go2rtc video-rtc.js), with no DOM inside: keep the
 * buffer small, chase the live edge with playbackRate, jump when far behind,
 * skip gaps, and notice when playback stalls.
 */
import type { TimeRangesLike } from './append-queue.js';

export type Range = readonly [start: number, end: number];

export function rangesOf(ranges: TimeRangesLike): Range[] {
  const out: Range[] = [];
  for (let i = 0; i < ranges.length; i++) out.push([ranges.start(i), ranges.end(i)]);
  return out;
}

/** Seconds buffered ahead of the playhead in the range that holds it. */
export function bufferAhead(currentTime: number, buffered: readonly Range[], toleranceS = 0.1): number {
  const range = buffered.find(([s, e]) => currentTime >= s - toleranceS && currentTime <= e + toleranceS);
  return range ? Math.max(0, range[1] - currentTime) : 0;
}

/**
 * Where playback should start: the start of the first buffered range, when the
 * playhead is not already inside buffered media. Null when nothing is buffered
 * or no move is needed.
 */
export function startPosition(currentTime: number, buffered: readonly Range[], toleranceS = 0.1): number | null {
  const first = buffered[0];
  if (!first) return null;
  const inside = buffered.some(([s, e]) => currentTime >= s - toleranceS && currentTime < e);
  return inside ? null : first[0];
}

/** Back buffer to remove so that about `keepS` stays behind the playhead; null when small enough. */
export function backBufferToTrim(
  currentTime: number,
  buffered: readonly Range[],
  keepS = 3,
  slackS = 2,
): { start: number; end: number } | null {
  const first = buffered[0];
  if (!first) return null;
  const end = currentTime - keepS;
  return end - first[0] >= slackS ? { start: first[0], end } : null;
}

export interface LiveEdgeConfig {
  /** Seconds behind the buffered end that playback aims for. */
  targetS: number;
  /** Typical media duration of one fragment: the buffered end moves in steps of this. */
  fragmentS: number;
  /** Highest catch-up playbackRate. */
  maxRate: number;
  /** Lowest slow-down playbackRate. */
  minRate: number;
  /** Rate added (or taken) per second away from the target band. */
  gain: number;
  /** Rates are rounded to this step so the rate does not change on every tick. */
  rateStep: number;
  /** Further behind than this: seek instead of speeding up (default: max(1.5 s, 5 × target)). */
  jumpS?: number;
  /** A jump lands this far before the buffered end (default: the top of the target band). */
  marginS?: number;
  /** Seeks are at least this far apart. */
  seekCooldownMs: number;
}

export const DEFAULT_LIVE_EDGE: LiveEdgeConfig = Object.freeze({
  targetS: 0.3,
  fragmentS: 0.2,
  maxRate: 1.25,
  minRate: 0.9,
  gain: 0.25,
  rateStep: 0.05,
  seekCooldownMs: 1000,
});

export interface LiveEdgeInput {
  currentTime: number;
  buffered: readonly Range[];
  /** No seek is ever made before the first frame has been decoded. */
  firstFrameDecoded: boolean;
  /** Live sources chase the edge; on-demand ones play at rate 1 and only skip gaps. */
  live: boolean;
  paused: boolean;
  /** Milliseconds, any monotonic clock. */
  now: number;
}

export type LiveEdgeReason = 'waiting' | 'paused' | 'gap' | 'jump' | 'catch-up' | 'slow-down' | 'on-target';

export interface LiveEdgeAction {
  rate: number;
  seekTo?: number;
  reason: LiveEdgeReason;
}

/**
 * Decides playbackRate and seeks; remembers only when it last seeked.
 *
 * The buffered end moves in steps of one fragment, so "behind" is a saw-tooth
 * one fragment high. Rate 1 holds while behind stays within the target ± half a
 * fragment; above it playback speeds up, below it slows down (rebuilding the
 * buffer when arrivals got more jittery), far above it seeks.
 */
export class LiveEdgeController {
  private lastSeekAt = Number.NEGATIVE_INFINITY;
  private config: LiveEdgeConfig;

  constructor(config: Partial<LiveEdgeConfig> = {}) {
    this.config = { ...DEFAULT_LIVE_EDGE, ...config };
  }

  get targetS(): number {
    return this.config.targetS;
  }

  /** Half the saw-tooth: how far from the target behind may wander at rate 1. */
  get bandS(): number {
    return Math.max(this.config.fragmentS / 2, 0.02);
  }

  /** A new target (from measured arrival jitter) and fragment duration. */
  retarget(targetS: number, fragmentS: number): void {
    this.config = { ...this.config, targetS, fragmentS };
  }

  decide(input: LiveEdgeInput): LiveEdgeAction {
    const { currentTime, buffered } = input;
    const last = buffered[buffered.length - 1];
    if (!last || !input.firstFrameDecoded) return { rate: 1, reason: 'waiting' };
    if (input.paused) return { rate: 1, reason: 'paused' };
    const canSeek = input.now - this.lastSeekAt >= this.config.seekCooldownMs;

    const inside = buffered.some(([s, e]) => currentTime >= s - 0.05 && currentTime < e);
    if (!inside) {
      const nextRange = buffered.find(([s]) => s > currentTime);
      if (nextRange && canSeek) return this.seek(input.now, nextRange[0] + 0.05, 'gap');
      return { rate: 1, reason: 'waiting' };
    }
    if (!input.live) return { rate: 1, reason: 'on-target' };

    const { targetS, jumpS, marginS } = this.config;
    const behind = last[1] - currentTime;
    if (behind > (jumpS ?? Math.max(1.5, 5 * targetS)) && canSeek) {
      return this.seek(input.now, Math.max(last[0], last[1] - (marginS ?? targetS + this.bandS)), 'jump');
    }
    const excess = behind - targetS - this.bandS;
    if (excess > 0) return { rate: this.rate(excess, +1), reason: 'catch-up' };
    const deficit = targetS - this.bandS - 0.01 - behind;
    if (deficit > 0) return { rate: this.rate(deficit, -1), reason: 'slow-down' };
    return { rate: 1, reason: 'on-target' };
  }

  /** Forgets the last seek (a new session starts). */
  reset(): void {
    this.lastSeekAt = Number.NEGATIVE_INFINITY;
  }

  /** At least one step away from 1, more with the distance, within [minRate, maxRate]. */
  private rate(distanceS: number, sign: 1 | -1): number {
    const { gain, rateStep, maxRate, minRate } = this.config;
    const steps = Math.max(1, Math.round((distanceS * gain) / rateStep));
    const rate = round2(1 + sign * steps * rateStep);
    return Math.min(maxRate, Math.max(minRate, rate));
  }

  private seek(now: number, to: number, reason: LiveEdgeReason): LiveEdgeAction {
    this.lastSeekAt = now;
    return { rate: 1, seekTo: to, reason };
  }
}

/**
 * Whether enough is buffered to start playing from `startAt`: the live-edge
 * target, so that playback does not start on one fragment and stall at once.
 */
export function readyToStart(startAt: number, buffered: readonly Range[], targetS: number): boolean {
  const range = buffered.find(([s, e]) => startAt >= s - 0.1 && startAt < e);
  return range !== undefined && range[1] - startAt >= targetS;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export type StallReason = 'stalled' | 'no-data';

export interface StallWatchdogOptions {
  /** Reads the playhead; `paused` playback (by the person) is never a stall. */
  probe: () => { currentTime: number; paused: boolean };
  onStall: (reason: StallReason) => void;
  now?: () => number;
  intervalMs?: number;
  /** The playhead has not moved for this long while data arrives. */
  stallMs?: number;
  /** No data for this long once data has flowed. */
  noDataMs?: number;
  /** No data (or no first frame) for this long after start. */
  startupMs?: number;
}

/**
 * Calls `onStall` once when the playhead stops advancing while data keeps
 * arriving, or when data stops arriving. `start()` arms it again.
 */
export class StallWatchdog {
  private timer: ReturnType<typeof setInterval> | undefined;
  private startedAt = 0;
  private lastDataAt: number | undefined;
  private lastProgressAt: number | undefined;
  private lastTime = Number.NaN;
  private readonly now: () => number;

  constructor(private readonly options: StallWatchdogOptions) {
    this.now = options.now ?? (() => Date.now());
  }

  start(): void {
    this.stop();
    this.startedAt = this.now();
    this.lastDataAt = undefined;
    this.lastProgressAt = undefined;
    this.lastTime = Number.NaN;
    this.timer = setInterval(() => this.check(), this.options.intervalMs ?? 500);
  }

  /** A media message arrived. */
  dataArrived(): void {
    this.lastDataAt = this.now();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  destroy(): void {
    this.stop();
  }

  private check(): void {
    const now = this.now();
    const { currentTime, paused } = this.options.probe();
    if (currentTime !== this.lastTime) {
      if (!Number.isNaN(this.lastTime)) this.lastProgressAt = now;
      this.lastTime = currentTime;
    }
    const reason = this.verdict(now, paused);
    if (reason) {
      this.stop();
      this.options.onStall(reason);
    }
  }

  private verdict(now: number, paused: boolean): StallReason | null {
    const startupMs = this.options.startupMs ?? 15_000;
    const stallMs = this.options.stallMs ?? 4000;
    const noDataMs = this.options.noDataMs ?? 5000;
    if (this.lastDataAt === undefined) return now - this.startedAt >= startupMs ? 'no-data' : null;
    if (now - this.lastDataAt >= noDataMs) return 'no-data';
    if (paused) {
      this.lastProgressAt = now;
      return null;
    }
    // Before the first move of the playhead, allow the start-up time for the first frame.
    const since = this.lastProgressAt ?? this.startedAt;
    const limit = this.lastProgressAt === undefined ? startupMs : stallMs;
    return now - since >= limit ? 'stalled' : null;
  }
}
