import { EventEmitter } from 'node:events';
import type { IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import {
  MqttConnection,
  isBrokerUrl,
  retryDelayMs,
  sameOriginBrokerUrl,
  type ConnectionState,
  type MqttClientLike,
} from './mqtt-connection.js';

/** Stands in for MQTT.js's client: tests emit its events by hand. */
class FakeClient extends EventEmitter implements MqttClientLike {
  connected = false;
  published: Array<{ topic: string; payload: string; qos: number }> = [];
  ended: boolean | undefined;

  constructor(readonly options: IClientOptions) {
    super();
  }

  async subscribeAsync(topics: Record<string, { qos: 0 | 1 }>) {
    return Object.entries(topics).map(([topic, { qos }]) => ({ topic, qos: topic.includes('forbidden') ? 128 : qos }));
  }

  async publishAsync(topic: string, payload: string, options: { qos: 0 | 1 }) {
    this.published.push({ topic, payload, qos: options.qos });
  }

  async endAsync(force?: boolean) {
    this.ended = force ?? false;
  }

  end(force?: boolean) {
    this.ended = force ?? false;
    this.emit('close');
    return this;
  }
}

function open() {
  let client: FakeClient | undefined;
  let url = '';
  const conn = new MqttConnection({
    url: 'ws://127.0.0.1:8080/mqtt',
    clientId: 'web-test',
    will: { topic: 'video/stop', payload: '{"reply_topic":"video/session/web-test/live"}' },
    log: createLogger('test', false),
    connect: (u, options) => {
      url = u;
      client = new FakeClient(options);
      return client;
    },
  });
  const states: ConnectionState[] = [];
  const problems: Array<[string, boolean]> = [];
  conn.on('state', (s) => states.push(s));
  conn.on('problem', (m, refused) => problems.push([m, refused]));
  return { conn, client: client!, url: () => url, states, problems };
}

describe('MqttConnection', () => {
  it('connects with MQTT 5, a clean session, its client id and the stop last-will', () => {
    const { client, url } = open();
    expect(url()).toBe('ws://127.0.0.1:8080/mqtt');
    expect(client.options).toMatchObject({
      protocolVersion: 5,
      clean: true,
      clientId: 'web-test',
      queueQoSZero: false,
      will: { topic: 'video/stop', payload: '{"reply_topic":"video/session/web-test/live"}', qos: 1, retain: false },
    });
  });

  it('reports states, and backs off between reconnect attempts until connected', () => {
    const { client, states, problems, conn } = open();
    client.emit('close');
    expect(problems).toEqual([['no answer from ws://127.0.0.1:8080/mqtt', false]]);
    const periods: number[] = [];
    for (let i = 0; i < 6; i++) {
      client.emit('reconnect');
      periods.push(client.options.reconnectPeriod!);
    }
    expect(periods[1]!).toBeGreaterThan(periods[0]!);
    expect(Math.max(...periods)).toBeLessThanOrEqual(12_000);
    client.emit('connect');
    expect(client.options.reconnectPeriod).toBe(1000);
    expect(conn.everConnected).toBe(true);
    expect(states).toEqual(['reconnecting', 'connected']);
  });

  it('falls back to MQTT 3.1.1 at once, without a problem shown, when the broker refuses MQTT 5', () => {
    const { client, problems } = open();
    client.emit('error', Object.assign(new Error('Connection refused: Unacceptable protocol version'), { code: 1 }));
    client.emit('close');
    expect(client.options.protocolVersion).toBe(4);
    expect(client.options.reconnectPeriod).toBeLessThan(100);
    expect(problems).toEqual([]);
    client.emit('error', Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }));
    expect(problems).toEqual([['Connection refused: Not authorized', true]]);
  });

  it('tells a refusal by the broker from an unreachable broker', () => {
    const { client, problems } = open();
    client.emit('error', Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }));
    expect(problems).toEqual([['Connection refused: Not authorized', true]]);
  });

  it('hands on messages as Uint8Array and fails a refused subscription', async () => {
    const { client, conn } = open();
    const got: Array<[string, number[]]> = [];
    conn.on('message', (topic, bytes) => got.push([topic, [...bytes]]));
    client.emit('message', 'a/b', Buffer.from([1, 2, 3]));
    expect(got).toEqual([['a/b', [1, 2, 3]]]);
    await expect(conn.subscribe({ 'ok/topic': 1 })).resolves.toBeUndefined();
    await expect(conn.subscribe({ 'forbidden/topic': 0 })).rejects.toThrow(/refused/);
  });

  it('updates the last-will for the next connect and stops talking once destroyed', () => {
    const { client, conn, states } = open();
    conn.setWill({ topic: 'video/req/web-test/stop', payload: '{}' });
    expect(client.options.will).toMatchObject({ topic: 'video/req/web-test/stop' });
    conn.destroy();
    expect(client.ended).toBe(true);
    client.emit('connect');
    expect(states).toEqual(['closed']);
  });
});

describe('broker URLs', () => {
  it('derives the same-origin endpoint', () => {
    expect(sameOriginBrokerUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/mqtt');
    expect(sameOriginBrokerUrl({ protocol: 'https:', host: 'cams.example' })).toBe('wss://cams.example/mqtt');
  });

  it('accepts only ws: and wss: URLs', () => {
    expect(isBrokerUrl('ws://127.0.0.1:9001/')).toBe(true);
    expect(isBrokerUrl('wss://b.example/mqtt')).toBe(true);
    expect(isBrokerUrl('mqtt://127.0.0.1:1883')).toBe(false);
    expect(isBrokerUrl('not a url')).toBe(false);
  });

  it('doubles the retry delay from 1 s up to a cap, with jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 9].map((n) => retryDelayMs(n, mid))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(retryDelayMs(1, () => 0)).toBe(800);
    expect(retryDelayMs(1, () => 1)).toBe(1200);
  });
});
