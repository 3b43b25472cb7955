/**
 * Pieces of the `snapshots` scenario: `mqttcast media-server` children with a given
 * `snapshots` config on one broker, `mqttcast publish demo` children, a wait for a
 * channel's retained meta to say live, the server's snapshot counters from /metrics,
 * and the CPU ticks of this process's reaped children (what the snapshot ffmpegs of a
 * SnapshotEncoder run here cost).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { channelTopics, parseChannelMeta } from '../protocol/index.js';
import { startMediaServerChild } from './channel-tree.js';
import { startNodeChild, stopTree, type ChildServer } from './server-process.js';

export interface DemoChannel {
  name: string;
  width: number;
  height: number;
  fps: number;
}

/** `mqttcast media-server --broker <url>` with `snapshots` as its config's `snapshots` section; resolves once /healthz is ok. */
export function startSnapshotServer(name: string, brokerUrl: string, snapshots: Record<string, unknown>): Promise<ChildServer> {
  return startMediaServerChild(name, { brokerUrl, snapshots });
}

/** `mqttcast publish demo --name <name>` on an anonymous broker listening on `brokerPort`. */
export async function startDemoPublisher(brokerUrl: string, brokerPort: number, demo: DemoChannel): Promise<ChildServer> {
  const args = ['bin/mqttcast.js', 'publish', 'demo', '--name', demo.name, '--broker', brokerUrl];
  args.push('--video-size', `${demo.width}x${demo.height}`, '--framerate', String(demo.fps), '-q');
  const child = await startNodeChild(`mqttcast publish ${demo.name}`, args, brokerPort);
  return { name: `mqttcast publish ${demo.name}`, pid: child.pid, mqttUrl: brokerUrl, output: child.log, close: async () => void (await stopTree(child)) };
}

/** Resolves once every channel's retained meta says `live`. */
export async function waitChannelsLive(brokerUrl: string, names: readonly string[], timeoutMs: number): Promise<void> {
  const client = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  const live = new Set<string>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`channels not live within ${timeoutMs} ms: ${names.filter((n) => !live.has(n)).join(', ')}`)), timeoutMs);
      client.on('message', (topic, payload) => {
        const name = names.find((n) => channelTopics('video', n).meta === topic);
        if (name && payload.length > 0 && parseChannelMeta(payload).state === 'live') live.add(name);
        if (live.size === names.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      client.subscribe(names.map((n) => channelTopics('video', n).meta));
    });
  } finally {
    await client.endAsync(true);
  }
}

export interface SnapshotCounters {
  made: number;
  /** Seconds of ffmpeg wall time spent on pictures. */
  seconds: number;
}

/** `mqttcast_snapshots_made` and `mqttcast_snapshot_seconds` from the server's /metrics. */
export async function snapshotCounters(httpPort: number): Promise<SnapshotCounters> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (metric: string): number => {
    const m = new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`${metric} missing from /metrics`);
    return Number(m[1]);
  };
  return { made: value('mqttcast_snapshots_made'), seconds: value('mqttcast_snapshot_seconds') };
}

function clockTicksPerSecond(): number {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100; // getconf missing: the Linux default
  }
}

const CLK_TCK = clockTicksPerSecond();

/** CPU ms (user + system) of this process's children that have exited and been reaped (cutime + cstime). */
export function reapedChildrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  // Fields start after the last ')' (comm may hold spaces); f[0] is field 3, cutime is field 16.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[16 - 3]) + Number(f[17 - 3])) / CLK_TCK) * 1000;
}

/**
 * For each channel: ms from its first `live` meta to its first picture on its snapshot topic
 * (the "within 2 s of going live"), as a subscriber of the broker sees them.
 */
export async function watchFirstPictures(brokerUrl: string): Promise<{ delaysMs(): number[]; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  const liveAt = new Map<string, number>();
  const delays = new Map<string, number>();
  client.on('message', (topic, payload, packet) => {
    const now = Date.now();
    if (packet.retain) return; // only what happens from now on
    const parts = topic.split('/');
    const name = parts[2]!;
    if (parts[3] === 'meta' && payload.length > 0 && !liveAt.has(name) && parseChannelMeta(payload).state === 'live') liveAt.set(name, now);
    else if (parts[3] === 'snapshot' && payload.length > 0 && liveAt.has(name) && !delays.has(name)) delays.set(name, now - liveAt.get(name)!);
  });
  await client.subscribeAsync(['video/live/+/meta', 'video/live/+/snapshot'], { qos: 1 });
  return { delaysMs: () => [...delays.values()], close: () => client.endAsync(true) };
}
