import { describe, expect, it } from 'vitest';
import { ArrivalJitter } from './arrival-jitter.js';

/** Feeds fragments of `durS` arriving on time plus `late(i)` ms; returns the estimator. */
function feed(count: number, durS: number, late: (i: number) => number, jitter = new ArrivalJitter(), startMs = 10_000): ArrivalJitter {
  for (let i = 0; i < count; i++) jitter.add(startMs + (i + 1) * durS * 1000 + late(i), i * durS, (i + 1) * durS);
  return jitter;
}

describe('ArrivalJitter', () => {
  it('starts from a default, then from the first fragment duration with assumed jitter', () => {
    const jitter = new ArrivalJitter();
    expect(jitter.targetS()).toBe(0.3);
    jitter.add(1000, 0, 0.2);
    expect(jitter.fragmentS()).toBeCloseTo(0.2);
    expect(jitter.targetS()).toBeCloseTo(0.06 + 0.08 + 0.1);
  });

  it('measures the spread of transit times: steady 200 ms fragments need little more than half a fragment', () => {
    const jitter = feed(50, 0.2, (i) => (i % 5) * 4);
    expect(jitter.jitterS()).toBeCloseTo(0.016, 3);
    expect(jitter.targetS()).toBeCloseTo(0.016 + 0.08 + 0.1, 3);
  });

  it('gives one-frame fragments a target near 0.1 s, and more when arrivals get jittery', () => {
    const calm = feed(90, 1 / 30, (i) => (i % 3) * 2);
    expect(calm.targetS()).toBeLessThan(0.11);
    expect(calm.targetS()).toBeGreaterThanOrEqual(0.09);
    const rough = feed(90, 1 / 30, (i) => (i % 10 === 0 ? 120 : 0));
    expect(rough.targetS()).toBeGreaterThan(0.15);
  });

  it('ignores the start-up burst of cached fragments', () => {
    const jitter = new ArrivalJitter();
    // A 1 s group of pictures arrives at once (old media: large transit), then fragments come paced.
    for (let i = 0; i < 5; i++) jitter.add(10_000, i * 0.2, (i + 1) * 0.2);
    for (let i = 5; i < 40; i++) jitter.add(10_000 + (i - 4) * 200, i * 0.2, (i + 1) * 0.2);
    expect(jitter.jitterS()).toBeLessThan(0.005);
  });

  it('forgets arrivals older than its window', () => {
    const jitter = feed(20, 0.2, (i) => (i === 2 ? 500 : 0), new ArrivalJitter({ windowMs: 2000 }));
    expect(jitter.jitterS()).toBeLessThan(0.005);
    expect(feed(20, 0.2, (i) => (i === 2 ? 500 : 0), new ArrivalJitter({ windowMs: 10_000 })).jitterS()).toBeCloseTo(0.5, 2);
  });
});
