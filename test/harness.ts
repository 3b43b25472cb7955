/**
 * Starts the real service (embedded Aedes, media server, HTTP) in-process on
 * random 127.0.0.1 ports, and a viewer that speaks the protocol with MQTT.js.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { buildConfig, type ConfigInput } from '../media-server/daemon/config.js';
import { startService, type Service } from '../media-server/service.js';
import { createTopics, topLevelTypes } from '../protocol/index.js';
import { waitFor } from './helpers/wait.js';

export const SMALL_DEMO = { width: 320, height: 240, fps: 15 };

export async function startTestService(overrides: Partial<ConfigInput> = {}): Promise<Service> {
  const config = buildConfig({
    host: '127.0.0.1',
    httpPort: 0,
    mqttPort: 0,
    logLevel: process.env.MQTTCAST_TEST_LOG ? 'debug' : 'silent',
    demo: SMALL_DEMO,
    ...overrides,
  } as Record<string, unknown>);
  return startService(config, pino({ level: config.logLevel }));
}

export interface Received {
  topic: string;
  payload: Buffer;
  at: number;
}

/** An MQTT client playing the viewer's part of the protocol. */
export class Viewer {
  readonly messages: Received[] = [];
  readonly statuses: Array<Record<string, unknown>> = [];
  readonly replyTopic: string;
  private ackTimer?: NodeJS.Timeout;

  private constructor(readonly client: MqttClient, readonly prefix: string, replyTopic?: string) {
    this.replyTopic = replyTopic ?? `${prefix}/session/test-${randomBytes(4).toString('hex')}/live`;
    client.on('message', (topic, payload) => {
      if (topic === `${this.replyTopic}/status`) this.statuses.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
      else this.messages.push({ topic, payload, at: Date.now() });
    });
  }

  static async connect(
    url: string,
    opts: { prefix?: string; replyTopic?: string; clientId?: string; reconnect?: boolean; will?: boolean } = {},
  ): Promise<Viewer> {
    const prefix = opts.prefix ?? 'video';
    const replyTopic = opts.replyTopic ?? `${prefix}/session/test-${randomBytes(4).toString('hex')}/live`;
    const client = await mqtt.connectAsync(url, {
      clientId: opts.clientId ?? `viewer-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      reconnectPeriod: opts.reconnect ? 500 : 0,
      // Like the web player: if this client vanishes, the broker sends its stop request.
      will: opts.will ? { topic: `${prefix}/stop`, payload: Buffer.from(JSON.stringify({ reply_topic: replyTopic })), qos: 1, retain: false } : undefined,
    });
    const viewer = new Viewer(client, prefix, replyTopic);
    await client.subscribeAsync({ [viewer.replyTopic]: { qos: 0 }, [`${viewer.replyTopic}/status`]: { qos: 1 } });
    return viewer;
  }

  get topics(): ReturnType<typeof createTopics> {
    return createTopics(this.prefix);
  }

  /** Data messages (binary media) on the reply topic. */
  get media(): Buffer[] {
    return this.messages.filter((m) => m.topic === this.replyTopic && m.payload[0] !== 0x7b).map((m) => m.payload);
  }

  /** JSON messages on the reply topic (describe replies, errors). */
  get json(): Array<Record<string, unknown>> {
    return this.messages
      .filter((m) => m.topic === this.replyTopic && m.payload[0] === 0x7b)
      .map((m) => JSON.parse(m.payload.toString('utf8')) as Record<string, unknown>);
  }

  get fragments(): Buffer[] {
    return this.media.filter((p) => topLevelTypes(p).includes('moof'));
  }

  async send(kind: 'describe' | 'play' | 'stop' | 'ack', body: Record<string, unknown> | string): Promise<void> {
    const payload = typeof body === 'string' ? body : JSON.stringify({ reply_topic: this.replyTopic, ...body });
    await this.client.publishAsync(this.topics.request(kind), payload, { qos: 1 });
  }

  async describe(target: Record<string, unknown>, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const before = this.json.length;
    await this.send('describe', target);
    return waitFor(() => this.json[before], { timeoutMs, message: 'describe reply' });
  }

  async play(target: Record<string, unknown>): Promise<void> {
    await this.send('play', target);
  }

  async waitForFragments(n: number, timeoutMs = 30_000): Promise<Buffer[]> {
    return waitFor(() => (this.fragments.length >= n ? this.media : undefined), { timeoutMs, message: `${n} fragments on ${this.replyTopic}` });
  }

  async waitForStatus(pred: (s: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return waitFor(() => this.statuses.find(pred), { timeoutMs, message: `status on ${this.replyTopic}` });
  }

  /** Acks like the player: count of fragments received, once a second. */
  startAcking(intervalMs = 1000): void {
    this.ackTimer = setInterval(() => {
      void this.send('ack', { seq: this.fragments.length }).catch(() => undefined);
    }, intervalMs);
  }

  stopAcking(): void {
    clearInterval(this.ackTimer);
  }

  async close(): Promise<void> {
    this.stopAcking();
    await this.client.endAsync(true);
  }
}
