import { describe, expect, it } from 'vitest';
import type { FragmentInfo } from './isobmff.js';
import { fragmentProducerTimeMs, fragmentSpan, latencyMs, producerReference, producerTimeAt } from './prft.js';

const fragment = (over: Partial<FragmentInfo>): FragmentInfo => ({ sequence: 1, tracks: [], ...over });
const TIMESCALES = new Map([[1, 90_000], [2, 48_000]]);

/** A 0.2 s video fragment from 10 s, written (and stamped) by ffmpeg at wall clock 1 000 000 once its last frame was in. */
const STAMPED_AT_END = fragment({
  producerTimeMs: 1_000_000,
  producerMediaTime: 900_000,
  producerTrackId: 1,
  tracks: [
    { trackId: 1, baseDecodeTime: 900_000, sampleCount: 6, duration: 18_000 },
    { trackId: 2, baseDecodeTime: 480_000, sampleCount: 10, duration: 10_240 },
  ],
});

describe('prft correction (ffmpeg stamps the fragment end, labels its first sample)', () => {
  it('puts the prft wall clock at the end of the fragment on the prft track', () => {
    expect(producerReference(STAMPED_AT_END, TIMESCALES)).toEqual({ producerTimeMs: 1_000_000, mediaTimeS: 10.2, corrected: true });
  });

  it('dates the first sample one fragment before the stamp', () => {
    expect(fragmentProducerTimeMs(STAMPED_AT_END, TIMESCALES)).toEqual({ timeMs: 999_800, corrected: true });
    // A one-frame fragment (30 fps): one frame before the stamp.
    const oneFrame = fragment({ producerTimeMs: 5_000, producerMediaTime: 3000, producerTrackId: 1, tracks: [{ trackId: 1, baseDecodeTime: 3000, sampleCount: 1, duration: 3000 }] });
    expect(fragmentProducerTimeMs(oneFrame, TIMESCALES)!.timeMs).toBeCloseTo(5_000 - 1000 / 30, 6);
  });

  it('gives the latency of any frame on screen', () => {
    const ref = producerReference(STAMPED_AT_END, TIMESCALES)!;
    // The first frame (10 s) was made 200 ms before the stamp: shown 50 ms after the stamp it is 250 ms old.
    expect(latencyMs(1_000_050, 10, ref)).toBeCloseTo(250);
    expect(producerTimeAt(ref, 10.1)).toBeCloseTo(999_900);
  });

  it('falls back to the prft media time, and says so, when the fragment states no durations', () => {
    const bare = fragment({ producerTimeMs: 1_000_000, producerMediaTime: 90_000 * 10, producerTrackId: 1, tracks: [{ trackId: 1, baseDecodeTime: 900_000, sampleCount: 6 }] });
    expect(producerReference(bare, TIMESCALES)).toEqual({ producerTimeMs: 1_000_000, mediaTimeS: 10, corrected: false });
    expect(fragmentProducerTimeMs(bare, TIMESCALES)).toEqual({ timeMs: 1_000_000, corrected: false });
  });

  it('is unknown without prft or without a timescale', () => {
    expect(producerReference(fragment({}), TIMESCALES)).toBeNull();
    expect(fragmentProducerTimeMs(fragment({}), TIMESCALES)).toBeUndefined();
    expect(producerReference(STAMPED_AT_END, new Map())).toBeNull();
  });
});

describe('fragmentSpan', () => {
  it('is the media time a track covers in the fragment', () => {
    expect(fragmentSpan(STAMPED_AT_END, 2, TIMESCALES)).toEqual({ startS: 10, endS: 10.213_333_333_333_333 });
    expect(fragmentSpan(STAMPED_AT_END, undefined, TIMESCALES)).toEqual({ startS: 10, endS: 10.2 });
    expect(fragmentSpan(STAMPED_AT_END, 3, TIMESCALES)).toBeNull();
  });
});
