/** Turns a request's target (URL or named source) into what ffmpeg needs to open it. */
import { MqttcastError, type Target } from '../../protocol/index.js';
import { resolveAllowed, systemResolver, type Resolver } from './address-policy.js';
import { namesIpLiteral, type Allowlist } from './allowlist.js';
import type { Config } from '../daemon/config.js';

/** What a source is: pulled by ffmpeg (demo, rtsp, http, hls, file) or a live channel on the broker. */
export type SourceKind = 'demo' | 'rtsp' | 'http' | 'hls' | 'file' | 'channel';

export interface SourceSpec {
  /** Identity used to share one upstream between viewers. */
  key: string;
  kind: SourceKind;
  /** Input URL for ffmpeg (absent for the generated demo). */
  url?: string;
  /** Name of the configured source, when the request named one. */
  name?: string;
  /** Known liveness (demo, config override); otherwise decided by the probe. */
  live?: boolean;
  /** The allowlist entry names this URL's IP address itself (so a private address is intended). */
  trustedLiteral?: boolean;
  /** Named sources come from the operator's config and are not confined to the allowlist. */
  trusted?: boolean;
}

export const DEMO_SOURCE = 'demo';

export function kindOfUrl(url: string): SourceKind {
  const u = new URL(url);
  if (u.protocol === 'rtsp:' || u.protocol === 'rtsps:') return 'rtsp';
  if (u.protocol === 'file:') return 'file';
  return /\.m3u8?$/i.test(u.pathname) ? 'hls' : 'http';
}

/**
 * The key a target's sessions carry (`SourceSpec.key`), computed without resolving or
 * allowlist checks: for matching a `{"url"}` stop against running sessions.
 */
export function targetKey(target: Target, allowlist: Allowlist): string {
  if (target.kind === 'source') return `source:${target.name}`;
  try {
    return `url:${allowlist.match(target.url).href}`; // normalised as a play's was
  } catch {
    return `url:${target.url}`; // not playable here, so no session can have it
  }
}

/**
 * Checks a request's target and says how to open it. A URL must match the
 * allowlist and its host must resolve to an allowed address — all before any
 * process starts.
 */
export async function resolveTarget(target: Target, allowlist: Allowlist, config: Config, resolver: Resolver = systemResolver): Promise<SourceSpec> {
  if (target.kind === 'url') {
    const { href, url, entry } = allowlist.match(target.url);
    const trustedLiteral = namesIpLiteral(entry);
    await resolveAllowed(url.hostname, trustedLiteral, resolver);
    return { key: `url:${href}`, kind: kindOfUrl(href), url: href, trustedLiteral };
  }
  if (target.name === DEMO_SOURCE && config.demo.enabled && !config.sources[DEMO_SOURCE]) {
    return { key: `source:${DEMO_SOURCE}`, kind: 'demo', name: DEMO_SOURCE, live: true };
  }
  const named = Object.hasOwn(config.sources, target.name) ? config.sources[target.name] : undefined;
  if (!named) {
    throw new MqttcastError('URL_NOT_ALLOWED', `there is no source named "${target.name}" on this server`);
  }
  // Named sources come from the operator's config and are trusted as written.
  return { key: `source:${target.name}`, kind: kindOfUrl(named.url), url: named.url, name: target.name, live: named.live, trusted: true };
}

/** Sources listed in the catalog. */
export function catalogSources(config: Config): Array<{ name: string; description: string; live: boolean }> {
  const list = Object.entries(config.sources).map(([name, s]) => ({ name, description: s.description, live: s.live ?? true }));
  if (config.demo.enabled && !config.sources[DEMO_SOURCE]) {
    list.unshift({
      name: DEMO_SOURCE,
      description: `Test pattern with a clock and a 440 Hz tone, ${config.demo.width}x${config.demo.height} at ${config.demo.fps} fps`,
      live: true,
    });
  }
  return list;
}
