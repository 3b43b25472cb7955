import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  LiveEdgeController,
  StallWatchdog,
  backBufferToTrim,
  bufferAhead,
  readyToStart,
  startPosition,
  type LiveEdgeInput,
  type Range,
  type StallReason,
} from './live-edge.js';

function input(currentTime: number, buffered: Range[], extra: Partial<LiveEdgeInput> = {}): LiveEdgeInput {
  return { currentTime, buffered, firstFrameDecoded: true, live: true, paused: false, now: 10_000, ...extra };
}

describe('start position and buffer helpers', () => {
  it('starts at the first buffered range when the playhead is outside buffered media', () => {
    expect(startPosition(0, [[12.5, 14]])).toBe(12.5);
    expect(startPosition(13, [[12.5, 14]])).toBeNull();
    expect(startPosition(0, [])).toBeNull();
  });

  it('measures the buffer ahead of the playhead in its own range', () => {
    expect(bufferAhead(5, [[0, 5.75]])).toBeCloseTo(0.75);
    expect(bufferAhead(5, [[0, 4], [6, 9]])).toBe(0);
  });

  it('trims the back buffer to a few seconds behind the playhead', () => {
    expect(backBufferToTrim(10, [[0, 11]])).toEqual({ start: 0, end: 7 });
    expect(backBufferToTrim(10, [[5, 11]])).toEqual({ start: 5, end: 7 });
    expect(backBufferToTrim(10, [[6, 11]])).toBeNull();
    expect(backBufferToTrim(10, [])).toBeNull();
  });
});

describe('LiveEdgeController', () => {
  it('waits at rate 1 while nothing is buffered', () => {
    expect(new LiveEdgeController().decide(input(0, []))).toEqual({ rate: 1, reason: 'waiting' });
  });

  it('never seeks (or speeds up) before the first frame has been decoded', () => {
    const edge = new LiveEdgeController();
    const far = edge.decide(input(0, [[0, 20]], { firstFrameDecoded: false }));
    expect(far.seekTo).toBeUndefined();
    expect(far.rate).toBe(1);
    const gap = edge.decide(input(1, [[2, 20]], { firstFrameDecoded: false }));
    expect(gap.seekTo).toBeUndefined();
  });

  it('plays at rate 1 near the target', () => {
    // 0.25 s behind the buffered end, within the default 0.3 s target (which keeps latency under 0.4 s with 0.2 s fragments).
    const action = new LiveEdgeController().decide(input(9.75, [[0, 10]]));
    expect(action).toEqual({ rate: 1, reason: 'on-target' });
    expect(new LiveEdgeController().decide(input(9.5, [[0, 10]])).rate).toBeGreaterThan(1);
  });

  it('raises playbackRate with the distance behind the target, up to the maximum', () => {
    const edge = new LiveEdgeController({ maxRate: 1.25, jumpS: 3 });
    const rates = [0.8, 1.2, 1.8, 2.5, 2.9].map((behind) => edge.decide(input(10 - behind, [[0, 10]])).rate);
    expect(rates[0]).toBeGreaterThan(1);
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeGreaterThanOrEqual(rates[i - 1]!);
    expect(rates[rates.length - 1]).toBe(1.25);
    expect(rates.every((r) => r <= 1.25)).toBe(true);
  });

  it('slows down below the target band, down to the minimum rate, so the buffer can grow back', () => {
    const edge = new LiveEdgeController({ targetS: 0.3, fragmentS: 0.2, minRate: 0.9 });
    // The band is half a fragment either side: 0.2 to 0.4 s behind plays at rate 1.
    expect(edge.decide(input(9.8, [[0, 10]])).rate).toBe(1);
    expect(edge.decide(input(9.63, [[0, 10]])).rate).toBe(1);
    const slow = edge.decide(input(9.9, [[0, 10]]));
    expect(slow).toEqual({ rate: 0.95, reason: 'slow-down' });
    expect(new LiveEdgeController({ targetS: 2, fragmentS: 0.2, jumpS: 10 }).decide(input(9.99, [[0, 10]])).rate).toBe(0.9);
  });

  it('follows a new target: one-frame fragments and little jitter keep it close to the edge', () => {
    const edge = new LiveEdgeController();
    expect(edge.decide(input(9.85, [[0, 10]])).reason).toBe('slow-down');
    edge.retarget(0.08, 1 / 30);
    expect(edge.targetS).toBe(0.08);
    expect(edge.bandS).toBeCloseTo(0.02);
    expect(edge.decide(input(9.92, [[0, 10]]))).toEqual({ rate: 1, reason: 'on-target' });
    expect(edge.decide(input(9.85, [[0, 10]])).reason).toBe('catch-up');
    // Far behind scales with the target: 1.5 s at least.
    expect(edge.decide(input(8.4, [[0, 10]])).reason).toBe('jump');
  });

  it('waits for the target to be buffered before starting', () => {
    expect(readyToStart(0, [[0, 0.2]], 0.3)).toBe(false);
    expect(readyToStart(0, [[0, 0.4]], 0.3)).toBe(true);
    expect(readyToStart(12.5, [[12.5, 12.7]], 0.1)).toBe(true);
    expect(readyToStart(0, [], 0.1)).toBe(false);
  });

  it('jumps to just before the live edge when far behind', () => {
    const action = new LiveEdgeController({ jumpS: 3, marginS: 0.4 }).decide(input(5, [[0, 10]]));
    expect(action.reason).toBe('jump');
    expect(action.seekTo).toBeCloseTo(9.6);
    expect(action.rate).toBe(1);
  });

  it('does not jump again within the seek cool-down', () => {
    const edge = new LiveEdgeController({ seekCooldownMs: 1000 });
    expect(edge.decide(input(5, [[0, 10]], { now: 1000 })).seekTo).toBeDefined();
    const soon = edge.decide(input(5, [[0, 10]], { now: 1500 }));
    expect(soon.seekTo).toBeUndefined();
    expect(soon.rate).toBeGreaterThan(1);
    expect(edge.decide(input(5, [[0, 10]], { now: 2000 })).seekTo).toBeDefined();
  });

  it('skips over a gap to the next buffered range', () => {
    const action = new LiveEdgeController().decide(input(4.95, [[0, 4.9], [5.3, 6]]));
    expect(action.reason).toBe('gap');
    expect(action.seekTo).toBeCloseTo(5.35);
  });

  it('leaves a paused player alone', () => {
    expect(new LiveEdgeController().decide(input(0, [[0, 10]], { paused: true }))).toEqual({ rate: 1, reason: 'paused' });
  });

  it('plays on-demand media at rate 1 without jumping', () => {
    const action = new LiveEdgeController().decide(input(5, [[0, 60]], { live: false }));
    expect(action).toEqual({ rate: 1, reason: 'on-target' });
  });
});

describe('StallWatchdog', () => {
  let currentTime: number;
  let paused: boolean;
  let stalls: StallReason[];
  let dog: StallWatchdog;

  beforeEach(() => {
    vi.useFakeTimers();
    currentTime = 0;
    paused = false;
    stalls = [];
    dog = new StallWatchdog({
      probe: () => ({ currentTime, paused }),
      onStall: (reason) => stalls.push(reason),
      intervalMs: 100,
      stallMs: 2000,
      noDataMs: 3000,
      startupMs: 5000,
    });
    dog.start();
  });

  afterEach(() => {
    dog.destroy();
    vi.useRealTimers();
  });

  /** Advances time in 100 ms steps; the playhead moves when `playing`, data arrives when `data`. */
  function run(ms: number, { playing, data }: { playing: boolean; data: boolean }): void {
    for (let t = 0; t < ms; t += 100) {
      if (playing) currentTime += 0.1;
      if (data) dog.dataArrived();
      vi.advanceTimersByTime(100);
    }
  }

  it('stays quiet while the playhead advances and data arrives', () => {
    run(20_000, { playing: true, data: true });
    expect(stalls).toEqual([]);
  });

  it('reports a stall once when the playhead stops although data keeps arriving', () => {
    run(3000, { playing: true, data: true });
    run(1900, { playing: false, data: true });
    expect(stalls).toEqual([]);
    run(300, { playing: false, data: true });
    expect(stalls).toEqual(['stalled']);
    run(10_000, { playing: false, data: true });
    expect(stalls).toEqual(['stalled']);
  });

  it('reports no-data when media stops arriving', () => {
    run(2000, { playing: true, data: true });
    run(3200, { playing: true, data: false });
    expect(stalls).toEqual(['no-data']);
  });

  it('gives the start-up time before the first data or the first move of the playhead', () => {
    run(4800, { playing: false, data: false });
    expect(stalls).toEqual([]);
    run(300, { playing: false, data: false });
    expect(stalls).toEqual(['no-data']);
  });

  it('waits the start-up time, not the stall time, for the playhead to move first', () => {
    run(4800, { playing: false, data: true });
    expect(stalls).toEqual([]);
    run(300, { playing: false, data: true });
    expect(stalls).toEqual(['stalled']);
  });

  it('never calls a paused player stalled', () => {
    run(1000, { playing: true, data: true });
    paused = true;
    run(10_000, { playing: false, data: true });
    expect(stalls).toEqual([]);
  });

  it('is armed again by start() and silent after stop()', () => {
    run(1000, { playing: true, data: true });
    run(3100, { playing: true, data: false });
    expect(stalls).toEqual(['no-data']);
    dog.start();
    run(2000, { playing: true, data: true });
    expect(stalls).toEqual(['no-data']);
    dog.stop();
    run(20_000, { playing: false, data: false });
    expect(stalls).toEqual(['no-data']);
  });
});
