/**
 * Draws decoded VideoFrames to the canvas when the frame pacer says, closing
 * every frame. Frames waiting for their time are few (one fragment's worth) and
 * bounded; when several are due at once only the newest is drawn. Keeps the
 * numbers for the overlay: frames drawn, superseded, fps, latency at draw.
 */
import type { FramePacer } from './frame-pacer.js';
import { latencyMs, type ProducerReference } from './stats.js';

interface Held {
  frame: VideoFrame;
  dueMs: number;
}

/** Frames held for pacing beyond which the oldest is dropped. */
const MAX_HELD = 30;
/** Latency is averaged over the draws of this window. */
const LATENCY_WINDOW_MS = 1000;

export class FrameCanvas {
  drawn = 0;
  /** Decoded frames never drawn: a newer one was due at the same time, or too many were waiting. */
  superseded = 0;
  lastTimestampUs: number | undefined;
  width = 0;
  height = 0;
  private held: Held[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private draws: Array<{ at: number; wallMs: number; timestampUs: number }> = [];
  private readonly ctx: CanvasRenderingContext2D | null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly pacer: FramePacer,
    private readonly onDrawn: () => void,
  ) {
    this.ctx = canvas.getContext('2d', { alpha: false, desynchronized: true });
  }

  /** Takes ownership of a decoded frame; `immediate`: draw it now (it came alone in its fragment). */
  show(frame: VideoFrame, immediate: boolean): void {
    const now = performance.now();
    const delay = this.pacer.delayFor(frame.timestamp, now, immediate && this.held.length === 0);
    if (delay === 0 && this.held.length === 0) {
      this.draw(frame, now);
      return;
    }
    this.held.push({ frame, dueMs: now + delay });
    while (this.held.length > MAX_HELD) this.discard(this.held.shift()!);
    this.arm(now);
  }

  fps(now: number): number | null {
    const recent = this.draws.filter((d) => now - d.at <= 1000);
    if (recent.length < 2) return null;
    const span = recent[recent.length - 1]!.at - recent[0]!.at;
    return span > 0 ? Math.round(((recent.length - 1) * 1000) / span) : null;
  }

  /**
   * Producer wall clock → drawn, averaged over the last second of draws. When
   * no frame was drawn for a while, the age of the frame on screen instead.
   */
  latencyMs(nowMs: number, ref: ProducerReference): number | null {
    const perfNow = performance.now();
    const recent = this.draws.filter((d) => perfNow - d.at <= LATENCY_WINDOW_MS);
    if (recent.length === 0) {
      return this.lastTimestampUs === undefined ? null : latencyMs(nowMs, this.lastTimestampUs / 1e6, ref);
    }
    const sum = recent.reduce((n, d) => n + latencyMs(d.wallMs, d.timestampUs / 1e6, ref), 0);
    return sum / recent.length;
  }

  destroy(): void {
    clearTimeout(this.timer);
    for (const h of this.held.splice(0)) h.frame.close();
    this.ctx?.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  private arm(now: number): void {
    clearTimeout(this.timer);
    const first = this.held[0];
    if (first) this.timer = setTimeout(() => this.drawDue(), Math.max(0, first.dueMs - now));
  }

  private drawDue(): void {
    const now = performance.now();
    let due: Held | undefined;
    while (this.held.length > 0 && this.held[0]!.dueMs <= now + 2) {
      if (due) this.discard(due);
      due = this.held.shift();
    }
    if (due) this.draw(due.frame, now);
    this.arm(now);
  }

  private discard(held: Held): void {
    held.frame.close();
    this.superseded++;
  }

  private draw(frame: VideoFrame, now: number): void {
    try {
      const { displayWidth: w, displayHeight: h } = frame;
      if (this.canvas.width !== w || this.canvas.height !== h) {
        this.canvas.width = w;
        this.canvas.height = h;
      }
      this.width = w;
      this.height = h;
      this.ctx?.drawImage(frame, 0, 0, w, h);
      this.drawn++;
      this.lastTimestampUs = frame.timestamp;
      this.draws.push({ at: now, wallMs: Date.now(), timestampUs: frame.timestamp });
      while (this.draws.length > 0 && now - this.draws[0]!.at > LATENCY_WINDOW_MS) this.draws.shift();
    } finally {
      frame.close();
    }
    this.onDrawn();
  }
}
