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
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });
});
