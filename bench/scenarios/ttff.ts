/**
 * Scenario 1: time to first fragment, headless. play published → init segment
 * received → first fragment received, seen by an MQTT subscriber, for the demo
 * source and a local RTSP source, cold (fresh server: probe + ffmpeg start) and
 * warm (right after a describe; a second viewer of a running source). Also the
 * per-viewer transcode baseline (the seed), which is always cold. A cold RTSP
 * start is split into its steps (probe, ffmpeg spawn → init, init → first
 * fragment), read from the upstream. During the RTSP rounds another client
 * keeps the test camera streaming, as a real camera always is: otherwise the
 * GStreamer source would build its encoder pipeline at each DESCRIBE.
 */
import { spawn } from 'node:child_process';
import type { Service } from '../../media-server/service.js';
import { startRtspServer } from '../../test/helpers/rtsp-server.js';
import { stopChild } from '../../test/helpers/child.js';
import { startTestService } from '../../test/harness.js';
import { startPerViewerRelay } from '../baselines/per-viewer-transcode.js';
import type { Closeable, Scenario, ScenarioContext } from '../context.js';
import { BenchViewer } from '../viewer.js';

export const DEMO = { width: 1280, height: 720, fps: 30 };
export const RTSP_SOURCE = { width: 640, height: 360, fps: 25, profile: 'high' as const };
const TIMEOUT_MS = 30_000;

interface Stamps {
  initMs: number[];
  fragmentMs: number[];
}

const stamps = (): Stamps => ({ initMs: [], fragmentMs: [] });

/** Plays on `viewer` and records play→init and play→first fragment. */
async function timePlay(viewer: BenchViewer, target: Record<string, unknown>, into: Stamps): Promise<void> {
  await viewer.play(target);
  await viewer.waitForFragments(1, TIMEOUT_MS);
  into.initMs.push(viewer.initAt! - viewer.playSentAt!);
  into.fragmentMs.push(viewer.firstFragmentAt! - viewer.playSentAt!);
}

/** Opens things for one round and closes them (newest first) when the round ends. */
class RoundScope {
  private readonly opened: Closeable[] = [];
  constructor(private readonly ctx: ScenarioContext) {}

  track<T extends Closeable>(name: string, item: T): T {
    this.opened.push(item);
    return this.ctx.cleanup.add(name, item);
  }

  service(allow: string[]): Promise<Service> {
    return startTestService({ demo: DEMO, allow, limits: { lingerMs: 3000 } }).then((s) => this.track('mqttcast service', s));
  }

  viewer(svc: Service): Promise<BenchViewer> {
    return BenchViewer.connect(svc.urls.mqtt).then((v) => this.track('viewer', v));
  }

  async close(): Promise<void> {
    for (const item of this.opened.splice(0).reverse()) await this.ctx.cleanup.close(item);
  }
}

type Steps = Record<'probe' | 'spawn→init' | 'init→1st fragment', number[]>;

/** One round for one source: cold play on a fresh server, then a second viewer; describe → play on another fresh server. */
async function round(ctx: ScenarioContext, target: Record<string, unknown>, allow: string[], out: Record<string, Stamps>, describeMs: number[], steps: Steps): Promise<void> {
  const scope = new RoundScope(ctx);
  try {
    let svc = await scope.service(allow);
    await timePlay(await scope.viewer(svc), target, out.cold!);
    const s = svc.mediaServer.pool.upstreams()[0]?.startSteps;
    if (s?.probeMs !== undefined) steps.probe.push(s.probeMs);
    if (s?.spawnToInitMs !== undefined) steps['spawn→init'].push(s.spawnToInitMs);
    if (s?.initToFirstFragmentMs !== undefined) steps['init→1st fragment'].push(s.initToFirstFragmentMs);
    await timePlay(await scope.viewer(svc), target, out['warm (2nd viewer)']!);
    await scope.close();

    svc = await scope.service(allow);
    const third = await scope.viewer(svc);
    const t0 = performance.now();
    const reply = await third.describe(target, TIMEOUT_MS);
    describeMs.push(performance.now() - t0);
    if (reply.ok !== true) throw new Error(`describe refused: ${JSON.stringify(reply)}`);
    await timePlay(third, target, out['warm (after describe)']!);
  } finally {
    await scope.close();
  }
}

function record(ctx: ScenarioContext, source: string, out: Record<string, Stamps>, describeMs: number[], steps: Steps): void {
  for (const [variant, s] of Object.entries(out)) {
    ctx.rec.metric('ttff', `${source} ${variant}: play→init`, 'ms', s.initMs);
    ctx.rec.metric('ttff', `${source} ${variant}: play→1st fragment`, 'ms', s.fragmentMs);
  }
  ctx.rec.metric('ttff', `${source} describe (cold)`, 'ms', describeMs);
  if (source === 'demo') return;
  ctx.rec.metric('ttff', `${source} cold step: probe (RTSP DESCRIBE → SDP)`, 'ms', steps.probe);
  ctx.rec.metric('ttff', `${source} cold step: ffmpeg spawn→init`, 'ms', steps['spawn→init'], 'process start, RTSP handshake, 100 ms input analysis');
  ctx.rec.metric('ttff', `${source} cold step: init→1st fragment`, 'ms', steps['init→1st fragment'], 'waiting for a keyframe');
}

/** Another RTSP client for the whole scenario, so the test camera streams continuously like a real one. */
function keepCameraStreaming(url: string): Closeable {
  const child = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', url, '-c', 'copy', '-f', 'null', '-'], { stdio: 'ignore' });
  return { close: () => stopChild(child) };
}

export const ttffScenario: Scenario = {
  name: 'ttff',
  description: 'time to first fragment, cold and warm, demo and RTSP, vs per-viewer transcode',
  async run(ctx) {
    const runs = ctx.quick ? 1 : 6;
    const rtsp = ctx.cleanup.add('rtsp server', await startRtspServer(RTSP_SOURCE));
    const camera = ctx.cleanup.add('rtsp keep-alive client', keepCameraStreaming(rtsp.url));
    await ctx.sleep(2000);
    const sources: Array<[string, Record<string, unknown>, string[]]> = [
      ['demo', { source: 'demo' }, []],
      ['rtsp', { url: rtsp.url }, [rtsp.url]],
    ];
    try {
      for (const [name, target, allow] of sources) {
        const out: Record<string, Stamps> = { cold: stamps(), 'warm (after describe)': stamps(), 'warm (2nd viewer)': stamps() };
        const describeMs: number[] = [];
        const steps: Steps = { probe: [], 'spawn→init': [], 'init→1st fragment': [] };
        for (let i = 0; i < runs; i++) {
          ctx.log(`ttff: ${name} round ${i + 1}/${runs}`);
          await round(ctx, target, allow, out, describeMs, steps);
        }
        record(ctx, name, out, describeMs, steps);
      }
    } finally {
      await ctx.cleanup.close(camera);
      await ctx.cleanup.close(rtsp);
    }

    const relay = ctx.cleanup.add('per-viewer relay', await startPerViewerRelay(DEMO));
    const seed = stamps();
    for (let i = 0; i < runs; i++) {
      ctx.log(`ttff: per-viewer transcode ${i + 1}/${runs}`);
      const v = ctx.cleanup.add('viewer', await BenchViewer.connect(relay.mqttUrl));
      await timePlay(v, { source: 'demo' }, seed);
      await v.stop();
      await ctx.cleanup.close(v);
    }
    ctx.rec.metric('ttff', 'per-viewer transcode (seed): play→1st fragment', 'ms', seed.fragmentMs, 'x264 veryfast, 1 s GOP, publish after 2 keyframes');
    const r = ctx.rec;
    r.ratio('TTFF per-viewer transcode / mqttcast demo cold', r.median('ttff', 'per-viewer transcode (seed): play→1st fragment'), r.median('ttff', 'demo cold: play→1st fragment'), 'ms');
    r.ratio('TTFF per-viewer transcode / mqttcast demo warm (2nd viewer)', r.median('ttff', 'per-viewer transcode (seed): play→1st fragment'), r.median('ttff', 'demo warm (2nd viewer): play→1st fragment'), 'ms');
    r.ratio('TTFF rtsp cold / rtsp warm (after describe)', r.median('ttff', 'rtsp cold: play→1st fragment'), r.median('ttff', 'rtsp warm (after describe): play→1st fragment'), 'ms');
  },
};
