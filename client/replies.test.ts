import { describe, expect, it } from 'vitest';
import { parseReply, parseStatus, statusEvent } from './replies.js';

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe('parseReply', () => {
  it('reads a successful describe reply', () => {
    const reply = parseReply(
      json({ ok: true, mimeCodec: 'video/mp4; codecs="avc1.640028"', mode: 'copy', tracks: [], live: true, error: '', request_id: 'd-1' }),
    );
    expect(reply).toEqual({
      kind: 'described',
      described: { mimeCodec: 'video/mp4; codecs="avc1.640028"', mode: 'copy', live: true },
      requestId: 'd-1',
    });
  });

  it('accepts a describe reply of a server that omits fields playback does not need', () => {
    const reply = parseReply(json({ ok: true, mimeCodec: 'video/mp4; codecs="avc1.42E01E"', error: '' }));
    expect(reply).toMatchObject({ kind: 'described', described: { live: true, mode: '' } });
  });

  it('reads coded errors, including ones with an unknown code', () => {
    expect(parseReply(json({ ok: false, code: 'URL_NOT_ALLOWED', error: 'no' }))).toEqual({
      kind: 'error',
      code: 'URL_NOT_ALLOWED',
      error: 'no',
      requestId: undefined,
    });
    expect(parseReply(json({ ok: false, code: 'NEW_CODE', error: 'later' }))).toMatchObject({ kind: 'error', code: 'NEW_CODE' });
  });

  it('says unknown for anything else', () => {
    expect(parseReply(new TextEncoder().encode('{not json')).kind).toBe('unknown');
    expect(parseReply(json([1, 2])).kind).toBe('unknown');
    expect(parseReply(json({ hello: 1 })).kind).toBe('unknown');
  });
});

describe('statusEvent', () => {
  const status = (value: unknown) => parseStatus(json(value))!;

  it('reports progress with the skipped count', () => {
    expect(statusEvent(status({ state: 'playing', skipped: 4 }), 'p-1')).toEqual({ kind: 'progress', skipped: 4, mode: undefined });
  });

  it('ignores other plays, our own stop, and stops that found no session', () => {
    expect(statusEvent(status({ state: 'error', code: 'INTERNAL', request_id: 'p-0' }), 'p-1').kind).toBe('ignore');
    expect(statusEvent(status({ state: 'ended', reason: 'stop' }), 'p-1').kind).toBe('ignore');
    expect(statusEvent(status({ state: 'error', code: 'SESSION_NOT_FOUND' }), 'p-1').kind).toBe('ignore');
  });

  it('reports the end of the source and errors of this play', () => {
    expect(statusEvent(status({ state: 'ended', reason: 'source_ended' }), 'p-1')).toEqual({ kind: 'ended', reason: 'source_ended' });
    expect(statusEvent(status({ state: 'error', code: 'FFMPEG_FAILED', message: 'exit 1', request_id: 'p-1' }), 'p-1')).toEqual({
      kind: 'error',
      code: 'FFMPEG_FAILED',
      message: 'exit 1',
    });
  });

  it('refuses malformed status messages', () => {
    expect(parseStatus(json({ state: 'dancing' }))).toBeNull();
  });
});
