/**
 * One RTSP DESCRIBE (RFC 2326 §10.2) to read a camera's SDP: a single request
 * and answer on one connection, in a few milliseconds, where ffprobe needs a
 * process, a full handshake and media (0.5–1 s). Basic and Digest (RFC 2617)
 * credentials from the URL are answered once. Anything unexpected — a
 * redirect, another status, a malformed answer, a timeout — is reported as
 * undefined so the caller asks ffprobe instead; nothing here decides that a
 * source is unavailable.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

const MAX_RESPONSE_BYTES = 64 * 1024;

export interface DescribeOptions {
  timeoutMs: number;
}

interface RtspResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** The SDP of `url`, or undefined when a plain DESCRIBE did not give one. */
export async function describeRtsp(url: string, opts: DescribeOptions): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const secure = parsed.protocol === 'rtsps:';
  if (!secure && parsed.protocol !== 'rtsp:') return undefined;
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  const requestUri = parsed.toString();
  const conn = new RtspConnection(parsed.hostname.replace(/^\[|\]$/g, ''), Number(parsed.port) || (secure ? 322 : 554), secure, opts.timeoutMs);
  try {
    await conn.ready;
    let res = await conn.request('DESCRIBE', requestUri);
    if (res.status === 401 && user) {
      const authorization = answerChallenge(res.headers.get('www-authenticate') ?? '', user, pass, 'DESCRIBE', requestUri);
      if (!authorization) return undefined;
      res = await conn.request('DESCRIBE', requestUri, authorization);
    }
    const type = res.headers.get('content-type') ?? '';
    return res.status === 200 && /application\/sdp/i.test(type) && res.body.includes('m=') ? res.body : undefined;
  } catch {
    return undefined;
  } finally {
    conn.close();
  }
}

/** The Authorization header for a Basic or Digest challenge (MD5, qop auth or none); undefined for others. */
export function answerChallenge(challenge: string, user: string, pass: string, method: string, uri: string, cnonce = randomBytes(8).toString('hex')): string | undefined {
  if (/^basic\b/i.test(challenge)) return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  if (!/^digest\b/i.test(challenge)) return undefined;
  const p = new Map<string, string>();
  for (const m of challenge.slice(6).matchAll(/([a-z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/gi)) p.set(m[1]!.toLowerCase(), m[2] ?? m[3] ?? '');
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  const algorithm = p.get('algorithm') ?? 'MD5';
  if (realm === undefined || nonce === undefined || algorithm.toUpperCase() !== 'MD5') return undefined;
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const ha1 = md5(`${user}:${realm}:${pass}`);
  const ha2 = md5(`${method}:${uri}`);
  const qop = p.get('qop')?.split(',').map((q) => q.trim()).includes('auth') ? 'auth' : undefined;
  const fields = [`username="${user}"`, `realm="${realm}"`, `nonce="${nonce}"`, `uri="${uri}"`];
  if (qop) {
    const nc = '00000001';
    fields.push(`response="${md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`)}"`, `qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  } else {
    fields.push(`response="${md5(`${ha1}:${nonce}:${ha2}`)}"`);
  }
  const opaque = p.get('opaque');
  if (opaque !== undefined) fields.push(`opaque="${opaque}"`);
  return `Digest ${fields.join(', ')}`;
}

/** One TCP (or TLS) connection that sends requests one at a time and reads whole responses. */
class RtspConnection {
  readonly ready: Promise<void>;
  private readonly socket: net.Socket;
  private buffer = Buffer.alloc(0);
  private cseq = 0;
  private waiter?: { resolve: (r: RtspResponse) => void; reject: (e: Error) => void };
  private failure?: Error;
  private readonly timer: NodeJS.Timeout;

  constructor(host: string, port: number, secure: boolean, timeoutMs: number) {
    this.socket = secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once(secure ? 'secureConnect' : 'connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.ready.catch(() => undefined); // observed by describeRtsp
    this.timer = setTimeout(() => this.fail(new Error('RTSP DESCRIBE timed out')), timeoutMs);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('RTSP connection closed')));
  }

  request(method: string, uri: string, authorization?: string): Promise<RtspResponse> {
    if (this.failure) return Promise.reject(this.failure);
    const lines = [`${method} ${uri} RTSP/1.0`, `CSeq: ${++this.cseq}`, 'Accept: application/sdp', 'User-Agent: mqttcast'];
    if (authorization) lines.push(`Authorization: ${authorization}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.buffer.byteLength > MAX_RESPONSE_BYTES) return this.fail(new Error('RTSP response too large'));
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiter) return;
    const [statusLine = '', ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const status = /^RTSP\/1\.\d (\d{3})/.exec(statusLine);
    if (!status) return this.fail(new Error('not an RTSP response'));
    const headers = new Map<string, string>();
    for (const h of headerLines) {
      const i = h.indexOf(':');
      if (i > 0) headers.set(h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim());
    }
    const length = Number(headers.get('content-length') ?? 0);
    if (this.buffer.byteLength < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter.resolve({ status: Number(status[1]), headers, body });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(err);
  }

  close(): void {
    clearTimeout(this.timer);
    this.socket.destroy();
  }
}
