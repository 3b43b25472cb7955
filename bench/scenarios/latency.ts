/**
 * Scenario 2: steady latency behind live over a run (quick 20 s, full 3 min).
 * For each fragment, latency = receive wall clock − the producer time of its
 * first sample: the prft corrected for ffmpeg stamping it at the fragment's end
 * (protocol/prft.ts), so a fragment's own duration counts, as it does for a
 * viewer. Drift = median of the last minute − median of the first minute
 * (thirds of the run when it is shorter than three minutes). The media
 * clock (receive time − decode time) is tracked too: its drift shows a source
 * or encoder falling behind real time, which prft alone cannot. The remuxed
 * RTSP source (the §7 target) and the transcoded demo run at the same time on
 * one server process, whose CPU and memory are sampled along the way.
 */
import { startRtspServer } from '../../test/helpers/rtsp-server.js';
import type { Scenario, ScenarioContext } from '../context.js';
import { ProcSampler } from '../proc-sampler.js';
import { startMqttcastServer } from '../server-process.js';
import { windowDrift } from '../stats.js';
import { BenchViewer, type FragmentSample } from '../viewer.js';
import { RTSP_SOURCE } from './ttff.js';

const MiB = 2 ** 20;

/** Median of the first and the last window of `windowMs` (by receive time); last − first. */
export function drift(samples: readonly FragmentSample[], pick: (s: FragmentSample) => number | undefined, windowMs: number): number | undefined {
  const points = samples.flatMap((s) => {
    const v = pick(s);
    return v === undefined ? [] : [[s.recvMs, v] as const];
  });
  return windowDrift(points, windowMs);
}

function recordRun(ctx: ScenarioContext, name: string, v: BenchViewer, windowMs: number): void {
  const lat = v.samples.map((s) => s.latencyMs).filter((x): x is number => x !== undefined);
  ctx.rec.metric('latency', `${name}: fragment latency (prft, corrected)`, 'ms', lat);
  const raw = v.samples.filter((s) => s.corrected === false).length;
  if (raw > 0) ctx.rec.note('latency', `${name}: ${raw} fragments stated no durations: their latency is the raw prft's (one fragment short)`);
  const d = drift(v.samples, (s) => s.latencyMs, windowMs);
  const m = drift(v.samples, (s) => s.mediaOffsetMs, windowMs);
  ctx.rec.metric('latency', `${name}: drift (last − first ${Math.round(windowMs / 1000)} s)`, 'ms', d === undefined ? [] : [d]);
  ctx.rec.metric('latency', `${name}: media-clock drift`, 'ms', m === undefined ? [] : [m], 'receive time − decode time; grows if the stream falls behind real time');
  if (name.startsWith('demo') && v.initWallMs !== undefined) {
    // The demo's ffmpeg writes its init segment as it reads frame 0 (-re lavfi), so receive time −
    // (init arrival + decode time) is the age of a fragment's first frame: a lower bound of "behind live".
    const age = v.samples.map((s) => (s.mediaOffsetMs === undefined ? undefined : s.mediaOffsetMs - v.initWallMs!));
    ctx.rec.metric('latency', `${name}: age of 1st frame (media clock)`, 'ms', age.filter((x): x is number => x !== undefined), 'receive − (init arrival + decode time); only a lower bound if ffmpeg wrote the init as it read frame 0 (negative: it wrote it later)');
  }
  const spanS = v.samples.length > 1 ? (v.samples.at(-1)!.recvMs - v.samples[0]!.recvMs) / 1000 : 0;
  const kbit = spanS > 0 ? (v.samples.reduce((s, x) => s + x.bytes, 0) * 8) / spanS / 1000 : 0;
  ctx.rec.note('latency', `${name}: ${v.samples.length} fragments over ${spanS.toFixed(0)} s, ${kbit.toFixed(0)} kbit/s, ${(v.samples.length / Math.max(spanS, 1)).toFixed(1)} fragments/s`);
}

export const latencyScenario: Scenario = {
  name: 'latency',
  description: 'steady latency behind live (prft, corrected), drift; RTSP remux and demo transcode',
  async run(ctx) {
    const durationMs = ctx.quick ? 20_000 : 180_000;
    const windowMs = Math.min(60_000, durationMs / 3);
    const rtsp = ctx.cleanup.add('rtsp server', await startRtspServer(RTSP_SOURCE));
    const server = ctx.cleanup.add('mqttcast serve', await startMqttcastServer({ allow: [rtsp.url] }));
    const streams: Array<[string, Record<string, unknown>]> = [
      [`rtsp remux ${RTSP_SOURCE.width}x${RTSP_SOURCE.height}`, { url: rtsp.url }],
      ['demo transcode 1280x720', { source: 'demo' }],
    ];
    const viewers: BenchViewer[] = [];
    for (const [, target] of streams) {
      const v = ctx.cleanup.add('viewer', await BenchViewer.connect(server.mqttUrl));
      await v.play(target);
      v.startAcking(1000);
      viewers.push(v);
    }
    await Promise.all(viewers.map((v) => v.waitForFragments(1, 30_000)));
    await ctx.sleep(ctx.quick ? 1000 : 2000); // let start-up bursts (the cached GOP) pass
    const sampler = new ProcSampler(server.pid, 5000).start();
    for (const v of viewers) v.recording = true;
    ctx.log(`latency: recording ${durationMs / 1000} s`);
    await ctx.sleep(durationMs);
    for (const v of viewers) v.recording = false;
    const win = sampler.stop();
    for (const [i, [name]] of streams.entries()) recordRun(ctx, name, viewers[i]!, windowMs);
    ctx.rec.metric('latency', 'server CPU (both streams)', '% core', win.intervals.map((s) => s.cpuPct));
    ctx.rec.metric('latency', 'server RSS', 'MiB', win.intervals.map((s) => s.rssBytes / MiB));
    ctx.rec.note('latency', `server RSS ${(win.rssFirstBytes / MiB).toFixed(0)} → ${(win.rssLastBytes / MiB).toFixed(0)} MiB over the run (max ${(win.rssMaxBytes / MiB).toFixed(0)})`);
    for (const v of viewers) await v.stop();
  },
};
