import { EventEmitter } from 'node:events';
import type { IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { LinkRegistry } from './link-registry.js';
import type { MqttClientLike } from './mqtt-connection.js';

/** Stands in for MQTT.js's client: the test emits its events by hand. */
class FakeClient extends EventEmitter implements MqttClientLike {
  connected = false;
  ended: boolean | undefined;

  constructor(readonly url: string, readonly options: IClientOptions) {
    super();
  }

  async subscribeAsync(topics: Record<string, { qos: 0 | 1 }>) {
    return Object.entries(topics).map(([topic, { qos }]) => ({ topic, qos }));
  }

  async publishAsync() {
    return undefined;
  }

  async endAsync(force?: boolean) {
    this.ended = force ?? false;
  }

  end(force?: boolean) {
    this.ended = force ?? false;
    return this;
  }

  connect(): void {
    this.connected = true;
    this.emit('connect');
  }
}

function registry(): { registry: LinkRegistry; clients: FakeClient[] } {
  const clients: FakeClient[] = [];
  const connect = (url: string, options: IClientOptions): MqttClientLike => {
    const client = new FakeClient(url, options);
    clients.push(client);
    return client;
  };
  return { registry: new LinkRegistry(createLogger('test', false), connect), clients };
}

const KEY = { url: 'ws://127.0.0.1:8080/mqtt', prefix: 'video' };
const catalog = (secure: boolean): Uint8Array =>
  new TextEncoder().encode(JSON.stringify({ protocol: 1, server: 'mqttcast', version: '0.1.0', prefix: 'video', secure, sources: [], allow: [] }));
const willOf = (c: FakeClient): { topic: string; payload: string } => {
  const will = c.options.will!;
  return { topic: will.topic, payload: String(will.payload) };
};

describe('LinkRegistry', () => {
  it('gives players of one broker and credentials one connection, a slot each, and closes it with the last', async () => {
    const { registry: r, clients } = registry();
    const a = r.acquire(KEY);
    const b = r.acquire({ ...KEY });
    expect(clients).toHaveLength(1);
    expect(a.link).toBe(b.link);
    expect([a.slot, b.slot]).toEqual([0, 1]);
    expect(a.link.requests(b.slot).replyTopic).toBe(`video/session/${a.link.clientId}/live-1`);

    const other = r.acquire({ ...KEY, username: 'alice', password: 'secret' });
    expect(clients).toHaveLength(2);
    expect(other.link).not.toBe(a.link);
    expect(r.size).toBe(2);

    await a.release();
    await a.release(); // twice is once
    expect(clients[0]!.ended).toBeUndefined();
    const c = r.acquire(KEY);
    expect(c.slot).toBe(0); // the freed slot is reused
    await b.release();
    await c.release();
    expect(clients[0]!.ended).toBe(false); // a DISCONNECT after what is pending
    expect(r.size).toBe(1);
    await other.release();
    expect(r.size).toBe(0);
  });

  it('asks for the catalog, then lets players in; in open mode the last-will ends all of the tab\'s sessions', async () => {
    const { registry: r, clients } = registry();
    const lease = r.acquire(KEY);
    const link = lease.link;
    expect(willOf(clients[0]!)).toEqual({ topic: 'video/unregister', payload: JSON.stringify({ clientId: link.clientId }) });
    const events: string[] = [];
    link.on('ready', () => events.push('ready'));
    link.on('down', () => events.push('down'));
    clients[0]!.connect();
    clients[0]!.emit('message', 'video/catalog', catalog(false));
    await expect.poll(() => events).toEqual(['ready']);
    expect(link.catalog?.prefix).toBe('video');
    clients[0]!.connected = false;
    clients[0]!.emit('close');
    expect(events).toEqual(['ready', 'down']);
    await lease.release();
  });

  it('reconnects with the secure-mode last-will (the first player\'s stop) when the catalog says secure', async () => {
    const { registry: r, clients } = registry();
    const lease = r.acquire({ ...KEY, username: 'alice', password: 'pw' });
    clients[0]!.connect();
    clients[0]!.emit('message', 'video/catalog', catalog(true));
    expect(clients).toHaveLength(2);
    expect(clients[0]!.ended).toBe(true);
    expect(willOf(clients[1]!)).toEqual({ topic: 'video/req/alice/stop', payload: JSON.stringify({ reply_topic: `video/session/alice/${lease.link.clientId}` }) });
    expect(lease.link.route).toEqual({ prefix: 'video', secure: true });
    await lease.release();
  });
});
