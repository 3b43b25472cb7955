/**
 * <mqttcast-player>: one stream in any page. The Player (describe → play →
 * media, acks, watchdog, live edge, reconnect) on its own <video>/<canvas> in a
 * shadow root, on a broker connection shared with the page's other players
 * (link-registry.ts); stops when removed or when the page goes away, pauses
 * delivery while it cannot be seen and starts again (at a keyframe) when it can.
 * Until the first frame it shows its `poster`, or a live channel's latest snapshot.
 */
import { DEFAULT_PREFIX, isValidPrefix, type Catalog } from '../protocol/index.js';
import { Engines, parseMode } from './engines.js';
import { playerError, type PlayerError } from './errors.js';
import { createLogger, debugRequested } from './log.js';
import type { LinkKey } from './broker-link.js';
import { PlayerLink } from './player-link.js';
import type { EngineKind } from './media-sink.js';
import { findMediaSource } from './media-source.js';
import type { ConnectionState } from './mqtt-connection.js';
import { isBrokerUrl, sameOriginBrokerUrl } from './mqtt-connection.js';
import { Player } from './player.js';
import { PosterControl } from './player-element-poster.js';
import { PlayerElementView, type ElementState } from './player-element-view.js';
import { targetOf, type PlayerCredentials } from './player-element-target.js';
import type { PlayTarget } from './requests.js';
import type { StatsSnapshot } from './stats.js';
import { VisibilityGate } from './visibility-gate.js';
import { hasWebCodecs } from './webcodecs-engine.js';

export type { ElementState } from './player-element-view.js';
export { targetOf, type PlayerCredentials } from './player-element-target.js';

export const PLAYER_TAG = 'mqttcast-player';

const log = createLogger('player-element', typeof location === 'object' && debugRequested(location.search));
/** The broker of the server that served this module (player.js, or the page's own bundle). */
const DEFAULT_BROKER = sameOriginBrokerUrl(new URL(import.meta.url));
const OBSERVED = ['source', 'broker', 'username', 'password', 'prefix', 'mode', 'autoplay', 'muted', 'controls', 'stats', 'poster'];

/** Detail of the `snapshot` event: a channel's new picture (null: none), or channel null when all may have changed. */
export interface SnapshotChange {
  channel: string | null;
  url: string | null;
}

export class MqttcastPlayerElement extends HTMLElement {
  static readonly observedAttributes = OBSERVED;
  private readonly view: PlayerElementView;
  /** Made when first connected, once the page's own picture elements (if any) can be seen. */
  private engines: Engines | null = null;
  private readonly player: Player;
  private readonly gate: VisibilityGate;
  private readonly link: PlayerLink;
  private readonly posterControl: PosterControl;
  private secret: PlayerCredentials | null = null;
  /** play() was called (or autoplay) and stop() was not. */
  private wanted = false;
  private engineNotice = '';
  private soundMuted = true;
  private shownError: PlayerError | null = null;
  private readonly browserError: PlayerError | null;
  /** A `broker` attribute that is not a WebSocket URL. */
  private configError: PlayerError | null = null;

  constructor() {
    super();
    this.view = new PlayerElementView(this.attachShadow({ mode: 'open' }));
    this.browserError = findMediaSource() || hasWebCodecs() ? null : playerError('MSE_UNSUPPORTED');
    this.player = new Player({ log: log.child('player'), engine: null });
    this.gate = new VisibilityGate(this, () => this.apply());
    this.link = new PlayerLink(this.player, {
      problem: () => this.refreshError(),
      state: (state) => this.dispatchEvent(new CustomEvent<ConnectionState>('connection', { detail: state })),
      catalog: (catalog) => this.dispatchEvent(new CustomEvent<Catalog>('catalog', { detail: catalog })),
    }, log);
    this.posterControl = new PosterControl(this.view, (channel, url) => {
      this.dispatchEvent(new CustomEvent<SnapshotChange>('snapshot', { detail: { channel, url } }));
    }, log);
    this.player.on('state', () => this.onState());
    this.player.on('error', () => this.refreshError());
    this.player.on('stats', (stats) => {
      this.view.showStats(stats);
      this.dispatchEvent(new CustomEvent<StatsSnapshot>('stats', { detail: stats }));
    });
    this.view.play.addEventListener('click', () => this.play());
    this.view.sound.addEventListener('click', () => (this.muted = !this.muted));
    this.applySound();
  }

  /** Starts (or restarts) playing the `source` attribute, or `source` (which then becomes the attribute). */
  play(source?: string): void {
    this.wanted = true;
    if (source !== undefined && source !== this.getAttribute('source')) this.setAttribute('source', source); // → apply()
    else this.apply();
  }

  /** Ends the session on the server; the element stays, idle. */
  stop(): void {
    this.wanted = false;
    this.player.stop();
    this.onState();
  }

  /** Credentials kept out of the DOM (they win over the `username`/`password` attributes). */
  set credentials(value: PlayerCredentials | null) {
    this.secret = value ? { username: value.username || undefined, password: value.password || undefined } : null;
    if (this.isConnected) this.relink();
  }

  get credentials(): PlayerCredentials | null {
    return this.secret ? { username: this.secret.username } : null;
  }

  /** The image shown until the first frame (the `poster` attribute); without one, a live channel shows its latest snapshot. */
  get poster(): string {
    return this.getAttribute('poster') ?? '';
  }

  set poster(url: string) {
    this.setAttribute('poster', url);
  }

  /** Keep every live channel's latest snapshot on this connection (for a source list): `snapshot` events, snapshotUrl(). */
  get snapshots(): boolean {
    return this.posterControl.all;
  }

  set snapshots(on: boolean) {
    this.posterControl.setWatchAll(on);
  }

  /** An object URL of `channel`'s latest snapshot (valid until the next one), or null. */
  snapshotUrl(channel: string): string | null {
    return this.posterControl.snapshotUrl(channel);
  }

  /** Whether the sound is off now: the `muted` attribute, or no click on the page yet (browsers block sound before one). */
  get muted(): boolean {
    return this.soundMuted;
  }

  set muted(value: boolean) {
    this.toggleAttribute('muted', value);
    this.applySound(); // also when the attribute did not change: after a click, sound may start now
  }

  get state(): ElementState {
    return this.wanted && this.target && !this.gate.visible ? 'paused' : this.player.state;
  }

  get stateDetail(): string {
    return this.player.stateDetail;
  }

  get error(): PlayerError | null {
    return this.player.lastError ?? this.configError ?? this.link.lease?.link.error ?? this.browserError;
  }

  get stats(): StatsSnapshot {
    return this.player.snapshot();
  }

  get history(): { latency: readonly number[]; bitrate: readonly number[] } {
    return { latency: this.player.stats.latencyHistory.values, bitrate: this.player.stats.bitrateHistory.values };
  }

  get engine(): EngineKind | null {
    return this.player.engine?.kind ?? null;
  }

  /** Why the decoder in use is not the one `mode` asked for, or ''. */
  get notice(): string {
    return this.engineNotice;
  }

  get available(): { mse: boolean; webcodecs: boolean } {
    return { mse: findMediaSource() !== null, webcodecs: hasWebCodecs() };
  }

  get connection(): ConnectionState {
    return this.link.lease?.link.state ?? 'closed';
  }

  get brokerUrl(): string {
    return this.getAttribute('broker')?.trim() || DEFAULT_BROKER;
  }

  get clientId(): string {
    return this.link.lease?.link.clientId ?? '';
  }

  get replyTopic(): string {
    const lease = this.link.lease;
    return lease ? lease.link.requests(lease.slot).replyTopic : '';
  }

  get catalog(): Catalog | null {
    return this.link.lease?.link.catalog ?? null;
  }

  connectedCallback(): void {
    if (this.link.lease) return; // moved within the page: keep playing
    if (!this.engines) {
      this.view.adoptMedia(this);
      this.engines = new Engines(this.view.video, this.view.canvas, log);
      this.view.showControls(this.hasAttribute('controls'));
      this.applyMode();
    }
    this.upgradeProperty('credentials');
    this.upgradeProperty('muted');
    if (this.hasAttribute('autoplay')) this.wanted = true;
    this.relink();
    this.gate.start();
    window.addEventListener('pagehide', this.onPageHide);
    window.addEventListener('pageshow', this.onPageShow);
  }

  disconnectedCallback(): void {
    // Moving an element disconnects and reconnects it at once: only a real removal stops it.
    queueMicrotask(() => {
      if (this.isConnected) return;
      window.removeEventListener('pagehide', this.onPageHide);
      window.removeEventListener('pageshow', this.onPageShow);
      this.gate.stop();
      this.wanted = false;
      this.player.stop();
      this.link.unbind();
      this.posterControl.setLink(null);
    });
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === 'mode') this.applyMode();
    else if (name === 'muted') this.applySound();
    else if (name === 'controls') this.view.showControls(value !== null);
    else if (name === 'stats') this.view.showStatsOverlay(value !== null);
    else if (name === 'poster') this.posterControl.setAttribute(value);
    else if (name === 'autoplay') {
      if (value !== null && !this.wanted && this.isConnected) this.play();
    } else if (name === 'source') {
      this.posterControl.setSource(value);
      this.apply();
    }
    else if (this.isConnected) this.relink(); // broker, username, password, prefix
  }

  private get target(): PlayTarget | null {
    return targetOf(this.getAttribute('source'));
  }

  /** Plays when wanted, seen and given a source; otherwise makes sure nothing is delivered. */
  private apply(): void {
    const target = this.target;
    if (this.wanted && target && this.gate.visible && this.isConnected) this.player.start(target);
    else if (this.player.state !== 'idle' && this.player.state !== 'error') this.player.stop();
    this.onState();
  }

  private applyMode(): void {
    if (!this.engines) return;
    const { engine, notice } = this.engines.pick(parseMode(this.getAttribute('mode')));
    this.engineNotice = notice;
    this.view.showEngine(engine?.kind ?? 'mse');
    this.player.setEngine(engine);
    this.applySound();
  }

  private applySound(): void {
    const muted = this.hasAttribute('muted') || !(navigator.userActivation?.hasBeenActive ?? false);
    this.soundMuted = muted;
    this.view.video.muted = muted;
    if (this.engines?.webCodecs) this.engines.webCodecs.muted = muted;
    this.view.showSound(muted);
  }

  private brokerKey(): LinkKey | PlayerError {
    const url = this.brokerUrl;
    if (!isBrokerUrl(url)) return playerError('BROKER_URL_INVALID', url);
    const prefix = this.getAttribute('prefix') ?? '';
    return {
      url,
      username: this.secret?.username ?? (this.getAttribute('username') || undefined),
      password: this.secret?.password ?? (this.getAttribute('password') || undefined),
      prefix: isValidPrefix(prefix) ? prefix : DEFAULT_PREFIX,
    };
  }

  /** (Re)joins the shared connection for the current broker and credentials. */
  private relink(): void {
    const key = this.brokerKey();
    if (!('code' in key) && this.link.holds(key)) return;
    this.player.stop();
    this.link.unbind();
    this.configError = 'code' in key ? key : null;
    if (!('code' in key)) this.link.bind(key);
    this.posterControl.setLink(this.link.lease?.link ?? null);
    this.refreshError();
    this.apply();
  }

  private onState(): void {
    const state = this.state;
    this.view.showState(state, this.player.stateDetail);
    this.posterControl.setState(state);
    this.dataset.state = state;
    this.dispatchEvent(new CustomEvent('statechange', { detail: { state, detail: this.player.stateDetail } }));
    if (state === 'playing') this.dispatchEvent(new Event('playing'));
  }

  private refreshError(): void {
    this.showError(this.error);
  }

  private showError(error: PlayerError | null): void {
    const same = error?.message === this.shownError?.message && error?.detail === this.shownError?.detail;
    this.shownError = error;
    if (same) return;
    this.view.showError(error);
    this.dispatchEvent(new CustomEvent('errorchange', { detail: error }));
    if (error) this.dispatchEvent(new CustomEvent('error', { detail: { code: error.code, message: error.message, detail: error.detail } }));
  }

  private readonly onPageHide = (): void => {
    this.player.pagehide();
    this.link.unbind();
    this.posterControl.setLink(null);
  };

  private readonly onPageShow = (event: PageTransitionEvent): void => {
    if (event.persisted && this.isConnected) this.relink();
  };

  /** A property set on the element before it was upgraded hides the accessor: re-apply it. */
  private upgradeProperty(name: 'credentials' | 'muted'): void {
    if (!Object.prototype.hasOwnProperty.call(this, name)) return;
    const value: unknown = (this as Record<string, unknown>)[name];
    delete (this as Record<string, unknown>)[name];
    if (name === 'muted') this.muted = Boolean(value);
    else this.credentials = (value ?? null) as PlayerCredentials | null;
  }
}

/** Registers <mqttcast-player> once (player.js and a page bundle may both try). */
export function defineMqttcastPlayer(registry: CustomElementRegistry = customElements): void {
  if (!registry.get(PLAYER_TAG)) registry.define(PLAYER_TAG, MqttcastPlayerElement);
}

declare global {
  interface HTMLElementTagNameMap {
    'mqttcast-player': MqttcastPlayerElement;
  }
}
