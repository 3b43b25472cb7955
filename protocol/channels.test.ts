import { describe, expect, it } from 'vitest';
import {
  ChannelMetaSchema, MqttcastError, channelFilter, channelNameProblem, channelTopics, isValidChannelName,
  parseChannelMeta, parseChannelTopic, topicMatches,
} from './index.js';

const LIVE = {
  state: 'live',
  mimeCodec: 'video/mp4; codecs="avc1.64001F, mp4a.40.2"',
  tracks: [{ id: 1, type: 'video', codec: 'avc1.64001F', width: 1280, height: 720 }],
  publisher: 'pi-cam:1234',
  started_at: '2026-01-02T03:04:05.678Z',
  bitrate: 2_000_000,
  gop: 1,
};

describe('channel names', () => {
  it.each(['cam1', 'Front-Door_2', 'a.b', 'x', 'z'.repeat(64), '-', '...'])('accepts %s', (name) => {
    expect(isValidChannelName(name)).toBe(true);
    expect(channelNameProblem(name)).toBeNull();
  });

  it.each([
    ['empty', '', /empty/],
    ['two levels', 'a/b', /one topic level/],
    ['too long', 'z'.repeat(65), /at most 64/],
    ['wildcard +', 'cam+', /letters, digits/],
    ['wildcard #', '#', /letters, digits/],
    ['space', 'my cam', /letters, digits/],
    ['NUL', 'a\u0000', /letters, digits/],
    ['non-ASCII', 'caméra', /letters, digits/],
  ])('refuses %s', (_what, name, why) => {
    expect(isValidChannelName(name)).toBe(false);
    expect(channelNameProblem(name)).toMatch(why);
  });
});

describe('channel topics', () => {
  it('builds the four topics of a channel under the prefix', () => {
    const t = channelTopics('video', 'cam1');
    expect(t).toEqual({
      name: 'cam1',
      init: 'video/live/cam1/init',
      data: 'video/live/cam1/data',
      meta: 'video/live/cam1/meta',
      snapshot: 'video/live/cam1/snapshot',
      all: 'video/live/cam1/#',
    });
    expect(Object.isFrozen(t)).toBe(true);
    expect(channelTopics('site/a', 'x').init).toBe('site/a/live/x/init');
  });

  it('refuses a bad name or prefix with INVALID_REQUEST naming the problem', () => {
    const err = (() => {
      try {
        channelTopics('video', 'a/b');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(MqttcastError);
    expect((err as MqttcastError).code).toBe('INVALID_REQUEST');
    expect((err as MqttcastError).message).toMatch(/"a\/b".*one topic level/);
    expect(() => channelTopics('vi+deo', 'cam')).toThrow(/prefix/);
  });

  it('filters cover every channel of one kind, or the whole tree', () => {
    expect(channelFilter('video', 'meta')).toBe('video/live/+/meta');
    expect(channelFilter('video')).toBe('video/live/#');
    const t = channelTopics('video', 'cam1');
    expect(topicMatches(channelFilter('video', 'meta'), t.meta)).toBe(true);
    expect(topicMatches(channelFilter('video', 'meta'), t.init)).toBe(false);
    for (const topic of [t.init, t.data, t.meta, t.snapshot]) expect(topicMatches(channelFilter('video'), topic)).toBe(true);
    expect(topicMatches(t.all, t.data)).toBe(true);
  });

  it('parses a channel topic back to name and kind', () => {
    const t = channelTopics('video', 'cam.1');
    expect(parseChannelTopic('video', t.init)).toEqual({ name: 'cam.1', kind: 'init' });
    expect(parseChannelTopic('video', t.data)).toEqual({ name: 'cam.1', kind: 'data' });
    expect(parseChannelTopic('video', t.meta)).toEqual({ name: 'cam.1', kind: 'meta' });
    expect(parseChannelTopic('video', t.snapshot)).toEqual({ name: 'cam.1', kind: 'snapshot' });
    expect(parseChannelTopic('site/a', 'site/a/live/x/data')).toEqual({ name: 'x', kind: 'data' });
  });

  it.each([
    'video/live/cam1',
    'video/live/cam1/other',
    'video/live/cam1/data/extra',
    'video/live//data',
    'other/live/cam1/data',
    'video/play',
    'videos/live/cam1/data',
  ])('does not take %s for a channel topic', (topic) => {
    expect(parseChannelTopic('video', topic)).toBeNull();
  });
});

describe('channel meta', () => {
  it('accepts a live meta and an offline last will', () => {
    expect(ChannelMetaSchema.parse(LIVE)).toMatchObject({ state: 'live', bitrate: 2_000_000 });
    const will = ChannelMetaSchema.parse({ state: 'offline', publisher: 'pi-cam:1234', started_at: LIVE.started_at, reason: 'connection_lost' });
    expect(will.tracks).toEqual([]);
    expect(will.mimeCodec).toBeUndefined();
  });

  it.each([
    ['live without mimeCodec', { ...LIVE, mimeCodec: undefined }, /mimeCodec/],
    ['unknown state', { ...LIVE, state: 'paused' }, /state/],
    ['no publisher', { ...LIVE, publisher: undefined }, /publisher/],
    ['started_at not a time', { ...LIVE, started_at: 'yesterday' }, /started_at/],
    ['negative bitrate', { ...LIVE, bitrate: -1 }, /bitrate/],
    ['bad track', { ...LIVE, tracks: [{ id: 1, type: 'subtitle', codec: 'x' }] }, /tracks/],
  ])('refuses %s', (_what, value, why) => {
    expect(() => parseChannelMeta(JSON.stringify(value))).toThrow(why);
  });

  it('reads a meta from MQTT payload bytes, and refuses non-JSON with a coded error', () => {
    expect(parseChannelMeta(new TextEncoder().encode(JSON.stringify(LIVE))).mimeCodec).toBe(LIVE.mimeCodec);
    expect(() => parseChannelMeta('{')).toThrow(MqttcastError);
    expect(() => parseChannelMeta('{')).toThrow(/not valid JSON/);
  });
});
