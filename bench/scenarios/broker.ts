/**
 * Scenario 4: the broker path. Per-message latency and throughput of
 * fMP4-sized messages (2 Mb/s = 50 kB and 8 Mb/s = 200 kB, 5 a second) from
 * one MQTT client to another through embedded Aedes (TCP; WebSocket through
 * ws 8 createWebSocketStream, as browsers reach it), Mosquitto over TCP, and
 * Mosquitto's own websockets listener (slow, so few messages and a time box);
 * and the bare-WebSocket floor (baseline b). Throughput is a burst of back-to-
 * back messages, except for Mosquitto's websockets (from the paced run).
 * Then Aedes 2.0.0-beta.1 (embedded) against Aedes 1.2.0 side by side
 * (../aedes-versions/: the only modules that import aedes-v1).
 */
import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import pino from 'pino';
import { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { WsGateway } from '../../broker/ws-gateway.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { compareAedesVersions } from '../aedes-versions/compare.js';
import { openBareWebSocketPath } from '../baselines/bare-websocket.js';
import type { Scenario, ScenarioContext } from '../context.js';
import { measurePath, type MessagePath } from '../path-measure.js';
import { setNoDelay } from '../viewer.js';

const TOPIC = 'bench/path';
const STREAMS = [
  { name: '2 Mb/s', size: 50_000 },
  { name: '8 Mb/s', size: 200_000 },
];

async function mqttPath(pubUrl: string, subUrl: string): Promise<MessagePath> {
  const opts = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 10_000 };
  const [pub, sub] = await Promise.all([mqtt.connectAsync(pubUrl, opts), mqtt.connectAsync(subUrl, opts)]);
  setNoDelay(pub);
  setNoDelay(sub);
  let handler: (data: Buffer) => void = () => undefined;
  sub.on('message', (_topic, payload) => handler(payload));
  await sub.subscribeAsync(TOPIC, { qos: 0 });
  return {
    send: (data) => void pub.publish(TOPIC, data, { qos: 0 }),
    onMessage: (h) => {
      handler = h;
    },
    close: async () => {
      await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
    },
  };
}

/** Embedded Aedes with its TCP listener and an HTTP server that hands `/mqtt` upgrades to it. */
async function startAedes(): Promise<{ tcpUrl: string; wsUrl: string; close(): Promise<void> }> {
  const broker = await EmbeddedBroker.start({ host: '127.0.0.1', port: 0, maxPacketBytes: 16 * 2 ** 20, logger: pino({ level: 'silent' }) });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => broker.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    tcpUrl: broker.url,
    wsUrl: `ws://127.0.0.1:${port}/mqtt`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await broker.close();
    },
  };
}

/** mqttcast's WebSocket → TCP gateway in front of a broker's TCP listener (how browsers reach Mosquitto). */
async function startGateway(brokerPort: number): Promise<{ wsUrl: string; close(): Promise<void> }> {
  const gateway = new WsGateway({ brokerHost: '127.0.0.1', brokerPort, maxPacketBytes: 16 * 2 ** 20, log: pino({ level: 'silent' }) });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    wsUrl: `ws://127.0.0.1:${port}/mqtt`,
    close: async () => {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Variant {
  name: string;
  open: () => Promise<MessagePath>;
  /** Slow path: few paced messages, no burst. */
  slow?: boolean;
}

async function runVariant(ctx: ScenarioContext, v: Variant): Promise<void> {
  for (const stream of STREAMS) {
    if (v.slow && ctx.quick && stream.size > 100_000) {
      ctx.rec.note('broker', `${v.name} ${stream.name}: not run in quick mode (about 5 s a message)`);
      continue;
    }
    const paced = v.slow ? (ctx.quick ? 2 : stream.size > 100_000 ? 3 : 5) : ctx.quick ? 5 : 50;
    const box = v.slow ? (ctx.quick ? 8000 : 25_000) : 30_000;
    const path = ctx.cleanup.add(`${v.name} path`, await v.open());
    const res = await measurePath(path, stream.size, paced, 5, box);
    await ctx.cleanup.close(path);
    const lost = res.sent - res.received;
    const note = res.timedOut ? `time box ${box / 1000} s: ${res.received}/${res.sent} messages arrived` : lost > 0 ? `${lost} lost` : undefined;
    ctx.rec.metric('broker', `${v.name} ${stream.name}: latency (5 msg/s)`, 'ms', res.latencyMs, note);
    if (v.slow) {
      ctx.rec.metric('broker', `${v.name} ${stream.name}: throughput (paced)`, 'MB/s', res.mbPerS === undefined ? [] : [res.mbPerS]);
      continue;
    }
    // Throughput: several bursts of back-to-back messages (4 MB each), one sample per burst.
    const burstCount = ctx.quick ? 10 : Math.round(4_000_000 / stream.size);
    const rates: number[] = [];
    let lostInBursts = 0;
    for (let i = 0; i < (ctx.quick ? 2 : 5); i++) {
      const burstPath = ctx.cleanup.add(`${v.name} path`, await v.open());
      const burst = await measurePath(burstPath, stream.size, burstCount, Infinity, 30_000);
      await ctx.cleanup.close(burstPath);
      if (burst.mbPerS !== undefined) rates.push(burst.mbPerS);
      lostInBursts += burst.sent - burst.received;
    }
    const burstNote = lostInBursts > 0 ? `${lostInBursts} messages did not arrive` : undefined;
    ctx.rec.metric('broker', `${v.name} ${stream.name}: throughput (bursts of ${burstCount})`, 'MB/s', rates, burstNote);
  }
}

function websocketStreamInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('websocket-stream');
    return true;
  } catch {
    return false;
  }
}

export const brokerScenario: Scenario = {
  name: 'broker',
  description: 'fMP4-sized messages through Aedes, Mosquitto (TCP, websockets) and a bare WebSocket',
  async run(ctx) {
    const aedes = ctx.cleanup.add('aedes', await startAedes());
    const variants: Variant[] = [
      { name: 'bare WebSocket (no broker)', open: openBareWebSocketPath },
      { name: 'Aedes TCP', open: () => mqttPath(aedes.tcpUrl, aedes.tcpUrl) },
      { name: 'Aedes WS (ws 8 stream)', open: () => mqttPath(aedes.tcpUrl, aedes.wsUrl) },
    ];
    try {
      const mosq = ctx.cleanup.add('mosquitto', await startMosquitto({ websocketsPort: true }));
      const gateway = ctx.cleanup.add('gateway', await startGateway(mosq.port));
      variants.push(
        { name: 'Mosquitto TCP', open: () => mqttPath(mosq.url, mosq.url) },
        { name: 'Mosquitto via mqttcast gateway (WS)', open: () => mqttPath(mosq.url, gateway.wsUrl) },
        { name: 'Mosquitto WS listener', open: () => mqttPath(mosq.url, `${mosq.wsUrl!}/mqtt`), slow: true },
      );
    } catch (err) {
      ctx.rec.note('broker', `Mosquitto not measured: ${(err as Error).message.split('\n')[0]}`);
    }
    for (const v of variants) {
      ctx.log(`broker: ${v.name}`);
      await runVariant(ctx, v);
    }
    const r = ctx.rec;
    for (const s of STREAMS) {
      const lat = (name: string): number | undefined => r.median('broker', `${name} ${s.name}: latency (5 msg/s)`);
      r.ratio(`MQTT Aedes TCP / bare WebSocket latency, ${s.name}`, lat('Aedes TCP'), lat('bare WebSocket (no broker)'), 'ms');
      r.ratio(`MQTT Aedes WS / bare WebSocket latency, ${s.name}`, lat('Aedes WS (ws 8 stream)'), lat('bare WebSocket (no broker)'), 'ms');
      r.ratio(`Mosquitto TCP / Aedes TCP latency, ${s.name}`, lat('Mosquitto TCP'), lat('Aedes TCP'), 'ms');
      r.ratio(`Mosquitto WS listener / Aedes WS latency, ${s.name}`, lat('Mosquitto WS listener'), lat('Aedes WS (ws 8 stream)'), 'ms');
      r.ratio(`Mosquitto WS listener / mqttcast gateway latency, ${s.name}`, lat('Mosquitto WS listener'), lat('Mosquitto via mqttcast gateway (WS)'), 'ms');
    }
    const tp = (name: string): number | undefined => r.metrics.find((m) => m.scenario === 'broker' && m.variant.startsWith(`${name} 8 Mb/s: throughput (bursts`))?.summary?.median;
    r.ratio('bare WebSocket / Aedes TCP throughput, 200 kB messages', tp('bare WebSocket (no broker)'), tp('Aedes TCP'), 'MB/s');
    r.ratio('bare WebSocket / Aedes WS throughput, 200 kB messages', tp('bare WebSocket (no broker)'), tp('Aedes WS (ws 8 stream)'), 'MB/s');
    r.ratio('mqttcast gateway / Mosquitto WS listener throughput, 8 Mb/s', tp('Mosquitto via mqttcast gateway (WS)'), r.median('broker', 'Mosquitto WS listener 8 Mb/s: throughput (paced)'), 'MB/s');
    await compareAedesVersions(ctx);
    if (!websocketStreamInstalled()) {
      r.note('broker', 'ws 8 createWebSocketStream vs websocket-stream as the Aedes WebSocket transport: websocket-stream not measured (package not installed); the ws 8 figures are the "Aedes WS" rows');
    }
  },
};
