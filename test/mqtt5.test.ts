/**
 * MQTT 5 request/response on both brokers: mosquitto_rr with its defaults, the
 * Response Topic property as the reply topic, Correlation Data echoed on replies and
 * status, Content Type and Message Expiry on media. MQTT 3.1.1 keeps working as before.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { FRAGMENT_EXPIRY_S, topLevelTypes } from '../protocol/index.js';
import { runChecked, stopChild } from './helpers/child.js';
import { ffprobeStreams } from './helpers/ffprobe.js';
import { startMosquitto, type MosquittoBroker } from './helpers/mosquitto.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';

/** A v5 subscriber that keeps whole packets (properties included). */
async function v5Listener(url: string, topics: string[]): Promise<{ client: MqttClient; packets: IPublishPacket[] }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  const packets: IPublishPacket[] = [];
  client.on('message', (_t, _p, packet) => packets.push(packet));
  await client.subscribeAsync(topics, { qos: 1 });
  return { client, packets };
}

function pubV5(port: string, topic: string, body: string, props: Record<string, string>): Promise<unknown> {
  const args = ['-V', '5', '-h', '127.0.0.1', '-p', port, '-q', '1', '-t', topic, '-m', body];
  for (const [k, v] of Object.entries(props)) args.push('-D', 'publish', k, v);
  return runChecked('mosquitto_pub', args);
}

function mosquittoRr(port: string, topic: string, body: string): Promise<Record<string, unknown>> {
  // Defaults on purpose: no -V (mosquitto_rr speaks only MQTT 5).
  return runChecked('mosquitto_rr', ['-h', '127.0.0.1', '-p', port, '-t', topic, '-e', `rr/reply-${process.pid}`, '-m', body, '-W', '30'])
    .then((r) => JSON.parse(r.stdout.toString('utf8')) as Record<string, unknown>);
}

describe.each([
  ['the embedded broker', false],
  ['Mosquitto', true],
])('MQTT 5 request/response on %s', (_name, useMosquitto) => {
  let mosquitto: MosquittoBroker | undefined;
  let service: Service;
  let url: string;
  let port: string;

  beforeAll(async () => {
    if (useMosquitto) mosquitto = await startMosquitto();
    service = await startTestService(mosquitto ? { brokerUrl: mosquitto.url } : {});
    url = mosquitto?.url ?? service.urls.mqtt;
    port = new URL(url).port;
  });

  afterAll(async () => {
    await service?.close();
    await mosquitto?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('the media server speaks MQTT 5 to the broker', () => {
    expect(service.link!.version).toBe(5);
  });

  it('mosquitto_rr with its defaults gets the describe reply (reply topic from the Response Topic property)', async () => {
    const reply = await mosquittoRr(port, 'video/describe', '{"source":"demo"}');
    expect(reply).toMatchObject({ ok: true, error: '' });
    expect(String(reply.mimeCodec)).toMatch(/^video\/mp4; codecs="avc1\.[0-9A-F]{6}, mp4a\.40\.2"$/);
  });

  it('mosquitto_rr gets a coded refusal the same way', async () => {
    const reply = await mosquittoRr(port, 'video/describe', '{"url":"http://198.51.100.7/x.mp4"}');
    expect(reply).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED' });
  });

  it('echoes Correlation Data (set with mosquitto_pub -D) on the describe reply, with a JSON Content Type', async () => {
    const { client, packets } = await v5Listener(url, ['rr/c1']);
    try {
      await pubV5(port, 'video/describe', '{"source":"demo"}', { 'response-topic': 'rr/c1', 'correlation-data': 'corr-describe-1' });
      const reply = await waitFor(() => packets.find((p) => p.topic === 'rr/c1'), { message: 'describe reply on rr/c1' });
      expect(reply.properties?.correlationData?.toString()).toBe('corr-describe-1');
      expect(reply.properties?.contentType).toBe('application/json');
    } finally {
      await client.endAsync();
    }
  });

  it('a play whose reply topic is only the Response Topic streams, echoes Correlation Data on /status, and its media is video/mp4 that expires', async () => {
    const reply = `rr/play-${useMosquitto ? 'm' : 'e'}`;
    const { client, packets } = await v5Listener(url, [reply, `${reply}/status`]);
    try {
      await pubV5(port, 'video/play', '{"source":"demo"}', { 'response-topic': reply, 'correlation-data': 'corr-play-7' });
      await waitFor(() => packets.filter((p) => p.topic === reply).length >= 4, { message: 'media on the response topic' });
      const statuses = packets.filter((p) => p.topic === `${reply}/status`);
      expect(statuses.length).toBeGreaterThan(0);
      for (const s of statuses) {
        expect(s.properties?.correlationData?.toString()).toBe('corr-play-7');
        expect(s.properties?.contentType).toBe('application/json');
      }
      const media = packets.filter((p) => p.topic === reply);
      expect(topLevelTypes(media[0]!.payload as Buffer)).toEqual(['ftyp', 'moov']);
      expect(media[0]!.properties?.contentType).toBe('video/mp4');
      expect(media[0]!.properties?.messageExpiryInterval).toBeUndefined(); // the init segment never expires
      expect(media[1]!.properties?.contentType).toBe('video/mp4');
      expect(media[1]!.properties?.messageExpiryInterval).toBeGreaterThan(0);
      expect(media[1]!.properties?.messageExpiryInterval).toBeLessThanOrEqual(FRAGMENT_EXPIRY_S);
      await pubV5(port, 'video/stop', '{}', { 'response-topic': reply, 'correlation-data': 'corr-stop' });
      const ended = await waitFor(
        () => packets.filter((p) => p.topic === `${reply}/status`).map((p) => JSON.parse(p.payload.toString()) as Record<string, unknown>).find((s) => s.state === 'ended'),
        { message: 'ended status' },
      );
      expect(ended.reason).toBe('stop');
    } finally {
      await client.endAsync();
    }
  });

  it('a Response Topic play into mosquitto_sub -N gives a file ffprobe decodes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mqttcast-v5-'));
    const file = join(dir, 'out.mp4');
    const reply = `rr/file-${useMosquitto ? 'm' : 'e'}`;
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-t', reply, '-N', '-C', '30', '-W', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    sub.stdout.pipe(createWriteStream(file));
    try {
      await new Promise((r) => setTimeout(r, 300)); // let mosquitto_sub subscribe
      await pubV5(port, 'video/play', '{"source":"demo"}', { 'response-topic': reply });
      await waitFor(() => sub.exitCode !== null, { timeoutMs: 60_000, message: 'mosquitto_sub got 30 messages' });
      expect(sub.exitCode).toBe(0);
      expect((await stat(file)).size).toBeGreaterThan(1000);
      const streams = await ffprobeStreams(file);
      expect(streams.map((s) => s.codec_name)).toEqual(expect.arrayContaining(['h264', 'aac']));
      await pubV5(port, 'video/stop', '{}', { 'response-topic': reply });
      await waitFor(() => service.mediaServer.session(reply) === undefined, { message: 'session stopped' });
    } finally {
      await stopChild(sub, { graceMs: 1000 });
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a request whose reply_topic and Response Topic disagree, telling the Response Topic', async () => {
    const { client, packets } = await v5Listener(url, ['rr/a']);
    try {
      await pubV5(port, 'video/describe', '{"source":"demo","reply_topic":"rr/b"}', { 'response-topic': 'rr/a', 'correlation-data': 'x1' });
      const reply = await waitFor(() => packets.find((p) => p.topic === 'rr/a'), { message: 'refusal on rr/a' });
      expect(JSON.parse(reply.payload.toString())).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
      expect(reply.properties?.correlationData?.toString()).toBe('x1');
    } finally {
      await client.endAsync();
    }
  });

  it('MQTT 3.1.1 viewers work exactly as before', async () => {
    const viewer = await Viewer.connect(url);
    try {
      const reply = await viewer.describe({ source: 'demo' });
      expect(reply.ok).toBe(true);
    } finally {
      await viewer.close();
    }
  });
});
