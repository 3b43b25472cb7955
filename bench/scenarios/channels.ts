/**
 * Scenario `channels`: a live channel across the channel CDN of deploy/bridges/ (four real
 * Mosquittos from the shipped configs: ingress ◀══ intermediate ◀══ edges a, b), published
 * by `mqttcast publish demo` at the ingress and served by a `mqttcast media-server` at
 * each edge. Measured: warm play → first fragment at an edge; prft → arrival at raw taps
 * on the ingress, the intermediate and an edge (the added latency per bridge hop) and at
 * a viewer of the edge's media server; the ingress's bytes sent with 1 and 20 viewers at
 * the edges ($SYS over equal windows); the publisher's CPU (node + its ffmpeg). Then,
 * the same run, side by side: the same demo served directly by a media server on the
 * ingress broker (the origin): warm first fragment and prft latency, and its CPU.
 * Phases run one after the other so they do not share the two cores.
 */
import { startBridgeTree, type BridgeTree } from '../../test/helpers/bridge-tree.js';
import { addOriginUser, bytesOverTicks, FragmentTap, startMediaServerChild, startPublisher, waitChannelLive, type DemoSize } from '../channel-tree.js';
import type { Scenario, ScenarioContext } from '../context.js';
import { ProcSampler } from '../proc-sampler.js';
import type { ChildServer } from '../server-process.js';
import { BenchViewer, connectViewers, type ViewerOptions } from '../viewer.js';

const NAME = 'channels';
const CHANNEL = 'cam1';
const DEMO: DemoSize = { width: 640, height: 360, fps: 25 };
const TIMEOUT_MS = 30_000;
const TARGET_TTFF_MS = 50;
const TARGET_HOP_MS = 5;

interface Plan {
  ttffRuns: number;
  latencyMs: number;
  windowTicks: number;
}

/** play → init and play → first fragment of `runs` fresh viewers of a warm source. */
async function warmTtff(ctx: ScenarioContext, url: string, target: Record<string, unknown>, runs: number, opts: ViewerOptions = {}): Promise<{ init: number[]; first: number[] }> {
  const out = { init: [] as number[], first: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const v = ctx.cleanup.add('viewer', await BenchViewer.connect(url, opts));
    await v.play(target);
    await v.waitForFragments(1, TIMEOUT_MS);
    out.init.push(v.initAt! - v.playSentAt!);
    out.first.push(v.firstFragmentAt! - v.playSentAt!);
    await v.stop();
    await ctx.cleanup.close(v);
    await ctx.sleep(100);
  }
  return out;
}

/** A viewer that keeps a source warm (and records prft latency when asked). */
async function keepWarm(ctx: ScenarioContext, url: string, target: Record<string, unknown>, opts: ViewerOptions = {}): Promise<BenchViewer> {
  const v = ctx.cleanup.add('warm viewer', await BenchViewer.connect(url, opts));
  await v.play(target);
  v.startAcking(1000);
  await v.waitForFragments(3, TIMEOUT_MS);
  return v;
}

const latencies = (v: BenchViewer): number[] => v.samples.map((s) => s.latencyMs).filter((x): x is number => x !== undefined);

async function treePhase(ctx: ScenarioContext, tree: BridgeTree, plan: Plan): Promise<void> {
  const { rec } = ctx;
  const edgeA = tree.edges.a!;
  const edgeB = tree.edges.b!;
  const publisher = ctx.cleanup.add('mqttcast publish', await startPublisher(tree, CHANNEL, DEMO));
  await waitChannelLive(tree, edgeB, CHANNEL, TIMEOUT_MS);
  const servers: ChildServer[] = [];
  for (const [edge, broker] of [['a', edgeA], ['b', edgeB]] as const) {
    servers.push(ctx.cleanup.add(`media server at edge ${edge}`, await startMediaServerChild(`media server at edge ${edge}`, { brokerUrl: broker.url, demo: DEMO })));
  }
  const target = { source: `live/${CHANNEL}` };
  const warm = await keepWarm(ctx, edgeA.url, target);

  ctx.log(`channels: warm play at edge a, ${plan.ttffRuns} runs`);
  const edgeTtff = await warmTtff(ctx, edgeA.url, target, plan.ttffRuns);
  rec.metric(NAME, 'edge a, warm: play→init', 'ms', edgeTtff.init);
  const ttff = rec.metric(NAME, 'edge a, warm: play→1st fragment', 'ms', edgeTtff.first, `target ≤ ${TARGET_TTFF_MS} ms`);

  ctx.log(`channels: latency along the tree, ${plan.latencyMs / 1000} s`);
  const taps = [
    ctx.cleanup.add('tap', await FragmentTap.open(tree, tree.ingress, CHANNEL)),
    ctx.cleanup.add('tap', await FragmentTap.open(tree, tree.intermediate, CHANNEL, 'monitor')),
    ctx.cleanup.add('tap', await FragmentTap.open(tree, edgeA, CHANNEL)),
  ] as const;
  const sampler = new ProcSampler(publisher.pid, 1000).start();
  for (const t of taps) t.recording = true;
  warm.recording = true;
  await ctx.sleep(plan.latencyMs);
  for (const t of taps) t.recording = false;
  warm.recording = false;
  const cpu = sampler.stop();
  const [atIngress, atIntermediate, atEdge] = taps;
  rec.metric(NAME, 'prft (corrected) → tap at ingress', 'ms', atIngress.latencies());
  rec.metric(NAME, 'prft (corrected) → tap at intermediate', 'ms', atIntermediate.latencies());
  rec.metric(NAME, 'prft (corrected) → tap at edge a', 'ms', atEdge.latencies());
  const hop1 = rec.metric(NAME, 'hop ingress → intermediate', 'ms', atIntermediate.hopFrom(atIngress), `target ≤ ${TARGET_HOP_MS} ms (median)`);
  const hop2 = rec.metric(NAME, 'hop intermediate → edge a', 'ms', atEdge.hopFrom(atIntermediate), `target ≤ ${TARGET_HOP_MS} ms (median)`);
  rec.metric(NAME, 'hop edge a → viewer (media server)', 'ms', viewerHop(warm, atEdge));
  rec.metric(NAME, 'edge a viewer: latency (prft, corrected)', 'ms', latencies(warm));
  rec.metric(NAME, 'publisher CPU (node + ffmpeg)', '% core', cpu.intervals.map((s) => s.cpuPct), `${DEMO.width}x${DEMO.height}@${DEMO.fps} demo, x264 veryfast`);
  rec.metric(NAME, 'publisher CPU: ffmpeg', '% core', cpu.intervals.map((s) => s.byGroup.ffmpeg ?? 0));
  for (const t of taps) await ctx.cleanup.close(t);

  ctx.log(`channels: ingress bytes with 1 then 20 viewers at the edges, ${plan.windowTicks} $SYS ticks each`);
  const brokers = [tree.ingress, tree.intermediate, edgeA, edgeB];
  const one = await bytesOverTicks(tree, brokers, plan.windowTicks);
  const more = [...(await connectViewers(edgeA.url, 9)), ...(await connectViewers(edgeB.url, 10))].map((v) => ctx.cleanup.add('viewer', v));
  for (const v of more) {
    await v.play(target);
    v.startAcking(1000);
  }
  for (const v of more) await v.waitForFragments(3, TIMEOUT_MS);
  const twenty = await bytesOverTicks(tree, brokers, plan.windowTicks);
  const kBps = (bytes: number): number => bytes / plan.windowTicks / 1000;
  for (const [i, label] of ['ingress', 'intermediate', 'edge a', 'edge b'].entries()) {
    rec.metric(NAME, `${label} bytes sent, 1 viewer`, 'kB/s', [kBps(one[i]!)]);
    rec.metric(NAME, `${label} bytes sent, 20 viewers`, 'kB/s', [kBps(twenty[i]!)]);
  }
  const bytesRatio = rec.ratio('channels: ingress bytes sent, 20 / 1 viewers at the edges', kBps(twenty[0]!), kBps(one[0]!), 'kB/s');
  rec.ratio('channels: edges bytes sent, 20 / 1 viewers', kBps(twenty[2]! + twenty[3]!), kBps(one[2]! + one[3]!), 'kB/s');
  for (const v of [...more, warm]) {
    await v.stop();
    await ctx.cleanup.close(v);
  }
  for (const s of [...servers, publisher]) await ctx.cleanup.close(s);

  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : 'MISSED');
  rec.note(NAME, `warm first fragment at an edge ≤ ${TARGET_TTFF_MS} ms: ${verdict(ttff && ttff.median <= TARGET_TTFF_MS)} (median ${ttff?.median.toFixed(1)} ms)`);
  rec.note(NAME, `added latency per bridge hop ≤ ${TARGET_HOP_MS} ms (median): ${verdict(hop1 && hop2 && Math.max(hop1.median, hop2.median) <= TARGET_HOP_MS)} (${hop1?.median.toFixed(2)} / ${hop2?.median.toFixed(2)} ms)`);
  rec.note(NAME, `ingress bytes flat (≤ 1.3x) from 1 to 20 viewers at the edges: ${verdict(bytesRatio === undefined ? undefined : bytesRatio <= 1.3)}`);
}

/** Arrival at the viewer (through the edge's media server) − arrival at the edge's raw tap, per fragment. */
function viewerHop(viewer: BenchViewer, edgeTap: FragmentTap): number[] {
  const byPrft = new Map<number, number>();
  for (const { at, prftMs } of edgeTap.arrivals.values()) if (prftMs !== undefined) byPrft.set(Math.round(prftMs * 1000), at);
  return viewer.samples.flatMap((s) => {
    if (s.prftMs === undefined) return [];
    const tapAt = byPrft.get(Math.round(s.prftMs * 1000));
    return tapAt === undefined ? [] : [s.recvMs - tapAt];
  });
}

async function originPhase(ctx: ScenarioContext, tree: BridgeTree, plan: Plan): Promise<void> {
  const { rec } = ctx;
  const creds = await addOriginUser(tree);
  const server = ctx.cleanup.add('origin media server', await startMediaServerChild('origin media server', { brokerUrl: tree.ingress.url, ...creds, demo: DEMO }));
  const target = { source: 'demo' };
  const warm = await keepWarm(ctx, tree.ingress.url, target, creds);
  ctx.log(`channels: warm play at the origin, ${plan.ttffRuns} runs`);
  const originTtff = await warmTtff(ctx, tree.ingress.url, target, plan.ttffRuns, creds);
  rec.metric(NAME, 'origin, warm: play→init', 'ms', originTtff.init);
  rec.metric(NAME, 'origin, warm: play→1st fragment', 'ms', originTtff.first);
  const sampler = new ProcSampler(server.pid, 1000).start();
  warm.recording = true;
  await ctx.sleep(plan.latencyMs);
  warm.recording = false;
  const cpu = sampler.stop();
  rec.metric(NAME, 'origin viewer: latency (prft, corrected)', 'ms', latencies(warm));
  rec.metric(NAME, 'origin media server CPU (node + ffmpeg)', '% core', cpu.intervals.map((s) => s.cpuPct), 'the same demo encoded by the server itself');
  await warm.stop();
  await ctx.cleanup.close(warm);
  await ctx.cleanup.close(server);
}

export const channelsScenario: Scenario = {
  name: 'channels',
  description: 'a live channel through a Mosquitto bridge tree: warm play at an edge, latency per hop, ingress bytes vs viewers, publisher CPU; vs the origin',
  async run(ctx) {
    const plan: Plan = ctx.quick ? { ttffRuns: 3, latencyMs: 5000, windowTicks: 3 } : { ttffRuns: 15, latencyMs: 40_000, windowTicks: 10 };
    const tree = ctx.cleanup.add('bridge tree', await startBridgeTree({ edges: ['a', 'b'] }));
    await treePhase(ctx, tree, plan);
    await originPhase(ctx, tree, plan);
    const r = ctx.rec;
    r.ratio('channels: warm 1st fragment, edge a / origin', r.median(NAME, 'edge a, warm: play→1st fragment'), r.median(NAME, 'origin, warm: play→1st fragment'), 'ms');
    r.ratio('channels: viewer prft latency, edge a / origin', r.median(NAME, 'edge a viewer: latency (prft, corrected)'), r.median(NAME, 'origin viewer: latency (prft, corrected)'), 'ms');
    r.ratio('channels: CPU, publisher / origin media server', r.median(NAME, 'publisher CPU (node + ffmpeg)'), r.median(NAME, 'origin media server CPU (node + ffmpeg)'), '% core');
  },
};
