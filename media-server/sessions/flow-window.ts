/**
 * What one viewer has been sent and not yet acknowledged, counted as media
 * time and bytes (not messages: a fragment may be one frame or a whole GOP).
 * Bounded: past MAX_TRACKED unacknowledged fragments the viewer counts as
 * over any window.
 */

/** Unacknowledged fragments remembered per viewer (over a minute of 60 fps video). */
export const MAX_TRACKED = 4096;

export class FlowWindow {
  private seqs: number[] = [];
  private ms: number[] = [];
  private sizes: number[] = [];
  private head = 0;
  private totalMs = 0;
  private totalBytes = 0;

  /** Fragment number `seq` (counting from 1, as acks do) was sent. */
  sent(seq: number, durationMs: number | undefined, bytes: number): void {
    if (this.count >= MAX_TRACKED) return; // over any window already; totals stay as they are
    this.seqs.push(seq);
    this.ms.push(durationMs ?? 0);
    this.sizes.push(bytes);
    this.totalMs += durationMs ?? 0;
    this.totalBytes += bytes;
  }

  /** The viewer has everything up to and including `seq`. */
  acked(seq: number): void {
    while (this.head < this.seqs.length && this.seqs[this.head]! <= seq) {
      this.totalMs -= this.ms[this.head]!;
      this.totalBytes -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head === this.seqs.length) this.clear();
    else if (this.head > 1024) this.compact();
  }

  get count(): number {
    return this.seqs.length - this.head;
  }

  get lagMs(): number {
    return this.count === 0 ? 0 : this.totalMs;
  }

  get lagBytes(): number {
    return this.count === 0 ? 0 : this.totalBytes;
  }

  /** Whether the unacknowledged part reaches `fraction` of the window. */
  reaches(windowMs: number, windowBytes: number, fraction = 1): boolean {
    return this.count >= MAX_TRACKED * fraction || this.lagMs >= windowMs * fraction || this.lagBytes >= windowBytes * fraction;
  }

  clear(): void {
    this.seqs = [];
    this.ms = [];
    this.sizes = [];
    this.head = 0;
    this.totalMs = 0;
    this.totalBytes = 0;
  }

  private compact(): void {
    this.seqs = this.seqs.slice(this.head);
    this.ms = this.ms.slice(this.head);
    this.sizes = this.sizes.slice(this.head);
    this.head = 0;
  }
}
