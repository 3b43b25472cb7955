/**
 * The media server's one MQTT connection: subscribes to request topics, hands
 * messages to a handler, publishes data (QoS 0, dropped while offline rather
 * than queued without bound) and JSON (QoS 1). Speaks MQTT 5 where the broker
 * offers it (Mosquitto, the embedded Aedes 2), MQTT 3.1.1 otherwise; on MQTT 5
 * messages carry a Content Type, replies echo Correlation Data and fragments expire.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { jsonProperties, mediaProperties, refusesMqtt5 } from '../../protocol/index.js';

export interface MqttLinkOptions {
  url: string;
  username?: string;
  password?: string;
  subscriptions: string[];
  log: Logger;
  clientId?: string;
  /** MQTT protocol version: 4 = 3.1.1, 5 = MQTT 5, 'auto' (default) = 5, or 3.1.1 if the broker refuses 5. */
  protocolVersion?: 4 | 5 | 'auto';
}

/** MQTT 5 properties of a request that matter to the server. */
export interface MessageProperties {
  responseTopic?: string;
  correlationData?: Buffer;
}

const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30_000;

export interface MqttLinkEvents {
  message: [topic: string, payload: Buffer, retained: boolean, props: MessageProperties];
  connected: [];
  offline: [];
}

export class MqttLink extends EventEmitter<MqttLinkEvents> {
  readonly client: MqttClient;
  private readonly log: Logger;

  private constructor(
    client: MqttClient,
    private readonly options: MqttLinkOptions,
    /** The protocol level in use: 5 (MQTT 5) or 4 (MQTT 3.1.1). */
    readonly version: 4 | 5,
  ) {
    super();
    this.client = client;
    this.log = options.log;
    client.on('message', (topic, payload, packet) => {
      const p = packet.properties;
      const props: MessageProperties = p ? { responseTopic: p.responseTopic, correlationData: p.correlationData } : {};
      this.emit('message', topic, payload, packet.retain, props);
    });
    client.on('connect', () => {
      client.options.reconnectPeriod = RECONNECT_MIN_MS;
      // MQTT.js has no option for it: replies and status must not wait for Nagle's algorithm.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.log.info({ broker: options.url, mqtt: version === 5 ? '5' : '3.1.1' }, 'connected to MQTT broker');
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

  /**
   * Connects, waiting for the first CONNACK (or failing after `timeoutMs`). With
   * `protocolVersion: 'auto'` it tries MQTT 5 first and falls back to 3.1.1 when the
   * broker answers "unacceptable protocol version" (Aedes 1.x, old brokers).
   */
  static async connect(options: MqttLinkOptions, timeoutMs = 10_000): Promise<MqttLink> {
    const wanted = options.protocolVersion ?? 'auto';
    const deadline = Date.now() + timeoutMs;
    try {
      return await MqttLink.connectAs(options, wanted === 4 ? 4 : 5, timeoutMs);
    } catch (err) {
      if (wanted !== 'auto' || !(err instanceof ProtocolRefused)) throw err;
      options.log.info({ broker: options.url }, 'the broker does not speak MQTT 5; using MQTT 3.1.1');
      return MqttLink.connectAs(options, 4, Math.max(1000, deadline - Date.now()));
    }
  }

  private static async connectAs(options: MqttLinkOptions, version: 4 | 5, timeoutMs: number): Promise<MqttLink> {
    const settings: IClientOptions = {
      clientId: options.clientId ?? `mqttcast-server-${randomBytes(4).toString('hex')}`,
      username: options.username,
      password: options.password,
      protocolVersion: version,
      clean: true,
      reconnectPeriod: RECONNECT_MIN_MS,
      connectTimeout: timeoutMs,
      queueQoSZero: false,
      keepalive: 30,
    };
    const client = mqtt.connect(options.url, settings);
    const link = new MqttLink(client, options, version);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        cleanup();
        client.end(true);
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`could not connect to the MQTT broker at ${options.url} within ${timeoutMs} ms`)), timeoutMs);
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (err: Error & { code?: number }): void => {
        if (version === 5 && refusesMqtt5(err)) {
          fail(new ProtocolRefused(err.message));
        } else if (/Not authorized|Bad username/i.test(err.message)) {
          fail(new Error(`the MQTT broker at ${options.url} refused the credentials: ${err.message}`));
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
    const subs: Record<string, { qos: 0 | 1 }> = Object.fromEntries(this.options.subscriptions.map((t) => [t, { qos: 1 as const }]));
    for (const [filter, qos] of this.extra) subs[filter] = { qos };
    this.client.subscribe(subs, (err) => {
      if (err) this.log.error({ err }, 'subscribing to request topics failed');
    });
  }

  /** Filters added at run time (live channels), kept across reconnects. */
  private readonly extra = new Map<string, 0 | 1>();

  /** Subscribes now (if connected) and after every reconnect. */
  addSubscription(filter: string, qos: 0 | 1): void {
    this.extra.set(filter, qos);
    if (!this.client.connected) return;
    this.client.subscribe(filter, { qos }, (err) => {
      if (err) this.log.warn({ err, filter }, 'subscribe failed');
    });
  }

  removeSubscription(filter: string): void {
    if (!this.extra.delete(filter) || !this.client.connected) return;
    this.client.unsubscribe(filter, (err?: Error) => {
      if (err) this.log.debug({ err, filter }, 'unsubscribe failed');
    });
  }

  /**
   * Publishes binary media. Returns false (and drops it) when the broker is unreachable.
   * `isInit`: the init segment, which never expires (fragments do, on MQTT 5).
   */
  publishData(topic: string, data: Buffer, isInit = false): boolean {
    if (!this.client.connected) return false;
    this.client.publish(topic, data, { qos: 0, ...(this.version === 5 ? { properties: mediaProperties(isInit) } : {}) });
    return true;
  }

  publishJson(topic: string, body: unknown, options: { retain?: boolean; qos?: 0 | 1; correlationData?: Buffer } = {}): void {
    const opts: IClientPublishOptions = { qos: options.qos ?? 1, retain: options.retain ?? false };
    if (this.version === 5) {
      const { contentType, correlationData } = jsonProperties(options.correlationData);
      opts.properties = correlationData ? { contentType, correlationData: Buffer.from(correlationData) } : { contentType };
    }
    this.client.publish(topic, JSON.stringify(body), opts, (err) => {
      if (err) this.log.debug({ err, topic }, 'JSON publish not delivered');
    });
  }

  /**
   * Publishes media of a live channel: the init segment retained (QoS 1), fragments
   * QoS 0 with the expiry of live media. Dropped while the broker is unreachable.
   */
  publishChannelMedia(topic: string, data: Buffer, isInit: boolean): boolean {
    if (!this.client.connected) return false;
    const props = this.version === 5 ? { properties: mediaProperties(isInit) } : {};
    this.client.publish(topic, data, { qos: isInit ? 1 : 0, retain: isInit, ...props }, (err) => {
      if (err) this.log.debug({ err, topic }, 'channel media not delivered');
    });
    return true;
  }

  /** Publishes a retained binary message (a snapshot), QoS 1. Dropped while the broker is unreachable. */
  publishRetainedBinary(topic: string, data: Buffer, contentType: string): boolean {
    if (!this.client.connected) return false;
    const props = this.version === 5 ? { properties: { contentType } } : {};
    this.client.publish(topic, data, { qos: 1, retain: true, ...props }, (err) => {
      if (err) this.log.debug({ err, topic }, 'retained message not delivered');
    });
    return true;
  }

  /** Removes a retained message (an empty retained publish). */
  clearRetained(topic: string): void {
    this.client.publish(topic, '', { qos: 1, retain: true }, (err) => {
      if (err) this.log.debug({ err, topic }, 'clearing a retained message failed');
    });
  }

  /** Bytes waiting in the socket to the broker. */
  get pendingBytes(): number {
    const stream = this.client.stream as { writableLength?: number } | undefined;
    return stream?.writableLength ?? 0;
  }

  async close(): Promise<void> {
    // Without a broker a graceful end would wait for QoS 1 messages that can never be acked.
    const force = !this.client.connected;
    await new Promise<void>((resolve) => this.client.end(force, {}, () => resolve()));
  }
}

/** The broker refused MQTT 5 (it speaks only 3.1.1). */
class ProtocolRefused extends Error {}
