/**
 * Fixed argument templates for ffmpeg. The source URL is always one argv
 * element (never a shell string), inputs are confined with -protocol_whitelist,
 * and output is low-latency fragmented MP4 on stdout only.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../daemon/config.js';
import type { SourceKind, SourceSpec } from '../policy/sources.js';

export interface OutputProfile {
  video: 'copy' | 'h264' | 'none';
  audio: 'copy' | 'aac' | 'none';
  /** Codec of the copied audio track (AAC from MPEG-TS/HLS needs its ADTS headers converted). */
  audioCodec?: string;
  /** Frames per second of the video, when the probe knows it (sets the one-frame fragment length). */
  fps?: number;
}

export function profileKey(p: OutputProfile): string {
  return `v=${p.video},a=${p.audio}`;
}

export function isCopy(p: OutputProfile): boolean {
  return p.video !== 'h264' && p.audio !== 'aac';
}

/** What each kind of input may open. An HLS playlist gets http(s) only: never file:, never other protocols. */
export const PROTOCOL_WHITELIST: Record<Exclude<SourceKind, 'demo' | 'channel'>, string> = {
  rtsp: 'rtsp,rtsps,rtp,srtp,tcp,udp,tls',
  http: 'http,https,httpproxy,tcp,tls',
  hls: 'http,https,httpproxy,tcp,tls,crypto',
  file: 'file',
};

/**
 * How ffmpeg cuts fragments. `fragmentMs` 0 (the default) is one fragment per
 * video frame: `-frag_duration` of 0.9 frame (timestamps jitter) makes each
 * fragment one video frame plus the audio of that time (measured: 30 fps + AAC,
 * 30 fragments/s, none audio-only, where `frag_every_frame` or a 1 µs duration
 * also cut on every audio packet, 47–77/s). Without a known frame rate (RTSP
 * from its SDP alone) fragments are cut at the first packet 30 ms or more into
 * the fragment: one frame up to 33 fps. A positive `fragmentMs` cuts at that
 * length instead (200 = the 0.1 release's fragments).
 */
export function fragmentArgs(fragmentMs: number, fps: number | undefined): string[] {
  if (fragmentMs > 0) return ['-frag_duration', String(Math.round(fragmentMs * 1000))];
  if (fps !== undefined && fps > 0 && fps <= 240) return ['-frag_duration', String(Math.floor(900_000 / fps))];
  return ['-frag_duration', '1', '-min_frag_duration', String(UNKNOWN_RATE_MIN_FRAGMENT_US)];
}

/** Shortest fragment when the frame rate is unknown: one frame of a 33 fps stream. */
const UNKNOWN_RATE_MIN_FRAGMENT_US = 30_000;

/** A frame rate from ffprobe's `avg_frame_rate` (e.g. `30000/1001`); undefined when unknown or implausible. */
export function parseFrameRate(text: string | undefined): number | undefined {
  const m = /^(\d+)(?:\/(\d+))?$/.exec(text ?? '');
  if (!m) return undefined;
  const fps = Number(m[1]) / Number(m[2] ?? 1);
  return Number.isFinite(fps) && fps >= 1 && fps <= 240 ? fps : undefined;
}

const BASE_ARGS = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
];

let fontFile: string | null | undefined;
function demoFont(): string | null {
  if (fontFile === undefined) fontFile = FONT_CANDIDATES.find((f) => existsSync(f)) ?? null;
  return fontFile;
}

export function demoInput(demo: Config['demo']): string[] {
  const size = `${demo.width}x${demo.height}`;
  const font = demoFont();
  const fontSize = Math.max(16, Math.round(demo.height / 12));
  // Wall clock burnt in (for eyeballing latency) when a font is available.
  const clock = font
    ? `,drawtext=fontfile=${font}:text='%{localtime\\:%X}':fontsize=${fontSize}:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8:x=(w-tw)/2:y=h-th-${fontSize}`
    : '';
  return [
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${demo.fps}${clock}`,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
  ];
}

/** Options that confine how ffmpeg opens a URL: allowed protocols, transport, timeouts, egress proxy. */
function openArgs(spec: SourceSpec, proxyUrl: string | undefined): string[] {
  const kind = spec.kind as Exclude<SourceKind, 'demo' | 'channel'>;
  const args = ['-protocol_whitelist', PROTOCOL_WHITELIST[kind]];
  if (kind === 'rtsp') args.push('-rtsp_transport', 'tcp', '-timeout', '10000000');
  if (kind === 'http' || kind === 'hls') {
    args.push('-rw_timeout', '10000000');
    // Every HTTP request (each redirect hop, HLS segments and keys too) passes the egress policy.
    if (proxyUrl) args.push('-http_proxy', proxyUrl);
  }
  return args;
}

/**
 * Input analysis for live sources. Measured on a local RTSP camera (warm, 1 s GOP):
 * with `-fflags nobuffer` ffmpeg dropped the analysed packets — the keyframe among
 * them too — and waited for the next GOP (1.64 s to the first fragment); keeping
 * them, the first fragment leaves with the init segment. RTSP carries its codec
 * configuration in the SDP, so 100 ms of analysis finds the picture size (850 →
 * 660 ms to the first fragment against 300 ms, on a loaded machine); a restarted
 * run, or HTTP/HLS, reads 32 kB / 0.3 s (less lost the picture size there).
 */
function liveAnalysis(kind: SourceKind, attempt: number): string[] {
  const quick = kind === 'rtsp' && attempt === 0;
  return ['-probesize', '32768', '-analyzeduration', quick ? '100000' : '300000'];
}

function urlInput(spec: SourceSpec, live: boolean, proxyUrl: string | undefined, attempt: number): string[] {
  const args = openArgs(spec, proxyUrl);
  if (live) args.push(...liveAnalysis(spec.kind, attempt));
  else args.push('-re');
  args.push('-i', spec.url!);
  return args;
}

export function encodeArgs(profile: OutputProfile, gopFrames: number | undefined): string[] {
  const args: string[] = [];
  if (profile.video === 'copy') args.push('-c:v', 'copy');
  if (profile.video === 'h264') {
    args.push('-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p');
    if (gopFrames) args.push('-g', String(gopFrames), '-keyint_min', String(gopFrames), '-sc_threshold', '0');
    else args.push('-force_key_frames', 'expr:gte(t,n_forced*1)');
  }
  if (profile.audio === 'copy') args.push('-c:a', 'copy');
  if (profile.audio === 'copy' && profile.audioCodec === 'aac') args.push('-bsf:a', 'aac_adtstoasc');
  if (profile.audio === 'aac') args.push('-c:a', 'aac', '-b:a', '128k', '-ac', '2');
  return args;
}

/**
 * Fragmented MP4 on stdout: an init segment without duration (`empty_moov`: no
 * `mehd`, zero `mvhd` duration, so Chromium plays it as live with a small
 * buffer), fragments cut per `fragmentArgs`, each with a wall-clock `prft`.
 */
export function outputArgs(fragmentMs: number, fps: number | undefined): string[] {
  return [
    '-f', 'mp4',
    '-movflags', 'frag_keyframe+empty_moov+default_base_moof',
    ...fragmentArgs(fragmentMs, fps),
    '-write_prft', 'wallclock',
    '-flush_packets', '1',
    'pipe:1',
  ];
}

/** ffmpeg's arguments for one run; `attempt` counts restarts (a restarted live source analyses more). */
export function buildFfmpegArgs(spec: SourceSpec, profile: OutputProfile, live: boolean, config: Pick<Config, 'demo' | 'fragmentMs'>, proxyUrl?: string, attempt = 0): string[] {
  const { demo, fragmentMs } = config;
  if (spec.kind === 'demo') {
    return [
      ...BASE_ARGS, ...demoInput(demo),
      '-map', '0:v:0', '-map', '1:a:0',
      ...encodeArgs({ video: 'h264', audio: 'aac' }, demo.fps),
      ...outputArgs(fragmentMs, demo.fps),
    ];
  }
  const maps: string[] = [];
  if (profile.video !== 'none') maps.push('-map', '0:v:0');
  if (profile.audio !== 'none') maps.push('-map', '0:a:0');
  return [...BASE_ARGS, ...urlInput(spec, live, proxyUrl, attempt), ...maps, ...encodeArgs(profile, undefined), ...outputArgs(fragmentMs, profile.fps)];
}

export function buildProbeArgs(spec: SourceSpec, proxyUrl?: string): string[] {
  const args = ['-hide_banner', '-v', 'error', '-of', 'json', '-show_streams', '-show_format', ...openArgs(spec, proxyUrl)];
  // RTSP announces its codecs in the SDP: no need to read media to decide copy or transcode
  // (160 ms instead of 1.2 s with 1 MB/1 s). Files and playlists need their header read.
  if (spec.kind === 'rtsp') args.push('-probesize', '32', '-analyzeduration', '0');
  else args.push('-probesize', '2000000', '-analyzeduration', '2000000');
  args.push('-i', spec.url!);
  return args;
}
