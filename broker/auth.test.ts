import { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import { MqttClient, type IClientOptions, type IPublishPacket } from 'mqtt';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { subackCodes } from '../test/helpers/mqtt.js';
import {
  AuthConfigSchema,
  createAccessPolicy,
  createAuthHooks,
  filterCovers,
  isValidClientId,
  type AuthHooksOptions,
  type BrokerUser,
  type Identity,
} from './auth.js';
import { hashPassword } from './passwords.js';

const log = pino({ level: 'silent' });
const PW = 'pw-of-';

describe('client ids and filters (pure)', () => {
  it('accepts only client ids usable as one topic level', () => {
    for (const id of ['tab-1', 'mqttjs_0f3a', 'a'.repeat(128), 'ünïcode.ok_1']) expect(isValidClientId(id), id).toBe(true);
    for (const id of ['', 'a/b', 'a+b', 'a#', '$sys', 'nul\u0000', 'tab\n', 'a'.repeat(129)]) expect(isValidClientId(id), id).toBe(false);
  });

  it('says whether one filter covers every topic of another', () => {
    const covered: Array<[string, string]> = [
      ['v/session/a/#', 'v/session/a/#'],
      ['v/session/a/#', 'v/session/a/x'],
      ['v/session/a/#', 'v/session/a/x/status'],
      ['v/session/a/#', 'v/session/a/+/status'],
      ['v/session/a/#', 'v/session/a'],
      ['v/#', 'v/req/+/play'],
      ['v/catalog', 'v/catalog'],
      ['#', '$SYS/#'],
    ];
    const notCovered: Array<[string, string]> = [
      ['v/session/a/#', 'v/session/+/x'],
      ['v/session/a/#', 'v/session/#'],
      ['v/session/a/#', 'v/#'],
      ['v/session/a/#', '#'],
      ['v/session/a/#', '+/session/a/x'],
      ['v/session/a/#', 'v/session/ab/x'],
      ['v/catalog', 'v/catalog/#'],
      ['v/catalog', 'v/+'],
      ['v/#', '#'],
      ['v/#', 'w/x'],
    ];
    for (const [allowed, requested] of covered) expect(filterCovers(allowed, requested), `${allowed} ⊇ ${requested}`).toBe(true);
    for (const [allowed, requested] of notCovered) expect(filterCovers(allowed, requested), `${allowed} ⊉ ${requested}`).toBe(false);
  });

  it('gives each role its rights', () => {
    const policy = createAccessPolicy('video', ['video/live/#']);
    const viewer: Identity = { username: 'alice', role: 'viewer', clientId: 'a1' };
    const server: Identity = { username: 'srv', role: 'server', clientId: 'srv' };
    const admin: Identity = { username: 'ops', role: 'admin', clientId: 'ops' };
    expect(['describe', 'play', 'stop', 'ack'].every((k) => policy.mayPublish(viewer, `video/req/alice/${k}`, false))).toBe(true);
    expect(policy.mayPublish(viewer, 'video/req/alice/play', true)).toBe(false);
    expect(policy.mayPublish(viewer, 'video/req/alice/other', false)).toBe(false);
    expect(policy.mayPublish(viewer, 'video/req/bob/play', false)).toBe(false);
    expect(policy.mayPublish(viewer, 'video/play', false)).toBe(false);
    expect(policy.mayPublish(viewer, 'video/session/alice/live', false)).toBe(false);
    expect(policy.maySubscribe(viewer, 'video/session/alice/#')).toBe(true);
    expect(policy.maySubscribe(viewer, 'video/live/cam1')).toBe(true);
    expect(policy.maySubscribe(viewer, 'video/errors')).toBe(false);
    expect(policy.maySubscribe(viewer, 'video/req/alice/play')).toBe(false);
    expect(policy.mayPublish(server, 'video/session/alice/live', false)).toBe(true);
    expect(policy.mayPublish(server, 'video/catalog', true)).toBe(true);
    expect(policy.mayPublish(server, '$SYS/x', false)).toBe(false);
    expect(policy.mayPublish(server, 'elsewhere/x', false)).toBe(false);
    expect(policy.maySubscribe(server, 'video/req/+/play')).toBe(true);
    expect(policy.maySubscribe(server, '#')).toBe(false);
    expect(policy.maySubscribe(admin, '$SYS/#')).toBe(true);
    expect(policy.mayPublish(admin, 'video/catalog', false)).toBe(false);
  });

  it('lets a publisher write only its own channel, a bridge read channels, and keeps viewers off raw channels', () => {
    const policy = createAccessPolicy('video');
    const cam1: Identity = { username: 'cam1', role: 'publisher', clientId: 'mqttcast-pub-cam1-0a1b2c' };
    const bridge: Identity = { username: 'edge-a', role: 'bridge', clientId: 'edge-a' };
    const viewer: Identity = { username: 'alice', role: 'viewer', clientId: 'a1' };
    const server: Identity = { username: 'srv', role: 'server', clientId: 'srv' };
    for (const kind of ['init', 'meta', 'snapshot']) {
      expect(policy.mayPublish(cam1, `video/live/cam1/${kind}`, true), kind).toBe(true);
      expect(policy.mayPublish(cam1, `video/live/cam1/${kind}`, false), kind).toBe(true);
    }
    expect(policy.mayPublish(cam1, 'video/live/cam1/data', false)).toBe(true);
    expect(policy.mayPublish(cam1, 'video/live/cam1/data', true)).toBe(false); // fragments are never retained
    const forbidden = [
      'video/live/cam2/init', 'video/live/cam2/meta', 'video/live/cam1', 'video/live/cam1/other', 'video/live/cam1/meta/x',
      'video/live/cam10/init', 'video/live/+/init', 'video/req/cam1/play', 'video/play', 'video/catalog', 'video/session/cam1/live', '$SYS/x',
    ];
    for (const topic of forbidden) expect(policy.mayPublish(cam1, topic, false), topic).toBe(false);
    for (const filter of ['video/live/cam1/#', 'video/live/#', 'video/session/cam1/#', 'video/catalog']) expect(policy.maySubscribe(cam1, filter), filter).toBe(false);
    // A publisher whose name is not a channel name has no channel at all.
    expect(policy.mayPublish({ username: 'a+b', role: 'publisher', clientId: 'x' }, 'video/live/a+b/init', true)).toBe(false);

    for (const filter of ['video/live/#', 'video/live/+/meta', 'video/live/cam1/#', 'video/live/cam1/init']) expect(policy.maySubscribe(bridge, filter), filter).toBe(true);
    for (const filter of ['video/#', '#', 'video/req/+/play', 'video/session/#', 'video/catalog', '$SYS/#']) expect(policy.maySubscribe(bridge, filter), filter).toBe(false);
    for (const topic of ['video/live/edge-a/init', 'video/live/cam1/data', '$SYS/broker/connection/edge-a/state']) expect(policy.mayPublish(bridge, topic, false), topic).toBe(false);

    for (const filter of ['video/live/#', 'video/live/cam1/init', 'video/live/+/meta']) expect(policy.maySubscribe(viewer, filter), filter).toBe(false);
    for (const topic of ['video/live/alice/init', 'video/live/cam1/data']) expect(policy.mayPublish(viewer, topic, false), topic).toBe(false);

    expect(policy.mayPublish(server, 'video/live/any/init', true)).toBe(true);
    expect(policy.mayPublish(server, 'video/live/any/data', false)).toBe(true);
    expect(policy.maySubscribe(server, 'video/live/#')).toBe(true);
  });

  it("lets viewers read channels' still pictures, and the server and Home Assistant (admin) use the discovery prefix only when it is on", () => {
    const viewer: Identity = { username: 'alice', role: 'viewer', clientId: 'a1' };
    const server: Identity = { username: 'srv', role: 'server', clientId: 'srv' };
    const admin: Identity = { username: 'ha', role: 'admin', clientId: 'ha' };
    const off = createAccessPolicy('video');
    for (const filter of ['video/live/+/snapshot', 'video/live/cam1/snapshot']) expect(off.maySubscribe(viewer, filter), filter).toBe(true);
    for (const filter of ['video/live/+/+', 'video/live/cam1/#', 'video/live/cam1/meta']) expect(off.maySubscribe(viewer, filter), filter).toBe(false);
    expect(off.mayPublish(viewer, 'video/live/cam1/snapshot', true)).toBe(false);
    expect(off.mayPublish(server, 'homeassistant/camera/mqttcast_cam1/config', true)).toBe(false);
    expect(off.mayPublish(admin, 'homeassistant/status', false)).toBe(false);

    const on = createAccessPolicy('video', [], 'homeassistant');
    expect(on.mayPublish(server, 'homeassistant/camera/mqttcast_cam1/config', true)).toBe(true);
    for (const topic of ['homeassistant/status', 'homeassistant/switch/x/config', 'homeassistant/camera/x/set']) expect(on.mayPublish(server, topic, true), topic).toBe(false);
    expect(on.mayPublish(admin, 'homeassistant/status', false)).toBe(true);
    expect(on.mayPublish(admin, 'video/catalog', false)).toBe(false);
    expect(on.mayPublish(viewer, 'homeassistant/camera/mqttcast_cam1/config', true)).toBe(false);
  });

  it('validates the auth config: defaults, roles, hash format, unique names', async () => {
    expect(AuthConfigSchema.parse({})).toEqual({ enabled: false, users: [] });
    const passwordHash = await hashPassword('x', { N: 1024 });
    expect(AuthConfigSchema.parse({ enabled: true, users: [{ username: 'a', passwordHash }] }).users[0]?.role).toBe('viewer');
    expect(AuthConfigSchema.safeParse({ users: [{ username: 'a', passwordHash: 'secret' }] }).success).toBe(false);
    expect(AuthConfigSchema.safeParse({ users: [{ username: 'a', passwordHash, role: 'root' }] }).success).toBe(false);
    expect(AuthConfigSchema.safeParse({ users: [{ username: 'a', passwordHash }, { username: 'a', passwordHash }] }).success).toBe(false);
    expect(AuthConfigSchema.safeParse({ enabled: true, extra: 1 }).success).toBe(false);
    for (const role of ['server', 'viewer', 'publisher', 'bridge', 'admin']) {
      expect(AuthConfigSchema.safeParse({ users: [{ username: 'cam1', passwordHash, role }] }).success, role).toBe(true);
    }
    // A publisher's name is its channel name: one topic level of letters, digits, _ . -
    const badPublisher = AuthConfigSchema.safeParse({ users: [{ username: 'cam 1', passwordHash, role: 'publisher' }] });
    expect(badPublisher.success).toBe(false);
    expect(badPublisher.error?.issues[0]?.message).toMatch(/publisher's name is its channel name/);
    expect(AuthConfigSchema.safeParse({ users: [{ username: 'cam 1', passwordHash, role: 'viewer' }] }).success).toBe(true);
  });
});

/** One end of an in-memory connection; closing either end closes the other. */
class End extends Duplex {
  peer: End | undefined;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.peer?.push(chunk);
    done();
  }
  override _final(done: (err?: Error | null) => void): void {
    this.peer?.push(null);
    done();
  }
  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (this.peer && !this.peer.destroyed) this.peer.destroy();
    done(err);
  }
}

function duplexPair(): [End, End] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

function whenClosed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

describe('auth hooks on a real Aedes broker (in-memory connections)', () => {
  let users: BrokerUser[];
  let broker: Aedes | undefined;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    const make = async (username: string, role: BrokerUser['role']): Promise<BrokerUser> => ({ username, role, passwordHash: await hashPassword(PW + username, { N: 1024 }) });
    users = await Promise.all([
      make('srv', 'server'), make('alice', 'viewer'), make('bob', 'viewer'), make('ops', 'admin'),
      make('cam1', 'publisher'), make('edge-a', 'bridge'), make('cam/1', 'publisher'), // the last one only as createAuthHooks gets it unchecked
    ]);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    if (broker) await new Promise<void>((resolve) => broker!.close(() => resolve()));
    broker = undefined;
  });

  async function start(extra: Partial<AuthHooksOptions> = {}): Promise<Aedes> {
    broker = await Aedes.createBroker(createAuthHooks({ prefix: 'video', users, log, ...extra }));
    return broker;
  }

  function open(clientId: string, opts: Partial<IClientOptions> = {}): Promise<MqttClient> {
    const aedes = broker!;
    const client = new MqttClient(() => {
      const [mine, theirs] = duplexPair();
      aedes.handle(theirs);
      return mine;
    }, { clientId, protocolVersion: 4, reconnectPeriod: 0, ...opts });
    clients.push(client);
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve(client));
      client.once('error', reject);
    });
  }

  const as = (username: string, clientId: string, opts: Partial<IClientOptions> = {}): Promise<MqttClient> =>
    open(clientId, { username, password: PW + username, ...opts });

  /** An admin that records everything published under video/. */
  async function observer(): Promise<IPublishPacket[]> {
    const seen: IPublishPacket[] = [];
    const ops = await as('ops', 'observer');
    ops.on('message', (_t, _p, packet) => seen.push(packet));
    await ops.subscribeAsync('video/#');
    return seen;
  }

  it('refuses anonymous clients (5), wrong passwords and unknown users (4), bad viewer ids (2)', async () => {
    await start();
    await expect(open('anon')).rejects.toMatchObject({ code: 5 });
    await expect(open('a1', { username: 'alice', password: 'wrong' })).rejects.toMatchObject({ code: 4 });
    await expect(open('a1', { username: 'mallory', password: 'x' })).rejects.toMatchObject({ code: 4 });
    await expect(as('alice', 'bad/id')).rejects.toMatchObject({ code: 2 });
    await expect(as('alice', 'bad+id')).rejects.toMatchObject({ code: 2 });
    expect((await as('alice', 'a1')).connected).toBe(true);
  });

  it('grants a viewer its own session and the catalog, refuses everything else with SUBACK 128', async () => {
    await start();
    const alice = await as('alice', 'a1');
    const filters = ['video/session/alice/#', 'video/catalog', 'video/session/alice/x/status', 'video/session/bob/#', 'video/session/+/live', 'video/#', '#', '+/session/#', 'video/errors', 'video/req/+/play', '$SYS/#'];
    expect(await subackCodes(alice, filters)).toEqual([0, 0, 0, 128, 128, 128, 128, 128, 128, 128, 128]);
    expect(alice.connected).toBe(true);
  });

  it("lets a viewer publish its own requests only; any other publish is dropped and disconnects it", async () => {
    await start();
    const seen = await observer();
    const alice = await as('alice', 'a1');
    await alice.publishAsync('video/req/alice/play', '{}', { qos: 1 });
    const second = await as('alice', 'a2'); // another connection of the same user shares its namespace
    await second.publishAsync('video/req/alice/ack', '{}', { qos: 1 });
    const forbidden = await as('alice', 'a3');
    const closed = whenClosed(forbidden);
    forbidden.publish('video/req/bob/play', "not alice's topic", { qos: 0 });
    await closed;
    const retained = await as('bob', 'b1');
    const closed2 = whenClosed(retained);
    retained.publish('video/req/bob/play', 'retained', { qos: 0, retain: true });
    await closed2;
    await alice.publishAsync('video/req/alice/stop', 'marker', { qos: 1 });
    await expect.poll(() => seen.map((p) => p.topic)).toEqual(['video/req/alice/play', 'video/req/alice/ack', 'video/req/alice/stop']);
  });

  it('publishes a viewer will on its own stop topic, drops a will aimed elsewhere', async () => {
    const aedes = await start();
    const seen = await observer();
    const bad = await as('bob', 'b1', { will: { topic: 'video/req/alice/stop', payload: Buffer.from('bad'), qos: 0, retain: false } });
    const gone = new Promise<void>((resolve) => aedes.on('clientDisconnect', (c: Client) => c.id === 'b1' && resolve()));
    bad.end(true); // no DISCONNECT packet: the will applies
    await gone;
    const good = await as('alice', 'a1', { will: { topic: 'video/req/alice/stop', payload: Buffer.from('good'), qos: 0, retain: false } });
    good.end(true);
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]?.payload.toString()).toBe('good');
  });

  it("publishes a publisher's will (retained offline meta) on its own channel, drops one aimed at another channel", async () => {
    const aedes = await start();
    const will = (name: string): NonNullable<IClientOptions['will']> => ({ topic: `video/live/${name}/meta`, payload: Buffer.from(`offline ${name}`), qos: 1, retain: true });
    const gone = (id: string): Promise<void> => new Promise((resolve) => aedes.on('clientDisconnect', (c: Client) => c.id === id && resolve()));
    // Aedes authorizes a will when it fires (not at CONNECT), before it reports the disconnect:
    // had the forged will passed, the live observer would get it first.
    const live = await observer();
    const forged = await as('cam1', 'pub-a', { will: will('cam2') });
    const forgedGone = gone('pub-a');
    forged.end(true); // no DISCONNECT packet: the will applies
    await forgedGone;
    const own = await as('cam1', 'pub-b', { will: will('cam1') });
    const ownGone = gone('pub-b');
    own.end(true);
    await ownGone;
    await expect.poll(() => live.map((p) => `${p.topic}=${p.payload.toString()}`)).toEqual(['video/live/cam1/meta=offline cam1']);
    // Stored retained: a subscriber arriving afterwards gets it.
    const late = await observer();
    await expect.poll(() => late.map((p) => `${p.topic}=${p.payload.toString()} retain=${p.retain}`)).toEqual(['video/live/cam1/meta=offline cam1 retain=true']);
  });

  it('answers a publisher writing another channel with PUBACK 0x87 (MQTT 5) and keeps the connection', async () => {
    await start();
    const seen = await observer();
    const cam1 = await as('cam1', 'pub-1', { protocolVersion: 5 });
    await expect(cam1.publishAsync('video/live/cam2/init', 'forged', { qos: 1, retain: true })).rejects.toMatchObject({ code: 0x87 });
    await expect(cam1.publishAsync('video/req/cam1/play', '{}', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    expect(await subackCodes(cam1, ['video/live/cam1/#'])).toEqual([0x87]);
    expect(cam1.connected).toBe(true);
    await cam1.publishAsync('video/live/cam1/init', 'mine', { qos: 1, retain: true });
    await expect.poll(() => seen.map((p) => `${p.topic}=${p.payload.toString()}`)).toEqual(['video/live/cam1/init=mine']);
  });

  it('refuses a publisher whose name cannot be a channel name (4); a bridge reads channels only', async () => {
    await start();
    await expect(as('cam/1', 'pub-x')).rejects.toMatchObject({ code: 4 });
    const bridge = await as('edge-a', 'edge-a');
    expect(await subackCodes(bridge, ['video/live/#', 'video/live/+/meta', 'video/#', 'video/session/#', '$SYS/#'])).toEqual([0, 0, 128, 128, 128]);
    const closed = whenClosed(bridge);
    bridge.publish('video/live/edge-a/init', 'x', { qos: 0 }); // 3.1.1: a refused publish costs the connection
    await closed;
  });

  it('lets the server read requests and write sessions and the retained catalog, but not $SYS', async () => {
    await start();
    const srv = await as('srv', 'media-server');
    expect(await subackCodes(srv, ['video/req/+/play', 'video/catalog', '#'])).toEqual([0, 0, 128]);
    const alice = await as('alice', 'a1');
    const got: string[] = [];
    alice.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await alice.subscribeAsync(['video/session/alice/#', 'video/catalog']);
    await srv.publishAsync('video/catalog', 'cat', { qos: 1, retain: true });
    await srv.publishAsync('video/session/alice/live', 'data', { qos: 0 });
    await expect.poll(() => [...got].sort()).toEqual(['video/catalog=cat', 'video/session/alice/live=data']);
    const closed = whenClosed(srv);
    srv.publish('$SYS/fake', 'x');
    await closed;
  });

  it('refuses a second connection with the same client id from another user, and keeps the first', async () => {
    await start();
    const alice = await as('alice', 'tab-1');
    await expect(as('bob', 'tab-1')).rejects.toMatchObject({ code: 2 });
    expect(alice.connected).toBe(true);
    await alice.publishAsync('video/req/alice/ack', '{}', { qos: 1 }); // still usable
    // The same user may take its own id over (a reconnect after a network drop).
    const closed = whenClosed(alice);
    const again = await as('alice', 'tab-1');
    await closed;
    expect(again.connected).toBe(true);
  });

  it('keeps a client id reserved for its user after it disconnects (clientIdHoldMs)', async () => {
    await start();
    const alice = await as('alice', 'tab-1');
    await alice.endAsync();
    await expect(as('bob', 'tab-1')).rejects.toMatchObject({ code: 2 });
    expect((await as('alice', 'tab-1')).connected).toBe(true);
  });

  it('frees the client id at disconnect when clientIdHoldMs is 0', async () => {
    await start({ clientIdHoldMs: 0 });
    const alice = await as('alice', 'tab-1');
    await alice.endAsync();
    await expect.poll(async () => as('bob', 'tab-1').then((c) => c.connected, () => false)).toBe(true);
  });
});
