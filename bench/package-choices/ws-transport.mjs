/* global performance, setImmediate */
// 300 messages of 100 KB published over TCP, received by an MQTT.js client over WebSocket
// through Aedes; 5 interleaved rounds per transport; prints median throughput and latency.
import http from 'node:http';
import net from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { WebSocketServer, createWebSocketStream } from 'ws';
import websocketStream from 'websocket-stream';

const N = 300, SIZE = 100 * 1024;
async function run(kind) {
  const aedes = await Aedes.createBroker();
  const tcp = net.createServer(aedes.handle); await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
  const server = http.createServer(); await new Promise((r) => server.listen(0, '127.0.0.1', r));
  if (kind === 'websocket-stream') websocketStream.createServer({ server }, aedes.handle);
  else { const wss = new WebSocketServer({ server }); wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req)); }
  const sub = await mqtt.connectAsync(`ws://127.0.0.1:${server.address().port}`, { protocolVersion: 4 });
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${tcp.address().port}`, { protocolVersion: 4 });
  await sub.subscribeAsync('t');
  const payload = Buffer.alloc(SIZE, 7);
  let got = 0; const lat = [];
  const done = new Promise((r) => sub.on('message', (_t, p) => { lat.push(performance.now() - p.readDoubleBE(0)); if (++got === N) r(); }));
  const t0 = performance.now();
  for (let i = 0; i < N; i++) { payload.writeDoubleBE(performance.now(), 0); pub.publish('t', Buffer.from(payload)); if (i % 20 === 0) await new Promise((r) => setImmediate(r)); }
  await done;
  const ms = performance.now() - t0;
  lat.sort((a, b) => a - b);
  await sub.endAsync(true); await pub.endAsync(true); server.closeAllConnections(); server.close(); tcp.close(); await new Promise((r) => aedes.close(r));
  return { mbps: (N * SIZE * 8) / (ms / 1000) / 1e6, p50: lat[Math.floor(N / 2)], p95: lat[Math.floor(N * 0.95)] };
}
const res = { 'websocket-stream': [], 'ws8': [] };
for (let r = 0; r < 5; r++) for (const k of Object.keys(res)) res[k].push(await run(k));
for (const [k, v] of Object.entries(res)) {
  const med = (f) => v.map(f).sort((a, b) => a - b)[2];
  console.log(k, 'median Mb/s', med((x) => x.mbps).toFixed(0), 'p50 ms', med((x) => x.p50).toFixed(1), 'p95 ms', med((x) => x.p95).toFixed(1));
}
console.log('rss', process.memoryUsage().rss >> 20, 'MB');
