/**
 * Measures the shipped bridge tree (ingress ◀══ intermediate ◀══ edges a, b) on this machine,
 * built by test/helpers/bridge-tree.ts from deploy/bridges/*.conf. The numbers quoted in
 * deploy/bridges/README.md come from this script's output file.
 *
 *   flock /tmp/mqttcast-test.lock npx tsx deploy/bridges/measure.ts      # ~2 minutes
 *
 * Prints the results and writes deploy/bridges/measurements.json (or $MEASURE_OUT);
 * MEASURE_SECONDS (default 10) sets the length of the latency run.
 *  - latency (mqttv50 as shipped, and mqttv311 for comparison): a 3 Mb/s-like channel,
 *    25 messages/s for `SECONDS` s, a 150 KB keyframe fragment every 25 and 10 KB
 *    otherwise, taps on the ingress, the intermediate and both edges in this process;
 *    per hop = receive time at the broker below minus at the broker above.
 *  - fan-out: the same channel with 1 and with 40 viewers at the edges; bytes sent per
 *    broker from $SYS/broker/bytes/sent.
 *  - reconnect: the intermediate restarted (SIGTERM); time from its listener accepting
 *    connections to a probe from the ingress reaching both edges, for restart_timeout
 *    "1 1" (shipped), "1", and Mosquitto's default (line removed).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { BRIDGES_DIR, readBytesSent, startBridgeTree, type BridgeTree, type BridgeTreeOptions, type TreeBroker } from '../../test/helpers/bridge-tree.js';
import { waitFor } from '../../test/helpers/wait.js';

const SECONDS = Number(process.env.MEASURE_SECONDS ?? 10);
const RATE = 25;
const GOP = 25;
const KEY_BYTES = 150_000;
const DELTA_BYTES = 10_000;
const TOPIC = 'video/live/measure/data';

interface Stats {
  median: number;
  p95: number;
  max: number;
}

function stats(values: number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  const r = (n: number): number => Math.round(n * 100) / 100;
  return { median: r(at(0.5)), p95: r(at(0.95)), max: r(s.at(-1) ?? Number.NaN) };
}

function payload(seq: number): Buffer {
  const b = Buffer.alloc(seq % GOP === 0 ? KEY_BYTES : DELTA_BYTES, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

/** Subscribes and records the arrival time (ms) of each sequence number. */
interface Tap {
  client: MqttClient;
  times: Map<number, number>;
  order: number[];
}

async function tap(tree: BridgeTree, broker: TreeBroker, user: 'publisher' | 'monitor'): Promise<Tap> {
  const client = await tree.connect(broker, user);
  const times = new Map<number, number>();
  const order: number[] = [];
  client.on('message', (_t, p) => {
    const seq = p.readUInt32BE(0);
    times.set(seq, performance.now());
    order.push(seq);
  });
  await client.subscribeAsync(TOPIC, { qos: 0 });
  return { client, times, order };
}

async function stream(publisher: MqttClient, count: number): Promise<void> {
  const start = performance.now();
  for (let seq = 0; seq < count; seq++) {
    const due = start + (seq * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await delay(wait);
    await publisher.publishAsync(TOPIC, payload(seq), { qos: 0 });
  }
}

async function withTree<T>(opts: BridgeTreeOptions, fn: (tree: BridgeTree) => Promise<T>): Promise<T> {
  const tree = await startBridgeTree(opts);
  try {
    return await fn(tree);
  } finally {
    await tree.close();
  }
}

const protocol = (version: string) => (_file: string, text: string): string =>
  text.replace(/^bridge_protocol_version .*$/m, `bridge_protocol_version ${version}`);

async function latency(version: string): Promise<Record<string, unknown>> {
  return withTree({ edges: ['a', 'b'], rewrite: protocol(version) }, async (tree) => {
    const publisher = await tree.connect(tree.ingress);
    const ing = await tap(tree, tree.ingress, 'publisher');
    const mid = await tap(tree, tree.intermediate, 'monitor');
    const edges = await Promise.all(Object.values(tree.edges).map((e) => tap(tree, e, 'publisher')));
    const count = SECONDS * RATE;
    await stream(publisher, count);
    await waitFor(() => [mid, ...edges].every((t) => t.times.size >= count), { timeoutMs: 10_000 }).catch(() => undefined);
    const hop1: number[] = [];
    const hop2: number[] = [];
    const hop2Key: number[] = [];
    for (let seq = 0; seq < count; seq++) {
      const t0 = ing.times.get(seq);
      const t1 = mid.times.get(seq);
      if (t0 === undefined || t1 === undefined) continue;
      hop1.push(t1 - t0);
      for (const e of edges) {
        const t2 = e.times.get(seq);
        if (t2 === undefined) continue;
        hop2.push(t2 - t1);
        if (seq % GOP === 0) hop2Key.push(t2 - t1);
      }
    }
    const inOrder = (o: number[]): boolean => o.every((s, i) => i === 0 || s > (o[i - 1] ?? -1));
    return {
      bridge_protocol_version: version,
      messages: count,
      lost: { intermediate: count - mid.times.size, edges: edges.map((e) => count - e.times.size) },
      in_order: [mid, ...edges].every((t) => inOrder(t.order)),
      hop_ingress_to_intermediate_ms: stats(hop1),
      hop_intermediate_to_edge_ms: stats(hop2),
      hop_intermediate_to_edge_keyframe_ms: stats(hop2Key),
    };
  });
}

async function fanout(): Promise<Record<string, unknown>> {
  return withTree({ edges: ['a', 'b'] }, async (tree) => {
    const publisher = await tree.connect(tree.ingress);
    const result: Record<string, unknown> = {};
    const brokers = [tree.ingress, tree.intermediate, ...Object.values(tree.edges)];
    for (const viewersPerEdge of [0.5, 20]) {
      const viewers = viewersPerEdge < 1 ? [tree.edges.a as TreeBroker] : Object.values(tree.edges).flatMap((e) => Array<TreeBroker>(viewersPerEdge).fill(e));
      const taps = await Promise.all(viewers.map((e) => tap(tree, e, 'publisher')));
      const before = await Promise.all(brokers.map((b) => readBytesSent(tree, b)));
      const count = Math.min(SECONDS, 5) * RATE;
      await stream(publisher, count);
      await waitFor(() => taps.every((t) => t.times.size >= count), { timeoutMs: 10_000 }).catch(() => undefined);
      const after = await Promise.all(brokers.map((b) => readBytesSent(tree, b)));
      const published = Array.from({ length: count }, (_, s) => payload(s).length).reduce((a, b) => a + b, 0);
      result[`viewers_${viewers.length}`] = {
        published_payload_bytes: published,
        bytes_sent: Object.fromEntries(brokers.map((b, i) => [b.name, (after[i] ?? 0) - (before[i] ?? 0)])),
        lost: taps.reduce((n, t) => n + (count - t.times.size), 0),
      };
      await Promise.all(taps.map((t) => t.client.endAsync()));
    }
    return result;
  });
}

async function reconnect(label: string, line: string | undefined): Promise<Record<string, unknown>> {
  const rewrite = (_file: string, text: string): string =>
    text.replace(/^restart_timeout .*$\n/m, line === undefined ? '' : `restart_timeout ${line}\n`);
  return withTree({ edges: ['a', 'b'], rewrite, connectTimeoutMs: 60_000 }, async (tree) => {
    const ms: number[] = [];
    for (let i = 0; i < 3; i++) {
      await tree.intermediate.stop();
      await tree.intermediate.broker.start(); // resolves when the listener accepts connections
      const t0 = performance.now();
      await tree.waitConnected();
      ms.push(Math.round(performance.now() - t0));
    }
    return { restart_timeout: label, edges_back_ms: ms };
  });
}

const results: Record<string, unknown> = {
  machine: { node: process.version, when: new Date().toISOString() },
  mosquitto: '2.0.11',
  latency: [await latency('mqttv50'), await latency('mqttv311')],
  fanout: await fanout(),
  reconnect: [await reconnect('1 1 (shipped)', '1 1'), await reconnect('1', '1'), await reconnect('default (5 30)', undefined)],
};
const out = process.env.MEASURE_OUT ?? join(BRIDGES_DIR, 'measurements.json');
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(results, null, 2)}\nwritten to ${out}\n`);
