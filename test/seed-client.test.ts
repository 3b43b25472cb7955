/**
 * The seed prototype's browser client, unchanged, against `--prefix client`: the exact
 * messages it sends (written here, not its code): MQTT 3.1.1 over WebSocket at /mqtt,
 * client id `id_0`, a retained QoS 2 last will on `client/unregister`, `client/register`
 * on connect, describe on `client/describe` answered on `client/describe/response_<n>`,
 * play on `client/play` into `video_<m>` without acks, and `{"url"}` on `client/stop`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { topLevelTypes } from '../protocol/index.js';
import { startMosquitto, type MosquittoBroker } from './helpers/mosquitto.js';
import { mediaProcesses } from './helpers/processes.js';
import { startRtspServer, type RtspServer } from './helpers/rtsp-server.js';
import { sleep, waitFor } from './helpers/wait.js';
import { startTestService } from './harness.js';

const WILL = '{"clientId":"id_0"}';

interface SeedClient {
  client: MqttClient;
  /** Messages per topic, in arrival order. */
  got: Map<string, Buffer[]>;
}

/** Connects as the seed client does (Paho JS: MQTT 3.1.1, id_0, retained QoS 2 will). */
async function connectSeed(url: string): Promise<SeedClient> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId: 'id_0',
    reconnectPeriod: 0,
    will: { topic: 'client/unregister', payload: Buffer.from(WILL), qos: 2, retain: true },
  });
  const got = new Map<string, Buffer[]>();
  client.on('message', (topic, payload) => got.set(topic, [...(got.get(topic) ?? []), payload]));
  await client.publishAsync('client/register', '{"clientId":"id_0"}');
  return { client, got };
}

async function seedDescribe(seed: SeedClient, url: string, n: number): Promise<Record<string, unknown>> {
  const topic = `client/describe/response_${n}`;
  await seed.client.subscribeAsync(topic);
  await seed.client.publishAsync('client/describe', JSON.stringify({ clientId: 'id_0', url, resp_topic: topic }));
  const reply = await waitFor(() => seed.got.get(topic)?.[0], { message: `describe reply on ${topic}` });
  return JSON.parse(reply.toString('utf8')) as Record<string, unknown>;
}

async function seedPlay(seed: SeedClient, url: string, m: number): Promise<string> {
  const topic = `video_${m}`;
  await seed.client.subscribeAsync(topic);
  await seed.client.publishAsync('client/play', JSON.stringify({ clientId: 'id_0', url, resp_topic: topic }));
  await waitFor(() => ((seed.got.get(topic)?.length ?? 0) >= 5 ? true : undefined), { message: `media on ${topic}` });
  return topic;
}

/** Waits until a fresh subscriber to client/unregister gets no retained will (resubscribing to ask again). */
async function noRetainedWill(url: string, message: string): Promise<void> {
  const probe = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const retained: Buffer[] = [];
  probe.on('message', (_t, payload, packet) => {
    if (packet.retain && payload.length > 0) retained.push(payload);
  });
  try {
    await waitFor(async () => {
      retained.length = 0;
      await probe.unsubscribeAsync('client/unregister');
      await probe.subscribeAsync('client/unregister');
      await sleep(300);
      return retained.length === 0 ? true : undefined;
    }, { message });
  } finally {
    await probe.endAsync();
  }
}

describe.each([
  ['the embedded broker over WebSocket', false],
  ['Mosquitto', true],
])('the seed client, unchanged, on %s', (_name, useMosquitto) => {
  let rtsp: RtspServer;
  let mosquitto: MosquittoBroker | undefined;
  let service: Service;
  let brokerUrl: string;
  let source: string;
  const seeds: SeedClient[] = [];

  beforeAll(async () => {
    rtsp = await startRtspServer();
    source = rtsp.url;
    if (useMosquitto) {
      mosquitto = await startMosquitto();
      // A will left retained by an earlier seed page: stale, never to be acted on.
      const old = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 4 });
      await old.publishAsync('client/unregister', WILL, { qos: 1, retain: true });
      await old.endAsync();
    }
    service = await startTestService({
      prefix: 'client',
      allow: [`rtsp://127.0.0.1:${rtsp.port}/*`],
      ...(mosquitto ? { brokerUrl: mosquitto.url } : {}),
    });
    brokerUrl = mosquitto?.url ?? service.urls.websocket;
  });

  afterEach(async () => {
    for (const s of seeds.splice(0)) await s.client.endAsync(true);
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'no sessions left' });
  });

  afterAll(async () => {
    await service?.close();
    await mosquitto?.close();
    await rtsp?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('describes with a reply topic below client/describe, plays into video_<m>, and its {url} stop ends the stream', async () => {
    const seed = await connectSeed(brokerUrl);
    seeds.push(seed);
    const reply = await seedDescribe(seed, source, 1);
    expect(reply).toMatchObject({ ok: true, error: '' });
    expect(String(reply.mimeCodec)).toMatch(/^video\/mp4; codecs="avc1\.42C0[0-9A-F]{2}, mp4a\.40\.2"$/); // Constrained Baseline, AAC-LC

    const topic = await seedPlay(seed, source, 2);
    const media = seed.got.get(topic)!;
    expect(topLevelTypes(media[0]!)).toEqual(['ftyp', 'moov']);
    expect(topLevelTypes(media[1]!)).toContain('moof');
    expect(service.mediaServer.session(topic)).toBeDefined();

    await seed.client.publishAsync('client/stop', JSON.stringify({ url: source }));
    await waitFor(() => (service.mediaServer.session(topic) === undefined ? true : undefined), { message: 'session ended by {url} stop' });
    const count = seed.got.get(topic)!.length;
    await sleep(1000);
    expect(seed.got.get(topic)!.length - count).toBeLessThanOrEqual(1); // the stream stopped flowing
  });

  it('its last will on client/unregister ends the sessions it started (client_gone) and is cleared from the broker', async () => {
    const seed = await connectSeed(brokerUrl);
    const topic = await seedPlay(seed, source, 3);
    const ended = service.mediaServer.metrics.sessionsEnded.get({ reason: 'client_gone' });
    // The page is closed: the connection drops without DISCONNECT, so the broker sends the will.
    seed.client.stream.destroy();
    await waitFor(() => (service.mediaServer.session(topic) === undefined ? true : undefined), { message: 'session ended by the will' });
    expect(service.mediaServer.metrics.sessionsEnded.get({ reason: 'client_gone' })).toBe(ended + 1);
    seed.client.end(true);

    // Nothing lingers retained on client/unregister.
    await noRetainedWill(mosquitto?.url ?? service.urls.mqtt, 'retained will cleared');
  });

  it.runIf(useMosquitto)('a retained will replayed at (re)subscribe is stale: it ends nothing and is cleared', async () => {
    const seed = await connectSeed(brokerUrl);
    seeds.push(seed);
    const topic = await seedPlay(seed, source, 4);
    const seen = service.mediaServer.metrics.requests.get({ kind: 'unregister' });
    // While the media server is away, someone's will is left retained; it is replayed when the server resubscribes.
    service.link!.client.stream.destroy();
    await waitFor(() => (service.link!.connected ? undefined : true), { message: 'media server disconnected' });
    const other = await mqtt.connectAsync(mosquitto!.url, { protocolVersion: 4 });
    await other.publishAsync('client/unregister', WILL, { qos: 1, retain: true });
    await other.endAsync();
    await waitFor(() => (service.mediaServer.metrics.requests.get({ kind: 'unregister' }) > seen ? true : undefined), {
      message: 'replayed will seen after reconnect',
    });
    expect(service.mediaServer.session(topic)).toBeDefined();
    await noRetainedWill(mosquitto!.url, 'stale will cleared');
  });

  it('a {url} stop does not end a session whose viewer acks (another person\'s player)', async () => {
    const viewer = await mqtt.connectAsync(mosquitto?.url ?? service.urls.mqtt, { protocolVersion: 4 });
    const reply = 'client/session/player-1/live';
    let n = 0;
    viewer.on('message', (t) => t === reply && n++);
    await viewer.subscribeAsync([reply]);
    await viewer.publishAsync('client/play', JSON.stringify({ url: source, reply_topic: reply }));
    await waitFor(() => (n >= 3 ? true : undefined), { message: 'player media' });
    await viewer.publishAsync('client/ack', JSON.stringify({ reply_topic: reply, seq: n }));
    await waitFor(() => (service.mediaServer.session(reply)?.acking ? true : undefined), { message: 'player acked' });

    const seed = await connectSeed(brokerUrl);
    seeds.push(seed);
    const topic = await seedPlay(seed, source, 5);
    await seed.client.publishAsync('client/stop', JSON.stringify({ url: source }));
    await waitFor(() => (service.mediaServer.session(topic) === undefined ? true : undefined), { message: 'seed session ended' });
    expect(service.mediaServer.session(reply)).toBeDefined();
    await viewer.publishAsync('client/stop', JSON.stringify({ reply_topic: reply }));
    await viewer.endAsync();
  });
});
