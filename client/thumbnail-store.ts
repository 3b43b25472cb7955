/**
 * The latest still picture of each live channel, as an object URL an <img> can show.
 * Bounded: at most MAX_THUMBNAILS channels (the least recently updated one goes when a
 * new one would pass that), pictures of at most MAX_SNAPSHOT_BYTES, JPEG only. Every URL
 * it made is revoked when its picture is replaced, cleared, evicted, or on close().
 */
import { isJpeg } from '../protocol/index.js';
import { Emitter } from './emitter.js';

/** Most channels whose picture is kept. */
export const MAX_THUMBNAILS = 1000;
/** Largest snapshot payload taken; bigger ones are ignored (the previous picture stays). */
export const MAX_SNAPSHOT_BYTES = 1024 * 1024;

/** Makes and frees object URLs; the browser's `URL.createObjectURL` by default, a fake in tests. */
export interface ObjectUrls {
  create(jpeg: Uint8Array<ArrayBuffer>): string;
  revoke(url: string): void;
}

export const browserObjectUrls: ObjectUrls = {
  create: (jpeg) => URL.createObjectURL(new Blob([jpeg], { type: 'image/jpeg' })),
  revoke: (url) => URL.revokeObjectURL(url),
};

export type ThumbnailEvents = {
  /** A channel's picture changed: its new URL, or null when it has none any more. */
  change: (channel: string, url: string | null) => void;
};

/** What put() did with a payload. */
export type PutOutcome = 'stored' | 'cleared' | 'too-large' | 'not-jpeg' | 'closed';


export class ThumbnailStore extends Emitter<ThumbnailEvents> {
  /** channel → URL, least recently updated first (a Map keeps insertion order). */
  private readonly urls = new Map<string, string>();
  private closed = false;

  constructor(
    private readonly objectUrls: ObjectUrls = browserObjectUrls,
    private readonly maxEntries = MAX_THUMBNAILS,
  ) {
    super();
  }

  get size(): number {
    return this.urls.size;
  }

  /** The channel's latest picture, or null. */
  get(channel: string): string | null {
    return this.urls.get(channel) ?? null;
  }

  /** Takes a snapshot payload: a JPEG replaces the channel's picture, an empty payload clears it. */
  put(channel: string, payload: Uint8Array<ArrayBuffer>): PutOutcome {
    if (payload.length === 0) {
      this.remove(channel);
      return 'cleared';
    }
    if (payload.length > MAX_SNAPSHOT_BYTES) return 'too-large';
    if (this.closed) return 'closed';
    if (!isJpeg(payload)) return 'not-jpeg';
    const old = this.urls.get(channel);
    this.urls.delete(channel); // re-inserted last: now the most recently updated
    if (old === undefined && this.urls.size >= this.maxEntries) this.evictOldest();
    const url = this.objectUrls.create(payload);
    this.urls.set(channel, url);
    if (old !== undefined) this.objectUrls.revoke(old);
    this.emit('change', channel, url);
    return 'stored';
  }

  /** Forgets every picture (e.g. another topic prefix): one `change` to null each. */
  clear(): void {
    for (const channel of [...this.urls.keys()]) this.remove(channel);
  }

  /** Revokes every URL; the store takes nothing more. */
  close(): void {
    this.closed = true;
    for (const url of this.urls.values()) this.objectUrls.revoke(url);
    this.urls.clear();
    this.removeAllListeners();
  }

  private remove(channel: string): void {
    const url = this.urls.get(channel);
    if (url === undefined) return;
    this.urls.delete(channel);
    this.objectUrls.revoke(url);
    this.emit('change', channel, null);
  }

  private evictOldest(): void {
    const oldest = this.urls.keys().next();
    if (!oldest.done) this.remove(oldest.value);
  }
}
