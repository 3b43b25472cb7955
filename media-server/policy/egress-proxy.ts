/**
 * The HTTP proxy every ffmpeg HTTP(S) request goes through (`-http_proxy`).
 * It applies the allowlist and the address policy to each request ffmpeg
 * makes — the first one, every redirect, every HLS segment and key — and
 * connects to the address it resolved itself, so DNS cannot change between
 * the check and the connection. Listens on 127.0.0.1 only.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { closeServer, listen } from '../../broker/listen.js';
import { MqttcastError, toMqttcastError } from '../../protocol/index.js';

const CHALLENGE = 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="mqttcast"\r\nContent-Length: 0\r\n\r\n';

import { randomBytes } from 'node:crypto';

/** What one ffmpeg may reach: its own source's origin, plus whatever the allowlist allows. */
export interface EgressScope {
  /** Origin of the source URL, e.g. `http://media.example:8080`. */
  origin: string;
  /** The allowlist entry that allowed the source names its IP literal. */
  trustedLiteral: boolean;
}

/** Returns the IP address to connect to for this URL, or throws a coded error. */
export type EgressPolicy = (url: URL, scope: EgressScope) => Promise<string>;

export interface EgressGrant {
  /** Value for ffmpeg's `-http_proxy`, carrying this grant's credentials. */
  proxyUrl: string;
  revoke(): void;
}

const HOP_HEADERS = new Set(['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade']);
const IDLE_TIMEOUT_MS = 30_000;
const MAX_CONNECTIONS = 256;

export interface Refusal {
  url: string;
  reason: string;
}

export class EgressProxy {
  /** The latest refusals (bounded), for diagnostics and tests. */
  readonly refusals: Refusal[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly grants = new Map<string, EgressScope>();

  private constructor(private readonly policy: EgressPolicy, private readonly log: Logger) {
    this.server = http.createServer((req, res) => void this.forward(req, res));
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.tunnel(req, socket, head));
    this.server.on('connection', (s: Socket) => this.track(s));
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  static async start(policy: EgressPolicy, log: Logger): Promise<EgressProxy> {
    const proxy = new EgressProxy(policy, log);
    await listen(proxy.server, 0, '127.0.0.1', 'egress proxy', 'none');
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Lets one ffmpeg use the proxy within `scope`, until revoked. */
  grant(scope: EgressScope): EgressGrant {
    const user = `g${randomBytes(6).toString('hex')}`;
    const secret = randomBytes(18).toString('hex');
    const token = Buffer.from(`${user}:${secret}`).toString('base64');
    this.grants.set(token, scope);
    const port = (this.server.address() as net.AddressInfo).port;
    return { proxyUrl: `http://${user}:${secret}@127.0.0.1:${port}`, revoke: () => this.grants.delete(token) };
  }

  /** The grant a request's credentials name; undefined when it sent none (ffmpeg sends them after a 407). */
  private scopeOf(req: IncomingMessage): EgressScope | undefined {
    const header = req.headers['proxy-authorization'];
    if (header === undefined) return undefined;
    const auth = /^Basic (.+)$/i.exec(header);
    const scope = auth ? this.grants.get(auth[1]!) : undefined;
    if (!scope) throw new MqttcastError('URL_NOT_ALLOWED', 'invalid proxy credentials: only ffmpeg started by this server may use the proxy');
    return scope;
  }

  private track(s: Socket | Duplex): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private refuse(url: string, err: unknown): string {
    const reason = toMqttcastError(err).message;
    this.refusals.push({ url: url.slice(0, 300), reason });
    if (this.refusals.length > 100) this.refusals.shift();
    this.log.warn({ url: url.slice(0, 300), reason }, 'ffmpeg request refused by the egress policy');
    return reason;
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '';
    let url: URL;
    let address: string;
    try {
      url = new URL(raw);
      if (url.protocol !== 'http:') throw new MqttcastError('URL_NOT_ALLOWED', 'only http:// goes through this proxy as a plain request');
      const scope = this.scopeOf(req);
      if (!scope) {
        res.writeHead(407, { 'proxy-authenticate': 'Basic realm="mqttcast"', 'content-length': 0 }).end();
        return;
      }
      address = await this.policy(url, scope);
    } catch (err) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`refused: ${this.refuse(raw, err)}\n`);
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_HEADERS.has(k)));
    const upstream = http.request(
      { host: address, port: url.port || 80, path: url.pathname + url.search, method: req.method, headers, setHost: false, timeout: IDLE_TIMEOUT_MS },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('upstream timed out')));
    upstream.on('error', (err) => {
      this.log.debug({ err, url: raw }, 'proxied request failed');
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }

  private async tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    this.track(client);
    const target = req.url ?? '';
    let address: string;
    let port: number;
    try {
      const url = new URL(`https://${target}/`);
      port = Number(url.port || 443);
      const scope = this.scopeOf(req);
      if (!scope) {
        client.end(CHALLENGE);
        return;
      }
      address = await this.policy(url, scope);
    } catch (err) {
      this.refuse(`https://${target}/`, err);
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = net.connect(port, address, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.track(upstream);
    upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  }

  async close(): Promise<void> {
    this.grants.clear();
    for (const s of this.sockets) s.destroy();
    await closeServer(this.server);
  }
}
