/**
 * The web player in Chromium, measured from outside the player: an init script
 * records every frame the page shows — MSE: `requestVideoFrameCallback` (media
 * time, expected display wall clock); WebCodecs: each `VideoFrame` drawn to a
 * canvas (timestamp, wall clock at the draw) — and the `waiting` events after
 * the first frame. The bench drains these records every second (so the page
 * holds at most a second of them) and dates each frame with the producer
 * clock built from the same fragments the page receives (ProducerClock).
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import type { Browser } from '../test/browser/chromium.js';
import { readProcTree, type ProcReading } from './proc-sampler.js';

/** One frame shown: [wall clock Unix ms, media time s]. */
export type ShownFrame = [number, number];

export interface ProbeBatch {
  frames: ShownFrame[];
  /** `waiting` events of the <video> since the first frame it presented (cumulative). */
  waiting: number;
}

interface ProbeWindow {
  __probe: { frames: ShownFrame[]; waiting: number; presented: boolean };
}

/**
 * Runs in every page before its own scripts. Plain browser JavaScript in a
 * string: a function would be serialised after tsx's transform, which adds
 * helpers (`__name`) the page does not have.
 */
const PROBE_SCRIPT = `(() => {
  const probe = { frames: [], waiting: 0, presented: false };
  window.__probe = probe;
  const wall = (perfMs) => Date.now() - (performance.now() - perfMs);
  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    if (typeof VideoFrame !== 'undefined' && args[0] instanceof VideoFrame) probe.frames.push([Date.now(), args[0].timestamp / 1e6]);
    return drawImage.apply(this, args);
  };
  document.addEventListener('DOMContentLoaded', () => {
    const video = document.querySelector('video');
    if (!video || typeof video.requestVideoFrameCallback !== 'function') return;
    const onFrame = (now, meta) => {
      probe.presented = true;
      probe.frames.push([wall(meta.expectedDisplayTime), meta.mediaTime]);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    video.addEventListener('waiting', () => {
      if (probe.presented) probe.waiting++;
    });
  });
})();`;

/** Adds the probe to every page of `browser` opened from now on. */
export async function addProbe(browser: Browser): Promise<void> {
  await browser.context.addInitScript({ content: PROBE_SCRIPT });
}

/** Takes the frames recorded since the last drain. */
export async function drainProbe(page: Page): Promise<ProbeBatch> {
  return page.evaluate(() => {
    const probe = (window as unknown as ProbeWindow).__probe;
    return { frames: probe.frames.splice(0), waiting: probe.waiting };
  });
}

/** Bytes a page allocates (and touches) for a moment so that its renderer process shows itself. */
const BALLAST_BYTES = 128 * 2 ** 20;

/**
 * The renderer process of a page: the one whose resident memory grows by the
 * ballast while the page holds it. Chromium gives no page → PID mapping;
 * diffing the process list is defeated by spare renderers started in advance,
 * and CPU deltas by renderers that are busy anyway.
 */
export async function rendererOf(page: Page): Promise<number | undefined> {
  const rss = (): Map<number, number> => new Map(readProcTree(process.pid).filter((p) => processType(p.pid) === 'renderer').map((p) => [p.pid, p.rssBytes]));
  const before = rss();
  await page.evaluate((bytes) => {
    (window as unknown as { __ballast?: Uint8Array }).__ballast = new Uint8Array(bytes).fill(1);
  }, BALLAST_BYTES);
  const after = rss();
  await page.evaluate(() => {
    delete (window as unknown as { __ballast?: Uint8Array }).__ballast;
  });
  let best: [number, number] | undefined;
  for (const [pid, bytes] of after) {
    const grew = bytes - (before.get(pid) ?? bytes);
    if (!best || grew > best[1]) best = [pid, grew];
  }
  return best && best[1] >= BALLAST_BYTES / 2 ? best[0] : undefined;
}

/** The Chromium process under this process that started the others (the browser process), if any. */
export function chromiumRoot(): ProcReading | undefined {
  const tree = readProcTree(process.pid);
  const pids = new Set(tree.map((p) => p.pid));
  return tree.find((p) => p.comm === 'chromium' && !(pids.has(p.ppid) && tree.find((q) => q.pid === p.ppid)?.comm === 'chromium'));
}

const types = new Map<number, string>();

/** Chromium's `--type=` of a process (renderer, gpu-process, utility, zygote…); `browser` without one. */
export function processType(pid: number): string {
  let type = types.get(pid);
  if (type === undefined) {
    try {
      // Chromium rewrites its children's titles: arguments may be joined by spaces instead of NULs.
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
      type = args.find((a) => a.startsWith('--type='))?.slice('--type='.length) ?? 'browser';
    } catch {
      return 'gone'; // exited since it was listed (not cached: the PID may come back as another process)
    }
    if (types.size > 10_000) types.clear();
    types.set(pid, type);
  }
  return type;
}
