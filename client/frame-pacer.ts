/**
 * When to draw a decoded frame in WebCodecs mode. One clock maps media time to
 * the page's clock (performance.now): wall = media + offset. Frames of
 * one-frame fragments are drawn the moment they are decoded (the clock follows
 * them); the frames of a multi-frame fragment, decoded in a burst, are spread
 * over their durations, and a late one is drawn at once and moves the clock.
 * When every frame of a window came early, the clock moves earlier by the
 * smallest slack, so latency added by one late burst does not stay. No DOM.
 */

export interface PacerConfig {
  /** Frames this close to due are drawn now (a few ms early is invisible; waiting is latency). */
  toleranceMs: number;
  /** Slack is measured over windows this long. */
  windowMs: number;
  /** A frame due further ahead than this means a timestamp jump: the clock restarts. */
  maxHoldMs: number;
}

export const DEFAULT_PACER: PacerConfig = Object.freeze({ toleranceMs: 8, windowMs: 2000, maxHoldMs: 1500 });

export class FramePacer {
  private offsetMs: number | undefined;
  private windowStart = 0;
  private minSlackMs = Number.POSITIVE_INFINITY;
  private readonly config: PacerConfig;

  constructor(config: Partial<PacerConfig> = {}) {
    this.config = { ...DEFAULT_PACER, ...config };
  }

  /**
   * Milliseconds to wait before drawing a frame with this timestamp, decoded at
   * `nowMs` (0: draw now). `immediate` (a one-frame fragment: nothing to spread)
   * draws now and sets the clock to it.
   */
  delayFor(timestampUs: number, nowMs: number, immediate = false): number {
    const mediaMs = timestampUs / 1000;
    if (this.offsetMs === undefined || immediate) {
      this.restart(mediaMs, nowMs);
      return 0;
    }
    const slack = mediaMs + this.offsetMs! - nowMs;
    if (slack > this.config.maxHoldMs) {
      this.restart(mediaMs, nowMs);
      return 0;
    }
    this.noteSlack(Math.max(0, slack), nowMs);
    if (slack <= this.config.toleranceMs) {
      // Late: the clock follows, so the next frames are not all late too.
      if (slack < 0) this.offsetMs = nowMs - mediaMs;
      return 0;
    }
    return slack;
  }

  /** The page time at which media time `timestampUs` is (or was) shown; undefined before the first frame. */
  wallFor(timestampUs: number): number | undefined {
    return this.offsetMs === undefined ? undefined : timestampUs / 1000 + this.offsetMs;
  }

  /** The media time on screen at `nowMs`, seconds; undefined before the first frame. */
  mediaAt(nowMs: number): number | undefined {
    return this.offsetMs === undefined ? undefined : (nowMs - this.offsetMs) / 1000;
  }

  reset(): void {
    this.offsetMs = undefined;
    this.minSlackMs = Number.POSITIVE_INFINITY;
  }

  private restart(mediaMs: number, nowMs: number): void {
    this.offsetMs = nowMs - mediaMs;
    this.windowStart = nowMs;
    this.minSlackMs = Number.POSITIVE_INFINITY;
  }

  private noteSlack(slack: number, nowMs: number): void {
    this.minSlackMs = Math.min(this.minSlackMs, slack);
    if (nowMs - this.windowStart < this.config.windowMs) return;
    if (this.minSlackMs > this.config.toleranceMs && this.offsetMs !== undefined) this.offsetMs -= this.minSlackMs;
    this.windowStart = nowMs;
    this.minSlackMs = Number.POSITIVE_INFINITY;
  }
}
