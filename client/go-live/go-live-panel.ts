/**
 * The Go live panel: choose a camera, microphone, channel name, size and bit rate;
 * Preview; Go live / Stop; state, coded errors and live stats. The page gives it the
 * broker URL, credentials and topic prefix it uses itself (read at each Go live).
 */
import type { Logger } from '../log.js';
import { formatBitrate } from '../stats.js';
import { listDevices, openCapture, stopCapture, type CaptureChoice, type DeviceChoice } from './capture.js';
import { BITRATES, DEFAULT_BITRATE, DEFAULT_FRAMERATE, DEFAULT_RESOLUTION, FRAMERATES, RESOLUTIONS, renderGoLive, type GoLiveElements } from './go-live-markup.js';
import { asGoLiveError, type GoLiveError } from './go-live-errors.js';
import { GoLiveSession, type GoLiveState } from './go-live-session.js';
import type { PublishSnapshot } from './publish-stats.js';
import './go-live.css';

export interface GoLiveContext {
  brokerUrl: string;
  username?: string;
  password?: string;
  prefix: string;
  clientId: string;
}

export interface GoLivePanelOptions {
  /** The page's current broker, credentials, prefix and client id. */
  context: () => GoLiveContext;
  log: Logger;
}

const STATE_TEXT: Record<GoLiveState | 'idle' | 'starting', string> = {
  idle: 'Not live',
  starting: 'Starting…',
  connecting: 'Connecting to the broker…',
  live: 'Live',
  reconnecting: 'Reconnecting to the broker…',
  offline: 'Offline',
};

export class GoLivePanel {
  private readonly el: GoLiveElements;
  private stream: MediaStream | undefined;
  private streamChoice = '';
  private session: GoLiveSession | undefined;
  private previewing = false;
  private busy = false;

  constructor(container: HTMLElement, private readonly options: GoLivePanelOptions) {
    this.el = renderGoLive(container);
    this.el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.start();
    });
    this.el.stop.addEventListener('click', () => void this.stop());
    this.el.previewButton.addEventListener('click', () => void this.togglePreview());
    window.addEventListener('pagehide', () => void this.close());
    this.fillDevices().catch((err: unknown) => options.log.info('no device list yet', err));
  }

  /** Stops publishing and the camera. */
  async close(): Promise<void> {
    this.previewing = false;
    await this.stop();
  }

  private choice(): CaptureChoice {
    const res = RESOLUTIONS[Number(this.el.resolution.value)] ?? RESOLUTIONS[DEFAULT_RESOLUTION];
    const mic = this.el.microphone.value;
    return {
      cameraId: this.el.camera.value,
      microphoneId: mic === 'none' ? null : mic,
      width: res.width,
      height: res.height,
      framerate: FRAMERATES[Number(this.el.framerate.value)] ?? FRAMERATES[DEFAULT_FRAMERATE],
    };
  }

  /** The camera stream for the current choice, reopened when the choice changed. */
  private async capture(): Promise<MediaStream> {
    const choice = this.choice();
    const key = JSON.stringify(choice);
    if (this.stream && this.streamChoice === key && this.stream.getVideoTracks().some((t) => t.readyState === 'live')) return this.stream;
    stopCapture(this.stream);
    this.stream = await openCapture(choice);
    this.streamChoice = key;
    this.el.preview.srcObject = this.stream;
    this.fillDevices().catch((err: unknown) => this.options.log.warn('device list failed', err));
    return this.stream;
  }

  private releaseCamera(): void {
    if (this.previewing || this.session) return;
    stopCapture(this.stream);
    this.stream = undefined;
    this.el.preview.srcObject = null;
  }

  private async togglePreview(): Promise<void> {
    this.showError(null);
    this.previewing = !this.previewing || !this.stream;
    this.el.previewButton.setAttribute('aria-pressed', String(this.previewing));
    if (!this.previewing) {
      this.releaseCamera();
      return;
    }
    try {
      await this.capture();
    } catch (err) {
      this.previewing = false;
      this.showError(asGoLiveError(err, 'CAMERA_UNAVAILABLE'));
    }
  }

  private async start(): Promise<void> {
    if (this.busy || this.session) return;
    this.busy = true;
    this.showError(null);
    this.showState('starting', '');
    this.setRunning(true);
    this.el.stop.disabled = true; // until the session exists: Stop then ends it
    const context = this.options.context();
    const name = this.el.name.value.trim() || context.username || '';
    this.el.name.value = name;
    try {
      const stream = await this.capture();
      const choice = this.choice();
      const session = await GoLiveSession.start({
        ...context,
        name,
        stream,
        video: { width: choice.width, height: choice.height, framerate: choice.framerate, bitrate: BITRATES[Number(this.el.bitrate.value)] ?? BITRATES[DEFAULT_BITRATE] },
        preview: this.el.preview,
        log: this.options.log.child('go-live'),
      });
      this.session = session;
      this.el.stop.disabled = false;
      session.on('state', (state, detail) => this.showState(state, detail));
      session.on('stats', (stats) => this.showStats(stats, session.mimeCodec));
      session.on('error', (error) => {
        this.showError(error);
        this.ended(session);
      });
      this.showState(session.state, '');
    } catch (err) {
      this.showError(asGoLiveError(err, 'CAMERA_UNAVAILABLE'));
      this.showState('idle', '');
      this.setRunning(false);
      this.releaseCamera();
    } finally {
      this.busy = false;
    }
  }

  private async stop(): Promise<void> {
    const session = this.session;
    if (session) {
      this.el.stop.disabled = true;
      try {
        await session.stop();
      } catch (err) {
        this.options.log.warn('stop failed', err);
      }
      this.ended(session);
    } else {
      this.releaseCamera();
    }
  }

  private ended(session: GoLiveSession): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.setRunning(false);
    this.showState('offline', '');
    this.releaseCamera();
  }

  private setRunning(running: boolean): void {
    this.el.start.disabled = running;
    this.el.stop.disabled = !running;
    for (const input of [this.el.name, this.el.camera, this.el.microphone, this.el.resolution, this.el.bitrate, this.el.framerate]) input.disabled = running;
  }

  private showState(state: GoLiveState | 'idle' | 'starting', detail: string): void {
    this.el.state.dataset.state = state;
    this.el.state.textContent = detail && state !== 'live' && state !== 'offline' ? `${STATE_TEXT[state]} ${detail}` : STATE_TEXT[state];
  }

  private showError(error: GoLiveError | null): void {
    this.el.error.textContent = error ? (error.detail ? `${error.message}: ${error.detail}` : error.message) : '';
    this.el.error.dataset.code = error?.code ?? '';
  }

  private showStats(s: PublishSnapshot, codec: string | undefined): void {
    const { stat } = this.el;
    stat.codec.textContent = codec?.replace(/^.*codecs="(.*)"$/, '$1') ?? '—';
    stat.bitrate.textContent = formatBitrate(s.bitrate);
    stat.frames.textContent = String(s.frames);
    stat.dropped.textContent = String(s.dropped);
    stat.fragments.textContent = String(s.fragments);
    stat.gop.textContent = s.gop === undefined ? '—' : `every ${s.gop.toFixed(1)} s`;
  }

  private async fillDevices(): Promise<void> {
    const { cameras, microphones } = await listDevices();
    fillSelect(this.el.camera, cameras, 'Default camera');
    fillSelect(this.el.microphone, microphones, 'Default microphone', { id: 'none', label: 'No sound' });
  }
}

function fillSelect(select: HTMLSelectElement, devices: DeviceChoice[], defaultLabel: string, extra?: DeviceChoice): void {
  const keep = select.value;
  const choices = [{ id: '', label: defaultLabel }, ...devices, ...(extra ? [extra] : [])];
  select.replaceChildren(...choices.map((d) => new Option(d.label, d.id)));
  if (choices.some((d) => d.id === keep)) select.value = keep;
}

/** Puts the Go live panel into the page's `#go-live`, or into a new section at the end of the side panel when the page has none. */
export function mountGoLive(container: HTMLElement | null, options: GoLivePanelOptions): GoLivePanel {
  if (container) return new GoLivePanel(container, options);
  const section = document.createElement('section');
  section.id = 'go-live';
  (document.querySelector('aside.panel') ?? document.querySelector('main') ?? document.body).append(section);
  return new GoLivePanel(section, options);
}
