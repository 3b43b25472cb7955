/** Debian's Chromium driven by playwright-core, the way STYLE.md describes: headless, fresh profile, no network chatter. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { runChecked } from '../helpers/child.js';
import { waitFor } from '../helpers/wait.js';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(ROOT, 'test', 'artifacts');

/** Newest modification time of the files the client is built from. */
function newestSource(): number {
  const files = ['client', 'protocol'].flatMap((dir) => readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => path.join(ROOT, dir, f)));
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

/** Builds the web client if `npm test` has not already, or when its sources changed since. */
export async function ensureClientBuilt(): Promise<void> {
  const built = path.join(ROOT, 'dist', 'client', 'index.html');
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource()) return;
  await runChecked(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'client/vite.config.ts', '--logLevel', 'error'], {
    cwd: ROOT,
    timeoutMs: 120_000,
  });
}

export interface Browser {
  context: BrowserContext;
  /** Console errors and page errors seen so far (the player must keep the console clean). */
  consoleErrors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** `extraArgs`: more Chromium switches, e.g. the fake camera (`--use-fake-device-for-media-stream`). */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'mqttcast-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-quic', '--autoplay-policy=no-user-gesture-required', ...extraArgs,
    ],
  });
  const consoleErrors: string[] = [];
  const watch = (page: Page): void => {
    page.on('console', (m) => {
      // Chromium itself reports refused WebSocket connections while a broker is down, and a send that
      // races the socket closing when the broker dies (MQTT.js learns of the close a moment later);
      // the page logs nothing.
      const brokerDown = /WebSocket connection to .* failed|WebSocket is already in CLOSING or CLOSED state/.test(m.text());
      if (m.type() === 'error' && !brokerDown) consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  };
  context.on('page', watch);
  return {
    context,
    consoleErrors,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export interface VideoState {
  currentTime: number;
  frames: number;
  state: string;
}

export function videoState(page: Page): Promise<VideoState> {
  return page.evaluate(() => {
    const v = document.querySelector('video')!;
    const w = window as unknown as { mqttcast?: { state: string } };
    return { currentTime: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, state: w.mqttcast?.state ?? '' };
  });
}

/** Opens the player page at `url` in a new page (added to `pages`, for closing after the test) once it is connected. */
export async function openPlayerPage(browser: Browser, pages: Page[], url: string): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  await page.goto(url);
  await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  return page;
}

/** Waits until the page's video has decoded frames and its clock moves, as a person would see it play. */
export async function expectVideoPlaying(page: Page): Promise<void> {
  const first = await waitFor(async () => {
    const s = await videoState(page);
    return s.frames > 0 && s.currentTime > 0 ? s : undefined;
  }, { timeoutMs: 30_000, message: 'video shows frames' });
  await waitFor(async () => (await videoState(page)).currentTime > first.currentTime + 0.5, { timeoutMs: 20_000, message: 'currentTime advances' });
}
