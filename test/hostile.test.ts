/**
 * Hostile URLs and request bodies, table-driven: each is refused with a coded
 * error, nothing refused before spawning starts a process, and no local file
 * content ever reaches a published message. Then a fuzz run: thousands of
 * random and mutated payloads, after which the server still plays.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCount } from '../media-server/ffmpeg/ffmpeg-process.js';
import type { Service } from '../media-server/service.js';
import { makeMediaFixtures, type MediaFixtures } from './helpers/fixtures.js';
import { startStaticServer, type StaticServer } from './helpers/http-server.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';

let fixtures: MediaFixtures;
let http: StaticServer;
let other: StaticServer;
let service: Service;
let spy: MqttClient;
const published: Buffer[] = [];
const replies = new Map<string, Array<Record<string, unknown>>>();

const PASSWD_MARK = 'root:x:0:0';

/** HLS playlists on the allowed host whose one segment points somewhere it must not go. */
const EVIL_SEGMENTS: Record<string, () => string> = {
  file: () => 'file:///etc/passwd',
  'other-host': () => `${other.url}/hls/seg_001.ts`,
  private: () => 'http://10.255.255.1/seg.ts',
  'loopback-name': () => `http://localhost:${http.port}/hls/seg_002.ts`,
};

beforeAll(async () => {
  fixtures = await makeMediaFixtures();
  http = await startStaticServer(fixtures.dir);
  other = await startStaticServer(fixtures.dir); // a host that is NOT allowed, serving real media
  const playlist = (segment: string): string =>
    ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:1', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXTINF:1.0,', segment, '#EXT-X-ENDLIST', ''].join('\n');
  for (const [name, segment] of Object.entries(EVIL_SEGMENTS)) {
    await writeFile(path.join(fixtures.hlsDir, `evil-${name}.m3u8`), playlist(segment()));
  }
  http.redirect('/hls/to-private.mp4', 'http://10.255.255.1/x.mp4');
  http.redirect('/hls/to-other.mp4', `${other.url}/baseline.mp4`);
  http.redirect('/hls/to-file.mp4', 'file:///etc/passwd');
  http.redirect('/hls/to-metadata.mp4', 'http://169.254.169.254/latest/meta-data/');
  service = await startTestService({ allow: [`${http.url}/hls/*`, `http://localhost:${http.port}/*`, 'rtsp://*.cams.test/*'] });
  spy = await mqtt.connectAsync(service.urls.mqtt, { protocolVersion: 4 });
  await spy.subscribeAsync('#');
  spy.on('message', (topic, payload) => {
    published.push(payload);
    if (payload[0] === 0x7b) {
      try {
        const body = JSON.parse(payload.toString()) as Record<string, unknown>;
        const key = topic.endsWith('/status') ? topic.slice(0, -7) : topic === 'video/errors' ? String(body.request_id) : topic;
        replies.set(key, [...(replies.get(key) ?? []), body]);
      } catch {
        // requests from the fuzzer are not JSON; they are not replies
      }
    }
  });
}, 120_000);

afterAll(async () => {
  await spy?.endAsync();
  await service?.close();
  await Promise.all([http?.close(), other?.close()]);
  await fixtures?.close();
  expect(mediaProcesses()).toEqual([]);
  expect(published.some((p) => p.includes(PASSWD_MARK))).toBe(false);
});

/** Sends a play with its own reply topic and waits for the coded error answering it. */
async function refusal(body: Record<string, unknown>, kind: 'play' | 'describe' = 'play'): Promise<Record<string, unknown>> {
  const id = `h-${randomBytes(4).toString('hex')}`;
  const reply = `hostile/${id}`;
  await spy.publishAsync(`video/${kind}`, JSON.stringify({ reply_topic: reply, request_id: id, ...body }), { qos: 1 });
  return waitFor(() => [...(replies.get(reply) ?? []), ...(replies.get(id) ?? [])].find((b) => b.code !== undefined), {
    message: `coded error for ${JSON.stringify(body).slice(0, 120)}`,
  });
}

const local = (p: string): string => `${http.url}/hls/${p}`;

/** [description, request fields, acceptable codes]. Refused before any process starts. */
const BEFORE_SPAWN: Array<[string, Record<string, unknown>, string[]]> = [
  ...[
    'file:///etc/passwd', 'FILE:///etc/passwd', 'file:/etc/passwd', 'file://localhost/etc/passwd', '/etc/passwd', '../../etc/passwd',
    'concat:http://x/a|file:///etc/passwd', 'subfile:,start,0,end,0,:file:///etc/passwd', 'pipe:0', 'fd:3', 'data:video/mp4;base64,AAAA',
    'lavfi:testsrc', 'tcp://127.0.0.1:22', 'udp://127.0.0.1:9', 'gopher://127.0.0.1:70/', 'ftp://127.0.0.1/x', 'rtmp://127.0.0.1/live',
    'srt://127.0.0.1:9000', 'crypto:file:///etc/passwd', 'cache:file:///etc/passwd', 'async:file:///etc/passwd', 'unix:/run/x.sock',
    'javascript:alert(1)', '-i /etc/passwd', '-f lavfi', '-y', ' http://127.0.0.1/x',
  ].map((url): [string, Record<string, unknown>, string[]] => [`scheme/option: ${url}`, { url }, ['URL_NOT_ALLOWED']]),
  // Userinfo and look-alike hosts around the allowed host.
  ['userinfo trick', { url: `http://127.0.0.1:${0}@10.0.0.1/hls/x` }, ['URL_NOT_ALLOWED']],
  ['allowed host as userinfo', { url: `http://127.0.0.1:PORT@evil.test/hls/index.m3u8` }, ['URL_NOT_ALLOWED']],
  ['allowed host as subdomain', { url: 'http://127.0.0.1.evil.test/hls/index.m3u8' }, ['URL_NOT_ALLOWED']],
  ['allowed URL in the path', { url: 'http://evil.test/http://127.0.0.1/hls/index.m3u8' }, ['URL_NOT_ALLOWED']],
  ['credentials not in the entry', { url: 'CREDS' }, ['URL_NOT_ALLOWED']],
  ['prefix boundary', { url: 'PREFIX_BOUNDARY' }, ['URL_NOT_ALLOWED']],
  ['dot-dot out of the prefix', { url: 'DOTDOT' }, ['URL_NOT_ALLOWED']],
  ['encoded dot-dot out of the prefix', { url: 'ENCODED_DOTDOT' }, ['URL_NOT_ALLOWED']],
  // Private, loopback, link-local and metadata addresses in every spelling.
  ...[
    'http://127.0.0.1/', 'http://2130706433/', 'http://0x7f000001/', 'http://0177.0.0.1/', 'http://127.1/', 'http://0/', 'http://0.0.0.0/',
    'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/', 'http://10.0.0.1/', 'http://172.16.0.1/', 'http://192.168.1.1/', 'http://100.64.0.1/',
    'http://[fe80::1]/', 'http://localhost/', 'http://１２７.０.０.１/', 'rtsp://2130706433/', 'rtsp://127.0.0.1/cam',
    'rtsp://[::1]/cam',
  ].map((url): [string, Record<string, unknown>, string[]] => [`address: ${url}`, { url }, ['URL_NOT_ALLOWED']]),
  ['allowed DNS name that resolves to loopback', { url: 'LOCALHOST_NAME' }, ['URL_NOT_ALLOWED']],
  ['wildcard entry, name that does not resolve', { url: 'rtsp://nowhere.cams.test/x' }, ['SOURCE_UNAVAILABLE', 'URL_NOT_ALLOWED']],
  // Malformed strings.
  ...['NUL \u0000', 'newline \n', 'tab \t', 'line separator \u2028', 'space '].map((s): [string, Record<string, unknown>, string[]] => [
    `control character: ${JSON.stringify(s)}`, { url: `LOCAL${s}x` }, ['URL_NOT_ALLOWED'],
  ]),
  ['overlong URL', { url: `LOCAL${'a'.repeat(2100)}` }, ['INVALID_REQUEST']],
  ['URL as array', { url: ['http://x'] }, ['INVALID_REQUEST']],
  ['URL as object', { url: { href: 'http://x' } }, ['INVALID_REQUEST']],
  ['URL as number', { url: 42 }, ['INVALID_REQUEST']],
  ['URL null', { url: null }, ['INVALID_REQUEST']],
  ['source __proto__', { source: '__proto__' }, ['URL_NOT_ALLOWED']],
  ['source constructor', { source: 'constructor' }, ['URL_NOT_ALLOWED']],
  ['source path', { source: '../../etc/passwd' }, ['URL_NOT_ALLOWED']],
  ['both url and source', { url: 'http://x/', source: 'demo' }, ['INVALID_REQUEST']],
  ['codecs flood', { source: 'demo', codecs: Array.from({ length: 500 }, () => 'avc1') }, ['INVALID_REQUEST']],
  ['client_id overlong (play)', { source: 'demo', client_id: 'c'.repeat(500) }, ['INVALID_REQUEST']],
];

function concrete(url: unknown): unknown {
  if (typeof url !== 'string') return url;
  return url
    .replace('PORT', String(http.port))
    .replace(/^CREDS$/, `http://user:pass@127.0.0.1:${http.port}/hls/index.m3u8`)
    .replace(/^PREFIX_BOUNDARY$/, `${http.url}/hlsx/index.m3u8`)
    .replace(/^DOTDOT$/, `${http.url}/hls/../baseline.mp4`)
    .replace(/^ENCODED_DOTDOT$/, `${http.url}/hls/%2e%2e/baseline.mp4`)
    .replace(/^LOCALHOST_NAME$/, `http://localhost:${http.port}/hls/index.m3u8`)
    .replace(/^LOCAL/, `${http.url}/hls/`);
}

describe('hostile requests', () => {
  it(`has at least 60 cases (${BEFORE_SPAWN.length + 8})`, () => {
    expect(BEFORE_SPAWN.length + 8).toBeGreaterThanOrEqual(60);
  });

  it('refuses each before any process starts, with a coded error', async () => {
    const before = spawnCount();
    const wrong: string[] = [];
    for (const [name, body, codes] of BEFORE_SPAWN) {
      const req = { ...body, ...('url' in body ? { url: concrete(body.url) } : {}) };
      // describe has no client_id field (it is ignored there), so that case is a play-only one.
      for (const kind of name.endsWith('(play)') ? (['play'] as const) : (['play', 'describe'] as const)) {
        const err = await refusal(req, kind);
        if (!codes.includes(String(err.code))) wrong.push(`${kind} ${name}: got ${String(err.code)} (${String(err.error ?? err.message)})`);
      }
    }
    expect(wrong).toEqual([]);
    expect(spawnCount()).toBe(before);
  });

  it.each([
    ['redirect to a private address', 'to-private.mp4', '10.255.255.1'],
    ['redirect to a host that is not allowed', 'to-other.mp4', 'OTHER'],
    ['redirect to file:', 'to-file.mp4', undefined],
    ['redirect to the cloud metadata address', 'to-metadata.mp4', '169.254.169.254'],
  ])('refuses a %s from an allowed URL (the egress proxy sees every hop)', async (_name, file, target) => {
    const err = await refusal({ url: local(file) });
    expect(['SOURCE_UNAVAILABLE', 'URL_NOT_ALLOWED']).toContain(err.code);
    expect(other.requests).toEqual([]);
    if (target) {
      const host = target === 'OTHER' ? `127.0.0.1:${other.port}` : target;
      expect(service.mediaServer.egress.refusals.some((r) => r.url.includes(host))).toBe(true);
    }
  });

  it.each(Object.keys(EVIL_SEGMENTS))('plays nothing from an HLS playlist on the allowed host whose segment points at: %s', async (name) => {
    const v = await Viewer.connect(service.urls.mqtt);
    try {
      const refusedBefore = service.mediaServer.egress.refusals.length;
      await v.play({ url: local(`evil-${name}.m3u8`) });
      const end = await v.waitForStatus((s) => s.state === 'error' || s.state === 'ended');
      expect(end.state).toBe('error');
      expect(v.fragments).toEqual([]);
      expect(v.media.some((m) => m.includes(PASSWD_MARK))).toBe(false);
      expect(other.requests).toEqual([]); // the other host was never contacted
      if (name !== 'file') expect(service.mediaServer.egress.refusals.length).toBeGreaterThan(refusedBefore);
    } finally {
      await v.close();
    }
  });

  it('a request cannot pollute prototypes', async () => {
    await refusal({ source: 'nope', __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('fuzzing', () => {
  it('survives thousands of random and mutated payloads, then still plays', async () => {
    const valid = { source: 'demo', reply_topic: 'fuzz/ok', codecs: ['avc1.640028'], request_id: 'r' };
    const mutated = fc.record(
      {
        url: fc.oneof(fc.string(), fc.webUrl(), fc.constantFrom('file:///etc/passwd', local('index.m3u8'), '-i x')),
        source: fc.oneof(fc.string(), fc.constantFrom('nope', '__proto__')),
        reply_topic: fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('fuzz/a', '$SYS/x', 'a/#', 'video/play')),
        resp_topic: fc.string(),
        codecs: fc.oneof(fc.array(fc.string()), fc.string(), fc.integer()),
        seq: fc.oneof(fc.integer(), fc.double(), fc.string()),
        request_id: fc.oneof(fc.string({ maxLength: 300 }), fc.integer()),
      },
      { requiredKeys: [] },
    );
    const payloads: Array<string | Buffer> = [
      ...fc.sample(fc.jsonValue({ maxDepth: 6 }), 800).map((v) => JSON.stringify(v) ?? 'null'),
      ...fc.sample(mutated, 1500).map((v) => JSON.stringify(v)),
      ...fc.sample(fc.uint8Array({ maxLength: 2048 }), 400).map((b) => Buffer.from(b)),
      ...fc.sample(fc.string({ unit: 'binary', maxLength: 1000 }), 400),
      `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
      JSON.stringify({ ...valid, url: 'x'.repeat(100_000) }),
    ];
    const kinds = ['describe', 'play', 'stop', 'ack'];
    const before = service.mediaServer.metrics.requests;
    const total = (): number => kinds.reduce((n, k) => n + before.get({ kind: k }), 0);
    const start = total();
    for (let i = 0; i < payloads.length; i++) spy.publish(`video/${kinds[i % 4]}`, payloads[i]!);
    await waitFor(() => total() - start >= payloads.length, { timeoutMs: 60_000, message: 'every fuzz payload handled' });
    expect(service.mediaServer.metrics.rejected.get({ code: 'INTERNAL' })).toBe(0);
    expect(published.some((p) => p.includes(PASSWD_MARK))).toBe(false);

    const v = await Viewer.connect(service.urls.mqtt);
    try {
      await v.play({ source: 'demo' });
      await v.waitForFragments(2, 30_000);
    } finally {
      await v.close();
    }
  });
});

describe('hostile HTTP paths', () => {
  /** A raw GET of `target` (as written: node's fetch would normalise `//`), its status. */
  function rawGet(target: string): Promise<number> {
    const { port } = new URL(service.urls.web);
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: Number(port), path: target, method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers paths that do not parse as URLs (//, //?x, //[) and keeps serving', async () => {
    for (const target of ['//', '//?mode=webcodecs', '//[', '///healthz', '/%%']) {
      const status = await rawGet(target);
      expect(status, target).toBeGreaterThanOrEqual(200);
      expect(status, target).toBeLessThan(500);
    }
    expect(await rawGet('/healthz')).toBe(200);
  });
});
