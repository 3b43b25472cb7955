/**
 * What `mqttcast publish` hands to ffmpeg and ffprobe: the input, classified, and
 * fixed argument arrays (no shell). The operator trusts their own inputs, so files
 * and devices are fine here; the output is the media server's low-latency fMP4.
 */
import path from 'node:path';
import { demoInput, encodeArgs, outputArgs, type OutputProfile } from '../media-server/ffmpeg/ffmpeg-args.js';

export type PublishInput =
  | { kind: 'demo' }
  | { kind: 'stdin' }
  | { kind: 'device'; path: string }
  | { kind: 'url'; url: string; scheme: string }
  | { kind: 'file'; path: string };

export interface InputOptions {
  /** Repeat a file forever (`-stream_loop -1`). */
  loop: boolean;
  /** ffmpeg input format (`-f`), e.g. `v4l2`, `mpegts`, `h264`. */
  format?: string;
  /** `WxH`: capture size of a device, picture size of the demo. */
  videoSize?: string;
  /** Frames per second of a device, of the demo, or of a raw H.264 stream on stdin. */
  framerate?: number;
  /** Fragment length in ms; 0 or unset: one fragment per video frame (as the media server). */
  fragmentMs?: number;
}

export const DEMO_DEFAULTS = { width: 1280, height: 720, fps: 30 } as const;

const DEVICE = /^\/dev\/(video\d+|v4l\/.+)$/;
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/** `demo`, `-` (stdin), a V4L2 device, a URL with a scheme, else a local file. */
export function classifyInput(arg: string): PublishInput {
  if (arg === 'demo') return { kind: 'demo' };
  if (arg === '-') return { kind: 'stdin' };
  if (DEVICE.test(arg)) return { kind: 'device', path: arg };
  const scheme = URL_SCHEME.exec(arg)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'file') return { kind: 'url', url: arg, scheme };
  const file = scheme === 'file' ? arg.slice('file://'.length) : arg;
  return { kind: 'file', path: path.resolve(file) };
}

export function describeInput(input: PublishInput): string {
  switch (input.kind) {
    case 'demo':
      return 'the demo test pattern';
    case 'stdin':
      return 'standard input';
    case 'device':
      return `camera ${input.path}`;
    case 'url':
      return input.url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^/@]*@/i, '$1:***@'); // no password in logs
    case 'file':
      return `file ${input.path}`;
  }
}

/** `video copied, audio to AAC`: what happens to each track, for progress output. */
export function describeProfile(profile: OutputProfile): string {
  const video = profile.video === 'none' ? 'no video' : `video ${profile.video === 'h264' ? 'to H.264' : 'copied'}`;
  const audio = profile.audio === 'none' ? 'no audio' : `audio ${profile.audio === 'aac' ? 'to AAC' : 'copied'}`;
  return `${video}, ${audio}`;
}

/** Whether the end of the input ends the publication (else ffmpeg is restarted). */
export function endsWithInput(input: PublishInput, opts: InputOptions): boolean {
  return input.kind === 'stdin' || (input.kind === 'file' && !opts.loop);
}

/** Parses `WxH`; undefined for anything else. */
export function parseVideoSize(text: string): { width: number; height: number } | undefined {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(text);
  if (!m) return undefined;
  const width = Number(m[1]);
  const height = Number(m[2]);
  return width >= 16 && height >= 16 && width <= 7680 && height <= 4320 ? { width, height } : undefined;
}

/** The `-i` argument: files get `file:` so a name with a colon is never taken for a protocol. */
function inputTarget(input: Exclude<PublishInput, { kind: 'demo' }>): string {
  if (input.kind === 'stdin') return 'pipe:0';
  if (input.kind === 'device') return input.path;
  if (input.kind === 'url') return input.url;
  return `file:${input.path}`;
}

/** Options that say how to open the input (shared by ffprobe and ffmpeg). */
function openArgs(input: Exclude<PublishInput, { kind: 'demo' }>, opts: InputOptions): string[] {
  const args: string[] = [];
  if (input.kind === 'url' && (input.scheme === 'rtsp' || input.scheme === 'rtsps')) {
    args.push('-rtsp_transport', 'tcp', '-timeout', '10000000');
  }
  if (input.kind === 'url' && (input.scheme === 'http' || input.scheme === 'https')) args.push('-rw_timeout', '10000000');
  const format = opts.format ?? (input.kind === 'device' ? 'v4l2' : undefined);
  if (format) args.push('-f', format);
  if (opts.framerate !== undefined && (input.kind === 'device' || input.kind === 'stdin')) args.push('-framerate', String(opts.framerate));
  if (opts.videoSize !== undefined && input.kind === 'device') args.push('-video_size', opts.videoSize);
  return args;
}

const BASE_ARGS = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];

/** ffprobe arguments that report the input's streams as JSON (stdin: fed by us). */
export function buildProbeArgs(input: Exclude<PublishInput, { kind: 'demo' }>, opts: InputOptions): string[] {
  const args = ['-hide_banner', '-v', 'error', '-of', 'json', '-show_streams', '-show_format', ...openArgs(input, opts)];
  // RTSP announces its codecs in the SDP; the rest need some media read.
  if (input.kind === 'url' && input.scheme.startsWith('rtsp')) args.push('-probesize', '32', '-analyzeduration', '0');
  else args.push('-probesize', '2000000', '-analyzeduration', '2000000');
  args.push('-i', inputTarget(input));
  return args;
}

/**
 * ffmpeg arguments: the input (real time for files, small analysis for live inputs),
 * copy or transcode per `profile`, and fragmented MP4 on stdout exactly as the media
 * server makes it (one fragment per frame unless `fragmentMs`, prft wall-clock stamps).
 */
export function buildPublishArgs(input: PublishInput, profile: OutputProfile, live: boolean, opts: InputOptions): string[] {
  if (input.kind === 'demo') {
    const size = opts.videoSize ? parseVideoSize(opts.videoSize) : undefined;
    const fps = opts.framerate ?? DEMO_DEFAULTS.fps;
    const demo = { enabled: true, width: size?.width ?? DEMO_DEFAULTS.width, height: size?.height ?? DEMO_DEFAULTS.height, fps };
    return [...BASE_ARGS, ...demoInput(demo), '-map', '0:v:0', '-map', '1:a:0', ...encodeArgs({ video: 'h264', audio: 'aac' }, fps), ...outputArgs(opts.fragmentMs ?? 0, fps)];
  }
  const args = [...BASE_ARGS, ...openArgs(input, opts)];
  if (input.kind === 'file' && opts.loop) args.push('-stream_loop', '-1');
  // No `-fflags nobuffer`: it drops what input analysis read, and with it the keyframe a copied
  // camera stream starts on (then ffmpeg waits a whole GOP; see ffmpeg-args.ts liveAnalysis).
  if (!live) args.push('-re');
  // A device or a small probe of a live URL: do not wait long before the first fragment.
  if (live && input.kind !== 'stdin') args.push('-probesize', '500000', '-analyzeduration', '500000');
  args.push('-i', inputTarget(input));
  if (profile.video !== 'none') args.push('-map', '0:v:0');
  if (profile.audio !== 'none') args.push('-map', '0:a:0');
  const gopFrames = opts.framerate !== undefined && profile.video === 'h264' ? Math.round(opts.framerate) : undefined;
  return [...args, ...encodeArgs(profile, gopFrames), ...outputArgs(opts.fragmentMs ?? 0, opts.framerate ?? profile.fps)];
}
