import { describe, expect, it } from 'vitest';
import { playerError, serverError } from './errors.js';
import { supportedCodecs } from './media-source.js';
import { sparklinePoints } from './sparkline.js';
import { BitrateMeter, History, formatBitrate, formatMs } from './stats.js';

describe('BitrateMeter', () => {
  it('computes bits per second over its window and forgets older messages', () => {
    const meter = new BitrateMeter(2000);
    expect(meter.bitsPerSecond(0)).toBeNull();
    meter.add(50_000, 0);
    meter.add(50_000, 500);
    meter.add(50_000, 1000);
    expect(meter.bitsPerSecond(1000)).toBe((150_000 * 8 * 1000) / 1000);
    meter.add(10_000, 3000);
    meter.add(10_000, 3500);
    // Within 2 s of 3500 ms are only the two 10 kB messages, 500 ms apart.
    expect(meter.bitsPerSecond(3500)).toBe((20_000 * 8 * 1000) / 500);
  });
});

describe('small helpers', () => {
  it('keeps a bounded history', () => {
    const h = new History(3);
    for (const v of [1, 2, 3, 4]) h.push(v);
    expect(h.values).toEqual([2, 3, 4]);
  });

  it('draws sparkline points inside the box, highest value at the top', () => {
    expect(sparklinePoints([5], 100, 20)).toBe('');
    const points = sparklinePoints([0, 10], 100, 20, 0)
      .split(' ')
      .map((p) => p.split(',').map(Number));
    expect(points).toEqual([
      [0, 20],
      [100, 0],
    ]);
  });

  it('formats for people', () => {
    expect(formatBitrate(null)).toBe('—');
    expect(formatBitrate(2_500_000)).toBe('2.50 Mbit/s');
    expect(formatBitrate(640_000)).toBe('640 kbit/s');
    expect(formatMs(312.4)).toBe('312 ms');
    expect(formatMs(null)).toBe('—');
  });

  it('words errors plainly with their code', () => {
    expect(playerError('URL_NOT_ALLOWED').message).toBe("This URL is not on the server's allowlist (URL_NOT_ALLOWED)");
    expect(serverError('SOMETHING_NEW', 'x')).toMatchObject({ code: 'INTERNAL', detail: 'x' });
  });

  it('lists the candidate codecs the browser accepts, with the right MIME type', () => {
    const asked: string[] = [];
    const codecs = supportedCodecs((type) => {
      asked.push(type);
      return type.includes('avc1.42E01E') || type === 'audio/mp4; codecs="opus"';
    });
    expect(codecs).toEqual(['avc1.42E01E', 'opus']);
    expect(asked).toContain('video/mp4; codecs="avc1.640028"');
    expect(asked).toContain('audio/mp4; codecs="mp4a.40.2"');
  });
});
