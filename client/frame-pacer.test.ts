import { describe, expect, it } from 'vitest';
import { FramePacer } from './frame-pacer.js';

const FRAME_US = 33_333;

describe('FramePacer', () => {
  it('draws one-frame fragments the moment they are decoded', () => {
    const pacer = new FramePacer();
    for (let i = 0; i < 60; i++) {
      // Frames decoded on time, with a few ms of jitter either way.
      const now = 1000 + i * 33.333 + (i % 3 === 0 ? 4 : 0);
      expect(pacer.delayFor(i * FRAME_US, now)).toBe(0);
    }
  });

  it('spreads the frames of a burst-decoded 200 ms fragment over their durations', () => {
    const pacer = new FramePacer();
    const delays = [0, 1, 2, 3, 4, 5].map((i) => pacer.delayFor(i * FRAME_US, 1000));
    expect(delays[0]).toBe(0);
    for (let i = 1; i < 6; i++) expect(delays[i]).toBeCloseTo(i * 33.333, 1);
  });

  it('moves its clock later for a late frame, and back earlier once frames come early again', () => {
    const pacer = new FramePacer({ windowMs: 500 });
    pacer.delayFor(0, 0);
    // Frame 1 is 100 ms late: drawn at once, the clock shifts by 100 ms.
    expect(pacer.delayFor(FRAME_US, 133.333)).toBe(0);
    expect(pacer.wallFor(FRAME_US)).toBeCloseTo(133.333, 1);
    // The following frames arrive on the old schedule: each has ~100 ms slack.
    let now = 0;
    for (let i = 2; i < 40; i++) {
      now = i * 33.333;
      pacer.delayFor(i * FRAME_US, now);
    }
    // After a window of early frames the clock is back on the original schedule.
    expect(pacer.wallFor(40 * FRAME_US)! - 40 * 33.333).toBeLessThan(5);
  });

  it('restarts its clock on a timestamp jump instead of holding frames for long', () => {
    const pacer = new FramePacer();
    pacer.delayFor(10_000_000, 0);
    // Timestamps jumped back 5 s (a new stream): late, drawn now.
    expect(pacer.delayFor(5_000_000, 10)).toBe(0);
    // Jumped 5 s forward: not held for 5 s.
    expect(pacer.delayFor(10_000_000, 20)).toBe(0);
    expect(pacer.mediaAt(20)).toBeCloseTo(10, 3);
  });
});

describe('FramePacer for one-frame fragments', () => {
  it('draws at once and follows the frames, so audio is scheduled against what is on screen', () => {
    const pacer = new FramePacer();
    pacer.delayFor(0, 1000, true);
    // 20 ms early: a paced frame would wait; an immediate one is drawn and moves the clock.
    expect(pacer.delayFor(FRAME_US, 1013.333)).toBeCloseTo(20, 1);
    expect(pacer.delayFor(2 * FRAME_US, 1046.667, true)).toBe(0);
    expect(pacer.wallFor(2 * FRAME_US)).toBeCloseTo(1046.667, 2);
  });
});
