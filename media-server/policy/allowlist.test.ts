import { describe, expect, it } from 'vitest';
import { MqttcastError } from '../../protocol/index.js';
import { Allowlist, AllowlistEntryError } from './allowlist.js';

const list = new Allowlist([
  'rtsp://cam.example:554/stream1',
  'http://media.example/videos/*',
  'rtsp://*.cams.example/*',
  'http://127.0.0.1:8000/*',
  'rtsp://user:secret@door.example/live',
]);

function refused(url: string): string {
  try {
    list.check(url);
  } catch (err) {
    expect(err).toBeInstanceOf(MqttcastError);
    expect((err as MqttcastError).code).toBe('URL_NOT_ALLOWED');
    return (err as MqttcastError).message;
  }
  throw new Error(`${url} was allowed`);
}

describe('Allowlist', () => {
  it.each([
    ['rtsp://cam.example/stream1', 'rtsp://cam.example/stream1'],
    ['rtsp://CAM.example:554/stream1', 'rtsp://cam.example/stream1'],
    ['http://media.example/videos/a.mp4', 'http://media.example/videos/a.mp4'],
    ['http://media.example/videos/sub/b.m3u8?x=1', 'http://media.example/videos/sub/b.m3u8?x=1'],
    ['rtsp://gate.cams.example/any/path', 'rtsp://gate.cams.example/any/path'],
    ['http://127.0.0.1:8000/x.mp4', 'http://127.0.0.1:8000/x.mp4'],
    ['rtsp://user:secret@door.example/live', 'rtsp://user:secret@door.example/live'],
    ['http://media.example/videos/a.mp4#frag', 'http://media.example/videos/a.mp4'],
    ['http://media.example/other/../videos/a.mp4', 'http://media.example/videos/a.mp4'],
  ])('allows %s (normalised to %s)', (url, normalised) => {
    expect(list.check(url)).toBe(normalised);
  });

  it.each([
    ['rtsp://cam.example/stream2', 'allowlist'],
    ['rtsp://cam.example:8554/stream1', 'allowlist'],
    ['http://media.example/videos2/a.mp4', 'allowlist'],
    ['http://media.example/videos', 'allowlist'],
    ['http://media.example/videos/../other/a.mp4', 'allowlist'],
    ['http://media.example/videos/%2e%2e/other/a.mp4', 'allowlist'],
    ['https://media.example/videos/a.mp4', 'allowlist'],
    ['rtsp://cams.example/x', 'allowlist'],
    ['rtsp://evil.example/?.cams.example', 'allowlist'],
    ['rtsp://cam.example@evil.example/stream1', 'allowlist'],
    ['rtsp://door.example/live', 'allowlist'],
    ['rtsp://user:wrong@door.example/live', 'allowlist'],
    ['http://127.0.0.1:8001/x.mp4', 'allowlist'],
    ['file:///etc/passwd', 'scheme'],
    ['concat:http://media.example/videos/a.mp4', 'scheme'],
    ['-i /etc/passwd', 'must not start with "-"'],
    ['http://media.example/videos/a b.mp4', 'whitespace'],
    ['http://media.example/videos/a.mp4\n', 'whitespace'],
    ['data:text/plain,hi', 'scheme'],
    [`http://media.example/videos/${'a'.repeat(2100)}`, 'longer than'],
    ['notaurl', 'not a valid'],
  ])('refuses %s', (url, why) => {
    expect(refused(url)).toContain(why);
  });

  it('never lets a host wildcard match an IP literal', () => {
    const wide = new Allowlist(['http://*.example/*']);
    expect(() => wide.check('http://10.0.0.1/x')).toThrow(MqttcastError);
    expect(() => wide.check('http://[::1]/x')).toThrow(MqttcastError);
  });

  it('refuses bad entries at start-up, and lists entries without credentials', () => {
    expect(() => new Allowlist(['file:///tmp/*'])).toThrow(AllowlistEntryError);
    expect(() => new Allowlist(['not a url'])).toThrow(AllowlistEntryError);
    expect(list.summary()).toContain('rtsp://*.cams.example/*');
    expect(list.summary().join(' ')).not.toContain('secret');
  });
});
