/**
 * The publisher's MQTT connection for one channel: retained init and meta, QoS 0
 * fragments, retained pictures (`--snapshots`), the `offline` last will, reconnection
 * with backoff. Nothing is queued while the broker is away: fragments and pictures are
 * dropped, and after a reconnect the init and meta are republished retained and data
 * resumes at the next keyframe fragment.
 */
import mqtt, { ErrorWithReasonCode, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { CONTENT_TYPE_JSON, ConnectionClosed, firstConnect, mediaProperties, refusesMqtt5, type ChannelMetaInput, type ChannelTopics } from '../protocol/index.js';
import { CliError, EXIT } from './exit-codes.js';
import { ChannelRefusal } from './publish-refusal.js';
import { withTimeout } from './with-timeout.js';

export interface ChannelLinkOptions {
  broker: string;
  username?: string;
  password?: string;
  /** PEM CA certificate(s) for mqtts:// and wss://. */
  ca?: Buffer;
  /** Accept any server certificate (testing only). */
  insecure?: boolean;
  clientId: string;
  topics: ChannelTopics;
  /** The meta the broker publishes (retained) if this connection dies: state `offline`. */
  will: ChannelMetaInput;
  /** Fragments are dropped while more than this many bytes wait in the socket. */
  maxBufferedBytes?: number;
  /** Connection events, for progress output. */
  onEvent?: (event: 'connected' | 'disconnected', detail: string) => void;
}

export const RECONNECT_MIN_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;
export const KEEPALIVE_S = 15;
const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;
/** Fragments held while the broker acknowledges a new init (one round trip), so the first keyframe is not lost. */
const MAX_PENDING_FRAGMENTS = 32;
const MAX_PENDING_BYTES = 2 * 1024 * 1024;
const CLOSE_TIMEOUT_MS = 3000;
const JSON_PROPERTIES = { contentType: CONTENT_TYPE_JSON };
const JPEG_PROPERTIES = { contentType: 'image/jpeg' };

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);
/** CONNACK codes meaning "who you are is refused": 3.1.1 (4, 5) and MQTT 5 (134, 135). */
const REFUSED = new Set([4, 5, 134, 135]);

export type DataResult = 'sent' | 'dropped';

export class ChannelLink {
  private init: Uint8Array | undefined;
  private meta: ChannelMetaInput | undefined;
  /** Bumped for each new init and each new connection: stale acks are ignored. */
  private initGeneration = 0;
  private connection = 0;
  private initReady = false;
  private needSync = true;
  /** Fragments waiting for the current init's acknowledgement; bounded, emptied on every disconnect. */
  private pending: Array<{ fragment: Uint8Array; sync: boolean }> = [];
  private pendingBytes = 0;
  private reconnectDelay = RECONNECT_MIN_MS;
  private closing = false;
  /** Settles when the broker refuses this channel's init or meta (MQTT 5 "not authorized"): see publish-refusal.ts. */
  readonly refusal: ChannelRefusal;

  private constructor(
    private readonly client: MqttClient,
    private readonly options: ChannelLinkOptions,
    /** MQTT protocol level in use: 5 adds Content Type and fragment expiry. */
    readonly version: 4 | 5,
  ) {
    this.refusal = new ChannelRefusal({ username: options.username, name: options.topics.name });
    client.on('connect', () => this.onConnect());
    client.on('close', () => {
      this.initReady = false;
      this.needSync = true;
      this.dropPending();
    });
    client.on('offline', () => options.onEvent?.('disconnected', `lost the broker; retrying in ${Math.round(this.reconnectDelay / 1000)} s`));
    client.on('reconnect', () => {
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
      client.options.reconnectPeriod = this.reconnectDelay;
    });
    client.on('error', (err) => options.onEvent?.('disconnected', `broker: ${err.message}`));
  }

  /**
   * Connects once, MQTT 5 first (Content Type on every message, fragments that expire
   * after FRAGMENT_EXPIRY_S), falling back to 3.1.1 for a broker that only speaks that.
   * Rejects with a CliError: broker unreachable, or credentials refused.
   */
  static async connect(options: ChannelLinkOptions): Promise<ChannelLink> {
    try {
      return await ChannelLink.connectAs(options, 5);
    } catch (err) {
      if (!(err instanceof ProtocolRefused)) throw err;
      options.onEvent?.('disconnected', 'the broker does not speak MQTT 5; using MQTT 3.1.1');
      return ChannelLink.connectAs(options, 4);
    }
  }

  private static connectAs(options: ChannelLinkOptions, version: 4 | 5): Promise<ChannelLink> {
    const willProperties = version === 5 ? { will: { ...willOf(options), properties: JSON_PROPERTIES } } : { will: willOf(options) };
    const mqttOptions: IClientOptions = {
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      protocolVersion: version,
      clean: true,
      keepalive: KEEPALIVE_S,
      connectTimeout: 10_000,
      reconnectPeriod: RECONNECT_MIN_MS,
      reconnectOnConnackError: true,
      queueQoSZero: false,
      ...willProperties,
      ca: options.ca,
      rejectUnauthorized: options.insecure !== true,
    };
    const client = mqtt.connect(options.broker, mqttOptions);
    return firstConnect(client).then(
      () => {
        const link = new ChannelLink(client, options, version);
        link.onConnect();
        return link;
      },
      (err: Error & { code?: unknown }) => {
        if (err instanceof ConnectionClosed) throw new CliError(`cannot reach the MQTT broker at ${options.broker} (connection closed)`, EXIT.BROKER_UNREACHABLE);
        if (version === 5 && refusesMqtt5(err)) throw new ProtocolRefused(err.message);
        if (err instanceof ErrorWithReasonCode) {
          const what = REFUSED.has(err.code) ? 'the credentials' : 'the connection';
          throw new CliError(`the MQTT broker at ${options.broker} refused ${what}: ${err.message}`, EXIT.REFUSED);
        }
        const what = UNREACHABLE.has(String(err.code)) ? 'cannot reach' : 'cannot connect to';
        throw new CliError(`${what} the MQTT broker at ${options.broker}: ${err.message}`, EXIT.BROKER_UNREACHABLE);
      },
    );
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** A new init segment (a new ffmpeg run): published retained before any fragment that needs it. */
  setInit(init: Uint8Array): void {
    this.init = init;
    this.initGeneration++;
    this.initReady = false;
    this.needSync = true;
    this.dropPending();
    if (this.client.connected) this.sendInit();
  }

  /** The current meta; published retained now if the broker is there (a `live` meta once the init is stored). */
  setMeta(meta: ChannelMetaInput): void {
    this.meta = meta;
    if (this.client.connected && (meta.state !== 'live' || this.initReady)) this.sendMeta();
  }

  /**
   * Publishes one fragment (QoS 0), or holds it while the init is being acknowledged, or
   * drops it: broker away, socket full, pending bound reached, or mid-GOP after a gap.
   */
  publishData(fragment: Uint8Array, sync: boolean): DataResult {
    if (!this.client.connected || !this.init || this.closing) {
      this.needSync = true;
      return 'dropped';
    }
    if (!this.initReady) {
      if (this.pending.length >= MAX_PENDING_FRAGMENTS || this.pendingBytes + fragment.byteLength > MAX_PENDING_BYTES) {
        this.dropPending();
        this.needSync = true;
        return 'dropped';
      }
      this.pending.push({ fragment, sync });
      this.pendingBytes += fragment.byteLength;
      return 'sent';
    }
    return this.send(fragment, sync);
  }

  private send(fragment: Uint8Array, sync: boolean): DataResult {
    const buffered = this.client.stream?.writableLength ?? 0;
    if (buffered > (this.options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED)) {
      this.needSync = true;
      return 'dropped';
    }
    if (this.needSync && !sync) return 'dropped';
    this.needSync = false;
    const payload = Buffer.from(fragment.buffer, fragment.byteOffset, fragment.byteLength);
    this.client.publish(this.options.topics.data, payload, { qos: 0, ...this.properties(mediaProperties(false)) });
    return 'sent';
  }

  /**
   * A picture of the channel (a JPEG file), retained QoS 1 on its snapshot topic, so a
   * subscriber gets the latest at once. False (not sent) while the broker is away or the
   * channel is closing; `done` gets the broker's refusal, if any.
   */
  publishSnapshot(jpeg: Buffer, done?: (err?: Error) => void): boolean {
    if (!this.client.connected || this.closing || this.refusal.error) return false;
    this.client.publish(this.options.topics.snapshot, jpeg, { qos: 1, retain: true, ...this.properties(JPEG_PROPERTIES) }, (err) => done?.(err));
    return true;
  }

  private dropPending(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  /**
   * Ends the channel cleanly: `meta` (state offline) retained, the retained init cleared
   * (empty payload), then a normal disconnect, so the broker discards the last will.
   */
  async close(meta: ChannelMetaInput): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const { topics } = this.options;
    if (this.client.connected && !this.refusal.error) {
      try {
        await withTimeout(
          Promise.all([
            this.client.publishAsync(topics.meta, JSON.stringify(meta), { qos: 1, retain: true, ...this.properties(JSON_PROPERTIES) }),
            this.client.publishAsync(topics.init, Buffer.alloc(0), { qos: 1, retain: true }),
          ]),
          CLOSE_TIMEOUT_MS,
          noAnswer,
        );
        await withTimeout(this.client.endAsync(), CLOSE_TIMEOUT_MS, noAnswer);
        return;
      } catch (err) {
        this.options.onEvent?.('disconnected', `could not say goodbye to the broker: ${(err as Error).message}`);
      }
    }
    await this.client.endAsync(true);
  }

  private onConnect(): void {
    this.connection++;
    this.reconnectDelay = RECONNECT_MIN_MS;
    this.client.options.reconnectPeriod = RECONNECT_MIN_MS;
    this.options.onEvent?.('connected', `connected to ${this.options.broker}`);
    if (this.init) this.sendInit();
    else if (this.meta && this.meta.state !== 'live') this.sendMeta();
  }

  private sendInit(): void {
    const generation = this.initGeneration;
    const connection = this.connection;
    const payload = Buffer.from(this.init!.buffer, this.init!.byteOffset, this.init!.byteLength);
    this.client.publish(this.options.topics.init, payload, { qos: 1, retain: true, ...this.properties(mediaProperties(true)) }, (err) => {
      if (err && !this.closing) this.refusal.report(err, this.options.topics.init);
      if (err || this.closing || generation !== this.initGeneration || connection !== this.connection || !this.client.connected) return;
      this.initReady = true;
      this.needSync = true;
      if (this.meta) this.sendMeta();
      const held = this.pending;
      this.dropPending();
      for (const { fragment, sync } of held) this.send(fragment, sync);
    });
  }

  private properties(p: IClientPublishOptions['properties']): Pick<IClientPublishOptions, 'properties'> {
    return this.version === 5 ? { properties: p } : {};
  }

  private sendMeta(): void {
    if (!this.meta || this.closing) return;
    this.client.publish(this.options.topics.meta, JSON.stringify(this.meta), { qos: 1, retain: true, ...this.properties(JSON_PROPERTIES) }, (err) => {
      if (err && !this.closing && !this.refusal.report(err, this.options.topics.meta)) this.options.onEvent?.('disconnected', `could not publish the meta: ${err.message}`);
    });
  }
}

function willOf(options: ChannelLinkOptions): NonNullable<IClientOptions['will']> {
  return { topic: options.topics.meta, payload: Buffer.from(JSON.stringify(options.will)), qos: 1, retain: true };
}

/** The broker refused MQTT 5 (it speaks only 3.1.1). */
class ProtocolRefused extends Error {}

const noAnswer = (): Error => new Error(`no answer within ${CLOSE_TIMEOUT_MS} ms`);
