/**
 * Opening the input of `mqttcast publish`: ffprobe decides copy or transcode, and
 * standard input is read by us (a probe prefix, then piped into each ffmpeg run).
 */
import type { Readable, Writable } from 'node:stream';
import { MqttcastError } from '../protocol/index.js';
import type { OutputProfile } from '../media-server/ffmpeg/ffmpeg-args.js';
import { diagnose } from '../media-server/ffmpeg/ffmpeg-diagnosis.js';
import { FfmpegProcess } from '../media-server/ffmpeg/ffmpeg-process.js';
import { DEFAULT_FAMILIES, decideProfile, parseProbeOutput, type ProbeResult } from '../media-server/ffmpeg/probe.js';
import { buildProbeArgs, describeInput, type InputOptions, type PublishInput } from './publish-args.js';

export const PROBE_TIMEOUT_MS = 20_000;

export interface OpenedInput {
  profile: OutputProfile;
  live: boolean;
  probe?: ProbeResult;
}

/**
 * Probes the input and picks the output profile: copy H.264/AAC, transcode the rest
 * (everything with `transcode`). Throws SOURCE_UNAVAILABLE with ffprobe's reason.
 */
export async function openInput(
  ffprobe: string,
  input: PublishInput,
  opts: InputOptions & { transcode: boolean },
  stdin?: StdinFeed,
): Promise<OpenedInput> {
  if (input.kind === 'demo') return { profile: { video: 'h264', audio: 'aac' }, live: true };
  const proc = new FfmpegProcess(ffprobe, buildProbeArgs(input, opts), undefined, {
    stdin: input.kind === 'stdin' ? 'pipe' : 'ignore',
    parentDeathSignal: 'SIGKILL',
  });
  const chunks: Buffer[] = [];
  proc.stdout.on('data', (c: Buffer) => chunks.push(c));
  if (proc.stdin && stdin) {
    proc.stdin.on('error', () => undefined); // EPIPE: ffprobe has read enough and gone; its exit status tells
    proc.stdin.end(await stdin.readPrefix());
  }
  const timer = setTimeout(() => void proc.kill(500), PROBE_TIMEOUT_MS);
  const exit = await proc.exited.finally(() => clearTimeout(timer));
  if (exit.code !== 0) {
    const why = exit.signal ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s` : explainFfmpeg(exit.stderr, input) || `ffprobe exited with ${exit.code}`;
    throw new MqttcastError('SOURCE_UNAVAILABLE', `cannot open ${describeInput(input)}: ${why}`);
  }
  const json = Buffer.concat(chunks).toString('utf8');
  const probe = parseProbeOutput(json);
  const profile = decideProfile(probe, DEFAULT_FAMILIES);
  // ADTS-framed AAC (MPEG-TS, HLS, raw .aac): copied into fMP4 with an empty moov, its init
  // lacks the AudioSpecificConfig (codec "mp4a.40", undecodable by MSE); re-encoding is cheap.
  if (profile.audio === 'copy' && probe.audio?.codec === 'aac' && /\b(mpegts|hls|applehttp|aac)\b/.test(formatName(json))) {
    profile.audio = 'aac';
  }
  // Copied AAC now never has ADTS headers, so no aac_adtstoasc: with -stream_loop that filter
  // breaks at the loop point in ffmpeg 5 ("non-NULL packet sent after an EOF"), stalling the muxer.
  if (profile.audio === 'copy') profile.audioCodec = undefined;
  if (opts.transcode) {
    if (profile.video !== 'none') profile.video = 'h264';
    if (profile.audio !== 'none') profile.audio = 'aac';
  }
  return { profile, live: input.kind === 'stdin' || input.kind === 'device' || probe.live, probe };
}

const GENERIC_LAST_LINE = /^(Error initializing output stream|Conversion failed|Error while (opening|filtering|decoding)|Could not write header)/i;

/**
 * ffmpeg's reason for the operator: the media server's plain-language diagnosis, with
 * ffmpeg's own last line (paths and URLs included: this is the operator's own input).
 */
export function explainFfmpeg(stderr: string, input: PublishInput): string {
  const kind = input.kind === 'url' ? (input.scheme.startsWith('rtsp') ? 'rtsp' : 'http') : input.kind === 'file' ? 'file' : undefined;
  const d = diagnose(stderr, { kind });
  if (!d.known) {
    // ffmpeg often ends with a generic summary ("Error initializing output stream ...") after the telling line.
    const lines = stderr.split(/\r?\n/).map((l) => l.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '').trim()).filter(Boolean);
    const [before, last] = lines.slice(-2);
    return last !== undefined && before !== undefined && GENERIC_LAST_LINE.test(last) ? `${before} (${last})`.slice(0, 400) : d.lastLine;
  }
  return d.lastLine && !d.reason!.includes(d.lastLine) ? `${d.reason} (ffmpeg: ${d.lastLine})` : d.reason!;
}

function formatName(probeJson: string): string {
  const parsed = JSON.parse(probeJson) as { format?: { format_name?: unknown } };
  return typeof parsed.format?.format_name === 'string' ? parsed.format.format_name : '';
}

/** Bytes of standard input shown to ffprobe before ffmpeg starts (then replayed to ffmpeg). */
export const STDIN_PROBE_BYTES = 1024 * 1024;
export const STDIN_PROBE_MS = 3000;

/**
 * Standard input as the source of successive ffmpeg runs. The first bytes are kept for
 * the probe and replayed to the first run; between runs the input is paused, so the
 * writer (libcamera-vid, gst-launch) is held by the pipe rather than buffered here.
 */
export class StdinFeed {
  private prefix: Buffer | undefined;
  private target: Writable | undefined;
  private eof = false;

  constructor(private readonly input: Readable = process.stdin) {
    input.once('end', () => {
      this.eof = true;
    });
  }

  /** True once the writer has closed standard input. */
  get ended(): boolean {
    return this.eof;
  }

  /** Up to STDIN_PROBE_BYTES, or what arrived within STDIN_PROBE_MS, or all of a short input. */
  async readPrefix(): Promise<Buffer> {
    if (this.prefix) return this.prefix;
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.input.off('data', onData);
        this.input.off('end', done);
        this.input.pause();
        resolve();
      };
      const onData = (c: Buffer): void => {
        chunks.push(c);
        size += c.byteLength;
        if (size >= STDIN_PROBE_BYTES) done();
      };
      const timer = setTimeout(done, STDIN_PROBE_MS);
      this.input.on('data', onData);
      this.input.once('end', done);
    });
    this.prefix = Buffer.concat(chunks);
    return this.prefix;
  }

  /** Feeds `target` (an ffmpeg stdin): the probe prefix once, then standard input until it ends. */
  attach(target: Writable): void {
    this.detach();
    this.target = target;
    target.on('error', () => this.detach()); // EPIPE: that ffmpeg died; the supervisor starts the next
    if (this.prefix && this.prefix.byteLength > 0) {
      target.write(this.prefix);
      this.prefix = Buffer.alloc(0);
    }
    if (this.eof) target.end();
    else this.input.pipe(target);
  }

  detach(): void {
    if (!this.target) return;
    this.input.unpipe(this.target);
    this.input.pause();
    this.target = undefined;
  }
}
