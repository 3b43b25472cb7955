/**
 * Secure mode of the embedded broker, end to end: the real EmbeddedBroker on a
 * random 127.0.0.1 port with the auth hooks, and real MQTT.js clients over TCP
 * (and WebSocket). Viewers are alice (client id a1) and bob (b1); `srv` is the
 * media server's user and doubles as the observer of what gets published.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, type RunResult } from './helpers/child.js';
import { subackCodes } from './helpers/mqtt.js';
import { createAuthHooks, type BrokerUser } from '../broker/auth.js';
import { EmbeddedBroker } from '../broker/embedded-broker.js';
import { hashPassword } from '../broker/passwords.js';
import { createTopics } from '../protocol/index.js';

const log = pino({ level: process.env.MQTTCAST_TEST_LOG ? 'debug' : 'silent' });
const topics = createTopics('video');
const password = (username: string): string => `secret-of-${username}`;

/** Records `topic=payload` of every message a client receives. */
function record(client: MqttClient): string[] {
  const got: string[] = [];
  client.on('message', (topic, payload) => got.push(`${topic}=${payload.toString('utf8')}`));
  return got;
}

describe('embedded broker in secure mode', () => {
  let users: BrokerUser[];
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    const make = async (username: string, role: BrokerUser['role']): Promise<BrokerUser> => ({
      username,
      role,
      passwordHash: await hashPassword(password(username), { N: 1024 }),
    });
    users = await Promise.all([make('srv', 'server'), make('alice', 'viewer'), make('bob', 'viewer')]);
  });

  beforeEach(async () => {
    broker = await EmbeddedBroker.start({
      host: '127.0.0.1',
      port: 0,
      maxPacketBytes: 1024 * 1024,
      logger: log,
      hooks: createAuthHooks({ prefix: 'video', users, log }),
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker.close();
  });

  async function connect(opts: IClientOptions, url = broker.url): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
    clients.push(client);
    return client;
  }

  const as = (username: string, clientId: string): Promise<MqttClient> => connect({ username, password: password(username), clientId });

  /** The server user subscribed to everything under the prefix, recording what arrives. */
  async function serverObserver(): Promise<{ srv: MqttClient; seen: string[] }> {
    const srv = await as('srv', 'media-server');
    const seen = record(srv);
    expect(await subackCodes(srv, ['video/#'])).toEqual([0]);
    return { srv, seen };
  }

  it('refuses anonymous clients and wrong passwords at CONNECT', async () => {
    await expect(connect({ clientId: 'anon' })).rejects.toMatchObject({ code: 5 });
    await expect(connect({ clientId: 'a1', username: 'alice', password: 'guess' })).rejects.toMatchObject({ code: 4 });
    await expect(connect({ clientId: 'a1', username: 'nobody', password: 'guess' })).rejects.toMatchObject({ code: 4 });
  });

  it("refuses viewer A's subscriptions to B's session, and A never receives B's data", async () => {
    const { srv } = await serverObserver();
    const alice = await as('alice', 'a1');
    const bob = await as('bob', 'b1');
    const toAlice = record(alice);
    const toBob = record(bob);
    const filters = ['video/session/bob/#', 'video/session/bob/live', 'video/session/+/live', 'video/session/#', 'video/#', '#', '+/session/bob/#', 'video/errors'];
    expect(await subackCodes(alice, filters)).toEqual(filters.map(() => 128));
    expect(await subackCodes(alice, [`${topics.sessionRoot('alice')}#`])).toEqual([0]);
    expect(await subackCodes(bob, [`${topics.sessionRoot('bob')}#`])).toEqual([0]);
    // Same publisher, same order: had alice been subscribed to bob's topic, his message would arrive first.
    await srv.publishAsync('video/session/bob/live', 'for bob', { qos: 1 });
    await srv.publishAsync('video/session/alice/live', 'for alice', { qos: 1 });
    await expect.poll(() => toAlice).toEqual(['video/session/alice/live=for alice']);
    await expect.poll(() => toBob).toEqual(['video/session/bob/live=for bob']);
  });

  it('drops a viewer publish to any data, session or other client request topic (and disconnects it)', async () => {
    const { seen } = await serverObserver();
    const forbidden = ['video/session/bob/live', 'video/session/alice/live', 'video/session/bob/live/status', 'video/req/bob/play', 'video/play', 'video/catalog', '$SYS/x'];
    for (const topic of forbidden) {
      const alice = await as('alice', 'a1');
      const closed = new Promise<void>((resolve) => alice.once('close', () => resolve()));
      alice.publish(topic, `forged ${topic}`, { qos: 0 });
      await closed;
    }
    const alice = await as('alice', 'a1');
    await alice.publishAsync(topics.clientRequest('alice', 'play'), '{"source":"demo"}', { qos: 1 });
    await expect.poll(() => seen).toEqual(['video/req/alice/play={"source":"demo"}']);
  });

  it('refuses a clientId takeover by another user; the first connection keeps working', async () => {
    const { srv } = await serverObserver();
    const alice = await as('alice', 'a1');
    const toAlice = record(alice);
    await alice.subscribeAsync(`${topics.sessionRoot('alice')}#`);
    await expect(as('bob', 'a1')).rejects.toMatchObject({ code: 2 });
    expect(alice.connected).toBe(true);
    await srv.publishAsync('video/session/alice/live', 'still yours', { qos: 1 });
    await expect.poll(() => toAlice).toEqual(['video/session/alice/live=still yours']);
  });

  it('lets the server do its job: read requests, publish the retained catalog, data and status', async () => {
    const srv = await as('srv', 'media-server');
    const requests = record(srv);
    expect(await subackCodes(srv, ['describe', 'play', 'stop', 'ack'].map((k) => `video/req/+/${k}`))).toEqual([0, 0, 0, 0]);
    await srv.publishAsync(topics.catalog, '{"sources":["demo"]}', { qos: 1, retain: true });
    const alice = await as('alice', 'a1');
    const toAlice = record(alice);
    const reply = `${topics.sessionRoot('alice')}live`;
    await alice.subscribeAsync([topics.catalog, `${topics.sessionRoot('alice')}#`]);
    await alice.publishAsync(topics.clientRequest('alice', 'play'), JSON.stringify({ source: 'demo', reply_topic: reply }), { qos: 1 });
    await expect.poll(() => requests).toHaveLength(1);
    expect(requests[0]).toMatch(/^video\/req\/alice\/play=/);
    await srv.publishAsync(topics.status(reply), '{"state":"playing"}', { qos: 1 });
    await srv.publishAsync(reply, Buffer.from([0, 0, 0, 8, 0x66, 0x74, 0x79, 0x70]), { qos: 0 });
    await expect.poll(() => toAlice).toHaveLength(3);
    expect(toAlice[0]).toBe('video/catalog={"sources":["demo"]}');
    expect(toAlice.slice(1).sort()).toEqual([`${reply}/status={"state":"playing"}`, `${reply}=\u0000\u0000\u0000\bftyp`].sort());
  });

  it('gives MQTT 5 clients reason codes: CONNACK 0x87/0x86/0x85, SUBACK 0x87, PUBACK 0x87 without a disconnect', async () => {
    const v5 = (username: string, clientId: string): Promise<MqttClient> => connect({ protocolVersion: 5, username, password: password(username), clientId });
    await expect(connect({ protocolVersion: 5, clientId: 'anon' })).rejects.toMatchObject({ code: 0x87 });
    await expect(connect({ protocolVersion: 5, clientId: 'a1', username: 'alice', password: 'guess' })).rejects.toMatchObject({ code: 0x86 });
    await expect(v5('alice', 'bad/id')).rejects.toMatchObject({ code: 0x85 });
    const { seen } = await serverObserver();
    const alice = await v5('alice', 'a1');
    await expect(v5('bob', 'a1')).rejects.toMatchObject({ code: 0x85 }); // another user's client id
    expect(await subackCodes(alice, ['video/session/bob/#', '#', 'video/session/alice/#'])).toEqual([0x87, 0x87, 0]);
    let dropped = false;
    alice.on('close', () => {
      dropped = true;
    });
    for (const topic of ['video/session/bob/live', 'video/req/bob/play', 'video/catalog']) {
      await expect(alice.publishAsync(topic, 'forged', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    }
    await expect(alice.publishAsync('video/req/alice/play', 'kept', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await alice.publishAsync('video/session/bob/live', 'forged at QoS 0', { qos: 0 }); // dropped silently
    // A custom authorizePublish must keep refusing $SYS/, for the server role too.
    const srv5 = await v5('srv', 'srv-v5');
    await expect(srv5.publishAsync('$SYS/fake', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await alice.publishAsync(topics.clientRequest('alice', 'play'), '{"source":"demo"}', { qos: 1 });
    await expect.poll(() => seen).toEqual(['video/req/alice/play={"source":"demo"}']);
    expect(dropped).toBe(false);
    expect(alice.connected && srv5.connected).toBe(true);
  });

  it('lets mosquitto_pub -V 5 in with the right password only', async () => {
    const { seen } = await serverObserver();
    const pub = (user: string, pw: string): Promise<RunResult> =>
      runCommand('mosquitto_pub', ['-V', '5', '-h', '127.0.0.1', '-p', String(broker.port), '-i', 'a1', '-u', user, '-P', pw, '-q', '1', '-t', topics.clientRequest('alice', 'play'), '-m', 'from cli'], { timeoutMs: 30_000 });
    const refused = await pub('alice', 'guess');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/bad user name or password/i);
    const ok = await pub('alice', password('alice'));
    expect(ok.code, ok.stderr).toBe(0);
    await expect.poll(() => seen).toEqual(['video/req/alice/play=from cli']);
  });

  it("does not count a refused filter as a subscriber of that topic", async () => {
    const alice = await as('alice', 'a1');
    expect(await subackCodes(alice, ['video/session/bob/#'])).toEqual([128]);
    const v5 = await connect({ protocolVersion: 5, username: 'bob', password: password('bob'), clientId: 'b1' });
    expect(await subackCodes(v5, ['video/session/alice/#', '$share/g/video/session/bob/#'])).toEqual([0x87, 0x9e]);
    expect(broker.hasSubscriber('video/session/bob/live')).toBe(false);
    expect(broker.hasSubscriber('video/session/alice/live')).toBe(false);
    await alice.subscribeAsync(`${topics.sessionRoot('alice')}#`);
    await expect.poll(() => broker.hasSubscriber('video/session/alice/live')).toBe(true);
  });

  it('applies the same rules to MQTT over WebSocket', async () => {
    const http: Server = createServer((_req, res) => res.writeHead(404).end());
    http.on('upgrade', (req, socket, head) => broker.handleUpgrade(req, socket, head));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    try {
      const wsUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/mqtt`;
      await expect(connect({ clientId: 'anon' }, wsUrl)).rejects.toMatchObject({ code: 5 });
      const alice = await connect({ clientId: 'a1', username: 'alice', password: password('alice') }, wsUrl);
      expect(await subackCodes(alice, ['video/session/bob/#', 'video/session/alice/#'])).toEqual([128, 0]);
      const bob = await connect({ protocolVersion: 5, clientId: 'b1', username: 'bob', password: password('bob') }, wsUrl);
      expect(await subackCodes(bob, ['video/session/alice/#', 'video/session/bob/#'])).toEqual([0x87, 0]);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });
});
