/**
 * WebSocket → TCP gateway: a browser's MQTT-over-WebSocket connection is piped
 * byte for byte to a broker's plain MQTT TCP listener. It exists for Mosquitto:
 * Mosquitto 2.0.11 with libwebsockets 4.1 (Debian 12) delivers large binary
 * messages over its own websocket listener at ~40 KB/s per subscriber, while its
 * TCP listener is fast. Credentials pass through unchanged; the broker decides.
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { pipeline, type Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { guardPacketSize } from './packet-size-guard.js';

export interface WsGatewayOptions {
  /** The broker's TCP listener. */
  brokerHost: string;
  brokerPort: number;
  /** Largest MQTT packet a browser may send. */
  maxPacketBytes: number;
  maxConnections?: number;
  log: Logger;
}

export class WsGateway {
  private readonly wss: WebSocketServer;
  private readonly pairs = new Set<{ ws: WebSocket; tcp: net.Socket }>();
  private closed = false;

  constructor(private readonly options: WsGatewayOptions) {
    // The 'mqtt' subprotocol is what MQTT.js asks for; browsers need it echoed back.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPacketBytes + 8,
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
    });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.bridge(ws, req));
  }

  get connections(): number {
    return this.pairs.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed || this.pairs.size >= (this.options.maxConnections ?? 10_000)) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private bridge(ws: WebSocket, req: IncomingMessage): void {
    const { brokerHost, brokerPort, log } = this.options;
    const tcp = net.connect({ host: brokerHost, port: brokerPort });
    tcp.setNoDelay(true);
    const pair = { ws, tcp };
    this.pairs.add(pair);
    const browser = guardPacketSize(createWebSocketStream(ws), this.options.maxPacketBytes);
    const done = (err?: Error | null): void => {
      if (!this.pairs.delete(pair)) return;
      if (err && !/premature close|ECONNRESET|EPIPE/i.test(err.message)) {
        log.debug({ err, remote: req.socket.remoteAddress }, 'gateway connection ended with an error');
      }
      tcp.destroy();
      ws.terminate();
    };
    tcp.once('error', (err) => {
      log.warn({ err, broker: `${brokerHost}:${brokerPort}` }, 'gateway cannot reach the broker');
      done(err);
    });
    // Both directions with backpressure: a slow browser slows its own TCP read, nobody else's.
    pipeline(browser, tcp, done);
    pipeline(tcp, browser, done);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const { ws, tcp } of this.pairs) {
      tcp.destroy();
      ws.terminate();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
