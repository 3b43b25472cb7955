/**
 * Scenario low-latency: producer time → frame SHOWN in Chromium by the web
 * player, from the server's demo source at its defaults, in each decoder
 * mode: MSE, dated by requestVideoFrameCallback's expected display time, and
 * WebCodecs (`?mode=webcodecs`), dated at the draw of each VideoFrame to the
 * canvas (bench/player-probe.ts). A frame's producer time comes from the prft
 * of the fragment that carried it, tapped on the page's own reply topic and
 * corrected for ffmpeg stamping a fragment's end (bench/producer-clock.ts).
 * Per mode, after 8 s to settle, over 10 minutes (30 s in --quick): latency
 * p50/p95 per frame, drift (median of the last minute − the first; thirds
 * when shorter), stalls (MSE: `waiting` events after the first frame;
 * WebCodecs: > 200 ms without a draw), dropped frames, skips, and the CPU of
 * the page's renderer process. The modes play one after the other (MODE_MS).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { Page } from 'playwright-core';
import { ensureClientBuilt, launchChromium, type Browser } from '../../test/browser/chromium.js';
import type { Closeable, Scenario, ScenarioContext } from '../context.js';
import { addProbe, chromiumRoot, drainProbe, processType, rendererOf } from '../player-probe.js';
import { ProcSampler, type ProcReading, type TreeWindow } from '../proc-sampler.js';
import { ProducerClock } from '../producer-clock.js';
import { REPO_ROOT, startMqttcastServer, type ChildServer } from '../server-process.js';
import { windowDrift } from '../stats.js';
import { setNoDelay } from '../viewer.js';

const NAME = 'low-latency';
const CLIENT_INDEX = path.join(REPO_ROOT, 'dist', 'client', 'index.html');
const SETTLE_MS = 8000;
/** WebCodecs: this long without a draw is a stall. */
const STALL_GAP_MS = 200;
const TARGETS = { MSE: 150, WebCodecs: 80 } as const;
/**
 * The modes play one after the other, not both at once (measure() can play
 * several pages together). Tried at once on this 2-core machine: the two 720p
 * software decoders and the 720p encode saturated both cores (~175 % of 200 %),
 * WebCodecs drew 15-18 of 30 frames/s (28 alone), and the page opened first got
 * ~2 requestVideoFrameCallbacks a second instead of ~18-29: each mode measured
 * the other. So the full run takes 2 × 10 min, and the quick run 2 × 30 s.
 */
const MODE_MS = { quick: 30_000, full: 600_000 };

type Label = keyof typeof TARGETS;

interface PlayerStats {
  latencyMs: number | null;
  decodedFrames: number;
  droppedFrames: number;
  skipped: number;
  playerDropped: number;
  engine: string;
}

interface PageDebug {
  mqttcast?: { connection?: string; state?: string; replyTopic?: string; stats?: PlayerStats };
}

interface ModeRun {
  label: Label;
  page: Page;
  /** document.visibilityState when the page opened (a hidden page is throttled). */
  visibility: string;
  /** The page's renderer process, found once it plays. */
  renderer?: number;
  clock: ProducerClock;
  /** [shown wall clock ms, producer → shown ms] per dated frame. */
  latency: Array<[number, number]>;
  shown: number;
  undated: number;
  lastShownMs?: number;
  gapStalls: number;
  longestGapMs: number;
  waitingStart: number;
  waitingEnd: number;
  overlay: number[];
  start?: PlayerStats;
  end?: PlayerStats;
}

/** A subscriber of a page's reply topic that feeds its producer clock. */
async function tapReplies(ctx: ScenarioContext, mqttUrl: string, replyTopic: string, clock: ProducerClock): Promise<Closeable> {
  const client = await mqtt.connectAsync(mqttUrl, { clientId: `bench-tap-${randomBytes(4).toString('hex')}`, protocolVersion: 4, reconnectPeriod: 0 });
  setNoDelay(client);
  let failures = 0;
  client.on('message', (_topic, payload) => {
    try {
      clock.add(payload);
    } catch (err) {
      if (failures++ === 0) ctx.log(`${NAME}: unreadable message on ${replyTopic}: ${(err as Error).message}`);
    }
  });
  await client.subscribeAsync(replyTopic, { qos: 0 });
  return { close: () => client.endAsync(true) };
}

async function openPage(ctx: ScenarioContext, browser: Browser, server: ChildServer, label: Label): Promise<ModeRun> {
  const page = await browser.newPage();
  // Two sites (127.0.0.1 and localhost, both loopback), so site isolation gives each page its own
  // renderer process: one site's pages may share one, and then one main thread.
  const host = label === 'MSE' ? '127.0.0.1' : 'localhost';
  await page.goto(`http://${host}:${server.httpPort}/${label === 'WebCodecs' ? '?mode=webcodecs' : ''}`);
  await page.waitForFunction(() => (window as unknown as PageDebug).mqttcast?.connection === 'connected', undefined, { timeout: 20_000 });
  const replyTopic = await page.evaluate(() => (window as unknown as PageDebug).mqttcast?.replyTopic ?? '');
  const visibility = await page.evaluate(() => document.visibilityState);
  const clock = new ProducerClock();
  ctx.cleanup.add(`${label} reply tap`, await tapReplies(ctx, server.mqttUrl, replyTopic, clock));
  return { label, page, visibility, clock, latency: [], shown: 0, undated: 0, gapStalls: 0, longestGapMs: 0, waitingStart: 0, waitingEnd: 0, overlay: [] };
}

const readStats = (page: Page): Promise<PlayerStats> => page.evaluate(() => (window as unknown as PageDebug).mqttcast!.stats!);

/** Takes the page's frames since the last call; dates them when `record`. */
async function collect(run: ModeRun, record: boolean): Promise<void> {
  const batch = await drainProbe(run.page);
  run.waitingEnd = batch.waiting;
  if (!record) {
    run.waitingStart = batch.waiting;
    run.lastShownMs = batch.frames.at(-1)?.[0] ?? run.lastShownMs;
    return;
  }
  for (const [wallMs, mediaS] of batch.frames) {
    run.shown++;
    if (run.lastShownMs !== undefined) {
      const gap = wallMs - run.lastShownMs;
      if (gap > STALL_GAP_MS) run.gapStalls++;
      run.longestGapMs = Math.max(run.longestGapMs, gap);
    }
    run.lastShownMs = wallMs;
    const produced = run.clock.producedAt(mediaS);
    if (produced === undefined) run.undated++;
    else run.latency.push([wallMs, wallMs - produced]);
  }
  const stats = await readStats(run.page);
  if (stats.latencyMs !== null) run.overlay.push(stats.latencyMs);
}

/** end − start of a player counter; a counter that went back (the player made a new session) counts from zero. */
const delta = (start: number, end: number): number => (end >= start ? end - start : end);

function record(ctx: ScenarioContext, run: ModeRun, cpu: TreeWindow, windowMs: number, durationS: number): void {
  const { rec } = ctx;
  const { label } = run;
  const start = run.start!;
  const end = run.end!;
  if (end.decodedFrames < start.decodedFrames) rec.note(NAME, `${label}: the player's frame counters restarted during the run (a new playback session): frame counts are since then`);
  const how = label === 'MSE' ? 'requestVideoFrameCallback expected display time' : 'VideoFrame drawn to the canvas';
  const lat = rec.metric(NAME, `${label}: producer → ${label === 'MSE' ? 'shown' : 'drawn'} (prft, corrected)`, 'ms', run.latency.map(([, l]) => l), `per frame, ${how}; target ≤ ${TARGETS[label]} ms`);
  const drift = windowDrift(run.latency, windowMs);
  rec.metric(NAME, `${label}: drift (last − first ${Math.round(windowMs / 1000)} s)`, 'ms', drift === undefined ? [] : [drift]);
  const stalls = label === 'MSE' ? run.waitingEnd - run.waitingStart : run.gapStalls;
  rec.metric(NAME, `${label}: stalls`, 'count', [stalls], label === 'MSE' ? '<video> waiting events after the first frame' : `gaps of > ${STALL_GAP_MS} ms without a draw`);
  rec.metric(NAME, `${label}: longest gap between frames shown`, 'ms', [run.longestGapMs]);
  rec.metric(NAME, `${label}: dropped frames`, 'count', [delta(start.droppedFrames, end.droppedFrames)], label === 'MSE' ? 'getVideoPlaybackQuality' : 'skipped before decode + decoded but never drawn');
  rec.metric(NAME, `${label}: skipped fragments, server`, 'count', [delta(start.skipped, end.skipped)]);
  rec.metric(NAME, `${label}: skipped fragments, player`, 'count', [delta(start.playerDropped, end.playerDropped)]);
  rec.metric(NAME, `${label}: renderer CPU`, '% core', run.renderer === undefined ? [] : cpu.intervals.map((s) => s.byGroup[`${label} renderer`] ?? 0));
  rec.metric(NAME, `${label}: overlay latency (player's own, 1/s)`, 'ms', run.overlay, 'cross-check of the per-frame rows');
  const fps = run.shown / durationS;
  const fragMs = run.clock.fragments > 0 ? (run.clock.mediaS / run.clock.fragments) * 1000 : NaN;
  rec.note(NAME, `${label} (${end.engine}, page ${run.visibility}): ${run.shown} frames shown in ${durationS.toFixed(0)} s (${fps.toFixed(1)}/s; ${delta(start.decodedFrames, end.decodedFrames)} decoded), ${run.undated} not dated; ${run.clock.fragments} fragments with prft, ${fragMs.toFixed(1)} ms of video each on average${run.clock.uncorrected > 0 ? `, ${run.clock.uncorrected} without durations (raw prft)` : ''}`);
  const verdict = lat === undefined ? 'not measured' : lat.median <= TARGETS[label] ? 'met' : 'MISSED';
  rec.note(NAME, `${label}: producer → shown ≤ ${TARGETS[label]} ms (median): ${verdict} (${lat?.median.toFixed(1)} ms, p95 ${lat?.p95.toFixed(1)}); stalls ${stalls}; drift ${drift?.toFixed(1) ?? 'n/a'} ms`);
}

/** Rebuilds the web player when its sources changed; a failed build with an older one on disk is noted, and that one measured. */
async function buildClient(ctx: ScenarioContext): Promise<void> {
  try {
    await ensureClientBuilt();
  } catch (err) {
    if (!existsSync(CLIENT_INDEX)) throw err;
    const first = (err as Error).message.split('\n').find((l) => /error|fail/i.test(l)) ?? (err as Error).message.split('\n')[0];
    ctx.rec.note(NAME, `the web player did not build (${first?.trim().slice(0, 160)}): measured the one built at ${statSync(CLIENT_INDEX).mtime.toISOString()}`);
  }
}

/**
 * Plays the demo in one page per label at the same time, settles, records
 * `durationMs`, and writes the rows. Renderers are told apart by rendererOf().
 */
async function measure(ctx: ScenarioContext, browser: Browser, server: ChildServer, labels: readonly Label[], durationMs: number): Promise<void> {
  const runs: ModeRun[] = [];
  for (const label of labels) runs.push(await openPage(ctx, browser, server, label));
  for (const run of runs) {
    await run.page.selectOption('#source', 'demo');
    await run.page.click('#start');
  }
  await Promise.all(runs.map((r) => r.page.waitForFunction(() => (window as unknown as PageDebug).mqttcast?.state === 'playing', undefined, { timeout: 30_000 })));
  // Before settling: finding a page's renderer makes it hold 128 MiB for a moment.
  for (const run of runs) run.renderer = await rendererOf(run.page);
  const pids = runs.map((r) => r.renderer);
  if (pids.some((p) => p === undefined) || new Set(pids).size < pids.length) {
    ctx.rec.note(NAME, `renderer processes not found apart (${runs.map((r) => `${r.label} ${r.renderer}`).join(', ')}): no renderer CPU rows`);
    for (const run of runs) run.renderer = undefined;
  }
  for (let t = 0; t < SETTLE_MS; t += 1000) {
    await ctx.sleep(1000);
    for (const run of runs) await collect(run, false);
  }

  const root = chromiumRoot();
  if (!root) throw new Error('no Chromium process found under the bench');
  const group = (p: ProcReading): string => {
    const run = runs.find((r) => r.renderer === p.pid);
    return run ? `${run.label} renderer` : `chromium ${processType(p.pid)}`;
  };
  const browserCpu = new ProcSampler(root.pid, 5000, group).start();
  const serverCpu = new ProcSampler(server.pid, 5000).start();
  for (const run of runs) run.start = await readStats(run.page);
  const what = labels.join(' + ');
  ctx.log(`${NAME}: recording ${what} for ${durationMs / 1000} s`);
  const loadBefore = os.loadavg()[0]!;
  const t0 = performance.now();
  while (performance.now() - t0 < durationMs) {
    await ctx.sleep(1000);
    for (const run of runs) await collect(run, true);
  }
  const durationS = (performance.now() - t0) / 1000;
  for (const run of runs) run.end = await readStats(run.page);
  const cpu = browserCpu.stop();
  const serverWin = serverCpu.stop();
  for (const run of runs) {
    await run.page.click('#stop');
    await run.page.close();
  }

  const windowMs = Math.min(60_000, durationMs / 3);
  for (const run of runs) record(ctx, run, cpu, windowMs, durationS);
  const other = (s: TreeWindow['intervals'][number]): number => Object.entries(s.byGroup).filter(([g]) => g.startsWith('chromium ')).reduce((n, [, v]) => n + v, 0);
  ctx.rec.metric(NAME, `${what}: Chromium's other processes CPU`, '% core', cpu.intervals.map(other), 'browser, GPU (software), network, audio, spare renderers');
  ctx.rec.metric(NAME, `${what}: server CPU (demo encode + delivery)`, '% core', serverWin.intervals.map((s) => s.cpuPct));
  ctx.rec.note(NAME, `${what}: load average (1 min) ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end, on ${os.cpus().length} CPUs shared with other work`);
}

export const lowLatencyScenario: Scenario = {
  name: NAME,
  description: 'producer → frame shown in Chromium (demo), MSE then WebCodecs: latency, drift, stalls, drops, CPU',
  timeLimitS: { quick: 150, full: 1380 },
  async run(ctx) {
    const durationMs = ctx.quick ? MODE_MS.quick : MODE_MS.full;
    await buildClient(ctx);
    const server = ctx.cleanup.add('mqttcast serve', await startMqttcastServer());
    const browser = ctx.cleanup.add('chromium', await launchChromium());
    await addProbe(browser);
    for (const label of ['MSE', 'WebCodecs'] as const) await measure(ctx, browser, server, [label], durationMs);
    ctx.rec.ratio('low-latency: producer → shown, MSE / WebCodecs', ctx.rec.median(NAME, 'MSE: producer → shown (prft, corrected)'), ctx.rec.median(NAME, 'WebCodecs: producer → drawn (prft, corrected)'), 'ms');
    if (browser.consoleErrors.length > 0) ctx.rec.note(NAME, `page console errors: ${browser.consoleErrors.slice(0, 3).join(' | ')}`);
  },
};
