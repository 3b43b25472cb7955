/**
 * The page: one <mqttcast-player> driven by the form (source, decoder, broker,
 * credentials), its state, errors and stats shown around it, the sources as
 * cards with each live channel's latest snapshot, the wall view
 * (`?wall=cam1,cam2,demo`), the Go-live panel, and the read-only
 * `window.mqttcast` debug object used by tests. All playing is the element's.
 */
import { DEFAULT_PREFIX, isValidPrefix, type Catalog } from '../protocol/index.js';
import type { PlayerError } from './errors.js';
import { mountGoLive } from './go-live/go-live-panel.js';
import { createLogger, debugRequested } from './log.js';
import type { EngineKind } from './media-sink.js';
import { isBrokerUrl, sameOriginBrokerUrl, type ConnectionState } from './mqtt-connection.js';
import { defineMqttcastPlayer, type ElementState, type PlayerCredentials } from './player-element.js';
import type { PlayTarget } from './requests.js';
import { loadBrokerUrl, loadCredentials, saveBrokerUrl, saveCredentials } from './settings.js';
import type { StatsSnapshot } from './stats.js';
import { findElements, Ui } from './ui.js';
import { WALL_MAX_TILES, Wall, parseWallParam } from './wall.js';

export interface MqttcastDebug {
  readonly state: ElementState;
  readonly stats: StatsSnapshot;
  readonly lastError: PlayerError | null;
  readonly connection: ConnectionState;
  readonly clientId: string;
  readonly replyTopic: string;
  readonly brokerUrl: string;
  readonly catalog: Catalog | null;
  /** The decoder in use: `mse` or `webcodecs`. */
  readonly engine: EngineKind | null;
}

declare global {
  interface Window {
    readonly mqttcast: MqttcastDebug;
  }
}

const log = createLogger('main', debugRequested(location.search));
const params = new URLSearchParams(location.search);
const prefixParam = params.get('prefix') ?? '';
const prefix = isValidPrefix(prefixParam) ? prefixParam : DEFAULT_PREFIX;
/** `?latency=0.3` is read by the player itself; `?mode=webcodecs` or the radio buttons pick the decoder. */
const requestedEngine: EngineKind = params.get('mode') === 'webcodecs' ? 'webcodecs' : 'mse';
let credentials: PlayerCredentials = loadCredentials(log);

// Configure the element before it upgrades, so it connects once, with the right broker.
const raw = document.getElementById('player');
raw?.setAttribute('mode', requestedEngine);
if (prefix !== DEFAULT_PREFIX) raw?.setAttribute('prefix', prefix);
if (loadBrokerUrl(log)) raw?.setAttribute('broker', loadBrokerUrl(log));
if (raw) (raw as { credentials?: PlayerCredentials }).credentials = credentials;
defineMqttcastPlayer();

const elements = findElements(document);
const player = elements.player;
const ui = new Ui(elements, (channel) => player.snapshotUrl(channel));
// The element keeps every channel's latest snapshot on its connection, for the source cards.
player.snapshots = true;
const wall = new Wall(ui.el.wall);

function selectEngine(kind: EngineKind): void {
  player.setAttribute('mode', kind);
  ui.showEngine(player.engine ?? kind, player.notice, player.available.webcodecs, player.available.mse);
  const url = new URL(location.href);
  if (kind === 'webcodecs') url.searchParams.set('mode', 'webcodecs');
  else url.searchParams.delete('mode');
  history.replaceState(history.state, '', url);
}

function showError(): void {
  ui.showError(player.error);
}

/** Applies the broker fields; returns false (and says why) when the URL is not a WebSocket URL. */
function applyBrokerField(): boolean {
  const typed = ui.el.brokerUrl.value.trim();
  if (typed && !isBrokerUrl(typed)) {
    player.setAttribute('broker', typed); // the element shows BROKER_URL_INVALID
    return false;
  }
  saveBrokerUrl(typed, log);
  credentials = { username: ui.el.username.value.trim() || undefined, password: ui.el.password.value || undefined };
  saveCredentials(credentials, log);
  if (typed) player.setAttribute('broker', typed);
  else player.removeAttribute('broker');
  player.credentials = credentials;
  return true;
}

function sourceOf(target: PlayTarget): string {
  return 'url' in target ? target.url : target.source;
}

// --- wall ---

function wallNames(): string[] {
  return parseWallParam(new URL(location.href).searchParams.get('wall'));
}

function showWall(names: string[]): void {
  const url = new URL(location.href);
  if (names.length > 0) url.searchParams.set('wall', names.join(','));
  else url.searchParams.delete('wall');
  history.replaceState(history.state, '', url);
  ui.showWall(names.length > 0);
  ui.el.wallNames.value = names.join(', ');
  if (names.length === 0) {
    wall.clear();
    return;
  }
  // The player view's own picture is now out of sight: it pauses by itself, and resumes on the way back.
  wall.show(names, player.catalog, {
    broker: player.getAttribute('broker') ?? '',
    prefix: player.getAttribute('prefix') ?? '',
    credentials: credentials.username || credentials.password ? credentials : null,
    mode: player.getAttribute('mode') ?? 'auto',
  });
}

/** The wall names channels by their short name: wait (a moment) for the catalog to resolve them. */
function showWallWhenCatalogKnown(names: string[]): void {
  if (player.catalog) return showWall(names);
  ui.showWall(true);
  const timer = setTimeout(() => showWall(names), 2500);
  player.addEventListener('catalog', () => {
    clearTimeout(timer);
    showWall(names);
  }, { once: true });
}

ui.el.wallToggle.addEventListener('click', () => {
  if (!ui.el.wallView.hidden) return showWall([]);
  const fromCatalog = (player.catalog?.sources ?? []).map((s) => s.name).slice(0, WALL_MAX_TILES);
  showWall(fromCatalog.length > 0 ? fromCatalog : ['demo']);
});
ui.el.wallForm.addEventListener('submit', (event) => {
  event.preventDefault();
  showWall(parseWallParam(ui.el.wallNames.value));
});

// --- player view ---

/** The hint over the stage names what Start will play (a typed URL wins over the list). */
function showChoice(): void {
  ui.showChoice(ui.el.url.value.trim() ? '' : ui.el.source.value);
}

/**
 * Before Start, the stage shows the chosen source: the element, given the source but
 * not asked to play, shows a live channel's latest snapshot as its poster.
 */
function previewChoice(): void {
  showChoice();
  if (player.state !== 'idle' || player.getAttribute('source') === ui.el.source.value) return;
  player.setAttribute('source', ui.el.source.value);
}

ui.el.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!applyBrokerField()) return;
  player.play(sourceOf(ui.readTarget()));
});
ui.el.stop.addEventListener('click', () => player.stop());
ui.el.source.addEventListener('change', previewChoice);
ui.el.url.addEventListener('input', showChoice);
ui.el.engineMse.addEventListener('change', () => selectEngine(ui.readEngine()));
ui.el.engineWebCodecs.addEventListener('change', () => selectEngine(ui.readEngine()));
ui.el.connect.addEventListener('click', () => applyBrokerField());
ui.el.brokerUrl.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  applyBrokerField();
});

player.addEventListener('statechange', () => {
  ui.showState(player.state, player.stateDetail);
  ui.el.videoFrame.toggleAttribute('data-has-source', player.hasAttribute('source') && player.state !== 'idle');
});
player.addEventListener('errorchange', showError);
player.addEventListener('stats', (e) => ui.showStats((e as CustomEvent<StatsSnapshot>).detail, player.history.latency, player.history.bitrate));
player.addEventListener('connection', (e) => {
  ui.showConnection((e as CustomEvent<ConnectionState>).detail);
  ui.el.clientId.textContent = player.clientId || '—';
});
player.addEventListener('catalog', (e) => {
  const catalog = (e as CustomEvent<Catalog>).detail;
  ui.showSources(catalog);
  wall.showCatalog(catalog);
  previewChoice();
});
player.addEventListener('snapshot', () => ui.showPictures());

const debug: MqttcastDebug = Object.freeze({
  get state() {
    return player.state;
  },
  get stats() {
    return player.stats;
  },
  get lastError() {
    const err = player.error;
    return err ? { ...err } : null;
  },
  get connection() {
    return player.connection;
  },
  get clientId() {
    return player.clientId;
  },
  get replyTopic() {
    return player.replyTopic;
  },
  get brokerUrl() {
    return player.brokerUrl;
  },
  get catalog() {
    return player.catalog;
  },
  get engine() {
    return player.engine;
  },
});
Object.defineProperty(window, 'mqttcast', { value: debug, writable: false, configurable: false, enumerable: true });

ui.el.clientId.textContent = player.clientId || '—';
ui.el.brokerUrl.value = loadBrokerUrl(log);
ui.el.username.value = credentials.username ?? '';
ui.el.password.value = credentials.password ?? '';
ui.el.defaultBroker.textContent = sameOriginBrokerUrl(location);
selectEngine(requestedEngine);
ui.showConnection(player.connection);
ui.showState(player.state, '');
showError();
if (player.catalog) ui.showSources(player.catalog);
if (wallNames().length > 0) showWallWhenCatalogKnown(wallNames());

// Go live (client/go-live/): publish this browser's camera as a channel, with the page's broker, credentials and prefix.
mountGoLive(ui.el.goLive, {
  context: () => ({ brokerUrl: player.brokerUrl, ...credentials, prefix: player.catalog?.prefix ?? prefix, clientId: player.clientId }),
  log: log.child('go-live'),
});
