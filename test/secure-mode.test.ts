/**
 * Secure mode end to end: the media server takes requests only on
 * P/req/<clientId>/…, serves reply topics only under P/session/<clientId>/,
 * and works behind both the embedded broker with auth and Mosquitto with the
 * example config.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../broker/passwords.js';
import type { Service } from '../media-server/service.js';
import { topLevelTypes } from '../protocol/index.js';
import type { MosquittoBroker } from './helpers/mosquitto.js';
import { mediaProcesses } from './helpers/processes.js';
import { sleep, waitFor } from './helpers/wait.js';
import { startTestService } from './harness.js';
import { PASSWORDS, SERVER, startExample } from './mosquitto-example.js';

interface Peer {
  client: MqttClient;
  got: Array<{ topic: string; payload: Buffer }>;
}

const peers: Peer[] = [];

async function peer(url: string, username: string, password: string): Promise<Peer> {
  const client = await mqtt.connectAsync(url, { clientId: username, username, password, protocolVersion: 4, reconnectPeriod: 0 });
  const p: Peer = { client, got: [] };
  client.on('message', (topic, payload) => p.got.push({ topic, payload }));
  peers.push(p);
  return p;
}

const json = (p: Peer, topic: string): Array<Record<string, unknown>> =>
  p.got.filter((m) => m.topic === topic && m.payload[0] === 0x7b).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);
const media = (p: Peer, topic: string): Buffer[] => p.got.filter((m) => m.topic === topic && m.payload[0] !== 0x7b).map((m) => m.payload);

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.client.endAsync(true)));
});

/** The same guarantees, whichever broker enforces them. */
interface Env {
  url: string;
  /** Mosquitto keeps a viewer's retained request (its ACL cannot refuse the flag); Aedes refuses it. */
  storesRetained: boolean;
  /** Another media server on the same broker, with server credentials. */
  secondServer(): Promise<Service>;
  close(): Promise<void>;
}

function secureModeSuite(name: string, setup: () => Promise<Env>): void {
  describe(name, () => {
    let env: Env;
    beforeAll(async () => {
      env = await setup();
    }, 60_000);
    afterAll(async () => {
      await env?.close();
      expect(mediaProcesses()).toEqual([]);
    });

    it('plays for a viewer on its own request topics, into its own session namespace', async () => {
      const alice = await peer(env.url, 'alice', PASSWORDS.alice!);
      await alice.client.subscribeAsync(['video/session/alice/#', 'video/catalog']);
      await waitFor(() => json(alice, 'video/catalog')[0], { message: 'retained catalog readable' });
      expect(json(alice, 'video/catalog')[0]).toMatchObject({ secure: true });
      await alice.client.publishAsync('video/req/alice/play', JSON.stringify({ source: 'demo', reply_topic: 'video/session/alice/1' }), { qos: 1 });
      await waitFor(() => media(alice, 'video/session/alice/1').length >= 3, { message: 'alice gets media' });
      expect(topLevelTypes(media(alice, 'video/session/alice/1')[0]!)).toEqual(['ftyp', 'moov']);
      await alice.client.publishAsync('video/req/alice/stop', JSON.stringify({ reply_topic: 'video/session/alice/1' }), { qos: 1 });
      await waitFor(() => json(alice, 'video/session/alice/1/status').some((s) => s.state === 'ended'), { message: 'stopped' });
    });

    it("refuses to make the server publish into another client's namespace, or stop another client's session", async () => {
      const alice = await peer(env.url, 'alice', PASSWORDS.alice!);
      const bob = await peer(env.url, 'bob', PASSWORDS.bob!);
      await alice.client.subscribeAsync('video/session/alice/#');
      await bob.client.subscribeAsync('video/session/bob/#');
      await bob.client.publishAsync('video/req/bob/play', JSON.stringify({ source: 'demo', reply_topic: 'video/session/bob/tv' }), { qos: 1 });
      await waitFor(() => media(bob, 'video/session/bob/tv').length >= 2, { message: 'bob plays' });

      await alice.client.publishAsync('video/req/alice/play', JSON.stringify({ source: 'demo', reply_topic: 'video/session/bob/x', request_id: 'a1' }), { qos: 1 });
      await alice.client.publishAsync('video/req/alice/stop', JSON.stringify({ reply_topic: 'video/session/bob/tv', request_id: 'a2' }), { qos: 1 });
      const errors = await waitFor(() => (json(alice, 'video/session/alice/errors').length >= 2 ? json(alice, 'video/session/alice/errors') : undefined), {
        message: "alice's refusals on her own errors topic",
      });
      // The stop is answered at once, the play after async checks: compare regardless of order.
      expect(errors.map((e) => [e.request_id, e.code]).sort()).toEqual([['a1', 'REPLY_TOPIC_INVALID'], ['a2', 'REPLY_TOPIC_INVALID']]);
      const before = media(bob, 'video/session/bob/tv').length;
      await waitFor(() => media(bob, 'video/session/bob/tv').length > before + 2, { message: "bob's stream goes on" });
      expect(bob.got.some((m) => m.topic === 'video/session/bob/x')).toBe(false);
      expect(json(bob, 'video/session/bob/tv/status').some((s) => s.state === 'ended')).toBe(false);
    });

    it('ignores open-mode request topics, and never replays a retained request', async () => {
      const alice = await peer(env.url, 'alice', PASSWORDS.alice!);
      await alice.client.subscribeAsync('video/session/alice/#');
      // Refused by the broker's ACL; the server does not listen there in secure mode either.
      alice.client.publish('video/play', JSON.stringify({ source: 'demo', reply_topic: 'video/session/alice/open' }));
      alice.client.publish('video/req/alice/play', JSON.stringify({ source: 'demo', reply_topic: 'video/session/alice/r' }), { retain: true });
      const again = await peer(env.url, 'alice', PASSWORDS.alice!);
      await again.client.subscribeAsync('video/session/alice/#');
      await again.client.publishAsync('video/req/alice/describe', JSON.stringify({ source: 'demo', reply_topic: 'video/session/alice/d' }), { qos: 1 });
      await waitFor(() => json(again, 'video/session/alice/d')[0], { message: 'describe after the refused ones' });
      expect(again.got.some((m) => m.topic.startsWith('video/session/alice/open'))).toBe(false);
      // A media server that (re)subscribes gets any retained request flagged as such and ignores it.
      const second = await env.secondServer();
      try {
        await sleep(1000);
        expect(second.mediaServer.sessionCount).toBe(0);
        expect(second.mediaServer.metrics.requests.get({ kind: 'play' })).toBe(0);
        if (env.storesRetained) {
          await waitFor(() => second.mediaServer.metrics.rejected.get({ code: 'INVALID_REQUEST' }) >= 1, { message: 'retained request seen and ignored' });
        }
      } finally {
        await second.close();
        again.client.publish('video/req/alice/play', '', { retain: true }); // clear it (Mosquitto stores it; Aedes refused it)
      }
    });
  });
}

secureModeSuite('embedded broker with auth', async () => {
  const users = await Promise.all(
    ['alice', 'bob', SERVER].map(async (username) => ({
      username,
      role: username === SERVER ? ('server' as const) : ('viewer' as const),
      passwordHash: await hashPassword(PASSWORDS[username]!),
    })),
  );
  const service: Service = await startTestService({ auth: { enabled: true, users } });
  // Anonymous connections are refused.
  await expect(mqtt.connectAsync(service.urls.mqtt, { reconnectPeriod: 0, protocolVersion: 4 })).rejects.toBeTruthy();
  return {
    url: service.urls.mqtt,
    storesRetained: false,
    secondServer: () => startTestService({ brokerUrl: service.urls.mqtt, brokerUsername: SERVER, brokerPassword: PASSWORDS[SERVER], secure: true }),
    close: () => service.close(),
  };
});

secureModeSuite('Mosquitto with mosquitto.conf.example', async () => {
  const broker: MosquittoBroker = await startExample({ withUsers: true });
  const options = { brokerUrl: broker.url, brokerUsername: SERVER, brokerPassword: PASSWORDS[SERVER], secure: true };
  const service: Service = await startTestService(options);
  return {
    url: broker.url,
    storesRetained: true,
    secondServer: () => startTestService(options),
    close: async () => {
      await service.close();
      await broker.close();
    },
  };
});
