/**
 * Turns a keyframe into a JPEG: the init segment and the fragment that opens a GOP are
 * piped into one short ffmpeg (`-frames:v 1`, scaled to a width, never up), which writes
 * one JPEG to stdout. No second connection to the camera: the bytes are the ones the
 * server already holds.
 *
 * Bounded: one ffmpeg at a time (the decoder of a 1080p keyframe takes a core for tens of
 * milliseconds), under the same kernel limits as every other ffmpeg, killed after a
 * timeout; at most one job waits per channel (a newer keyframe replaces an older one
 * that has not started, whose caller gets `undefined`), and at most `maxWaiting` in all.
 */
import { MqttcastError } from '../../protocol/index.js';
import { FfmpegProcess, lastErrorLine, type ProcessLimits } from '../ffmpeg/ffmpeg-process.js';

export interface SnapshotEncoderOptions {
  ffmpeg: string;
  /** Width of the picture in pixels; the height keeps the aspect (even). Smaller sources keep their size. */
  width: number;
  /** JPEG quality scale of ffmpeg's mjpeg encoder: 2 (best) to 31. */
  quality?: number;
  limits?: ProcessLimits;
  timeoutMs?: number;
  /** Jobs that may wait for the decoder, all channels together. */
  maxWaiting?: number;
}

/** The largest picture accepted from ffmpeg (a 640-wide JPEG is 20–80 kB). */
const MAX_JPEG_BYTES = 4 * 1024 * 1024;

interface Job {
  key: string;
  input: Buffer[];
  resolve: (jpeg: Buffer | undefined) => void;
  reject: (err: Error) => void;
}

export function snapshotArgs(width: number, quality: number): string[] {
  return [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'mp4', '-i', 'pipe:0',
    '-map', '0:v:0', '-frames:v', '1', '-an',
    // Never upscale; keep the aspect with an even height; full-range 4:2:0 as JPEG expects.
    '-vf', `scale='min(${width},iw)':-2,format=yuvj420p`,
    '-c:v', 'mjpeg', '-q:v', String(quality),
    '-f', 'image2pipe', 'pipe:1',
  ];
}

export class SnapshotEncoder {
  private readonly waiting: Job[] = [];
  private current?: FfmpegProcess;
  private running = false;
  private closed = false;
  /** Pictures made, and milliseconds of ffmpeg wall time they took (for metrics and the bench). */
  readonly totals = { made: 0, failed: 0, ms: 0 };

  constructor(private readonly options: SnapshotEncoderOptions) {}

  /**
   * A JPEG of the first video frame of `init` + `fragments`, or undefined when a newer job
   * for the same `key` replaced this one before it started. Rejects SOURCE_UNAVAILABLE
   * (with ffmpeg's reason) when the media does not decode.
   */
  encode(key: string, init: Buffer, fragments: readonly Buffer[]): Promise<Buffer | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const job: Job = { key, input: [init, ...fragments], resolve, reject };
      const older = this.waiting.findIndex((j) => j.key === key);
      if (older >= 0) this.waiting.splice(older, 1, job)[0]!.resolve(undefined);
      else if (this.waiting.length >= (this.options.maxWaiting ?? 64)) {
        reject(new MqttcastError('TOO_MANY_SESSIONS', 'too many snapshots waiting for the decoder'));
        return;
      } else this.waiting.push(job);
      void this.next();
    });
  }

  get queued(): number {
    return this.waiting.length;
  }

  private async next(): Promise<void> {
    if (this.running) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = true;
    try {
      job.resolve(await this.run(job.input));
    } catch (err) {
      job.reject(err as Error);
    } finally {
      this.running = false;
      void this.next();
    }
  }

  private async run(input: Buffer[]): Promise<Buffer | undefined> {
    if (this.closed) return undefined;
    const started = performance.now();
    const proc = new FfmpegProcess(this.options.ffmpeg, snapshotArgs(this.options.width, this.options.quality ?? 5), this.options.limits, { stdin: 'pipe' });
    this.current = proc;
    const chunks: Buffer[] = [];
    let size = 0;
    proc.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_JPEG_BYTES) chunks.push(c);
      else void proc.kill(0);
    });
    // ffmpeg may stop reading once it has its frame: a closed pipe is not our error.
    proc.stdin!.on('error', () => undefined);
    for (const part of input) proc.stdin!.write(part);
    proc.stdin!.end();
    const timer = setTimeout(() => void proc.kill(500), this.options.timeoutMs ?? 10_000);
    try {
      const exit = await proc.exited;
      this.totals.ms += performance.now() - started;
      const jpeg = Buffer.concat(chunks);
      if (this.closed) return undefined;
      if (exit.code !== 0 || jpeg.length === 0 || size > MAX_JPEG_BYTES) {
        this.totals.failed++;
        const why = size > MAX_JPEG_BYTES ? 'the picture was too large' : lastErrorLine(exit.stderr) || `ffmpeg exited with ${exit.signal ?? exit.code} and no picture`;
        throw new MqttcastError('SOURCE_UNAVAILABLE', `could not make a snapshot: ${why}`);
      }
      this.totals.made++;
      return jpeg;
    } finally {
      clearTimeout(timer);
      this.current = undefined;
    }
  }

  /** Drops waiting jobs (their callers get undefined) and stops a running ffmpeg. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.resolve(undefined);
    await this.current?.kill(500);
  }
}
