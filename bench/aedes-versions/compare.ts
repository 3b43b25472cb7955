/**
 * Aedes 2.0.0-beta.1 (what mqttcast embeds) against Aedes 1.2.0 (what it
 * embedded before), the same measurements in one run: latency (p50, p95) of a
 * small message and of a 100 kB binary fragment, throughput of bursts of each,
 * and the broker's CPU while it fans 100 kB fragments out to N subscribers.
 * Each broker runs in its own process with the embedded broker's options and
 * connection path (broker-child.ts); clients are MQTT.js 3.1.1 for both, plus
 * MQTT 5 clients on Aedes 2. Targets alternate order from round to round, so
 * drift of this noisy machine spreads over all of them.
 */
import type { ChildProcess } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort } from '../../test/helpers/ports.js';
import type { ScenarioContext } from '../context.js';
import { measurePath, syntheticFragment, type MessagePath } from '../path-measure.js';
import { ProcSampler } from '../proc-sampler.js';
import { startNodeChild, stopTree } from '../server-process.js';
import { setNoDelay } from '../viewer.js';

const SCENARIO = 'broker';
const SMALL = 256;
const FRAGMENT = 100_000;

interface Target {
  name: string;
  broker: 'v1' | 'v2';
  protocolVersion: 4 | 5;
}

const V1: Target = { name: 'Aedes 1.2.0', broker: 'v1', protocolVersion: 4 };
const V2: Target = { name: 'Aedes 2.0.0-beta.1', broker: 'v2', protocolVersion: 4 };
const V2_MQTT5: Target = { name: 'Aedes 2.0.0-beta.1 MQTT 5', broker: 'v2', protocolVersion: 5 };
const TARGETS = [V1, V2, V2_MQTT5];

interface BrokerChild {
  pid: number;
  url: string;
  close(): Promise<void>;
}

async function startBroker(version: 'v1' | 'v2'): Promise<BrokerChild> {
  const port = await freePort();
  const child: ChildProcess & { pid: number; log(): string } = await startNodeChild(
    `Aedes ${version}`,
    ['--import', 'tsx', 'bench/aedes-versions/broker-child.ts', '--aedes', version, '--port', String(port)],
    port,
  );
  return {
    pid: child.pid,
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      const left = await stopTree(child);
      if (left.length > 0) process.stderr.write(`bench: killed leftovers of Aedes ${version}: ${left.join(', ')}\n`);
    },
  };
}

async function connect(url: string, protocolVersion: 4 | 5): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0, connectTimeout: 10_000 });
  setNoDelay(client);
  return client;
}

async function openPath(url: string, protocolVersion: 4 | 5, topic: string): Promise<MessagePath> {
  const [pub, sub] = await Promise.all([connect(url, protocolVersion), connect(url, protocolVersion)]);
  let handler: (data: Buffer) => void = () => undefined;
  sub.on('message', (_topic, payload) => handler(payload));
  await sub.subscribeAsync(topic, { qos: 0 });
  return {
    send: (data) => void pub.publish(topic, data, { qos: 0 }),
    onMessage: (h) => {
      handler = h;
    },
    close: async () => {
      await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
    },
  };
}

/** Samples per target and metric, collected over the rounds. */
class Pool {
  private readonly samples = new Map<string, number[]>();
  private readonly notes = new Map<string, string[]>();

  add(key: string, values: readonly number[], note?: string): void {
    this.samples.set(key, [...(this.samples.get(key) ?? []), ...values]);
    if (note) this.notes.set(key, [...(this.notes.get(key) ?? []), note]);
  }

  record(ctx: ScenarioContext, key: string, unit: string): void {
    ctx.rec.metric(SCENARIO, key, unit, this.samples.get(key) ?? [], this.notes.get(key)?.join('; '));
  }
}

interface Plan {
  rounds: number;
  smallLatency: number;
  fragmentLatency: number;
  smallBurst: number;
  fragmentBurst: number;
  bursts: number;
  subscribers: number;
  fanoutS: number;
}

const FULL: Plan = { rounds: 2, smallLatency: 100, fragmentLatency: 60, smallBurst: 2000, fragmentBurst: 40, bursts: 3, subscribers: 50, fanoutS: 8 };
const QUICK: Plan = { rounds: 1, smallLatency: 30, fragmentLatency: 20, smallBurst: 500, fragmentBurst: 20, bursts: 2, subscribers: 10, fanoutS: 3 };

const key = {
  smallLatency: (t: Target) => `${t.name}: ${SMALL} B latency (50 msg/s)`,
  fragmentLatency: (t: Target) => `${t.name}: 100 kB latency (20 msg/s)`,
  smallRate: (t: Target) => `${t.name}: ${SMALL} B throughput (bursts)`,
  fragmentRate: (t: Target) => `${t.name}: 100 kB throughput (bursts)`,
  fanoutCpu: (t: Target, n: number) => `${t.name}: broker CPU, 100 kB at 10/s to ${n} subscribers`,
};

async function latencyAndThroughput(t: Target, url: string, plan: Plan, pool: Pool): Promise<void> {
  const lat = async (size: number, count: number, perSecond: number, k: string): Promise<void> => {
    const path = await openPath(url, t.protocolVersion, 'bench/aedes/latency');
    try {
      const res = await measurePath(path, size, count, perSecond, 30_000);
      pool.add(k, res.latencyMs, res.received < res.sent ? `${res.sent - res.received} lost` : undefined);
    } finally {
      await path.close();
    }
  };
  await lat(SMALL, plan.smallLatency, 50, key.smallLatency(t));
  await lat(FRAGMENT, plan.fragmentLatency, 20, key.fragmentLatency(t));
  const burst = async (size: number, count: number, k: string, perMessage: boolean): Promise<void> => {
    for (let i = 0; i < plan.bursts; i++) {
      const path = await openPath(url, t.protocolVersion, 'bench/aedes/burst');
      try {
        const res = await measurePath(path, size, count, Infinity, 30_000);
        const rate = res.mbPerS === undefined ? [] : [perMessage ? (res.mbPerS * 1e6) / size : res.mbPerS];
        pool.add(k, rate, res.received < res.sent ? `${res.sent - res.received} lost` : undefined);
      } finally {
        await path.close();
      }
    }
  };
  await burst(SMALL, plan.smallBurst, key.smallRate(t), true);
  await burst(FRAGMENT, plan.fragmentBurst, key.fragmentRate(t), false);
}

/**
 * One publisher, `plan.subscribers` subscribers on one topic; the broker process's CPU,
 * one sample per 2 s (CPU time comes in 10 ms ticks: 0.5 % of a core per 2 s sample).
 */
async function fanout(ctx: ScenarioContext, t: Target, broker: BrokerChild, plan: Plan, pool: Pool): Promise<void> {
  const topic = 'bench/aedes/fanout';
  const subs = await Promise.all(Array.from({ length: plan.subscribers }, () => connect(broker.url, t.protocolVersion)));
  const pub = await connect(broker.url, t.protocolVersion);
  try {
    let received = 0;
    for (const s of subs) s.on('message', () => received++);
    await Promise.all(subs.map((s) => s.subscribeAsync(topic, { qos: 0 })));
    const sampler = new ProcSampler(broker.pid, 2000).start();
    let sent = 0;
    const end = performance.now() + plan.fanoutS * 1000;
    while (performance.now() < end) {
      pub.publish(topic, syntheticFragment(FRAGMENT, sent++), { qos: 0 });
      await ctx.sleep(100);
    }
    const window = sampler.stop();
    const expected = sent * subs.length;
    await ctx.sleep(500); // stragglers still on the wire count as delivered
    const note = received < expected ? `${expected - received} of ${expected} deliveries missing at the end` : undefined;
    pool.add(key.fanoutCpu(t, plan.subscribers), window.intervals.map((s) => s.cpuPct), note);
  } finally {
    await Promise.all([...subs, pub].map((c) => c.endAsync(true)));
  }
}

function stat(ctx: ScenarioContext, variant: string, which: 'median' | 'p95'): number | undefined {
  return ctx.rec.metrics.find((m) => m.scenario === SCENARIO && m.variant === variant)?.summary?.[which];
}

function ratios(ctx: ScenarioContext, plan: Plan): void {
  const pairs: Array<[Target, Target, string]> = [
    [V2, V1, 'Aedes 2.0.0-beta.1 / Aedes 1.2.0'],
    [V2_MQTT5, V2, 'Aedes 2 MQTT 5 / Aedes 2 MQTT 3.1.1'],
  ];
  for (const [a, b, label] of pairs) {
    for (const which of ['median', 'p95'] as const) {
      ctx.rec.ratio(`${label}, ${SMALL} B latency ${which === 'median' ? 'p50' : 'p95'}`, stat(ctx, key.smallLatency(a), which), stat(ctx, key.smallLatency(b), which), 'ms');
      ctx.rec.ratio(`${label}, 100 kB latency ${which === 'median' ? 'p50' : 'p95'}`, stat(ctx, key.fragmentLatency(a), which), stat(ctx, key.fragmentLatency(b), which), 'ms');
    }
    ctx.rec.ratio(`${label}, ${SMALL} B throughput`, stat(ctx, key.smallRate(a), 'median'), stat(ctx, key.smallRate(b), 'median'), 'msg/s');
    ctx.rec.ratio(`${label}, 100 kB throughput`, stat(ctx, key.fragmentRate(a), 'median'), stat(ctx, key.fragmentRate(b), 'median'), 'MB/s');
    const cpu = (t: Target): number | undefined => stat(ctx, key.fanoutCpu(t, plan.subscribers), 'median');
    ctx.rec.ratio(`${label}, broker CPU fanning out to ${plan.subscribers}`, cpu(a), cpu(b), '%');
  }
}

/** Adds the Aedes version rows and ratios to the broker scenario. */
export async function compareAedesVersions(ctx: ScenarioContext): Promise<void> {
  const plan = ctx.quick ? QUICK : FULL;
  const brokers = {
    v1: ctx.cleanup.add('Aedes 1.2.0 process', await startBroker('v1')),
    v2: ctx.cleanup.add('Aedes 2.0.0-beta.1 process', await startBroker('v2')),
  };
  const pool = new Pool();
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? TARGETS : [...TARGETS].reverse();
    for (const t of order) {
      ctx.log(`broker: ${t.name}, round ${round + 1} of ${plan.rounds}`);
      await latencyAndThroughput(t, brokers[t.broker].url, plan, pool);
      await fanout(ctx, t, brokers[t.broker], plan, pool);
    }
  }
  for (const t of TARGETS) {
    pool.record(ctx, key.smallLatency(t), 'ms');
    pool.record(ctx, key.fragmentLatency(t), 'ms');
    pool.record(ctx, key.smallRate(t), 'msg/s');
    pool.record(ctx, key.fragmentRate(t), 'MB/s');
    pool.record(ctx, key.fanoutCpu(t, plan.subscribers), '% of a core');
  }
  ratios(ctx, plan);
  await ctx.cleanup.close(brokers.v1);
  await ctx.cleanup.close(brokers.v2);
}
