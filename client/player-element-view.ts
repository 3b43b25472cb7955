/**
 * What <mqttcast-player> shows inside its shadow root: the picture (<video> for
 * MSE, <canvas> for WebCodecs), a poster image until the first frame, a spinner
 * and state text while starting, the coded error, an optional one-line stats
 * overlay, and with `controls` a play button and (WebCodecs) a sound button.
 * No MQTT or media logic here.
 *
 * The picture elements are the shadow root's own unless the page gives its own
 * as children (`<video slot="video">`, `<canvas slot="canvas">`), to style them
 * or watch them with its own scripts; the slots show whichever is used.
 */
import type { PlayerError } from './errors.js';
import type { PlayerState } from './player-types.js';
import type { EngineKind } from './media-sink.js';
import { PLAYER_ELEMENT_CSS } from './player-element-style.js';
import { formatBitrate, formatMs, formatResolution, type StatsSnapshot } from './stats.js';

/** The player's states, plus `paused`: not delivering because the element is hidden. */
export type ElementState = PlayerState | 'paused';

/** Shows a coded error in `box`: the message in bold, the detail after it; empties it for null. */
export function renderError(box: Element, error: PlayerError | null): void {
  if (!error) {
    box.replaceChildren();
    return;
  }
  const main = document.createElement('strong');
  main.textContent = error.message;
  const parts: Node[] = [main];
  if (error.detail) {
    const detail = document.createElement('span');
    detail.className = 'detail';
    detail.textContent = error.detail;
    parts.push(detail);
  }
  box.replaceChildren(...parts);
}

const STATE_TEXT: Record<ElementState, string> = {
  idle: '',
  connecting: 'Connecting to the broker…',
  describing: 'Asking the server…',
  starting: 'Starting…',
  playing: '',
  recovering: 'Recovering…',
  reconnecting: 'Reconnecting…',
  ended: '',
  error: '',
  paused: 'Paused while hidden',
};

function make<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, part = className): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  el.setAttribute('part', part);
  return el;
}

export class PlayerElementView {
  video: HTMLVideoElement;
  canvas: HTMLCanvasElement;
  readonly sound: HTMLButtonElement;
  readonly play: HTMLButtonElement;
  private readonly frame: HTMLDivElement;
  private readonly poster: HTMLImageElement;
  private readonly stateText: HTMLSpanElement;
  private readonly error: HTMLDivElement;
  private readonly stats: HTMLDivElement;

  constructor(root: ShadowRoot) {
    const style = document.createElement('style');
    style.textContent = PLAYER_ELEMENT_CSS;
    this.frame = make('div', 'frame');
    this.frame.dataset.state = 'idle';
    this.frame.dataset.engine = 'mse';
    this.video = make('video', 'video');
    this.canvas = make('canvas', 'canvas');
    this.canvas.width = 640;
    this.canvas.height = 360;
    const videoSlot = document.createElement('slot');
    videoSlot.name = 'video';
    videoSlot.append(this.video);
    const canvasSlot = document.createElement('slot');
    canvasSlot.name = 'canvas';
    canvasSlot.append(this.canvas);
    this.sound = make('button', 'sound');
    this.sound.type = 'button';
    this.sound.id = 'sound';
    this.play = make('button', 'play');
    this.play.type = 'button';
    this.play.textContent = '▶';
    this.play.setAttribute('aria-label', 'Play');
    this.poster = make('img', 'poster');
    this.poster.alt = '';
    this.poster.decoding = 'async';
    this.frame.dataset.poster = 'none';
    const overlay = make('div', 'overlay');
    overlay.append(make('span', 'spinner'));
    this.stateText = make('span', 'state');
    this.stateText.setAttribute('role', 'status');
    overlay.append(this.stateText);
    this.error = make('div', 'error');
    this.error.setAttribute('role', 'alert');
    this.stats = make('div', 'stats');
    this.stats.hidden = true;
    this.frame.append(videoSlot, canvasSlot, this.poster, overlay, this.play, this.sound, this.error, this.stats);
    root.append(style, this.frame);
    this.showSound(true);
  }

  /** Uses the page's own `<video slot="video">` / `<canvas slot="canvas">` children where there are some. */
  adoptMedia(host: HTMLElement): void {
    this.video = host.querySelector<HTMLVideoElement>(':scope > video[slot="video"]') ?? this.video;
    this.canvas = host.querySelector<HTMLCanvasElement>(':scope > canvas[slot="canvas"]') ?? this.canvas;
    this.video.muted = true;
    this.video.playsInline = true;
    if (!this.video.hasAttribute('aria-label')) this.video.setAttribute('aria-label', 'Live video');
    if (!this.canvas.hasAttribute('role')) this.canvas.setAttribute('role', 'img');
    if (!this.canvas.hasAttribute('aria-label')) this.canvas.setAttribute('aria-label', 'Live video (WebCodecs)');
  }

  showState(state: ElementState, detail: string): void {
    this.frame.dataset.state = state;
    this.stateText.textContent = state === 'recovering' && detail ? `Recovering: ${detail}` : STATE_TEXT[state];
  }

  /** The picture shown over the empty video until the first frame; `visible` false once a frame is on screen. */
  showPoster(url: string | null, visible: boolean): void {
    if (url === null) this.poster.removeAttribute('src');
    else if (this.poster.getAttribute('src') !== url) this.poster.src = url;
    this.frame.dataset.poster = url === null ? 'none' : visible ? 'shown' : 'hidden';
  }

  showEngine(kind: EngineKind): void {
    this.frame.dataset.engine = kind;
  }

  showControls(on: boolean): void {
    this.video.controls = on;
  }

  showSound(muted: boolean): void {
    this.sound.textContent = muted ? 'Sound off' : 'Sound on';
    this.sound.setAttribute('aria-pressed', String(!muted));
  }

  showError(error: PlayerError | null): void {
    renderError(this.error, error);
  }

  /** The one-line overlay of the `stats` attribute. */
  showStatsOverlay(on: boolean): void {
    this.stats.hidden = !on;
  }

  showStats(s: StatsSnapshot): void {
    if (this.stats.hidden) return;
    const fps = s.fps === null ? '' : ` · ${s.fps} fps`;
    this.stats.textContent = s.bytes > 0
      ? `${formatMs(s.latencyMs)} · ${formatBitrate(s.bitrateBps)} · ${formatResolution(s.width, s.height)}${fps} · ${s.engine}`
      : '';
  }
}
