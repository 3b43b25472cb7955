/** The stderr below was captured from Debian's ffmpeg/ffprobe 5.1 against real local servers. */
import { describe, expect, it } from 'vitest';
import { FASTSTART_ADVICE, cleanLine, diagnose } from './ffmpeg-diagnosis.js';

const CAPTURED = {
  // python3 -m http.server (no Range), MP4 written without +faststart.
  moovAtEndNoRange: [
    '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55db03c72b00] stream 1, offset 0x30: partial file',
    '[http @ 0x55db03c73340] Stream ends prematurely at 48, should be 305996',
    '    Last message repeated 1 times',
    'http://127.0.0.1:18931/moovend.mp4: Input/output error',
  ],
  httpRefused: [
    '[tcp @ 0x5644bc2b7780] Connection to tcp://127.0.0.1:1 failed: Connection refused',
    'http://127.0.0.1:1/x.mp4: Connection refused',
  ],
  rtspRefused: [
    '[tcp @ 0x5627139d0e00] Connection to tcp://127.0.0.1:1?timeout=10000000 failed: Connection refused',
    'rtsp://127.0.0.1:1/x: Connection refused',
  ],
  http404: ['http://127.0.0.1:18931/missing.mp4: Server returned 404 Not Found'],
  http401: ['http://127.0.0.1:18932/401: Server returned 401 Unauthorized (authorization failed)'],
  http403: ['http://127.0.0.1:18932/403: Server returned 403 Forbidden (access denied)'],
  http500: ['http://127.0.0.1:18932/500: Server returned 5XX Server Error reply'],
  dns: [
    '[tcp @ 0x55ac885a2780] Failed to resolve hostname nonexistent.invalid: Name or service not known',
    'http://nonexistent.invalid/x.mp4: Input/output error',
  ],
  // A TCP server that accepts and never answers (-rw_timeout 10 s).
  httpTimeout: ['http://127.0.0.1:18933/x.mp4: Connection timed out'],
  rtspSilent: ['rtsp://127.0.0.1:18933/silent: Invalid data found when processing input'],
  // GStreamer RTSP server SIGSTOPped while playing.
  rtspStalled: ['rtsp://127.0.0.1:18935/test: Connection timed out'],
  notMp4: [
    '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55cf6cb5eac0] moov atom not found',
    'http://127.0.0.1:18932/text.mp4: Invalid data found when processing input',
  ],
  randomBytes: ['http://127.0.0.1:18931/random.bin: Invalid data found when processing input'],
  rtsp404: ['[rtsp @ 0x562481b7eb00] method DESCRIBE failed: 404 Not Found', 'rtsp://127.0.0.1:18934/404: Server returned 404 Not Found'],
  rtsp401: [
    '[rtsp @ 0x55c663bd4b00] method DESCRIBE failed: 401 Unauthorized',
    'rtsp://127.0.0.1:18934/401: Server returned 401 Unauthorized (authorization failed)',
  ],
  rtsp454Setup: [
    '[rtsp @ 0x55d193b29b00] method SETUP failed: 454 Session Not Found',
    'rtsp://127.0.0.1:18934/454: Server returned 4XX Client Error, but not one of 40{0,1,3,4}',
  ],
  rtsp454Play: [
    '[rtsp @ 0x55bbcb3a9b00] method PLAY failed: 454 Session Not Found',
    'rtsp://127.0.0.1:18934/p454: Server returned 4XX Client Error, but not one of 40{0,1,3,4}',
  ],
  unknownCodec: ['Decoder (codec none) not found for input stream #0:0'],
  codecNotInMp4: [
    '[mp4 @ 0x557575cf6140] Could not find tag for codec pcm_mulaw in stream #0, codec not currently supported in container',
    'Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument',
    'Error initializing output stream 0:0 -- ',
  ],
  fileMissing: ['file:/tmp/qe/nonexistent.mp4: No such file or directory'],
  hlsFileSegment: [
    "[file @ 0x55a2af239980] Protocol 'file' not on whitelist 'http,https,httpproxy,tcp,tls,crypto'!",
    "[hls @ 0x55a2af235ac0] Error when loading first segment 'file:///tmp/qe/hls/seg_000.ts'",
    'http://127.0.0.1:18931/hls/evil.m3u8: Invalid data found when processing input',
  ],
  hlsMissingSegment: [
    "[hls @ 0x564fd65b4ac0] Error when loading first segment 'http://127.0.0.1:18931/hls/missing_000.ts'",
    'http://127.0.0.1:18931/hls/missing.m3u8: Invalid data found when processing input',
  ],
  // Server resets the connection mid-body; ffmpeg exits 0 with what it had.
  reset: ['[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5651a82fdac0] stream 1, offset 0x1d52f: partial file', 'http://127.0.0.1:18936/x.mp4: Connection reset by peer'],
  // A faststart MP4 cut short, read from disk.
  truncated: [
    '[NULL @ 0x55c996434100] Invalid NAL unit size (2591 > 495).',
    '[NULL @ 0x55c996434100] missing picture in access unit with size 499',
    '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55c99642fac0] stream 1, offset 0x25220: partial file',
  ],
  outOfMemory: [
    'x264 [error]: malloc of size 21414530 failed',
    'Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height',
  ],
  libraries: ['ffmpeg: error while loading shared libraries: liblapack.so.3: failed to map segment from shared object'],
} satisfies Record<string, string[]>;

const text = (lines: string[]): string => lines.join('\n') + '\n';

describe('diagnose', () => {
  const cases: Array<[keyof typeof CAPTURED, RegExp | string, boolean?]> = [
    ['moovAtEndNoRange', FASTSTART_ADVICE, true],
    ['httpRefused', /refused the connection: nothing is listening/],
    ['rtspRefused', /refused the connection/],
    ['http404', /nothing at this address \(404 Not Found\)/],
    ['http401', /requires authentication \(401/],
    ['http403', /refused access \(403 Forbidden\)/],
    ['http500', /HTTP 5xx error/],
    ['dns', /host name could not be resolved/],
    ['httpTimeout', /did not answer in time \(connection timed out\)/, true],
    ['rtspStalled', /did not answer in time/, true],
    ['rtspSilent', /RTSP server gave no valid answer/],
    ['notMp4', /not a complete MP4: its index \(moov\) is missing/],
    ['randomBytes', /not audio or video that ffmpeg can read/],
    ['rtsp404', /RTSP server has no stream at this path \(404/],
    ['rtsp401', /rtsp:\/\/user:password@host\/path/],
    ['rtsp454Setup', /454 Session Not Found to SETUP/],
    ['rtsp454Play', /454 Session Not Found to PLAY/],
    ['unknownCodec', /codec ffmpeg does not know/],
    ['codecNotInMp4', /pcm_mulaw codec cannot be carried in MP4/],
    ['fileMissing', /^the file does not exist$/],
    ['hlsFileSegment', /refers to a file: address/],
    ['hlsMissingSegment', /first segment listed in the HLS playlist could not be loaded/],
    ['reset', /closed the connection unexpectedly \(connection reset\)/, true],
    ['truncated', /cut short/, true],
    ['outOfMemory', /out of memory/],
    ['libraries', /could not start/],
  ];
  for (const [name, expected, interrupted = false] of cases) {
    it(`explains ${name}`, () => {
      const d = diagnose(text(CAPTURED[name]), { kind: name.startsWith('rtsp') ? 'rtsp' : 'http' });
      if (typeof expected === 'string') expect(d.reason).toBe(expected);
      else expect(d.reason).toMatch(expected);
      expect(d.interrupted).toBe(interrupted);
      expect(d.reason).not.toMatch(/127\.0\.0\.1|\/tmp\/|0x[0-9a-f]{6}/);
    });
  }

  it('reads "partial file" before any media over HTTP as moov at the end without Range (the proxied seek hangs)', () => {
    // Captured through the egress proxy: ffmpeg logged this, then hung on the seek back until stopped.
    const stderr = '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x561314437c00] stream 1, offset 0x30: partial file\n';
    expect(diagnose(stderr, { kind: 'http', beforeMedia: true }).reason).toBe(FASTSTART_ADVICE);
    expect(diagnose(stderr, { kind: 'http', beforeMedia: false }).reason).toMatch(/cut short/);
    expect(diagnose(stderr, { kind: 'file', beforeMedia: true }).reason).toMatch(/cut short/);
  });

  it('keeps the raw last line for the logs, skipping "Last message repeated"', () => {
    const d = diagnose(text(CAPTURED.moovAtEndNoRange));
    expect(d.lastLine).toBe('http://127.0.0.1:18931/moovend.mp4: Input/output error');
  });

  it('is silent about an empty stderr, and not interrupted', () => {
    expect(diagnose('')).toEqual({ reason: undefined, interrupted: false, known: false, lastLine: '' });
  });

  it('falls back to the last line without URLs, paths or ffmpeg addresses', () => {
    const d = diagnose('[aac @ 0x55d1] Something new from file:/srv/media/a.mp4 via rtsp://u:p@cam/x at /var/lib/x.mp4\n');
    expect(d.reason).toBe('ffmpeg reported: Something new from the source via the source at a file');
    expect(d.interrupted).toBe(false);
  });

  it('cleanLine strips prefixes and keeps ordinary text', () => {
    expect(cleanLine('[hls @ 0x564fd65b4ac0] Error when loading first segment')).toBe('Error when loading first segment');
  });
});
