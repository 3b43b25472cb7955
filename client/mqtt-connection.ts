/**
 * The page's one MQTT connection (MQTT.js over WebSocket, MQTT 5 — or 3.1.1 when
 * the broker refuses 5 —, clean session), with a last-will, reconnect backoff and
 * typed events.
 */
import mqtt from 'mqtt';
import type { IClientOptions } from 'mqtt';
import { refusesMqtt5 } from '../protocol/mqtt5.js';
import { Emitter } from './emitter.js';
import type { Logger } from './log.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export type ConnectionEvents = {
  state: (state: ConnectionState) => void;
  message: (topic: string, payload: Uint8Array<ArrayBuffer>) => void;
  /** Connecting failed or the connection dropped; `refused` when the broker said no (CONNACK code). */
  problem: (message: string, refused: boolean) => void;
};

export interface Will {
  topic: string;
  payload: string;
}

/** The part of MQTT.js's MqttClient this wrapper uses; tests supply a fake. */
export interface MqttClientLike {
  readonly connected: boolean;
  readonly options: Pick<IClientOptions, 'reconnectPeriod' | 'will' | 'protocolVersion'>;
  on(event: 'connect' | 'reconnect' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error & { code?: unknown }) => void): unknown;
  on(event: 'message', listener: (topic: string, payload: Uint8Array) => void): unknown;
  removeListener(event: 'connect' | 'reconnect' | 'close', listener: () => void): unknown;
  removeListener(event: 'error', listener: (err: Error & { code?: unknown }) => void): unknown;
  removeListener(event: 'message', listener: (topic: string, payload: Uint8Array) => void): unknown;
  subscribeAsync(topics: Record<string, { qos: 0 | 1 }>): Promise<Array<{ topic: string; qos: number }>>;
  publishAsync(topic: string, payload: string, options: { qos: 0 | 1; retain: boolean }): Promise<unknown>;
  endAsync(force?: boolean): Promise<void>;
  end(force?: boolean): unknown;
}

export interface MqttConnectionOptions {
  url: string;
  clientId: string;
  /** Credentials for a broker in secure mode. */
  username?: string;
  password?: string;
  will: Will;
  log: Logger;
  /** Replaced in tests. */
  connect?: (url: string, options: IClientOptions) => MqttClientLike;
}

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 10_000;

/** Same-origin MQTT-over-WebSocket endpoint of the page, e.g. `ws://127.0.0.1:8080/mqtt`. */
export function sameOriginBrokerUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`;
}

export function isBrokerUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'ws:' || parsed.protocol === 'wss:';
  } catch {
    return false;
  }
}

/** Delay before reconnect attempt `attempt` (1-based): doubling from 1 s, capped, with jitter. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class MqttConnection extends Emitter<ConnectionEvents> {
  state: ConnectionState = 'connecting';
  /** Whether a CONNACK was ever received on this connection object. */
  everConnected = false;
  private readonly client: MqttClientLike;
  private attempts = 0;
  private fallingBack = false;
  private readonly log: Logger;

  constructor(readonly options: MqttConnectionOptions) {
    super();
    this.log = options.log;
    const connect = options.connect ?? ((url: string, opts: IClientOptions): MqttClientLike => mqtt.connect(url, opts));
    this.client = connect(options.url, {
      clientId: options.clientId,
      ...(options.username ? { username: options.username, password: options.password ?? '' } : {}),
      protocolVersion: 5,
      clean: true,
      keepalive: 20,
      connectTimeout: 5000,
      reconnectPeriod: FIRST_RETRY_MS,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: options.will.topic, payload: options.will.payload, qos: 1, retain: false },
    });
    this.client.on('connect', this.onConnect);
    this.client.on('reconnect', this.onReconnect);
    this.client.on('close', this.onClose);
    this.client.on('error', this.onError);
    this.client.on('message', this.onMessage);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** The last-will used from the next (re)connect on. */
  setWill(will: Will): void {
    this.client.options.will = { topic: will.topic, payload: will.payload, qos: 1, retain: false };
  }

  async subscribe(topics: Record<string, 0 | 1>): Promise<void> {
    const map = Object.fromEntries(Object.entries(topics).map(([t, qos]) => [t, { qos }]));
    const granted = await this.client.subscribeAsync(map);
    const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length > 0) throw new Error(`the broker refused the subscription to ${refused.join(', ')}`);
  }

  async publish(topic: string, payload: string, qos: 0 | 1 = 0): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos, retain: false });
  }

  /** Ends the connection with a DISCONNECT after pending publishes. */
  end(): Promise<void> {
    this.setState('closed');
    return this.client.endAsync(false).then(() => this.dispose());
  }

  /** Closes at once (no DISCONNECT wait). */
  destroy(): void {
    this.setState('closed');
    this.client.end(true);
    this.dispose();
  }

  private dispose(): void {
    this.client.removeListener('connect', this.onConnect);
    this.client.removeListener('reconnect', this.onReconnect);
    this.client.removeListener('close', this.onClose);
    this.client.removeListener('error', this.onError);
    this.client.removeListener('message', this.onMessage);
    this.removeAllListeners();
  }

  private setState(state: ConnectionState): void {
    if (this.state === state || this.state === 'closed') return;
    this.state = state;
    this.emit('state', state);
  }

  private readonly onConnect = (): void => {
    this.attempts = 0;
    this.everConnected = true;
    this.client.options.reconnectPeriod = FIRST_RETRY_MS;
    this.log.info('connected', this.options.url);
    this.setState('connected');
  };

  private readonly onReconnect = (): void => {
    // MQTT.js reads reconnectPeriod when it schedules the next attempt after a close.
    this.attempts++;
    this.client.options.reconnectPeriod = retryDelayMs(this.attempts + 1);
    this.setState('reconnecting');
  };

  private readonly onClose = (): void => {
    if (this.state === 'closed') return;
    if (this.fallingBack) {
      this.fallingBack = false; // closed by the MQTT 5 refusal; the 3.1.1 attempt follows at once
      return;
    }
    const where = this.options.url;
    this.emit('problem', this.everConnected ? `lost the connection to ${where}` : `no answer from ${where}`, false);
    this.setState('reconnecting');
  };

  private readonly onError = (err: Error & { code?: unknown }): void => {
    if (this.client.options.protocolVersion === 5 && refusesMqtt5(err)) {
      // A broker that speaks only MQTT 3.1.1: the next attempt (MQTT.js reads the options again) uses it.
      this.log.info('the broker does not speak MQTT 5; using MQTT 3.1.1');
      this.client.options.protocolVersion = 4;
      this.client.options.reconnectPeriod = 1;
      this.fallingBack = true;
      return;
    }
    this.log.warn('mqtt error', err.message);
    // MQTT.js sets a numeric `code` (the CONNACK return code) when the broker refuses the connection.
    if (this.state !== 'closed') this.emit('problem', err.message, typeof err.code === 'number');
  };

  private readonly onMessage = (topic: string, payload: Uint8Array): void => {
    const bytes =
      payload.buffer instanceof ArrayBuffer
        ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
        : new Uint8Array(payload);
    this.emit('message', topic, bytes);
  };
}
