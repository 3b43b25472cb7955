/**
 * The page: element lookup, what the person sees (state, errors, stats,
 * sources as a list and as cards with pictures), and what they typed. No MQTT
 * or media logic here.
 */
import type { Catalog } from '../protocol/index.js';
import type { PlayerError } from './errors.js';
import type { EngineKind } from './media-sink.js';
import type { ConnectionState } from './mqtt-connection.js';
import { MqttcastPlayerElement, type ElementState } from './player-element.js';
import { renderError } from './player-element-view.js';
import type { PlayTarget } from './requests.js';
import { SourceCards, sourceEntries, type PictureLookup } from './source-cards.js';
import { Sparkline } from './sparkline.js';
import { formatBitrate, formatMs, formatResolution, type StatsSnapshot } from './stats.js';

const STAT_IDS = ['state', 'codec', 'mode', 'engine', 'resolution', 'bitrate', 'latency', 'buffer', 'frames', 'fps', 'audio', 'ttff', 'skipped'] as const;
type StatId = (typeof STAT_IDS)[number];

export interface UiElements {
  form: HTMLFormElement;
  source: HTMLSelectElement;
  sourceCards: HTMLElement;
  url: HTMLInputElement;
  brokerUrl: HTMLInputElement;
  username: HTMLInputElement;
  password: HTMLInputElement;
  connect: HTMLButtonElement;
  start: HTMLButtonElement;
  stop: HTMLButtonElement;
  player: MqttcastPlayerElement;
  playerView: HTMLElement;
  wallView: HTMLElement;
  wallToggle: HTMLButtonElement;
  wallForm: HTMLFormElement;
  wallNames: HTMLInputElement;
  wall: HTMLElement;
  goLive: HTMLElement;
  engineMse: HTMLInputElement;
  engineWebCodecs: HTMLInputElement;
  engineNotice: HTMLElement;
  videoFrame: HTMLElement;
  placeholderText: HTMLElement;
  state: HTMLElement;
  connection: HTMLElement;
  error: HTMLElement;
  stats: HTMLElement;
  statsToggle: HTMLButtonElement;
  clientId: HTMLElement;
  urlHint: HTMLElement;
  defaultBroker: HTMLElement;
  sparkLatency: SVGSVGElement;
  sparkBitrate: SVGSVGElement;
  stat: Record<StatId, HTMLElement>;
}

function byId<T extends Element>(doc: Document, id: string, type: { new (): T }): T {
  const el = doc.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page is missing #${id}`);
  return el;
}

export function findElements(doc: Document): UiElements {
  const html = (id: string): HTMLElement => byId(doc, id, HTMLElement);
  return {
    form: byId(doc, 'controls', HTMLFormElement),
    source: byId(doc, 'source', HTMLSelectElement),
    sourceCards: html('source-cards'),
    url: byId(doc, 'url', HTMLInputElement),
    brokerUrl: byId(doc, 'broker-url', HTMLInputElement),
    username: byId(doc, 'broker-username', HTMLInputElement),
    password: byId(doc, 'broker-password', HTMLInputElement),
    connect: byId(doc, 'connect', HTMLButtonElement),
    start: byId(doc, 'start', HTMLButtonElement),
    stop: byId(doc, 'stop', HTMLButtonElement),
    player: byId(doc, 'player', MqttcastPlayerElement),
    playerView: html('player-view'),
    wallView: html('wall-view'),
    wallToggle: byId(doc, 'wall-toggle', HTMLButtonElement),
    wallForm: byId(doc, 'wall-form', HTMLFormElement),
    wallNames: byId(doc, 'wall-names', HTMLInputElement),
    wall: html('wall'),
    goLive: html('go-live'),
    engineMse: byId(doc, 'engine-mse', HTMLInputElement),
    engineWebCodecs: byId(doc, 'engine-webcodecs', HTMLInputElement),
    engineNotice: html('engine-notice'),
    videoFrame: html('video-frame'),
    placeholderText: html('placeholder-text'),
    state: html('state'),
    connection: html('connection'),
    error: html('error'),
    stats: html('stats'),
    statsToggle: byId(doc, 'stats-toggle', HTMLButtonElement),
    clientId: html('client-id'),
    urlHint: html('url-hint'),
    defaultBroker: html('default-broker'),
    sparkLatency: byId(doc, 'spark-latency', SVGSVGElement),
    sparkBitrate: byId(doc, 'spark-bitrate', SVGSVGElement),
    stat: Object.fromEntries(STAT_IDS.map((id) => [id, html(`stat-${id}`)])) as Record<StatId, HTMLElement>,
  };
}

const STATE_TEXT: Record<ElementState, string> = {
  idle: 'Idle',
  connecting: 'Connecting to the broker…',
  describing: 'Asking the server about the source…',
  starting: 'Starting…',
  playing: 'Playing',
  recovering: 'Recovering…',
  reconnecting: 'Reconnecting…',
  ended: 'Ended',
  error: 'Error',
  paused: 'Paused while hidden',
};

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Disconnected',
};

export class Ui {
  private readonly latencySpark: Sparkline;
  private readonly bitrateSpark: Sparkline;
  private readonly cards: SourceCards;

  /** `pictureOf`: a live channel's latest snapshot, for the source cards. */
  constructor(readonly el: UiElements, pictureOf: PictureLookup = () => null) {
    this.latencySpark = new Sparkline(el.sparkLatency);
    this.bitrateSpark = new Sparkline(el.sparkBitrate);
    this.cards = new SourceCards(el.sourceCards, pictureOf, (source) => {
      el.source.value = source;
      el.url.value = ''; // the typed URL would win over the picked source
      el.source.dispatchEvent(new Event('change')); // as if picked in the list
    });
    el.statsToggle.addEventListener('click', this.toggleStats);
    el.source.addEventListener('change', this.followSelect);
  }

  /** What to play: the URL when one is typed, else the chosen source. */
  readTarget(): PlayTarget {
    const url = this.el.url.value.trim();
    return url ? { url } : { source: this.el.source.value || 'demo' };
  }

  showSources(catalog: Catalog): void {
    const { source } = this.el;
    const previous = source.value;
    const options = catalog.sources.map((s) => {
      const option = document.createElement('option');
      option.value = s.name;
      option.textContent = s.description ? `${s.name} — ${s.description}` : s.name;
      return option;
    });
    if (options.length === 0) options.push(new Option('demo', 'demo'));
    source.replaceChildren(...options);
    const names = catalog.sources.map((s) => s.name);
    source.value = names.includes(previous) ? previous : names.includes('demo') ? 'demo' : (names[0] ?? 'demo');
    this.cards.show(sourceEntries(catalog), source.value);
    const allow = catalog.allow.length > 0 ? ` Allowed: ${catalog.allow.join(', ')}.` : ' The server allows no URLs, only the named sources.';
    this.el.urlHint.textContent = `Leave empty to play the source above.${allow}`;
  }

  /** The hint over the stage before Start, naming the chosen source. */
  showChoice(source: string): void {
    this.el.placeholderText.textContent = source ? `Press Start to play ${source}` : 'Choose a source and press Start';
  }

  /** A channel's picture changed (or all of them may have): the cards show the latest. */
  showPictures(): void {
    this.cards.showPictures();
  }

  showState(state: ElementState, detail: string): void {
    const text = state === 'ended' && detail ? `Ended (${detail.replace(/_/g, ' ')})` : STATE_TEXT[state];
    this.el.state.textContent = text;
    this.el.state.dataset.state = state;
    this.el.videoFrame.dataset.state = state;
    this.el.stat.state.textContent = state;
    this.el.stop.disabled = state === 'idle' || state === 'error';
  }

  /** Which decoder shows the stream; `notice` says why the one asked for is not used (or is empty). */
  showEngine(kind: EngineKind, notice: string, webCodecsAvailable: boolean, mseAvailable: boolean): void {
    this.el.videoFrame.dataset.engine = kind;
    this.el.engineMse.checked = kind === 'mse';
    this.el.engineWebCodecs.checked = kind === 'webcodecs';
    this.el.engineWebCodecs.disabled = !webCodecsAvailable;
    this.el.engineMse.disabled = !mseAvailable;
    this.el.engineNotice.textContent = notice;
  }

  /** The engine the person picked with the radio buttons. */
  readEngine(): EngineKind {
    return this.el.engineWebCodecs.checked ? 'webcodecs' : 'mse';
  }

  /** The player view or the wall. */
  showWall(on: boolean): void {
    this.el.playerView.hidden = on;
    this.el.wallView.hidden = !on;
    this.el.wallToggle.textContent = on ? 'Player' : 'Wall';
    this.el.wallToggle.setAttribute('aria-pressed', String(on));
  }

  showConnection(state: ConnectionState): void {
    this.el.connection.textContent = CONNECTION_TEXT[state];
    this.el.connection.dataset.state = state;
  }

  showError(error: PlayerError | null): void {
    renderError(this.el.error, error);
  }

  showStats(stats: StatsSnapshot, latency: readonly number[], bitrate: readonly number[]): void {
    const s = this.el.stat;
    s.codec.textContent = stats.codec || '—';
    s.mode.textContent = stats.mode || '—';
    s.engine.textContent = stats.engine || '—';
    s.resolution.textContent = formatResolution(stats.width, stats.height);
    s.bitrate.textContent = formatBitrate(stats.bitrateBps);
    s.latency.textContent = formatMs(stats.latencyMs);
    const active = stats.bytes > 0;
    const target = stats.targetS === null ? '' : ` (target ${stats.targetS.toFixed(2)} s)`;
    s.buffer.textContent = active ? `${stats.bufferS.toFixed(2)} s${target}` : '—';
    const drawn = stats.drawnFrames === null ? '' : ` · ${stats.drawnFrames} drawn`;
    s.frames.textContent = active ? `${stats.decodedFrames} decoded${drawn} · ${stats.droppedFrames} dropped` : '—';
    const fps = stats.fps === null ? '—' : `${stats.fps} fps`;
    s.fps.textContent = active && stats.decodeQueue !== null ? `${fps} · ${stats.decodeQueue} queued` : '—';
    s.audio.textContent = active ? stats.audio || '—' : '—';
    s.ttff.textContent = formatMs(stats.ttffMs);
    s.skipped.textContent = active ? `${stats.skipped} server · ${stats.playerDropped} player` : '—';
    this.latencySpark.update(latency);
    this.bitrateSpark.update(bitrate);
  }

  destroy(): void {
    this.el.statsToggle.removeEventListener('click', this.toggleStats);
    this.el.source.removeEventListener('change', this.followSelect);
    this.cards.destroy();
    this.latencySpark.destroy();
    this.bitrateSpark.destroy();
  }

  private readonly followSelect = (): void => this.cards.select(this.el.source.value);

  private readonly toggleStats = (): void => {
    const hidden = this.el.stats.toggleAttribute('hidden');
    this.el.statsToggle.setAttribute('aria-expanded', String(!hidden));
    this.el.statsToggle.textContent = hidden ? 'Show stats' : 'Hide stats';
  };
}
