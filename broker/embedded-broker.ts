/**
 * The embedded MQTT broker: Aedes 2 (MQTT 3.1.1 and 5) behind a TCP listener
 * and an MQTT-over-WebSocket endpoint that the HTTP server mounts at `/mqtt`.
 * MQTT 5 clients get reason codes where 3.1.1 has none: CONNACK 0x85/0x86/0x87,
 * SUBACK 0x87, PUBACK 0x87 (the connection stays up), DISCONNECT 0x95 for a
 * packet over `maxPacketBytes`, SUBACK 0x9E for `$share/` (Aedes has no shared
 * subscriptions).
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions } from 'aedes';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { topicMatches } from '../protocol/index.js';
import { guardPacketSize, packetWireSize } from './packet-size-guard.js';
import { listen, closeServer } from './listen.js';

/** How long Aedes has to refuse an oversized packet before the guard cuts the connection itself. */
const PACKET_TOO_LARGE_GRACE_MS = 2000;

export interface EmbeddedBrokerOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Largest MQTT packet a client may send, in bytes. */
  maxPacketBytes: number;
  logger: Logger;
  /** Aedes hooks (authenticate, authorizePublish, authorizeSubscribe, ...). */
  hooks?: Partial<Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;
  /** Disconnect a subscriber whose socket does not drain for this long, so it cannot stall others. */
  drainTimeoutMs?: number;
}

/** The Aedes options of the embedded broker, without hooks (the bench gives Aedes 1.2 the same ones). */
export function aedesOptions(options: Pick<EmbeddedBrokerOptions, 'maxPacketBytes' | 'drainTimeoutMs'>): AedesOptions {
  return {
    drainTimeout: options.drainTimeoutMs ?? 10_000,
    // Messages in flight at once. A subscriber whose socket is full holds its slots until it
    // drains or drainTimeout drops it; a large pool keeps the other subscribers flowing meanwhile.
    concurrency: 1000,
    maxClientsIdLength: 128,
    heartbeatInterval: 60_000,
    // The same limit as the packet guard, counted on the wire (MQTT 5's Maximum Packet Size):
    // Aedes refuses the packet with DISCONNECT 0x95 for an MQTT 5 client, drops a 3.1.1 client.
    maximumPacketSize: packetWireSize(options.maxPacketBytes),
  };
}

/** Wraps a client connection in the packet guard the way the embedded broker does, for Aedes to handle. */
export function guardConnection(conn: Duplex, maxPacketBytes: number): Duplex {
  // The guard hands the oversized header to Aedes (which answers it) and bounds what is buffered meanwhile.
  return guardPacketSize(conn, maxPacketBytes, { handOverMs: PACKET_TOO_LARGE_GRACE_MS });
}

export class EmbeddedBroker {
  readonly aedes: Aedes;
  private readonly tcp: net.Server;
  private readonly wss: WebSocketServer;
  private readonly log: Logger;
  private closed = false;
  /** Each connected client's subscription filters, to answer "is anyone listening on this topic?". */
  private readonly filters = new Map<string, Set<string>>();

  private constructor(aedes: Aedes, private readonly options: EmbeddedBrokerOptions) {
    this.aedes = aedes;
    this.log = options.logger;
    // Small requests and acks must not wait for Nagle's algorithm (measured: ~40 ms per round trip without).
    this.tcp = net.createServer({ noDelay: true }, (socket) => this.handle(socket));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPacketBytes + 8 });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      const stream = createWebSocketStream(ws);
      this.handle(stream, req);
    });
    aedes.on('subscribe', (subs, client) => {
      const set = this.filters.get(client.id) ?? new Set<string>();
      // Refused filters are in the event too, with their failure code (0x80, 0x87, 0x9E) as qos.
      for (const sub of subs) if (sub.qos < 0x80) set.add(sub.topic);
      this.filters.set(client.id, set);
    });
    aedes.on('unsubscribe', (topics, client) => {
      for (const t of topics) this.filters.get(client.id)?.delete(t);
    });
    aedes.on('clientDisconnect', (client) => this.filters.delete(client.id));
    aedes.on('clientError', (client, err) => this.log.debug({ client: client.id, err }, 'client error'));
    aedes.on('connectionError', (client, err) => this.log.debug({ client: client?.id, err }, 'connection error'));
  }

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker({ ...aedesOptions(options), ...options.hooks });
    const broker = new EmbeddedBroker(aedes, options);
    try {
      await listen(broker.tcp, options.port, options.host, 'MQTT', 'MQTTCAST_MQTT_PORT');
    } catch (err) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw err;
    }
    return broker;
  }

  /** The bound TCP port (useful when started on port 0). */
  get port(): number {
    return (this.tcp.address() as net.AddressInfo).port;
  }

  get url(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `mqtt://${host}:${this.port}`;
  }

  /** Whether any connected client subscribes to a filter matching `topic`. */
  hasSubscriber(topic: string): boolean {
    for (const set of this.filters.values()) for (const filter of set) if (topicMatches(filter, topic)) return true;
    return false;
  }

  /** Hands an HTTP upgrade request for `/mqtt` to the broker. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private handle(conn: Duplex, req?: IncomingMessage): void {
    if (this.closed) {
      conn.destroy();
      return;
    }
    const guarded = guardConnection(conn, this.options.maxPacketBytes);
    guarded.on('error', (err) => this.log.debug({ err }, 'connection closed by packet guard or socket error'));
    this.aedes.handle(guarded, req);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await Promise.all([
      closeServer(this.tcp),
      new Promise<void>((resolve) => this.aedes.close(() => resolve())),
    ]);
  }
}
