/**
 * The fragments an upstream keeps for viewers who arrive later. Shared (live):
 * the latest GOP, from its sync fragment, so a late joiner starts at once on a
 * keyframe. Exclusive (on demand, prepared by a describe): everything since the
 * start, until the one viewer claims it. Bounded in bytes either way.
 */
import type { Fragment } from './upstream-types.js';

export class FragmentCache {
  private list: Fragment[] = [];
  private bytes = 0;
  /** Shared: the list starts at a sync fragment. */
  private valid = false;

  constructor(
    private readonly shared: boolean,
    private readonly maxBytes: number,
  ) {}

  /**
   * Keeps a fragment. Returns false when an exclusive cache is over its bound: the
   * producer should wait. A shared GOP over the bound is dropped instead (late
   * joiners then wait for the next sync fragment).
   */
  remember(f: Fragment): boolean {
    if (this.shared) {
      if (f.sync) {
        this.clear();
        this.valid = true;
      }
      if (!this.valid) return true;
    }
    this.list.push(f);
    this.bytes += f.data.byteLength;
    if (this.bytes <= this.maxBytes) return true;
    if (this.shared) {
      this.clear();
      return true;
    }
    return false;
  }

  /** What a new viewer gets after the init segment. */
  replay(): readonly Fragment[] {
    return this.valid || !this.shared ? this.list : [];
  }

  clear(): void {
    this.list = [];
    this.bytes = 0;
    this.valid = false;
  }
}
