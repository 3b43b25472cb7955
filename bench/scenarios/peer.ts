/**
 * mqttcast against a peer, same source, same Chromium, same run (issue 13,
 * item 5; DESIGN §7 "versus node-media-server").
 *
 * Source: ONE ffmpeg encodes a 640x360@30 test pattern once (libx264 veryfast
 * zerolatency, 1 s GOP, AAC — the media server's encodeArgs) and writes it
 * with the `tee` muxer both as FLV over RTMP to node-media-server 4 (HTTP-FLV
 * out, GOP cache) and as the media server's fragmented MP4 (outputArgs: one
 * fragment per frame) into a publisher process (`ffmpeg | publisher`, with the
 * link `mqttcast publish` uses) that makes it channel `live/peer` on a
 * `mqttcast serve` child process (bench/peer/). A Node viewer keeps watching
 * the channel, so the media server holds its GOP as node-media-server holds
 * its GOP cache. Players, in rounds (each in turn, so load changes fall on all
 * three), each play in a fresh page, pictures at the same CSS size: mpegts.js
 * with latency chasing on (bench/peer/mpegts-page.ts), the mqttcast web player
 * in MSE mode and in WebCodecs mode (`?mode=webcodecs`).
 *
 * Shown latency, measured the same way for all three: each frame carries its
 * number as a barcode, and ffmpeg prints the wall clock at which frame n goes
 * into the encoder (bench/peer/source.ts). The page reads the barcode of each
 * frame shown — in requestVideoFrameCallback for a <video> (mpegts.js rebases
 * timestamps, so mediaTime cannot be used), after the player's canvas draw in
 * WebCodecs mode — and stamps it with that rendering step's time
 * (bench/peer/page-probe.ts). Latency = shown − producer time of that frame;
 * browser and ffmpeg read the same system clock. The encoder, both muxers and
 * the reading cost (one 400×56 readback a frame) are the same for all three.
 * Why not prft: the FLV path has none, and ffmpeg stamps an fMP4 fragment when
 * it writes it, not when its frame entered the encoder; the mqttcast player's
 * own prft-based latency is recorded beside ours as a cross-check.
 *
 * Rows per player: play → first frame (start call/click → first frame shown;
 * plus the mqttcast player's own stats.ttffMs), shown latency (every frame of
 * the steady window), renderer and whole-Chromium CPU, `waiting` events of the
 * video element, freezes (no new frame for over 250 ms). Ratios mqttcast /
 * node-media-server of the first-frame and shown-latency medians (target ≤ 0.5).
 */
import os from 'node:os';
import type { Page } from 'playwright-core';
import { ensureClientBuilt, launchChromium, type Browser } from '../../test/browser/chromium.js';
import { Viewer } from '../../test/harness.js';
import type { Scenario, ScenarioContext } from '../context.js';
import { chromiumTicks, cpuPercent, type ChromiumCpu } from '../peer/chromium-cpu.js';
import { MPEGTS_CONFIG, serveMpegtsPage } from '../peer/mpegts-page.js';
import { startNodeMediaServer } from '../peer/nms.js';
import { startPublisher } from '../peer/publisher.js';
import { drainProbe, installProbe, waitFirstFrame, watchVideo } from '../peer/page-probe.js';
import { PeerSource, SOURCE } from '../peer/source.js';
import { startMqttcastServer } from '../server-process.js';
import { median } from '../stats.js';

const CHANNEL = 'peer';
const FREEZE_MS = 250;

interface Player {
  label: string;
  /** Opens a fresh page, ready to play. */
  open(page: Page): Promise<void>;
  /** Marks the start and starts playing, in one page task. */
  start(page: Page): Promise<void>;
  /** The player's own time to first frame, when it reports one. */
  ownTtff?(page: Page): Promise<number | undefined>;
  /** The player's own latency figure right now, when it shows one. */
  ownLatency?(page: Page): Promise<number | null>;
  hasVideoElement: boolean;
}

interface PageWindow {
  __peerMark(): void;
  startPeer(url: string, config: unknown): void;
  sizeVideo(width: number, height: number): void;
  peerErrors: string[];
  mqttcast: { connection: string; stats: { ttffMs: number | null; latencyMs: number | null } };
}

interface Steady {
  latency: number[];
  /** The mqttcast player's own overlay latency (prft → shown), sampled once a second. */
  ownLatency: number[];
  shown: number;
  seconds: number;
  misreads: number;
  unknownFrames: number;
  waiting: number;
  freezes: number;
  cpu: ChromiumCpu;
}

/** What one player collected over all rounds. */
interface Collected {
  firstFrame: number[];
  ownTtff: number[];
  steady: Steady[];
  errors: string[];
}

function mqttcastPlayer(label: string, webUrl: string, mode: 'mse' | 'webcodecs'): Player {
  return {
    label,
    hasVideoElement: mode === 'mse',
    async open(page) {
      await page.goto(mode === 'webcodecs' ? `${webUrl}?mode=webcodecs` : webUrl);
      await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
      await page.evaluate((source) => {
        const select = document.getElementById('source') as HTMLSelectElement;
        if (![...select.options].some((o) => o.value === source)) select.add(new Option(source, source));
        select.value = source;
      }, `live/${CHANNEL}`);
      if (mode === 'mse') await watchVideo(page);
    },
    start: (page) =>
      page.evaluate(() => {
        (window as unknown as PageWindow).__peerMark();
        (document.getElementById('start') as HTMLButtonElement).click();
      }),
    async ownTtff(page) {
      const handle = await page.waitForFunction(() => (window as unknown as PageWindow).mqttcast.stats.ttffMs, undefined, { timeout: 10_000 });
      return Number(await handle.jsonValue());
    },
    ownLatency: (page) => page.evaluate(() => (window as unknown as PageWindow).mqttcast.stats.latencyMs),
  };
}

/** The CSS size of the mqttcast player's picture in this browser's viewport. */
async function mqttcastPictureSize(browser: Browser, webUrl: string): Promise<{ width: number; height: number }> {
  const page = await browser.newPage();
  try {
    await page.goto(webUrl);
    const box = await page.locator('#video').boundingBox();
    if (!box) throw new Error('the mqttcast page shows no video element');
    return { width: Math.round(box.width), height: Math.round(box.height) };
  } finally {
    await page.close();
  }
}

function mpegtsPlayer(label: string, pageUrl: string, flvUrl: string, size: { width: number; height: number }): Player {
  return {
    label,
    hasVideoElement: true,
    async open(page) {
      await page.goto(pageUrl);
      await page.evaluate(({ width, height }) => (window as unknown as PageWindow).sizeVideo(width, height), size);
      await watchVideo(page);
    },
    start: (page) =>
      page.evaluate(([url, config]) => {
        const w = window as unknown as PageWindow;
        w.__peerMark();
        w.startPeer(url, config);
      }, [flvUrl, MPEGTS_CONFIG] as const),
  };
}

/** Latency samples and the rest over `seconds` of steady playing (the page drained every second). */
async function steady(ctx: ScenarioContext, page: Page, source: PeerSource, player: Player, seconds: number): Promise<Steady> {
  const before = await drainProbe(page);
  const cpu0 = chromiumTicks();
  const latency: number[] = [];
  const ownLatency: number[] = [];
  const shownAt: number[] = [];
  let unknownFrames = 0;
  let last = before;
  for (let i = 0; i < seconds; i++) {
    await ctx.sleep(1000);
    last = await drainProbe(page);
    for (const [n, at] of last.shown) {
      const produced = source.producerTimeMs(n);
      if (produced === undefined) unknownFrames++;
      else latency.push(at - produced);
      shownAt.push(at);
    }
    const own = await player.ownLatency?.(page);
    if (typeof own === 'number') ownLatency.push(own);
  }
  const cpu = cpuPercent(cpu0, chromiumTicks());
  let freezes = 0;
  for (let i = 1; i < shownAt.length; i++) if (shownAt[i]! - shownAt[i - 1]! > FREEZE_MS) freezes++;
  return { latency, ownLatency, shown: shownAt.length, seconds, misreads: last.misreads - before.misreads, unknownFrames, waiting: last.waiting - before.waiting, freezes, cpu };
}

/** One play in a fresh page: start → first frame; then, when `steadyS` is set, settle and measure. */
async function play(ctx: ScenarioContext, browser: Browser, source: PeerSource, player: Player, out: Collected, steadyS?: number): Promise<void> {
  const page = await browser.newPage();
  try {
    await installProbe(page);
    await player.open(page);
    await player.start(page);
    const ms = await waitFirstFrame(page, 20_000);
    const own = await player.ownTtff?.(page);
    out.firstFrame.push(ms);
    if (own !== undefined) out.ownTtff.push(own);
    if (steadyS === undefined) return;
    await ctx.sleep(ctx.quick ? 3000 : 5000); // settle: latency chasing and the live-edge controller converge
    out.steady.push(await steady(ctx, page, source, player, steadyS));
    out.errors.push(...(await page.evaluate(() => (window as unknown as Partial<PageWindow>).peerErrors ?? [])));
  } finally {
    await page.close();
  }
}

function report(ctx: ScenarioContext, player: Player, c: Collected): void {
  const { rec } = ctx;
  const v = (what: string): string => `${player.label}: ${what}`;
  const sum = (f: (s: Steady) => number): number => c.steady.reduce((n, s) => n + f(s), 0);
  const latency = c.steady.flatMap((s) => s.latency);
  const seconds = sum((s) => s.seconds);
  rec.metric('peer', v('play→first frame'), 'ms', c.firstFrame, 'start → first frame shown (frame callback / canvas draw), warm source');
  if (c.ownTtff.length > 0) rec.metric('peer', v("play→first frame (player's stats.ttffMs)"), 'ms', c.ownTtff);
  const bad = sum((s) => s.misreads + s.unknownFrames);
  const misread = bad > 0 ? `, ${sum((s) => s.misreads)} barcodes unreadable, ${sum((s) => s.unknownFrames)} frames without producer time` : '';
  rec.metric('peer', v('shown latency'), 'ms', latency, `encoder input → frame shown, every frame of ${seconds} s; ${(sum((s) => s.shown) / seconds).toFixed(1)} frames shown/s of ${SOURCE.fps}${misread}`);
  const own = c.steady.flatMap((s) => s.ownLatency);
  if (own.length > 0) rec.metric('peer', v("player's own latency (overlay: prft → shown)"), 'ms', own, 'cross-check, sampled once a second');
  rec.metric('peer', v('renderer CPU'), '%', c.steady.map((s) => s.cpu.renderer), 'one sample per steady window');
  const types = [...new Set(c.steady.flatMap((s) => Object.keys(s.cpu.byType)))].sort();
  const byType = types.map((t) => `${t} ${Math.round(median(c.steady.map((s) => s.cpu.byType[t] ?? 0)))} %`).join(', ');
  rec.metric('peer', v('Chromium CPU (all processes)'), '%', c.steady.map((s) => s.cpu.total), `median by process: ${byType}`);
  if (player.hasVideoElement) rec.metric('peer', v('stalls (video waiting events)'), 'count', [sum((s) => s.waiting)], `over ${seconds} s`);
  rec.metric('peer', v(`freezes (no new frame for > ${FREEZE_MS} ms)`), 'count', [sum((s) => s.freezes)], `over ${seconds} s`);
  if (c.errors.length > 0) rec.note('peer', `${player.label} reported errors: ${c.errors.slice(0, 3).join(' | ')}`);
  ctx.log(`peer: ${player.label}: first frame ${c.firstFrame.map((x) => Math.round(x)).join('/')} ms, latency p50 ${Math.round(median(latency))} ms`);
}

export const peerScenario: Scenario = {
  name: 'peer',
  description: 'node-media-server 4 + mpegts.js vs mqttcast MSE and WebCodecs on one source: first frame, shown latency, CPU, stalls',
  async run(ctx) {
    const started = performance.now();
    await ensureClientBuilt();
    const nms = ctx.cleanup.add('node-media-server', await startNodeMediaServer());
    const server = ctx.cleanup.add('mqttcast serve', await startMqttcastServer());
    const feed = ctx.cleanup.add('channel publisher', await startPublisher(server.mqttUrl, CHANNEL));
    const source = ctx.cleanup.add('source ffmpeg', new PeerSource(nms.rtmpUrl(CHANNEL), feed.stdin));
    // A viewer that stays (acking, like the player): the channel is being watched, so the media server
    // holds its GOP, as node-media-server holds its GOP cache while the publisher is on. Costs mqttcast a session.
    const warm = ctx.cleanup.add('warm viewer', await Viewer.connect(server.mqttUrl));
    const mpegts = ctx.cleanup.add('mpegts.js page', await serveMpegtsPage());
    const browser = ctx.cleanup.add('chromium', await launchChromium());
    for (let i = 0; i < 100 && feed.counts.sent < 2 * SOURCE.fps; i++) {
      if (!source.running) throw new Error(`source ffmpeg stopped: ${source.stderr}`);
      await ctx.sleep(100);
    }
    if (feed.counts.sent === 0) throw new Error(`no fragments from the source ffmpeg: ${source.stderr}`);
    await warm.play({ source: `live/${CHANNEL}` });
    warm.startAcking();
    await warm.waitForFragments(5, 20_000);
    ctx.rec.note('peer', `node-media-server ${nms.version} (HTTP-FLV, GOP cache), mpegts.js ${mpegts.mpegtsVersion} with ${JSON.stringify(MPEGTS_CONFIG)}; source ${SOURCE.width}x${SOURCE.height}@${SOURCE.fps}, 1 s GOP, one ffmpeg (tee)`);

    const web = `http://127.0.0.1:${server.httpPort}/`;
    const size = await mqttcastPictureSize(browser, web);
    const peer = mpegtsPlayer('nms+mpegts.js', mpegts.url, nms.flvUrl(CHANNEL), size);
    const mse = mqttcastPlayer('mqttcast MSE', web, 'mse');
    const webcodecs = mqttcastPlayer('mqttcast WebCodecs', web, 'webcodecs');
    const players = [peer, mse, webcodecs];
    const collected = new Map(players.map((p) => [p, { firstFrame: [], ownTtff: [], steady: [], errors: [] } as Collected]));
    // Rounds: every player in turn, so a change in the machine's load falls on all three alike. Each
    // round: a play measured to its first frame only (full mode), then one measured to the end
    // (quick: one round of one play each, about a minute in all).
    const rounds = ctx.quick ? 1 : 3;
    const steadyS = ctx.quick ? 5 : 10;
    const budgetMs = (ctx.quick ? 80 : 300) * 1000;
    const load0 = os.loadavg()[0]!;
    for (let round = 1; round <= rounds; round++) {
      const roundStarted = performance.now();
      for (const player of players) {
        ctx.log(`peer: round ${round}/${rounds}: ${player.label}`);
        const out = collected.get(player)!;
        if (!ctx.quick) await play(ctx, browser, source, player, out);
        await play(ctx, browser, source, player, out, steadyS);
        if (!source.running) throw new Error(`source ffmpeg stopped: ${source.stderr}`);
      }
      const roundMs = performance.now() - roundStarted;
      if (round < rounds && performance.now() - started + roundMs > budgetMs) {
        ctx.rec.note('peer', `stopped after ${round} of ${rounds} rounds: a round took ${Math.round(roundMs / 1000)} s, more than the time left`);
        break;
      }
    }
    for (const player of players) report(ctx, player, collected.get(player)!);
    ctx.rec.note('peer', `machine load average (1 min) ${load0.toFixed(1)} at the first round, ${os.loadavg()[0]!.toFixed(1)} after the last, on ${os.cpus().length} CPUs`);
    if (browser.consoleErrors.length > 0) ctx.rec.note('peer', `console errors: ${browser.consoleErrors.slice(0, 3).join(' | ')}`);
    ctx.rec.note('peer', `channel fragments published ${feed.counts.sent}, dropped ${feed.counts.dropped}; pictures shown at ${size.width}x${size.height} CSS px by all three`);
    ctx.rec.metric('peer', 'mqttcast channel: fMP4 written (prft) → handed to MQTT by the publisher', 'ms', feed.handoffMs, 'the publisher process (pipe, event loop), as with mqttcast publish; node-media-server reads ffmpeg directly');

    const { rec } = ctx;
    const m = (label: string, what: string): number | undefined => rec.median('peer', `${label}: ${what}`);
    for (const label of [mse.label, webcodecs.label]) {
      rec.ratio(`peer: ${label} / nms+mpegts.js, play→first frame (target ≤ 0.5)`, m(label, 'play→first frame'), m(peer.label, 'play→first frame'), 'ms');
      rec.ratio(`peer: ${label} / nms+mpegts.js, shown latency median (target ≤ 0.5)`, m(label, 'shown latency'), m(peer.label, 'shown latency'), 'ms');
    }
  },
};
