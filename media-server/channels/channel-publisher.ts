/**
 * Origin mode: a configured source with `publish: true` is kept running and
 * published as live channel `<name>` — one more viewer of its upstream, writing
 * the retained init, every fragment, and a retained meta (refreshed with the
 * measured bit rate and GOP). If the source fails it says so in the meta and tries
 * again with backoff; on close the channel goes `offline` and its init is cleared.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { MqttcastError, channelTopics, toMqttcastError, type ChannelMetaInput, type ChannelTopics, type InitInfo } from '../../protocol/index.js';
import type { MqttLink } from '../daemon/mqtt-link.js';
import type { Upstream } from '../upstreams/upstream.js';
import type { Fragment, UpstreamEvent, UpstreamViewer } from '../upstreams/upstream-types.js';

export interface ChannelPublisherOptions {
  name: string;
  prefix: string;
  link: MqttLink;
  /** Opens (or joins) the source's upstream, resolved once it has its init segment. */
  acquire: () => Promise<Upstream>;
  /** This server also publishes the channel's snapshots (the meta says so: no other server takes them). */
  snapshots?: boolean;
  /** Who publishes, in the meta (default `mqttcast-server@<host>:<pid>`). */
  publisher?: string;
  log: Logger;
}

const META_REFRESH_MS = 5_000;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** This media server process, as named in channel metas and snapshot comments. */
export function serverId(): string {
  return `mqttcast-server@${hostname()}:${process.pid}`;
}

export class ChannelPublisher implements UpstreamViewer {
  private readonly topics: ChannelTopics;
  private readonly startedAt = new Date().toISOString();
  private readonly publisher: string;
  private upstream?: Upstream;
  private info?: InitInfo;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private readonly metaTimer: NodeJS.Timeout;
  private bytesSinceMeta = 0;
  private metaAt = Date.now();
  private lastSyncAt?: number;
  private gopS?: number;
  private closed = false;

  constructor(private readonly options: ChannelPublisherOptions) {
    this.topics = channelTopics(options.prefix, options.name);
    this.publisher = options.publisher ?? serverId();
    this.metaTimer = setInterval(() => this.publishMeta(), META_REFRESH_MS);
    this.metaTimer.unref();
  }

  start(): this {
    void this.open();
    return this;
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    try {
      const upstream = await this.options.acquire();
      if (this.closed) return;
      this.upstream = upstream;
      upstream.attach(this);
      this.retryMs = RETRY_MIN_MS;
      this.options.log.info({ channel: this.options.name }, 'publishing the source as a live channel');
    } catch (err) {
      this.retry(toMqttcastError(err));
    }
  }

  private retry(error: MqttcastError): void {
    this.upstream?.detach(this);
    this.upstream = undefined;
    this.info = undefined;
    if (this.closed) return;
    this.publishOffline('input_failed', error.message);
    this.options.log.warn({ channel: this.options.name, err: error, retryMs: this.retryMs }, 'channel source failed; trying again');
    this.retryTimer = setTimeout(() => void this.open(), this.retryMs);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  onInit(init: Buffer, info: InitInfo): void {
    this.info = info;
    this.lastSyncAt = undefined;
    this.options.link.publishChannelMedia(this.topics.init, init, true); // retained, before the fragments that need it
    this.publishMeta();
  }

  onFragment(fragment: Fragment): void {
    if (!this.info) return;
    if (fragment.sync) {
      const now = fragment.producerTimeMs ?? Date.now();
      if (this.lastSyncAt !== undefined && now > this.lastSyncAt) this.gopS = (now - this.lastSyncAt) / 1000;
      this.lastSyncAt = now;
    }
    this.bytesSinceMeta += fragment.data.byteLength;
    this.options.link.publishChannelMedia(this.topics.data, fragment.data, false);
  }

  onEvent(event: UpstreamEvent): void {
    if (event.type === 'restarting' || event.type === 'discontinuity') return; // the meta stays live; a new init follows a restart
    this.retry(event.type === 'failed' ? event.error : new MqttcastError('SOURCE_UNAVAILABLE', 'the source ended'));
  }

  private publishMeta(): void {
    if (!this.info || this.closed) return;
    const now = Date.now();
    const bitrate = Math.round((this.bytesSinceMeta * 8 * 1000) / Math.max(1, now - this.metaAt));
    this.bytesSinceMeta = 0;
    this.metaAt = now;
    const meta: ChannelMetaInput = {
      state: 'live',
      mimeCodec: this.info.mimeCodec,
      tracks: this.info.tracks.map((t) => ({
        id: t.id,
        type: t.type as 'video' | 'audio',
        codec: t.codec,
        width: t.width,
        height: t.height,
        sampleRate: t.sampleRate,
        channels: t.channels,
      })),
      publisher: this.publisher,
      started_at: this.startedAt,
      updated_at: new Date(now).toISOString(),
      bitrate,
      ...(this.gopS !== undefined ? { gop: this.gopS } : {}),
      ...(this.options.snapshots ? { snapshots: true } : {}),
    };
    this.options.link.publishJson(this.topics.meta, meta, { retain: true });
  }

  private publishOffline(reason: string, message?: string): void {
    const meta: ChannelMetaInput = { state: 'offline', publisher: this.publisher, started_at: this.startedAt, updated_at: new Date().toISOString(), reason, ...(message ? { message: message.slice(0, 512) } : {}) };
    this.options.link.publishJson(this.topics.meta, meta, { retain: true });
  }

  /** Ends publishing: meta `offline` (stopped), retained init cleared, upstream released. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.metaTimer);
    this.upstream?.detach(this);
    this.publishOffline('stopped');
    this.options.link.clearRetained(this.topics.init);
  }
}
