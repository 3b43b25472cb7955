/**
 * The media server's one MQTT connection: subscribes to request topics, hands
 * messages to a handler, publishes data (QoS 0, dropped while offline rather
 * than queued without bound) and JSON (QoS 1).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';

export interface MqttLinkOptions {
  url: string;
  username?: string;
  password?: string;
  subscriptions: string[];
  log: Logger;
  clientId?: string;
  /** MQTT protocol version: 4 = 3.1.1 (Aedes), 5 = MQTT 5 (shared subscriptions on Mosquitto). */
  protocolVersion?: 4 | 5;
}

const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30_000;

export interface MqttLinkEvents {
  message: [topic: string, payload: Buffer, retained: boolean];
  connected: [];
  offline: [];
}

export class MqttLink extends EventEmitter<MqttLinkEvents> {
  readonly client: MqttClient;
  private readonly log: Logger;

  private constructor(client: MqttClient, private readonly options: MqttLinkOptions) {
    super();
    this.client = client;
    this.log = options.log;
    client.on('message', (topic, payload, packet) => this.emit('message', topic, payload, packet.retain));
    client.on('connect', () => {
      client.options.reconnectPeriod = RECONNECT_MIN_MS;
      // MQTT.js has no option for it: replies and status must not wait for Nagle's algorithm.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.log.info({ broker: options.url }, 'connected to MQTT broker');
      this.subscribe();
      this.emit('connected');
    });
    // Back off between reconnect attempts: 1 s, 2 s, 4 s ... 30 s.
    client.on('reconnect', () => {
      client.options.reconnectPeriod = Math.min(RECONNECT_MAX_MS, (client.options.reconnectPeriod ?? RECONNECT_MIN_MS) * 2);
    });
    client.on('offline', () => {
      this.log.warn({ broker: options.url }, 'MQTT broker connection lost; reconnecting');
      this.emit('offline');
    });
    client.on('error', (err) => this.log.warn({ err, broker: options.url }, 'MQTT error'));
  }

  /** Connects, waiting for the first CONNACK (or failing after `timeoutMs`). */
  static async connect(options: MqttLinkOptions, timeoutMs = 10_000): Promise<MqttLink> {
    const client = mqtt.connect(options.url, {
      clientId: options.clientId ?? `mqttcast-server-${randomBytes(4).toString('hex')}`,
      username: options.username,
      password: options.password,
      protocolVersion: options.protocolVersion ?? 4,
      clean: true,
      reconnectPeriod: RECONNECT_MIN_MS,
      connectTimeout: timeoutMs,
      queueQoSZero: false,
      keepalive: 30,
    });
    const link = new MqttLink(client, options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        client.end(true);
        reject(new Error(`could not connect to the MQTT broker at ${options.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error): void => {
        if (/Not authorized|Bad username/i.test(err.message)) {
          cleanup();
          client.end(true);
          reject(new Error(`the MQTT broker at ${options.url} refused the credentials: ${err.message}`));
        }
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
      };
      client.on('connect', onConnect);
      client.on('error', onError);
    });
    return link;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  private subscribe(): void {
    const subs = Object.fromEntries(this.options.subscriptions.map((t) => [t, { qos: 1 as const }]));
    this.client.subscribe(subs, (err) => {
      if (err) this.log.error({ err }, 'subscribing to request topics failed');
    });
  }

  /** Publishes binary media. Returns false (and drops it) when the broker is unreachable. */
  publishData(topic: string, data: Buffer): boolean {
    if (!this.client.connected) return false;
    this.client.publish(topic, data, { qos: 0 });
    return true;
  }

  publishJson(topic: string, body: unknown, options: { retain?: boolean; qos?: 0 | 1 } = {}): void {
    this.client.publish(topic, JSON.stringify(body), { qos: options.qos ?? 1, retain: options.retain ?? false }, (err) => {
      if (err) this.log.debug({ err, topic }, 'JSON publish not delivered');
    });
  }

  /** Bytes waiting in the socket to the broker. */
  get pendingBytes(): number {
    const stream = this.client.stream as { writableLength?: number } | undefined;
    return stream?.writableLength ?? 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()));
  }
}
