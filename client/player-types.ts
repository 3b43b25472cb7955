/** The player's public types: states, the MQTT transport it needs, events and options. */
import type { PlayerError } from './errors.js';
import type { Logger } from './log.js';
import type { MediaEngine } from './media-sink.js';
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
  log: Logger;
  /** MSE or WebCodecs; null when this browser has neither (the player says so on Start). */
  engine: MediaEngine | null;
  describeTimeoutMs?: number;
  /** A fixed live-edge target in seconds (`?latency=`); by default it follows the measured arrival jitter. */
  liveTargetS?: number;
}
