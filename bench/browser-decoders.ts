/**
 * The web player's two decoders side by side in Chromium: latency (the
 * overlay's producer → shown, p50/p95 sampled 4× a second), MSE stalls
 * (`waiting` events), renderer CPU, dropped frames and server skips, for the
 * demo source (the server's fragments) or, with --frag-us, a live channel that
 * ffmpeg publishes with that fragment duration (1 = one frame per fragment).
 *
 *   flock /tmp/mqttcast-test.lock npx tsx bench/browser-decoders.ts [--modes mse,webcodecs,mse:0.3] [--seconds 20] [--frag-us 1]
 *
 * A mode is `mse` or `webcodecs`, optionally `:<latency>` for a fixed MSE
 * target. Prints one JSON line per run. Not part of `npm run bench` yet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { Fmp4Segmenter, channelTopics, parseInit } from '../protocol/index.js';
import { ensureClientBuilt, launchChromium } from '../test/browser/chromium.js';
import { startTestService } from '../test/harness.js';

interface Stats {
  latencyMs: number | null;
  targetS: number | null;
  droppedFrames: number;
  playerDropped: number;
  skipped: number;
  engine: string;
}

type Probe = { stalls: number; mqttcast: { state: string; stats: Stats } };

const { values } = parseArgs({
  options: {
    modes: { type: 'string', default: 'mse,webcodecs,mse,webcodecs' },
    seconds: { type: 'string', default: '20' },
    'frag-us': { type: 'string', default: '0' },
  },
});
const seconds = Number(values.seconds);
const fragUs = Number(values['frag-us']);

/** CPU ticks (1/100 s) of Chromium's renderer processes. */
function rendererTicks(): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended between listing and reading: it has no more ticks to count
    }
  }
  return ticks;
}

const percentile = (xs: number[], p: number): number | null => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))]! : null;
};

/** A live channel `exp` published by ffmpeg with fragments of `fragUs` µs, like `mqttcast publish`. */
async function publishChannel(mqttUrl: string): Promise<{ ffmpeg: ChildProcess; client: MqttClient }> {
  const client = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5 });
  const topics = channelTopics('video', 'exp');
  const ffmpeg = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', String(fragUs), '-write_prft', 'wallclock', '-flush_packets', '1', 'pipe:1',
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
  await sleep(3000);
  return { ffmpeg, client };
}

async function measure(page: Page, mode: string): Promise<Record<string, unknown>> {
  await page.evaluate(() => {
    const w = window as unknown as Probe;
    w.stalls = 0;
    document.querySelector('video')!.addEventListener('waiting', () => w.stalls++);
  });
  if (fragUs > 0) {
    await page.evaluate(() => {
      const select = document.getElementById('source') as HTMLSelectElement;
      select.add(new Option('live/exp', 'live/exp'));
      select.value = 'live/exp';
    });
  }
  await page.click('#start');
  await page.waitForFunction(() => (window as unknown as Probe).mqttcast.state === 'playing', undefined, { timeout: 30_000 });
  await sleep(8000); // settle: start-up catch-up is not steady state
  const read = (): Promise<{ stats: Stats; stalls: number }> => page.evaluate(() => ({ stats: (window as unknown as Probe).mqttcast.stats, stalls: (window as unknown as Probe).stalls }));
  const first = await read();
  const ticks0 = rendererTicks();
  const t0 = Date.now();
  const latency: number[] = [];
  const targets: number[] = [];
  let last = first;
  for (let i = 0; i < seconds * 4; i++) {
    await sleep(250);
    last = await read();
    if (last.stats.latencyMs !== null) latency.push(last.stats.latencyMs);
    if (last.stats.targetS !== null) targets.push(last.stats.targetS);
  }
  const cpu = ((rendererTicks() - ticks0) / 100 / ((Date.now() - t0) / 1000)) * 100;
  return {
    mode,
    engine: last.stats.engine,
    latency_p50_ms: Math.round(percentile(latency, 0.5) ?? NaN),
    latency_p95_ms: Math.round(percentile(latency, 0.95) ?? NaN),
    mse_target_s: percentile(targets, 0.5),
    renderer_cpu_pct: Math.round(cpu),
    stalls: mode.startsWith('mse') ? last.stalls - first.stalls : null,
    dropped_frames: last.stats.droppedFrames - first.stats.droppedFrames,
    server_skipped: last.stats.skipped,
    player_skipped: last.stats.playerDropped,
  };
}

await ensureClientBuilt();
const service = await startTestService({ demo: { width: 640, height: 360, fps: 30 }, limits: { lingerMs: 500 } } as Parameters<typeof startTestService>[0]);
const browser = await launchChromium();
const channel = fragUs > 0 ? await publishChannel(service.urls.mqtt) : undefined;
try {
  for (const mode of values.modes.split(',')) {
    const [engine, latency] = mode.split(':');
    const page = await browser.newPage();
    await page.goto(`${service.urls.web}?mode=${engine}${latency ? `&latency=${latency}` : ''}`);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
    process.stdout.write(`${JSON.stringify({ frag_us: fragUs || 'server', ...(await measure(page, mode)) })}\n`);
    await page.click('#stop');
    await page.close();
    await sleep(1500);
  }
} finally {
  channel?.ffmpeg.kill('SIGKILL');
  await channel?.client.endAsync();
  await browser.close();
  await service.close();
}
