/**
 * Bad input gets a clear, coded error — on the reply topic when it is usable,
 * else on `video/errors` — never crashes the server and never starts ffmpeg.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCount } from '../media-server/ffmpeg/ffmpeg-process.js';
import type { Service } from '../media-server/service.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';

let service: Service;
let client: MqttClient;
const received: Array<{ topic: string; body: Record<string, unknown> }> = [];

beforeAll(async () => {
  service = await startTestService();
  client = await mqtt.connectAsync(service.urls.mqtt, { protocolVersion: 4 });
  client.on('message', (topic, payload) => {
    if (payload[0] === 0x7b) received.push({ topic, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
  });
  await client.subscribeAsync(['video/errors', 'bad/#']);
});

afterAll(async () => {
  await client?.endAsync();
  await service?.close();
  expect(mediaProcesses()).toEqual([]);
});

async function send(kind: string, payload: string | Buffer): Promise<void> {
  await client.publishAsync(`video/${kind}`, payload, { qos: 1 });
}

const reply = (name: string): string => `bad/${name}-${randomBytes(3).toString('hex')}`;

async function expectErrorOn(topic: string, code: string, requestId?: string): Promise<Record<string, unknown>> {
  const hit = await waitFor(() => received.find((r) => r.topic === topic && r.body.code === code && (!requestId || r.body.request_id === requestId)), {
    message: `${code} on ${topic}`,
  });
  expect(hit.body.ok === false || hit.body.state === 'error').toBe(true);
  expect(typeof (hit.body.error ?? hit.body.message)).toBe('string');
  expect(JSON.stringify(hit.body)).not.toMatch(/\n\s+at /); // no stack traces
  return hit.body;
}

describe('malformed requests', () => {
  it('answers each bad describe on its reply topic with a coded error', async () => {
    const cases: Array<[string, (topic: string) => string, string]> = [
      ['missing url and source', (t) => JSON.stringify({ reply_topic: t }), 'INVALID_REQUEST'],
      ['url of the wrong type', (t) => JSON.stringify({ url: 5, reply_topic: t }), 'INVALID_REQUEST'],
      ['both url and source', (t) => JSON.stringify({ url: 'http://a/b', source: 'demo', reply_topic: t }), 'INVALID_REQUEST'],
      ['codecs not a list', (t) => JSON.stringify({ source: 'demo', codecs: 'avc1', reply_topic: t }), 'INVALID_REQUEST'],
      ['unknown named source', (t) => JSON.stringify({ source: 'nope', reply_topic: t }), 'URL_NOT_ALLOWED'],
      ['file: URL', (t) => JSON.stringify({ url: 'file:///etc/passwd', reply_topic: t }), 'URL_NOT_ALLOWED'],
      ['option injection', (t) => JSON.stringify({ url: '-i /etc/passwd', reply_topic: t }), 'URL_NOT_ALLOWED'],
      ['overlong url', (t) => JSON.stringify({ url: `http://x/${'a'.repeat(3000)}`, reply_topic: t }), 'INVALID_REQUEST'],
    ];
    const before = spawnCount();
    for (const [name, body, code] of cases) {
      const topic = reply(name.replace(/\W+/g, '-'));
      await send('describe', body(topic));
      await expectErrorOn(topic, code);
    }
    expect(spawnCount()).toBe(before);
  });

  it('reports requests without a usable reply topic on video/errors', async () => {
    const cases: Array<[string, string | Buffer, string]> = [
      ['not JSON', 'this is not json', 'INVALID_REQUEST'],
      ['JSON array', '[1,2,3]', 'INVALID_REQUEST'],
      ['JSON null', 'null', 'INVALID_REQUEST'],
      ['random bytes', randomBytes(512), 'INVALID_REQUEST'],
      ['no reply topic', JSON.stringify({ source: 'demo', request_id: 'no-reply' }), 'INVALID_REQUEST'],
      ['# wildcard', JSON.stringify({ source: 'demo', reply_topic: 'a/#', request_id: 'hash' }), 'REPLY_TOPIC_INVALID'],
      ['+ wildcard', JSON.stringify({ source: 'demo', reply_topic: 'a/+/b', request_id: 'plus' }), 'REPLY_TOPIC_INVALID'],
      ['$ topic', JSON.stringify({ source: 'demo', reply_topic: '$SYS/x', request_id: 'dollar' }), 'REPLY_TOPIC_INVALID'],
      ['request topic', JSON.stringify({ source: 'demo', reply_topic: 'video/play', request_id: 'loop' }), 'REPLY_TOPIC_INVALID'],
      ['empty', JSON.stringify({ source: 'demo', reply_topic: '', request_id: 'empty' }), 'REPLY_TOPIC_INVALID'],
      ['too large', JSON.stringify({ source: 'demo', reply_topic: 'bad/big', pad: 'x'.repeat(20_000) }), 'INVALID_REQUEST'],
      ['deep nesting', `${'['.repeat(5000)}${']'.repeat(5000)}`, 'INVALID_REQUEST'],
    ];
    const before = spawnCount();
    for (const kind of ['describe', 'play']) {
      for (const [, payload, code] of cases) {
        const count = received.filter((r) => r.topic === 'video/errors' && r.body.code === code && r.body.request === kind).length;
        await send(kind, payload);
        await waitFor(() => received.filter((r) => r.topic === 'video/errors' && r.body.code === code && r.body.request === kind).length > count, {
          message: `${code} for ${kind} on video/errors`,
        });
      }
    }
    expect(spawnCount()).toBe(before);
  });

  it('answers a bad play on the status topic too, and a stop/ack of an unknown session with SESSION_NOT_FOUND', async () => {
    const topic = reply('play');
    await send('play', JSON.stringify({ url: 'gopher://x/y', reply_topic: topic, request_id: 'p1' }));
    await expectErrorOn(`${topic}/status`, 'URL_NOT_ALLOWED', 'p1');
    await expectErrorOn(topic, 'URL_NOT_ALLOWED', 'p1');
    const other = reply('stop');
    await send('stop', JSON.stringify({ reply_topic: other }));
    await expectErrorOn(`${other}/status`, 'SESSION_NOT_FOUND');
    await send('ack', JSON.stringify({ reply_topic: other, seq: 3 }));
    await send('ack', JSON.stringify({ reply_topic: other, seq: -1 }));
    await expectErrorOn(`${other}/status`, 'INVALID_REQUEST');
  });

  it('refuses a second play on a reply topic in use without touching the first stream', async () => {
    const first = await Viewer.connect(service.urls.mqtt);
    try {
      await first.play({ source: 'demo' });
      await first.waitForFragments(2);
      await send('play', JSON.stringify({ source: 'demo', reply_topic: first.replyTopic, request_id: 'dup' }));
      const err = await expectErrorOn('video/errors', 'REPLY_TOPIC_IN_USE', 'dup');
      expect(err.reply_topic).toBe(first.replyTopic);
      expect(first.json).toEqual([]); // no error JSON mixed into the first viewer's media
      const n = first.fragments.length;
      await first.waitForFragments(n + 2);
    } finally {
      await first.close();
    }
  });

  it('keeps serving a valid play after all of that', async () => {
    const v = await Viewer.connect(service.urls.mqtt);
    try {
      await v.play({ source: 'demo' });
      await v.waitForFragments(3);
      await v.send('stop', {});
      await v.waitForStatus((s) => s.state === 'ended');
    } finally {
      await v.close();
    }
    const errors = service.mediaServer.metrics.rejected;
    expect(errors.get({ code: 'INTERNAL' })).toBe(0);
  });
});
