/**
 * Scenario `snapshots` (issue 15): what the pictures of live channels cost.
 *
 * 1. Per picture: the server's SnapshotEncoder, run here, turns a real keyframe (init +
 *    the keyframe's fragment of ffmpeg libx264 output, one fragment per frame as a live
 *    channel carries it) of a 640x360, 1280x720 and 1920x1080 source into a 640-wide JPEG
 *    (the defaults), N times each: CPU ms (user + system of the reaped ffmpegs, from this
 *    process's cutime + cstime, per batch of pictures), wall ms and JPEG kB per picture;
 *    baseline: `ffmpeg -version` the same way (the cost of starting an ffmpeg at all).
 * 2. Per channel at the default interval (10 s): on one Mosquitto, `mqttcast publish demo`
 *    children (640x360@25) and two `mqttcast media-server` children measured over the same
 *    window — default snapshot settings, and snapshots disabled — CPU of each server's
 *    process tree (node + its snapshot ffmpegs) per 10 s interval, per channel; pictures
 *    made from /metrics. One channel; in full mode then four.
 */
import { SnapshotEncoder } from '../../media-server/snapshots/snapshot-encoder.js';
import { Fmp4Segmenter } from '../../protocol/index.js';
import { runChecked } from '../../test/helpers/child.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import type { Scenario, ScenarioContext } from '../context.js';
import { ProcSampler, type TreeWindow } from '../proc-sampler.js';
import type { ChildServer } from '../server-process.js';
import {
  reapedChildrenCpuMs,
  snapshotCounters,
  startDemoPublisher,
  startSnapshotServer,
  waitChannelsLive,
  type DemoChannel,
  type SnapshotCounters,
  watchFirstPictures,
} from '../snapshot-servers.js';

const NAME = 'snapshots';
/** The config defaults (media-server/daemon/config.ts SnapshotsSchema). */
const WIDTH = 640;
const INTERVAL_S = 10;
const SOURCES = [
  { width: 640, height: 360 },
  { width: 1280, height: 720 },
  { width: 1920, height: 1080 },
] as const;
/** Pictures per CPU sample: cutime moves in 10 ms ticks, so a batch of 5 resolves 2 ms a picture. */
const BATCH = 5;
const DEMO = { width: 640, height: 360, fps: 25 };
const TIMEOUT_MS = 30_000;

interface Plan {
  pictures: number;
  windowMs: number;
  /** Channel counts measured one after the other. */
  channels: number[];
}

const label = (s: { width: number; height: number }): string => `${s.width}x${s.height}`;

/** The init segment and the first keyframe's fragment of a short libx264 stream like the demo's (one fragment per frame). */
async function keyframeOf(size: { width: number; height: number }): Promise<{ init: Buffer; keyframe: Buffer }> {
  const { stdout } = await runChecked('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${label(size)}:rate=25`, '-frames:v', '3',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-g', '25',
    '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_every_frame', 'pipe:1',
  ]);
  const segments = new Fmp4Segmenter().push(stdout);
  const init = segments.find((s) => s.kind === 'init');
  const keyframe = segments.find((s) => s.kind === 'fragment');
  if (!init || !keyframe) throw new Error(`ffmpeg gave no init or fragment for ${label(size)}`);
  return { init: Buffer.from(init.data), keyframe: Buffer.from(keyframe.data) };
}

/** Part 1: CPU, wall time and size of a picture per source size. Runs before any child is started, so only the encoder's ffmpegs are reaped here. */
async function perPicture(ctx: ScenarioContext, plan: Plan): Promise<void> {
  const { rec } = ctx;
  const encoder = ctx.cleanup.add('snapshot encoder', new SnapshotEncoder({ ffmpeg: 'ffmpeg', width: WIDTH }));
  for (const size of SOURCES) {
    const { init, keyframe } = await keyframeOf(size);
    ctx.log(`snapshots: ${plan.pictures} pictures of a ${label(size)} keyframe (${(keyframe.length / 1000).toFixed(0)} kB)`);
    await encoder.encode('warm-up', init, [keyframe]);
    const cpu: number[] = [];
    const wall: number[] = [];
    const kB: number[] = [];
    for (let batch = 0; batch < plan.pictures / BATCH; batch++) {
      const before = reapedChildrenCpuMs();
      for (let i = 0; i < BATCH; i++) {
        if (ctx.signal.aborted) throw new Error('aborted');
        const t0 = performance.now();
        const jpeg = await encoder.encode(label(size), init, [keyframe]);
        wall.push(performance.now() - t0);
        if (!jpeg) throw new Error(`no picture of the ${label(size)} keyframe`);
        kB.push(jpeg.length / 1000);
      }
      cpu.push((reapedChildrenCpuMs() - before) / BATCH);
    }
    const what = `${label(size)} → ${WIDTH} wide`;
    rec.metric(NAME, `${what}: CPU per picture`, 'ms', cpu, `ffmpeg user+sys, mean of each ${BATCH} pictures; keyframe ${(keyframe.length / 1000).toFixed(1)} kB`);
    rec.metric(NAME, `${what}: wall per picture`, 'ms', wall, 'encode() called → JPEG back (spawn, decode, scale, JPEG)');
    rec.metric(NAME, `${what}: JPEG size`, 'kB', kB);
  }
  await ctx.cleanup.close(encoder);
  await startupBaseline(ctx, plan);
  const cpu = (s: { width: number; height: number }): number | undefined => rec.median(NAME, `${label(s)} → ${WIDTH} wide: CPU per picture`);
  rec.ratio('snapshots: CPU per picture, 1280x720 / 640x360 source', cpu(SOURCES[1]), cpu(SOURCES[0]), 'ms');
  rec.ratio('snapshots: CPU per picture, 1920x1080 / 640x360 source', cpu(SOURCES[2]), cpu(SOURCES[0]), 'ms');
  rec.ratio('snapshots: CPU, ffmpeg -version / a picture of 640x360', rec.median(NAME, 'baseline: ffmpeg -version (start + exit)'), cpu(SOURCES[0]), 'ms');
  rec.ratio('snapshots: 1920x1080 source, wall / CPU per picture', rec.median(NAME, `1920x1080 → ${WIDTH} wide: wall per picture`), cpu(SOURCES[2]), 'ms');
}

/** Baseline: what starting and ending an ffmpeg costs at all (exec, loading its libraries), measured the same way. */
async function startupBaseline(ctx: ScenarioContext, plan: Plan): Promise<void> {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let batch = 0; batch < plan.pictures / BATCH; batch++) {
    const before = reapedChildrenCpuMs();
    for (let i = 0; i < BATCH; i++) {
      if (ctx.signal.aborted) throw new Error('aborted');
      const t0 = performance.now();
      await runChecked('ffmpeg', ['-hide_banner', '-version']);
      wall.push(performance.now() - t0);
    }
    cpu.push((reapedChildrenCpuMs() - before) / BATCH);
  }
  ctx.rec.metric(NAME, 'baseline: ffmpeg -version (start + exit)', 'ms', cpu, 'CPU per run, the fixed part of every picture');
  ctx.rec.metric(NAME, 'baseline: ffmpeg -version, wall', 'ms', wall);
}

const perChannel = (w: TreeWindow, channels: number): number[] => w.intervals.map((s) => s.cpuPct / channels);

/** Part 2: media server CPU per channel with and without pictures, both servers over the same windows. */
async function perChannel10s(ctx: ScenarioContext, plan: Plan): Promise<void> {
  const broker = ctx.cleanup.add('mosquitto', await startMosquitto());
  const on = ctx.cleanup.add('media server, snapshots on', await startSnapshotServer('media server, snapshots on', broker.url, {}));
  const off = ctx.cleanup.add('media server, snapshots off', await startSnapshotServer('media server, snapshots off', broker.url, { enabled: false }));
  const publishers: ChildServer[] = [];
  const channels: DemoChannel[] = [];
  const firsts = ctx.cleanup.add('first pictures', await watchFirstPictures(broker.url));
  for (const count of plan.channels) {
    while (channels.length < count) {
      const demo = { name: `cam${channels.length + 1}`, ...DEMO };
      publishers.push(ctx.cleanup.add(`mqttcast publish ${demo.name}`, await startDemoPublisher(broker.url, broker.port, demo)));
      channels.push(demo);
    }
    await waitChannelsLive(broker.url, channels.map((c) => c.name), TIMEOUT_MS);
    // Each channel's first picture comes at its first keyframe: wait for them, then settle a moment.
    const deadline = Date.now() + TIMEOUT_MS;
    while ((await snapshotCounters(on.httpPort!)).made < count) {
      if (Date.now() > deadline) throw new Error(`no first picture of all ${count} channels within ${TIMEOUT_MS} ms: ${on.output().slice(-1000)}`);
      await ctx.sleep(200);
    }
    await ctx.sleep(2000);

    const what = `${count} channel${count > 1 ? 's' : ''} ${label(DEMO)}@${DEMO.fps}`;
    ctx.log(`snapshots: ${what}, both servers over ${plan.windowMs / 1000} s`);
    const before = await snapshotCounters(on.httpPort!);
    const samplers = [new ProcSampler(on.pid, INTERVAL_S * 1000).start(), new ProcSampler(off.pid, INTERVAL_S * 1000).start()];
    await ctx.sleep(plan.windowMs);
    const [withPictures, without] = samplers.map((s) => s.stop()) as [TreeWindow, TreeWindow];
    const after = await snapshotCounters(on.httpPort!);
    record(ctx, what, count, withPictures, without, before, after);
  }
  ctx.rec.metric(NAME, 'channel live → its first picture', 'ms', firsts.delaysMs(), 'first live meta → first JPEG on video/live/<name>/snapshot, as a subscriber sees them; target ≤ 2000 ms');
  await ctx.cleanup.close(firsts);
  for (const p of publishers) await ctx.cleanup.close(p);
  for (const s of [off, on, broker]) await ctx.cleanup.close(s);
}

function record(ctx: ScenarioContext, what: string, count: number, withPictures: TreeWindow, without: TreeWindow, before: SnapshotCounters, after: SnapshotCounters): void {
  const { rec } = ctx;
  const a = perChannel(withPictures, count);
  const b = perChannel(without, count);
  const diff = a.slice(0, Math.min(a.length, b.length)).map((x, i) => x - b[i]!);
  const mean = (w: TreeWindow): string => `${(w.cpuPct / count).toFixed(2)} % over the whole ${w.elapsedS.toFixed(0)} s`;
  const onCpu = rec.metric(NAME, `${what}: media server CPU per channel, snapshots on`, '% core', a, `per ${INTERVAL_S} s interval, node + its ffmpegs; mean ${mean(withPictures)}`);
  const offCpu = rec.metric(NAME, `${what}: media server CPU per channel, snapshots off`, '% core', b, `mean ${mean(without)}`);
  rec.metric(NAME, `${what}: difference (pictures + receiving the channel)`, '% core', diff, 'on − off, same intervals');
  const made = after.made - before.made;
  const windowS = withPictures.elapsedS;
  rec.metric(NAME, `${what}: pictures made in the window`, 'pictures', [made], `${windowS.toFixed(0)} s, all channels (/metrics mqttcast_snapshots_made); ${(made / count / (windowS / INTERVAL_S)).toFixed(2)} per channel per ${INTERVAL_S} s`);
  if (made > 0) rec.metric(NAME, `${what}: ffmpeg wall per picture in the server`, 'ms', [((after.seconds - before.seconds) / made) * 1000], '/metrics mqttcast_snapshot_seconds');
  // What the pictures alone would cost, from part 1's CPU per picture of this size.
  const perPictureMs = rec.median(NAME, `${label(DEMO)} → ${WIDTH} wide: CPU per picture`);
  if (perPictureMs !== undefined && made > 0) {
    const picturesPct = (((made / count) * perPictureMs) / 1000 / windowS) * 100;
    rec.metric(NAME, `${what}: of which pictures (estimate)`, '% core', [picturesPct], 'pictures made per channel × CPU per picture (part 1) / window; the rest is receiving the channel');
  }
  rec.ratio(`snapshots: ${what}, media server CPU snapshots on / off`, onCpu?.median, offCpu?.median, '% core');
}

export const snapshotsScenario: Scenario = {
  name: NAME,
  description: 'snapshot JPEGs: CPU and wall ms per picture (640x360, 720p, 1080p sources), media server CPU per channel with and without pictures',
  // quick: ~10 s of pictures, ~10 s of start-up, a 30 s window; full: 3 × 60 pictures, 1 then 4 channels over 120 s each.
  timeLimitS: { quick: 90, full: 420 },
  async run(ctx) {
    const plan: Plan = ctx.quick ? { pictures: 20, windowMs: 30_000, channels: [1] } : { pictures: 60, windowMs: 120_000, channels: [1, 4] };
    await perPicture(ctx, plan);
    await perChannel10s(ctx, plan);
    ctx.rec.note(
      NAME,
      'snapshots off: a media server without viewers does not subscribe to a channel\'s data at all, so "difference" is the cost of the pictures plus receiving the channel (one more viewer of its subscription); "of which pictures" is the ffmpeg share',
    );
    ctx.rec.note(NAME, `both media servers run at the same time on one Mosquitto with the same publishers (${label(DEMO)}@${DEMO.fps} demo), so they share the windows and the machine's load`);
  },
};
