/** The player's public types: states, the MQTT transport it needs, events and options. */
import type { PlayerError } from './errors.js';
import type { Logger } from './log.js';
import type { MediaSourceImpl } from './media-source.js';
import type { StatsSnapshot } from './stats.js';

export type PlayerState =
  | 'idle'
  | 'connecting'
  | 'describing'
  | 'starting'
  | 'playing'
  | 'recovering'
  | 'reconnecting'
  | 'ended'
  | 'error';

export interface Transport {
  readonly connected: boolean;
  subscribe(topics: Record<string, 0 | 1>): Promise<void>;
  publish(topic: string, payload: string, qos?: 0 | 1): Promise<void>;
}

export type PlayerEvents = {
  state: (state: PlayerState, detail: string) => void;
  error: (error: PlayerError | null) => void;
  stats: (stats: StatsSnapshot) => void;
};

export interface PlayerOptions {
  video: HTMLVideoElement;
  log: Logger;
  /** Codecs this browser's MediaSource accepts, sent to the server. */
  codecs: readonly string[];
  impl: MediaSourceImpl | null;
  describeTimeoutMs?: number;
  /** Seconds behind the buffered end that live playback aims for (default 0.5). */
  liveTargetS?: number;
}
