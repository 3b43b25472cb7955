/**
 * The web player in Chromium against the real server: what a person sees
 * after pressing Start — video advancing, readable stats, plain errors — and
 * what the server sees when they stop or leave.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../broker/passwords.js';
import type { Service } from '../../media-server/service.js';
import { stopChild } from '../helpers/child.js';
import { makeMediaFixtures, type MediaFixtures } from '../helpers/fixtures.js';
import { startStaticServer, type StaticServer } from '../helpers/http-server.js';
import { freePort } from '../helpers/ports.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { descendants, mediaProcesses } from '../helpers/processes.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';
import { waitFor } from '../helpers/wait.js';
import { startTestService } from '../harness.js';
import { ensureClientBuilt, expectVideoPlaying as expectPlaying, launchChromium, openPlayerPage, screenshot, videoState, type Browser } from './chromium.js';

let browser: Browser;
let service: Service;
let fixtures: MediaFixtures;
let http: StaticServer;
let rtsp: RtspServer;
const pages: Page[] = [];

const open = (url = service.urls.web): Promise<Page> => openPlayerPage(browser, pages, url);


beforeAll(async () => {
  await ensureClientBuilt();
  [browser, fixtures] = await Promise.all([launchChromium(), makeMediaFixtures()]);
  http = await startStaticServer(fixtures.dir);
  rtsp = await startRtspServer({ width: 320, height: 240, fps: 15 });
  service = await startTestService({ allow: [`${http.url}/*`, `rtsp://127.0.0.1:${rtsp.port}/*`], limits: { lingerMs: 500, leaseMs: 3000 } });
}, 120_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close().catch(() => undefined)));
  expect(browser.consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await service?.close();
  await Promise.all([rtsp?.close(), http?.close()]);
  await fixtures?.close();
  expect(mediaProcesses()).toEqual([]);
});

describe('web player', () => {
  it('plays the demo source after Start, with codec and latency in the overlay', async () => {
    const page = await open();
    // The source picker is filled from the retained catalog.
    await expect.poll(() => page.locator('#source option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), { timeout: 10_000 }).toContain('demo');
    await page.click('#start');
    await expectPlaying(page);
    await expect.poll(() => page.textContent('#stat-codec')).toMatch(/avc1\.[0-9A-F]{6}/i);
    await expect.poll(() => page.textContent('#stat-latency'), { timeout: 10_000 }).toMatch(/\d/);
    await expect.poll(() => page.textContent('#stat-ttff')).toMatch(/\d/);
    await expect.poll(() => page.textContent('#stat-resolution')).toMatch(/320\s*[×x]\s*240/);
    await screenshot(page, 'player-demo');
  });

  it('plays a local RTSP source typed into the URL field', async () => {
    const page = await open();
    await page.fill('#url', rtsp.url);
    await page.click('#start');
    await expectPlaying(page);
    await expect.poll(() => page.textContent('#stat-mode')).toMatch(/copy/i);
    await screenshot(page, 'player-rtsp');
  });

  it('plays an HTTP-served MP4 typed into the URL field', async () => {
    const page = await open();
    await page.fill('#url', `${http.url}/${path.basename(fixtures.baselineMp4)}`);
    await page.click('#start');
    await expectPlaying(page);
  });

  it('shows URL_NOT_ALLOWED in plain words and starts no video for a URL outside the allowlist', async () => {
    const page = await open();
    await page.fill('#url', 'http://203.0.113.9/secret.mp4');
    await page.click('#start');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('URL_NOT_ALLOWED');
    expect(await page.textContent('#error')).toMatch(/allowlist/i);
    const s = await videoState(page);
    expect(s.frames).toBe(0);
    expect(s.currentTime).toBe(0);
    await screenshot(page, 'player-not-allowed');
  });

  it('Stop ends the session on the server and its ffmpeg', async () => {
    const page = await open();
    await page.click('#start');
    await expectPlaying(page);
    expect(service.mediaServer.sessionCount).toBe(1);
    await page.click('#stop');
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'session ended by Stop' });
    await waitFor(() => mediaProcesses().length === 0, { message: 'ffmpeg gone after Stop' });
  });

  it('closing the page ends the session', async () => {
    const page = await open();
    await page.click('#start');
    await expectPlaying(page);
    await page.close();
    await waitFor(() => service.mediaServer.sessionCount === 0, { timeoutMs: 20_000, message: 'session ended when the page closed' });
    await waitFor(() => mediaProcesses().length === 0, { message: 'ffmpeg gone after the page closed' });
  });
});

describe('web player in secure mode', () => {
  it('logs in with a user name and password and plays in that user\'s namespace', async () => {
    const local = await startTestService({
      auth: { enabled: true, users: [{ username: 'alice', role: 'viewer', passwordHash: await hashPassword('alice secret') }] },
      limits: { lingerMs: 500 },
    });
    try {
      const page = await browser.newPage();
      pages.push(page);
      await page.goto(local.urls.web);
      // Without credentials the broker refuses, and the page says so.
      await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toMatch(/BROKER_REFUSED|refused/i);
      await page.fill('#broker-username', 'alice');
      await page.fill('#broker-password', 'alice secret');
      await page.click('#connect');
      await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
      await page.click('#start');
      await expectPlaying(page);
      expect(local.mediaServer.session('video/session/alice/' + (await page.textContent('#client-id'))!.trim())).toBeDefined();
      await page.click('#stop');
      await waitFor(() => local.mediaServer.sessionCount === 0, { message: 'stopped' });
    } finally {
      await local.close();
    }
  });
});

describe('web player and a broker restart', () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child) await stopChild(child);
  });

  it('shows that it is reconnecting, then resumes playback', async () => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    child = await startServeProcess(httpPort, mqttPort);
    const page = await open(`http://127.0.0.1:${httpPort}/`);
    await page.click('#start');
    await expectPlaying(page);

    const old = child;
    await stopChild(old); // the whole service, broker included, goes away ...
    expect(descendants(old.pid).filter((p) => p.comm === 'ffmpeg')).toEqual([]);
    await expect.poll(() => page.locator('#connection').getAttribute('data-state'), { timeout: 15_000 }).not.toBe('connected');
    await expect.poll(() => page.textContent('#state'), { timeout: 15_000 }).toMatch(/reconnect/i);
    await screenshot(page, 'player-reconnecting');
    child = await startServeProcess(httpPort, mqttPort); // ... and comes back on the same ports
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 30_000 });
    const before = await videoState(page);
    await waitFor(async () => (await videoState(page)).frames > before.frames + 10, { timeoutMs: 30_000, message: 'frames decoded again' });
    await expectPlaying(page);
  });
});
