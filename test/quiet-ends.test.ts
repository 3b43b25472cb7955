/**
 * No silent failures: every way a stream can end without the viewer being told
 * why ends with a coded error on `/status` (issue 11). Real ffmpeg, real HTTP
 * servers on 127.0.0.1 (one without Range support, like `python3 -m http.server`),
 * a real GStreamer RTSP source.
 */
import { stat } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FASTSTART_ADVICE } from '../media-server/ffmpeg/ffmpeg-diagnosis.js';
import type { Service } from '../media-server/service.js';
import { makeMediaFixtures, type MediaFixtures } from './helpers/fixtures.js';
import { startStaticServer, type StaticServer } from './helpers/http-server.js';
import { mediaProcesses } from './helpers/processes.js';
import { startRtspServer, type RtspServer } from './helpers/rtsp-server.js';
import { startTestService, Viewer } from './harness.js';

const STALL_MS = 2000;

let fixtures: MediaFixtures;
let noRange: StaticServer;
let ranged: StaticServer;
let rtsp: RtspServer;
let service: Service;
const viewers: Viewer[] = [];

const urlOn = (server: StaticServer, file: string): string => `${server.url}/${file.slice(fixtures.dir.length + 1)}`;

async function viewer(): Promise<Viewer> {
  const v = await Viewer.connect(service.urls.mqtt);
  viewers.push(v);
  return v;
}

/** What a viewer must never be shown: addresses, local paths, ffmpeg internals. */
function expectPlain(message: unknown): void {
  expect(typeof message).toBe('string');
  expect(message).not.toMatch(/127\.0\.0\.1|\/tmp\/|mqttcast-fixtures|0x[0-9a-f]{6}|\bat .*\.ts:\d+/);
}

beforeAll(async () => {
  fixtures = await makeMediaFixtures();
  noRange = await startStaticServer(fixtures.dir, { ranges: false });
  ranged = await startStaticServer(fixtures.dir);
  rtsp = await startRtspServer({ width: 160, height: 120, fps: 10, audio: false });
  service = await startTestService({
    allow: [`${noRange.url}/*`, `${ranged.url}/*`, `rtsp://127.0.0.1:${rtsp.port}/*`],
    limits: { stallTimeoutMs: STALL_MS, maxRestarts: 1, lingerMs: 500 },
  });
}, 120_000);

afterEach(async () => {
  await Promise.all(viewers.splice(0).map((v) => v.close()));
});

afterAll(async () => {
  await service?.close();
  await Promise.all([noRange?.close(), ranged?.close(), rtsp?.close()]);
  await fixtures?.close();
  expect(mediaProcesses()).toEqual([]);
});

describe('an MP4 whose index is at the end, on a server without Range support', () => {
  it('play ends in error SOURCE_UNAVAILABLE with the faststart advice, never source_ended', async () => {
    const v = await viewer();
    await v.play({ url: urlOn(noRange, fixtures.moovAtEndMp4), request_id: 'moov' });
    const status = await v.waitForStatus((s) => s.state === 'error' || s.state === 'ended');
    expect(status).toMatchObject({ state: 'error', code: 'SOURCE_UNAVAILABLE', fragments: 0, request_id: 'moov' });
    expect(status.message).toBe(`could not read the source: ${FASTSTART_ADVICE}`);
    expectPlain(status.message);
    expect(v.fragments).toEqual([]);
    // The server really ignored Range: every request was answered with the whole file.
    expect(noRange.requests.filter((r) => r.path.endsWith('moov-at-end.mp4')).every((r) => r.status === 200)).toBe(true);
  });

  it('describe refuses it with the same code and advice', async () => {
    const v = await viewer();
    const reply = await v.describe({ url: urlOn(noRange, fixtures.moovAtEndMp4) });
    expect(reply).toMatchObject({ ok: false, code: 'SOURCE_UNAVAILABLE' });
    expect(reply.error).toContain('-movflags +faststart');
    expectPlain(reply.error);
  });

  it('the same file plays from a server with Range support', async () => {
    const v = await viewer();
    await v.play({ url: urlOn(ranged, fixtures.moovAtEndMp4) });
    await v.waitForFragments(2);
    await v.send('stop', {});
    await v.waitForStatus((s) => s.state === 'ended' && s.reason === 'stop');
  });
});

describe('streams that end normally', () => {
  it('a faststart MP4 played to its end, even without Range, ends with source_ended', async () => {
    const v = await viewer();
    await v.play({ url: urlOn(noRange, fixtures.baselineMp4) });
    const end = await v.waitForStatus((s) => s.state === 'error' || s.state === 'ended');
    expect(end).toMatchObject({ state: 'ended', reason: 'source_ended' });
    expect(end.fragments).toBeGreaterThan(0);
    expect(v.fragments.length).toBe(end.fragments);
  });
});

describe('sources that go quiet', () => {
  it('an HLS live playlist that stops updating ends with SOURCE_UNAVAILABLE after a restart', async () => {
    const v = await viewer();
    await v.play({ url: urlOn(ranged, fixtures.hlsStalePlaylist) });
    await v.waitForFragments(1);
    const status = await v.waitForStatus((s) => s.state === 'error' || s.state === 'ended', 60_000);
    expect(status).toMatchObject({ state: 'error', code: 'SOURCE_UNAVAILABLE' });
    expect(status.message).toBe(`the source stopped sending video for ${STALL_MS / 1000} s (its live playlist is no longer updated)`);
    const restarting = v.statuses.find((s) => s.reason === 'source_restarting');
    expect(restarting?.message).toMatch(/^the source stopped sending video for 2 s .*; restarting in \d+ ms$/);
    // ffmpeg kept re-reading the same playlist until it was stopped.
    const playlistReads = ranged.requests.filter((r) => r.path.endsWith('/live.m3u8')).length;
    expect(playlistReads).toBeGreaterThan(2);
  });

  it('an on-demand HTTP source that stalls mid-file ends with SOURCE_UNAVAILABLE, not source_ended', async () => {
    const { size } = await stat(fixtures.highMp4);
    const path = `/${fixtures.highMp4.slice(fixtures.dir.length + 1)}`;
    ranged.stall(path, { afterBytes: Math.floor(size / 2), afterRequests: 1 }); // the probe reads it whole
    const v = await viewer();
    await v.play({ url: urlOn(ranged, fixtures.highMp4) });
    await v.waitForFragments(1);
    const status = await v.waitForStatus((s) => s.state === 'error' || s.state === 'ended', 30_000);
    expect(status).toMatchObject({ state: 'error', code: 'SOURCE_UNAVAILABLE', message: `the source stopped sending video for ${STALL_MS / 1000} s` });
    expect(status.fragments).toBeGreaterThan(0);
    expect(ranged.requests.filter((r) => r.path === path).length).toBeGreaterThanOrEqual(2);
  });

  it('describe of a server that sends headers and a few bytes, then nothing, gets a readable timeout', async () => {
    const path = `/${fixtures.aacM4a.slice(fixtures.dir.length + 1)}`;
    ranged.stall(path, { afterBytes: 16 });
    const v = await viewer();
    const reply = await v.describe({ url: urlOn(ranged, fixtures.aacM4a) }, 40_000);
    expect(reply).toMatchObject({ ok: false, code: 'SOURCE_UNAVAILABLE' });
    // ffprobe's own read timeout, or the prober's when ffprobe retries (a seek is one more stalled request).
    expect(reply.error).toMatch(/^could not open the source: (the server did not answer in time \(connection timed out\)|it did not deliver enough data to be read within 15 s)$/);
  });

  it('a live RTSP source that stops sending (server paused) is restarted, then ended with SOURCE_UNAVAILABLE', async () => {
    const v = await viewer();
    await v.play({ url: rtsp.url });
    await v.waitForFragments(2);
    process.kill(rtsp.pid, 'SIGSTOP');
    try {
      const status = await v.waitForStatus((s) => s.state === 'error' || s.state === 'ended', 60_000);
      expect(status).toMatchObject({ state: 'error', code: 'SOURCE_UNAVAILABLE', message: `the source stopped sending video for ${STALL_MS / 1000} s` });
      expect(v.statuses.some((s) => s.reason === 'source_restarting')).toBe(true);
    } finally {
      process.kill(rtsp.pid, 'SIGCONT');
    }
  });
});
