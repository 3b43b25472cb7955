/**
 * Playback statistics: bitrate from message sizes over a window, latency behind
 * live from the fragments' producer reference time (prft), time to first frame,
 * skipped fragments, and short histories for the sparklines. No DOM inside.
 */
// The prft correction (ffmpeg stamps a fragment's end) lives in protocol/, shared with the bench.
export { fragmentSpan, latencyMs, producerReference, type ProducerReference } from '../protocol/prft.js';

/** Bits per second over a sliding window of message sizes. */
export class BitrateMeter {
  private samples: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly windowMs = 3000) {}

  add(bytes: number, now: number): void {
    this.samples.push({ at: now, bytes });
    this.prune(now);
  }

  /** Null until the window holds at least two messages. */
  bitsPerSecond(now: number): number | null {
    this.prune(now);
    const first = this.samples[0];
    if (!first || this.samples.length < 2) return null;
    const span = Math.max(now - first.at, 250);
    const bytes = this.samples.reduce((sum, s) => sum + s.bytes, 0);
    return (bytes * 8 * 1000) / span;
  }

  reset(): void {
    this.samples = [];
  }

  private prune(now: number): void {
    while (this.samples.length > 0 && now - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }
}

/** A fixed-length history of numbers, oldest first. */
export class History {
  private items: number[] = [];

  constructor(private readonly capacity = 60) {}

  push(value: number): void {
    this.items.push(value);
    if (this.items.length > this.capacity) this.items.shift();
  }

  get values(): readonly number[] {
    return this.items;
  }

  clear(): void {
    this.items = [];
  }
}

export interface StatsSnapshot {
  codec: string;
  mode: string;
  /** How the page shows the stream: "MSE", "WebCodecs", or MSE with the reason for the fallback. */
  engine: string;
  width: number;
  height: number;
  bitrateBps: number | null;
  latencyMs: number | null;
  bufferS: number;
  decodedFrames: number;
  droppedFrames: number;
  /** WebCodecs: frames drawn to the canvas (null in MSE mode). */
  drawnFrames: number | null;
  /** WebCodecs: chunks waiting in the video decoder (null in MSE mode). */
  decodeQueue: number | null;
  /** WebCodecs: frames drawn per second (null in MSE mode or before a second of frames). */
  fps: number | null;
  /** The sound: "on", "muted …", "off: …". */
  audio: string;
  /** Live-edge target in seconds (MSE). */
  targetS: number | null;
  ttffMs: number | null;
  /** Fragments the server skipped for this viewer (from /status). */
  skipped: number;
  /** Fragments the player's append queue dropped because it fell behind. */
  playerDropped: number;
  /** Fragments received since the current play was sent. */
  fragments: number;
  bytes: number;
}

export function emptyStats(): StatsSnapshot {
  return {
    codec: '',
    mode: '',
    engine: '',
    width: 0,
    height: 0,
    bitrateBps: null,
    latencyMs: null,
    bufferS: 0,
    decodedFrames: 0,
    droppedFrames: 0,
    drawnFrames: null,
    decodeQueue: null,
    fps: null,
    audio: '',
    targetS: null,
    ttffMs: null,
    skipped: 0,
    playerDropped: 0,
    fragments: 0,
    bytes: 0,
  };
}

export function formatBitrate(bps: number | null): string {
  if (bps === null) return '—';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbit/s`;
  return `${Math.round(bps / 1e3)} kbit/s`;
}

export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

export function formatResolution(width: number, height: number): string {
  return width > 0 && height > 0 ? `${width}×${height}` : '—';
}
