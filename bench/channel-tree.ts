/**
 * Pieces of the `channels` scenario around test/helpers/bridge-tree.ts: a `mqttcast
 * publish` child at the ingress, `mqttcast media-server` children on any broker of the
 * tree, raw taps that stamp each channel fragment on arrival, $SYS byte windows, and an
 * extra user at the ingress for a media server serving there directly (the origin).
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { channelTopics, parseChannelMeta, parseFragment, parseInit } from '../protocol/index.js';
import { fragmentProducerTimeMs } from '../protocol/prft.js';
import type { BridgeTree, TreeBroker, TreeUser } from '../test/helpers/bridge-tree.js';
import { runChecked } from '../test/helpers/child.js';
import { freePort } from '../test/helpers/ports.js';
import { startNodeChild, stopTree, waitHealthy, type ChildServer } from './server-process.js';
import { setNoDelay, wallMs } from './viewer.js';

export interface DemoSize {
  width: number;
  height: number;
  fps: number;
}

/** `mqttcast publish demo --name <name>` at the tree's ingress (as user "publisher"). */
export async function startPublisher(tree: BridgeTree, name: string, demo: DemoSize): Promise<ChildServer> {
  const { username, password } = tree.users.publisher;
  const args = ['bin/mqttcast.js', 'publish', 'demo', '--name', name, '--broker', tree.ingress.url, '-u', username, '-P', password];
  args.push('--video-size', `${demo.width}x${demo.height}`, '--framerate', String(demo.fps), '-q');
  // Ready when it is connected to the ingress: the broker port already listens, so poll it.
  const child = await startNodeChild('mqttcast publish', args, tree.ingress.port);
  return { name: 'mqttcast publish', pid: child.pid, mqttUrl: tree.ingress.url, output: child.log, close: async () => void (await stopTree(child)) };
}

export interface MediaServerChildOptions {
  brokerUrl: string;
  username?: string;
  password?: string;
  demo?: DemoSize;
  /** The config's `snapshots` section (default: the server's defaults). */
  snapshots?: Record<string, unknown>;
}

/** `mqttcast media-server --broker <url>` in its own process; resolves once /healthz says the broker is connected. */
export async function startMediaServerChild(name: string, opts: MediaServerChildOptions): Promise<ChildServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-bench-ms-'));
  const config = path.join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ demo: opts.demo, snapshots: opts.snapshots }));
  const httpPort = await freePort();
  const args = ['bin/mqttcast.js', 'media-server', '--config', config, '--host', '127.0.0.1', '--http-port', String(httpPort), '--broker', opts.brokerUrl, '--log-level', 'warn'];
  if (opts.username) args.push('-u', opts.username, '-P', opts.password ?? '');
  const child = await startNodeChild(name, args, httpPort);
  const close = async (): Promise<void> => {
    const left = await stopTree(child);
    await rm(dir, { recursive: true, force: true });
    if (left.length > 0) process.stderr.write(`bench: killed leftovers of ${name}: ${left.join(', ')}\n`);
  };
  if (!(await waitHealthy(httpPort))) {
    await close();
    throw new Error(`${name} never connected to ${opts.brokerUrl}: ${child.log().slice(-2000)}`);
  }
  return { name, pid: child.pid, mqttUrl: opts.brokerUrl, httpPort, output: child.log, close };
}

export interface TapArrival {
  /** Arrival wall clock, Unix ms. */
  at: number;
  /** The prft's NTP time as written (Unix ms): the same bytes at every hop. */
  prftMs?: number;
  /** Producer time of the fragment's first sample, prft corrected for ffmpeg stamping the fragment end (protocol/prft.ts). */
  producedMs?: number;
}

/** A raw subscriber of a channel's data (and retained init, for the timescales) at one broker: arrival wall clock per fragment sequence number. */
export class FragmentTap {
  /** sequence → arrival */
  readonly arrivals = new Map<number, TapArrival>();
  recording = false;
  private timescales = new Map<number, number>();

  private constructor(readonly broker: TreeBroker, private readonly client: MqttClient, initTopic: string) {
    client.on('message', (topic, payload) => {
      const at = wallMs();
      if (topic === initTopic) {
        if (payload.byteLength === 0) return; // a cleared retained init: keep the timescales we have
        this.timescales = new Map(parseInit(payload).tracks.map((t) => [t.id, t.timescale]));
        return;
      }
      if (!this.recording) return;
      const info = parseFragment(payload);
      this.arrivals.set(info.sequence, { at, prftMs: info.producerTimeMs, producedMs: fragmentProducerTimeMs(info, this.timescales)?.timeMs });
    });
  }

  static async open(tree: BridgeTree, broker: TreeBroker, channel: string, user: TreeUser = 'publisher'): Promise<FragmentTap> {
    const client = await tree.connect(broker, user);
    setNoDelay(client);
    const topics = channelTopics('video', channel);
    const tap = new FragmentTap(broker, client, topics.init);
    await client.subscribeAsync({ [topics.init]: { qos: 0 }, [topics.data]: { qos: 0 } });
    return tap;
  }

  /** Arrival − corrected producer time of every recorded fragment (ms). */
  latencies(): number[] {
    return [...this.arrivals.values()].flatMap((a) => (a.producedMs === undefined ? [] : [a.at - a.producedMs]));
  }

  /** Arrival here − arrival at `upper`, for fragments both recorded (ms). */
  hopFrom(upper: FragmentTap): number[] {
    const out: number[] = [];
    for (const [seq, { at }] of this.arrivals) {
      const before = upper.arrivals.get(seq);
      if (before) out.push(at - before.at);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Resolves once the channel's retained meta says `live` at `broker`. */
export async function waitChannelLive(tree: BridgeTree, broker: TreeBroker, channel: string, timeoutMs: number): Promise<void> {
  const client = await tree.connect(broker, 'monitor');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`channel ${channel} not live at ${broker.name} within ${timeoutMs} ms`)), timeoutMs);
      client.on('message', (_t, payload) => {
        if (payload.length > 0 && parseChannelMeta(payload).state === 'live') {
          clearTimeout(timer);
          resolve();
        }
      });
      client.subscribe(channelTopics('video', channel).meta);
    });
  } finally {
    await client.endAsync(true);
  }
}

/**
 * Bytes each broker sent over the same `ticks` consecutive $SYS publications
 * (sys_interval 1 s in the tree): last − first fresh value of $SYS/broker/bytes/sent.
 */
export async function bytesOverTicks(tree: BridgeTree, brokers: readonly TreeBroker[], ticks: number): Promise<number[]> {
  const clients = await Promise.all(brokers.map((b) => tree.connect(b, 'monitor')));
  try {
    return await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<number>((resolve, reject) => {
            const values: number[] = [];
            const timer = setTimeout(() => reject(new Error(`$SYS ticks of ${brokers[i]!.name}`)), (ticks + 5) * 2000);
            c.on('message', (_t, payload, packet) => {
              if (packet.retain) return;
              values.push(Number.parseFloat(payload.toString('utf8')));
              if (values.length > ticks) {
                clearTimeout(timer);
                resolve(values[ticks]! - values[0]!);
              }
            });
            c.subscribe('$SYS/broker/bytes/sent');
          }),
      ),
    );
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}

/**
 * Adds user `origin` at the ingress, allowed everything (a media server serving viewers
 * there directly: requests, replies, sessions), and reloads the ingress.
 */
export async function addOriginUser(tree: BridgeTree): Promise<{ username: string; password: string }> {
  const creds = { username: 'origin', password: `origin-${process.pid}-${Date.now()}` };
  await runChecked('mosquitto_passwd', ['-b', tree.passwordFile, creds.username, creds.password]);
  await appendFile(path.join(tree.dir, 'tree.acl'), `\nuser ${creds.username}\ntopic readwrite #\n`);
  await tree.reload(tree.ingress);
  return creds;
}
