/**
 * The page's CPU with a wall of four tiles against a wall of one, in MSE and
 * WebCodecs mode: Chromium's renderer (page, demuxing, decoding) and all its
 * processes, % of one core, with the tiles' mean latency and frames decoded per
 * second. Two live channels published with `mqttcast publish` (640×360 at 30 fps),
 * four tiles = cam1, cam2, live/cam1, live/cam2 (two sessions of each).
 *
 *   npx tsx bench/wall-cpu.ts [--seconds 20]
 *
 * Prints a table and writes bench/results/<time>-wall-cpu.json. Not part of `npm run bench`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { ensureClientBuilt, launchChromium } from '../test/browser/chromium.js';
import { chromiumTicks, cpuPercent } from './peer/chromium-cpu.js';
import { REPO_ROOT, startMqttcastServer } from './server-process.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface TileReading {
  state: string;
  latencyMs: number | null;
  decoded: number;
}

function readTiles(page: Page): Promise<TileReading[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#wall mqttcast-player')].map((el) => {
      const p = el as unknown as { state: string; stats: { latencyMs: number | null; decodedFrames: number } };
      return { state: p.state, latencyMs: p.stats.latencyMs, decoded: p.stats.decodedFrames };
    }),
  );
}

function publish(name: string, mqttUrl: string): ChildProcess {
  const args = ['bin/mqttcast.js', 'publish', 'demo', '--name', name, '--broker', mqttUrl, '--video-size', '640x360', '--framerate', '30', '-q'];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

const server = await startMqttcastServer();
const publishers = [publish('cam1', server.mqttUrl), publish('cam2', server.mqttUrl)];
await ensureClientBuilt();
const browser = await launchChromium();
const rows: Array<Record<string, unknown>> = [];
try {
  await sleep(5000); // the channels come up
  const cases = [
    { mode: 'mse', tiles: ['cam1'] },
    { mode: 'mse', tiles: ['cam1', 'cam2', 'live/cam1', 'live/cam2'] },
    { mode: 'webcodecs', tiles: ['cam1'] },
    { mode: 'webcodecs', tiles: ['cam1', 'cam2', 'live/cam1', 'live/cam2'] },
  ];
  for (const c of cases) {
    const page = await browser.newPage();
    const query = `${c.mode === 'webcodecs' ? 'mode=webcodecs&' : ''}wall=${c.tiles.join(',')}`;
    await page.goto(`http://127.0.0.1:${server.httpPort}/?${query}`);
    const deadline = Date.now() + 30_000;
    while (!(await readTiles(page)).every((t) => t.state === 'playing') || (await readTiles(page)).length !== c.tiles.length) {
      if (Date.now() > deadline) throw new Error(`tiles never all played: ${JSON.stringify(await readTiles(page))}`);
      await sleep(200);
    }
    await sleep(5000); // start-up catch-up is not steady state
    const before = await readTiles(page);
    const t0 = chromiumTicks();
    const latencies: number[] = [];
    for (let i = 0; i < seconds * 2; i++) {
      await sleep(500);
      for (const t of await readTiles(page)) if (t.latencyMs !== null) latencies.push(t.latencyMs);
    }
    const cpu = cpuPercent(t0, chromiumTicks());
    const after = await readTiles(page);
    const fps = after.reduce((s, t, i) => s + (t.decoded - (before[i]?.decoded ?? 0)), 0) / seconds;
    latencies.sort((a, b) => a - b);
    rows.push({
      mode: c.mode,
      tiles: c.tiles.length,
      rendererPct: Math.round(cpu.renderer),
      chromiumPct: Math.round(cpu.total),
      gpuPct: Math.round(cpu.byType['gpu-process'] ?? 0),
      framesPerS: Math.round(fps),
      latencyP50Ms: Math.round(latencies[Math.floor(latencies.length / 2)] ?? NaN),
      states: after.map((t) => t.state).join(','),
    });
    await page.close();
    await sleep(2000);
  }
} finally {
  await browser.close();
  for (const p of publishers) p.kill('SIGTERM');
  await server.close();
}
console.table(rows);
const dir = path.join(REPO_ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const file = path.join(dir, `${new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-wall-cpu.json`);
await writeFile(file, JSON.stringify({ seconds, rows, note: 'Chromium headless, --disable-gpu; 640x360@30 channels; % of one core' }, null, 2));
console.log(`wrote ${path.relative(REPO_ROOT, file)}`);
