/**
 * Wiring: page ↔ broker connection ↔ catalog ↔ player, the last-will, and the
 * read-only `window.mqttcast` debug object used by tests.
 */
import { CatalogSchema, DEFAULT_PREFIX, createTopics, isValidPrefix, type Catalog } from '../protocol/index.js';
import { playerError, type PlayerError } from './errors.js';
import { createLogger, debugRequested } from './log.js';
import type { EngineKind, MediaEngine } from './media-sink.js';
import { findMediaSource } from './media-source.js';
import { MseEngine } from './mse-engine.js';
import { MqttConnection, isBrokerUrl, sameOriginBrokerUrl, type ConnectionState } from './mqtt-connection.js';
import { Player } from './player.js';
import { Requests, newClientId, type RequestRoute } from './requests.js';
import { loadBrokerUrl, loadCredentials, loadRoute, saveBrokerUrl, saveCredentials, saveRoute } from './settings.js';
import { findElements, Ui } from './ui.js';
import type { StatsSnapshot } from './stats.js';
import type { PlayerState } from './player.js';
import { WebCodecsEngine, hasWebCodecs } from './webcodecs-engine.js';
import { mountGoLive } from './go-live/go-live-panel.js';

export interface MqttcastDebug {
  readonly state: PlayerState;
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

/** How long to wait for the retained catalog before assuming open mode. */
const CATALOG_WAIT_MS = 2000;

const log = createLogger('main', debugRequested(location.search));
const ui = new Ui(findElements(document));
const params = new URLSearchParams(location.search);
const catalogPrefix = isValidPrefix(params.get('prefix') ?? '') ? params.get('prefix')! : DEFAULT_PREFIX;
const catalogTopic = createTopics(catalogPrefix).catalog;
const clientId = newClientId(() => crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32);
const impl = findMediaSource();
/** `?latency=0.3`: a fixed live-edge target in seconds, for experiments (0.05 to 5); by default it follows the measured jitter. */
const latencyParam = Number(params.get('latency'));
const liveTargetS = latencyParam >= 0.05 && latencyParam <= 5 ? latencyParam : undefined;

const mseEngine = impl ? new MseEngine(ui.el.video, impl) : null;
const webCodecsEngine = hasWebCodecs() ? new WebCodecsEngine(ui.el.canvas, log.child('webcodecs')) : null;
const mseFallback = impl && !webCodecsEngine ? new MseEngine(ui.el.video, impl, 'MSE (no WebCodecs here)') : null;

/** The engine for a choice, falling back to the other one (and saying so) where the browser lacks it. */
function engineFor(kind: EngineKind): { engine: MediaEngine | null; notice: string } {
  if (kind === 'webcodecs' && webCodecsEngine) return { engine: webCodecsEngine, notice: '' };
  if (kind === 'webcodecs' && mseFallback) {
    return { engine: mseFallback, notice: 'This browser has no WebCodecs (VideoDecoder): playing with MSE instead.' };
  }
  if (mseEngine) return { engine: mseEngine, notice: '' };
  if (webCodecsEngine) return { engine: webCodecsEngine, notice: 'This browser has no Media Source Extensions: playing with WebCodecs instead.' };
  return { engine: null, notice: '' };
}

/** `?mode=webcodecs` or the radio buttons: which decoder to use. */
const requestedEngine: EngineKind = params.get('mode') === 'webcodecs' ? 'webcodecs' : 'mse';
const player = new Player({ log: log.child('player'), engine: engineFor(requestedEngine).engine, liveTargetS });

function selectEngine(kind: EngineKind): void {
  const { engine, notice } = engineFor(kind);
  ui.showEngine(engine?.kind ?? kind, notice, webCodecsEngine !== null, mseEngine !== null);
  player.setEngine(engine);
  const url = new URL(location.href);
  if (kind === 'webcodecs') url.searchParams.set('mode', 'webcodecs');
  else url.searchParams.delete('mode');
  history.replaceState(history.state, '', url);
}

let brokerUrl = loadBrokerUrl(log) || sameOriginBrokerUrl(location);
/** Credentials for a broker in secure mode: the name is remembered, the password kept for this tab only. */
let credentials = loadCredentials(log);
let route: RequestRoute = loadRoute(brokerUrl, log) ?? { prefix: catalogPrefix, secure: false };
let connection: MqttConnection | null = null;
let catalog: Catalog | null = null;
let brokerError: PlayerError | null = null;
/** A problem of this browser, shown until the page is reloaded. */
const browserError: PlayerError | null = impl || webCodecsEngine ? null : playerError('MSE_UNSUPPORTED');
let catalogTimer: ReturnType<typeof setTimeout> | undefined;
/** The connection the player was last attached to (attach once per connect). */
let attachedTo: MqttConnection | null = null;

function currentError(): PlayerError | null {
  return player.lastError ?? brokerError ?? browserError;
}

function showError(): void {
  ui.showError(currentError());
}

function connect(url: string): void {
  clearTimeout(catalogTimer);
  connection?.destroy();
  player.detach();
  brokerUrl = url;
  const requests = new Requests(clientId, route, credentials.username);
  const stop = requests.stop();
  const conn = new MqttConnection({
    url,
    clientId,
    ...credentials,
    will: { topic: stop.topic, payload: stop.payload },
    log: log.child('mqtt'),
  });
  connection = conn;
  ui.showConnection(conn.state);
  conn.on('state', (state) => {
    ui.showConnection(state);
    if (state === 'connected') onConnected(conn);
    else {
      clearTimeout(catalogTimer);
      attachedTo = null;
      player.detach();
    }
  });
  conn.on('problem', (message, refused) => {
    if (conn.everConnected && !refused) return; // a drop: the state says "Reconnecting…"
    if (refused) brokerError = playerError('BROKER_REFUSED', message);
    else if (brokerError?.code !== 'BROKER_REFUSED') brokerError = playerError('BROKER_UNREACHABLE', `${message}. Retrying…`);
    showError();
  });
  conn.on('message', (topic, bytes) => {
    if (topic === catalogTopic) onCatalog(conn, bytes);
    else player.handleMessage(topic, bytes);
  });
}

function onConnected(conn: MqttConnection): void {
  brokerError = null;
  showError();
  conn.subscribe({ [catalogTopic]: 1 }).catch((err: unknown) => log.warn('catalog subscription failed', err));
  clearTimeout(catalogTimer);
  catalogTimer = setTimeout(() => ready(conn), catalog ? 0 : CATALOG_WAIT_MS);
}

function onCatalog(conn: MqttConnection, bytes: Uint8Array): void {
  let parsed: Catalog;
  try {
    parsed = CatalogSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
  } catch (err) {
    log.warn('ignoring an invalid catalog', err);
    return;
  }
  catalog = parsed;
  ui.showSources(parsed);
  const next: RequestRoute = { prefix: isValidPrefix(parsed.prefix) ? parsed.prefix : route.prefix, secure: parsed.secure };
  if (next.prefix !== route.prefix || next.secure !== route.secure) {
    // The last-will names the stop topic, which depends on the mode: reconnect with the right one.
    route = next;
    saveRoute(brokerUrl, route, log);
    connect(brokerUrl);
    return;
  }
  ready(conn);
}

function ready(conn: MqttConnection): void {
  clearTimeout(catalogTimer);
  if (conn !== connection || !conn.connected || attachedTo === conn) return;
  attachedTo = conn;
  player.attach(conn, new Requests(clientId, route, credentials.username));
}

/** Applies the broker URL field; returns false (and says why) when it is not a WebSocket URL. */
function applyBrokerField(): boolean {
  const typed = ui.el.brokerUrl.value.trim();
  const url = typed || sameOriginBrokerUrl(location);
  if (!isBrokerUrl(url)) {
    brokerError = playerError('BROKER_URL_INVALID', typed);
    showError();
    return false;
  }
  saveBrokerUrl(typed, log);
  const typedCredentials = { username: ui.el.username.value.trim() || undefined, password: ui.el.password.value || undefined };
  const credentialsChanged = typedCredentials.username !== credentials.username || typedCredentials.password !== credentials.password;
  credentials = typedCredentials;
  saveCredentials(credentials, log);
  if (url !== brokerUrl || !connection || credentialsChanged) {
    brokerError = null;
    route = loadRoute(url, log) ?? { prefix: catalogPrefix, secure: false };
    catalog = null;
    connect(url);
  }
  return true;
}

ui.el.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!applyBrokerField()) return;
  player.start(ui.readTarget());
});
ui.el.stop.addEventListener('click', () => player.stop());
ui.el.engineMse.addEventListener('change', () => selectEngine(ui.readEngine()));
ui.el.engineWebCodecs.addEventListener('change', () => selectEngine(ui.readEngine()));
ui.el.sound.addEventListener('click', () => {
  if (!webCodecsEngine) return;
  webCodecsEngine.muted = !webCodecsEngine.muted;
  ui.showSound(webCodecsEngine.muted);
});
ui.el.connect.addEventListener('click', () => applyBrokerField());
ui.el.brokerUrl.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  applyBrokerField();
});

player.on('state', (state, detail) => ui.showState(state, detail));
player.on('error', () => showError());
player.on('stats', (stats) => ui.showStats(stats, player.stats.latencyHistory.values, player.stats.bitrateHistory.values));

window.addEventListener('pagehide', () => {
  player.pagehide();
  connection?.end().catch((err: unknown) => log.warn('disconnect failed', err));
});
window.addEventListener('pageshow', (event) => {
  if (event.persisted) connect(brokerUrl);
});

const debug: MqttcastDebug = Object.freeze({
  get state() {
    return player.state;
  },
  get stats() {
    return player.snapshot();
  },
  get lastError() {
    const err = currentError();
    return err ? { ...err } : null;
  },
  get connection() {
    return connection?.state ?? 'closed';
  },
  clientId,
  get replyTopic() {
    return new Requests(clientId, route, credentials.username).replyTopic;
  },
  get brokerUrl() {
    return brokerUrl;
  },
  get catalog() {
    return catalog;
  },
  get engine() {
    return player.engine?.kind ?? null;
  },
});
Object.defineProperty(window, 'mqttcast', { value: debug, writable: false, configurable: false, enumerable: true });

ui.el.clientId.textContent = clientId;
ui.el.brokerUrl.value = loadBrokerUrl(log);
ui.el.username.value = credentials.username ?? '';
ui.el.password.value = credentials.password ?? '';
ui.el.defaultBroker.textContent = sameOriginBrokerUrl(location);
selectEngine(requestedEngine);
ui.showSound(true);
ui.showState(player.state, '');
showError();
connect(brokerUrl);

// Go live (client/go-live/): publish this browser's camera as a channel, with the page's broker, credentials and prefix.
mountGoLive(document.getElementById('go-live'), { context: () => ({ brokerUrl, ...credentials, prefix: route.prefix, clientId }), log: log.child('go-live') });
