/**
 * The wall: a grid of <mqttcast-player> tiles, one per source or channel, each
 * captioned with its name, state and latency (and a channel's live/offline);
 * clicking a tile enlarges it. A channel's tile shows the channel's latest
 * snapshot until its first frame (the element does that, as it pauses a tile
 * scrolled out of sight). The tiles share the page's broker connection.
 */
import type { Catalog } from '../protocol/index.js';
import { formatMs, type StatsSnapshot } from './stats.js';
import type { ElementState, MqttcastPlayerElement, PlayerCredentials } from './player-element.js';
import { liveChannelOf } from './player-element-poster.js';

export interface WallSettings {
  /** `broker` attribute of every tile ('' for the default). */
  broker: string;
  prefix: string;
  credentials: PlayerCredentials | null;
  mode: string;
}

/** Most tiles the Wall button puts up from the catalog. */
export const WALL_MAX_TILES = 9;

/** `?wall=cam1,cam2,demo`: names, trimmed, without empties or repeats. */
export function parseWallParam(value: string | null): string[] {
  if (value === null) return [];
  return [...new Set(value.split(',').map((n) => n.trim()).filter(Boolean))];
}

/**
 * A wall name as the server knows it: a named source, else a channel `live/<name>`
 * (live, or offline with its last picture), else as given (a URL, or not yet listed).
 */
export function resolveWallName(name: string, catalog: Catalog | null): string {
  const names = new Set(catalog?.sources.map((s) => s.name) ?? []);
  if (names.has(name) || name.includes('://')) return name;
  const channel = `live/${name}`;
  return names.has(channel) || catalog?.channels.some((c) => c.source === channel) ? channel : name;
}

/** A channel tile's badge: `live`, `offline`, or '' (not a channel, or not in the catalog). */
export function channelStateOf(source: string, catalog: Catalog | null): string {
  if (!liveChannelOf(source)) return '';
  return catalog?.channels.find((c) => c.source === source)?.state ?? '';
}

const STATE_TEXT: Record<ElementState, string> = {
  idle: 'idle',
  connecting: 'connecting…',
  describing: 'asking…',
  starting: 'starting…',
  playing: 'playing',
  recovering: 'recovering…',
  reconnecting: 'reconnecting…',
  ended: 'ended',
  error: 'error',
  paused: 'paused',
};

export class Wall {
  private tiles: HTMLElement[] = [];

  constructor(private readonly grid: HTMLElement) {
    grid.addEventListener('click', this.onClick);
    grid.addEventListener('keydown', this.onKey);
  }

  /** Replaces the tiles: the old players are removed (their sessions end), new ones start. */
  show(names: readonly string[], catalog: Catalog | null, settings: WallSettings): void {
    this.clear();
    this.tiles = names.map((name) => this.tile(name, resolveWallName(name, catalog), settings));
    this.grid.dataset.count = String(this.tiles.length);
    this.grid.replaceChildren(...this.tiles);
    this.showCatalog(catalog);
  }

  /** Each channel tile's live/offline badge, from the latest catalog. */
  showCatalog(catalog: Catalog | null): void {
    for (const tile of this.tiles) {
      const badge = tile.querySelector<HTMLElement>('.tile-channel')!;
      const state = channelStateOf(tile.dataset.source ?? '', catalog);
      badge.dataset.state = state;
      badge.textContent = state;
      badge.hidden = state === '';
    }
  }

  clear(): void {
    this.grid.replaceChildren();
    this.tiles = [];
  }

  destroy(): void {
    this.clear();
    this.grid.removeEventListener('click', this.onClick);
    this.grid.removeEventListener('keydown', this.onKey);
  }

  private tile(name: string, source: string, settings: WallSettings): HTMLElement {
    const tile = document.createElement('figure');
    tile.className = 'tile';
    tile.tabIndex = 0;
    tile.dataset.source = source;
    tile.setAttribute('aria-label', `${name}: click to enlarge`);
    const player = document.createElement('mqttcast-player') as MqttcastPlayerElement;
    if (settings.broker) player.setAttribute('broker', settings.broker);
    if (settings.prefix) player.setAttribute('prefix', settings.prefix);
    player.setAttribute('mode', settings.mode);
    player.credentials = settings.credentials;
    player.toggleAttribute('muted', true);
    player.toggleAttribute('autoplay', true);
    player.setAttribute('source', source);
    const caption = document.createElement('figcaption');
    const label = document.createElement('span');
    label.className = 'tile-name';
    label.textContent = name;
    const channel = document.createElement('span');
    channel.className = 'tile-channel';
    channel.hidden = true;
    const state = document.createElement('span');
    state.className = 'tile-state';
    state.textContent = STATE_TEXT.idle;
    const latency = document.createElement('span');
    latency.className = 'tile-latency';
    latency.textContent = '—';
    caption.append(label, channel, state, latency);
    player.addEventListener('statechange', (e) => {
      const s = (e as CustomEvent<{ state: ElementState }>).detail.state;
      tile.dataset.state = s;
      state.textContent = s === 'error' && player.error ? player.error.code : STATE_TEXT[s];
    });
    player.addEventListener('stats', (e) => {
      latency.textContent = formatMs((e as CustomEvent<StatsSnapshot>).detail.latencyMs);
    });
    tile.append(player, caption);
    return tile;
  }

  private toggle(tile: HTMLElement): void {
    const enlarge = !tile.classList.contains('enlarged');
    for (const t of this.tiles) t.classList.toggle('enlarged', enlarge && t === tile);
    tile.scrollIntoView({ block: 'nearest' });
  }

  private readonly onClick = (event: MouseEvent): void => {
    const tile = (event.target as Element | null)?.closest('.tile');
    if (tile instanceof HTMLElement) this.toggle(tile);
  };

  private readonly onKey = (event: KeyboardEvent): void => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    const tile = (event.target as Element | null)?.closest('.tile');
    if (!(tile instanceof HTMLElement)) return;
    event.preventDefault();
    this.toggle(tile);
  };
}
