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
    flowWindow: 6,
    flowWindowBytes: 10_000,
    metrics: new Metrics(),
    log: pino({ level: 'silent' }),
    onEnded: (_s, reason) => ended.push(reason),
    ...overrides,
  });
  let index = 0;
  const frag = (sync: boolean, size = 100): Fragment => ({ data: Buffer.alloc(size), index: ++index, sync });
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
    for (let i = 0; i < 10; i++) session.onFragment(frag(false)); // no acks: 6 sent, then skipped
    expect(session.sent).toBe(7);
    expect(session.skipped).toBe(4);
    expect(statuses.at(-1)).toMatchObject({ reason: 'viewer_behind', skipped: 1 });
    session.ack(7); // caught up...
    session.onFragment(frag(false)); // ...but resumes only at a sync fragment
    session.onFragment(frag(true));
    expect(session.sent).toBe(8);
    expect(published.length).toBe(1 + 8);
  });

  it('also skips by bytes in flight, before the fragment count is reached', () => {
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
