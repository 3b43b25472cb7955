/** Order statistics for benchmark samples. Pure; no I/O. */

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

/** The q-quantile (0..1) of ascending `sorted`, linearly interpolated between ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * Math.min(Math.max(q, 0), 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
}

export function median(samples: readonly number[]): number {
  return quantile([...samples].sort((a, b) => a - b), 0.5);
}

/** Summary of the finite samples; undefined when there are none. */
export function summarize(samples: readonly number[]): Summary | undefined {
  const sorted = samples.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
  };
}

/** a / b, or undefined when either side is missing or b is not positive. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return undefined;
  return a / b;
}

/**
 * Drift of a series of [time ms, value] points (ascending time): median of the
 * last `windowMs` − median of the first `windowMs`. Undefined with fewer than 4 points.
 */
export function windowDrift(points: ReadonlyArray<readonly [number, number]>, windowMs: number): number | undefined {
  if (points.length < 4) return undefined;
  const t0 = points[0]![0];
  const tEnd = points[points.length - 1]![0];
  const first = points.filter(([t]) => t - t0 <= windowMs).map(([, v]) => v);
  const last = points.filter(([t]) => tEnd - t <= windowMs).map(([, v]) => v);
  return median(last) - median(first);
}
