/**
 * Sessions on shared upstreams: one ffmpeg for many viewers, late joiners start
 * on a keyframe, leases and last-wills end vanished viewers, a slow viewer is
 * skipped ahead without slowing anyone else, ffmpeg crashes are survived.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fragmentStartsWithSync, parseFragment, parseInit, type InitInfo } from '../protocol/index.js';
import type { Service } from '../media-server/service.js';
import { startRtspServer } from './helpers/rtsp-server.js';
import { mediaProcesses } from './helpers/processes.js';
import { sleep, waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';

let service: Service;
const viewers: Viewer[] = [];

async function viewer(opts: Parameters<typeof Viewer.connect>[1] = {}): Promise<Viewer> {
  const v = await Viewer.connect(service.urls.mqtt, opts);
  viewers.push(v);
  return v;
}

const ffmpegs = (): number => mediaProcesses().filter((p) => p.comm === 'ffmpeg').length;

function expectStartsOnKeyframe(media: Buffer[]): InitInfo {
  const init = parseInit(media[0]!);
  const video = init.tracks.find((t) => t.id === init.videoTrackId)!;
  expect(fragmentStartsWithSync(parseFragment(media[1]!), init.videoTrackId, video.defaultSampleFlags)).toBe(true);
  return init;
}

beforeAll(async () => {
  service = await startTestService({
    limits: { leaseMs: 2000, lingerMs: 500, flowWindowMs: 1600, maxRestarts: 2, stallTimeoutMs: 5000 },
  });
});

afterEach(async () => {
  await Promise.all(viewers.splice(0).map((v) => v.close()));
  await waitFor(() => service.mediaServer.sessionCount === 0 && ffmpegs() === 0, { message: 'sessions and ffmpeg gone after the test' });
});

afterAll(async () => {
  await service?.close();
  expect(mediaProcesses()).toEqual([]);
});

describe('shared upstreams', () => {
  it('serves 20 viewers from one ffmpeg; each, the 20th too, starts with init + a sync fragment', async () => {
    const all = await Promise.all(Array.from({ length: 20 }, () => viewer()));
    await all[0]!.play({ source: 'demo' });
    await all[0]!.waitForFragments(4); // the upstream is well past its first GOP
    for (const v of all.slice(1)) await v.play({ source: 'demo' });
    await Promise.all(all.map((v) => v.waitForFragments(2)));
    expect(ffmpegs()).toBe(1);
    for (const v of all) expectStartsOnKeyframe(v.media);
    expect(service.mediaServer.pool.size).toBe(1);
    for (const v of all) await v.send('stop', {});
    // The last viewer leaving stops the upstream after the linger.
    await waitFor(() => ffmpegs() === 0, { message: 'ffmpeg stops after the last viewer' });
  });
});

describe('leases and last-wills', () => {
  it('ends a viewer that stops acking after the lease', async () => {
    const v = await viewer();
    await v.play({ source: 'demo' });
    await v.waitForFragments(1);
    v.startAcking(300);
    await sleep(1000);
    v.stopAcking();
    const ended = await v.waitForStatus((s) => s.state === 'ended');
    expect(ended.reason).toBe('lease_expired');
  });

  it('ends the session of a client that vanishes without stop, through its last-will', async () => {
    const watcher = await viewer();
    const v = await viewer({ will: true });
    await watcher.client.subscribeAsync(`${v.replyTopic}/status`);
    const statuses: string[] = [];
    watcher.client.on('message', (topic, p) => topic === `${v.replyTopic}/status` && statuses.push(p.toString()));
    await v.play({ source: 'demo' });
    await v.waitForFragments(1);
    v.client.stream.destroy(); // the connection dies: no DISCONNECT, the broker publishes the will
    await waitFor(() => statuses.some((s) => s.includes('"ended"') && s.includes('"stop"')), { message: 'will ends the session' });
    await waitFor(() => ffmpegs() === 0, { message: 'ffmpeg gone after the will' });
  });

  it('ends a session that never acked once nobody listens on its reply topic any more (embedded broker)', async () => {
    const v = await viewer();
    await v.play({ source: 'demo' });
    await v.waitForFragments(1);
    const ended = (): number => service.mediaServer.metrics.sessionsEnded.get({ reason: 'viewer_gone' });
    const before = ended();
    await v.client.endAsync(true); // gone without a stop, and without a will: a killed mosquitto_sub
    await waitFor(() => ended() === before + 1, { timeoutMs: 20_000, message: 'session ended as viewer_gone' });
    expect(service.mediaServer.sessionCount).toBe(0);
  });
});

describe('flow control with one-frame fragments', () => {
  const videoSamples = (init: InitInfo, f: Buffer): number => parseFragment(f).tracks.find((t) => t.trackId === init.videoTrackId)?.sampleCount ?? 0;

  it('skips a stalled viewer ahead to a keyframe while a healthy one gets every fragment in order', async () => {
    const healthy = await viewer();
    const slow = await viewer();
    const observer = await viewer();
    const slowStatus: Array<Record<string, unknown>> = [];
    await observer.client.subscribeAsync(`${slow.replyTopic}/status`);
    observer.client.on('message', (t, p) => t === `${slow.replyTopic}/status` && slowStatus.push(JSON.parse(p.toString()) as Record<string, unknown>));
    healthy.startAcking(500);
    slow.startAcking(500);
    await healthy.play({ source: 'demo' });
    await slow.play({ source: 'demo' });
    await slow.waitForFragments(2);
    slow.client.stream.pause(); // stops reading: what it has acked stops growing
    const session = (): { unackedMs: number } | undefined => service.mediaServer.session(slow.replyTopic);
    const rssStart = process.memoryUsage().rss;
    let maxLagMs = 0;
    await waitFor(
      () => {
        maxLagMs = Math.max(maxLagMs, session()?.unackedMs ?? 0);
        return slowStatus.some((st) => st.reason === 'viewer_behind' && Number(st.skipped) > 0);
      },
      { timeoutMs: 30_000, message: 'skip notice for the stalled viewer' },
    );
    const before = healthy.fragments.length;
    await healthy.waitForFragments(before + 10);
    const init = expectStartsOnKeyframe(healthy.media);
    const seqs = healthy.fragments.map((f) => parseFragment(f).sequence);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i)); // every fragment, in order, none skipped
    // One video frame per fragment (the default); audio-only fragments may sit between them.
    expect(Math.max(...healthy.fragments.map((f) => videoSamples(init, f)))).toBe(1);
    expect(healthy.fragments.filter((f) => videoSamples(init, f) === 1).length).toBeGreaterThan(healthy.fragments.length / 2);
    // Bounded by the flow window (1600 ms of media), not by how long the viewer stalled.
    expect(maxLagMs).toBeGreaterThan(0);
    expect(maxLagMs).toBeLessThanOrEqual(1600 + 1000 / 15);
    expect(process.memoryUsage().rss - rssStart).toBeLessThan(200 * 1024 * 1024);

    // Reading again: after the gap, the slow viewer resumes on a keyframe.
    const heldBack = slow.fragments.length;
    slow.client.stream.resume();
    await waitFor(
      () => {
        const s = slow.fragments.map((f) => parseFragment(f).sequence);
        return s.some((q, i) => i > 0 && q !== s[i - 1]! + 1);
      },
      { timeoutMs: 30_000, message: 'the slow viewer gets fragments after its skip' },
    );
    expect(slow.fragments.length).toBeGreaterThan(heldBack);
    const got = slow.fragments.map((f) => ({ f, seq: parseFragment(f).sequence }));
    const video = init.tracks.find((t) => t.id === init.videoTrackId)!;
    for (let i = 1; i < got.length; i++) {
      if (got[i]!.seq === got[i - 1]!.seq + 1) continue;
      expect(fragmentStartsWithSync(parseFragment(got[i]!.f), init.videoTrackId, video.defaultSampleFlags)).toBe(true);
    }
  });
});

describe('supervision', () => {
  it('restarts a live source after kill -9 of its ffmpeg and tells the viewers', async () => {
    const v = await viewer();
    v.startAcking(500);
    await v.play({ source: 'demo' });
    await v.waitForFragments(2);
    const [upstream] = service.mediaServer.pool.upstreams();
    const pid = upstream!.pid!;
    process.kill(pid, 'SIGKILL');
    await v.waitForStatus((s) => s.state === 'starting' && s.reason === 'source_restarting');
    await waitFor(() => upstream!.pid !== undefined && upstream!.pid !== pid, { message: 'new ffmpeg' });
    const inits = (): number => v.media.filter((m) => m.subarray(4, 8).toString() === 'ftyp').length;
    await waitFor(() => inits() === 2, { message: 'a new init segment after the restart' });
    const n = v.fragments.length;
    await v.waitForFragments(n + 3);
    expect(ffmpegs()).toBe(1);
  });

  it('keeps a source opened by describe until it is ready, even when it is slower than the linger', async () => {
    const rtsp = await startRtspServer({ width: 160, height: 120, fps: 10, audio: false });
    const local = await startTestService({ allow: [`rtsp://127.0.0.1:${rtsp.port}/*`], limits: { lingerMs: 0 } });
    try {
      const v = await Viewer.connect(local.urls.mqtt);
      viewers.push(v);
      expect(await v.describe({ url: rtsp.url })).toMatchObject({ ok: true });
    } finally {
      await local.close();
      await rtsp.close();
    }
  });

  it('ends sessions with SOURCE_UNAVAILABLE when a live source never comes back', async () => {
    const rtsp = await startRtspServer({ width: 160, height: 120, fps: 10, audio: false });
    const local = await startTestService({ allow: [`rtsp://127.0.0.1:${rtsp.port}/*`], limits: { maxRestarts: 2, lingerMs: 200 } });
    try {
      const v = await Viewer.connect(local.urls.mqtt);
      viewers.push(v);
      await v.play({ url: rtsp.url });
      await v.waitForFragments(2);
      await rtsp.close();
      const error = await v.waitForStatus((s) => s.state === 'error');
      expect(error.code).toBe('SOURCE_UNAVAILABLE');
      expect(v.statuses.some((s) => s.reason === 'source_restarting')).toBe(true);
    } finally {
      await local.close();
      await rtsp.close();
    }
  });
});
