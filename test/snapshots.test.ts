/**
 * Pictures of live channels (issue 15): the encoder turns a keyframe the server holds into
 * a JPEG with one bounded ffmpeg; a channel published with `mqttcast publish` gets a
 * retained JPEG on `video/live/<name>/snapshot` that decodes and follows the picture; the
 * README's `mosquitto_sub … > cam.jpg` recipe runs as written; Home Assistant discovery is
 * retained while the channel exists and removed with it; in a bridged tree of Mosquittos
 * only the origin side's server keeps making pictures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotEncoder } from '../media-server/snapshots/snapshot-encoder.js';
import type { Service } from '../media-server/service.js';
import { Fmp4Segmenter, isJpeg, MqttcastError, readSnapshotStamp, type Segment } from '../protocol/index.js';
import { runChecked, runCommand, stopChild } from './helpers/child.js';
import { ffprobeStreams } from './helpers/ffprobe.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startBridgeTree, type BridgeTree } from './helpers/bridge-tree.js';
import { startTestService } from './harness.js';
import { HA_AVAILABILITY_KEYS, HA_CAMERA_KEYS, HA_DEVICE_KEYS, HA_ORIGIN_KEYS } from './home-assistant-keys.js';
import { readmeRecipes } from './readme.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'mqttcast.js');

/** A few seconds of fragmented MP4 from ffmpeg's test pattern, cut into init + fragments. */
async function fmp4(size: string): Promise<{ init: Buffer; fragments: Buffer[] }> {
  const { stdout } = await runChecked('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=10`, '-t', '2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p',
    '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_keyframe', 'pipe:1',
  ]);
  const segments: Segment[] = [];
  const cutter = new Fmp4Segmenter();
  segments.push(...cutter.push(stdout));
  const init = segments.find((s) => s.kind === 'init');
  const fragments = segments.filter((s) => s.kind === 'fragment').map((s) => Buffer.from(s.data));
  return { init: Buffer.from(init!.data), fragments };
}

async function probeJpeg(jpeg: Buffer): Promise<{ codec_name?: string; width?: number; height?: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'snap-'));
  try {
    const file = path.join(dir, 'p.jpg');
    await writeFile(file, jpeg);
    const [stream] = await ffprobeStreams(file);
    return stream ?? {};
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('SnapshotEncoder', () => {
  let encoder: SnapshotEncoder;
  afterEach(async () => {
    await encoder?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('makes a JPEG of the first frame, scaled to the width with the aspect kept, never up', async () => {
    encoder = new SnapshotEncoder({ ffmpeg: 'ffmpeg', width: 640 });
    const big = await fmp4('1280x720');
    const jpeg = await encoder.encode('big', big.init, [big.fragments[0]!]);
    expect(isJpeg(jpeg!)).toBe(true);
    expect(await probeJpeg(jpeg!)).toMatchObject({ codec_name: 'mjpeg', width: 640, height: 360 });
    const small = await fmp4('320x180');
    expect(await probeJpeg((await encoder.encode('small', small.init, [small.fragments[0]!]))!)).toMatchObject({ width: 320, height: 180 });
    expect(encoder.totals.made).toBe(2);
  });

  it('says why when the media does not decode, and keeps working', async () => {
    encoder = new SnapshotEncoder({ ffmpeg: 'ffmpeg', width: 640 });
    const { init, fragments } = await fmp4('320x180');
    const broken = Buffer.from(fragments[0]!);
    broken.fill(0, 8);
    const err = await encoder.encode('x', init, [broken]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MqttcastError);
    expect((err as MqttcastError).message).toMatch(/^could not make a snapshot: /);
    expect(await encoder.encode('x', init, [fragments[0]!])).toBeInstanceOf(Buffer);
  });

  it('runs one ffmpeg at a time; a newer keyframe of a channel replaces one still waiting', async () => {
    encoder = new SnapshotEncoder({ ffmpeg: 'ffmpeg', width: 640 });
    const { init, fragments } = await fmp4('320x180');
    const first = encoder.encode('a', init, [fragments[0]!]); // starts at once
    const replaced = encoder.encode('b', init, [fragments[0]!]); // waits
    const newer = encoder.encode('b', init, [fragments[1]!]); // replaces it
    expect(encoder.queued).toBe(1);
    expect(await replaced).toBeUndefined();
    expect(await first).toBeInstanceOf(Buffer);
    expect(await newer).toBeInstanceOf(Buffer);
  });
});

/** Collects every message on `filter` (retained flag kept). */
async function watch(url: string, filter: string): Promise<{ client: MqttClient; got: Array<{ topic: string; payload: Buffer; retain: boolean }> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5 });
  const got: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload, retain: packet.retain }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

function publishDemo(broker: string, name: string): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'publish', 'demo', '--name', name, '--broker', broker, '--video-size', '320x240', '--framerate', '15', '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.resume();
  return child;
}

describe('snapshots of a live channel', () => {
  let service: Service;
  let publisher: ChildProcess | undefined;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    service = await startTestService({
      snapshots: { intervalS: 1 },
      homeAssistant: { enabled: true, pageUrl: 'http://mqttcast.example:8080/' },
    });
  });

  afterAll(async () => {
    for (const c of clients) await c.endAsync();
    if (publisher) await stopChild(publisher, { graceMs: 3000 });
    await service?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('a published channel gets a retained JPEG that decodes and follows the picture', async () => {
    const live = await watch(service.urls.mqtt, 'video/live/cam1/snapshot');
    clients.push(live.client);
    publisher = publishDemo(service.urls.mqtt, 'cam1');
    await waitFor(() => live.got.filter((m) => m.payload.length > 0).length >= 2, { timeoutMs: 30_000, message: 'two pictures of cam1' });
    const [a, b] = live.got.filter((m) => m.payload.length > 0).map((m) => m.payload);
    expect(await probeJpeg(a!)).toMatchObject({ codec_name: 'mjpeg', width: 320, height: 240 });
    // The demo burns in a running clock: two keyframes a second apart are different pictures.
    expect(a!.equals(b!)).toBe(false);
    const stamp = readSnapshotStamp(b!);
    expect(stamp).toMatchObject({ channel: 'cam1', by: expect.stringMatching(/^mqttcast-server@/) });
    expect(Number.isNaN(Date.parse(stamp!.at))).toBe(false);
    expect(service.mediaServer.snapshots.watching).toEqual(['cam1']);

    // A late subscriber gets the latest picture at once (retained).
    const late = await watch(service.urls.mqtt, 'video/live/cam1/snapshot');
    clients.push(late.client);
    await waitFor(() => late.got.some((m) => m.retain && isJpeg(m.payload)), { message: 'the retained picture' });
  });

  it('the README recipe writes a picture to cam.jpg', async () => {
    const recipe = readmeRecipes().get('snapshot');
    expect(recipe, 'README.md has a "snapshot" recipe').toBeDefined();
    const dir = await mkdtemp(path.join(tmpdir(), 'recipe-'));
    try {
      const r = await runCommand('bash', ['-euo', 'pipefail', '-c', recipe!], {
        cwd: dir,
        timeoutMs: 30_000,
        env: { ...process.env, MQTT_PORT: new URL(service.urls.mqtt).port },
      });
      expect(r.code, r.stderr.toString()).toBe(0);
      const jpeg = await readFile(path.join(dir, 'cam.jpg'));
      expect(await probeJpeg(jpeg)).toMatchObject({ codec_name: 'mjpeg', width: 320 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('Home Assistant discovery: a retained camera config with Home Assistant keys, removed with the channel', async () => {
    const topic = 'homeassistant/camera/mqttcast_cam1/config';
    const ha = await watch(service.urls.mqtt, topic);
    clients.push(ha.client);
    await waitFor(() => ha.got.some((m) => m.retain && m.payload.length > 0), { message: 'the retained discovery config' });
    const config = JSON.parse(ha.got.find((m) => m.payload.length > 0)!.payload.toString('utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      unique_id: 'mqttcast_cam1',
      topic: 'video/live/cam1/snapshot',
      availability: [{ topic: 'video/live/cam1/meta', value_template: expect.stringContaining("value_json.state == 'live'") }],
      device: { identifiers: ['mqttcast_cam1'], manufacturer: 'mqttcast', configuration_url: 'http://mqttcast.example:8080/?wall=live%2Fcam1' },
    });
    for (const key of Object.keys(config)) expect(HA_CAMERA_KEYS, `camera key ${key}`).toContain(key);
    for (const key of Object.keys(config.device as object)) expect(HA_DEVICE_KEYS, `device key ${key}`).toContain(key);
    for (const key of Object.keys(config.origin as object)) expect(HA_ORIGIN_KEYS, `origin key ${key}`).toContain(key);
    for (const a of config.availability as object[]) for (const key of Object.keys(a)) expect(HA_AVAILABILITY_KEYS, `availability key ${key}`).toContain(key);

    // The publisher stops (offline: still discovered, unavailable), then the channel is removed for good.
    await stopChild(publisher!, { graceMs: 3000 });
    publisher = undefined;
    await waitFor(() => service.mediaServer.channels.meta('cam1')?.state === 'offline', { message: 'cam1 offline' });
    expect(service.mediaServer.snapshots.watching).toEqual([]);
    const pictures = await watch(service.urls.mqtt, 'video/live/cam1/snapshot');
    clients.push(pictures.client);
    await runChecked('mosquitto_pub', ['-h', '127.0.0.1', '-p', new URL(service.urls.mqtt).port, '-t', 'video/live/cam1/meta', '-r', '-n']);
    await waitFor(() => ha.got.some((m) => !m.retain && m.payload.length === 0), { message: 'the discovery config removed' });
    await waitFor(() => pictures.got.some((m) => !m.retain && m.payload.length === 0), { message: 'the picture removed' });
  });
});

/** Pictures of cam1 seen on a broker, by maker, from now on (live deliveries only). */
async function makersOf(url: string, auth: { username?: string; password?: string } = {}): Promise<{ client: MqttClient; makers: string[] }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, ...auth });
  const makers: string[] = [];
  client.on('message', (_t, payload, packet) => {
    if (!packet.retain && payload.length > 0) makers.push(readSnapshotStamp(payload)?.by ?? '?');
  });
  await client.subscribeAsync('video/live/cam1/snapshot', { qos: 1 });
  return { client, makers };
}

describe('one maker of pictures per channel', () => {
  let tree: BridgeTree | undefined;
  const services: Service[] = [];
  let publisher: ChildProcess | undefined;
  const clients: MqttClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync();
    if (publisher) await stopChild(publisher, { graceMs: 3000 });
    publisher = undefined;
    for (const s of services.splice(0).reverse()) await s.close(); // the one whose broker the other uses last
    await tree?.close();
    tree = undefined;
    expect(mediaProcesses()).toEqual([]);
  });

  it('two servers on one broker: one stands back, the other goes on', async () => {
    const first = await startTestService({ snapshots: { intervalS: 1 } });
    services.push(first, await startTestService({ brokerUrl: first.urls.mqtt, snapshots: { intervalS: 1 } }));
    publisher = publishDemo(first.urls.mqtt, 'cam1');
    const watching = (): Service[] => services.filter((s) => s.mediaServer.snapshots.watching.includes('cam1'));
    await waitFor(() => watching().length === 1 && services.every((s) => s.mediaServer.channels.meta('cam1')?.state === 'live'), {
      timeoutMs: 30_000,
      message: 'exactly one server taking pictures',
    });
    const maker = watching()[0]!.mediaServer.snapshots.id;
    const seen = await makersOf(first.urls.mqtt);
    clients.push(seen.client);
    await waitFor(() => seen.makers.length >= 4, { timeoutMs: 30_000, message: 'four more pictures' });
    expect(new Set(seen.makers)).toEqual(new Set([maker]));
    expect(watching()).toHaveLength(1);
  });

  it('a bridged tree: the server at the ingress makes the pictures, the one at the edge stands back', async () => {
    tree = await startBridgeTree({ edges: ['a'] });
    const creds = tree.users.publisher;
    const origin = await startTestService({ brokerUrl: tree.ingress.url, brokerUsername: creds.username, brokerPassword: creds.password, snapshots: { intervalS: 1 } });
    const edge = await startTestService({ brokerUrl: tree.edges.a!.url, snapshots: { intervalS: 1 } });
    services.push(origin, edge);
    publisher = spawn(process.execPath, [BIN, 'publish', 'demo', '--name', 'cam1', '--broker', tree.ingress.url, '-u', creds.username, '-P', creds.password, '--video-size', '320x240', '--framerate', '15', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    publisher.stderr!.resume();
    await waitFor(() => origin.mediaServer.snapshots.watching.includes('cam1') && edge.mediaServer.channels.meta('cam1')?.state === 'live', {
      timeoutMs: 30_000,
      message: 'cam1 live at the edge and pictured at the ingress',
    });
    await waitFor(() => edge.mediaServer.snapshots.watching.length === 0, { timeoutMs: 30_000, message: 'the edge standing back' });
    const seen = await makersOf(tree.edges.a!.url);
    clients.push(seen.client);
    await waitFor(() => seen.makers.length >= 4, { timeoutMs: 30_000, message: 'four more pictures at the edge' });
    expect(new Set(seen.makers)).toEqual(new Set([origin.mediaServer.snapshots.id]));
    expect(origin.mediaServer.snapshots.watching).toEqual(['cam1']);
    expect(edge.mediaServer.snapshots.watching).toEqual([]);
  });
});
