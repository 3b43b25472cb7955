import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InitInfo, Status } from '../../protocol/index.js';
import { Metrics } from '../daemon/metrics.js';
import { Session, type SessionOptions } from './session.js';
import type { Fragment } from '../upstreams/upstream.js';

const INIT_INFO: InitInfo = { tracks: [], mimeCodec: 'video/mp4; codecs="avc1.640028"', videoTrackId: 1 };

function setup(overrides: Partial<SessionOptions> = {}) {
  const published: Buffer[] = [];
  const statuses: Status[] = [];
  const ended: string[] = [];
  const upstream = { attach: vi.fn<(v: Session) => void>(), detach: vi.fn<(v: Session) => void>() };
  const session = new Session({
    id: 's1',
    replyTopic: 'r',
    sourceKey: 'k',
    mode: 'copy',
    upstream,
    sink: {
      publishData: (_t, d) => (published.push(d), true),
      publishStatus: (_t, s) => statuses.push(s),
      publishReplyError: () => undefined,
    },
    leaseMs: 5000,
    maxSessionMs: 60_000,
    flowWindowMs: 600,
    flowWindowBytes: 10_000,
    metrics: new Metrics(),
    log: pino({ level: 'silent' }),
    onEnded: (_s, reason) => ended.push(reason),
    ...overrides,
  });
  let index = 0;
  /** `durationMs` null: a fragment whose samples state no duration. */
  const frag = (sync: boolean, size = 100, durationMs: number | null = 100): Fragment => ({ data: Buffer.alloc(size), index: ++index, sync, durationMs: durationMs ?? undefined });
  return { session, published, statuses, ended, frag, upstream };
}

afterEach(() => vi.useRealTimers());

describe('Session', () => {
  it('starts with the init segment and the first sync fragment, never mid-GOP', () => {
    const { session, published, frag, statuses } = setup();
    session.onInit(Buffer.from('init'), INIT_INFO);
    session.onFragment(frag(false));
    session.onFragment(frag(true));
    session.onFragment(frag(false));
    expect(published.map((p) => p.byteLength)).toEqual([4, 100, 100]);
    expect(statuses.map((s) => s.state)).toEqual(['starting', 'playing']);
  });

  it('skips a viewer that falls a window behind its acks to the next sync fragment, and says so', () => {
    const { session, published, frag, statuses } = setup();
    session.onInit(Buffer.from('init'), INIT_INFO);
    session.onFragment(frag(true));
    session.ack(1);
    for (let i = 0; i < 10; i++) session.onFragment(frag(false)); // no acks: 600 ms sent, then skipped
    expect(session.sent).toBe(7);
    expect(session.skipped).toBe(4);
    expect(statuses.at(-1)).toMatchObject({ reason: 'viewer_behind', skipped: 1 });
    session.ack(7); // caught up...
    session.onFragment(frag(false)); // ...but resumes only at a sync fragment
    session.onFragment(frag(true));
    expect(session.sent).toBe(8);
    expect(published.length).toBe(1 + 8);
  });

  it('counts the window in media time: one-frame fragments reach it at the same time as 100 ms ones', () => {
    const { session, frag } = setup();
    session.onInit(Buffer.from('init'), INIT_INFO);
    session.onFragment(frag(true, 100, 1000 / 30));
    session.ack(1);
    for (let i = 0; i < 40; i++) session.onFragment(frag(false, 100, 1000 / 30)); // 600 ms = 18 frames, then skipped
    expect(session.sent).toBe(19);
    expect(session.skipped).toBe(22);
    // Caught up to within half the window (300 ms = 9 frames): resumes at the next sync fragment.
    session.ack(9);
    session.onFragment(frag(true, 100, 1000 / 30));
    expect(session.sent).toBe(19);
    session.ack(12);
    session.onFragment(frag(false, 100, 1000 / 30));
    session.onFragment(frag(true, 100, 1000 / 30));
    expect(session.sent).toBe(20);
  });

  it('with fragments that state no duration, the byte bound still holds', () => {
    const { session, frag } = setup();
    session.onInit(Buffer.from('init'), INIT_INFO);
    session.onFragment(frag(true, 1000, null));
    session.ack(1);
    for (let i = 0; i < 30; i++) session.onFragment(frag(false, 1000, null));
    expect(session.sent).toBe(11); // 10 000 bytes unacked
    expect(session.skipped).toBe(20);
  });

  it('also skips by bytes in flight, before the time window is reached', () => {
    const { session, frag } = setup();
    session.onInit(Buffer.from('init'), INIT_INFO);
    session.onFragment(frag(true, 4000));
    session.ack(0);
    session.onFragment(frag(false, 4000));
    session.onFragment(frag(false, 4000)); // 12 000 bytes unacked ≥ 10 000
    session.onFragment(frag(false, 4000));
    expect(session.sent).toBe(3);
    expect(session.skipped).toBe(1);
  });

  it('does not flow-control a viewer that never acks (scripts): the broker bounds it', () => {
    const { session, frag } = setup();
    session.onInit(Buffer.from('init'), INIT_INFO);
    for (let i = 0; i < 50; i++) session.onFragment(frag(i === 0, 1000));
    expect(session.sent).toBe(50);
  });

  it('ends after the lease once acks stop, and after the maximum duration regardless', () => {
    vi.useFakeTimers();
    const a = setup();
    a.session.ack(0);
    vi.advanceTimersByTime(4000);
    a.session.ack(0);
    vi.advanceTimersByTime(4999);
    expect(a.ended).toEqual([]);
    vi.advanceTimersByTime(2);
    expect(a.ended).toEqual(['lease_expired']);
    const b = setup({ maxSessionMs: 10_000 });
    vi.advanceTimersByTime(10_001);
    expect(b.ended).toEqual(['max_duration']);
    expect(b.upstream.detach).toHaveBeenCalledWith(b.session);
  });

  it('reports a source that ends before any fragment as an error, never source_ended', () => {
    const quiet = setup();
    quiet.session.onInit(Buffer.from('init'), INIT_INFO);
    quiet.session.onEvent({ type: 'ended', reason: 'source_ended' });
    expect(quiet.ended).toEqual(['error']);
    expect(quiet.statuses.at(-1)).toMatchObject({ state: 'error', code: 'SOURCE_UNAVAILABLE', fragments: 0 });
    const played = setup();
    played.session.onInit(Buffer.from('init'), INIT_INFO);
    played.session.onFragment(played.frag(true));
    played.session.onEvent({ type: 'ended', reason: 'source_ended' });
    expect(played.statuses.at(-1)).toMatchObject({ state: 'ended', reason: 'source_ended', fragments: 1 });
  });
});
