import { describe, expect, it } from 'vitest';
import { avcCodecFor, videoEncoderConfig } from './encoders.js';
import { PublishStats, WINDOW_MS } from './publish-stats.js';

describe('PublishStats', () => {
  it('counts bits over the last window only, and the interval between sync fragments', () => {
    let now = 0;
    const stats = new PublishStats(() => now);
    stats.sent(10_000, true);
    now = 1000;
    stats.sent(5_000, false);
    now = 1500;
    stats.sent(5_000, true);
    expect(stats.fragments).toBe(3);
    expect(stats.bitrate()).toBeCloseTo((20_000 * 8 * 1000) / WINDOW_MS);
    expect(stats.gop).toBe(1.5);
    now = 1000 + WINDOW_MS + 1; // the first two fell out of the window
    expect(stats.bitrate()).toBeCloseTo((5_000 * 8 * 1000) / WINDOW_MS);
  });
});

describe('H.264 encoder settings', () => {
  it('picks constrained baseline at the level the picture size needs', () => {
    expect(avcCodecFor(640, 360)).toBe('avc1.42E01E');
    expect(avcCodecFor(1280, 720)).toBe('avc1.42E01F');
    expect(avcCodecFor(1920, 1080)).toBe('avc1.42E028');
    expect(avcCodecFor(3840, 2160)).toBe('avc1.42E033');
  });

  it('asks for avcC output (MP4 sample entries) and realtime latency', () => {
    expect(videoEncoderConfig({ width: 640, height: 360, framerate: 30, bitrate: 1e6 })).toMatchObject({ avc: { format: 'avc' }, latencyMode: 'realtime', bitrate: 1e6 });
  });
});
