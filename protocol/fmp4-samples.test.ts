import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../test/helpers/child.js';
import { decoderDescriptions } from './fmp4-codec-config.js';
import { parseFragmentSamples, parseTrackDefaults, type MediaSample, type SampleTrack } from './fmp4-samples.js';
import { Fmp4Segmenter, parseInit, BoxFormatError } from './index.js';
import { avc1Entry, box, bytes, fullBox, init, mp4aEntry, u32 } from './test-boxes.js';

interface Probed {
  stream_index: number;
  pts: number;
  size: string;
  flags: string;
}

/** fMP4 the way the media server writes it (x264 zerolatency + AAC, prft), with 200 ms or one-frame fragments. */
async function makeFmp4(dir: string, fragDurationUs: number): Promise<{ file: string; packets: Probed[] }> {
  const file = path.join(dir, `frag-${fragDurationUs}.mp4`);
  await runChecked('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=15', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '1.2', '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '10', '-keyint_min', '10', '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '32k', '-ac', '1',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', String(fragDurationUs), '-write_prft', 'wallclock',
    file,
  ], { timeoutMs: 30_000 });
  const { stdout } = await runChecked('ffprobe', ['-v', 'error', '-show_packets', '-show_entries', 'packet=stream_index,pts,size,flags', '-of', 'json', file], { timeoutMs: 30_000 });
  return { file, packets: (JSON.parse(stdout.toString('utf8')) as { packets: Probed[] }).packets };
}

function split(file: Uint8Array): { initBytes: Uint8Array; fragments: Uint8Array[] } {
  const segments = new Fmp4Segmenter().push(file);
  return { initBytes: segments[0]!.data, fragments: segments.slice(1).map((s) => s.data) };
}

function tracksOf(initBytes: Uint8Array): SampleTrack[] {
  const defaults = parseTrackDefaults(initBytes);
  return parseInit(initBytes).tracks.map((t) => ({ id: t.id, timescale: t.timescale, defaults: defaults.get(t.id) }));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-samples-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each([200_000, 1])('samples of real ffmpeg fragments (frag_duration %i µs)', (fragUs) => {
  it('match ffprobe packet for packet: size, keyframe flag and timestamp', async () => {
    const { file, packets } = await makeFmp4(dir, fragUs);
    const { initBytes, fragments } = split(await readFile(file));
    const info = parseInit(initBytes);
    const tracks = tracksOf(initBytes);
    const samples: MediaSample[] = fragments.flatMap((f) => parseFragmentSamples(f, tracks));
    for (const track of info.tracks) {
      // ffprobe numbers streams from 0 in track order; track ids start at 1.
      const probed = packets.filter((p) => p.stream_index === track.id - 1);
      const ours = samples.filter((s) => s.trackId === track.id);
      expect(ours.length).toBe(probed.length);
      expect(ours.length).toBeGreaterThan(10);
      expect(ours.map((s) => s.data.byteLength)).toEqual(probed.map((p) => Number(p.size)));
      expect(ours.map((s) => s.keyframe)).toEqual(probed.map((p) => p.flags.startsWith('K')));
      expect(ours.map((s) => s.timestampUs)).toEqual(probed.map((p) => Math.round((p.pts * 1e6) / track.timescale)));
    }
    const video = samples.filter((s) => s.trackId === info.videoTrackId);
    expect(video[0]!.keyframe).toBe(true);
    expect(video.filter((s) => s.keyframe).length).toBe(2); // -g 10 at 15 fps over 1.2 s
    // Durations chain: each sample ends where the next begins.
    for (let i = 1; i < video.length; i++) expect(video[i - 1]!.decodeTime).toBeLessThan(video[i]!.decodeTime);
    expect(video.slice(1, -1).every((s) => Math.abs(s.durationUs - 1e6 / 15) < 100)).toBe(true);
  });

  it('gives the decoder descriptions: avcC for H.264, the AudioSpecificConfig for AAC', async () => {
    const { file } = await makeFmp4(dir, fragUs);
    const { initBytes, fragments } = split(await readFile(file));
    const info = parseInit(initBytes);
    const descriptions = decoderDescriptions(initBytes);
    const avcC = descriptions.get(info.videoTrackId!)!;
    expect(avcC[0]).toBe(1); // configurationVersion
    expect(info.tracks[0]!.codec.toLowerCase()).toBe(`avc1.${[...avcC.subarray(1, 4)].map((b) => b.toString(16).padStart(2, '0')).join('')}`);
    const asc = descriptions.get(info.tracks.find((t) => t.type === 'audio')!.id)!;
    expect(asc[0]! >> 3).toBe(2); // AAC LC
    expect(((asc[0]! & 7) << 1) | (asc[1]! >> 7)).toBe(3); // 48 kHz
    expect(fragments.length).toBeGreaterThan(fragUs === 1 ? 20 : 4);
  });
});

describe('sample parser on built fragments', () => {
  const initBytes = init([
    { id: 1, handler: 'vide', entry: avc1Entry([1, 0x64, 0, 0x1f, 0xff], 64, 48) },
    { id: 2, handler: 'soun', entry: mp4aEntry(0x40, [0x11, 0x90]), timescale: 48000 },
  ]);

  function fragment(traf: Uint8Array, payload: Uint8Array): Uint8Array {
    return bytes(box('moof', fullBox('mfhd', 0, 0, u32(1)), traf), box('mdat', payload));
  }

  it('falls back to tfhd, then trex defaults, and honours signed composition offsets', () => {
    const defaults = parseTrackDefaults(initBytes);
    expect(defaults.get(1)).toEqual({ duration: 0, size: 0, flags: 0x10000 });
    const tracks = [{ id: 1, timescale: 90000, defaults: { duration: 3000, size: 4, flags: 0x10000 } }];
    // tfhd: default-base-is-moof + default duration 3003; trun v1: data offset, first-sample flags (sync), per-sample cto.
    const moofSize = 8 + 16 + 8 + 20 + 16 + 32;
    const tfhd = fullBox('tfhd', 0, 0x20000 | 0x8, u32(1), u32(3003));
    const tfdt = fullBox('tfdt', 0, 0, u32(90000));
    const trun = fullBox('trun', 1, 0x1 | 0x4 | 0x800, u32(2), u32(moofSize + 8), u32(0x02000000), u32(6006), u32(0xfffff448));
    const frag = fragment(box('traf', tfhd, tfdt, trun), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    const samples = parseFragmentSamples(frag, tracks);
    expect(samples.map((s) => [s.timestampUs, s.durationUs, s.keyframe, [...s.data]])).toEqual([
      [Math.round(((90000 + 6006) * 1e6) / 90000), Math.round((3003 * 1e6) / 90000), true, [1, 2, 3, 4]],
      [Math.round(((93003 - 3000) * 1e6) / 90000), Math.round((3003 * 1e6) / 90000), false, [5, 6, 7, 8]],
    ]);
  });

  it('skips tracks it was not told about and refuses samples outside the mdat', () => {
    const tracks = [{ id: 1, timescale: 1000 }];
    const tfhd = fullBox('tfhd', 0, 0x20000 | 0x8 | 0x10 | 0x20, u32(2), u32(20), u32(2), u32(0));
    const ok = fragment(box('traf', tfhd, fullBox('trun', 0, 0x1, u32(2), u32(8 + 16 + 8 + 28 + 20 + 8))), Uint8Array.of(1, 2, 3, 4));
    expect(parseFragmentSamples(ok, tracks)).toEqual([]);
    expect(parseFragmentSamples(ok, [{ id: 2, timescale: 1000 }]).map((s) => s.timestampUs)).toEqual([0, 20_000]);
    const short = fragment(box('traf', tfhd, fullBox('trun', 0, 0x1, u32(3), u32(8 + 16 + 8 + 28 + 20 + 8))), Uint8Array.of(1, 2, 3, 4));
    expect(() => parseFragmentSamples(short, [{ id: 2, timescale: 1000 }])).toThrow(BoxFormatError);
    expect(() => parseFragmentSamples(bytes(box('moof', fullBox('mfhd', 0, 0, u32(1)))), tracks)).toThrow(/mdat/);
  });
});
