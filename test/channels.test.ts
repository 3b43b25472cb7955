/**
 * Live channels as sources on one broker: `mqttcast publish` pushes a channel, the media
 * server serves `{"source":"live/<name>"}` from one subscription with the GOP cache, the
 * catalog follows channels as they come and go, a publisher that dies ends its sessions
 * with a coded status after the grace period, and a configured source with
 * `publish: true` becomes a channel itself (origin mode).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { CatalogSchema, channelTopics, topLevelTypes, type Catalog } from '../protocol/index.js';
import { stopChild } from './helpers/child.js';
import { mediaProcesses } from './helpers/processes.js';
import { startRtspServer, type RtspServer } from './helpers/rtsp-server.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';
import { expectDecodable } from './media-check.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
const GRACE_MS = 3000;

function publish(broker: string, name: string): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'publish', 'demo', '--name', name, '--broker', broker, '--video-size', '320x240', '--framerate', '15', '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.resume();
  return child;
}

async function catalogOf(url: string): Promise<Catalog> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
  try {
    const got = new Promise<Buffer>((resolve) => client.on('message', (_t, p) => resolve(p)));
    await client.subscribeAsync('video/catalog');
    return CatalogSchema.parse(JSON.parse((await got).toString('utf8')));
  } finally {
    await client.endAsync();
  }
}

describe('live channels as sources', () => {
  let service: Service;
  const children: ChildProcess[] = [];
  const viewers: Viewer[] = [];

  beforeAll(async () => {
    service = await startTestService({ limits: { channelGraceMs: GRACE_MS, channelStallMs: 2000 } } as never);
  });

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
    for (const c of children.splice(0)) await stopChild(c, { graceMs: 2000 });
  });

  afterAll(async () => {
    await service?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('serves many viewers of a published channel from one subscription, each starting with init + a keyframe', async () => {
    children.push(publish(service.urls.mqtt, 'cam1'));
    await waitFor(async () => ((await catalogOf(service.urls.mqtt)).sources.some((s) => s.name === 'live/cam1') ? true : undefined), {
      timeoutMs: 30_000,
      message: 'live/cam1 in the catalog',
    });
    const first = await Viewer.connect(service.urls.mqtt);
    viewers.push(first);
    const reply = await first.describe({ source: 'live/cam1' });
    expect(reply).toMatchObject({ ok: true, mode: 'copy', live: true });
    expect(String(reply.mimeCodec)).toMatch(/^video\/mp4; codecs="avc1\.[0-9A-F]{6}, mp4a\.40\.2"$/);

    for (let i = 0; i < 10; i++) {
      const v = await Viewer.connect(service.urls.mqtt);
      viewers.push(v);
      await v.play({ source: 'live/cam1' });
    }
    for (const v of viewers.slice(1)) {
      const media = await v.waitForFragments(3);
      expect(topLevelTypes(media[0]!)).toEqual(['ftyp', 'moov']);
      await expectDecodable(media.slice(0, 4)); // decodes from its first byte: starts on a keyframe
    }
    const channelUpstreams = service.mediaServer.pool.upstreams().filter((u) => u.key.startsWith('channel:cam1'));
    expect(channelUpstreams).toHaveLength(1);
    // Ten sessions, and the server's picture maker (snapshots) as one more viewer of the same subscription.
    expect(service.mediaServer.snapshots.watching).toEqual(['cam1']);
    expect(channelUpstreams[0]!.viewerCount).toBe(11);
    expect(channelUpstreams[0]!.pid).toBeUndefined(); // no ffmpeg on the server for a channel
  });

  it('refuses an unknown channel with SOURCE_UNAVAILABLE', async () => {
    const v = await Viewer.connect(service.urls.mqtt);
    viewers.push(v);
    expect(await v.describe({ source: 'live/nosuch' })).toMatchObject({ ok: false, code: 'SOURCE_UNAVAILABLE' });
    expect(await v.describe({ source: 'live/bad/name' })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
  });

  it('kill -9 of the publisher: viewers get a coded status, then an error after the grace; a restarted publisher serves new plays', async () => {
    const pub = publish(service.urls.mqtt, 'cam2');
    children.push(pub);
    await waitFor(() => (service.mediaServer.channels.meta('cam2')?.state === 'live' ? true : undefined), { timeoutMs: 30_000, message: 'cam2 live' });
    const v = await Viewer.connect(service.urls.mqtt);
    viewers.push(v);
    await v.play({ source: 'live/cam2' });
    await v.waitForFragments(3);
    pub.kill('SIGKILL');
    const waiting = await v.waitForStatus((s) => s.state === 'starting' && s.code === 'SOURCE_UNAVAILABLE');
    expect(String(waiting.message)).toContain('went offline');
    const ended = await v.waitForStatus((s) => s.state === 'error');
    expect(ended).toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
    expect(String(ended.message)).toMatch(/did not come back within 3 s/);
    await waitFor(() => (service.mediaServer.channels.meta('cam2')?.state === 'offline' ? true : undefined), { message: 'meta offline (will)' });
    expect((await catalogOf(service.urls.mqtt)).sources.some((s) => s.name === 'live/cam2')).toBe(false);

    children.push(publish(service.urls.mqtt, 'cam2'));
    await waitFor(() => (service.mediaServer.channels.meta('cam2')?.state === 'live' ? true : undefined), { timeoutMs: 30_000, message: 'cam2 live again' });
    const again = await Viewer.connect(service.urls.mqtt);
    viewers.push(again);
    await again.play({ source: 'live/cam2' });
    await expectDecodable((await again.waitForFragments(3)).slice(0, 4));
  });
});

describe('origin mode: a configured source with publish: true', () => {
  let rtsp: RtspServer;
  let service: Service;

  beforeAll(async () => {
    rtsp = await startRtspServer();
    service = await startTestService({ sources: { lobby: { url: rtsp.url, description: 'Lobby camera', publish: true } } } as never);
  });

  afterAll(async () => {
    await service?.close();
    await rtsp?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('is published as channel lobby: retained init then fragments on its topics, meta live, and live/lobby plays', async () => {
    const topics = channelTopics('video', 'lobby');
    const tap = await mqtt.connectAsync(service.urls.mqtt, { protocolVersion: 4 });
    const got: Buffer[] = [];
    tap.on('message', (topic, payload) => {
      if (topic === topics.init && got.length === 0) got.push(payload);
      else if (topic === topics.data && got.length > 0) got.push(payload);
    });
    await tap.subscribeAsync([topics.init, topics.data]);
    await waitFor(() => (got.length >= 12 ? true : undefined), { timeoutMs: 30_000, message: 'init + data on the channel' });
    await tap.endAsync();
    expect(topLevelTypes(got[0]!)).toEqual(['ftyp', 'moov']);
    for (const f of got.slice(1)) expect(topLevelTypes(f)).toContain('moof');
    await waitFor(() => (service.mediaServer.channels.meta('lobby')?.state === 'live' ? true : undefined), { message: 'meta live' });
    expect(service.mediaServer.channels.meta('lobby')?.mimeCodec).toMatch(/avc1/);

    const v = await Viewer.connect(service.urls.mqtt);
    try {
      await v.play({ source: 'live/lobby' });
      await expectDecodable((await v.waitForFragments(3)).slice(0, 4));
    } finally {
      await v.close();
    }
  });
});
