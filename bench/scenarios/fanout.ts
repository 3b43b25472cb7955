/**
 * Scenario 3: fan-out. CPU (% of one core) and RSS of the server process tree
 * (node with the embedded broker + its ffmpeg children), for 1, 10 and 50
 * headless viewers of the demo source that ack like the player. The server
 * runs as a child process; the viewers run here. Baseline (a), the per-viewer
 * transcode relay, is measured the same way for 1 and 10 viewers. The cost
 * of one-frame fragments: 50 viewers again on a server cutting 200 ms
 * fragments (`--fragment-ms 200`), messages/s and bytes/s per viewer and CPU.
 */
import os from 'node:os';
import type { Scenario, ScenarioContext } from '../context.js';
import { startPerViewerRelay } from '../baselines/per-viewer-transcode.js';
import { ProcSampler, type TreeWindow } from '../proc-sampler.js';
import { startMqttcastServer, type ChildServer } from '../server-process.js';
import { connectViewers, type BenchViewer } from '../viewer.js';

const MiB = 2 ** 20;

export interface ViewerLoad {
  win: TreeWindow;
  latencyMs: number[];
  /** Media seconds delivered per wall second, per viewer (1 = keeps up with real time). */
  realtime: number[];
  /** Messages and media bytes each viewer received per second in the window. */
  msgsPerS: number[];
  bytesPerS: number[];
}

export function realtimeFactor(v: BenchViewer): number | undefined {
  const s = v.samples.filter((x) => x.mediaOffsetMs !== undefined);
  if (s.length < 2) return undefined;
  const a = s[0]!;
  const b = s[s.length - 1]!;
  const wall = b.recvMs - a.recvMs;
  return wall > 0 ? (wall - (b.mediaOffsetMs! - a.mediaOffsetMs!)) / wall : undefined;
}

/** Starts `n` acking viewers of the demo on `server`, samples the server tree for `windowMs`, stops them. */
export async function measureViewers(ctx: ScenarioContext, server: ChildServer, n: number, windowMs: number, startTimeoutMs = 30_000): Promise<ViewerLoad> {
  const viewers = (await connectViewers(server.mqttUrl, n)).map((v) => ctx.cleanup.add('viewer', v));
  try {
    for (const v of viewers) {
      await v.play({ source: 'demo' });
      v.startAcking(1000);
    }
    await Promise.all(viewers.map((v) => v.waitForFragments(1, startTimeoutMs)));
    await ctx.sleep(ctx.quick ? 1000 : 2000);
    const sampler = new ProcSampler(server.pid, 1000).start();
    const already = viewers.map((v) => v.samples.length);
    const t0 = performance.now();
    for (const v of viewers) v.recording = true;
    await ctx.sleep(windowMs);
    const win = sampler.stop();
    for (const v of viewers) v.recording = false;
    const seconds = (performance.now() - t0) / 1000;
    const inWindow = viewers.map((v, i) => v.samples.slice(already[i]));
    return {
      msgsPerS: inWindow.map((s) => s.length / seconds),
      bytesPerS: inWindow.map((s) => s.reduce((sum, x) => sum + x.bytes, 0) / seconds),
      win,
      latencyMs: viewers.flatMap((v) => v.samples.map((s) => s.latencyMs).filter((x): x is number => x !== undefined)),
      realtime: viewers.map(realtimeFactor).filter((x): x is number => x !== undefined),
    };
  } finally {
    await Promise.all(viewers.map((v) => v.stop().catch(() => undefined)));
    for (const v of viewers) await ctx.cleanup.close(v);
  }
}

function recordLoad(ctx: ScenarioContext, label: string, load: ViewerLoad): void {
  const { win } = load;
  const group = (g: string): number[] => win.intervals.map((s) => s.byGroup[g] ?? 0);
  ctx.rec.metric('fanout', `${label}: CPU server tree`, '% core', win.intervals.map((s) => s.cpuPct));
  ctx.rec.metric('fanout', `${label}: CPU node (server+broker)`, '% core', group('node'));
  ctx.rec.metric('fanout', `${label}: CPU ffmpeg`, '% core', group('ffmpeg'));
  ctx.rec.metric('fanout', `${label}: RSS server tree`, 'MiB', win.intervals.map((s) => s.rssBytes / MiB));
  if (load.latencyMs.length > 0) ctx.rec.metric('fanout', `${label}: fragment latency (prft, corrected)`, 'ms', load.latencyMs);
  ctx.rec.metric('fanout', `${label}: realtime factor per viewer`, '×', load.realtime);
  ctx.rec.metric('fanout', `${label}: messages/s per viewer`, 'msg/s', load.msgsPerS);
  ctx.rec.metric('fanout', `${label}: media kB/s per viewer`, 'kB/s', load.bytesPerS.map((b) => b / 1000));
}

export const fanoutScenario: Scenario = {
  name: 'fanout',
  description: 'server CPU+RSS for 1/10/50 viewers of one source, vs per-viewer transcode',
  async run(ctx) {
    const windowMs = ctx.quick ? 3000 : 20_000;
    const server = ctx.cleanup.add('mqttcast serve', await startMqttcastServer());
    const cpuOf = new Map<number, number>();
    const nodeOf = new Map<number, number>();
    const rssOf = new Map<number, number>();
    for (const n of [1, 10, 50]) {
      ctx.log(`fanout: mqttcast, ${n} viewers`);
      const load = await measureViewers(ctx, server, n, windowMs);
      recordLoad(ctx, `mqttcast ${n} viewers`, load);
      cpuOf.set(n, load.win.cpuPct);
      nodeOf.set(n, load.win.byGroup.node ?? 0);
      rssOf.set(n, load.win.rssMaxBytes / MiB);
    }
    await ctx.cleanup.close(server);

    ctx.log('fanout: mqttcast, 50 viewers, 200 ms fragments');
    const coarse = ctx.cleanup.add('mqttcast serve (200 ms fragments)', await startMqttcastServer({ extraArgs: ['--fragment-ms', '200'] }));
    const coarseLoad = await measureViewers(ctx, coarse, 50, windowMs);
    recordLoad(ctx, 'mqttcast 50 viewers, 200 ms fragments', coarseLoad);
    await ctx.cleanup.close(coarse);

    const relay = ctx.cleanup.add('per-viewer relay', await startPerViewerRelay());
    const relayCpu = new Map<number, number>();
    const relayRss = new Map<number, number>();
    const saturated = 0.9 * os.cpus().length * 100;
    for (const n of ctx.quick ? [1, 10] : [1, 10, 50]) {
      const prev = relayCpu.get(10);
      if (n === 50 && prev !== undefined && prev >= saturated) {
        ctx.rec.note('fanout', `per-viewer transcode, 50 viewers: not run — 10 viewers already saturate the ${os.cpus().length} cores (${prev.toFixed(0)} % core)`);
        continue;
      }
      ctx.log(`fanout: per-viewer transcode, ${n} viewers`);
      const load = await measureViewers(ctx, relay, n, windowMs, 90_000);
      recordLoad(ctx, `per-viewer transcode ${n} viewers`, load);
      relayCpu.set(n, load.win.cpuPct);
      relayRss.set(n, load.win.rssMaxBytes / MiB);
      if (load.win.cpuPct >= saturated) {
        ctx.rec.note('fanout', `per-viewer transcode, ${n} viewers: CPU-bound (${load.win.cpuPct.toFixed(0)} % of ${os.cpus().length * 100} % available); its CPU ratio is a lower bound, see its realtime factor`);
      }
    }
    const r = ctx.rec;
    const perFrame = '50 viewers, one-frame / 200 ms fragments';
    r.ratio(`messages/s per viewer, ${perFrame}`, r.median('fanout', 'mqttcast 50 viewers: messages/s per viewer'), r.median('fanout', 'mqttcast 50 viewers, 200 ms fragments: messages/s per viewer'), 'msg/s');
    r.ratio(`media bytes/s per viewer, ${perFrame}`, r.median('fanout', 'mqttcast 50 viewers: media kB/s per viewer'), r.median('fanout', 'mqttcast 50 viewers, 200 ms fragments: media kB/s per viewer'), 'kB/s');
    r.ratio(`CPU node (server+broker), ${perFrame}`, nodeOf.get(50), coarseLoad.win.byGroup.node, '% core');
    r.ratio('fan-out CPU (server tree) 10/1 viewers', cpuOf.get(10), cpuOf.get(1), '% core');
    r.ratio('fan-out CPU (server tree) 50/1 viewers [§7 target ≤ 2]', cpuOf.get(50), cpuOf.get(1), '% core');
    r.ratio('fan-out CPU (node only) 50/1 viewers', nodeOf.get(50), nodeOf.get(1), '% core');
    r.ratio('per-viewer transcode / mqttcast CPU at 1 viewer', relayCpu.get(1), cpuOf.get(1), '% core');
    r.ratio('per-viewer transcode / mqttcast CPU at 10 viewers', relayCpu.get(10), cpuOf.get(10), '% core');
    r.ratio('per-viewer transcode / mqttcast peak RSS at 10 viewers', relayRss.get(10), rssOf.get(10), 'MiB');
    if (relayCpu.has(50)) r.ratio('per-viewer transcode / mqttcast CPU at 50 viewers', relayCpu.get(50), cpuOf.get(50), '% core');
  },
};
