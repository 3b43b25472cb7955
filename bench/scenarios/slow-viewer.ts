/**
 * Scenario 5: slow viewer. Healthy viewers' latency and the server's RSS with
 * no slow viewer, then with one whose TCP socket is paused (it stops reading;
 * the kernel buffers fill, then the broker's) — once while it keeps acking
 * (its count stalls, so flow control can skip it) and once never acking (the
 * server keeps sending; only the broker can protect the others).
 */
import type { Scenario, ScenarioContext } from '../context.js';
import { ProcSampler } from '../proc-sampler.js';
import { startMqttcastServer, type ChildServer } from '../server-process.js';
import { BenchViewer, connectViewers } from '../viewer.js';

const MiB = 2 ** 20;

type SlowKind = 'none' | 'paused socket, acking' | 'paused socket, never acks';

async function phase(ctx: ScenarioContext, server: ChildServer, healthy: BenchViewer[], kind: SlowKind, durationMs: number): Promise<void> {
  let slow: BenchViewer | undefined;
  let closedAfterS: number | undefined;
  const t0 = performance.now();
  const before = await scrapeMetrics(server);
  if (kind !== 'none') {
    slow = ctx.cleanup.add('slow viewer', await BenchViewer.connect(server.mqttUrl, { keepalive: 0 }));
    slow.client.once('close', () => {
      closedAfterS ??= (performance.now() - t0) / 1000;
    });
    await slow.play({ source: 'demo' });
    if (kind === 'paused socket, acking') slow.startAcking(1000);
    await slow.waitForFragments(1, 30_000);
    slow.pauseSocket();
  }
  for (const v of healthy) {
    v.samples.length = 0;
    v.recording = true;
  }
  const sampler = new ProcSampler(server.pid, 1000).start();
  await ctx.sleep(durationMs);
  const win = sampler.stop();
  for (const v of healthy) v.recording = false;
  const label = `slow viewer: ${kind}`;
  const latency = healthy.flatMap((v) => v.samples.map((s) => s.latencyMs).filter((x): x is number => x !== undefined));
  const gaps = healthy.flatMap((v) => v.samples.slice(1).map((s, i) => s.recvMs - v.samples[i]!.recvMs));
  ctx.rec.metric('slow-viewer', `${label}: healthy viewers' latency`, 'ms', latency);
  ctx.rec.metric('slow-viewer', `${label}: healthy viewers' gap between fragments`, 'ms', gaps);
  ctx.rec.metric('slow-viewer', `${label}: server RSS`, 'MiB', win.intervals.map((s) => s.rssBytes / MiB));
  const growth = (win.rssLastBytes - win.rssFirstBytes) / MiB;
  const closedBeforeProbe = closedAfterS;
  let closedByProbe = false;
  if (slow) {
    await probeConnection(ctx, slow);
    closedByProbe = closedAfterS !== undefined;
    await slow.stop().catch(() => undefined);
    await ctx.cleanup.close(slow);
    await ctx.sleep(300); // let the server end the slow session before counting
  }
  const after = await scrapeMetrics(server);
  const delta = (name: string): string => {
    const a = after.get(name);
    const b = before.get(name);
    return a === undefined || b === undefined ? '?' : String(a - b);
  };
  const outcome = !slow
    ? 'no slow viewer'
    : closedBeforeProbe !== undefined
      ? `the broker closed the slow viewer's connection after ${closedBeforeProbe.toFixed(1)} s`
      : closedByProbe
        ? "the broker had closed the slow viewer's connection (noticed by a write at the end)"
        : 'the slow viewer is still connected at the end';
  const counts = `server sent ${delta('mqttcast_fragments_sent_total')} fragments, skipped ${delta('mqttcast_fragments_skipped_total')}`;
  ctx.rec.note('slow-viewer', `${kind}: RSS ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB over ${durationMs / 1000} s; ${outcome}; ${counts}`);
}

/** Sums of the server's Prometheus counters (over all labels). */
async function scrapeMetrics(server: ChildServer): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`).then((r) => r.text()).catch(() => '');
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * A paused socket does not notice that the broker closed it until it writes:
 * write twice (the first may only draw the RST) and give the close event a moment.
 */
async function probeConnection(ctx: ScenarioContext, v: BenchViewer): Promise<void> {
  v.client.stream.on('error', () => undefined); // EPIPE/ECONNRESET are the expected answer
  for (let i = 0; i < 2 && !v.client.stream.destroyed; i++) {
    v.client.stream.write(Buffer.from([0xc0, 0x00])); // PINGREQ
    await ctx.sleep(250);
  }
}

export const slowViewerScenario: Scenario = {
  name: 'slow-viewer',
  description: "healthy viewers' latency and server RSS with and without a stalled viewer",
  async run(ctx) {
    const durationMs = ctx.quick ? 4000 : 45_000;
    const server = ctx.cleanup.add('mqttcast serve', await startMqttcastServer());
    const healthy = (await connectViewers(server.mqttUrl, ctx.quick ? 2 : 5)).map((v) => ctx.cleanup.add('viewer', v));
    for (const v of healthy) {
      await v.play({ source: 'demo' });
      v.startAcking(1000);
    }
    await Promise.all(healthy.map((v) => v.waitForFragments(1, 30_000)));
    await ctx.sleep(ctx.quick ? 1000 : 2000);
    const kinds: SlowKind[] = ['none', 'paused socket, acking', 'paused socket, never acks'];
    for (const kind of kinds) {
      ctx.log(`slow-viewer: ${kind}, ${durationMs / 1000} s`);
      await phase(ctx, server, healthy, kind, durationMs);
    }
    const r = ctx.rec;
    const p95 = (kind: SlowKind): number | undefined =>
      r.metrics.find((m) => m.variant === `slow viewer: ${kind}: healthy viewers' latency`)?.summary?.p95;
    r.ratio("healthy p95 latency with / without a paused, acking viewer", p95('paused socket, acking'), p95('none'), 'ms');
    r.ratio("healthy p95 latency with / without a paused, never-acking viewer", p95('paused socket, never acks'), p95('none'), 'ms');
  },
};
