/**
 * Live channels' snapshots (`P/live/<name>/snapshot`, retained JPEGs) on a shared broker
 * connection: one wildcard subscription per connection, made again after every
 * reconnect, feeding one ThumbnailStore that every element of the page on that
 * connection reads. Counted by reference: the last user to let go frees the pictures.
 */
import { channelFilter, parseChannelTopic } from '../protocol/index.js';
import type { BrokerLink } from './broker-link.js';
import type { Logger } from './log.js';
import { ThumbnailStore, type ObjectUrls } from './thumbnail-store.js';

/** One user's hold on a connection's pictures. */
export interface SnapshotLease {
  readonly store: ThumbnailStore;
  /** Lets go; the pictures are freed when nobody else holds them. Idempotent. */
  release(): void;
}

/** The part of a BrokerLink the feed uses. */
export type SnapshotLink = Pick<BrokerLink, 'ready' | 'route' | 'transport' | 'on'>;

export class SnapshotFeed {
  readonly store: ThumbnailStore;
  /** The prefix subscribed under, once subscribed. */
  private prefix: string | null = null;
  private readonly off: Array<() => void>;

  constructor(
    private readonly link: SnapshotLink,
    private readonly log: Logger,
    objectUrls?: ObjectUrls,
  ) {
    this.store = new ThumbnailStore(objectUrls);
    this.off = [link.on('ready', () => this.subscribe()), link.on('message', (topic, bytes) => this.onMessage(topic, bytes))];
    if (link.ready) this.subscribe();
  }

  /**
   * Stops taking pictures and revokes their URLs. The broker keeps sending them on the
   * connection until it closes (the connection has no unsubscribe); they are ignored.
   */
  close(): void {
    for (const off of this.off.splice(0)) off();
    this.store.close();
  }

  /** On every (re)connect: clean sessions forget subscriptions, and the prefix may have changed. */
  private subscribe(): void {
    const { prefix } = this.link.route;
    if (this.prefix !== null && this.prefix !== prefix) this.store.clear();
    this.prefix = prefix;
    this.link.transport
      ?.subscribe({ [channelFilter(prefix, 'snapshot')]: 0 })
      // A broker in secure mode may not let viewers read channels: the sources then show no pictures.
      .catch((err: unknown) => this.log.info('no channel snapshots on this broker', err));
  }

  private onMessage(topic: string, bytes: Uint8Array<ArrayBuffer>): void {
    if (this.prefix === null) return;
    const parsed = parseChannelTopic(this.prefix, topic);
    if (parsed?.kind !== 'snapshot') return;
    const outcome = this.store.put(parsed.name, bytes);
    if (outcome === 'too-large' || outcome === 'not-jpeg') this.log.warn(`ignored the snapshot of ${parsed.name} (${outcome})`, bytes.length);
  }
}

interface Entry {
  feed: SnapshotFeed;
  users: number;
}

const feeds = new WeakMap<SnapshotLink, Entry>();

/** A hold on the pictures of `link`'s connection; the first one subscribes. */
export function acquireSnapshots(link: SnapshotLink, log: Logger): SnapshotLease {
  let entry = feeds.get(link);
  if (!entry) {
    entry = { feed: new SnapshotFeed(link, log), users: 0 };
    feeds.set(link, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    store: held.feed.store,
    release: () => {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      if (feeds.get(link) === held) feeds.delete(link);
      held.feed.close();
    },
  };
}
