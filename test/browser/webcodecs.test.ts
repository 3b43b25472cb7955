/**
 * The web player's WebCodecs mode in Chromium against the real server: frames
 * decoded with VideoDecoder and drawn to the canvas (its pixels change), sound
 * through AudioDecoder, RTSP, Stop, coded errors, and the fallback to MSE in a
 * browser without VideoDecoder.
 */
import type { ChildProcess } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../media-server/service.js';
import { stopChild } from '../helpers/child.js';
import { freePort } from '../helpers/ports.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { mediaProcesses } from '../helpers/processes.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';
import { waitFor } from '../helpers/wait.js';
import { startTestService } from '../harness.js';
import { ensureClientBuilt, launchChromium, screenshot, videoState, type Browser } from './chromium.js';

interface PlayerStats {
  engine: string;
  decodedFrames: number;
  drawnFrames: number | null;
  droppedFrames: number;
  decodeQueue: number | null;
  latencyMs: number | null;
  audio: string;
}

let browser: Browser;
let service: Service;
let rtsp: RtspServer;
const pages: Page[] = [];

async function open(query: string, init?: () => void): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  if (init) await page.addInitScript(init);
  await page.goto(`${service.urls.web}${query}`);
  await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  return page;
}

function stats(page: Page): Promise<PlayerStats> {
  return page.evaluate(() => (window as unknown as { mqttcast: { stats: PlayerStats } }).mqttcast.stats);
}

/** A checksum of the canvas pixels, as a person would see them change. */
function canvasChecksum(page: Page): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.getElementById('canvas') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum = (sum * 31 + data[i]! + data[i + 1]! * 7 + data[i + 2]! * 13) >>> 0;
    return sum;
  });
}

/** Frames are drawn, more keep coming, and the picture changes. */
async function expectDrawing(page: Page): Promise<void> {
  const first = await waitFor(async () => {
    const s = await stats(page);
    return (s.drawnFrames ?? 0) > 0 ? s : undefined;
  }, { timeoutMs: 30_000, message: 'frames drawn to the canvas' });
  const before = await canvasChecksum(page);
  await waitFor(async () => ((await stats(page)).drawnFrames ?? 0) > first.drawnFrames! + 10, { timeoutMs: 20_000, message: 'more frames drawn' });
  await waitFor(async () => (await canvasChecksum(page)) !== before, { timeoutMs: 10_000, message: 'canvas pixels change' });
}

beforeAll(async () => {
  await ensureClientBuilt();
  browser = await launchChromium();
  rtsp = await startRtspServer({ width: 320, height: 240, fps: 15 });
  service = await startTestService({ allow: [`rtsp://127.0.0.1:${rtsp.port}/*`], limits: { lingerMs: 500, leaseMs: 3000 } });
}, 120_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close().catch(() => undefined)));
  expect(browser.consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await service?.close();
  await rtsp?.close();
  expect(mediaProcesses()).toEqual([]);
});

describe('web player in WebCodecs mode', () => {
  it('plays the demo with ?mode=webcodecs: frames drawn to the canvas, sound scheduled, latency shown', async () => {
    const page = await open('?mode=webcodecs');
    expect(await page.isChecked('#engine-webcodecs')).toBe(true);
    await page.click('#start');
    await expectDrawing(page);
    const s = await stats(page);
    expect(s.engine).toBe('WebCodecs');
    expect(s.decodedFrames).toBeGreaterThanOrEqual(s.drawnFrames!);
    expect(await page.textContent('#stat-engine')).toBe('WebCodecs');
    await expect.poll(() => page.textContent('#stat-latency'), { timeout: 10_000 }).toMatch(/\d/);
    await expect.poll(() => page.textContent('#stat-fps')).toMatch(/queued/);
    // The demo's 440 Hz tone goes through AudioDecoder to Web Audio (muted until the person turns it on).
    await expect.poll(async () => Number(/(\d+) played/.exec((await stats(page)).audio)?.[1] ?? 0), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.click('#sound');
    await expect.poll(async () => (await stats(page)).audio).toMatch(/^on/);
    // The video element is not used in this mode.
    expect((await videoState(page)).frames).toBe(0);
    await screenshot(page, 'player-webcodecs-demo');
  });

  it('plays a local RTSP source typed into the URL field', async () => {
    const page = await open('?mode=webcodecs');
    await page.fill('#url', rtsp.url);
    await page.click('#start');
    await expectDrawing(page);
    await expect.poll(() => page.textContent('#stat-resolution')).toMatch(/320\s*[×x]\s*240/);
  });

  it('Stop ends the session on the server and its ffmpeg', async () => {
    const page = await open('?mode=webcodecs');
    await page.click('#start');
    await expectDrawing(page);
    expect(service.mediaServer.sessionCount).toBe(1);
    await page.click('#stop');
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'session ended by Stop' });
    await waitFor(() => mediaProcesses().length === 0, { message: 'ffmpeg gone after Stop' });
    expect(await page.textContent('#state')).toBe('Idle');
  });

  it('shows URL_NOT_ALLOWED in plain words and draws nothing for a refused URL', async () => {
    const page = await open('?mode=webcodecs');
    await page.fill('#url', 'http://203.0.113.9/secret.mp4');
    await page.click('#start');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('URL_NOT_ALLOWED');
    expect((await stats(page)).drawnFrames ?? 0).toBe(0);
    expect(service.mediaServer.sessionCount).toBe(0);
  });

  it('switches a playing stream from MSE to WebCodecs with the toggle', async () => {
    const page = await open('');
    await page.click('#start');
    await waitFor(async () => (await videoState(page)).frames > 0, { timeoutMs: 30_000, message: 'MSE plays' });
    await page.check('#engine-webcodecs');
    await expectDrawing(page);
    expect(new URL(page.url()).searchParams.get('mode')).toBe('webcodecs');
    expect(service.mediaServer.sessionCount).toBe(1);
  });
});

describe('web player without WebCodecs', () => {
  it('falls back to MSE, says so, and plays', async () => {
    const page = await open('?mode=webcodecs', () => {
      delete (window as { VideoDecoder?: unknown }).VideoDecoder;
    });
    await expect.poll(() => page.textContent('#engine-notice')).toMatch(/no WebCodecs.*MSE/i);
    expect(await page.isDisabled('#engine-webcodecs')).toBe(true);
    expect(await page.isChecked('#engine-mse')).toBe(true);
    await page.click('#start');
    await waitFor(async () => {
      const s = await videoState(page);
      return s.frames > 0 && s.currentTime > 0;
    }, { timeoutMs: 30_000, message: 'MSE plays' });
    expect((await stats(page)).engine).toMatch(/^MSE \(no WebCodecs/);
    await expect.poll(() => page.textContent('#stat-engine')).toMatch(/MSE/);
    await screenshot(page, 'player-webcodecs-fallback');
  });
});

describe('web player in WebCodecs mode and a broker restart', () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child) await stopChild(child);
  });

  it('shows that it is reconnecting, then draws frames again', async () => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    child = await startServeProcess(httpPort, mqttPort);
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(`http://127.0.0.1:${httpPort}/?mode=webcodecs`);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
    await page.click('#start');
    await expectDrawing(page);
    await stopChild(child);
    await expect.poll(() => page.textContent('#state'), { timeout: 15_000 }).toMatch(/reconnect/i);
    child = await startServeProcess(httpPort, mqttPort);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 30_000 });
    // A new session: the drawn-frame counter starts again from zero and climbs.
    await waitFor(async () => ((await stats(page)).drawnFrames ?? 0) > 10, { timeoutMs: 30_000, message: 'frames drawn again' });
    await expectDrawing(page);
    expect((await stats(page)).engine).toBe('WebCodecs');
  });
});
