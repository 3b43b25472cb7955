/**
 * Go live from the browser (issue 14 item 3): Chromium's fake camera and microphone →
 * WebCodecs → fMP4 → `P/live/<name>/…` through the embedded broker over WebSocket. The
 * channel shows up in the media server's catalog and the page's source list, another
 * tab plays it, raw taps of init + data decode, Stop leaves meta `offline`; in secure
 * mode the broker's refusal of another user's channel shows as PUBLISH_REFUSED.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../broker/passwords.js';
import type { Service } from '../../media-server/service.js';
import { CatalogSchema, channelTopics, parseChannelMeta, parseFragment, parseInit, type ChannelMeta } from '../../protocol/index.js';
import { stopChild, waitForExit } from '../helpers/child.js';
import { ffprobeStreams } from '../helpers/ffprobe.js';
import { mediaProcesses } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startTestService } from '../harness.js';
import { expectBoxAlignedStream, expectDecodable } from '../media-check.js';
import { ensureClientBuilt, expectVideoPlaying as expectPlaying, launchChromium, openPlayerPage, screenshot, type Browser } from './chromium.js';

const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

let browser: Browser;
let service: Service;
const pages: Page[] = [];
const clients: MqttClient[] = [];

const open = (url: string): Promise<Page> => openPlayerPage(browser, pages, url);


/** An MQTT.js client that keeps every message of `topics`, in arrival order. */
async function capture(url: string, topics: string[]): Promise<Array<{ topic: string; payload: Buffer }>> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5 });
  clients.push(client);
  const got: Array<{ topic: string; payload: Buffer }> = [];
  client.on('message', (topic, payload) => got.push({ topic, payload }));
  await client.subscribeAsync(topics, { qos: 1 });
  return got;
}

async function retainedMeta(url: string, name: string): Promise<ChannelMeta> {
  const got = await capture(url, [channelTopics('video', name).meta]);
  return parseChannelMeta((await waitFor(() => got[0], { message: 'retained meta' })).payload);
}

beforeAll(async () => {
  await ensureClientBuilt();
  browser = await launchChromium(FAKE_CAMERA);
  service = await startTestService({ limits: { lingerMs: 500 } });
}, 120_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close().catch(() => undefined)));
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  expect(browser.consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await service?.close();
  expect(mediaProcesses()).toEqual([]);
});

describe('Go live from the browser', () => {
  it('publishes the fake camera as a channel: catalog, source list, another tab plays it, taps decode, Stop → offline', async () => {
    const name = 'golive1';
    const topics = channelTopics('video', name);
    const tap = await capture(service.urls.mqtt, [topics.init, topics.data]);
    const page = await open(service.urls.web);
    await page.fill('#go-live-name', name);
    await page.selectOption('#go-live-resolution', { label: '640×360' });
    await page.click('#go-live-start');
    await page.locator('#go-live-state[data-state="live"]').waitFor({ timeout: 30_000 });

    // The media server sees a live channel with H.264 + Opus, and lists it; the page's source list follows.
    const meta = await waitFor(() => (service.mediaServer.channels.meta(name)?.state === 'live' ? service.mediaServer.channels.meta(name) : undefined), { message: 'channel live' });
    expect(meta!.mimeCodec).toMatch(/^video\/mp4; codecs="avc1\.42[0-9A-F]{4}, opus"$/);
    expect(meta!.publisher).toMatch(/^browser /);
    await expect.poll(() => page.locator('#source option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), { timeout: 15_000 }).toContain(`live/${name}`);
    const catalogMsgs = await capture(service.urls.mqtt, ['video/catalog']);
    const catalog = CatalogSchema.parse(JSON.parse((await waitFor(() => catalogMsgs[0], { message: 'catalog' })).payload.toString('utf8')));
    expect(catalog.sources.map((s) => s.name)).toContain(`live/${name}`);

    // Another tab plays the channel through the media server.
    const viewer = await open(service.urls.web);
    await expect.poll(() => viewer.locator('#source option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), { timeout: 15_000 }).toContain(`live/${name}`);
    await viewer.selectOption('#source', `live/${name}`);
    await viewer.click('#start');
    await expectPlaying(viewer);
    await expect.poll(() => viewer.textContent('#stat-resolution')).toMatch(/640\s*[×x]\s*360/);
    await screenshot(viewer, 'go-live-viewer');

    // The panel's stats move.
    await expect.poll(async () => Number(await page.textContent('#go-live-stat-frames')), { timeout: 10_000 }).toBeGreaterThan(20);
    await expect.poll(() => page.textContent('#go-live-stat-bitrate')).toMatch(/bit\/s/);
    await screenshot(page, 'go-live-panel');

    // The MQTT.js tap, subscribed before Go live: init first, whole boxes per message, a prft on each fragment, decodes from its first byte.
    const messages = await waitFor(() => (tap.length >= 41 ? tap.slice(0, 41) : undefined), { message: '40 fragments on the tap' });
    expect(messages[0]!.topic).toBe(topics.init);
    expect(messages.slice(1).every((m) => m.topic === topics.data)).toBe(true);
    expectBoxAlignedStream(messages.map((m) => m.payload), 40);
    expect(parseInit(messages[0]!.payload).tracks.map((t) => [t.type, t.codec.split('.')[0]])).toEqual([['video', 'avc1'], ['audio', 'opus']]);
    for (const m of messages.slice(1)) expect(Math.abs(parseFragment(m.payload).producerTimeMs! - Date.now())).toBeLessThan(60_000);
    const streams = await expectDecodable(messages.map((m) => m.payload), { variableFrameRate: true });
    expect(streams.map((s) => s.codec_name).sort()).toEqual(['h264', 'opus']);

    // A raw `mosquitto_sub -N` tap of the live channel (it may start mid-GOP) is a file ffprobe reads.
    const dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-golive-'));
    try {
      const file = path.join(dir, 'tap.mp4');
      const fd = openSync(file, 'w');
      const port = new URL(service.urls.mqtt).port;
      const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-N', '-t', topics.init, '-t', topics.data, '-C', '40'], { stdio: ['ignore', fd, 'pipe'] });
      closeSync(fd);
      let stderr = '';
      sub.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      const exited = await waitForExit(sub, 30_000);
      if (!exited) await stopChild(sub);
      expect(exited, stderr).toBe(true);
      const probed = await ffprobeStreams(file);
      expect(probed.map((s) => [s.codec_name, s.width ?? s.channels])).toEqual([['h264', 640], ['opus', 1]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // Stop: meta offline (retained), the retained init cleared, the viewer told the source went away.
    await page.click('#go-live-stop');
    await page.locator('#go-live-state[data-state="offline"]').waitFor({ timeout: 15_000 });
    expect(await retainedMeta(service.urls.mqtt, name)).toMatchObject({ state: 'offline', reason: 'stopped' });
    await waitFor(() => (service.mediaServer.channels.meta(name)?.state === 'offline' ? true : undefined), { message: 'server sees offline' });
    const init = await capture(service.urls.mqtt, [topics.init]);
    await capture(service.urls.mqtt, ['video/catalog']); // a round trip after the init subscription: a retained init would be here by now
    expect(init).toEqual([]);
    expect(await page.evaluate(() => (document.querySelector('#go-live-preview') as HTMLVideoElement).srcObject)).toBeNull(); // camera off
  });

  it('in secure mode publishes only the channel named after the user; another name shows PUBLISH_REFUSED', async () => {
    const local = await startTestService({
      auth: { enabled: true, users: [{ username: 'cam7', role: 'publisher', passwordHash: await hashPassword('cam7 secret') }] },
      limits: { lingerMs: 500 },
    });
    try {
      const page = await browser.newPage();
      pages.push(page);
      await page.goto(local.urls.web);
      await page.fill('#broker-username', 'cam7');
      await page.fill('#broker-password', 'cam7 secret');
      await page.click('#connect');
      await page.fill('#go-live-name', 'someone-else');
      await page.click('#go-live-start');
      await expect.poll(() => page.locator('#go-live-error').getAttribute('data-code'), { timeout: 30_000 }).toBe('PUBLISH_REFUSED');
      expect(await page.textContent('#go-live-error')).toMatch(/only the channel named after it \(cam7\)/);
      await page.locator('#go-live-state[data-state="offline"]').waitFor({ timeout: 15_000 });
      expect(local.mediaServer.channels.meta('someone-else')).toBeUndefined();

      // An empty name means the user's own channel, which the broker accepts.
      await page.fill('#go-live-name', '');
      await page.click('#go-live-start');
      await page.locator('#go-live-state[data-state="live"]').waitFor({ timeout: 30_000 });
      expect(await page.inputValue('#go-live-name')).toBe('cam7');
      await waitFor(() => (local.mediaServer.channels.meta('cam7')?.state === 'live' ? true : undefined), { message: 'cam7 live' });
      expect(await page.textContent('#go-live-error')).toBe('');
      await page.click('#go-live-stop');
      await waitFor(() => (local.mediaServer.channels.meta('cam7')?.state === 'offline' ? true : undefined), { message: 'cam7 offline' });
    } finally {
      await local.close();
    }
  });
});
