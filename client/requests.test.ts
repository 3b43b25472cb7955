import { describe, expect, it } from 'vitest';
import { AckRequestSchema, PlayRequestSchema, StopRequestSchema, createTopics, replyTopicProblem } from '../protocol/index.js';
import { Requests, newClientId } from './requests.js';

describe('Requests', () => {
  it('sends open-mode requests to P/<kind> with a reply topic under P/session/<clientId>/', () => {
    const r = new Requests('web-abc', { prefix: 'video', secure: false });
    expect(r.replyTopic).toBe('video/session/web-abc/live');
    expect(r.statusTopic).toBe('video/session/web-abc/live/status');
    expect(r.describe({ source: 'demo' }, ['avc1.640028'], 'd-1').topic).toBe('video/describe');
    expect(r.stop().topic).toBe('video/stop');
    expect(replyTopicProblem(r.replyTopic, createTopics('video'))).toBeNull();
  });

  it('gives each player sharing the connection its own reply topic; slot 0 keeps the tab\'s topic', () => {
    const open = [0, 1, 2].map((slot) => new Requests('web-abc', { prefix: 'video', secure: false }, undefined, slot));
    expect(open.map((r) => r.replyTopic)).toEqual(['video/session/web-abc/live', 'video/session/web-abc/live-1', 'video/session/web-abc/live-2']);
    for (const r of open) expect(replyTopicProblem(r.replyTopic, createTopics('video'))).toBeNull();
    const secure = new Requests('web-abc', { prefix: 'video', secure: true }, 'alice', 3);
    expect(secure.replyTopic).toBe('video/session/alice/web-abc-3');
    expect(secure.statusTopic).toBe('video/session/alice/web-abc-3/status');
    expect(open[1]!.unregister()).toEqual({ topic: 'video/unregister', payload: '{"clientId":"web-abc"}' });
  });

  it('sends secure-mode requests to P/req/<clientId>/<kind>', () => {
    const r = new Requests('web-abc', { prefix: 'cams', secure: true });
    expect(r.play({ url: 'rtsp://x/y' }, [], 'p-1').topic).toBe('cams/req/web-abc/play');
    expect(r.ack(1, 0).topic).toBe('cams/req/web-abc/ack');
    expect(r.replyTopic.startsWith(createTopics('cams').sessionRoot('web-abc'))).toBe(true);
  });

  it('uses the user name as the namespace in secure mode, one reply topic per tab', () => {
    const r = new Requests('web-abc', { prefix: 'video', secure: true }, 'alice');
    expect(r.play({ source: 'demo' }, [], 'p-1').topic).toBe('video/req/alice/play');
    expect(r.replyTopic).toBe('video/session/alice/web-abc');
    expect(new Requests('web-xyz', { prefix: 'video', secure: true }, 'alice').replyTopic).not.toBe(r.replyTopic);
    // In open mode the user name does not matter.
    expect(new Requests('web-abc', { prefix: 'video', secure: false }, 'alice').stop().topic).toBe('video/stop');
  });

  it('builds payloads the protocol schemas accept', () => {
    const r = new Requests('web-abc', { prefix: 'video', secure: false });
    const play = PlayRequestSchema.parse(JSON.parse(r.play({ url: 'rtsp://cam/1' }, ['avc1.42E01E', 'opus'], 'p-7').payload));
    expect(play).toEqual({
      target: { kind: 'url', url: 'rtsp://cam/1' },
      replyTopic: 'video/session/web-abc/live',
      codecs: ['avc1.42E01E', 'opus'],
      requestId: 'p-7',
      clientId: 'web-abc',
    });
    expect(StopRequestSchema.parse(JSON.parse(r.stop().payload))).toMatchObject({ by: 'reply_topic', replyTopic: r.replyTopic });
  });

  it('rounds and bounds buffered_ms in acks', () => {
    const r = new Requests('web-abc', { prefix: 'video', secure: false });
    expect(AckRequestSchema.parse(JSON.parse(r.ack(12, 437.6).payload))).toEqual({ replyTopic: r.replyTopic, seq: 12, bufferedMs: 438 });
    expect(JSON.parse(r.ack(0, -5).payload).buffered_ms).toBe(0);
    expect(JSON.parse(r.ack(0, 1e9).payload).buffered_ms).toBe(3_600_000);
  });

  it('makes client ids of the form web-<12 base-36 characters>', () => {
    expect(newClientId()).toMatch(/^web-[0-9a-z]{12}$/);
    expect(newClientId()).not.toBe(newClientId());
  });
});
