import { runChecked } from './child.js';

/** The subset of an `ffprobe -show_streams -of json` stream entry that tests use. */
export interface FfprobeStream {
  index: number;
  codec_name?: string;
  codec_type?: string;
  profile?: string;
  level?: number;
  codec_tag_string?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  sample_rate?: string;
  channels?: number;
  r_frame_rate?: string;
  duration?: string;
  /** Hex dump (ffprobe format) of the codec extradata; only with `showData`. */
  extradata?: string;
  [key: string]: unknown;
}

export interface FfprobeOptions {
  /** Extra input options placed before the file, e.g. ['-rtsp_transport', 'tcp']. */
  inputArgs?: string[];
  /** Adds `-show_data` so `extradata` is present. */
  showData?: boolean;
  timeoutMs?: number;
}

/** Runs `ffprobe -v error -show_streams -of json` on a file or URL. */
export async function ffprobeStreams(file: string, opts: FfprobeOptions = {}): Promise<FfprobeStream[]> {
  const args = ['-v', 'error', ...(opts.inputArgs ?? []), '-show_streams'];
  if (opts.showData) args.push('-show_data');
  args.push('-of', 'json', '-i', file);
  const { stdout } = await runChecked('ffprobe', args, { timeoutMs: opts.timeoutMs ?? 30_000 });
  const parsed = JSON.parse(stdout.toString('utf8')) as { streams?: FfprobeStream[] };
  return parsed.streams ?? [];
}

/**
 * Turns ffprobe's `-show_data` hex dump ("\n00000000: 0142 c01e ffe1 ...  .B......\n")
 * into bytes. Each line is an offset, 16 bytes as 8 groups of 4 hex digits, then ASCII.
 */
export function parseFfprobeHexDump(dump: string): Buffer {
  const bytes: number[] = [];
  for (const line of dump.split('\n')) {
    const m = /^[0-9a-f]{8}: (.*)$/i.exec(line);
    if (!m || m[1] === undefined) continue;
    const hex = m[1].slice(0, 40).replace(/\s+/g, '');
    for (let i = 0; i + 1 < hex.length; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16));
  }
  return Buffer.from(bytes);
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/**
 * RFC 6381 `avc1.PPCCLL` from H.264 extradata: an avcC record (first byte 1, as in MP4)
 * or Annex B parameter sets (start codes, as in MPEG-TS), whose first SPS is used.
 */
export function avcCodecStringFromExtradata(data: Buffer): string | undefined {
  if (data.length >= 4 && data[0] === 1) {
    return `avc1.${hex2(data[1] ?? 0)}${hex2(data[2] ?? 0)}${hex2(data[3] ?? 0)}`;
  }
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] !== 0 || data[i + 1] !== 0) continue;
    let nal = -1;
    if (data[i + 2] === 1) nal = i + 3;
    else if (data[i + 2] === 0 && data[i + 3] === 1) nal = i + 4;
    if (nal < 0 || nal + 3 >= data.length) continue;
    if (((data[nal] ?? 0) & 0x1f) === 7) {
      return `avc1.${hex2(data[nal + 1] ?? 0)}${hex2(data[nal + 2] ?? 0)}${hex2(data[nal + 3] ?? 0)}`;
    }
  }
  return undefined;
}

/** profile_idc and constraint-flag byte for ffprobe's H.264 profile names. */
const AVC_PROFILES: Record<string, [number, number]> = {
  'Constrained Baseline': [0x42, 0xc0], // constraint_set0 + set1, as x264 writes it
  Baseline: [0x42, 0x00],
  Main: [0x4d, 0x40], // constraint_set1 (x264 sets it for Main)
  Extended: [0x58, 0x00],
  High: [0x64, 0x00],
  'Progressive High': [0x64, 0x08],
  'Constrained High': [0x64, 0x0c],
  'High 10': [0x6e, 0x00],
  'High 10 Intra': [0x6e, 0x10],
  'High 4:2:2': [0x7a, 0x00],
  'High 4:2:2 Intra': [0x7a, 0x10],
  'High 4:4:4 Predictive': [0xf4, 0x00],
  'High 4:4:4 Intra': [0xf4, 0x10],
};

/** Fallback `avc1.PPCCLL` from ffprobe's profile name and level (constraint byte is a best guess). */
export function avcCodecStringFromProfile(profile: string, level: number): string | undefined {
  const entry = AVC_PROFILES[profile];
  if (!entry || !Number.isInteger(level) || level <= 0) return undefined;
  return `avc1.${hex2(entry[0])}${hex2(entry[1])}${hex2(level)}`;
}

/**
 * The exact RFC 6381 codec string of the first H.264 stream of `file`, from the real
 * avcC/SPS bytes when ffprobe exposes them (it does with `-show_data`), else from profile+level.
 */
export async function expectedAvcCodecString(file: string, opts: FfprobeOptions = {}): Promise<string> {
  const streams = await ffprobeStreams(file, { ...opts, showData: true });
  const video = streams.find((s) => s.codec_name === 'h264');
  if (!video) throw new Error(`expectedAvcCodecString: no H.264 stream in ${file}`);
  const fromBytes = video.extradata ? avcCodecStringFromExtradata(parseFfprobeHexDump(video.extradata)) : undefined;
  if (fromBytes) return fromBytes;
  const fromProfile = avcCodecStringFromProfile(video.profile ?? '', video.level ?? 0);
  if (fromProfile) return fromProfile;
  throw new Error(`expectedAvcCodecString: cannot derive codec string (profile ${String(video.profile)}, level ${String(video.level)})`);
}

/**
 * `mp4a.40.<audioObjectType>` of the first AAC stream, from its AudioSpecificConfig when
 * exposed (MP4), else from ffprobe's profile name (LC=2, HE-AAC=5, HE-AACv2=29).
 */
export async function expectedAacCodecString(file: string, opts: FfprobeOptions = {}): Promise<string> {
  const streams = await ffprobeStreams(file, { ...opts, showData: true });
  const audio = streams.find((s) => s.codec_name === 'aac');
  if (!audio) throw new Error(`expectedAacCodecString: no AAC stream in ${file}`);
  const asc = audio.extradata ? parseFfprobeHexDump(audio.extradata) : Buffer.alloc(0);
  if (asc.length >= 2) {
    let aot = (asc[0] ?? 0) >> 3;
    if (aot === 31) aot = 32 + ((((asc[0] ?? 0) & 0x07) << 3) | ((asc[1] ?? 0) >> 5));
    return `mp4a.40.${aot}`;
  }
  const byProfile: Record<string, number> = { LC: 2, HE: 5, 'HE-AAC': 5, 'HE-AACv2': 29, Main: 1, LTP: 4 };
  const aot = byProfile[audio.profile ?? ''];
  if (aot === undefined) throw new Error(`expectedAacCodecString: unknown AAC profile ${String(audio.profile)}`);
  return `mp4a.40.${aot}`;
}
