/**
 * `mqttcast publish` as a device runs it: a real process (bin/mqttcast.js), real ffmpeg,
 * real Mosquitto and the embedded Aedes broker on random ports, real subscribers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../broker/embedded-broker.js';
import { buildPublishArgs, classifyInput, describeInput } from '../cli/publish-args.js';
import { StreamStats, fragmentFacts } from '../cli/publish-stats.js';
import { outputArgs } from '../media-server/ffmpeg/ffmpeg-args.js';
import { ChannelMetaSchema, channelTopics, parseFragment, parseInit, topLevelTypes, type ChannelMeta } from '../protocol/index.js';
import { runChecked, runCommand, stopChild, waitForExit } from './helpers/child.js';
import { expectedAvcCodecString, ffprobeStreams, makeMediaFixtures, type MediaFixtures } from './helpers/fixtures.js';
import { startMosquitto, type MosquittoBroker } from './helpers/mosquitto.js';
import { freePort } from './helpers/ports.js';
import { mediaProcesses, parseStat } from './helpers/processes.js';
import { sleep, waitFor } from './helpers/wait.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
const SMALL = ['--video-size', '320x240', '--framerate', '15'];

interface Publisher {
  child: ChildProcess;
  stderr: () => string;
}

const cleanups: Array<() => Promise<void>> = [];
let dir: string;
let fixtures: MediaFixtures;

function publish(args: string[], opts: { stdin?: boolean; env?: NodeJS.ProcessEnv } = {}): Publisher {
  const child = spawn(process.execPath, [BIN, 'publish', ...args], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  cleanups.push(() => stopChild(child, { signal: 'SIGKILL' }));
  return { child, stderr: () => err };
}

function run(args: string[], env?: NodeJS.ProcessEnv): ReturnType<typeof runCommand> {
  return runCommand(process.execPath, [BIN, 'publish', ...args], { timeoutMs: 60_000, env });
}

/** True once `pid` has exited (gone, or a zombie waiting for a reaper that is not us). */
function isDead(pid: number): boolean {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.state === 'Z';
  } catch {
    return true;
  }
}

async function connect(url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: `t-${randomBytes(4).toString('hex')}`, protocolVersion: 4, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  return client;
}

/** Everything received on the subscribed topics (retain flag kept). */
class Tap {
  readonly messages: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, payload, retain: packet.retain }));
  }

  static async open(url: string, filters: string[]): Promise<Tap> {
    const tap = new Tap(await connect(url));
    await tap.client.subscribeAsync(filters, { qos: 1 });
    return tap;
  }

  on(topic: string): Buffer[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.payload);
  }

  metas(topic: string): ChannelMeta[] {
    return this.on(topic).map((p) => ChannelMetaSchema.parse(JSON.parse(p.toString('utf8'))));
  }
}

/**
 * The retained messages of `topics` right now, deterministically: subscribe, then a marker
 * message on our own topic; Mosquitto queues retained messages at SUBSCRIBE, so all of them
 * arrive before the marker.
 */
async function retained(url: string, topics: string[]): Promise<Map<string, Buffer>> {
  const client = await connect(url);
  const marker = `test/marker/${randomBytes(4).toString('hex')}`;
  const got = new Map<string, Buffer>();
  const done = new Promise<void>((resolve) =>
    client.on('message', (topic, payload, packet) => {
      if (topic === marker) resolve();
      else if (packet.retain) got.set(topic, payload);
    }),
  );
  await client.subscribeAsync(topics, { qos: 1 });
  await client.subscribeAsync(marker, { qos: 1 });
  await client.publishAsync(marker, 'x', { qos: 1 });
  await done;
  await client.endAsync();
  return got;
}

async function waitForMeta(url: string, topic: string, state: 'live' | 'offline'): Promise<ChannelMeta> {
  return waitFor(
    async () => {
      const payload = (await retained(url, [topic])).get(topic);
      const meta = payload ? ChannelMetaSchema.parse(JSON.parse(payload.toString('utf8'))) : undefined;
      return meta?.state === state ? meta : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 250, message: `retained meta ${state} on ${topic}` },
  );
}

/** Writes init + fragments to a file and returns ffprobe's codec names. */
async function probeCodecs(parts: Buffer[]): Promise<string[]> {
  const file = path.join(dir, `cap-${randomBytes(4).toString('hex')}.mp4`);
  await writeFile(file, Buffer.concat(parts));
  return (await ffprobeStreams(file)).map((s) => String(s.codec_name));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-publish-'));
  fixtures = await makeMediaFixtures(dir);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  expect(mediaProcesses()).toEqual([]);
});

describe('mqttcast publish on Mosquitto', () => {
  let broker: MosquittoBroker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker.close();
  });

  it('publishes demo as a channel: retained init and live meta for late subscribers, decodable data; SIGTERM ends it cleanly', async () => {
    const t = channelTopics('video', 'cam1');
    const pub = publish(['demo', '--name', 'cam1', '--broker', broker.url, ...SMALL]);
    const meta = await waitForMeta(broker.url, t.meta, 'live');

    // A late subscriber: the retained init, then fragments (a raw tap, as in the README).
    const tap = await runChecked('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-N', '-t', t.init, '-t', t.data, '-C', '12', '-W', '60']);
    const init = (await retained(broker.url, [t.init])).get(t.init)!;
    expect(topLevelTypes(init)).toEqual(['ftyp', 'moov']);
    expect(tap.stdout.subarray(0, init.length).equals(init)).toBe(true);
    expect(await probeCodecs([tap.stdout])).toEqual(['h264', 'aac']);

    expect(meta.mimeCodec).toBe(parseInit(init).mimeCodec);
    expect(meta.mimeCodec).toMatch(/^video\/mp4; codecs="avc1\.[0-9A-F]{6}, mp4a\.40\.2"$/);
    expect(meta.tracks).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'video', width: 320, height: 240 })]));
    expect(meta.publisher).toMatch(/:\d+$/);

    const progress = /live, \d+ fragments \(\d+ dropped\), [\d.]+ Mbit\/s, GOP [\d.?]+ s, broker connected/;
    await waitFor(() => progress.test(pub.stderr()), { message: 'a progress line on stderr' });
    // MQTT 5 subscribers get the Content Type, and fragments that expire (init and meta do not).
    const v5 = await mqtt.connectAsync(broker.url, { clientId: `t5-${randomBytes(4).toString('hex')}`, protocolVersion: 5, reconnectPeriod: 0 });
    cleanups.push(() => v5.endAsync(true));
    const props = new Map<string, { contentType?: string; messageExpiryInterval?: number }>();
    v5.on('message', (topic, _p, packet) => props.set(topic, packet.properties ?? {}));
    await v5.subscribeAsync([t.init, t.data, t.meta], { qos: 1 });
    await waitFor(() => props.size === 3, { message: 'init, data and meta over MQTT 5' });
    expect(props.get(t.init)).toMatchObject({ contentType: 'video/mp4' });
    expect(props.get(t.init)?.messageExpiryInterval).toBeUndefined();
    expect(props.get(t.data)).toMatchObject({ contentType: 'video/mp4' });
    expect(props.get(t.data)?.messageExpiryInterval).toBeGreaterThan(0);
    expect(props.get(t.meta)).toMatchObject({ contentType: 'application/json' });

    const ffmpegPids = mediaProcesses(pub.child.pid).map((p) => p.pid);
    expect(ffmpegPids).toHaveLength(1);
    const live = await Tap.open(broker.url, [t.init]);
    pub.child.kill('SIGTERM');
    expect(await waitForExit(pub.child, 20_000)).toBe(true);
    expect(pub.child.exitCode, pub.stderr()).toBe(0);

    const after = await retained(broker.url, [t.init, t.meta]);
    expect(after.has(t.init)).toBe(false); // cleared
    expect(ChannelMetaSchema.parse(JSON.parse(after.get(t.meta)!.toString('utf8')))).toMatchObject({ state: 'offline', reason: 'stopped' });
    await waitFor(() => live.on(t.init).some((p) => p.length === 0), { message: 'subscribers see the init cleared' });
    for (const pid of ffmpegPids) expect(isDead(pid)).toBe(true);
  });

  it('reconnects after a broker restart: init and meta republished, a new subscriber gets init and data', async () => {
    const t = channelTopics('video', 'cam-restart');
    const pub = publish(['demo', '--name', 'cam-restart', '--broker', broker.url, ...SMALL]);
    await waitForMeta(broker.url, t.meta, 'live');
    await broker.stop(); // persistence off: the broker forgets every retained message
    const stoppedAt = Date.now();
    await sleep(2500); // fragments made meanwhile must be dropped, not queued
    await broker.start();
    await waitForMeta(broker.url, t.meta, 'live');
    const tap = await Tap.open(broker.url, [t.init, t.data]);
    await waitFor(() => tap.on(t.data).length >= 6, { timeoutMs: 30_000, message: 'data after the broker restart' });
    // Nothing made while the broker was away arrives late (prft: when ffmpeg wrote the fragment).
    // (An audio-only fragment between two frames has no prft: it refers to the video track.)
    const stamps = tap.on(t.data).map((f) => parseFragment(f).producerTimeMs).filter((ms) => ms !== undefined);
    expect(stamps.length).toBeGreaterThan(tap.on(t.data).length / 2);
    for (const ms of stamps) expect(ms).toBeGreaterThan(stoppedAt);
    const init = tap.messages[0]!;
    expect(init.topic).toBe(t.init);
    expect(init.retain).toBe(true);
    // A new subscriber starts at a keyframe after the reconnect, so the stream decodes from the start.
    expect(await probeCodecs([init.payload, ...tap.on(t.data)])).toEqual(['h264', 'aac']);
    expect(pub.stderr().match(/connected to mqtt:/g)?.length).toBeGreaterThanOrEqual(2);
    pub.child.kill('SIGTERM');
    expect(await waitForExit(pub.child, 20_000)).toBe(true);
    expect(pub.child.exitCode, pub.stderr()).toBe(0);
  });

  it('restarts ffmpeg when it dies: meta offline meanwhile, a new init before the fragments that need it', async () => {
    const t = channelTopics('video', 'phoenix');
    const tap = await Tap.open(broker.url, [t.init, t.data, t.meta]);
    const pub = publish(['demo', '--name', 'phoenix', '--broker', broker.url, ...SMALL]);
    await waitFor(() => tap.on(t.data).length >= 3, { timeoutMs: 40_000, message: 'data from the first ffmpeg' });
    const [first] = mediaProcesses(pub.child.pid).map((p) => p.pid);
    process.kill(first!, 'SIGKILL');
    await waitFor(() => tap.on(t.init).length >= 2 && tap.messages.at(-1)?.topic === t.data, { timeoutMs: 30_000, message: 'a second init, then data' });
    const second = mediaProcesses(pub.child.pid).map((p) => p.pid);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first);
    expect(pub.stderr()).toMatch(/ffmpeg stopped \(.*\); restarting in 1 s/);
    const states = tap.metas(t.meta).map((m) => `${m.state}${m.reason ? `:${m.reason}` : ''}`);
    expect(states.slice(states.indexOf('offline:input_failed'))).toContain('live');
    // After the new init, data resumes at a keyframe: init + what follows decodes.
    const at = tap.messages.findLastIndex((m) => m.topic === t.init);
    const rest = tap.messages.slice(at + 1).filter((m) => m.topic === t.data).map((m) => m.payload);
    const info = parseInit(tap.messages[at]!.payload);
    expect(fragmentFacts(rest[0]!, info).sync).toBe(true);
    expect(await probeCodecs([tap.messages[at]!.payload, ...rest])).toEqual(['h264', 'aac']);
    pub.child.kill('SIGTERM');
    expect(await waitForExit(pub.child, 20_000)).toBe(true);
    expect(pub.child.exitCode, pub.stderr()).toBe(0);
  });

  it('loops a file (copying H.264/AAC) past its end with --loop', async () => {
    const t = channelTopics('video', 'loop');
    const tap = await Tap.open(broker.url, [t.init, t.data]);
    const pub = publish([fixtures.baselineMp4, '--loop', '--name', 'loop', '--broker', broker.url, '-q']);
    const meta = await waitForMeta(broker.url, t.meta, 'live');
    expect(meta.mimeCodec).toContain(await expectedAvcCodecString(fixtures.baselineMp4)); // copied, not re-encoded
    const info = parseInit(tap.on(t.init)[0]!);
    const video = info.tracks.find((tr) => tr.id === info.videoTrackId)!;
    const mediaSeconds = (): number =>
      Math.max(0, ...tap.on(t.data).map((f) => (parseFragment(f).tracks.find((tr) => tr.trackId === video.id)?.baseDecodeTime ?? 0) / video.timescale));
    await waitFor(() => mediaSeconds() > 4, { timeoutMs: 40_000, message: 'media time beyond the 3 s file' });
    expect(await probeCodecs([tap.on(t.init)[0]!, ...tap.on(t.data)])).toEqual(['h264', 'aac']);
    expect(pub.stderr()).toBe(''); // -q
    pub.child.kill('SIGTERM');
    expect(await waitForExit(pub.child, 20_000)).toBe(true);
  });

  it('publishes a stream from stdin (MPEG-TS) and goes offline when it ends', async () => {
    const ts = path.join(dir, 'in.ts');
    await runChecked('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', fixtures.baselineMp4, '-c', 'copy', '-f', 'mpegts', ts]);
    const t = channelTopics('site/a', 'stdin');
    expect(t.data).toBe('site/a/live/stdin/data');
    const tap = await Tap.open(broker.url, [t.init, t.data, t.meta]);
    const pub = publish(['-', '--name', 'stdin', '--prefix', 'site/a', '--broker', broker.url], { stdin: true });
    pub.child.stdin!.end(readFileSync(ts));
    expect(await waitForExit(pub.child, 40_000)).toBe(true);
    expect(pub.child.exitCode, pub.stderr()).toBe(0);
    const inits = tap.on(t.init).filter((p) => p.length > 0);
    expect(inits).toHaveLength(1);
    expect(tap.on(t.data).length).toBeGreaterThan(3);
    expect(await probeCodecs([inits[0]!, ...tap.on(t.data)])).toEqual(['h264', 'aac']);
    // ADTS audio from MPEG-TS is re-encoded, so the init states a complete AAC configuration.
    expect(tap.metas(t.meta)[0]!.mimeCodec).toMatch(/^video\/mp4; codecs="avc1\.42C01E, mp4a\.40\.2"$/);
    expect(tap.metas(t.meta).map((m) => m.state)).toEqual(['live', 'offline']);
    expect(tap.metas(t.meta)[1]).toMatchObject({ reason: 'input_ended' });
  });

  it('gives up on an input ffmpeg cannot publish after a few tries, with ffmpeg\'s reason, exit 5', async () => {
    const odd = path.join(dir, 'odd.avi'); // opens fine, but H.264 needs even picture sizes
    await runChecked('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=321x241:rate=10:duration=1', '-c:v', 'mjpeg', '-pix_fmt', 'yuvj444p', odd]);
    const t = channelTopics('video', 'odd');
    const r = await run([odd, '--name', 'odd', '--broker', broker.url]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/mqttcast: SOURCE_UNAVAILABLE: ffmpeg could not publish file .*odd\.avi: width not divisible by 2/);
    expect(r.stderr.match(/restarting in \d+ s/g)).toEqual(['restarting in 1 s', 'restarting in 2 s']);
    const meta = ChannelMetaSchema.parse(JSON.parse((await retained(broker.url, [t.meta])).get(t.meta)!.toString('utf8')));
    expect(meta).toMatchObject({ state: 'offline', reason: 'input_failed' });
    expect(meta.message).toMatch(/width not divisible by 2/);
    expect(meta.message).not.toContain(dir); // the meta is read by everyone: no local paths, no URLs
  });

  it('says why a file cannot be opened (ffmpeg\'s reason) and exits 5', async () => {
    const r = await run([path.join(dir, 'missing.mp4'), '--name', 'x', '--broker', broker.url]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/mqttcast: SOURCE_UNAVAILABLE: cannot open file .*missing\.mp4: .*No such file or directory/);
  });
});

describe('mqttcast publish over TLS (mqtts://, Mosquitto)', () => {
  let broker: MosquittoBroker;
  let tlsPort: number;
  let ca: string;
  beforeAll(async () => {
    const tls = path.join(dir, 'tls');
    const ssl = (args: string[]): Promise<unknown> => runChecked('openssl', args, { cwd: tls });
    await runChecked('mkdir', ['-p', tls]);
    await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=mqttcast test CA']);
    await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    await writeFile(path.join(tls, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    await ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf']);
    // Mosquitto started as root reads certificates after dropping to its own user.
    await runChecked('chmod', ['755', dir, tls]);
    await runChecked('chmod', ['644', path.join(tls, 'server.key')]);
    ca = path.join(tls, 'ca.crt');
    tlsPort = await freePort();
    broker = await startMosquitto({
      extraConfig: [`listener ${tlsPort} 127.0.0.1`, `cafile ${ca}`, `certfile ${path.join(tls, 'server.crt')}`, `keyfile ${path.join(tls, 'server.key')}`].join('\n'),
    });
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('publishes over mqtts:// trusting --ca; refuses an unknown certificate unless --insecure', async () => {
    const url = `mqtts://127.0.0.1:${tlsPort}`;
    const untrusted = await run(['demo', '--name', 'tls', '--broker', url, ...SMALL]);
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/cannot connect to the MQTT broker at mqtts:.*(self[- ]signed|certificate)/i);
    const t = channelTopics('video', 'tls');
    for (const trust of [['--ca', ca], ['--insecure']]) {
      const pub = publish(['demo', '--name', 'tls', '--broker', url, ...SMALL, ...trust]);
      const meta = await waitForMeta(broker.url, t.meta, 'live'); // read back over the plain listener
      expect(meta.publisher).toMatch(new RegExp(`:${pub.child.pid}$`));
      pub.child.kill('SIGTERM');
      expect(await waitForExit(pub.child, 20_000)).toBe(true);
      expect(pub.child.exitCode, pub.stderr()).toBe(0);
    }
  });
});

describe('mqttcast publish on the embedded broker', () => {
  let broker: EmbeddedBroker;
  beforeAll(async () => {
    broker = await EmbeddedBroker.start({ host: '127.0.0.1', port: 0, maxPacketBytes: 16 * 1024 * 1024, logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await broker.close();
  });

  it('kill -9 of the publisher: the broker publishes its will (meta offline) and ffmpeg dies too', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const t = channelTopics('video', 'cam9');
    const tap = await Tap.open(url, [t.meta]);
    const pub = publish(['demo', '--name', 'cam9', '--broker', url, ...SMALL, '--publisher', 'porch']);
    await waitFor(() => tap.metas(t.meta).some((m) => m.state === 'live'), { timeoutMs: 40_000, message: 'live meta' });
    const ffmpegPids = mediaProcesses(pub.child.pid).map((p) => p.pid);
    expect(ffmpegPids).toHaveLength(1);
    pub.child.kill('SIGKILL');
    const will = await waitFor(() => tap.metas(t.meta).find((m) => m.state === 'offline'), { message: 'the last will' });
    expect(will).toMatchObject({ state: 'offline', reason: 'connection_lost', publisher: 'porch' });
    await waitFor(() => ffmpegPids.every(isDead), { message: 'ffmpeg killed with its parent' });
    // Retained: a subscriber arriving later learns the channel is offline.
    const late = await Tap.open(url, [t.meta]);
    await waitFor(() => late.metas(t.meta)[0]?.state === 'offline', { message: 'retained will' });
  });

  it('exits 2 when the broker refuses the credentials', async () => {
    const locked = await EmbeddedBroker.start({
      host: '127.0.0.1', port: 0, maxPacketBytes: 1024 * 1024, logger: pino({ level: 'silent' }),
      hooks: { authenticate: (_client, _user, _password, done) => done(Object.assign(new Error('bad user name or password'), { returnCode: 4 as const }), false) },
    });
    cleanups.push(() => locked.close());
    const r = await run(['demo', '--name', 'cam', '--broker', `mqtt://127.0.0.1:${locked.port}`, '-u', 'bob', '-P', 'wrong']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused the credentials/);
  });
});

describe('mqttcast publish refusals', () => {
  it.each([
    ['a/b', /INVALID_REQUEST: invalid channel name "a\/b": must be one topic level/],
    ['cam#', /INVALID_REQUEST: invalid channel name "cam#": may only contain/],
    ['x'.repeat(65), /at most 64 characters/],
  ])('refuses the channel name %s with exit code 1', async (name, why) => {
    const r = await run(['demo', '--name', name]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('needs --name; --loop only with a file', async () => {
    expect((await run(['demo'])).stderr).toMatch(/needs --name/);
    const loop = await run(['demo', '--name', 'x', '--loop']);
    expect(loop.code).toBe(1);
    expect(loop.stderr).toMatch(/--loop only applies to a local file/);
  });

  it('exits 3 when the broker is unreachable, 1 when ffmpeg is missing', async () => {
    const r = await run(['demo', '--name', 'x', '--broker', `mqtt://127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+/);
    const missing = await run(['demo', '--name', 'x'], { ...process.env, MQTTCAST_FFMPEG: path.join(dir, 'no-ffmpeg') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/FFMPEG_FAILED: ffmpeg not found/);
  });
});

describe('publish arguments and measurements (pure)', () => {
  it('classifies inputs', () => {
    expect(classifyInput('demo')).toEqual({ kind: 'demo' });
    expect(classifyInput('-')).toEqual({ kind: 'stdin' });
    expect(classifyInput('/dev/video0')).toEqual({ kind: 'device', path: '/dev/video0' });
    expect(classifyInput('rtsp://cam.lan/stream1')).toEqual({ kind: 'url', url: 'rtsp://cam.lan/stream1', scheme: 'rtsp' });
    expect(classifyInput('file:///tmp/a.mp4')).toEqual({ kind: 'file', path: '/tmp/a.mp4' });
    expect(classifyInput('a:b.mp4')).toEqual({ kind: 'file', path: path.resolve('a:b.mp4') });
    expect(describeInput(classifyInput('rtsp://admin:s3cret@cam.lan/x'))).toBe('rtsp://admin:***@cam.lan/x');
  });

  it('builds low-latency fMP4 arguments like the media server, per input', () => {
    const copy = { video: 'copy', audio: 'copy', audioCodec: 'aac' } as const;
    const demo = buildPublishArgs({ kind: 'demo' }, { video: 'h264', audio: 'aac' }, true, { loop: false, videoSize: '320x240', framerate: 15 });
    expect(demo.join(' ')).toContain('testsrc2=size=320x240:rate=15');
    // One fragment per frame at 15 fps, the media server's output arguments.
    expect(demo.join(' ')).toContain(outputArgs(0, 15).join(' '));
    expect(demo.join(' ')).toContain('-frag_duration 60000 -write_prft wallclock');
    const slow = buildPublishArgs({ kind: 'demo' }, { video: 'h264', audio: 'aac' }, true, { loop: false, fragmentMs: 200 });
    expect(slow.join(' ')).toContain('-frag_duration 200000 -write_prft');
    const file = buildPublishArgs(classifyInput('/m/a.mp4'), copy, false, { loop: true });
    expect(file.join(' ')).toContain('-stream_loop -1 -re -i file:/m/a.mp4 -map 0:v:0 -map 0:a:0 -c:v copy -c:a copy -bsf:a aac_adtstoasc');
    const cam = buildPublishArgs(classifyInput('/dev/video0'), { video: 'h264', audio: 'none' }, true, { loop: false, videoSize: '640x480', framerate: 30 });
    expect(cam.join(' ')).toContain('-f v4l2 -framerate 30 -video_size 640x480 -probesize');
    expect(cam).not.toContain('nobuffer');
    expect(cam.join(' ')).toContain('-c:v libx264');
    expect(cam.join(' ')).toContain('-g 30');
    expect(cam).not.toContain('0:a:0');
    const rtsp = buildPublishArgs(classifyInput('rtsp://cam/x'), copy, true, { loop: false });
    expect(rtsp.join(' ')).toContain('-rtsp_transport tcp');
    // The SDP tells no frame rate: cut at the first packet 30 ms into a fragment.
    expect(rtsp.join(' ')).toContain('-frag_duration 1 -min_frag_duration 30000');
    const stdin = buildPublishArgs(classifyInput('-'), copy, true, { loop: false, format: 'mpegts' });
    expect(stdin.join(' ')).toContain('-f mpegts -i pipe:0');
    for (const args of [demo, file, cam, rtsp, stdin]) expect(args.at(-1)).toBe('pipe:1');
  });

  it('measures the GOP from keyframe media times and the bit rate over a window', () => {
    const stats = new StreamStats(5000);
    for (let i = 0; i < 20; i++) stats.add(25_000, { sync: i % 5 === 0, mediaTimeS: i * 0.2 }, 10_000 + i * 200);
    expect(stats.gopS).toBeCloseTo(1, 5);
    expect(stats.bitrate(10_000 + 19 * 200)).toBe(Math.round((20 * 25_000 * 8) / 3.8));
    expect(stats.bitrate(10_000 + 60_000)).toBe(0); // nothing in the window any more
    stats.restart();
    stats.add(1000, { sync: true, mediaTimeS: 0 }, 80_000);
    expect(stats.gopS).toBeCloseTo(1, 5); // a restart does not produce a bogus negative GOP
  });
});
