/**
 * The live channels present on this media server's broker: a directory kept from the
 * retained `P/live/+/meta` messages, and the dispatch of each channel's init and data
 * to the one producer that subscribed to them. One subscription per channel, however
 * many viewers it has.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { channelFilter, channelTopics, parseChannelMeta, parseChannelTopic, type ChannelMeta } from '../../protocol/index.js';
import type { MqttLink } from '../daemon/mqtt-link.js';

/** At most this many channels are remembered (a broker full of junk metas cannot grow us without bound). */
export const MAX_CHANNELS = 1000;

export interface ChannelListener {
  onInit(payload: Buffer): void;
  onData(payload: Buffer): void;
  onMeta(meta: ChannelMeta | undefined): void;
}

export interface ChannelSummary {
  name: string;
  source: string;
  state: ChannelMeta['state'];
  mimeCodec?: string;
  publisher: string;
  bitrate?: number;
  reason?: string;
}

export interface ChannelHubEvents {
  change: [];
  /** A picture on `P/live/<name>/snapshot` (empty: cleared); `retained` when replayed at subscribe. */
  snapshot: [name: string, payload: Buffer, retained: boolean];
}

export class ChannelHub extends EventEmitter<ChannelHubEvents> {
  private readonly metas = new Map<string, ChannelMeta>();
  private readonly consumers = new Map<string, ChannelListener>();
  private readonly metaFilter: string;

  constructor(
    private readonly link: MqttLink,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    super();
    this.metaFilter = channelFilter(prefix, 'meta');
    link.addSubscription(this.metaFilter, 1);
  }

  /** Names of the channels in the directory (live or offline). */
  names(): string[] {
    return [...this.metas.keys()];
  }

  /** What the directory knows of a channel: its meta, or undefined when no meta has been seen. */
  meta(name: string): ChannelMeta | undefined {
    return this.metas.get(name);
  }

  list(): ChannelSummary[] {
    return [...this.metas].map(([name, m]) => ({
      name,
      source: `live/${name}`,
      state: m.state,
      mimeCodec: m.mimeCodec,
      publisher: m.publisher,
      bitrate: m.bitrate,
      reason: m.reason,
    }));
  }

  /** Routes a message if it belongs to a channel; returns whether it did. */
  handle(topic: string, payload: Buffer, retained = false): boolean {
    const parsed = parseChannelTopic(this.prefix, topic);
    if (!parsed) return false;
    const { name, kind } = parsed;
    if (kind === 'meta') this.onMeta(name, payload);
    else if (kind === 'init') this.consumers.get(name)?.onInit(payload);
    else if (kind === 'data') this.consumers.get(name)?.onData(payload);
    else this.emit('snapshot', name, payload, retained);
    return true;
  }

  private onMeta(name: string, payload: Buffer): void {
    let meta: ChannelMeta | undefined;
    if (payload.length > 0) {
      try {
        meta = parseChannelMeta(payload);
      } catch (err) {
        this.log.warn({ channel: name, err }, 'ignored an unreadable channel meta');
        return;
      }
    }
    const before = this.metas.get(name);
    if (meta === undefined) this.metas.delete(name);
    else if (this.metas.has(name) || this.metas.size < MAX_CHANNELS) this.metas.set(name, meta);
    else this.log.warn({ channel: name, max: MAX_CHANNELS }, 'too many channels; ignored a new one');
    this.consumers.get(name)?.onMeta(meta);
    // Publishers refresh their meta every few seconds (bit rate); only a new state, codec or publisher changes the catalog.
    if (!sameListing(before, this.metas.get(name))) this.emit('change');
  }

  /** Subscribes to a channel's init and data for one listener (its producer). */
  listen(name: string, listener: ChannelListener): () => void {
    const topics = channelTopics(this.prefix, name);
    this.consumers.set(name, listener);
    this.link.addSubscription(topics.init, 1);
    this.link.addSubscription(topics.data, 0);
    return () => {
      if (this.consumers.get(name) !== listener) return;
      this.consumers.delete(name);
      this.link.removeSubscription(topics.init);
      this.link.removeSubscription(topics.data);
    };
  }

  close(): void {
    for (const name of [...this.consumers.keys()]) {
      const topics = channelTopics(this.prefix, name);
      this.link.removeSubscription(topics.init);
      this.link.removeSubscription(topics.data);
    }
    this.consumers.clear();
    this.link.removeSubscription(this.metaFilter);
  }
}

function sameListing(a: ChannelMeta | undefined, b: ChannelMeta | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.state === b.state && a.mimeCodec === b.mimeCodec && a.publisher === b.publisher && a.reason === b.reason && a.snapshots === b.snapshots;
}
