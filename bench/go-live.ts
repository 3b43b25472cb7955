/**
 * Go live end to end in Chromium: a page publishes the fake camera (640×360, 30 fps,
 * 1 Mb/s, Opus) as channel `golive`; viewer pages play it through the media server
 * with each decoder. Side by side in the same run, channel `ffmpeg` is the same size
 * and rate made by ffmpeg with one-frame fragments, as `mqttcast publish` makes it.
 * Reports latency (the overlay's capture → shown, from each fragment's prft; p50/p95
 * sampled 4× a second) and the CPU of all Chromium processes while only the publisher
 * runs.
 *
 *   flock /tmp/mqttcast-test.lock npx tsx bench/go-live.ts [--seconds 20] [--modes webcodecs,mse] [--channels golive,ffmpeg] [--no-audio]
 *
 * Prints one JSON line per measurement and writes bench/results/<time>-go-live.jsonl.
 * Not part of `npm run bench`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { Fmp4Segmenter, channelTopics, parseInit } from '../protocol/index.js';
import { descendants } from '../test/helpers/processes.js';
import { ensureClientBuilt, launchChromium, type Browser } from '../test/browser/chromium.js';
import { startTestService } from '../test/harness.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, modes: { type: 'string', default: 'webcodecs,mse' }, 'no-audio': { type: 'boolean', default: false }, channels: { type: 'string', default: 'golive,ffmpeg' } },
});
const SECONDS = Number(values.seconds);
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const OUT = path.join(RESULTS, `${new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-go-live.jsonl`);

type Probe = { mqttcast: { state: string; stats: { latencyMs: number | null; engine: string; droppedFrames: number } } };

function report(line: Record<string, unknown>): void {
  const text = JSON.stringify(line);
  process.stdout.write(`${text}\n`);
  mkdirSync(RESULTS, { recursive: true });
  appendFileSync(OUT, `${text}\n`);
}

const percentile = (xs: number[], p: number): number | null => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))]! : null;
};

/** CPU ticks (1/100 s) of this process's Chromium descendants. */
function chromiumTicks(): number {
  let ticks = 0;
  for (const p of descendants().filter((d) => d.comm.startsWith('chrom'))) {
    try {
      const fields = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // ended between listing and reading: no more ticks to count
    }
  }
  return ticks;
}

/** Channel `ffmpeg`: testsrc2 640×360@30 + AAC, one fragment per frame with a wall-clock prft, like `mqttcast publish`. */
async function ffmpegChannel(mqttUrl: string): Promise<{ ffmpeg: ChildProcess; client: MqttClient }> {
  const client = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5 });
  const topics = channelTopics('video', 'ffmpeg');
  const ffmpeg = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-b:v', '1M', '-pix_fmt', 'yuv420p',
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '64k', '-ac', '1',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '30000', '-write_prft', 'wallclock', '-flush_packets', '1', 'pipe:1',
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const segmenter = new Fmp4Segmenter();
  ffmpeg.stdout!.on('data', (chunk: Buffer) => {
    for (const s of segmenter.push(chunk)) {
      if (s.kind === 'init') {
        client.publish(topics.init, Buffer.from(s.data), { retain: true, qos: 1 });
        const meta = { state: 'live', mimeCodec: parseInit(s.data).mimeCodec, tracks: [], publisher: 'bench', started_at: new Date().toISOString() };
        client.publish(topics.meta, JSON.stringify(meta), { retain: true, qos: 1 });
      } else client.publish(topics.data, Buffer.from(s.data), { qos: 0 });
    }
  });
  return { ffmpeg, client };
}

async function goLive(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  await page.fill('#go-live-name', 'golive');
  await page.selectOption('#go-live-resolution', { label: '640×360' });
  await page.selectOption('#go-live-bitrate', { label: '1 Mb/s' });
  await page.selectOption('#go-live-framerate', { label: '30' });
  if (values['no-audio']) await page.selectOption('#go-live-microphone', 'none');
  await page.click('#go-live-start');
  await page.locator('#go-live-state[data-state="live"]').waitFor({ timeout: 30_000 });
  return page;
}

async function publisherCpu(): Promise<void> {
  const t0 = Date.now();
  const ticks0 = chromiumTicks();
  await sleep(SECONDS * 500);
  report({ measure: 'publisher_chromium_cpu_pct', value: Math.round(((chromiumTicks() - ticks0) / 100 / ((Date.now() - t0) / 1000)) * 100), note: 'all Chromium processes, publisher page only (capture, encode, mux, MQTT)' });
}

async function watch(browser: Browser, url: string, channel: string, mode: string): Promise<void> {
  const page = await browser.newPage();
  await page.goto(`${url}?mode=${mode}`);
  await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  await page.waitForFunction((v) => [...(document.getElementById('source') as HTMLSelectElement).options].some((o) => o.value === v), `live/${channel}`, { timeout: 20_000 });
  await page.selectOption('#source', `live/${channel}`);
  await page.click('#start');
  await page.waitForFunction(() => (window as unknown as Probe).mqttcast.state === 'playing', undefined, { timeout: 30_000 });
  await sleep(6000); // start-up catch-up is not steady state
  const latency: number[] = [];
  const read = (): Promise<Probe['mqttcast']['stats']> => page.evaluate(() => (window as unknown as Probe).mqttcast.stats);
  const first = await read();
  let last = first;
  for (let i = 0; i < SECONDS * 4; i++) {
    await sleep(250);
    last = await read();
    if (last.latencyMs !== null) latency.push(last.latencyMs);
  }
  report({
    measure: 'latency', channel, mode, audio: channel === 'ffmpeg' || !values['no-audio'], engine: last.engine,
    p50_ms: Math.round(percentile(latency, 0.5) ?? NaN), p95_ms: Math.round(percentile(latency, 0.95) ?? NaN),
    samples: latency.length, dropped_frames: last.droppedFrames - first.droppedFrames,
  });
  await page.click('#stop');
  await page.close();
}

await ensureClientBuilt();
const service = await startTestService({ limits: { lingerMs: 500 } });
const browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
let channel: { ffmpeg: ChildProcess; client: MqttClient } | undefined;
try {
  const publisher = await goLive(browser, service.urls.web);
  await sleep(3000);
  await publisherCpu();
  channel = await ffmpegChannel(service.urls.mqtt);
  for (const mode of values.modes.split(',')) {
    for (const name of values.channels.split(',')) await watch(browser, service.urls.web, name, mode);
  }
  report({ measure: 'publisher_stats', frames: Number(await publisher.textContent('#go-live-stat-frames')), dropped: Number(await publisher.textContent('#go-live-stat-dropped')), bitrate: await publisher.textContent('#go-live-stat-bitrate') });
  await publisher.click('#go-live-stop');
  await publisher.locator('#go-live-state[data-state="offline"]').waitFor({ timeout: 15_000 });
} finally {
  channel?.ffmpeg.kill('SIGKILL');
  await channel?.client.endAsync();
  await browser.close();
  await service.close();
}
console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
