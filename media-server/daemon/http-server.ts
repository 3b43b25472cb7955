/**
 * The HTTP side of `npm start`: the built web client, MQTT over WebSocket at
 * `/mqtt`, `/healthz` and `/metrics`.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { closeServer, listen } from '../../broker/listen.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string> | string;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  /** Built client directory; missing → a short page explaining how to build it. */
  clientDir?: string;
  log: Logger;
  health: () => { ok: boolean; [key: string]: unknown };
  /** `/metrics`: Prometheus text and its content type (a MetricSet from metrics.ts fits). */
  metrics: MetricsSource;
  /** Handles WebSocket upgrades on `/mqtt`. */
  upgradeMqtt?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

export class HttpServer {
  readonly server: http.Server;
  /** Upgraded (WebSocket) sockets: no longer tracked by node:http, so closed here. */
  private readonly upgraded = new Set<Duplex>();

  private constructor(private readonly options: HttpServerOptions) {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/mqtt' && options.upgradeMqtt) options.upgradeMqtt(req, socket, head);
      else socket.destroy();
    });
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const s = new HttpServer(options);
    await listen(s.server, options.port, options.host, 'HTTP', 'MQTTCAST_HTTP_PORT');
    return s;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      // A path that starts with `//` parses as a host name: read it as a path, and refuse what still fails.
      url = new URL(`http://localhost/${(req.url ?? '/').replace(/^\/+/, '')}`);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('bad request path\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/healthz') {
      const health = this.options.health();
      res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(health));
      return;
    }
    if (url.pathname === '/metrics') {
      this.serveMetrics(res);
      return;
    }
    this.serveStatic(url.pathname, res);
  }

  private serveMetrics(res: ServerResponse): void {
    const { metrics, log } = this.options;
    Promise.resolve()
      .then(() => metrics.render())
      .then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (err: unknown) => {
          log.error({ err }, 'metrics collection failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
        },
      );
  }

  private serveStatic(pathname: string, res: ServerResponse): void {
    const root = this.options.clientDir;
    if (!root) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('The web client is disabled on this server.\n');
      return;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, `.${rel}`);
    if (!file.startsWith(path.resolve(root) + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      const missingClient = rel === '/index.html';
      res.writeHead(404, { 'content-type': 'text/plain' }).end(
        missingClient ? 'The web client is not built. Run: npm run build:client\n' : 'Not found\n',
      );
      return;
    }
    const type = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
    const cache = rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    // The embeddable player is imported by pages of other origins (a module script needs CORS); it is one file, no chunks.
    const cors = rel === '/player.js' ? { 'access-control-allow-origin': '*' } : {};
    res.writeHead(200, { 'content-type': type, 'content-length': size, 'cache-control': cache, ...cors });
    createReadStream(file)
      .on('error', (err) => {
        this.options.log.warn({ err, file }, 'static file read failed');
        res.destroy();
      })
      .pipe(res);
  }

  async close(): Promise<void> {
    for (const socket of this.upgraded) socket.destroy();
    await closeServer(this.server);
  }
}
