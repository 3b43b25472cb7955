import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('allows a burst, then the average rate, per client', () => {
    let now = 0;
    const rl = new RateLimiter(2, 3, 100, () => now);
    expect([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([true, true, true, false]);
    expect(rl.take('b')).toBe(true); // another client is not affected
    now += 500; // half a second: one token back
    expect([rl.take('a'), rl.take('a')]).toEqual([true, false]);
    now += 10_000; // refills to the burst, not beyond
    expect([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([true, true, true, false]);
  });

  it('keeps its table bounded', () => {
    const rl = new RateLimiter(1, 1, 100, () => 0);
    for (let i = 0; i < 1000; i++) rl.take(`client-${i}`);
    expect(rl.size).toBeLessThanOrEqual(100);
  });
});
