/**
 * `mqttcast publish --snapshots` as a device runs it: a real process (bin/mqttcast.js),
 * real ffmpeg, the embedded Aedes broker of a real service whose own snapshots are off
 * (so every picture on the channel comes from the device), real MQTT 5 subscribers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { DeviceSnapshots } from '../cli/publish-snapshots.js';
import { ChannelMetaSchema, channelTopics, isJpeg, readSnapshotStamp, type ChannelMeta, type InitInfo } from '../protocol/index.js';
import { runCommand, stopChild } from './helpers/child.js';
import { ffprobeStreams } from './helpers/ffprobe.js';
import { descendants, mediaProcesses, parseStat, type ProcInfo } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService } from './harness.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
const SMALL = ['--video-size', '320x240', '--framerate', '15', '-q'];

interface Publisher {
  child: ChildProcess;
  stderr: () => string;
}

interface Message {
  topic: string;
  payload: Buffer;
  retain: boolean;
  contentType?: string;
}

const cleanups: Array<() => Promise<void>> = [];

function publish(args: string[]): Publisher {
  const child = spawn(process.execPath, [BIN, 'publish', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  cleanups.push(() => stopChild(child, { signal: 'SIGKILL' }));
  return { child, stderr: () => err };
}

/** Everything received on `filters` by an MQTT 5 subscriber (retain flag and Content Type kept). */
async function tap(url: string, filters: string[]): Promise<Message[]> {
  const client: MqttClient = await mqtt.connectAsync(url, { clientId: `t-${randomBytes(4).toString('hex')}`, protocolVersion: 5, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  const messages: Message[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain, contentType: packet.properties?.contentType }));
  await client.subscribeAsync(filters, { qos: 1 });
  return messages;
}

/** The JPEG without its comment segment right after SOI (the stamp, whose time differs in every picture). */
function imageData(jpeg: Buffer): Buffer {
  if (jpeg[2] !== 0xff || jpeg[3] !== 0xfe) return jpeg;
  const length = (jpeg[4]! << 8) | jpeg[5]!;
  return Buffer.concat([jpeg.subarray(0, 2), jpeg.subarray(4 + length)]);
}

function lastMeta(messages: Message[], topic: string): ChannelMeta | undefined {
  const last = messages.filter((m) => m.topic === topic && m.payload.length > 0).at(-1);
  return last && ChannelMetaSchema.parse(JSON.parse(last.payload.toString('utf8')));
}

/**
 * Records every ffmpeg below `pid` while the test runs (the picture ffmpeg lives for a
 * moment each interval, so it is sampled often), to check none outlives the publisher.
 */
function watchFfmpeg(pid: number): { seen: Map<number, ProcInfo>; stop: () => void } {
  const seen = new Map<number, ProcInfo>();
  const sample = (): void => {
    for (const p of mediaProcesses(pid)) if (!seen.has(p.pid)) seen.set(p.pid, p);
  };
  const timer = setInterval(sample, 20);
  const stop = (): void => clearInterval(timer);
  cleanups.push(async () => stop());
  return { seen, stop };
}

const isPictureFfmpeg = (p: ProcInfo): boolean => p.args.includes('mjpeg');

describe('mqttcast publish --snapshots', () => {
  let service: Service;
  let dir: string;

  beforeAll(async () => {
    // The server makes no pictures: every one on the channel comes from the device.
    service = await startTestService({ snapshots: { enabled: false } } as never);
    dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-pub-snap-'));
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await service?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    expect(mediaProcesses()).toEqual([]);
  });

  it('publishes a retained, stamped JPEG of its channel that follows the video, says so in the meta, and leaves no ffmpeg after SIGTERM', async () => {
    const url = service.urls.mqtt;
    const topics = channelTopics('video', 'cam1');
    const live = await tap(url, [topics.snapshot, topics.meta]);
    const pub = publish(['demo', '--name', 'cam1', '--broker', url, '--snapshots', '--snapshot-interval', '1', ...SMALL]);
    const ffmpeg = watchFfmpeg(pub.child.pid!);

    const meta = await waitFor(() => (lastMeta(live, topics.meta)?.state === 'live' ? lastMeta(live, topics.meta) : undefined), {
      timeoutMs: 30_000,
      message: `cam1 live (${pub.stderr()})`,
    });
    expect(meta.snapshots).toBe(true);

    // Two pictures whose image data differ: the demo's picture moves (and shows a clock).
    const pictures = () => live.filter((m) => m.topic === topics.snapshot && m.payload.length > 0);
    await waitFor(() => new Set(pictures().map((m) => imageData(m.payload).toString('base64'))).size >= 2, {
      timeoutMs: 30_000,
      message: `two different pictures on ${topics.snapshot} (${pub.stderr()})`,
    });
    for (const m of pictures()) {
      expect(isJpeg(m.payload)).toBe(true);
      expect(m.contentType).toBe('image/jpeg');
    }

    // A subscriber that comes later gets the latest picture at once: it is retained.
    const late = await tap(url, [topics.snapshot]);
    const kept = await waitFor(() => late[0], { message: 'the retained picture' });
    expect(kept.retain).toBe(true);
    expect(kept.contentType).toBe('image/jpeg');
    const stamp = readSnapshotStamp(kept.payload);
    expect(stamp).toMatchObject({ by: `publish@${hostname()}:${pub.child.pid}`, channel: 'cam1' });
    expect(Number.isNaN(Date.parse(stamp!.at))).toBe(false);
    const file = path.join(dir, 'cam1.jpg');
    await writeFile(file, kept.payload);
    const [stream] = await ffprobeStreams(file);
    expect(stream).toMatchObject({ codec_name: 'mjpeg', width: 320, height: 240 });

    // SIGTERM: the channel goes offline, and neither the stream's ffmpeg nor a picture's is left.
    await stopChild(pub.child, { graceMs: 15_000 });
    ffmpeg.stop();
    expect(pub.child.exitCode, pub.stderr()).toBe(0);
    expect([...ffmpeg.seen.values()].some((p) => !isPictureFfmpeg(p))).toBe(true); // the stream's ffmpeg was watched
    const left = [...ffmpeg.seen.values()].filter(stillRuns);
    expect(left).toEqual([]);
    await waitFor(() => lastMeta(live, topics.meta)?.state === 'offline', { message: 'cam1 offline' });
  });

  it('publishes no picture without --snapshots, and its meta does not claim any', async () => {
    const url = service.urls.mqtt;
    const topics = channelTopics('video', 'cam2');
    const seen = await tap(url, [topics.snapshot, topics.meta, topics.data]);
    const pub = publish(['demo', '--name', 'cam2', '--broker', url, ...SMALL]);
    // 45 fragments at 15 frames/s: three keyframes, well past where --snapshots makes its first picture.
    await waitFor(() => seen.filter((m) => m.topic === topics.data).length >= 45, { timeoutMs: 30_000, message: `cam2 data (${pub.stderr()})` });
    expect(lastMeta(seen, topics.meta)).toMatchObject({ state: 'live' });
    expect(lastMeta(seen, topics.meta)?.snapshots).toBeUndefined();
    expect(seen.filter((m) => m.topic === topics.snapshot)).toEqual([]);
    await stopChild(pub.child, { graceMs: 15_000 });
    expect(pub.child.exitCode, pub.stderr()).toBe(0);
  });

  it.each([
    [['--snapshots', '--snapshot-interval', '0'], /--snapshot-interval must be the seconds between two pictures, 1 to 3600, not "0"/],
    [['--snapshots', '--snapshot-interval', 'often'], /--snapshot-interval must be .* not "often"/],
    [['--snapshots', '--snapshot-width', '64.5'], /--snapshot-width must be a whole number of pixels, 16 to 3840, not "64.5"/],
    [['--snapshot-interval', '5'], /--snapshot-interval only applies with --snapshots/],
  ])('refuses %j with a usage error before it starts', async (flags, why) => {
    const r = await runCommand(process.execPath, [BIN, 'publish', 'demo', '--name', 'cam3', '--broker', service.urls.mqtt, ...flags], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('DeviceSnapshots (the picture maker publish --snapshots runs)', () => {
  const VIDEO: InitInfo = { tracks: [], mimeCodec: 'video/mp4; codecs="avc1.64000C"', videoTrackId: 1 };
  let dir: string;
  let snapshots: DeviceSnapshots | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-device-snap-'));
  });

  afterEach(async () => {
    await snapshots?.close();
    snapshots = undefined;
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports a picture ffmpeg cannot make, publishes nothing, and goes on', async () => {
    const warnings: string[] = [];
    const published: Buffer[] = [];
    snapshots = new DeviceSnapshots({
      ffmpeg: 'ffmpeg', channel: 'cam9', flags: { intervalS: 1, width: 640 },
      publish: (jpeg) => published.push(jpeg), warn: (m) => warnings.push(m),
    });
    snapshots.onInit(Buffer.from('not an mp4 init segment'), VIDEO);
    snapshots.onFragment(Buffer.from('nor a fragment'), true);
    const warning = await waitFor(() => warnings[0], { message: 'a warning' });
    expect(warning).toMatch(/^no snapshot this time: could not make a snapshot: .+/);
    expect(published).toEqual([]);
    expect(snapshots.active).toBe(true);
  });

  it('close() ends a picture ffmpeg that is still running', async () => {
    const stuck = path.join(dir, 'stuck-ffmpeg');
    await writeFile(stuck, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    snapshots = new DeviceSnapshots({ ffmpeg: stuck, channel: 'cam9', flags: { intervalS: 1, width: 640 }, publish: () => undefined, warn: () => undefined });
    snapshots.onInit(Buffer.from('init'), VIDEO);
    snapshots.onFragment(Buffer.from('keyframe'), true);
    const running = await waitFor(() => descendants().find((p) => p.comm === 'sleep' && p.args.includes('600')), { message: 'the picture process' });
    await snapshots.close();
    expect(stillRuns(running)).toBe(false);
  });

  it('takes no picture of a stream without video', () => {
    snapshots = new DeviceSnapshots({ ffmpeg: 'ffmpeg', channel: 'cam9', flags: { intervalS: 1, width: 640 }, publish: () => undefined, warn: () => undefined });
    snapshots.onInit(Buffer.from('init'), { tracks: [], mimeCodec: 'audio/mp4' });
    expect(snapshots.active).toBe(false);
  });
});

/** Whether an ffmpeg that was seen still runs (gone, or a zombie: it ended; another program with its PID: not it). */
function stillRuns(p: ProcInfo): boolean {
  try {
    const now = parseStat(readFileSync(`/proc/${p.pid}/stat`, 'utf8'));
    return now !== undefined && now.state !== 'Z' && now.comm === p.comm;
  } catch {
    return false;
  }
}
