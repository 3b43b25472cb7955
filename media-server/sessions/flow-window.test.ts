import { describe, expect, it } from 'vitest';
import { FlowWindow, MAX_TRACKED } from './flow-window.js';

describe('FlowWindow', () => {
  it('sums the media time and bytes sent and not yet acknowledged', () => {
    const w = new FlowWindow();
    for (let seq = 1; seq <= 5; seq++) w.sent(seq, 40, 1000);
    expect([w.count, w.lagMs, w.lagBytes]).toEqual([5, 200, 5000]);
    w.acked(3);
    expect([w.count, w.lagMs, w.lagBytes]).toEqual([2, 80, 2000]);
    w.acked(2); // an old ack changes nothing
    expect(w.count).toBe(2);
    w.acked(5);
    expect([w.count, w.lagMs, w.lagBytes]).toEqual([0, 0, 0]);
  });

  it('reaches a window, or a fraction of it, by time or by bytes', () => {
    const w = new FlowWindow();
    for (let seq = 1; seq <= 10; seq++) w.sent(seq, 100, 10);
    expect(w.reaches(1000, 1_000_000)).toBe(true);
    expect(w.reaches(2000, 1_000_000)).toBe(false);
    expect(w.reaches(2000, 1_000_000, 0.5)).toBe(true);
    expect(w.reaches(10_000, 100)).toBe(true);
  });

  it('is bounded: past MAX_TRACKED fragments it stops remembering and counts as over any window', () => {
    const w = new FlowWindow();
    for (let seq = 1; seq <= MAX_TRACKED + 100; seq++) w.sent(seq, undefined, 1);
    expect(w.count).toBe(MAX_TRACKED);
    expect(w.reaches(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)).toBe(true);
    w.acked(MAX_TRACKED + 100);
    expect(w.count).toBe(0);
  });
});
