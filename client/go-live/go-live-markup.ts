/** The Go live panel's markup (static; no user data goes through innerHTML) and its element lookup. */

export const RESOLUTIONS = [
  { label: '320×180', width: 320, height: 180 },
  { label: '640×360', width: 640, height: 360 },
  { label: '1280×720', width: 1280, height: 720 },
  { label: '1920×1080', width: 1920, height: 1080 },
] as const;
export const DEFAULT_RESOLUTION = 1;
export const BITRATES = [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000] as const;
export const DEFAULT_BITRATE = 2;
export const FRAMERATES = [15, 30] as const;
export const DEFAULT_FRAMERATE = 1;

const options = (items: readonly string[], selected: number): string =>
  items.map((label, i) => `<option value="${i}"${i === selected ? ' selected' : ''}>${label}</option>`).join('');

const MARKUP = `
<form class="go-live" novalidate>
  <fieldset>
    <legend>Go live</legend>
    <p class="hint">Publish this browser's camera as a live channel (<code>live/&lt;name&gt;</code>) for every viewer of this server.</p>
    <label for="go-live-camera">Camera</label>
    <select id="go-live-camera"><option value="">Default camera</option></select>
    <label for="go-live-microphone">Microphone</label>
    <select id="go-live-microphone"><option value="">Default microphone</option><option value="none">No sound</option></select>
    <label for="go-live-name">Channel name</label>
    <input id="go-live-name" type="text" autocomplete="off" spellcheck="false" maxlength="64" placeholder="cam1" aria-describedby="go-live-name-hint" />
    <p id="go-live-name-hint" class="hint">Letters, digits, <code>_ . -</code>. With a broker in secure mode, the channel named after your user name.</p>
    <div class="go-live-row">
      <div><label for="go-live-resolution">Resolution</label><select id="go-live-resolution">${options(RESOLUTIONS.map((r) => r.label), DEFAULT_RESOLUTION)}</select></div>
      <div><label for="go-live-bitrate">Bit rate</label><select id="go-live-bitrate">${options(BITRATES.map((b) => `${b / 1e6} Mb/s`), DEFAULT_BITRATE)}</select></div>
      <div><label for="go-live-framerate">Frames/s</label><select id="go-live-framerate">${options(FRAMERATES.map(String), DEFAULT_FRAMERATE)}</select></div>
    </div>
    <video id="go-live-preview" muted playsinline autoplay aria-label="Camera preview"></video>
    <div class="buttons">
      <button id="go-live-preview-button" type="button">Preview</button>
      <button id="go-live-start" type="submit" class="primary">Go live</button>
      <button id="go-live-stop" type="button" disabled>Stop</button>
    </div>
    <p id="go-live-state" class="go-live-state" data-state="idle" role="status" aria-live="polite">Not live</p>
    <div id="go-live-error" class="error" role="alert"></div>
    <dl class="go-live-stats" aria-label="Publishing statistics">
      <div><dt>Codec</dt><dd id="go-live-stat-codec">—</dd></div>
      <div><dt>Bit rate</dt><dd id="go-live-stat-bitrate">—</dd></div>
      <div><dt>Frames</dt><dd id="go-live-stat-frames">—</dd></div>
      <div><dt>Dropped</dt><dd id="go-live-stat-dropped">—</dd></div>
      <div><dt>Fragments</dt><dd id="go-live-stat-fragments">—</dd></div>
      <div><dt>Keyframes</dt><dd id="go-live-stat-gop">—</dd></div>
    </dl>
  </fieldset>
</form>`;

export interface GoLiveElements {
  form: HTMLFormElement;
  camera: HTMLSelectElement;
  microphone: HTMLSelectElement;
  name: HTMLInputElement;
  resolution: HTMLSelectElement;
  bitrate: HTMLSelectElement;
  framerate: HTMLSelectElement;
  preview: HTMLVideoElement;
  previewButton: HTMLButtonElement;
  start: HTMLButtonElement;
  stop: HTMLButtonElement;
  state: HTMLElement;
  error: HTMLElement;
  stat: Record<'codec' | 'bitrate' | 'frames' | 'dropped' | 'fragments' | 'gop', HTMLElement>;
}

/** Fills `container` with the panel and returns its elements. */
export function renderGoLive(container: HTMLElement): GoLiveElements {
  container.innerHTML = MARKUP;
  const get = <T extends Element>(id: string, type: { new (): T }): T => {
    const el = container.querySelector(`#${id}`);
    if (!(el instanceof type)) throw new Error(`go live panel is missing #${id}`);
    return el;
  };
  const html = (id: string): HTMLElement => get(id, HTMLElement);
  return {
    form: get('go-live-camera', HTMLSelectElement).form!,
    camera: get('go-live-camera', HTMLSelectElement),
    microphone: get('go-live-microphone', HTMLSelectElement),
    name: get('go-live-name', HTMLInputElement),
    resolution: get('go-live-resolution', HTMLSelectElement),
    bitrate: get('go-live-bitrate', HTMLSelectElement),
    framerate: get('go-live-framerate', HTMLSelectElement),
    preview: get('go-live-preview', HTMLVideoElement),
    previewButton: get('go-live-preview-button', HTMLButtonElement),
    start: get('go-live-start', HTMLButtonElement),
    stop: get('go-live-stop', HTMLButtonElement),
    state: html('go-live-state'),
    error: html('go-live-error'),
    stat: {
      codec: html('go-live-stat-codec'), bitrate: html('go-live-stat-bitrate'), frames: html('go-live-stat-frames'),
      dropped: html('go-live-stat-dropped'), fragments: html('go-live-stat-fragments'), gop: html('go-live-stat-gop'),
    },
  };
}
