import { describe, expect, it } from 'vitest';
import { FASTSTART_ADVICE } from './ffmpeg-diagnosis.js';
import { decideExit, type RunEnd } from './exit-decision.js';

const MOOV_AT_END =
  '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55db03c72b00] stream 1, offset 0x30: partial file\n' +
  '[http @ 0x55db03c73340] Stream ends prematurely at 48, should be 305996\n' +
  'http://127.0.0.1:18931/moovend.mp4: Input/output error\n';

function end(over: Partial<RunEnd>): RunEnd {
  return { exit: { code: 0, signal: null, stderr: '' }, live: false, hadInit: true, totalFragments: 10, restarts: 0, maxRestarts: 2, ...over };
}

describe('decideExit', () => {
  it('restarts a live RTSP source whose quick first analysis missed the picture size, once', () => {
    const stderr = '[mp4 @ 0x55e7b2742580] dimensions not set\nCould not write header for output file #0 (incorrect codec parameters ?): Invalid argument\n';
    const first = end({ kind: 'rtsp', live: true, hadInit: false, totalFragments: 0, exit: { code: 1, signal: null, stderr } });
    expect(decideExit(first)).toMatchObject({ action: 'restart' });
    expect(decideExit({ ...first, restarts: 1 })).toMatchObject({ action: 'failed' });
    expect(decideExit({ ...first, kind: 'http' })).toMatchObject({ action: 'failed' });
  });

  it('ends an on-demand source that delivered fragments and exited cleanly', () => {
    expect(decideExit(end({}))).toEqual({ action: 'ended' });
  });

  it('fails, never ends, a source that exited 0 after its init segment but before any fragment (moov at the end, no Range)', () => {
    const d = decideExit(end({ totalFragments: 0, exit: { code: 0, signal: null, stderr: MOOV_AT_END } }));
    expect(d).toEqual({ action: 'failed', message: `could not read the source: ${FASTSTART_ADVICE}` });
  });

  it('prefers a recognised reason over the stall when no fragment ever came (moov at the end, read through the proxy)', () => {
    const stderr = '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x561314437c00] stream 1, offset 0x30: partial file\n';
    const d = decideExit(end({ kind: 'http', totalFragments: 0, stalledMs: 2000, exit: { code: null, signal: 'SIGKILL', stderr } }));
    expect(d).toEqual({ action: 'failed', message: `could not read the source: ${FASTSTART_ADVICE}` });
  });

  it('fails a source that exited 0 with nothing to say before any fragment', () => {
    expect(decideExit(end({ totalFragments: 0 }))).toEqual({ action: 'failed', message: 'could not read the source: it ended before sending any video' });
  });

  it('fails an on-demand source cut off mid-way even though ffmpeg exited 0', () => {
    const stderr = '[mov @ 0x1] stream 1, offset 0x1d52f: partial file\nhttp://127.0.0.1:1/x.mp4: Connection reset by peer\n';
    expect(decideExit(end({ exit: { code: 0, signal: null, stderr } }))).toEqual({
      action: 'failed',
      message: 'the source stopped: the server closed the connection unexpectedly (connection reset)',
    });
  });

  it('says how long a stalled on-demand source was silent', () => {
    const d = decideExit(end({ stalledMs: 2004, exit: { code: null, signal: 'SIGTERM', stderr: '' } }));
    expect(d).toEqual({ action: 'failed', message: 'the source stopped sending video for 2 s' });
  });

  it('restarts a stalled live source, then fails it with the first reason once restarts run out', () => {
    const stalled = end({ live: true, kind: 'hls', stalledMs: 2000, exit: { code: 255, signal: null, stderr: '' } });
    const first = decideExit(stalled);
    expect(first).toEqual({ action: 'restart', outage: 'the source stopped sending video for 2 s (its live playlist is no longer updated)' });
    const refused = 'rtsp://127.0.0.1:1/x: Connection refused\n';
    const last = decideExit(end({ live: true, restarts: 2, outage: 'the source stopped sending video for 2 s', exit: { code: 1, signal: null, stderr: refused } }));
    expect(last).toEqual({
      action: 'failed',
      message: 'the source stopped sending video for 2 s; reopening it failed: the server refused the connection: nothing is listening at that address and port',
    });
  });

  it('restarts a live source that ended by itself, and says so', () => {
    expect(decideExit(end({ live: true }))).toEqual({ action: 'restart', outage: 'the source stopped: it ended' });
  });

  it('reports output the upstream could not read as the reason it stopped the run', () => {
    const stopped = end({ stoppedBecause: 'ffmpeg produced MP4 that could not be read', exit: { code: null, signal: 'SIGTERM', stderr: '' } });
    expect(decideExit(stopped)).toEqual({ action: 'failed', message: 'the source stopped: ffmpeg produced MP4 that could not be read' });
  });

  it('says "media" for an audio-only source', () => {
    expect(decideExit(end({ stalledMs: 3000, audioOnly: true }))).toMatchObject({ message: 'the source stopped sending media for 3 s' });
  });

  it('fails a source that never produced an init segment, with the reason, whether live or not', () => {
    const stderr = 'http://127.0.0.1:1/x.mp4: Server returned 404 Not Found\n';
    for (const live of [true, false]) {
      expect(decideExit(end({ live, hadInit: false, totalFragments: 0, exit: { code: 1, signal: null, stderr } }))).toEqual({
        action: 'failed',
        message: 'could not open the source: the server has nothing at this address (404 Not Found)',
      });
    }
    expect(decideExit(end({ hadInit: false, totalFragments: 0, stalledMs: 15_000, exit: { code: null, signal: 'SIGTERM', stderr: '' } }))).toEqual({
      action: 'failed',
      message: 'could not open the source: it sent no media within 15 s',
    });
  });

  it('restarts a live source that died after its init segment but before a fragment, and fails it when restarts run out', () => {
    const exit = { code: 1, signal: null, stderr: 'rtsp://127.0.0.1:5/x: Connection timed out\n' };
    expect(decideExit(end({ live: true, totalFragments: 0, exit }))).toMatchObject({ action: 'restart' });
    expect(decideExit(end({ live: true, totalFragments: 0, restarts: 2, exit }))).toEqual({
      action: 'failed',
      message: 'could not read the source: the server did not answer in time (connection timed out)',
    });
  });
});
