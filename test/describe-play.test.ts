/**
 * Describe and play end to end: real embedded Aedes, real ffmpeg, real sources
 * (generated demo, HTTP-served MP4 with Range requests, HLS, GStreamer RTSP).
 */
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { spawnCount } from '../media-server/ffmpeg/ffmpeg-process.js';
import { makeMediaFixtures, expectedAacCodecString, expectedAvcCodecString, type MediaFixtures } from './helpers/fixtures.js';
import { startStaticServer, type StaticServer } from './helpers/http-server.js';
import { startRtspServer, type RtspServer } from './helpers/rtsp-server.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';
import { expectBoxAlignedStream, expectDecodable } from './media-check.js';

let fixtures: MediaFixtures;
let http: StaticServer;
let rtsp: RtspServer;
let service: Service;
const viewers: Viewer[] = [];

const fileUrl = (file: string): string => `${http.url}/${file.slice(fixtures.dir.length + 1)}`;

async function viewer(): Promise<Viewer> {
  const v = await Viewer.connect(service.urls.mqtt);
  viewers.push(v);
  return v;
}

beforeAll(async () => {
  fixtures = await makeMediaFixtures();
  http = await startStaticServer(fixtures.dir);
  rtsp = await startRtspServer({ profile: 'high', width: 320, height: 240, fps: 15 });
  service = await startTestService({ allow: [`${http.url}/*`, `rtsp://127.0.0.1:${rtsp.port}/*`] });
}, 120_000);

afterEach(async () => {
  await Promise.all(viewers.splice(0).map((v) => v.close()));
});

afterAll(async () => {
  await service?.close();
  await Promise.all([rtsp?.close(), http?.close()]);
  await fixtures?.close();
  expect(mediaProcesses()).toEqual([]);
});

describe('describe', () => {
  it('reports exact codec strings for H.264 Baseline + AAC, as ffprobe sees the file', async () => {
    const v = await viewer();
    const reply = await v.describe({ url: fileUrl(fixtures.baselineMp4), request_id: 'r1' });
    const expectedVideo = await expectedAvcCodecString(fixtures.baselineMp4);
    const expectedAudio = await expectedAacCodecString(fixtures.baselineMp4);
    expect(expectedVideo).toBe('avc1.42C01E');
    expect(reply).toMatchObject({ ok: true, mode: 'copy', live: false, error: '', request_id: 'r1' });
    expect(reply.mimeCodec).toBe(`video/mp4; codecs="${expectedVideo}, ${expectedAudio}"`);
    expect(reply.tracks).toMatchObject([
      { type: 'video', codec: expectedVideo, sourceCodec: 'h264', width: 320, height: 240 },
      { type: 'audio', codec: 'mp4a.40.2', sourceCodec: 'aac' },
    ]);
  });

  it('reports exact codec strings for H.264 High', async () => {
    const v = await viewer();
    const reply = await v.describe({ url: fileUrl(fixtures.highMp4) });
    const expected = await expectedAvcCodecString(fixtures.highMp4);
    expect(expected).toBe('avc1.640028');
    expect(reply).toMatchObject({ ok: true, mode: 'copy' });
    expect((reply.tracks as Array<{ codec: string }>)[0]!.codec).toBe(expected);
  });

  it('reports an audio-only AAC file as audio/mp4 mp4a.40.2 (resp_topic alias accepted)', async () => {
    const v = await viewer();
    await v.send('describe', JSON.stringify({ url: fileUrl(fixtures.aacM4a), resp_topic: v.replyTopic }));
    const reply = await waitFor(() => v.json[0]);
    expect(reply).toMatchObject({ ok: true, mimeCodec: `audio/mp4; codecs="${await expectedAacCodecString(fixtures.aacM4a)}"` });
  });

  it('chooses transcode when the requester cannot play the source codec', async () => {
    const v = await viewer();
    const reply = await v.describe({ url: fileUrl(fixtures.baselineMp4), codecs: ['vp09.00.10.08', 'opus'] });
    expect(reply).toMatchObject({ ok: true, mode: 'transcode' });
    const tracks = reply.tracks as Array<{ codec: string; sourceCodec: string }>;
    expect(tracks[0]!.codec).toMatch(/^avc1\.64/); // transcoded to H.264 High, string read from the output
    expect(tracks[0]!.sourceCodec).toBe('h264');
  });

  it('describes the RTSP source from its real codec configuration', async () => {
    const count = async (step: string): Promise<number> => {
      const text = await service.mediaServer.metrics.render();
      return Number(new RegExp(`mqttcast_source_start_step_seconds_count\\{step="${step}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    const before = { sdp: await count('probe_sdp'), ffprobe: await count('probe_ffprobe'), init: await count('spawn_to_init'), first: await count('init_to_first_fragment') };
    const v = await viewer();
    const reply = await v.describe({ url: rtsp.url });
    expect(reply).toMatchObject({ ok: true, mode: 'copy', live: true });
    const tracks = reply.tracks as Array<{ type: string; codec: string }>;
    expect(tracks.find((t) => t.type === 'video')!.codec).toMatch(/^avc1\.64[0-9A-F]{4}$/);
    expect(tracks.find((t) => t.type === 'audio')!.codec).toBe('mp4a.40.2');
    // Copy or transcode was decided from the SDP of one DESCRIBE, not by ffprobe; each start step is a metric.
    await waitFor(async () => (await count('init_to_first_fragment')) === before.first + 1, { message: 'the start steps are recorded at the first fragment' });
    expect(await count('probe_sdp')).toBe(before.sdp + 1);
    expect(await count('probe_ffprobe')).toBe(before.ffprobe);
    expect(await count('spawn_to_init')).toBe(before.init + 1);
  });
});

describe('play', () => {
  const cases: Array<[string, () => Record<string, unknown>]> = [
    ['the demo source', () => ({ source: 'demo' })],
    ['an HTTP-served MP4', () => ({ url: fileUrl(fixtures.highMp4) })],
    ['an HLS playlist', () => ({ url: fileUrl(fixtures.hlsPlaylist) })],
    ['a local RTSP source', () => ({ url: rtsp.url })],
  ];

  for (const [name, target] of cases) {
    it(`delivers init + fragments as whole boxes that decode, for ${name}`, async () => {
      const v = await viewer();
      await v.play(target());
      const media = await v.waitForFragments(3);
      await v.send('stop', {});
      await v.waitForStatus((s) => s.state === 'ended');
      expectBoxAlignedStream(media, 3);
      const streams = await expectDecodable(media);
      expect(streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
      expect(v.statuses.map((s) => s.state)).toEqual(expect.arrayContaining(['starting', 'playing', 'ended']));
    });
  }

  it('reads HTTP MP4 sources with Range requests', () => {
    expect(http.requests.some((r) => r.path.endsWith('.mp4') && r.range !== undefined)).toBe(true);
  });

  it('plays an on-demand file to its end and says so', async () => {
    const v = await viewer();
    await v.play({ url: fileUrl(fixtures.baselineMp4) });
    const ended = await v.waitForStatus((s) => s.state === 'ended');
    expect(ended.reason).toBe('source_ended');
    await expectDecodable(v.media);
  });

  it('stop ends ffmpeg once the last viewer leaves', async () => {
    const v = await viewer();
    await v.play({ url: fileUrl(fixtures.highMp4) });
    await v.waitForFragments(1);
    const [proc] = mediaProcesses();
    expect(proc).toBeDefined();
    // Confined: kernel limits set through prlimit, its own process group, no stdin.
    const limits = await readFile(`/proc/${proc!.pid}/limits`, 'utf8');
    expect(limits).toMatch(/Max open files\s+256\s+256/);
    expect(limits).toMatch(/Max core file size\s+0\s+0/);
    expect(proc!.pgid).toBe(proc!.pid);
    expect(proc!.args).toContain('-nostdin');
    await v.send('stop', {});
    await v.waitForStatus((s) => s.state === 'ended' && s.reason === 'stop');
    // An on-demand upstream is the viewer's own: it stops with the session.
    await waitFor(() => mediaProcesses().every((p) => !p.args.includes(fileUrl(fixtures.highMp4))), { message: 'ffmpeg of the stopped session exits' });
  });
});

describe('refusals', () => {
  it('refuses a URL outside the allowlist with URL_NOT_ALLOWED and starts no process', async () => {
    const v = await viewer();
    const before = spawnCount();
    await v.play({ url: 'http://203.0.113.7/cam.mp4', request_id: 'x' });
    const error = await v.waitForStatus((s) => s.state === 'error');
    expect(error).toMatchObject({ code: 'URL_NOT_ALLOWED', request_id: 'x' });
    expect(await waitFor(() => v.json[0])).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED', request_id: 'x' });
    const d = await v.describe({ url: 'rtsp://127.0.0.1:1/other' });
    expect(d).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED' });
    expect(spawnCount()).toBe(before);
    expect(v.media).toEqual([]);
  });
});
