/** What the Go live panel shows while publishing: bit rate over the last seconds, frames, fragments, drops. */

export interface PublishSnapshot {
  /** Bits per second over the last {@link WINDOW_MS}. */
  bitrate: number;
  /** Frames encoded. */
  frames: number;
  /** Frames dropped before encoding (encoder busy) plus fragments dropped before the broker (away, socket full, waiting for a keyframe). */
  dropped: number;
  fragments: number;
  /** Measured keyframe interval, seconds. */
  gop?: number;
  /** Bytes waiting in the connection. */
  buffered: number;
}

export const WINDOW_MS = 3000;
const MAX_SAMPLES = 1024;

export class PublishStats {
  fragments = 0;
  droppedFragments = 0;
  private samples: Array<{ at: number; bytes: number }> = [];
  private lastSyncAt: number | undefined;
  private gopS: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A fragment handed to the broker connection. */
  sent(bytes: number, sync: boolean): void {
    const at = this.now();
    this.fragments++;
    this.samples.push({ at, bytes });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    if (sync) {
      if (this.lastSyncAt !== undefined) this.gopS = (at - this.lastSyncAt) / 1000;
      this.lastSyncAt = at;
    }
  }

  bitrate(): number {
    const since = this.now() - WINDOW_MS;
    this.samples = this.samples.filter((s) => s.at >= since);
    return (this.samples.reduce((n, s) => n + s.bytes, 0) * 8 * 1000) / WINDOW_MS;
  }

  get gop(): number | undefined {
    return this.gopS;
  }
}
