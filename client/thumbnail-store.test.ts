import { describe, expect, it } from 'vitest';
import { isJpeg } from '../protocol/index.js';
import { MAX_SNAPSHOT_BYTES, ThumbnailStore, type ObjectUrls } from './thumbnail-store.js';

/** Counts the URLs made and revoked, so a leak shows as live URLs left over. */
class CountingUrls implements ObjectUrls {
  made = 0;
  readonly live = new Set<string>();
  create(): string {
    const url = `blob:test/${++this.made}`;
    this.live.add(url);
    return url;
  }
  revoke(url: string): void {
    expect(this.live.has(url)).toBe(true); // never revoked twice, never one it did not make
    this.live.delete(url);
  }
}

const jpeg = (n = 1): Uint8Array<ArrayBuffer> => new Uint8Array([0xff, 0xd8, 0xff, 0xe0, n]);

describe('ThumbnailStore', () => {
  it('keeps one URL per channel: a new picture replaces (and revokes) the old one, an empty payload clears it', () => {
    const urls = new CountingUrls();
    const store = new ThumbnailStore(urls);
    const changes: Array<[string, string | null]> = [];
    store.on('change', (channel, url) => changes.push([channel, url]));
    expect(store.put('cam1', jpeg(1))).toBe('stored');
    const first = store.get('cam1');
    expect(store.put('cam1', jpeg(2))).toBe('stored');
    expect(store.get('cam1')).not.toBe(first);
    expect([...urls.live]).toEqual([store.get('cam1')]);
    expect(store.put('cam1', new Uint8Array(0))).toBe('cleared');
    expect(store.get('cam1')).toBeNull();
    expect(urls.live.size).toBe(0);
    expect(changes.map(([c, u]) => [c, u === null ? null : 'url'])).toEqual([['cam1', 'url'], ['cam1', 'url'], ['cam1', null]]);
    expect(store.put('cam2', new Uint8Array(0))).toBe('cleared'); // nothing to clear: no event
    expect(changes).toHaveLength(3);
  });

  it('ignores payloads over 1 MiB and anything that is not a JPEG, keeping the previous picture', () => {
    const urls = new CountingUrls();
    const store = new ThumbnailStore(urls);
    store.put('cam1', jpeg());
    const kept = store.get('cam1');
    const huge = new Uint8Array(MAX_SNAPSHOT_BYTES + 1);
    huge.set([0xff, 0xd8, 0xff]);
    expect(store.put('cam1', huge)).toBe('too-large');
    expect(store.put('cam1', new TextEncoder().encode('{"not":"a picture"}'))).toBe('not-jpeg');
    expect(store.get('cam1')).toBe(kept);
    expect(urls.made).toBe(1);
    const limit = new Uint8Array(MAX_SNAPSHOT_BYTES);
    limit.set([0xff, 0xd8, 0xff]);
    expect(store.put('cam1', limit)).toBe('stored');
  });

  it('holds at most maxEntries channels: a new channel evicts the least recently updated one', () => {
    const urls = new CountingUrls();
    const store = new ThumbnailStore(urls, 3);
    const cleared: string[] = [];
    store.on('change', (channel, url) => url === null && cleared.push(channel));
    for (const name of ['a', 'b', 'c']) store.put(name, jpeg());
    store.put('a', jpeg(2)); // a is now the freshest; b the oldest
    store.put('d', jpeg());
    expect(cleared).toEqual(['b']);
    expect(['a', 'b', 'c', 'd'].map((n) => store.get(n) !== null)).toEqual([true, false, true, true]);
    expect(store.size).toBe(3);
    expect(urls.live.size).toBe(3);
    for (let i = 0; i < 100; i++) store.put(`cam${i}`, jpeg());
    expect(store.size).toBe(3);
    expect(urls.live.size).toBe(3);
  });

  it('revokes everything on close and takes nothing after', () => {
    const urls = new CountingUrls();
    const store = new ThumbnailStore(urls);
    store.put('a', jpeg());
    store.put('b', jpeg());
    store.close();
    expect(urls.live.size).toBe(0);
    expect(store.put('c', jpeg())).toBe('closed');
    expect(store.size).toBe(0);
    expect(urls.live.size).toBe(0);
  });

  it('takes what protocol\'s isJpeg recognises: SOI and a marker', () => {
    expect(isJpeg(jpeg())).toBe(true);
    expect(isJpeg(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBe(false);
    expect(isJpeg(new Uint8Array([0xff, 0xd8]))).toBe(false);
  });
});
