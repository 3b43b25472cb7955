/**
 * <mqttcast-player> embedded in a page of another origin (a second local HTTP
 * server) with one module script from the media server: a named source, a live
 * channel and an RTSP URL play over one WebSocket, a refused URL shows its code
 * inside the element, removing an element ends its session; and the page's
 * wall (`/?wall=...`) plays four tiles at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../media-server/service.js';
import { stopChild } from '../helpers/child.js';
import { startStaticServer, type StaticServer } from '../helpers/http-server.js';
import { mediaProcesses } from '../helpers/processes.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';
import { waitFor } from '../helpers/wait.js';
import { startTestService } from '../harness.js';
import { ensureClientBuilt, launchChromium, screenshot, type Browser } from './chromium.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REFUSED = 'http://203.0.113.9/secret.mp4';

interface Shown {
  state: string;
  currentTime: number;
  decoded: number;
  error: string;
  replyTopic: string;
}

let browser: Browser;
let service: Service;
let rtsp: RtspServer;
let other: StaticServer;
let otherDir: string;
let statusTap: MqttClient;
const statuses: Array<{ topic: string; state: string; reason?: string }> = [];
const publishers: ChildProcess[] = [];
const pages: Page[] = [];

function publish(name: string): ChildProcess {
  const args = [path.join(ROOT, 'bin', 'mqttcast.js'), 'publish', 'demo', '--name', name, '--broker', service.urls.mqtt, '--video-size', '320x240', '--framerate', '15', '-q'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.resume();
  return child;
}

/** What an element shows, read through its open shadow root: the picture's clock and frames, the error box. */
function shown(page: Page, selector: string): Promise<Shown> {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel) as HTMLElement & { state: string; stats: { decodedFrames: number }; replyTopic: string };
    const video = el.shadowRoot!.querySelector('video')!;
    const error = el.shadowRoot!.querySelector('.error')!.textContent ?? '';
    return { state: el.state, currentTime: video.currentTime, decoded: el.stats.decodedFrames, error, replyTopic: el.replyTopic };
  }, selector);
}

/** Frames decoded and the clock moving, as a person would see the picture play. */
async function expectPlaying(page: Page, selector: string): Promise<void> {
  let last: Shown | undefined;
  const first = await waitFor(async () => {
    last = await shown(page, selector);
    return last.decoded > 0 && last.currentTime > 0 ? last : undefined;
  }, { timeoutMs: 45_000, message: `${selector} shows frames` }).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen ${JSON.stringify(last)}`);
  });
  await waitFor(async () => {
    const s = await shown(page, selector);
    return s.currentTime > first.currentTime + 0.5 && s.decoded > first.decoded;
  }, { timeoutMs: 30_000, message: `${selector} keeps playing` });
}

/** Counts WebSockets the page opens (the shared connection must be one). */
function countWebSockets(): void {
  const w = window as unknown as { wsOpened: number; WebSocket: typeof WebSocket };
  w.wsOpened = 0;
  const Native = w.WebSocket;
  w.WebSocket = class extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      w.wsOpened++;
    }
  };
}

/** MQTT clients of the broker beyond the test's own (media server, publishers, status tap). */
let baseline = 0;
const pageClients = (): number => service.broker!.aedes.connectedClients - baseline;
const rtspFfmpeg = (): unknown[] => mediaProcesses().filter((p) => p.args.some((a) => a.includes(rtsp.url)));

beforeAll(async () => {
  await ensureClientBuilt();
  browser = await launchChromium();
  rtsp = await startRtspServer({ width: 320, height: 240, fps: 15 });
  service = await startTestService({ allow: [`rtsp://127.0.0.1:${rtsp.port}/*`], limits: { lingerMs: 500, leaseMs: 3000 } });
  publishers.push(publish('cam1'), publish('cam2'));
  statusTap = await mqtt.connectAsync(service.urls.mqtt, { protocolVersion: 4 });
  statusTap.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString('utf8')) as { state: string; reason?: string };
    statuses.push({ topic, state: body.state, reason: body.reason });
  });
  await statusTap.subscribeAsync('video/session/+/+/status');
  otherDir = await mkdtemp(path.join(tmpdir(), 'mqttcast-embed-'));
  other = await startStaticServer(otherDir);
  await waitFor(() => ['live/cam1', 'live/cam2'].every((n) => service.mediaServer.catalog().sources.some((s) => s.name === n)), {
    timeoutMs: 30_000,
    message: 'both channels in the catalog',
  });
}, 120_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close().catch(() => undefined)));
  expect(browser.consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await statusTap?.endAsync();
  for (const child of publishers) await stopChild(child, { graceMs: 2000 });
  await service?.close();
  await Promise.all([rtsp?.close(), other?.close()]);
  if (otherDir) await rm(otherDir, { recursive: true, force: true });
  expect(mediaProcesses()).toEqual([]);
});

describe('<mqttcast-player> on another origin', () => {
  it('plays a source, a channel and an RTSP URL over one WebSocket, shows URL_NOT_ALLOWED for a refused URL, and ends a removed element\'s session', async () => {
    const origin = new URL(service.urls.web).origin;
    await writeFile(path.join(otherDir, 'embed.html'), `<!doctype html>
<html><head><meta charset="utf-8"><title>embed</title><link rel="icon" href="data:,">
<style>mqttcast-player { display: inline-block; width: 300px; }</style></head>
<body>
<script type="module" src="${origin}/player.js"></script>
<mqttcast-player id="demo" source="demo" autoplay muted></mqttcast-player>
<mqttcast-player id="cam" source="live/cam1" autoplay muted stats></mqttcast-player>
<mqttcast-player id="rtsp" source="${rtsp.url}" autoplay muted></mqttcast-player>
<mqttcast-player id="refused" source="${REFUSED}" autoplay muted controls></mqttcast-player>
<script>
  window.seen = { playing: [], error: [], stats: {} };
  for (const el of document.querySelectorAll('mqttcast-player')) {
    el.addEventListener('playing', () => window.seen.playing.push(el.id));
    el.addEventListener('error', (e) => window.seen.error.push(el.id + ':' + e.detail.code));
    el.addEventListener('stats', (e) => { if (e.detail.bytes > 0) window.seen.stats[el.id] = (window.seen.stats[el.id] || 0) + 1; });
  }
</script>
</body></html>`);
    // `import 'mqttcast/player'` (npm) is the same module the server serves at /player.js.
    expect(createRequire(import.meta.url).resolve('mqttcast/player')).toBe(path.join(ROOT, 'dist', 'client', 'player.js'));
    // The player module is served with CORS (and only it), so the other origin may import it.
    const head = await fetch(`${origin}/player.js`);
    expect(head.headers.get('access-control-allow-origin')).toBe('*');
    expect((await fetch(`${origin}/`)).headers.get('access-control-allow-origin')).toBeNull();

    baseline = service.broker!.aedes.connectedClients;
    const page = await browser.newPage();
    pages.push(page);
    await page.addInitScript(countWebSockets);
    await page.goto(`${other.url}/embed.html`);
    expect(new URL(page.url()).origin).not.toBe(origin);
    await Promise.all(['#demo', '#cam', '#rtsp'].map((sel) => expectPlaying(page, sel)));
    await expect.poll(async () => (await shown(page, '#refused')).error, { timeout: 15_000 }).toContain('URL_NOT_ALLOWED');
    const refused = await shown(page, '#refused');
    expect(refused.state).toBe('error');
    expect(refused.decoded).toBe(0);
    type Seen = { playing: string[]; error: string[]; stats: Record<string, number> };
    const seen = await page.evaluate(() => (window as unknown as { seen: Seen }).seen);
    expect(new Set(seen.playing)).toEqual(new Set(['demo', 'cam', 'rtsp']));
    expect(seen.error).toEqual(['refused:URL_NOT_ALLOWED']);
    expect(Object.keys(seen.stats).sort()).toEqual(['cam', 'demo', 'rtsp']);
    // One MQTT connection for the four elements: one WebSocket in the page, one web client at the broker.
    expect(await page.evaluate(() => (window as unknown as { wsOpened: number }).wsOpened)).toBe(1);
    expect(pageClients()).toBe(1);
    expect(service.mediaServer.sessionCount).toBe(3);
    await screenshot(page, 'embed-four-elements');

    // Hidden, an element stops its session (nothing delivered); shown again, it plays again.
    const camTopic = (await shown(page, '#cam')).replyTopic;
    await page.evaluate(() => (document.getElementById('cam')!.style.display = 'none'));
    await expect.poll(async () => (await shown(page, '#cam')).state, { timeout: 10_000 }).toBe('paused');
    await waitFor(() => service.mediaServer.session(camTopic) === undefined, { message: 'no session while hidden' });
    expect(service.mediaServer.sessionCount).toBe(2);
    await page.evaluate(() => (document.getElementById('cam')!.style.display = ''));
    await waitFor(() => service.mediaServer.session(camTopic) !== undefined, { message: 'a new session once shown' });
    await expectPlaying(page, '#cam');

    // Removing an element ends its session (status `ended`) and, as its only viewer, the RTSP ffmpeg.
    const { replyTopic } = await shown(page, '#rtsp');
    expect(rtspFfmpeg()).not.toEqual([]);
    await page.evaluate(() => document.getElementById('rtsp')!.remove());
    await waitFor(() => statuses.find((s) => s.topic === `${replyTopic}/status` && s.state === 'ended'), { message: 'status ended for the removed element' });
    expect(statuses.find((s) => s.topic === `${replyTopic}/status` && s.state === 'ended')?.reason).toBe('stop');
    await waitFor(() => service.mediaServer.sessionCount === 2, { message: 'two sessions left' });
    await waitFor(() => rtspFfmpeg().length === 0, { message: 'the RTSP ffmpeg gone' });
    await expectPlaying(page, '#demo');
    await expectPlaying(page, '#cam');

    // The last element to go closes the shared connection.
    await page.evaluate(() => document.querySelectorAll('mqttcast-player').forEach((el) => el.remove()));
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'every session ended' });
    await waitFor(() => pageClients() === 0, { message: 'the shared connection closed' });
  });
});

describe('the wall', () => {
  it('plays four tiles at once from /?wall=..., each captioned with state and latency; a click enlarges a tile', async () => {
    const page = await browser.newPage();
    pages.push(page);
    await page.addInitScript(countWebSockets);
    await page.goto(`${service.urls.web}?wall=${['demo', 'cam1', 'cam2', encodeURIComponent(rtsp.url)].join(',')}`);
    const tiles = page.locator('#wall .tile');
    await expect.poll(() => tiles.count(), { timeout: 10_000 }).toBe(4);
    expect(await tiles.evaluateAll((ts) => ts.map((t) => (t as HTMLElement).dataset.source))).toEqual(['demo', 'live/cam1', 'live/cam2', rtsp.url]);
    await Promise.all([1, 2, 3, 4].map((n) => expectPlaying(page, `#wall .tile:nth-child(${n}) mqttcast-player`)));
    for (let n = 1; n <= 4; n++) {
      const tile = tiles.nth(n - 1);
      await expect.poll(() => tile.locator('.tile-state').textContent()).toBe('playing');
      await expect.poll(() => tile.locator('.tile-latency').textContent(), { timeout: 10_000 }).toMatch(/\d+ ms/);
    }
    expect(await page.evaluate(() => (window as unknown as { wsOpened: number }).wsOpened)).toBe(1);
    expect(service.mediaServer.sessionCount).toBe(4);
    await screenshot(page, 'wall-four-tiles');

    await tiles.nth(1).click();
    await expect.poll(() => tiles.nth(1).getAttribute('class')).toContain('enlarged');
    expect(await page.locator('#wall .tile.enlarged').count()).toBe(1);
    await expectPlaying(page, '#wall .tile:nth-child(2) mqttcast-player');
    await screenshot(page, 'wall-enlarged');
    await page.click('#wall-toggle'); // back to the player: the tiles go, and their sessions with them
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'wall sessions ended' });
  });
});
