import { describe, expect, it } from 'vitest';
import { FragmentCache } from './fragment-cache.js';
import type { Fragment } from './upstream-types.js';

let index = 0;
const frag = (sync: boolean, size = 10): Fragment => ({ data: Buffer.alloc(size), index: ++index, sync });

describe('FragmentCache', () => {
  it('shared: keeps the latest GOP from its sync fragment, nothing before the first one', () => {
    const c = new FragmentCache(true, 1000);
    c.remember(frag(false));
    expect(c.replay()).toEqual([]);
    const a = frag(true);
    const b = frag(false);
    c.remember(a);
    c.remember(b);
    expect(c.replay()).toEqual([a, b]);
    const next = frag(true);
    c.remember(next);
    expect(c.replay()).toEqual([next]);
  });

  it('shared: drops a GOP over the byte bound and waits for the next sync fragment', () => {
    const c = new FragmentCache(true, 25);
    expect([c.remember(frag(true)), c.remember(frag(false)), c.remember(frag(false))]).toEqual([true, true, true]);
    expect(c.replay()).toEqual([]);
    c.remember(frag(false));
    expect(c.replay()).toEqual([]);
  });

  it('exclusive: keeps everything and says when it is over the bound', () => {
    const c = new FragmentCache(false, 25);
    const first = frag(false);
    expect(c.remember(first)).toBe(true);
    expect(c.remember(frag(false))).toBe(true);
    expect(c.remember(frag(false))).toBe(false);
    expect(c.replay()[0]).toBe(first);
    expect(c.replay()).toHaveLength(3);
    c.clear();
    expect(c.replay()).toEqual([]);
  });
});
