/**
 * The picture <mqttcast-player> shows until its first frame (like `<video poster>`):
 * the `poster` attribute's image, or — for a live channel (`live/<name>`) without one —
 * the channel's latest snapshot, kept up to date. Holds the connection's snapshots
 * (snapshot-feed.ts) only while it needs them: for that auto poster, or when the page
 * asked for every channel's picture (`snapshots = true`, for a source list).
 */
import { CHANNELS_LEVEL, isValidChannelName } from '../protocol/index.js';
import type { Logger } from './log.js';
import type { ElementState } from './player-element-view.js';
import { acquireSnapshots, type SnapshotLease, type SnapshotLink } from './snapshot-feed.js';

/** The channel name of a `source` such as `live/cam1`, or null for anything else. */
export function liveChannelOf(source: string | null): string | null {
  const value = source?.trim() ?? '';
  const head = `${CHANNELS_LEVEL}/`;
  if (!value.startsWith(head)) return null;
  const name = value.slice(head.length);
  return isValidChannelName(name) ? name : null;
}

/**
 * Whether the picture is on screen after `state`, given whether it was before: the first
 * frame shows it; an ended stream keeps its last frame; every other state starts over
 * on an empty picture (stop, restart, recovery and reconnect tear the decoder down).
 */
export function pictureShown(state: ElementState, wasShown: boolean): boolean {
  if (state === 'playing') return true;
  return state === 'ended' && wasShown;
}

export interface PosterView {
  showPoster(url: string | null, visible: boolean): void;
}

/** `channel` null: every picture may have changed (the element took or let go of a connection's pictures). */
export type SnapshotListener = (channel: string | null, url: string | null) => void;

export class PosterControl {
  private link: SnapshotLink | null = null;
  private lease: SnapshotLease | null = null;
  private offChange: (() => void) | null = null;
  private attribute: string | null = null;
  private channel: string | null = null;
  private watchAll = false;
  private picture = false;

  constructor(
    private readonly view: PosterView,
    private readonly onSnapshot: SnapshotListener,
    private readonly log: Logger,
  ) {}

  /** Whether every channel's picture is kept (and announced), not only this element's. */
  get all(): boolean {
    return this.watchAll;
  }

  /** The connection the element is on now, or null. */
  setLink(link: SnapshotLink | null): void {
    if (link === this.link) return;
    this.link = link;
    this.drop();
    this.update();
  }

  setAttribute(value: string | null): void {
    this.attribute = value?.trim() || null;
    this.update();
  }

  setSource(source: string | null): void {
    this.channel = liveChannelOf(source);
    this.update();
  }

  setWatchAll(on: boolean): void {
    this.watchAll = on;
    this.update();
  }

  setState(state: ElementState): void {
    this.picture = pictureShown(state, this.picture);
    this.render();
  }

  /** The latest snapshot of `channel`, when this element holds the pictures. */
  snapshotUrl(channel: string): string | null {
    return this.lease?.store.get(channel) ?? null;
  }

  /** The URL shown before the first frame, or null. */
  get url(): string | null {
    if (this.attribute) return this.attribute;
    return this.channel ? this.snapshotUrl(this.channel) : null;
  }

  close(): void {
    this.link = null;
    this.drop();
    this.render();
  }

  private update(): void {
    const needed = this.link !== null && (this.watchAll || (this.channel !== null && this.attribute === null));
    if (needed && !this.lease) this.hold(this.link!);
    else if (!needed && this.lease) this.drop();
    this.render();
  }

  private hold(link: SnapshotLink): void {
    const lease = acquireSnapshots(link, this.log.child('snapshots'));
    this.lease = lease;
    this.offChange = lease.store.on('change', (channel, url) => {
      if (channel === this.channel) this.render();
      if (this.watchAll || channel === this.channel) this.onSnapshot(channel, url);
    });
    this.onSnapshot(null, null);
  }

  private drop(): void {
    if (!this.lease) return;
    this.offChange?.();
    this.offChange = null;
    this.lease.release();
    this.lease = null;
    this.onSnapshot(null, null);
  }

  private render(): void {
    this.view.showPoster(this.url, !this.picture);
  }
}
