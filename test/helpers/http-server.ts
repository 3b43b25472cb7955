import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';

export interface RecordedRequest {
  method: string;
  /** Request path including the query string, as sent. */
  path: string;
  /** The Range header, when one was sent. */
  range?: string;
  status: number;
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  root: string;
  /** Every request served so far, in arrival order. */
  requests: RecordedRequest[];
  /** Answer requests for `fromPath` (exact path, without query) with a redirect to `toUrl`. */
  redirect(fromPath: string, toUrl: string, status?: number): void;
  /**
   * Stall `path` (exact, without query): after the first `afterRequests` requests are served
   * normally, each response sends its headers and `afterBytes` bytes, then nothing until close().
   */
  stall(path: string, opts: { afterBytes: number; afterRequests?: number }): void;
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /**
   * Honour `Range` (default true). False behaves like `python3 -m http.server`: no
   * `Accept-Ranges`, every GET answered 200 with the whole file.
   */
  ranges?: boolean;
}

const CONTENT_TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.m4a': 'audio/mp4',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.aac': 'audio/aac',
  '.mp3': 'audio/mpeg',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

export type ParsedRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * Parses a single `bytes=` range against a resource of `size` bytes. Returns undefined
 * when the header is absent, malformed or multi-range (then the full body is served).
 */
export function parseRange(header: string | undefined, size: number): ParsedRange {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // syntactically invalid: ignore it
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  return { start, end: Math.min(end, size - 1) };
}

/** A node:http static file server on 127.0.0.1 (random port), with Range support unless turned off. */
export async function startStaticServer(root: string, options: StaticServerOptions = {}): Promise<StaticServer> {
  const rootReal = await realpath(resolve(root));
  const ranges = options.ranges ?? true;
  const requests: RecordedRequest[] = [];
  const redirects = new Map<string, { to: string; status: number }>();
  const stalls = new Map<string, { afterBytes: number; afterRequests: number; seen: number }>();

  const finish = (req: IncomingMessage, res: ServerResponse, status: number, body?: string): void => {
    record(req, status);
    res.statusCode = status;
    if (body !== undefined) res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const record = (req: IncomingMessage, status: number): void => {
    const entry: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', status };
    const range = req.headers.range;
    if (range !== undefined) entry.range = range;
    requests.push(entry);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const redirect = redirects.get(url.pathname);
    if (redirect) {
      res.setHeader('Location', redirect.to);
      finish(req, res, redirect.status);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      finish(req, res, 405, 'method not allowed\n');
      return;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(url.pathname);
    } catch {
      finish(req, res, 400, 'bad path\n');
      return;
    }
    const candidate = resolve(rootReal, '.' + decoded);
    if (decoded.includes('\0') || (candidate !== rootReal && !candidate.startsWith(rootReal + sep))) {
      finish(req, res, 403, 'forbidden\n');
      return;
    }
    let file: string;
    let size: number;
    try {
      file = await realpath(candidate); // refuse symlinks that point outside root
      if (file !== rootReal && !file.startsWith(rootReal + sep)) {
        finish(req, res, 403, 'forbidden\n');
        return;
      }
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      finish(req, res, 404, 'not found\n');
      return;
    }
    if (ranges) res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Content-Type', CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
    const range = ranges ? parseRange(req.headers.range, size) : undefined;
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${size}`);
      finish(req, res, 416, 'range not satisfiable\n');
      return;
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : size - 1;
    const status = range ? 206 : 200;
    if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    res.setHeader('Content-Length', String(Math.max(end - start + 1, 0)));
    res.statusCode = status;
    record(req, status);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    const stall = stalls.get(url.pathname);
    if (stall && req.method === 'GET' && ++stall.seen > stall.afterRequests) {
      res.flushHeaders();
      const head = createReadStream(file, { start, end: Math.min(end, start + stall.afterBytes - 1) });
      head.on('error', () => res.destroy());
      head.pipe(res, { end: false }); // and then silence, with the connection open
      return;
    }
    const stream = createReadStream(file, { start, end });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) finish(req, res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    root: rootReal,
    requests,
    redirect(fromPath: string, toUrl: string, status = 302): void {
      redirects.set(fromPath, { to: toUrl, status });
    },
    stall(path: string, opts: { afterBytes: number; afterRequests?: number }): void {
      stalls.set(path, { afterBytes: opts.afterBytes, afterRequests: opts.afterRequests ?? 0, seen: 0 });
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
