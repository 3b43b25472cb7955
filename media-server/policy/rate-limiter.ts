/**
 * Token buckets per client: a client may make `burst` requests at once and
 * `perSecond` on average. The table of buckets is bounded; full buckets are the
 * ones forgotten first, since forgetting them changes nothing.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxClients = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; false when the client is over its rate. */
  take(key: string): boolean {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    this.buckets.delete(key); // re-insert: Map order becomes least-recently-used first
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxClients) this.evict();
    return allowed;
  }

  private evict(): void {
    for (const [key] of this.buckets) {
      this.buckets.delete(key);
      if (this.buckets.size <= this.maxClients * 0.9) return;
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
