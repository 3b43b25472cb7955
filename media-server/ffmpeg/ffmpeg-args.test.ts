import { describe, expect, it } from 'vitest';
import { fragmentArgs, parseFrameRate } from './ffmpeg-args.js';

describe('fragment arguments', () => {
  it('cuts one fragment per video frame by default: 0.9 frame when the rate is known', () => {
    expect(fragmentArgs(0, 30)).toEqual(['-frag_duration', '30000']);
    expect(fragmentArgs(0, 25)).toEqual(['-frag_duration', '36000']);
    expect(fragmentArgs(0, 30000 / 1001)).toEqual(['-frag_duration', '30030']);
  });

  it('without a frame rate, cuts at the first packet 30 ms into a fragment', () => {
    expect(fragmentArgs(0, undefined)).toEqual(['-frag_duration', '1', '-min_frag_duration', '30000']);
    expect(fragmentArgs(0, 0)).toEqual(['-frag_duration', '1', '-min_frag_duration', '30000']);
  });

  it('uses fragmentMs when set', () => {
    expect(fragmentArgs(200, 30)).toEqual(['-frag_duration', '200000']);
    expect(fragmentArgs(33.3, undefined)).toEqual(['-frag_duration', '33300']);
  });

  it('reads ffprobe frame rates, refusing unknown and implausible ones', () => {
    expect(parseFrameRate('30/1')).toBe(30);
    expect(parseFrameRate('30000/1001')).toBeCloseTo(29.97, 2);
    expect(parseFrameRate('25')).toBe(25);
    for (const bad of ['0/0', '90000/1', '', undefined, 'x', '1/0']) expect(parseFrameRate(bad)).toBeUndefined();
  });
});
