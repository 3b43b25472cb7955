/**
 * `{"source": "live/<name>"}`: a live channel on the broker, checked against the
 * channel directory before anything starts.
 */
import { MqttcastError, channelNameProblem, type ChannelMeta } from '../../protocol/index.js';
import type { SourceSpec } from '../policy/sources.js';
import type { ChannelSummary } from './channel-hub.js';

export const CHANNEL_SOURCE_PREFIX = 'live/';

/** Whether a named source is a live channel (`live/<name>`). */
export function isChannelSource(name: string): boolean {
  return name.startsWith(CHANNEL_SOURCE_PREFIX);
}

/** The spec of channel `live/<name>`, or SOURCE_UNAVAILABLE when it is unknown or offline. */
export function resolveChannel(source: string, meta: (name: string) => ChannelMeta | undefined): SourceSpec {
  const name = source.slice(CHANNEL_SOURCE_PREFIX.length);
  const problem = channelNameProblem(name);
  if (problem) throw new MqttcastError('INVALID_REQUEST', `"${source.slice(0, 80)}" is not a channel name: it ${problem}`);
  const m = meta(name);
  if (!m) throw new MqttcastError('SOURCE_UNAVAILABLE', `there is no live channel "${name}" on this broker (the catalog lists the channels)`);
  if (m.state !== 'live') {
    const why = m.reason ? ` (${m.reason})` : '';
    throw new MqttcastError('SOURCE_UNAVAILABLE', `the live channel "${name}" is offline${why}; try again when its publisher is back`);
  }
  return { key: `channel:${name}`, kind: 'channel', name: source, live: true };
}

/** Live channels as catalog sources (`live/<name>`), so every source list shows them. */
export function channelSources(channels: readonly ChannelSummary[]): Array<{ name: string; description: string; live: boolean }> {
  return channels
    .filter((c) => c.state === 'live')
    .map((c) => ({
      name: c.source,
      description: `Live channel ${c.name}${c.bitrate ? `, ${Math.round(c.bitrate / 1000)} kb/s` : ''} (from ${c.publisher})`,
      live: true,
    }));
}
