/**
 * Which URLs a request may name. Deny by default. Entries are parsed with the
 * WHATWG URL parser and compared in normalised form:
 *   rtsp://cam.example:554/stream1      exactly this URL
 *   http://media.example/videos/*       any URL under /videos/ (path boundary)
 *   rtsp://*.cams.example/*             any path on any subdomain, default port
 *   http://127.0.0.1:8000/*             a private address must be named explicitly
 */
import net from 'node:net';
import { MAX_URL_LENGTH, MqttcastError } from '../../protocol/index.js';

export const ALLOWED_SCHEMES = new Set(['http:', 'https:', 'rtsp:', 'rtsps:']);
const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'rtsp:': '554', 'rtsps:': '322' };

export interface AllowEntry {
  raw: string;
  kind: 'exact' | 'prefix';
  scheme: string;
  /** Lower-case host; a leading `*.` matches any subdomain (not the bare domain). */
  host: string;
  port: string;
  /** For exact: pathname + search. For prefix: a path ending in `/`. */
  path: string;
  username: string;
  password: string;
}

export class AllowlistEntryError extends Error {}

/** Whether the entry names an IP address itself (then that address is allowed even if private). */
export function namesIpLiteral(entry: AllowEntry): boolean {
  const host = entry.host.startsWith('[') ? entry.host.slice(1, -1) : entry.host;
  return net.isIP(host) !== 0;
}

// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function parseAllowEntry(raw: string): AllowEntry {
  const text = raw.trim();
  const isPrefix = text.endsWith('/*');
  const wildcardHost = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?\*\./i.test(text);
  const parsable = (isPrefix ? text.slice(0, -1) : text).replace(/^([a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?)\*\./i, '$1wildcard.');
  let url: URL;
  try {
    url = new URL(parsable);
  } catch {
    throw new AllowlistEntryError(`allowlist entry "${raw}" is not a URL`);
  }
  if (!ALLOWED_SCHEMES.has(url.protocol)) {
    throw new AllowlistEntryError(`allowlist entry "${raw}": scheme ${url.protocol} is not supported (use ${[...ALLOWED_SCHEMES].join(' ')})`);
  }
  let host = url.hostname.toLowerCase();
  if (wildcardHost) host = `*.${host.slice('wildcard.'.length)}`;
  return {
    raw,
    kind: isPrefix ? 'prefix' : 'exact',
    scheme: url.protocol,
    host,
    port: url.port || DEFAULT_PORTS[url.protocol]!,
    path: isPrefix ? url.pathname : url.pathname + url.search,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  // A wildcard never matches an IP literal: private addresses must be named explicitly.
  if (/^[\d.]+$/.test(host) || host.startsWith('[')) return false;
  return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
}

export function entryMatches(entry: AllowEntry, url: URL): boolean {
  if (entry.scheme !== url.protocol) return false;
  if (entry.port !== (url.port || DEFAULT_PORTS[url.protocol])) return false;
  if (!hostMatches(entry.host, url.hostname.toLowerCase())) return false;
  if (decodeURIComponent(url.username) !== entry.username || decodeURIComponent(url.password) !== entry.password) {
    return false;
  }
  if (entry.kind === 'exact') return url.pathname + url.search === entry.path;
  return url.pathname.startsWith(entry.path);
}

export class Allowlist {
  readonly entries: readonly AllowEntry[];

  constructor(entries: readonly string[]) {
    this.entries = Object.freeze(entries.map(parseAllowEntry));
  }

  /** Returns the normalised URL to hand to ffmpeg, or throws URL_NOT_ALLOWED with the reason. */
  check(raw: string): string {
    return this.match(raw).href;
  }

  /**
   * Matches a requested URL; returns it normalised with the entry that allowed
   * it, or throws URL_NOT_ALLOWED with the reason. Runs before any process starts.
   */
  match(raw: string): { href: string; url: URL; entry: AllowEntry } {
    const refuse = (why: string): never => {
      throw new MqttcastError('URL_NOT_ALLOWED', `URL refused: ${why}`);
    };
    if (raw.length > MAX_URL_LENGTH) refuse(`longer than ${MAX_URL_LENGTH} characters`);
    if (raw.startsWith('-')) refuse('must not start with "-"');
    if (UNSAFE_CHARS.test(raw)) refuse('contains whitespace or control characters');
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return refuse('not a valid absolute URL');
    }
    if (!ALLOWED_SCHEMES.has(url.protocol)) refuse(`scheme ${url.protocol} is not allowed`);
    if (url.hash) url.hash = '';
    const entry = this.entries.find((e) => entryMatches(e, url));
    if (!entry) refuse(`${url.protocol}//${url.host}${url.pathname} is not on the server's allowlist`);
    // rtsp: is not a WHATWG "special" scheme: its host case and default port are kept as typed.
    url.hostname = url.hostname.toLowerCase();
    if (url.port === DEFAULT_PORTS[url.protocol]) url.port = '';
    return { href: url.href, url, entry: entry! };
  }

  /** An entry allowing some path on this scheme, host and port (for tunnels, where the path is not visible). */
  matchHost(url: URL): AllowEntry | undefined {
    return this.entries.find(
      (e) =>
        e.scheme === url.protocol &&
        e.port === (url.port || DEFAULT_PORTS[url.protocol]) &&
        hostMatches(e.host, url.hostname.toLowerCase()) &&
        e.username === '',
    );
  }

  /** The entries without credentials, for the public catalog. */
  summary(): string[] {
    return this.entries.map((e) => {
      const port = e.port === DEFAULT_PORTS[e.scheme] ? '' : `:${e.port}`;
      return `${e.scheme}//${e.host}${port}${e.path}${e.kind === 'prefix' ? '*' : ''}`;
    });
  }
}
