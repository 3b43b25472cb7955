/**
 * The peer bench's source (bench/peer/source.ts): one ffmpeg writes the same
 * frames, each with its number as a barcode, to both outputs, and tells the
 * wall clock at which each frame goes into the encoder. Real ffmpeg; files
 * stand in for the RTMP server and the channel publisher.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BARCODE, PeerSource, readBarcode, teeSlave } from '../bench/peer/source.js';
import { runChecked } from './helpers/child.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';

/** The barcode of every frame of a file, decoded from ffmpeg's grey pixels of the strip. */
async function barcodes(file: string): Promise<Array<number | null>> {
  const { stripWidth: w, stripHeight: h } = BARCODE;
  const out = await runChecked('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v', '-fps_mode', 'passthrough', '-vf', `crop=${w}:${h}:0:0,format=gray`, '-f', 'rawvideo', 'pipe:1'], { timeoutMs: 30_000 });
  const frames: Array<number | null> = [];
  for (let at = 0; at + w * h <= out.stdout.length; at += w * h) frames.push(readBarcode(out.stdout.subarray(at, at + w * h), w));
  return frames;
}

describe('peer bench source', () => {
  let dir: string | undefined;
  let source: PeerSource | undefined;

  afterEach(async () => {
    await source?.close();
    source = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    expect(mediaProcesses()).toEqual([]);
  });

  it('turns ffmpeg output options into a tee slave', () => {
    expect(teeSlave(['-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov', '-frag_duration', '30000', 'pipe:1'])).toBe('[f=mp4:movflags=frag_keyframe+empty_moov:frag_duration=30000]pipe:1');
    expect(teeSlave(['-f', 'mp4', '-metadata', 'a:b', 'pipe:1'])).toBe('[f=mp4:metadata=a\\:b]pipe:1');
    expect(() => teeSlave(['-f', 'mp4', 'stray', 'pipe:1'])).toThrow(/tee slave/);
  });

  it('numbers every frame in both outputs and knows when each went into the encoder', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mqttcast-peer-source-'));
    const flv = path.join(dir, 'out.flv');
    const mp4 = path.join(dir, 'out.mp4');
    const fd = openSync(mp4, 'w');
    try {
      source = new PeerSource(flv, fd);
    } finally {
      closeSync(fd); // ffmpeg has its own copy
    }
    await waitFor(() => (source!.framesKnown >= 45 ? true : undefined), { timeoutMs: 20_000, message: '45 frames from the source ffmpeg' });
    await source.close();
    expect(source.running).toBe(false);

    const times = Array.from({ length: 40 }, (_, n) => source!.producerTimeMs(n));
    expect(times.every((t) => t !== undefined && t > 1.7e12)).toBe(true);
    for (let n = 1; n < times.length; n++) expect(times[n]!).toBeGreaterThanOrEqual(times[n - 1]!);
    expect(source.producerTimeMs(100_000)).toBeUndefined();

    for (const file of [mp4, flv]) {
      const numbers = await barcodes(file);
      expect(numbers.length, file).toBeGreaterThan(20);
      expect(numbers.slice(0, 20), file).toEqual(Array.from({ length: 20 }, (_, n) => n));
    }
  });
});
