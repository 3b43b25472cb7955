/**
 * mosquitto.conf.example + mosquitto.acl.example on a real Mosquitto 2.0: the same
 * guarantees as the embedded broker's secure mode, shown with MQTT.js and
 * mosquitto_pub / mosquitto_sub. Only the port and the file paths are substituted.
 *
 * Mosquitto grants every SUBSCRIBE and checks "read" per delivered message, so the
 * tests assert on what arrives, not on SUBACK codes. "Nothing arrived" is made
 * deterministic by ordering: one publisher sends the forbidden message first and an
 * allowed one second; once the second has arrived, the first would have too.
 */
import { spawn } from 'node:child_process';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, stopChild } from './helpers/child.js';
import type { MosquittoBroker } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';
import { ACL, PASSWORDS, ROOT, SERVER, startExample } from './mosquitto-example.js';

const clients: MqttClient[] = [];

async function connect(broker: MosquittoBroker, opts: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  clients.push(client);
  return client;
}

function record(client: MqttClient): string[] {
  const got: string[] = [];
  client.on('message', (topic, payload) => got.push(`${topic}=${payload.toString('utf8')}`));
  return got;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync()));
});

describe('mosquitto.conf.example as shipped', () => {
  it('starts (only the port changed) and lets nobody in until users are configured', async () => {
    // Relative paths resolve against mosquitto's working directory, the repository root here.
    const broker = await startExample(process.cwd() === ROOT ? {} : { aclFile: ACL });
    try {
      await expect(connect(broker, { clientId: 'anon' })).rejects.toMatchObject({ code: 5 });
      await expect(connect(broker, { username: 'alice', password: PASSWORDS.alice })).rejects.toMatchObject({ code: 5 });
      expect(broker.stderr()).toContain('mosquitto version 2.');
    } finally {
      await broker.close();
    }
  });
});

describe('mosquitto.conf.example with users', () => {
  let broker: MosquittoBroker;
  const as = (user: string, opts: IClientOptions = {}): Promise<MqttClient> => connect(broker, { username: user, password: PASSWORDS[user], ...opts });

  beforeAll(async () => {
    broker = await startExample({ withUsers: true, aclFile: ACL });
  });

  afterAll(async () => {
    await broker?.close();
  });

  it('refuses anonymous clients and wrong passwords', async () => {
    await expect(connect(broker, { clientId: 'anon' })).rejects.toMatchObject({ code: 5 });
    await expect(connect(broker, { username: 'alice', password: 'guess' })).rejects.toMatchObject({ code: 5 });
    await expect(connect(broker, { username: 'mallory', password: 'guess' })).rejects.toMatchObject({ code: 5 });
  });

  it("never delivers B's session messages to viewer A, whatever A subscribes to", async () => {
    const srv = await as(SERVER);
    const alice = await as('alice');
    const bob = await as('bob');
    const toAlice = record(alice);
    const toBob = record(bob);
    await alice.subscribeAsync(['video/session/bob/#', 'video/session/+/live', 'video/#', '#', 'video/session/alice/#']);
    await bob.subscribeAsync('video/session/bob/#');
    await srv.publishAsync('video/session/bob/live', 'for bob', { qos: 1 });
    await srv.publishAsync('video/session/alice/live', 'for alice', { qos: 1 });
    await expect.poll(() => toAlice).toEqual(['video/session/alice/live=for alice']);
    await expect.poll(() => toBob).toEqual(['video/session/bob/live=for bob']);
  });

  it("drops a viewer's publishes to session/data topics and to B's requests (MQTT 5: reason 0x87)", async () => {
    const srv = await as(SERVER);
    const seen = record(srv);
    await srv.subscribeAsync('video/#');
    const alice = await as('alice', { protocolVersion: 5 });
    const forbidden = ['video/session/bob/live', 'video/session/alice/live', 'video/session/alice/live/status', 'video/req/bob/play', 'video/play', 'video/catalog'];
    for (const topic of forbidden) {
      await expect(alice.publishAsync(topic, 'forged', { qos: 1 }), topic).rejects.toMatchObject({ code: 0x87 });
    }
    await alice.publishAsync('video/req/alice/play', '{"source":"demo"}', { qos: 1 });
    await expect.poll(() => seen).toEqual(['video/req/alice/play={"source":"demo"}']);
  });

  it("keys access on the username: B using A's client id still reads nothing of A's", async () => {
    const srv = await as(SERVER);
    const bob = await as('bob', { clientId: 'alice' });
    const toBob = record(bob);
    await bob.subscribeAsync(['video/session/alice/#', 'video/session/bob/#']);
    await srv.publishAsync('video/session/alice/live', 'not for bob', { qos: 1 });
    // Had bob been allowed alice's session, 'not for bob' would reach him before this marker.
    await srv.publishAsync('video/session/bob/live', 'marker', { qos: 1 });
    await expect.poll(() => toBob).toEqual(['video/session/bob/live=marker']);
  });

  it('lets two connections of one user work together (a subscriber and a publisher)', async () => {
    const srv = await as(SERVER);
    const requests = record(srv);
    await srv.subscribeAsync('video/req/+/play');
    const reader = await as('alice', { clientId: 'alice-sub' });
    const got = record(reader);
    await reader.subscribeAsync('video/session/alice/#');
    const writer = await as('alice', { clientId: 'alice-pub' });
    await writer.publishAsync('video/req/alice/play', '{"source":"demo"}', { qos: 1 });
    await expect.poll(() => requests).toEqual(['video/req/alice/play={"source":"demo"}']);
    await srv.publishAsync('video/session/alice/live', 'data', { qos: 1 });
    await expect.poll(() => got).toEqual(['video/session/alice/live=data']);
    expect(reader.connected && writer.connected).toBe(true);
  });

  it('lets the server read video/req/+/play and reply on a session topic (mosquitto_pub / mosquitto_sub)', async () => {
    const srv = await as(SERVER);
    const requests = record(srv);
    await srv.subscribeAsync(['video/req/+/play', 'video/req/+/stop']);
    await srv.publishAsync('video/catalog', '{"sources":["demo"]}', { qos: 1, retain: true });
    const cli = ['-h', '127.0.0.1', '-p', String(broker.port), '-u', 'alice', '-P', PASSWORDS.alice!];
    await runChecked('mosquitto_pub', [...cli, '-q', '1', '-t', 'video/req/alice/play', '-m', '{"source":"demo","reply_topic":"video/session/alice/live"}']);
    await expect.poll(() => requests).toEqual(['video/req/alice/play={"source":"demo","reply_topic":"video/session/alice/live"}']);
    // alice listens to her session and (uselessly) to bob's; the first message she gets must be hers.
    const sub = spawn('mosquitto_sub', [...cli, '-v', '-C', '2', '-W', '30', '-t', 'video/catalog', '-t', 'video/session/alice/#', '-t', 'video/session/bob/#'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sub.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const exited = new Promise<number | null>((done) => sub.once('close', (code) => done(code)));
    let finished = false;
    void exited.then(() => (finished = true));
    try {
      // mosquitto_sub's SUBACK is invisible on a pipe: publish until it has what it waits for.
      await waitFor(async () => {
        if (finished) return true;
        await srv.publishAsync('video/session/bob/live', 'for bob', { qos: 1 });
        await srv.publishAsync('video/session/alice/live', 'for alice', { qos: 1 });
        return finished;
      }, { intervalMs: 100, message: 'mosquitto_sub received its messages' });
      expect(await exited).toBe(0);
      expect(out.trim().split('\n')).toEqual(['video/catalog {"sources":["demo"]}', 'video/session/alice/live for alice']);
    } finally {
      await stopChild(sub);
      await srv.publishAsync('video/catalog', '', { qos: 1, retain: true });
    }
  });
});
