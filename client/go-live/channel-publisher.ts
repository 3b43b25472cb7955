/**
 * The browser's MQTT connection for one channel (MQTT.js over WebSocket): its own
 * client id and an `offline` last will on the channel's meta, the retained init
 * acknowledged before any fragment that needs it, the retained meta, QoS 0 fragments
 * that resume on a keyframe after every gap. Like `mqttcast publish` (cli/publish-link.ts)
 * nothing queues while the broker is away, and a clean close leaves meta `offline` and
 * clears the retained init. In secure mode the broker answers a publish of another
 * user's channel with PUBACK 0x87 (MQTT 5): that becomes PUBLISH_REFUSED.
 */
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { CONTENT_TYPE_JSON, ConnectionClosed, firstConnect, mediaProperties, refusesMqtt5, type ChannelMetaInput, type ChannelTopics } from '../../protocol/index.js';
import { Emitter } from '../emitter.js';
import { GoLiveFailure, goLiveError, type GoLiveError } from './go-live-errors.js';

export interface ChannelPublisherOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  topics: ChannelTopics;
  /** Published retained by the broker if this connection dies. */
  will: ChannelMetaInput;
  /** Fragments are dropped while more than this many bytes wait to be written. */
  maxBufferedBytes?: number;
  /** Replaced in tests. */
  connect?: (url: string, options: IClientOptions) => MqttClient;
}

export type PublisherEvents = {
  /** `connected` again after a drop: the caller should make a keyframe now. */
  connection: (connected: boolean) => void;
  /** The broker refused a publish of this channel; publishing has stopped. */
  refused: (error: GoLiveError) => void;
};

export type DataResult = 'sent' | 'dropped';

const NOT_AUTHORIZED = 0x87;
const CONNECT_TIMEOUT_MS = 8000;
const CLOSE_TIMEOUT_MS = 3000;
const DEFAULT_MAX_BUFFERED = 1024 * 1024;
/** Fragments held while the broker acknowledges a new init; beyond this, data waits for the next keyframe. */
const MAX_PENDING = 32;
const JSON_PROPERTIES = { contentType: CONTENT_TYPE_JSON };

/**
 * The reason code MQTT.js puts on an error from the broker (CONNACK or PUBACK); its browser
 * build does not export ErrorWithReasonCode, so the numeric `code` is what tells them apart.
 */
function reasonCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** MQTT.js (mqtt-packet) writes any Uint8Array; its types only name Buffer. */
const payload = (bytes: Uint8Array): Buffer => bytes as Buffer;

export class ChannelPublisher extends Emitter<PublisherEvents> {
  private init: Uint8Array | undefined;
  private meta: ChannelMetaInput | undefined;
  private generation = 0;
  private initReady = false;
  private needSync = true;
  private pending: Array<{ fragment: Uint8Array; sync: boolean }> = [];
  private closing = false;
  private refusal: GoLiveError | undefined;

  private constructor(private readonly client: MqttClient, private readonly options: ChannelPublisherOptions, readonly version: 4 | 5) {
    super();
    client.on('connect', () => this.onConnect());
    client.on('close', () => {
      this.initReady = false;
      this.needSync = true;
      this.pending = [];
      if (!this.closing) this.emit('connection', false);
    });
  }

  /** Connects (MQTT 5, else 3.1.1). Rejects with a GoLiveFailure: BROKER_REFUSED or BROKER_UNREACHABLE. */
  static async connect(options: ChannelPublisherOptions): Promise<ChannelPublisher> {
    try {
      return await ChannelPublisher.connectAs(options, 5);
    } catch (err) {
      if (!(err instanceof Mqtt5Refused)) throw err;
      return ChannelPublisher.connectAs(options, 4);
    }
  }

  private static connectAs(options: ChannelPublisherOptions, version: 4 | 5): Promise<ChannelPublisher> {
    const will = { topic: options.topics.meta, payload: payload(new TextEncoder().encode(JSON.stringify(options.will))), qos: 1 as const, retain: true };
    const connect = options.connect ?? ((url: string, o: IClientOptions): MqttClient => mqtt.connect(url, o));
    const client = connect(options.url, {
      clientId: options.clientId,
      ...(options.username ? { username: options.username, password: options.password ?? '' } : {}),
      protocolVersion: version,
      clean: true,
      keepalive: 15,
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectPeriod: 1000,
      queueQoSZero: false,
      will: version === 5 ? { ...will, properties: JSON_PROPERTIES } : will,
    });
    return firstConnect(client).then(
      () => {
        const publisher = new ChannelPublisher(client, options, version);
        publisher.onConnect();
        return publisher;
      },
      (err: Error & { code?: unknown }) => {
        if (err instanceof ConnectionClosed) throw new GoLiveFailure(goLiveError('BROKER_UNREACHABLE', `${options.url}: connection closed`));
        if (version === 5 && refusesMqtt5(err)) throw new Mqtt5Refused(err.message);
        if (reasonCode(err) !== undefined) throw new GoLiveFailure(goLiveError('BROKER_REFUSED', err.message));
        throw new GoLiveFailure(goLiveError('BROKER_UNREACHABLE', `${options.url}: ${err.message}`));
      },
    );
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Bytes written to the connection but not yet to the network. */
  get bufferedBytes(): number {
    return this.client.stream?.writableLength ?? 0;
  }

  /** A new init segment, published retained (QoS 1) before any fragment that needs it. */
  setInit(init: Uint8Array): void {
    this.init = init;
    this.generation++;
    this.initReady = false;
    this.needSync = true;
    this.pending = [];
    if (this.client.connected) this.sendInit();
  }

  /** The channel's meta, retained; a `live` meta goes out once the init is stored. */
  setMeta(meta: ChannelMetaInput): void {
    this.meta = meta;
    if (this.client.connected && (meta.state !== 'live' || this.initReady)) this.sendMeta();
  }

  /** One fragment (QoS 0), held while the init is acknowledged, or dropped (broker away, socket full, mid-GOP after a gap, refused). */
  publishData(fragment: Uint8Array, sync: boolean): DataResult {
    if (!this.client.connected || !this.init || this.closing || this.refusal) {
      this.needSync = true;
      return 'dropped';
    }
    if (!this.initReady) {
      if (this.pending.length >= MAX_PENDING) {
        this.pending = [];
        this.needSync = true;
        return 'dropped';
      }
      this.pending.push({ fragment, sync });
      return 'sent';
    }
    return this.send(fragment, sync);
  }

  private send(fragment: Uint8Array, sync: boolean): DataResult {
    if (this.bufferedBytes > (this.options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED)) {
      this.needSync = true;
      return 'dropped';
    }
    if (this.needSync && !sync) return 'dropped';
    this.needSync = false;
    this.client.publish(this.options.topics.data, payload(fragment), { qos: 0, ...this.properties(mediaProperties(false)) });
    return 'sent';
  }

  /** Meta `offline` (retained), the retained init cleared, then a DISCONNECT so the broker drops the will. */
  async close(meta: ChannelMetaInput): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const { topics } = this.options;
    if (this.client.connected && !this.refusal) {
      try {
        await withTimeout(Promise.all([
          this.client.publishAsync(topics.meta, JSON.stringify(meta), { qos: 1, retain: true, ...this.properties(JSON_PROPERTIES) }),
          this.client.publishAsync(topics.init, payload(new Uint8Array(0)), { qos: 1, retain: true }),
        ]));
        await withTimeout(this.client.endAsync());
      } catch (err) {
        // The broker went away or refused: the will (meta offline) tells everyone instead.
        await this.client.endAsync(true);
        if (reasonCode(err) === undefined && !(err instanceof Timeout)) throw err;
      }
    } else {
      await this.client.endAsync(true);
    }
    this.removeAllListeners();
  }

  private onConnect(): void {
    if (this.init) this.sendInit();
    else if (this.meta && this.meta.state !== 'live') this.sendMeta();
    this.emit('connection', true);
  }

  private sendInit(): void {
    const generation = this.generation;
    this.client.publish(this.options.topics.init, payload(this.init!), { qos: 1, retain: true, ...this.properties(mediaProperties(true)) }, (err) => {
      if (err) {
        this.report(err, this.options.topics.init);
        return;
      }
      if (this.closing || generation !== this.generation || !this.client.connected) return;
      this.initReady = true;
      this.needSync = true;
      if (this.meta) this.sendMeta();
      const held = this.pending;
      this.pending = [];
      for (const { fragment, sync } of held) this.send(fragment, sync);
    });
  }

  private sendMeta(): void {
    if (!this.meta || this.closing || this.refusal) return;
    this.client.publish(this.options.topics.meta, JSON.stringify(this.meta), { qos: 1, retain: true, ...this.properties(JSON_PROPERTIES) }, (err) => {
      if (err) this.report(err, this.options.topics.meta);
    });
  }

  /** A refused publish (MQTT 5 reason 0x87) ends publishing; other errors are a dropped connection, which reconnects. */
  private report(err: Error, topic: string): void {
    if (this.closing || this.refusal || reasonCode(err) !== NOT_AUTHORIZED) return;
    const who = this.options.username ? `user ${this.options.username}` : 'a client without a user name';
    const hint = this.options.username ? `; in secure mode a user may publish only the channel named after it (${this.options.username})` : '';
    this.refusal = goLiveError('PUBLISH_REFUSED', `${topic} refused for ${who} (reason 0x87)${hint}`);
    this.emit('refused', this.refusal);
  }

  private properties(p: IClientPublishOptions['properties']): Pick<IClientPublishOptions, 'properties'> {
    return this.version === 5 ? { properties: p } : {};
  }
}

/** The broker does not speak MQTT 5. */
class Mqtt5Refused extends Error {}
class Timeout extends Error {}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`no answer from the broker within ${CLOSE_TIMEOUT_MS} ms`)), CLOSE_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
