/** What flows from an upstream to its viewers (sessions, channel publishers). */
import type { InitInfo, MqttcastError } from '../../protocol/index.js';

export interface Fragment {
  data: Buffer;
  /** Position in this upstream's output, counting from 1. */
  index: number;
  sync: boolean;
  producerTimeMs?: number;
  /** Media time the fragment carries (its longest track), when its samples state durations. */
  durationMs?: number;
}

export type UpstreamEvent =
  | { type: 'restarting'; attempt: number; message: string }
  /** Fragments were lost (a gap in a channel): viewers resume at the next sync fragment. */
  | { type: 'discontinuity' }
  | { type: 'ended'; reason: 'source_ended' }
  | { type: 'failed'; error: MqttcastError };

export interface UpstreamViewer {
  onInit(init: Buffer, info: InitInfo): void;
  onFragment(fragment: Fragment): void;
  onEvent(event: UpstreamEvent): void;
}
