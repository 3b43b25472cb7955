/**
 * What the peer scenario injects into every player page (before the page's
 * own scripts): the same measurement for the three players.
 *
 * - A `<video>` player (mpegts.js, mqttcast MSE): a requestVideoFrameCallback
 *   loop; in each callback the presented frame's barcode is read (drawn into a
 *   small canvas, getImageData) and recorded with the callback's rendering
 *   time.
 * - mqttcast WebCodecs: `drawImage` of a VideoFrame onto a 2D canvas is
 *   wrapped; after the player's draw the frame's barcode is read the same way,
 *   and recorded with the time of the next requestAnimationFrame (the
 *   rendering step that shows the canvas, as the video callback's time is).
 *
 * Times are Unix ms (performance.timeOrigin + rendering time), the clock
 * ffmpeg's time(0) uses. `__peerMark()` stamps a play start; the first frame
 * recorded after it ends the play → first frame time. `waiting` events of a
 * watched video are counted as stalls.
 */
import type { Page } from 'playwright-core';
import { BARCODE } from './source.js';

export interface ProbeDrain {
  /** [frame number, shown at (Unix ms)] of the frames recorded since the last drain. */
  shown: Array<[number, number]>;
  misreads: number;
  waiting: number;
  /** Play → first recorded frame, ms; null before it. */
  firstFrameMs: number | null;
}

const { bits, pitch, block, x0, row, complementRow, stripWidth, stripHeight } = BARCODE;

/** Plain JavaScript (not a serialized TS function, so nothing of the bundler leaks into the page). */
export const PROBE_SCRIPT = `(() => {
  const MAX_KEPT = 20000;
  const canvas = document.createElement('canvas');
  canvas.width = ${stripWidth};
  canvas.height = ${stripHeight};
  const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
  const originalDrawImage = CanvasRenderingContext2D.prototype.drawImage;
  const probe = { shown: [], misreads: 0, waiting: 0, startedAt: null, firstFrameAt: null };
  function readBarcode(source) {
    originalDrawImage.call(ctx, source, 0, 0, ${stripWidth}, ${stripHeight}, 0, 0, ${stripWidth}, ${stripHeight});
    const px = ctx.getImageData(0, 0, ${stripWidth}, ${stripHeight}).data;
    let n = 0;
    for (let i = 0; i < ${bits}; i++) {
      const x = ${x0} + i * ${pitch} + ${block / 2};
      const one = px[((${row} + ${block / 2}) * ${stripWidth} + x) * 4] > 128;
      const zero = px[((${complementRow} + ${block / 2}) * ${stripWidth} + x) * 4] > 128;
      if (one === zero) return null;
      if (one) n += 2 ** i;
    }
    return n;
  }
  function record(n, renderingTime) {
    if (probe.startedAt !== null && probe.firstFrameAt === null) probe.firstFrameAt = renderingTime;
    if (n === null) { probe.misreads++; return; }
    probe.shown.push([n, performance.timeOrigin + renderingTime]);
    if (probe.shown.length > MAX_KEPT) probe.shown.splice(0, probe.shown.length - MAX_KEPT);
  }
  let drawn = [];
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const result = originalDrawImage.apply(this, args);
    if (this !== ctx && typeof VideoFrame !== 'undefined' && args[0] instanceof VideoFrame) {
      drawn.push(readBarcode(args[0]));
      if (drawn.length === 1) requestAnimationFrame((t) => { for (const n of drawn.splice(0)) record(n, t); });
    }
    return result;
  };
  window.__peerWatchVideo = (video) => {
    video.addEventListener('waiting', () => probe.waiting++);
    const onFrame = (now) => {
      record(readBarcode(video), now);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  window.__peerMark = () => {
    probe.startedAt = performance.now();
    probe.firstFrameAt = null;
  };
  window.__peerFirstFrameMs = () => (probe.firstFrameAt === null || probe.startedAt === null ? null : probe.firstFrameAt - probe.startedAt);
  window.__peerDrain = () => ({
    shown: probe.shown.splice(0),
    misreads: probe.misreads,
    waiting: probe.waiting,
    firstFrameMs: window.__peerFirstFrameMs(),
  });
})();`;

interface ProbeWindow {
  __peerDrain(): ProbeDrain;
  __peerFirstFrameMs(): number | null;
  __peerMark(): void;
  __peerWatchVideo(video: HTMLVideoElement): void;
}

export async function installProbe(page: Page): Promise<void> {
  await page.addInitScript({ content: PROBE_SCRIPT });
}

export function drainProbe(page: Page): Promise<ProbeDrain> {
  return page.evaluate(() => (window as unknown as ProbeWindow).__peerDrain());
}

/** Starts the frame callbacks on the page's video element (`#video` in both players' pages). */
export async function watchVideo(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as ProbeWindow).__peerWatchVideo(document.querySelector('#video') as HTMLVideoElement));
}

/** Waits for the first frame after the last `__peerMark()`; returns play → first frame, ms. */
export async function waitFirstFrame(page: Page, timeoutMs: number): Promise<number> {
  const handle = await page.waitForFunction(() => (window as unknown as ProbeWindow).__peerFirstFrameMs(), undefined, { timeout: timeoutMs, polling: 50 });
  return Number(await handle.jsonValue());
}
