/**
 * The mechanisms speed depends on, checked as mechanisms (numbers are for
 * `npm run bench`): a describe prewarms the upstream that the play then reuses,
 * late joiners start on a keyframe from the GOP cache, and every fragment
 * carries its producer wall-clock time (prft).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fragmentStartsWithSync, parseFragment, parseInit, topLevelTypes } from '../protocol/index.js';
import type { Service } from '../media-server/service.js';
import { mediaProcesses } from './helpers/processes.js';
import { startTestService, Viewer } from './harness.js';

let service: Service;
const viewers: Viewer[] = [];

beforeAll(async () => {
  service = await startTestService({ limits: { lingerMs: 5000 } });
});

afterAll(async () => {
  await Promise.all(viewers.map((v) => v.close()));
  await service?.close();
  expect(mediaProcesses()).toEqual([]);
});

async function viewer(): Promise<Viewer> {
  const v = await Viewer.connect(service.urls.mqtt);
  viewers.push(v);
  return v;
}

describe('mechanisms', () => {
  it('a play after a describe reuses the upstream the describe opened (no second ffmpeg)', async () => {
    const v = await viewer();
    const starts = service.mediaServer.metrics.ffmpegStarts.get();
    expect(await v.describe({ source: 'demo' })).toMatchObject({ ok: true });
    expect(service.mediaServer.metrics.ffmpegStarts.get()).toBe(starts + 1);
    const [prewarmed] = service.mediaServer.pool.upstreams();
    expect(prewarmed!.viewerCount).toBe(0); // open, lingering, nobody watching yet
    await v.play({ source: 'demo' });
    await v.waitForFragments(2);
    expect(service.mediaServer.metrics.ffmpegStarts.get()).toBe(starts + 1);
    expect(service.mediaServer.pool.upstreams()).toEqual([prewarmed]);
    expect(prewarmed!.viewerCount).toBe(1);
  });

  it('a late joiner gets the init segment, then a sync fragment from the GOP cache', async () => {
    const first = await viewer();
    await first.play({ source: 'demo' });
    await first.waitForFragments(8); // well into the stream, mid-GOP at some point
    const late = await viewer();
    await late.play({ source: 'demo' });
    const media = await late.waitForFragments(1);
    expect(topLevelTypes(media[0]!)).toEqual(['ftyp', 'moov']);
    const init = parseInit(media[0]!);
    const video = init.tracks.find((t) => t.id === init.videoTrackId)!;
    expect(fragmentStartsWithSync(parseFragment(media[1]!), init.videoTrackId, video.defaultSampleFlags)).toBe(true);
  });

  it('every fragment carries a prft box with the producer wall-clock time', async () => {
    const v = await viewer();
    await v.play({ source: 'demo' });
    const fragments = (await v.waitForFragments(5)).slice(1);
    for (const f of fragments) {
      expect(topLevelTypes(f)[0]).toBe('prft');
      const info = parseFragment(f);
      // A real wall clock (this century, not a media timestamp); the bench measures latency from it.
      expect(info.producerTimeMs).toBeGreaterThan(Date.parse('2020-01-01'));
      expect(info.producerTimeMs).toBeLessThan(Date.now() + 60_000);
    }
  });
});
