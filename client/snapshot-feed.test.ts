import { EventEmitter } from 'node:events';
import type { IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { BrokerLink } from './broker-link.js';
import { createLogger } from './log.js';
import type { MqttClientLike } from './mqtt-connection.js';
import { PosterControl, liveChannelOf, pictureShown } from './player-element-poster.js';
import { SnapshotFeed, acquireSnapshots } from './snapshot-feed.js';
import type { ObjectUrls } from './thumbnail-store.js';

/** Stands in for MQTT.js's client: records subscriptions; the test emits its events by hand. */
class FakeClient extends EventEmitter implements MqttClientLike {
  connected = false;
  readonly subscriptions: string[] = [];
  constructor(readonly options: IClientOptions) {
    super();
  }
  async subscribeAsync(topics: Record<string, { qos: 0 | 1 }>) {
    this.subscriptions.push(...Object.keys(topics));
    return Object.entries(topics).map(([topic, { qos }]) => ({ topic, qos }));
  }
  async publishAsync() {
    return undefined;
  }
  async endAsync() {}
  end() {
    return this;
  }
  connect(): void {
    this.connected = true;
    this.emit('connect');
  }
}

const log = createLogger('test', false);
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const CATALOG = bytes(JSON.stringify({ protocol: 1, server: 'mqttcast', version: '0.1.0', prefix: 'video', secure: false, sources: [], allow: [] }));
const jpeg = (n = 1): Uint8Array => new Uint8Array([0xff, 0xd8, 0xff, 0xe0, n]);

/** A BrokerLink on a fake client, connected and ready (the catalog arrived). */
async function readyLink(): Promise<{ link: BrokerLink; client: FakeClient }> {
  let client: FakeClient | undefined;
  const link = new BrokerLink({
    key: { url: 'ws://127.0.0.1:1/mqtt', prefix: 'video' },
    log,
    connect: (_url, options) => (client = new FakeClient(options)),
  });
  client!.connect();
  client!.emit('message', 'video/catalog', CATALOG);
  await expect.poll(() => link.ready).toBe(true);
  return { link, client: client! };
}

class CountingUrls implements ObjectUrls {
  made = 0;
  readonly live = new Set<string>();
  create(): string {
    const url = `blob:test/${++this.made}`;
    this.live.add(url);
    return url;
  }
  revoke(url: string): void {
    this.live.delete(url);
  }
}

describe('SnapshotFeed', () => {
  it('subscribes once to every channel\'s snapshot, again after a reconnect, and keeps the pictures by channel', async () => {
    const { link, client } = await readyLink();
    const urls = new CountingUrls();
    const feed = new SnapshotFeed(link, log, urls);
    await expect.poll(() => client.subscriptions).toEqual(['video/catalog', 'video/live/+/snapshot']);
    client.emit('message', 'video/live/cam1/snapshot', jpeg());
    client.emit('message', 'video/live/cam1/meta', bytes('{}')); // another kind of channel topic
    client.emit('message', 'video/live/bad name/snapshot', jpeg()); // not a channel name
    client.emit('message', 'other/live/cam2/snapshot', jpeg()); // another prefix
    expect(feed.store.size).toBe(1);
    expect(feed.store.get('cam1')).toBe('blob:test/1');

    client.connected = false;
    client.emit('close');
    client.connect();
    client.emit('message', 'video/catalog', CATALOG);
    await expect.poll(() => client.subscriptions.filter((s) => s.endsWith('snapshot'))).toHaveLength(2);
    expect(feed.store.get('cam1')).toBe('blob:test/1'); // kept across the drop
    feed.close();
    expect(urls.live.size).toBe(0);
    client.emit('message', 'video/live/cam1/snapshot', jpeg(2));
    expect(urls.made).toBe(1);
    await link.close();
  });

  it('is shared by reference: every holder of a connection sees one store, the last release frees it', async () => {
    const { link, client } = await readyLink();
    const a = acquireSnapshots(link, log);
    const b = acquireSnapshots(link, log);
    expect(a.store).toBe(b.store);
    await expect.poll(() => client.subscriptions.filter((s) => s.endsWith('snapshot'))).toHaveLength(1);
    client.emit('message', 'video/live/cam1/snapshot', jpeg());
    expect(b.store.get('cam1')).toMatch(/^blob:/);
    a.release();
    a.release(); // twice is once
    expect(b.store.get('cam1')).toMatch(/^blob:/);
    b.release();
    expect(b.store.size).toBe(0);
    const c = acquireSnapshots(link, log); // a new hold subscribes again (and gets the retained pictures again)
    expect(c.store).not.toBe(a.store);
    await expect.poll(() => client.subscriptions.filter((s) => s.endsWith('snapshot'))).toHaveLength(2);
    c.release();
    await link.close();
  });
});

describe('poster', () => {
  it('finds the channel of a live/<name> source', () => {
    expect(liveChannelOf('live/cam1')).toBe('cam1');
    expect(liveChannelOf(' live/cam1 ')).toBe('cam1');
    expect(liveChannelOf('demo')).toBeNull();
    expect(liveChannelOf('live/a/b')).toBeNull();
    expect(liveChannelOf('rtsp://host/live/cam1')).toBeNull();
    expect(liveChannelOf(null)).toBeNull();
  });

  it('is shown until the first frame, and again whenever the decoder starts over', () => {
    expect(pictureShown('starting', false)).toBe(false);
    expect(pictureShown('playing', false)).toBe(true);
    expect(pictureShown('ended', true)).toBe(true); // the last frame stays
    expect(pictureShown('ended', false)).toBe(false);
    expect(pictureShown('recovering', true)).toBe(false);
    expect(pictureShown('idle', true)).toBe(false);
  });

  it('uses the poster attribute, else a live channel\'s latest snapshot, and holds the pictures only while it needs them', async () => {
    const { link, client } = await readyLink();
    const shown: Array<{ url: string | null; visible: boolean }> = [];
    const events: Array<string | null> = [];
    const poster = new PosterControl({ showPoster: (url, visible) => shown.push({ url, visible }) }, (channel) => events.push(channel), log);
    const last = (): { url: string | null; visible: boolean } => shown.at(-1)!;
    poster.setLink(link);
    poster.setSource('demo');
    expect(client.subscriptions.some((s) => s.endsWith('snapshot'))).toBe(false); // nothing to show: no subscription
    poster.setSource('live/cam1');
    await expect.poll(() => client.subscriptions.filter((s) => s.endsWith('snapshot'))).toHaveLength(1);
    expect(last().url).toBeNull();
    client.emit('message', 'video/live/cam2/snapshot', jpeg());
    expect(events).toEqual([null]); // another channel: not this element's business
    client.emit('message', 'video/live/cam1/snapshot', jpeg());
    expect(last()).toEqual({ url: poster.snapshotUrl('cam1'), visible: true });
    expect(events).toEqual([null, 'cam1']);

    poster.setState('playing');
    expect(last().visible).toBe(false);
    poster.setState('idle');
    expect(last().visible).toBe(true);

    poster.setAttribute('https://example.test/poster.jpg');
    expect(last().url).toBe('https://example.test/poster.jpg');
    expect(poster.snapshotUrl('cam1')).toBeNull(); // let go of the pictures: the attribute wins

    poster.setWatchAll(true); // for a source list: every channel's picture, each announced
    await expect.poll(() => client.subscriptions.filter((s) => s.endsWith('snapshot'))).toHaveLength(2);
    client.emit('message', 'video/live/cam2/snapshot', jpeg()); // a broker sends the retained ones again
    expect(poster.snapshotUrl('cam2')).toMatch(/^blob:/);
    expect(events.slice(-1)).toEqual(['cam2']);
    poster.close();
    expect(last().url).toBe('https://example.test/poster.jpg');
    expect(poster.snapshotUrl('cam2')).toBeNull();
    await link.close();
  });
});
