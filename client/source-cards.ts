/**
 * The page's source list as cards: each source's picture (a live channel's latest
 * snapshot, else a placeholder), its name and its state. A click picks the source
 * (the page's <select> follows); offline channels are shown but cannot be picked.
 */
import type { Catalog } from '../protocol/index.js';
import { liveChannelOf } from './player-element-poster.js';

export type SourceState = 'live' | 'offline' | 'source';

export interface SourceEntry {
  /** What to play: `demo`, `live/cam1`. */
  source: string;
  /** What the card says: the channel name for a channel, else the source name. */
  label: string;
  description: string;
  /** The channel name for a live channel, whose snapshot is the picture. */
  channel: string | null;
  state: SourceState;
  /** Why an offline channel is offline (`stopped`, `connection_lost`, ...), or ''. */
  reason: string;
}

const STATE_TEXT: Record<SourceState, string> = { live: 'Live', offline: 'Offline', source: 'Source' };

/** The catalog's sources in its order, then its channels that are offline (not playable, but there). */
export function sourceEntries(catalog: Catalog): SourceEntry[] {
  const channels = new Map(catalog.channels.map((c) => [c.source, c]));
  const entries: SourceEntry[] = catalog.sources.map((s) => {
    const channel = channels.get(s.name) ? liveChannelOf(s.name) : null;
    const state: SourceState = channel ? (channels.get(s.name)!.state === 'offline' ? 'offline' : 'live') : 'source';
    return { source: s.name, label: channel ?? s.name, description: s.description, channel, state, reason: channels.get(s.name)?.reason ?? '' };
  });
  const listed = new Set(catalog.sources.map((s) => s.name));
  for (const c of catalog.channels) {
    if (listed.has(c.source) || c.state !== 'offline') continue;
    const channel = liveChannelOf(c.source);
    if (channel) entries.push({ source: c.source, label: channel, description: `Live channel ${channel} (from ${c.publisher})`, channel, state: 'offline', reason: c.reason ?? '' });
  }
  return entries;
}

/** What the state badge says: `Live`, `Offline (stopped)`, `Source`. */
export function stateText(entry: Pick<SourceEntry, 'state' | 'reason'>): string {
  const reason = entry.state === 'offline' && entry.reason ? ` (${entry.reason.replace(/_/g, ' ')})` : '';
  return STATE_TEXT[entry.state] + reason;
}

/** A channel's picture URL, or null. */
export type PictureLookup = (channel: string) => string | null;

export class SourceCards {
  private cards = new Map<string, { button: HTMLButtonElement; entry: SourceEntry }>();
  private selected = '';

  constructor(
    private readonly list: HTMLElement,
    private readonly pictureOf: PictureLookup,
    private readonly onPick: (source: string) => void,
  ) {
    list.addEventListener('click', this.onClick);
  }

  /** The cards of `entries`, in order; a source listed before keeps its card (and the focus, when the order stays). */
  show(entries: readonly SourceEntry[], selected: string): void {
    const before = [...this.cards.keys()];
    const previous = this.cards;
    this.cards = new Map(entries.map((entry) => {
      const button = previous.get(entry.source)?.button ?? this.card();
      fill(button, entry);
      return [entry.source, { button, entry }];
    }));
    const order = [...this.cards.keys()];
    if (order.length !== before.length || order.some((source, i) => source !== before[i])) {
      this.list.replaceChildren(...[...this.cards.values()].map(({ button }) => {
        const item = document.createElement('li');
        item.append(button);
        return item;
      }));
    }
    this.list.dataset.count = String(entries.length);
    this.select(selected);
    this.showPictures();
  }

  /** Marks the card of `source` as the chosen one. */
  select(source: string): void {
    this.selected = source;
    for (const [name, { button }] of this.cards) button.setAttribute('aria-pressed', String(name === source));
  }

  /** Shows each channel's latest picture (or the placeholder when it has none). */
  showPictures(): void {
    for (const { button, entry } of this.cards.values()) {
      const url = entry.channel ? this.pictureOf(entry.channel) : null;
      const thumb = button.querySelector<HTMLElement>('.thumb')!;
      const img = thumb.querySelector('img');
      if (url === null) {
        img?.remove();
        thumb.dataset.picture = 'none';
      } else if (img) {
        if (img.getAttribute('src') !== url) img.src = url;
      } else {
        const picture = document.createElement('img');
        picture.alt = `Latest picture of ${entry.label}`;
        picture.src = url;
        thumb.prepend(picture);
        thumb.dataset.picture = 'shown';
      }
    }
  }

  destroy(): void {
    this.list.removeEventListener('click', this.onClick);
    this.list.replaceChildren();
    this.cards.clear();
  }

  /** An empty card: picture (or placeholder), name, state; fill() writes them. */
  private card(): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'source-card';
    const thumb = document.createElement('span');
    thumb.className = 'thumb';
    thumb.dataset.picture = 'none';
    const placeholder = document.createElement('span');
    placeholder.className = 'thumb-placeholder';
    thumb.append(placeholder);
    const name = document.createElement('span');
    name.className = 'card-name';
    const state = document.createElement('span');
    state.className = 'card-state';
    button.append(thumb, name, state);
    return button;
  }

  private readonly onClick = (event: MouseEvent): void => {
    const button = (event.target as Element | null)?.closest('.source-card');
    if (!(button instanceof HTMLButtonElement) || button.disabled) return;
    const source = button.dataset.source ?? '';
    if (source === this.selected) return;
    this.select(source);
    this.onPick(source);
  };
}

/** Writes `entry` into its card. */
function fill(button: HTMLButtonElement, entry: SourceEntry): void {
  button.dataset.source = entry.source;
  button.dataset.state = entry.state;
  button.disabled = entry.state === 'offline';
  button.title = entry.description || entry.source;
  button.setAttribute('aria-label', `${entry.label}, ${stateText(entry)}${entry.description ? `: ${entry.description}` : ''}`);
  button.querySelector('.thumb-placeholder')!.textContent = entry.channel ? 'No picture yet' : 'No preview';
  button.querySelector('.card-name')!.textContent = entry.label;
  const state = button.querySelector<HTMLElement>('.card-state')!;
  state.dataset.state = entry.state;
  state.textContent = stateText(entry);
}
