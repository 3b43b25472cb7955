/**
 * How the media server's ffmpeg cuts fragments, on real ffmpeg output: one
 * video frame per fragment by default (frame rate known, or not: RTSP's SDP
 * tells none), `fragmentMs` for longer ones, every GOP starting a fragment with
 * its keyframe, and an init segment without duration (Chromium's live path).
 */
import { describe, expect, it } from 'vitest';
import { buildFfmpegArgs, encodeArgs, outputArgs } from '../media-server/ffmpeg/ffmpeg-args.js';
import {
  Fmp4Segmenter,
  findChild,
  findPath,
  fragmentDurationMs,
  fragmentStartsWithSync,
  parseFragment,
  parseInit,
  type InitInfo,
} from '../protocol/index.js';
import { runChecked } from './helpers/child.js';

const SECONDS = 2;

/** Runs ffmpeg for SECONDS of media and splits its stdout into init + fragments. */
async function fragmentsOf(args: string[]): Promise<{ init: Uint8Array; info: InitInfo; fragments: Uint8Array[] }> {
  const at = args.indexOf('-f', args.lastIndexOf('-map'));
  const limited = [...args.slice(0, at), '-t', String(SECONDS), ...args.slice(at)];
  const { stdout } = await runChecked('ffmpeg', limited, { timeoutMs: 60_000 });
  const segments = new Fmp4Segmenter().push(stdout);
  expect(segments[0]?.kind).toBe('init');
  const init = segments[0]!.data;
  return { init, info: parseInit(init), fragments: segments.slice(1).map((s) => s.data) };
}

function lavfi(fps: number): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=${fps}`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v:0', '-map', '1:a:0', ...encodeArgs({ video: 'h264', audio: 'aac' }, fps),
  ];
}

function videoSamples(info: InitInfo, fragment: Uint8Array): number {
  return parseFragment(fragment).tracks.find((t) => t.trackId === info.videoTrackId)?.sampleCount ?? 0;
}

describe('fragments as the media server cuts them', () => {
  it('makes one fragment per video frame of the demo, each with its prft and duration, keyframes opening fragments', async () => {
    const demo = { enabled: true, width: 160, height: 120, fps: 30 };
    const { info, fragments } = await fragmentsOf(buildFfmpegArgs({ key: 'demo', kind: 'demo' }, { video: 'h264', audio: 'aac' }, true, { demo, fragmentMs: 0 }));
    expect(fragments.length).toBeGreaterThanOrEqual(SECONDS * 30 - 2);
    const perFragment = fragments.map((f) => videoSamples(info, f));
    expect(perFragment.every((n) => n === 1)).toBe(true); // at 30 fps + AAC: no audio-only fragments, never two frames
    for (const f of fragments) expect(parseFragment(f).producerTimeMs).toBeGreaterThan(0);
    // What flow control counts: one frame of media each (the first frame's decode time starts the track).
    for (const f of fragments.slice(1)) expect(fragmentDurationMs(parseFragment(f), info)).toBeCloseTo(1000 / 30, 0);
    const video = info.tracks.find((t) => t.id === info.videoTrackId)!;
    const syncs = fragments.map((f, i) => (fragmentStartsWithSync(parseFragment(f), info.videoTrackId, video.defaultSampleFlags) ? i : -1)).filter((i) => i >= 0);
    expect(syncs).toEqual([0, 30]); // the 1 s GOP: a late joiner starts on one of these
  });

  it('with no known frame rate (RTSP), still one video frame per fragment at 25 and 30 fps', async () => {
    for (const fps of [25, 30]) {
      const { info, fragments } = await fragmentsOf([...lavfi(fps), ...outputArgs(0, undefined)]);
      const perFragment = fragments.map((f) => videoSamples(info, f));
      expect(Math.max(...perFragment)).toBe(1);
      expect(perFragment.filter((n) => n === 1).length).toBeGreaterThanOrEqual(SECONDS * fps - 2);
    }
  });

  it('cuts fragments of fragmentMs when asked (200 ms = 6 frames at 30 fps)', async () => {
    const { info, fragments } = await fragmentsOf([...lavfi(30), ...outputArgs(200, 30)]);
    const perFragment = fragments.map((f) => videoSamples(info, f));
    expect(perFragment.slice(0, -1).every((n) => n === 6)).toBe(true);
    expect(fragmentDurationMs(parseFragment(fragments[1]!), info)).toBeCloseTo(200, 0);
  });

  it('writes an init segment without duration: no mehd, zero mvhd duration (Chromium plays it as live)', async () => {
    const { init } = await fragmentsOf([...lavfi(30), ...outputArgs(0, 30)]);
    const moov = findPath(init, ['moov'])!;
    const mvhd = findChild(init, moov, 'mvhd')!;
    const dv = new DataView(init.buffer, init.byteOffset, init.byteLength);
    const version = init[mvhd.payload]!;
    const duration = version === 1 ? Number(dv.getBigUint64(mvhd.payload + 24)) : dv.getUint32(mvhd.payload + 16);
    expect(duration).toBe(0);
    const mvex = findChild(init, moov, 'mvex')!;
    expect(mvex).toBeDefined();
    expect(findChild(init, mvex, 'mehd')).toBeUndefined();
  });
});
