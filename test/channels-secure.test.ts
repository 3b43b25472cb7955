/**
 * Live channels in secure mode (DESIGN.md §8), on both brokers: the embedded broker with
 * its auth hooks (users parsed by the config schema) and Mosquitto with
 * mosquitto.conf.example + mosquitto.acl.example as shipped. A channel's name is its
 * publisher's user name: `cam1` publishes channel `cam1` and nothing else; the server
 * user reads and writes every channel; a bridge user reads them; viewers neither read
 * raw channels nor publish any.
 *
 * "Nothing arrived" is made deterministic by ordering: the observer is subscribed first,
 * the forbidden publish (or will) is attempted and the broker has processed it, then an
 * allowed marker follows; once the marker has arrived, a forbidden message would have too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from 'aedes';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfigSchema, createAuthHooks } from '../broker/auth.js';
import { EmbeddedBroker } from '../broker/embedded-broker.js';
import { hashPassword } from '../broker/passwords.js';
import { ChannelMetaSchema, channelTopics, parseInit, type ChannelMeta } from '../protocol/index.js';
import { runCommand, stopChild } from './helpers/child.js';
import { startMosquitto, type MosquittoBroker } from './helpers/mosquitto.js';
import { subackCodes } from './helpers/mqtt.js';
import { mediaProcesses, parseStat } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { ACL, BRIDGE, PASSWORDS, PUBLISHER, SERVER, startExample } from './mosquitto-example.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
const SMALL = ['--video-size', '320x240', '--framerate', '15'];
const VIEWER = 'alice';
const NOT_AUTHORIZED = 0x87;
const log = pino({ level: process.env.MQTTCAST_TEST_LOG ? 'debug' : 'silent' });

/** One broker in secure mode, with the same four users on both kinds. */
interface SecureBroker {
  readonly url: string;
  /** The embedded broker answers a refused filter with SUBACK 0x87; Mosquitto grants it and filters deliveries. */
  readonly refusesFilters: boolean;
  /** Resolves once the broker has handled the end of a connection whose client id matches (its will included). */
  disconnected(clientId: RegExp): Promise<void>;
  close(): Promise<void>;
}

async function embeddedBroker(): Promise<SecureBroker> {
  const hashed = async (username: string, role: string): Promise<Record<string, string>> => ({ username, role, passwordHash: await hashPassword(PASSWORDS[username]!, { N: 1024 }) });
  // Through the config schema, as `auth.users` in the media server's config.
  const { users } = AuthConfigSchema.parse({
    enabled: true,
    users: await Promise.all([hashed(SERVER, 'server'), hashed(PUBLISHER, 'publisher'), hashed(BRIDGE, 'bridge'), hashed(VIEWER, 'viewer')]),
  });
  const broker = await EmbeddedBroker.start({
    host: '127.0.0.1', port: 0, maxPacketBytes: 16 * 1024 * 1024, logger: log,
    hooks: createAuthHooks({ prefix: 'video', users, log }),
  });
  return {
    url: broker.url,
    refusesFilters: true,
    // Aedes publishes (or refuses) a will before it reports the disconnect.
    disconnected: (clientId) => new Promise((resolve) => broker.aedes.on('clientDisconnect', (c: Client) => clientId.test(c.id) && resolve())),
    close: () => broker.close(),
  };
}

async function mosquittoBroker(): Promise<SecureBroker> {
  const broker: MosquittoBroker = await startExample({ withUsers: true, aclFile: ACL });
  const ended = (clientId: RegExp): boolean =>
    broker.stderr().split('\n').some((line) => new RegExp(`Client (${clientId.source}) (closed its connection|disconnected)`).test(line));
  return {
    url: broker.url,
    refusesFilters: false,
    // connection_messages is on in the example; Mosquitto sends the will in the same step as it logs this.
    disconnected: (clientId) => waitFor(() => ended(clientId), { timeoutMs: 90_000, message: `mosquitto: ${clientId.source} disconnected` }).then(() => undefined),
    close: () => broker.close(),
  };
}

const cleanups: Array<() => Promise<void>> = [];

async function connect(url: string, username: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { username, password: PASSWORDS[username], protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  cleanups.push(() => client.endAsync(true));
  return client;
}

/** Records every message a client receives (topic, payload, retain flag). */
function record(client: MqttClient): Array<{ topic: string; payload: Buffer; retain: boolean }> {
  const got: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload, retain: packet.retain }));
  return got;
}

function metas(got: ReturnType<typeof record>, topic: string): ChannelMeta[] {
  return got.filter((m) => m.topic === topic && m.payload.length > 0).map((m) => ChannelMetaSchema.parse(JSON.parse(m.payload.toString('utf8'))));
}

function publish(args: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, 'publish', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  cleanups.push(() => stopChild(child, { signal: 'SIGKILL' }));
  return { child, stderr: () => err };
}

function isDead(pid: number): boolean {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.state === 'Z';
  } catch {
    return true;
  }
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  expect(mediaProcesses()).toEqual([]);
});

describe.each([
  ['the embedded broker in secure mode', embeddedBroker],
  ['Mosquitto with mosquitto.conf.example + mosquitto.acl.example', mosquittoBroker],
])('live channels on %s', (_name, start) => {
  let broker: SecureBroker;
  const cam1 = channelTopics('video', PUBLISHER);
  const cam2 = channelTopics('video', 'cam2');

  beforeAll(async () => {
    broker = await start();
  });

  afterAll(async () => {
    await broker?.close();
  });

  it('publisher cam1 publishes channel cam1: the server and a bridge get the retained init; kill -9 -> its will (meta offline) on its own channel', async () => {
    const srv = await connect(broker.url, SERVER);
    const live = record(srv);
    await srv.subscribeAsync('video/live/#', { qos: 1 });
    const pub = publish(['demo', '--name', PUBLISHER, '-u', PUBLISHER, '-P', PASSWORDS[PUBLISHER]!, '--broker', broker.url, '--publisher', 'porch', ...SMALL]);
    await waitFor(() => metas(live, cam1.meta).some((m) => m.state === 'live'), { timeoutMs: 40_000, message: `live meta (publisher said: ${pub.stderr()})` });
    await waitFor(() => live.some((m) => m.topic === cam1.data), { message: 'fragments' });

    for (const user of [SERVER, BRIDGE]) {
      const late = await connect(broker.url, user);
      const got = record(late);
      await late.subscribeAsync(cam1.init, { qos: 1 });
      const init = await waitFor(() => got.find((m) => m.topic === cam1.init), { message: `retained init for ${user}` });
      expect(init.retain).toBe(true);
      expect(parseInit(init.payload).mimeCodec).toMatch(/^video\/mp4; codecs="avc1\./);
    }

    const ffmpeg = mediaProcesses(pub.child.pid).map((p) => p.pid);
    expect(ffmpeg).toHaveLength(1);
    pub.child.kill('SIGKILL');
    const will = await waitFor(() => metas(live, cam1.meta).find((m) => m.state === 'offline'), { message: 'the last will' });
    expect(will).toMatchObject({ state: 'offline', reason: 'connection_lost', publisher: 'porch' });
    await waitFor(() => ffmpeg.every(isDead), { message: 'ffmpeg killed with its publisher' });
  });

  it('publisher cam1 may not publish channel cam2: mqttcast publish --name cam2 says why and exits 2, and nothing reaches cam2', async () => {
    const srv = await connect(broker.url, SERVER);
    const live = record(srv);
    await srv.subscribeAsync('video/live/#', { qos: 1 });
    const cliGone = broker.disconnected(/mqttcast-pub-cam2-[0-9a-f]+/);
    const r = await runCommand(process.execPath, [BIN, 'publish', 'demo', '--name', 'cam2', '-u', PUBLISHER, '-P', PASSWORDS[PUBLISHER]!, '--broker', broker.url, ...SMALL], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mqttcast: the broker refused to let user cam1 publish channel cam2 \(video\/live\/cam2\/(init|meta): .*0x87\): in secure mode a publisher may publish only the channel named after its user; use --name cam1/);
    await cliGone; // its last will on cam2's meta has been refused (or published) by now

    // The same with MQTT.js: a refused init (PUBACK 0x87, the connection stays up) and a will aimed at cam2.
    const forger = await connect(broker.url, PUBLISHER, { clientId: 'forger' });
    await expect(forger.publishAsync(cam2.init, 'forged', { qos: 1, retain: true })).rejects.toMatchObject({ code: NOT_AUTHORIZED });
    const willer = await connect(broker.url, PUBLISHER, { clientId: 'willer', will: { topic: cam2.meta, payload: Buffer.from('forged will'), qos: 1, retain: true } });
    const willerGone = broker.disconnected(/willer/);
    willer.stream.destroy(); // no DISCONNECT: the will applies
    await willerGone;
    if (broker.refusesFilters) expect(await subackCodes(forger, [cam1.all])).toEqual([NOT_AUTHORIZED]); // a publisher reads nothing
    await forger.publishAsync(cam1.snapshot, 'marker', { qos: 1 });
    await waitFor(() => live.some((m) => m.topic === cam1.snapshot), { message: 'marker' });
    expect(live.filter((m) => m.topic.startsWith('video/live/cam2/')).map((m) => m.topic)).toEqual([]);
  });

  it('viewers neither read raw channels nor publish any; the server publishes and reads any channel; a bridge only reads', async () => {
    const lobby = channelTopics('video', 'lobby');
    const srv = await connect(broker.url, SERVER);
    const live = record(srv);
    await srv.subscribeAsync('video/live/#', { qos: 1 });
    await srv.publishAsync(lobby.init, 'server-side init', { qos: 1, retain: true }); // a media server's publish source

    const alice = await connect(broker.url, VIEWER);
    const toAlice = record(alice);
    const raw = ['video/live/#', 'video/live/+/meta', lobby.init, lobby.all];
    expect(await subackCodes(alice, raw)).toEqual(raw.map(() => (broker.refusesFilters ? NOT_AUTHORIZED : 0)));
    await alice.subscribeAsync('video/session/alice/#');
    for (const topic of ['video/live/alice/init', lobby.init, lobby.meta]) {
      await expect(alice.publishAsync(topic, 'forged', { qos: 1, retain: true }), topic).rejects.toMatchObject({ code: NOT_AUTHORIZED });
    }
    await expect(alice.publishAsync(lobby.data, 'forged', { qos: 1 })).rejects.toMatchObject({ code: NOT_AUTHORIZED });

    const bridge = await connect(broker.url, BRIDGE);
    const toBridge = record(bridge);
    await bridge.subscribeAsync('video/live/#', { qos: 1 });
    await waitFor(() => toBridge.find((m) => m.topic === lobby.init && m.retain), { message: 'retained init at the bridge' });
    await expect(bridge.publishAsync(lobby.init, 'forged', { qos: 1, retain: true })).rejects.toMatchObject({ code: NOT_AUTHORIZED });

    // Markers after everything forbidden: the retained init would have reached alice at SUBSCRIBE.
    await srv.publishAsync('video/session/alice/marker', 'marker', { qos: 1 });
    await srv.publishAsync(lobby.meta, 'marker', { qos: 1 });
    await waitFor(() => toAlice.some((m) => m.topic === 'video/session/alice/marker'), { message: 'marker at alice' });
    await waitFor(() => live.some((m) => m.topic === lobby.meta), { message: 'marker at the server' });
    expect(toAlice.map((m) => m.topic)).toEqual(['video/session/alice/marker']);
    // (The server also gets the retained messages cam1 left in the first test.)
    const atServer = live.filter((m) => m.topic.startsWith('video/live/lobby/')).map((m) => `${m.topic}=${m.payload.toString()}`);
    expect(atServer).toEqual([`${lobby.init}=server-side init`, `${lobby.meta}=marker`]);
    await srv.publishAsync(lobby.init, Buffer.alloc(0), { qos: 1, retain: true }); // clear the retained init
  });
});

describe('a Mosquitto bridge pulling channels from the embedded broker as its bridge user', () => {
  it('carries the retained init and live fragments, and stays connected although its $SYS notification is refused', async () => {
    const parent = await embeddedBroker();
    cleanups.push(() => parent.close());
    const lobby = channelTopics('video', 'lobby');
    const srv = await connect(parent.url, SERVER);
    await srv.publishAsync(lobby.init, 'retained init', { qos: 1, retain: true });
    // As deploy/bridges/edge.conf: MQTT 5, notifications also to the parent (refused there with PUBACK 0x87).
    const child = await startMosquitto({
      extraConfig: [
        `connection ${BRIDGE}`, `address 127.0.0.1:${new URL(parent.url).port}`, `remote_clientid ${BRIDGE}`,
        `remote_username ${BRIDGE}`, `remote_password ${PASSWORDS[BRIDGE]}`, 'topic video/live/# in 1',
        'bridge_protocol_version mqttv50', 'try_private true', 'cleansession true', 'restart_timeout 1 1',
        'notifications true', 'notifications_local_only false',
      ].join('\n'),
    });
    cleanups.push(() => child.close());
    const local = await mqtt.connectAsync(child.url, { protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => local.endAsync(true));
    const got = record(local);
    await local.subscribeAsync('video/live/#', { qos: 1 });
    await waitFor(() => got.some((m) => m.topic === lobby.init), { message: `retained init through the bridge (${child.stderr().slice(-2000)})` });
    await srv.publishAsync(lobby.data, 'fragment', { qos: 0 });
    await waitFor(() => got.some((m) => m.topic === lobby.data), { message: 'a live fragment through the bridge' });
    expect(child.stderr().match(/Connecting bridge \(step 1\)/g)).toHaveLength(1); // never reconnected
  });
});
