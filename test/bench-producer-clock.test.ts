/** The bench's producer clock (bench/producer-clock.ts): frames dated by the corrected prft of the fragment that carried them. */
import { describe, expect, it } from 'vitest';
import { ProducerClock } from '../bench/producer-clock.js';
import { avc1Entry, bytes, fullBox, init, moof, u32 } from '../protocol/test-boxes.js';

const TIMESCALE = 15_360;
const FRAME = 512; // one trun sample of test-boxes' moof: 1/30 s at 15 360
const T0_MS = 1_700_000_000_000;
const NTP_UNIX_OFFSET_S = 2_208_988_800;

function prft(trackId: number, wallMs: number, mediaTime: number): Uint8Array {
  const seconds = Math.floor(wallMs / 1000);
  const fraction = Math.round(((wallMs - seconds * 1000) / 1000) * 2 ** 32);
  return fullBox('prft', 1, 0, u32(trackId), u32(seconds + NTP_UNIX_OFFSET_S), u32(fraction), u32(0), u32(mediaTime));
}

/** Fragment k: one frame at k/30 s, made at T0 + k/30 s, stamped by ffmpeg when written, one frame later. */
function fragment(k: number): Uint8Array {
  const made = T0_MS + (k * 1000) / 30;
  return bytes(prft(1, made + 1000 / 30, k * FRAME), moof(k + 1, 1, k * FRAME, 0, 1));
}

function clock(): ProducerClock {
  const c = new ProducerClock();
  c.add(init([{ id: 1, handler: 'vide', entry: avc1Entry([1, 0x64, 0, 0x1f, 0xff, 0xe0, 0], 640, 360), timescale: TIMESCALE }]));
  c.add(new TextEncoder().encode('{"ok":true}'));
  for (let k = 0; k < 10; k++) c.add(fragment(k));
  return c;
}

describe('ProducerClock', () => {
  it('dates a frame when it was made, not when ffmpeg wrote its fragment', () => {
    const c = clock();
    expect(c.fragments).toBe(10);
    expect(c.uncorrected).toBe(0);
    for (const k of [0, 4, 9]) expect(c.producedAt((k * FRAME) / TIMESCALE)).toBeCloseTo(T0_MS + (k * 1000) / 30, 0);
    // WebCodecs timestamps are whole microseconds: a frame rounded down still belongs to its own fragment.
    expect(c.producedAt(Math.floor(((5 * FRAME) / TIMESCALE) * 1e6) / 1e6)).toBeCloseTo(T0_MS + 5000 / 30, 0);
  });

  it('leaves undated the media no received fragment covers', () => {
    expect(clock().producedAt((10 * FRAME) / TIMESCALE)).toBeUndefined();
  });

  it('starts over when the media time goes back (a restarted source)', () => {
    const c = clock();
    c.add(fragment(0));
    expect(c.producedAt((4 * FRAME) / TIMESCALE)).toBeUndefined();
    expect(c.producedAt(0)).toBeCloseTo(T0_MS, 0);
  });
});
