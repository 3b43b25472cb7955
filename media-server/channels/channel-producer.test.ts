import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MqttcastError, type InitInfo } from '../../protocol/index.js';
import type { ProducerSink } from '../upstreams/producer.js';
import type { ChannelHub, ChannelListener } from './channel-hub.js';
import { ChannelProducer } from './channel-producer.js';

/** A hub that hands the listener to the test and records subscriptions. */
function fakeHub(): { hub: ChannelHub; listener: () => ChannelListener; listening: () => boolean } {
  let listener: ChannelListener | undefined;
  let listening = false;
  const hub = {
    listen: (_name: string, l: ChannelListener) => {
      listener = l;
      listening = true;
      return () => (listening = false);
    },
  } as unknown as ChannelHub;
  return { hub, listener: () => listener!, listening: () => listening };
}

function recordingSink(): { sink: ProducerSink; calls: string[] } {
  const calls: string[] = [];
  const sink: ProducerSink = {
    init: (d) => (calls.push(`init:${d.toString()}`), { mimeCodec: 'video/mp4', tracks: [] } as unknown as InitInfo),
    fragment: (d) => void calls.push(`frag:${d.toString()}`),
    discontinuity: () => void calls.push('gap'),
    started: () => undefined,
    restarting: (_a, m) => void calls.push(`restarting:${m}`),
    ended: () => void calls.push('ended'),
    failed: (e: MqttcastError) => void calls.push(`failed:${e.code}:${e.message}`),
  };
  return { sink, calls };
}

describe('ChannelProducer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function start() {
    const h = fakeHub();
    const s = recordingSink();
    const p = new ChannelProducer({ name: 'cam1', hub: h.hub, graceMs: 10_000, stallTimeoutMs: 5_000, log: pino({ level: 'silent' }) });
    p.start(s.sink);
    return { p, ...h, ...s };
  }

  it('feeds the init, then fragments; ignores data before the init and the same retained init again', () => {
    const { listener, calls } = start();
    listener().onData(Buffer.from('early'));
    listener().onInit(Buffer.from('I1'));
    listener().onData(Buffer.from('f1'));
    listener().onInit(Buffer.from('I1'));
    listener().onData(Buffer.from('f2'));
    expect(calls).toEqual(['init:I1', 'frag:f1', 'frag:f2']);
  });

  it('offline meta: viewers are told it waits, and after the grace it fails with SOURCE_UNAVAILABLE', () => {
    const { listener, calls } = start();
    listener().onInit(Buffer.from('I1'));
    listener().onMeta({ state: 'offline', reason: 'connection_lost', publisher: 'p', started_at: new Date().toISOString(), tracks: [] });
    expect(calls.at(-1)).toMatch(/^restarting:the live channel "cam1" went offline \(its publisher lost its connection\)/);
    vi.advanceTimersByTime(10_001);
    expect(calls.at(-1)).toMatch(/^failed:SOURCE_UNAVAILABLE:.*did not come back within 10 s/);
  });

  it('a publisher that returns within the grace resumes with its (even identical) init', () => {
    const { listener, calls } = start();
    listener().onInit(Buffer.from('I1'));
    listener().onMeta(undefined);
    listener().onInit(Buffer.from('I1'));
    listener().onData(Buffer.from('f1'));
    vi.advanceTimersByTime(4_000);
    expect(calls.filter((c) => c.startsWith('failed'))).toEqual([]);
    expect(calls.slice(-2)).toEqual(['init:I1', 'frag:f1']);
  });

  it('a stall counts as offline; data that resumes after a hole is a discontinuity', () => {
    const { listener, calls } = start();
    listener().onInit(Buffer.from('I1'));
    listener().onData(Buffer.from('f1'));
    vi.advanceTimersByTime(5_001);
    expect(calls.at(-1)).toMatch(/stopped sending video for 5 s/);
    listener().onData(Buffer.from('f2'));
    expect(calls.slice(-2)).toEqual(['gap', 'frag:f2']);
    vi.advanceTimersByTime(4_000);
    expect(calls.some((c) => c.startsWith('failed'))).toBe(false);
  });

  it('close drops the subscription and fails nothing later', async () => {
    const { p, listener, listening, calls } = start();
    listener().onInit(Buffer.from('I1'));
    listener().onMeta(undefined);
    await p.close();
    vi.advanceTimersByTime(20_000);
    expect(listening()).toBe(false);
    expect(calls.some((c) => c.startsWith('failed'))).toBe(false);
  });
});
