/**
 * Probes a source with ffprobe (a process too, so concurrency is bounded) and
 * decides per track whether to copy it or transcode it for the requester.
 */
import { MqttcastError } from '../../protocol/index.js';
import { buildProbeArgs, parseFrameRate, type OutputProfile } from './ffmpeg-args.js';
import { diagnose } from './ffmpeg-diagnosis.js';
import { FfmpegProcess, type ProcessLimits } from './ffmpeg-process.js';
import type { SourceSpec } from '../policy/sources.js';
import type { ProbeResult, ProbedTrack } from './probe-types.js';
import { describeRtsp } from './rtsp-describe.js';
import { parseSdp, probeFromSdp } from './sdp.js';

/** A camera that has not answered DESCRIBE by then is asked again through ffprobe (10 s timeout). */
const DESCRIBE_TIMEOUT_MS = 3000;

export type { ProbeResult, ProbedTrack } from './probe-types.js';

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  avg_frame_rate?: string;
}

/** Families a browser can play inside MP4, keyed by the prefix of an RFC 6381 string. */
const FAMILY_OF_CODEC: Array<[RegExp, string]> = [
  [/^avc[13]\./i, 'h264'],
  [/^(hvc1|hev1)\./i, 'hevc'],
  [/^av01\./i, 'av1'],
  [/^vp09\./i, 'vp9'],
  [/^mp4a\.40/i, 'aac'],
  [/^(mp4a\.6b|mp4a\.69|mp3)$/i, 'mp3'],
  [/^opus$/i, 'opus'],
  [/^flac$/i, 'flac'],
];

/** What a client that did not say (a script, mosquitto_sub) is assumed to play. */
export const DEFAULT_FAMILIES = new Set(['h264', 'aac']);

export function codecFamilies(codecs: readonly string[] | undefined): Set<string> {
  if (!codecs || codecs.length === 0) return DEFAULT_FAMILIES;
  const out = new Set<string>();
  for (const c of codecs) {
    const hit = FAMILY_OF_CODEC.find(([re]) => re.test(c.trim()));
    if (hit) out.add(hit[1]);
  }
  return out;
}

/** ffprobe codec names that fMP4 carries and that map to a browser family. */
const MP4_FAMILY: Record<string, string> = { h264: 'h264', hevc: 'hevc', av1: 'av1', vp9: 'vp9', aac: 'aac', mp3: 'mp3', opus: 'opus', flac: 'flac' };

export function decideProfile(probe: ProbeResult, families: Set<string>): OutputProfile {
  if (!probe.video && !probe.audio) throw new MqttcastError('UNSUPPORTED_MEDIA', 'the source has no audio or video track');
  const playable = (t: ProbedTrack): boolean => {
    const family = MP4_FAMILY[t.codec];
    return family !== undefined && families.has(family);
  };
  return {
    video: probe.video ? (playable(probe.video) ? 'copy' : 'h264') : 'none',
    audio: probe.audio ? (playable(probe.audio) ? 'copy' : 'aac') : 'none',
    audioCodec: probe.audio?.codec,
    fps: probe.video?.fps,
  };
}

export function parseProbeOutput(json: string): ProbeResult {
  const data = JSON.parse(json) as { streams?: FfprobeStream[]; format?: { duration?: string } };
  const streams = data.streams ?? [];
  const track = (s: FfprobeStream | undefined): ProbedTrack | undefined =>
    s && s.codec_name
      ? {
          codec: s.codec_name,
          profile: s.profile,
          width: s.width,
          height: s.height,
          sampleRate: s.sample_rate ? Number(s.sample_rate) : undefined,
          channels: s.channels,
          fps: s.codec_type === 'video' ? parseFrameRate(s.avg_frame_rate) : undefined,
        }
      : undefined;
  const duration = Number(data.format?.duration);
  return {
    live: !Number.isFinite(duration) || duration <= 0,
    video: track(streams.find((s) => s.codec_type === 'video')),
    audio: track(streams.find((s) => s.codec_type === 'audio')),
  };
}

export class Prober {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly processes = new Set<FfmpegProcess>();

  constructor(
    private readonly ffprobe: string,
    private readonly maxConcurrent: number,
    private readonly limits?: ProcessLimits,
    private readonly maxWaiting = 64,
    private readonly timeoutMs = 15_000,
  ) {}

  async probe(spec: SourceSpec, proxyUrl?: string): Promise<ProbeResult> {
    await this.acquire();
    try {
      return await this.run(spec, proxyUrl);
    } finally {
      this.release();
    }
  }

  private async run(spec: SourceSpec, proxyUrl: string | undefined): Promise<ProbeResult> {
    // RTSP says its codecs in the SDP: one DESCRIBE instead of a process, a full handshake and media.
    if (spec.kind === 'rtsp') {
      const sdp = await describeRtsp(spec.url!, { timeoutMs: DESCRIBE_TIMEOUT_MS });
      const fromSdp = sdp === undefined ? undefined : probeFromSdp(parseSdp(sdp));
      if (fromSdp) return { ...fromSdp, via: 'sdp' };
    }
    return { ...(await this.runFfprobe(spec, proxyUrl)), via: 'ffprobe' };
  }

  private async runFfprobe(spec: SourceSpec, proxyUrl: string | undefined): Promise<ProbeResult> {
    const proc = new FfmpegProcess(this.ffprobe, buildProbeArgs(spec, proxyUrl), this.limits);
    this.processes.add(proc);
    const chunks: Buffer[] = [];
    proc.stdout.on('data', (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => void proc.kill(500), this.timeoutMs);
    try {
      const exit = await proc.exited;
      if (exit.code !== 0) {
        const d = diagnose(exit.stderr, { kind: spec.kind });
        const why = d.reason ?? (exit.signal ? `it did not deliver enough data to be read within ${this.timeoutMs / 1000} s` : `ffprobe exited with code ${exit.code}`);
        // The raw line rides along as the cause, for the log; the message is for the viewer.
        throw new MqttcastError('SOURCE_UNAVAILABLE', `could not open the source: ${why}`, { cause: d.lastLine });
      }
      return parseProbeOutput(Buffer.concat(chunks).toString('utf8'));
    } finally {
      clearTimeout(timer);
      this.processes.delete(proc);
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.reject(new MqttcastError('TOO_MANY_SESSIONS', 'too many sources are being probed right now; try again shortly'));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  async close(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.kill(500)));
  }
}
