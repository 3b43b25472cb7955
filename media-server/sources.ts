/** Turns a request's target (URL or named source) into what ffmpeg needs to open it. */
import { MqttcastError, type Target } from '../protocol/index.js';
import type { Allowlist } from './allowlist.js';
import type { Config } from './config.js';

export type SourceKind = 'demo' | 'rtsp' | 'http' | 'hls' | 'file';

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
}

export const DEMO_SOURCE = 'demo';

export function kindOfUrl(url: string): SourceKind {
  const u = new URL(url);
  if (u.protocol === 'rtsp:' || u.protocol === 'rtsps:') return 'rtsp';
  if (u.protocol === 'file:') return 'file';
  return /\.m3u8?$/i.test(u.pathname) ? 'hls' : 'http';
}

export function resolveTarget(target: Target, allowlist: Allowlist, config: Config): SourceSpec {
  if (target.kind === 'url') {
    const url = allowlist.check(target.url);
    return { key: `url:${url}`, kind: kindOfUrl(url), url };
  }
  if (target.name === DEMO_SOURCE && config.demo.enabled && !config.sources[DEMO_SOURCE]) {
    return { key: `source:${DEMO_SOURCE}`, kind: 'demo', name: DEMO_SOURCE, live: true };
  }
  const named = Object.hasOwn(config.sources, target.name) ? config.sources[target.name] : undefined;
  if (!named) {
    throw new MqttcastError('URL_NOT_ALLOWED', `there is no source named "${target.name}" on this server`);
  }
  // Named sources come from the operator's config and are trusted as written.
  return { key: `source:${target.name}`, kind: kindOfUrl(named.url), url: named.url, name: target.name, live: named.live };
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
