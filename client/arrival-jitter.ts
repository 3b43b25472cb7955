/**
 * The live-edge target from how fragments actually arrive, instead of a fixed
 * 0.3 s. For each fragment, transit = arrival wall clock − media end time; the
 * constant part cancels, the spread (p95 − min over a window) is the jitter the
 * buffer must absorb. Target = jitter + safety + half a fragment: the buffered
 * end moves in fragment steps, and the controller lets "behind" swing half a
 * fragment either side of the target. No DOM inside.
 */

export interface JitterConfig {
  /** Arrivals older than this are forgotten. */
  windowMs: number;
  /** Added to the measured jitter: what the decoder needs besides. */
  safetyS: number;
  minTargetS: number;
  maxTargetS: number;
  /** Target used before any fragment has arrived. */
  initialTargetS: number;
  /** Jitter assumed until enough paced arrivals have been measured. */
  assumedJitterS: number;
  /** Paced arrivals needed before the measurement replaces the initial target. */
  minSamples: number;
}

export const DEFAULT_JITTER: JitterConfig = Object.freeze({
  windowMs: 10_000,
  safetyS: 0.08,
  minTargetS: 0.06,
  maxTargetS: 2,
  initialTargetS: 0.3,
  assumedJitterS: 0.06,
  minSamples: 8,
});

interface Arrival {
  at: number;
  transitS: number;
  durationS: number;
}

export class ArrivalJitter {
  private arrivals: Arrival[] = [];
  private lastArrivalAt: number | undefined;
  private paced = false;
  private lastDurationS = 0;
  private readonly config: JitterConfig;

  constructor(config: Partial<JitterConfig> = {}) {
    this.config = { ...DEFAULT_JITTER, ...config };
  }

  /**
   * One fragment arrived at `nowMs` holding media [startS, endS). Arrivals in
   * the start-up burst (the server's cached group of pictures, sent at once)
   * are not counted: measuring starts with the first fragment that arrives at
   * least half its duration after the one before.
   */
  add(nowMs: number, startS: number, endS: number): void {
    const durationS = endS - startS;
    if (!(durationS > 0)) return;
    this.lastDurationS = durationS;
    const gapMs = this.lastArrivalAt === undefined ? 0 : nowMs - this.lastArrivalAt;
    this.lastArrivalAt = nowMs;
    if (!this.paced && gapMs < (durationS * 1000) / 2) return;
    this.paced = true;
    this.arrivals.push({ at: nowMs, transitS: nowMs / 1000 - endS, durationS });
    while (this.arrivals.length > 0 && nowMs - this.arrivals[0]!.at > this.config.windowMs) this.arrivals.shift();
  }

  /** Median fragment duration over the window; the last one's before pacing (0 before any). */
  fragmentS(): number {
    return this.arrivals.length > 0 ? median(this.arrivals.map((a) => a.durationS)) : this.lastDurationS;
  }

  /** Spread of transit times over the window, seconds. */
  jitterS(): number {
    if (this.arrivals.length < 2) return 0;
    const transits = this.arrivals.map((a) => a.transitS).sort((a, b) => a - b);
    const p95 = transits[Math.min(transits.length - 1, Math.ceil(transits.length * 0.95) - 1)]!;
    return p95 - transits[0]!;
  }

  /** The live-edge target in seconds behind the buffered end. */
  targetS(): number {
    const { minSamples, initialTargetS, assumedJitterS, safetyS, minTargetS, maxTargetS } = this.config;
    if (this.lastDurationS === 0) return initialTargetS;
    const measured = this.arrivals.length >= minSamples;
    const jitter = measured ? this.jitterS() : assumedJitterS;
    const fragment = measured ? this.fragmentS() : this.lastDurationS;
    const target = jitter + safetyS + fragment / 2;
    return Math.min(maxTargetS, Math.max(minTargetS, Math.round(target * 1000) / 1000));
  }

  reset(): void {
    this.arrivals = [];
    this.lastArrivalAt = undefined;
    this.paced = false;
    this.lastDurationS = 0;
  }
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
