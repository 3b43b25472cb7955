/**
 * Baseline (b), "bare WebSocket": the same fMP4-sized messages pushed over a
 * plain `ws` 8 WebSocket from a server to a client on 127.0.0.1 — no broker,
 * no MQTT framing. The floor for the MQTT path.
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { MessagePath } from '../path-measure.js';

export async function openBareWebSocketPath(): Promise<MessagePath> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const { port } = wss.address() as AddressInfo;
  const serverSide = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  let handler: (data: Buffer) => void = () => undefined;
  client.on('message', (data, isBinary) => {
    if (isBinary && Buffer.isBuffer(data)) handler(data);
  });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const server = await serverSide;
  return {
    send: (data) => server.send(data, { binary: true }),
    onMessage: (h) => {
      handler = h;
    },
    close: async () => {
      client.terminate();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
