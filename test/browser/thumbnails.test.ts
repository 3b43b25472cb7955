/**
 * Thumbnails in Chromium: a live channel's latest snapshot (a real JPEG from ffmpeg,
 * retained on `video/live/<name>/snapshot`) on the page's source cards before anyone
 * presses Start, replaced and cleared as new ones arrive; a `<mqttcast-player poster>`
 * showing its poster (or a channel's snapshot) until its first frame; the wall tiles
 * showing theirs and their channel's state. Channel cam1 is real (`mqttcast publish`);
 * cam2 is only a retained live meta with no media, so it never shows a first frame and
 * no server makes pictures of it: what its cards and tiles show is ours alone (cam1 may
 * also get the media server's own pictures; any picture will do there). In secure
 * mode a logged-in viewer still sees a publisher's pictures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../broker/passwords.js';
import type { Service } from '../../media-server/service.js';
import { channelTopics } from '../../protocol/index.js';
import { runChecked, stopChild } from '../helpers/child.js';
import { startStaticServer, type StaticServer } from '../helpers/http-server.js';
import { mediaProcesses } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startTestService } from '../harness.js';
import { ensureClientBuilt, expectVideoPlaying, launchChromium, openPlayerPage, screenshot, type Browser } from './chromium.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CAM1 = channelTopics('video', 'cam1');
const CAM2 = channelTopics('video', 'cam2');

let browser: Browser;
let service: Service;
let publisher: ChildProcess;
let tap: MqttClient;
let other: StaticServer;
let otherDir: string;
/** 320x180 and 160x90 JPEGs made by ffmpeg. */
let big: Buffer;
let small: Buffer;
const pages: Page[] = [];

/** One JPEG of an ffmpeg test source, the way a snapshot maker writes it. */
async function jpeg(source: string): Promise<Buffer> {
  const { stdout } = await runChecked('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', source, '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1']);
  expect([...stdout.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  return stdout;
}

async function publishSnapshot(topic: string, payload: Buffer): Promise<void> {
  await tap.publishAsync(topic, payload, { qos: 1, retain: true });
}

/** A live channel's retained meta with no publisher behind it. */
function meta(state: 'live' | 'offline', publisher = 'thumbnails-test'): string {
  const at = new Date().toISOString();
  return JSON.stringify({ state, mimeCodec: 'video/mp4; codecs="avc1.42C01E"', publisher, started_at: at, updated_at: at, ...(state === 'offline' ? { reason: 'stopped' } : {}) });
}

/** Counts WebSockets the page opens: pictures and players share one connection. */
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

interface CardPicture {
  src: string;
  width: number;
  state: string;
  placeholder: boolean;
}

/** The picture on the source card of `source` (src '' when it has none) and its state badge. */
function card(page: Page, source: string): Promise<CardPicture> {
  return page.evaluate((src) => {
    const button = document.querySelector(`#source-cards .source-card[data-source="${src}"]`);
    if (!button) return { src: '', width: 0, state: 'missing', placeholder: false };
    const img = button.querySelector('img');
    const placeholder = button.querySelector('.thumb-placeholder')!;
    return {
      src: img?.getAttribute('src') ?? '',
      width: img?.complete ? img.naturalWidth : 0,
      state: button.querySelector('.card-state')!.textContent ?? '',
      placeholder: getComputedStyle(placeholder).display !== 'none',
    };
  }, source);
}

interface Poster {
  /** `shown`, `hidden` (a frame is on screen) or `none` (no poster). */
  poster: string;
  src: string;
  width: number;
  visible: boolean;
  state: string;
  decoded: number;
}

/** What a <mqttcast-player>'s poster shows, read through its open shadow root. */
function poster(page: Page, selector: string): Promise<Poster> {
  return page.evaluate((sel) => {
    const el = document.querySelector(sel) as HTMLElement & { state: string; stats: { decodedFrames: number } };
    const frame = el.shadowRoot!.querySelector<HTMLElement>('.frame')!;
    const img = el.shadowRoot!.querySelector<HTMLImageElement>('img.poster')!;
    const box = img.getBoundingClientRect();
    return {
      poster: frame.dataset.poster ?? '',
      src: img.getAttribute('src') ?? '',
      width: img.complete ? img.naturalWidth : 0,
      visible: getComputedStyle(img).display !== 'none' && box.width > 0 && box.height > 0,
      state: el.state,
      decoded: el.stats.decodedFrames,
    };
  }, selector);
}

const wsOpened = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as { wsOpened: number }).wsOpened);

beforeAll(async () => {
  await ensureClientBuilt();
  [browser, big, small] = await Promise.all([launchChromium(), jpeg('testsrc=size=320x180'), jpeg('smptebars=size=160x90')]);
  service = await startTestService({ limits: { lingerMs: 500, leaseMs: 3000 } });
  const args = [path.join(ROOT, 'bin', 'mqttcast.js'), 'publish', 'demo', '--name', 'cam1', '--broker', service.urls.mqtt, '--video-size', '320x240', '--framerate', '15', '-q'];
  publisher = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  publisher.stderr!.resume();
  tap = await mqtt.connectAsync(service.urls.mqtt, { protocolVersion: 5 });
  await tap.publishAsync(CAM2.meta, meta('live'), { qos: 1, retain: true });
  await waitFor(() => ['live/cam1', 'live/cam2'].every((n) => service.mediaServer.catalog().sources.some((s) => s.name === n)), {
    timeoutMs: 30_000,
    message: 'cam1 and cam2 in the catalog',
  });
  await publishSnapshot(CAM1.snapshot, big);
  await publishSnapshot(CAM2.snapshot, big);
  otherDir = await mkdtemp(path.join(tmpdir(), 'mqttcast-thumbnails-'));
  other = await startStaticServer(otherDir);
}, 120_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close().catch(() => undefined)));
  expect(browser.consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await tap?.endAsync();
  if (publisher) await stopChild(publisher, { graceMs: 2000 });
  await service?.close();
  await other?.close();
  if (otherDir) await rm(otherDir, { recursive: true, force: true });
  expect(mediaProcesses()).toEqual([]);
});

describe('thumbnails', () => {
  it('shows each live channel\'s latest snapshot and state on the source cards before Start; a click picks the source', async () => {
    const page = await browser.newPage();
    pages.push(page);
    await page.addInitScript(countWebSockets);
    await page.goto(service.urls.web);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
    for (const source of ['live/cam1', 'live/cam2']) {
      // Any JPEG will do for cam1: the media server may make its own pictures of a real channel.
      await expect.poll(async () => (await card(page, source)).width, { timeout: 15_000, message: `${source}'s picture` }).toBeGreaterThan(0);
      expect((await card(page, source)).state).toBe('Live');
      expect((await card(page, source)).src).toMatch(/^blob:/);
    }
    expect(await card(page, 'demo')).toMatchObject({ src: '', state: 'Source', placeholder: true });
    expect(await page.evaluate(() => window.mqttcast.state)).toBe('idle'); // nobody pressed Start
    expect(service.mediaServer.sessionCount).toBe(0);
    expect(await wsOpened(page)).toBe(1); // the pictures come over the page's one connection

    // A click picks the source: the list follows, and the stage previews the channel's snapshot.
    await page.click('#source-cards .source-card[data-source="live/cam2"]');
    expect(await page.inputValue('#source')).toBe('live/cam2');
    expect(await page.getAttribute('#source-cards .source-card[data-source="live/cam2"]', 'aria-pressed')).toBe('true');
    await expect.poll(async () => (await poster(page, '#player')).width, { timeout: 10_000 }).toBe(320);
    expect(await poster(page, '#player')).toMatchObject({ poster: 'shown', visible: true, state: 'idle', decoded: 0 });
    expect(service.mediaServer.sessionCount).toBe(0); // a preview, not a session
    expect(await page.textContent('#placeholder-text')).toBe('Press Start to play live/cam2');
    await page.setViewportSize({ width: 1280, height: 1000 });
    await screenshot(page, 'thumbnails-source-cards');
    await page.selectOption('#source', 'demo'); // and the cards follow the list
    expect(await page.getAttribute('#source-cards .source-card[data-source="live/cam2"]', 'aria-pressed')).toBe('false');
    expect(await poster(page, '#player')).toMatchObject({ poster: 'none', visible: false });

    // A new picture replaces the old one, whose URL is revoked; an empty one clears it.
    const old = (await card(page, 'live/cam2')).src;
    await publishSnapshot(CAM2.snapshot, small);
    await expect.poll(async () => (await card(page, 'live/cam2')).width, { timeout: 10_000 }).toBe(160);
    expect((await card(page, 'live/cam2')).src).not.toBe(old);
    const errorsBefore = browser.consoleErrors.length;
    const revoked = await page.evaluate((url) => fetch(url).then(() => false, () => true), old);
    expect(revoked).toBe(true);
    // Chromium reports the refused fetch of the revoked URL on the console: that one is ours.
    await expect.poll(() => browser.consoleErrors.slice(errorsBefore)).toEqual(['Failed to load resource: net::ERR_FILE_NOT_FOUND']);
    browser.consoleErrors.splice(errorsBefore);
    await publishSnapshot(CAM2.snapshot, Buffer.alloc(0));
    await expect.poll(() => card(page, 'live/cam2'), { timeout: 10_000 }).toMatchObject({ src: '', placeholder: true, state: 'Live' });
    await publishSnapshot(CAM2.snapshot, big);
    await expect.poll(async () => (await card(page, 'live/cam2')).width, { timeout: 10_000 }).toBe(320);

    // A new catalog updates the cards in place: the one with the focus keeps it.
    await page.focus('#source-cards .source-card[data-source="live/cam1"]');
    await tap.publishAsync(CAM2.meta, meta('live', 'thumbnails-test-2'), { qos: 1, retain: true });
    await expect.poll(() => page.getAttribute('#source-cards .source-card[data-source="live/cam2"]', 'title'), { timeout: 10_000 }).toContain('thumbnails-test-2');
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.source)).toBe('live/cam1');
    expect((await card(page, 'live/cam2')).width).toBe(320);

    await page.keyboard.press('Enter'); // picks the focused card
    expect(await page.inputValue('#source')).toBe('live/cam1');
    await page.click('#start');
    await expectVideoPlaying(page);
    expect(await wsOpened(page)).toBe(1);
  });

  it('<mqttcast-player poster> shows its poster until the first frame; a channel without one shows its latest snapshot', async () => {
    const origin = new URL(service.urls.web).origin;
    const dataUrl = `data:image/jpeg;base64,${big.toString('base64')}`;
    await writeFile(path.join(otherDir, 'poster.html'), `<!doctype html>
<html><head><meta charset="utf-8"><title>poster</title><link rel="icon" href="data:,">
<style>mqttcast-player { display: inline-block; width: 320px; }</style></head>
<body>
<script type="module" src="${origin}/player.js"></script>
<mqttcast-player id="given" source="live/cam1" poster="${dataUrl}" muted controls></mqttcast-player>
<mqttcast-player id="auto" source="live/cam2" muted></mqttcast-player>
<mqttcast-player id="plain" source="demo" muted></mqttcast-player>
</body></html>`);
    const page = await browser.newPage();
    pages.push(page);
    await page.addInitScript(countWebSockets);
    await page.goto(`${other.url}/poster.html`);
    await expect.poll(async () => (await poster(page, '#given')).width, { timeout: 15_000 }).toBe(320);
    expect(await poster(page, '#given')).toMatchObject({ poster: 'shown', src: dataUrl, visible: true, state: 'idle', decoded: 0 });
    await expect.poll(async () => (await poster(page, '#auto')).width, { timeout: 15_000 }).toBe(320);
    expect(await poster(page, '#auto')).toMatchObject({ poster: 'shown', visible: true, state: 'idle' });
    expect((await poster(page, '#auto')).src).toMatch(/^blob:/);
    expect(await poster(page, '#plain')).toMatchObject({ poster: 'none', src: '', visible: false }); // no channel, no poster
    expect(await page.evaluate(() => (customElements.get('mqttcast-player') as unknown as { observedAttributes: string[] }).observedAttributes)).toContain('poster');
    await screenshot(page, 'thumbnails-poster');

    // Playing: the poster goes once the first frame is on screen.
    await page.evaluate(() => (document.getElementById('given') as HTMLElement & { play(): void }).play());
    await expect.poll(async () => (await poster(page, '#given')).state, { timeout: 45_000 }).toBe('playing');
    expect(await poster(page, '#given')).toMatchObject({ poster: 'hidden', visible: false });
    expect((await poster(page, '#given')).decoded).toBeGreaterThan(0);
    // Stopped, the picture is gone and the poster is back.
    await page.evaluate(() => (document.getElementById('given') as HTMLElement & { stop(): void }).stop());
    await expect.poll(async () => (await poster(page, '#given')).poster).toBe('shown');

    // Without the attribute, the element falls back to its channel's snapshot.
    await page.evaluate(() => document.getElementById('given')!.removeAttribute('poster'));
    await expect.poll(async () => (await poster(page, '#given')).src, { timeout: 10_000 }).toMatch(/^blob:/);
    expect(await wsOpened(page)).toBe(1);
  });

  it('the wall shows each channel tile\'s snapshot until its first frame, with the channel\'s state', async () => {
    const page = await openPlayerPage(browser, pages, `${service.urls.web}?wall=cam1,cam2`);
    const tile = (source: string): string => `#wall .tile[data-source="${source}"]`;
    await expect.poll(() => page.locator('#wall .tile').count(), { timeout: 10_000 }).toBe(2);
    // cam2 has no media: its tile keeps showing the snapshot, badged live.
    await expect.poll(async () => (await poster(page, `${tile('live/cam2')} mqttcast-player`)).width, { timeout: 15_000 }).toBe(320);
    expect(await poster(page, `${tile('live/cam2')} mqttcast-player`)).toMatchObject({ poster: 'shown', visible: true, decoded: 0 });
    expect(await page.textContent(`${tile('live/cam2')} .tile-channel`)).toBe('live');
    // cam1 plays: once its first frame is on screen, its snapshot gives way.
    await expect.poll(async () => (await poster(page, `${tile('live/cam1')} mqttcast-player`)).state, { timeout: 45_000 }).toBe('playing');
    expect(await poster(page, `${tile('live/cam1')} mqttcast-player`)).toMatchObject({ poster: 'hidden', visible: false });
    expect(await page.textContent(`${tile('live/cam1')} .tile-channel`)).toBe('live');
    await screenshot(page, 'thumbnails-wall');

    // cam2 goes offline: its tile and its card say so.
    await tap.publishAsync(CAM2.meta, meta('offline'), { qos: 1, retain: true });
    await expect.poll(() => page.textContent(`${tile('live/cam2')} .tile-channel`), { timeout: 10_000 }).toBe('offline');
    await page.click('#wall-toggle');
    await expect.poll(async () => (await card(page, 'live/cam2')).state, { timeout: 10_000 }).toBe('Offline (stopped)');
    expect(await page.isDisabled('#source-cards .source-card[data-source="live/cam2"]')).toBe(true);
  });

  it('in secure mode a logged-in viewer sees the pictures of a publisher\'s channel', async () => {
    const local = await startTestService({
      auth: {
        enabled: true,
        users: [
          { username: 'alice', role: 'viewer', passwordHash: await hashPassword('alice secret') },
          { username: 'cam3', role: 'publisher', passwordHash: await hashPassword('cam3 secret') },
        ],
      },
      limits: { lingerMs: 500 },
    });
    const cam3 = await mqtt.connectAsync(local.urls.mqtt, { protocolVersion: 5, clientId: 'cam3-test', username: 'cam3', password: 'cam3 secret' });
    try {
      const topics = channelTopics('video', 'cam3');
      await cam3.publishAsync(topics.meta, meta('live'), { qos: 1, retain: true });
      await cam3.publishAsync(topics.snapshot, big, { qos: 1, retain: true });
      await waitFor(() => local.mediaServer.catalog().sources.some((s) => s.name === 'live/cam3'), { message: 'cam3 in the catalog' });
      const page = await browser.newPage();
      pages.push(page);
      await page.goto(local.urls.web);
      await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toMatch(/BROKER_REFUSED|refused/i);
      await page.fill('#broker-username', 'alice');
      await page.fill('#broker-password', 'alice secret');
      await page.click('#connect');
      await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
      await expect.poll(async () => (await card(page, 'live/cam3')).width, { timeout: 15_000, message: 'cam3\'s picture' }).toBe(320);
      expect((await card(page, 'live/cam3')).state).toBe('Live');
    } finally {
      await cam3.endAsync();
      await local.close();
    }
  });
});
