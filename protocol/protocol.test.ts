import { describe, expect, it } from 'vitest';
import {
  AckRequestSchema, DescribeRequestSchema, ERROR_CODES, MqttcastError, PlayRequestSchema, createTopics, parseRequest,
  replyTopicProblem, salvageReplyTopic, topicMatches,
} from './index.js';

const topics = createTopics('video');

describe('request schemas', () => {
  it('normalises url/source and accepts the seed field resp_topic', () => {
    expect(parseRequest(DescribeRequestSchema, '{"url":"rtsp://h/x","resp_topic":"r/1"}')).toEqual({
      target: { kind: 'url', url: 'rtsp://h/x' }, replyTopic: 'r/1', codecs: undefined, requestId: undefined,
    });
    expect(parseRequest(PlayRequestSchema, '{"source":"demo","reply_topic":"r/2","client_id":"c","codecs":["avc1.640028"]}')).toMatchObject({
      target: { kind: 'source', name: 'demo' }, replyTopic: 'r/2', clientId: 'c', codecs: ['avc1.640028'],
    });
  });

  it.each([
    ['not JSON', '{'],
    ['no target', '{"reply_topic":"r"}'],
    ['both targets', '{"url":"http://a","source":"demo","reply_topic":"r"}'],
    ['no reply topic', '{"url":"http://a"}'],
    ['wrong type', '{"url":1,"reply_topic":"r"}'],
    ['array', '[]'],
  ])('refuses %s with INVALID_REQUEST', (_name, text) => {
    const err = (() => {
      try {
        parseRequest(DescribeRequestSchema, text);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(MqttcastError);
    expect((err as MqttcastError).code).toBe('INVALID_REQUEST');
  });

  it('bounds request size and ack values', () => {
    expect(() => parseRequest(DescribeRequestSchema, `{"url":"${'a'.repeat(20000)}"}`)).toThrow(/limit/);
    expect(() => parseRequest(AckRequestSchema, '{"reply_topic":"r","seq":-1}')).toThrow(MqttcastError);
    expect(parseRequest(AckRequestSchema, '{"reply_topic":"r","seq":4,"buffered_ms":250}')).toEqual({ replyTopic: 'r', seq: 4, bufferedMs: 250 });
  });

  it('salvages the reply topic and request id of an invalid request', () => {
    expect(salvageReplyTopic('{"resp_topic":"r/9","request_id":"q","url":5}')).toEqual({ replyTopic: 'r/9', requestId: 'q' });
    expect(salvageReplyTopic('garbage')).toEqual({});
  });

  it('has a human message for every error code', () => {
    for (const [code, text] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z_]+$/);
      expect(text.length).toBeGreaterThan(10);
    }
  });
});

describe('topics', () => {
  it('builds request, status and secure-mode topics', () => {
    expect(topics.request('play')).toBe('video/play');
    expect(topics.status('a/b')).toBe('a/b/status');
    expect(topics.clientRequest('tab1', 'ack')).toBe('video/req/tab1/ack');
    expect(topicMatches(topics.clientRequestPattern('play'), 'video/req/tab1/play')).toBe(true);
    expect(createTopics('client').request('describe')).toBe('client/describe');
    expect(() => createTopics('bad/#')).toThrow();
  });

  it.each([
    ['', 'characters long'], ['a'.repeat(257), 'characters long'], ['a/#', 'wildcards'], ['a/+/b', 'wildcards'],
    ['$SYS/x', 'reserved'], ['a\u0000b', 'wildcards'], ['video/play', 'request topic'], ['video/unregister', 'request topic'],
    ['video/req/x/play', 'video/req'], ['video/req', 'video/req'], ['video/live/cam1/data', 'video/live'], ['video/catalog', 'request topic'], ['x/status', '/status'], ['a\nb', 'control'],
  ])('refuses reply topic %j', (topic, why) => {
    expect(replyTopicProblem(topic, topics)).toContain(why);
  });

  it('accepts ordinary reply topics', () => {
    for (const t of ['video/session/tab1/live', 'client/resp/1', 'me', 'a/b/c/d']) expect(replyTopicProblem(t, topics)).toBeNull();
  });

  it('accepts reply topics below a request topic (the seed client answers on client/describe/response_<n>)', () => {
    const seed = createTopics('client');
    expect(replyTopicProblem('client/describe/response_1', seed)).toBeNull();
    expect(replyTopicProblem('video/play/mine', topics)).toBeNull();
    expect(replyTopicProblem('client/describe', seed)).toContain('request topic');
  });
});
