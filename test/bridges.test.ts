/**
 * The channel CDN of deploy/bridges/ on real Mosquittos: ingress ◀══ intermediate ◀══ edges
 * a and b, started from the shipped configs by test/helpers/bridge-tree.ts (ports, paths,
 * names and passwords rewritten, nothing else). What the README promises, checked:
 * retained binary init with its retain flag for late subscribers at every edge; QoS 0
 * fragments of realistic sizes complete and in order; requests stay local to their edge;
 * an intermediate crash heals, with the newest init; ingress bytes flat in the number of
 * edge viewers ($SYS); a bridge with a wrong password stays out; a real `mqttcast publish`
 * at the ingress is a playable channel at an edge, and its end is seen there.
 *
 * "Nothing arrived" is made deterministic by ordering (a later message on the same path
 * has arrived) or by a broker event (a fresh $SYS publication, a refusal in the log).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBytesSent, readSysValue, startBridgeTree, type BridgeTree, type TreeBroker } from './helpers/bridge-tree.js';
import { stopChild } from './helpers/child.js';
import { ffprobeStreams } from './helpers/ffprobe.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';

const BIN = resolve(fileURLToPath(new URL('..', import.meta.url)), 'bin', 'mqttcast.js');

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  contentType: string | undefined;
}

function record(client: MqttClient): Received[] {
  const got: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    got.push({ topic, payload, retain: packet.retain, contentType: packet.properties?.contentType });
  });
  return got;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic fragment sizes: a 200-300 KB keyframe fragment every 25, 1-30 KB in between. */
function fragmentSizes(count: number): number[] {
  let x = 12345;
  const next = (): number => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
  return Array.from({ length: count }, (_, i) => (i % 25 === 0 ? 200_000 + Math.floor(next() * 100_000) : 1_000 + Math.floor(next() * 29_000)));
}

function fragment(seq: number, size: number): Buffer {
  const b = randomBytes(size);
  b.writeUInt32BE(seq, 0);
  return b;
}

describe('Mosquitto bridge tree from deploy/bridges/', () => {
  let tree: BridgeTree;
  let edgeA: TreeBroker;
  let edgeB: TreeBroker;
  let publisher: MqttClient;

  beforeAll(async () => {
    tree = await startBridgeTree({ edges: ['a', 'b'] });
    edgeA = tree.edges.a as TreeBroker;
    edgeB = tree.edges.b as TreeBroker;
    publisher = await tree.connect(tree.ingress);
  });

  afterAll(async () => {
    await tree?.close();
  });

  /** Subscribes a fresh client of `broker` and returns what it receives. */
  async function listen(broker: TreeBroker, filter: string | string[], user: 'publisher' | 'monitor' = 'publisher', version: 4 | 5 = 5): Promise<Received[]> {
    const client = await tree.connect(broker, user, { protocolVersion: version });
    const got = record(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return got;
  }

  it('carries a 200 KB retained binary init to a late subscriber at every edge, retain flag and MQTT 5 properties intact', async () => {
    const init = randomBytes(200 * 1024);
    const early = await Promise.all([listen(edgeA, 'video/live/cam1/init'), listen(edgeB, 'video/live/cam1/init')]);
    await publisher.publishAsync('video/live/cam1/init', init, { qos: 1, retain: true, properties: { contentType: 'video/mp4' } });
    // Once the live copy reached an edge, that edge has stored it as retained (or never will).
    for (const got of early) await waitFor(() => got.length === 1, { message: 'init reaching the edge live' });

    for (const edge of [edgeA, edgeB]) {
      for (const version of [5, 4] as const) {
        const late = await listen(edge, 'video/live/cam1/init', 'publisher', version);
        await waitFor(() => late.length === 1, { message: `late MQTT ${version} subscriber at ${edge.name}` });
        const [msg] = late as [Received];
        expect(msg.retain).toBe(true);
        expect(sha(msg.payload)).toBe(sha(init));
        if (version === 5) expect(msg.contentType).toBe('video/mp4');
      }
    }
  });

  it('delivers a QoS 0 stream of 1 KB - 300 KB fragments complete and in order at both edges', async () => {
    const sizes = fragmentSizes(150);
    const sent = sizes.map((size, seq) => fragment(seq, size));
    const at = await Promise.all([listen(edgeA, 'video/live/cam1/data'), listen(edgeB, 'video/live/cam1/data')]);
    for (const payload of sent) await publisher.publishAsync('video/live/cam1/data', payload, { qos: 0 });

    for (const got of at) {
      await waitFor(() => got.length >= sent.length, { timeoutMs: 30_000, message: `${sent.length} fragments at an edge` });
      expect(got.map((m) => m.payload.readUInt32BE(0))).toEqual(sent.map((_, seq) => seq));
      expect(got.map((m) => sha(m.payload))).toEqual(sent.map(sha));
      expect(got.every((m) => !m.retain)).toBe(true);
    }
    expect(Math.max(...sizes)).toBeGreaterThan(250_000);
  });

  it('keeps requests, sessions and replies local to the edge where they were published', async () => {
    const local = await listen(edgeA, '#');
    const ingressAll = await listen(tree.ingress, '#', 'monitor');
    const intermediateAll = await listen(tree.intermediate, '#', 'monitor');
    const otherEdgeAll = await listen(edgeB, '#');
    const viewer = await tree.connect(edgeA);
    const request = (kind: string): string => JSON.stringify({ source: 'live/cam1', reply_topic: 'reply/abc', kind });
    const localTopics = ['video/describe', 'video/play', 'video/stop', 'video/ack', 'video/req/alice/play', 'reply/abc', 'video/session/alice/r1'];
    for (const topic of localTopics) await viewer.publishAsync(topic, topic.startsWith('reply') ? randomBytes(5000) : request(topic), { qos: 1 });
    // Positive control: the edge itself routed every one of them.
    await waitFor(() => localTopics.every((t) => local.some((m) => m.topic === t)), { message: 'requests at edge a' });

    // Settle on broker events: a channel message published afterwards at the ingress has crossed
    // the whole tree, and the intermediate and the ingress have each published $SYS since.
    await publisher.publishAsync('video/live/cam1/meta', JSON.stringify({ state: 'live' }), { qos: 1, retain: true });
    for (const got of [ingressAll, intermediateAll, otherEdgeAll, local]) {
      await waitFor(() => got.some((m) => m.topic === 'video/live/cam1/meta'), { message: 'meta everywhere' });
    }
    await Promise.all([readSysValue(tree, tree.intermediate, '$SYS/broker/uptime'), readSysValue(tree, tree.ingress, '$SYS/broker/uptime')]);

    for (const got of [ingressAll, intermediateAll, otherEdgeAll]) {
      expect(got.filter((m) => localTopics.includes(m.topic)).map((m) => m.topic)).toEqual([]);
      expect(got.every((m) => m.topic.startsWith('video/live/'))).toBe(true);
    }
  });

  it('heals after the intermediate crashes: new messages flow again and the newest init is retained at the edges', async () => {
    const before = tree.intermediate.pid;
    await tree.intermediate.stop({ signal: 'SIGKILL' });
    // Published while the intermediate is down: only the ingress has it.
    const initV2 = randomBytes(150 * 1024);
    await publisher.publishAsync('video/live/cam1/init', initV2, { qos: 1, retain: true });
    await tree.intermediate.start(); // resolves once every bridge is up and a probe crossed the tree
    expect(tree.intermediate.pid).not.toBe(before);

    for (const edge of [edgeA, edgeB]) {
      const late = await listen(edge, 'video/live/cam1/init');
      await waitFor(() => late.length === 1, { message: `retained init at ${edge.name}` });
      expect(late[0]?.retain).toBe(true);
      expect(sha(late[0]?.payload ?? Buffer.alloc(0))).toBe(sha(initV2));
    }
    const at = await Promise.all([listen(edgeA, 'video/live/cam1/data'), listen(edgeB, 'video/live/cam1/data')]);
    const sent = [0, 1, 2, 3, 4].map((seq) => fragment(seq, seq === 0 ? 220_000 : 8_000));
    for (const payload of sent) await publisher.publishAsync('video/live/cam1/data', payload, { qos: 0 });
    for (const got of at) {
      await waitFor(() => got.length >= sent.length, { message: 'fragments after the restart' });
      expect(got.map((m) => sha(m.payload))).toEqual(sent.map(sha));
    }
  });

  it("keeps the ingress's bytes sent flat (within 1.3x) when edge subscribers go from 1 to 20", async () => {
    const workload = Array.from({ length: 40 }, (_, seq) => fragment(seq, 50_000));
    const workloadBytes = workload.reduce((n, b) => n + b.length, 0);

    async function phase(subscribers: TreeBroker[]): Promise<{ ingress: number; intermediate: number; edges: number }> {
      const topic = `video/live/fanout-${subscribers.length}/data`;
      const receivers = await Promise.all(subscribers.map((edge) => listen(edge, topic)));
      const read = async (): Promise<number[]> =>
        Promise.all([tree.ingress, tree.intermediate, edgeA, edgeB].map((b) => readBytesSent(tree, b)));
      const [i0, m0, a0, b0] = (await read()) as [number, number, number, number];
      for (const payload of workload) await publisher.publishAsync(topic, payload, { qos: 0 });
      for (const got of receivers) await waitFor(() => got.length >= workload.length, { message: `fan-out to ${subscribers.length}` });
      const [i1, m1, a1, b1] = (await read()) as [number, number, number, number];
      return { ingress: i1 - i0, intermediate: m1 - m0, edges: a1 - a0 + (b1 - b0) };
    }

    const one = await phase([edgeA]);
    const twenty = await phase([...Array<TreeBroker>(10).fill(edgeA), ...Array<TreeBroker>(10).fill(edgeB)]);
    // The subscribers were real: the edges sent ~20x as much...
    expect(one.edges).toBeGreaterThanOrEqual(workloadBytes);
    expect(twenty.edges).toBeGreaterThanOrEqual(20 * workloadBytes);
    // ...while the ingress sent one copy (to the intermediate) and the intermediate one per edge.
    expect(one.ingress).toBeGreaterThanOrEqual(workloadBytes);
    expect(twenty.ingress).toBeLessThanOrEqual(1.3 * one.ingress);
    expect(twenty.intermediate).toBeLessThanOrEqual(1.3 * one.intermediate);
  });

  it('carries a real `mqttcast publish` channel: playable fMP4 at an edge, then offline with its init cleared', async () => {
    const { username, password } = tree.users.publisher;
    const child = spawn(process.execPath, [BIN, 'publish', 'demo', '--name', 'demo1', '--broker', tree.ingress.url, '-u', username, '-P', password, '--video-size', '320x240', '--framerate', '15', '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const dir = await mkdtemp(join(tmpdir(), 'mqttcast-bridges-'));
    try {
      const meta = await listen(edgeB, 'video/live/demo1/meta');
      await waitFor(() => meta.some((m) => m.payload.toString('utf8').includes('"live"')), { timeoutMs: 30_000, message: `meta live at edge-b (${stderr})` });
      // A raw tap at the edge: retained init, then fragments.
      const tapped = await listen(edgeB, ['video/live/demo1/init', 'video/live/demo1/data']);
      await waitFor(() => tapped.filter((m) => m.topic.endsWith('/data')).length >= 20, { timeoutMs: 30_000, message: 'fragments at edge-b' });
      const init = tapped.find((m) => m.topic.endsWith('/init'));
      expect(init?.retain).toBe(true);
      const file = join(dir, 'edge-b.mp4');
      await writeFile(file, Buffer.concat([init?.payload ?? Buffer.alloc(0), ...tapped.filter((m) => m.topic.endsWith('/data')).map((m) => m.payload)]));
      const streams = await ffprobeStreams(file);
      expect(streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    } finally {
      await stopChild(child, { signal: 'SIGTERM', graceMs: 5000 });
      await rm(dir, { recursive: true, force: true });
    }
    expect(mediaProcesses()).toEqual([]);
    // The end crosses the tree too: meta "offline" and no init left for a late subscriber.
    const late = await listen(edgeA, ['video/live/demo1/meta', 'video/live/demo1/init', '$SYS/broker/uptime']);
    await waitFor(() => late.some((m) => m.topic === 'video/live/demo1/meta' && m.payload.toString('utf8').includes('"offline"')), { message: 'meta offline at edge-a' });
    await waitFor(() => late.some((m) => m.topic === '$SYS/broker/uptime' && !m.retain), { message: 'a fresh $SYS tick at edge-a' });
    expect(late.filter((m) => m.topic === 'video/live/demo1/init' && m.payload.length > 0)).toEqual([]);
  });

  it('refuses a bridge with a wrong password while a correct one joins', async () => {
    const rogue = await tree.addEdge('c', { remotePassword: 'not-the-password', waitConnected: false });
    await waitFor(() => rogue.stderr().includes('Connection Refused: Not authorized'), { message: 'the intermediate refusing edge-c' });
    const good = await tree.addEdge('d'); // waits until edge-d carries a probe from the ingress

    const atGood = await listen(good, 'video/live/cam1/meta');
    const atRogue = await listen(rogue, ['video/live/#', '$SYS/broker/connection/+/state', '$SYS/broker/uptime']);
    await waitFor(() => atGood.length === 1, { message: 'retained meta at edge-d' });
    await waitFor(() => atRogue.some((m) => m.topic === '$SYS/broker/uptime' && !m.retain), { message: 'a fresh $SYS tick at edge-c' });
    expect(atRogue.filter((m) => m.topic.startsWith('video/live/'))).toEqual([]);
    expect(atRogue.filter((m) => m.topic === '$SYS/broker/connection/edge-c/state' && m.payload.toString() === '1')).toEqual([]);

    const parentView = await listen(tree.intermediate, ['$SYS/broker/connection/+/state', '$SYS/broker/uptime'], 'monitor');
    await waitFor(() => parentView.some((m) => m.topic === '$SYS/broker/uptime' && !m.retain), { message: 'a fresh $SYS tick at the intermediate' });
    expect(parentView.find((m) => m.topic.includes('/edge-d/'))?.payload.toString()).toBe('1');
    expect(parentView.filter((m) => m.topic.includes('/edge-c/') && m.payload.toString() === '1')).toEqual([]);
  });
});
