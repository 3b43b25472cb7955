import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked } from './child.js';

export {
  ffprobeStreams,
  expectedAvcCodecString,
  expectedAacCodecString,
  avcCodecStringFromExtradata,
  avcCodecStringFromProfile,
  parseFfprobeHexDump,
  type FfprobeStream,
  type FfprobeOptions,
} from './ffprobe.js';

export interface MediaFixtures {
  /** The temp directory holding everything below; removed by close(). */
  dir: string;
  /** 3 s 320x240 25 fps H.264 Constrained Baseline 3.0 (avc1.42C01E) + AAC-LC 44.1 kHz stereo, faststart. */
  baselineMp4: string;
  /** 3 s 1280x720 25 fps H.264 High 4.0 (avc1.640028) + AAC-LC, faststart. */
  highMp4: string;
  /** 3 s AAC-LC audio only (mp4a.40.2). */
  aacM4a: string;
  /** Directory of a 4 s VOD HLS rendition (H.264 Constrained Baseline + AAC-LC, 1 s segments). */
  hlsDir: string;
  /** `<hlsDir>/index.m3u8`, with relative segment URIs `seg_000.ts`, ... */
  hlsPlaylist: string;
  /** `<hlsDir>/live.m3u8`: the same segments as a live playlist (no ENDLIST) that is never updated. */
  hlsStalePlaylist: string;
  /** baselineMp4 remuxed without +faststart: its index (moov) is at the end of the file. */
  moovAtEndMp4: string;
  close(): Promise<void>;
}

const VIDEO_SRC = (size: string, seconds: number): string[] => [
  '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=${seconds}`,
];
const AUDIO_SRC = (seconds: number): string[] => [
  '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
];
const AAC = ['-c:a', 'aac', '-ac', '2', '-ar', '44100', '-b:a', '64k'];
// One keyframe per second (25 fps), no scene-cut keyframes: segment and GOP boundaries are predictable.
const GOP = ['-g', '25', '-keyint_min', '25', '-sc_threshold', '0'];
const BASELINE = ['-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-level', '3.0', '-pix_fmt', 'yuv420p', ...GOP];
// x264's -profile is only an upper bound and ultrafast uses no High-only tools, so the
// stream would be signalled Constrained Baseline; CABAC + 8x8 transform make it real High.
const HIGH = ['-c:v', 'libx264', '-preset', 'ultrafast', '-x264-params', 'cabac=1:8x8dct=1', '-profile:v', 'high', '-level', '4.0', '-pix_fmt', 'yuv420p', ...GOP];

function ffmpeg(args: string[]): Promise<unknown> {
  return runChecked('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { timeoutMs: 60_000 });
}

/**
 * Generates small media files with the system ffmpeg into a fresh temp directory
 * (mkdtemp under `parentDir`, default os.tmpdir()). Nothing is cached between calls.
 */
export async function makeMediaFixtures(parentDir: string = tmpdir()): Promise<MediaFixtures> {
  const dir = await mkdtemp(join(parentDir, 'mqttcast-fixtures-'));
  const baselineMp4 = join(dir, 'baseline.mp4');
  const highMp4 = join(dir, 'high.mp4');
  const aacM4a = join(dir, 'audio.m4a');
  const hlsDir = join(dir, 'hls');
  const hlsPlaylist = join(hlsDir, 'index.m3u8');
  const hlsStalePlaylist = join(hlsDir, 'live.m3u8');
  const moovAtEndMp4 = join(dir, 'moov-at-end.mp4');
  try {
    await mkdir(hlsDir);
    await Promise.all([
      ffmpeg([...VIDEO_SRC('320x240', 3), ...AUDIO_SRC(3), '-map', '0:v', '-map', '1:a', ...BASELINE, ...AAC,
        '-movflags', '+faststart', baselineMp4]),
      ffmpeg([...VIDEO_SRC('1280x720', 3), ...AUDIO_SRC(3), '-map', '0:v', '-map', '1:a', ...HIGH, ...AAC,
        '-movflags', '+faststart', highMp4]),
      ffmpeg([...AUDIO_SRC(3), ...AAC, '-movflags', '+faststart', aacM4a]),
      ffmpeg([...VIDEO_SRC('320x240', 4), ...AUDIO_SRC(4), '-map', '0:v', '-map', '1:a', ...BASELINE, ...AAC,
        '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod',
        '-hls_segment_filename', join(hlsDir, 'seg_%03d.ts'), hlsPlaylist]),
    ]);
    await ffmpeg(['-i', baselineMp4, '-c', 'copy', moovAtEndMp4]);
    const vod = await readFile(hlsPlaylist, 'utf8');
    await writeFile(hlsStalePlaylist, vod.split('\n').filter((l) => !/^#EXT-X-(ENDLIST|PLAYLIST-TYPE)/.test(l)).join('\n'));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    baselineMp4,
    highMp4,
    aacM4a,
    hlsDir,
    hlsPlaylist,
    hlsStalePlaylist,
    moovAtEndMp4,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
