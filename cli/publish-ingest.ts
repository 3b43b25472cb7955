/**
 * Runs ffmpeg for `mqttcast publish` and keeps it running: its stdout is cut into
 * whole messages (init, fragments); when it dies it is restarted with backoff
 * (1 s doubling to 30 s, back to 1 s after a run of a good minute). ffmpeg lives in
 * its own process group, is killed as a group and reaped, and dies with us even on
 * SIGKILL (parent-death signal).
 */
import { Fmp4Segmenter, MqttcastError, type Segment } from '../protocol/index.js';
import { FfmpegProcess } from '../media-server/ffmpeg/ffmpeg-process.js';
import type { StdinFeed } from './publish-input.js';

export const RESTART_MIN_MS = 1000;
export const RESTART_MAX_MS = 30_000;
/**
 * Runs that may fail before the first picture before the input counts as unusable (the
 * probe already opened it; a camera can be busy for a moment after ffprobe let it go).
 */
export const START_ATTEMPTS = 3;
/** A run this long resets the backoff. */
export const GOOD_RUN_MS = 60_000;

export interface IngestOptions {
  ffmpeg: string;
  args: readonly string[];
  /** Standard input as the source: fed into each run. */
  stdin?: StdinFeed;
  /** The input ending (ffmpeg exiting 0) ends the publication, instead of a restart. */
  endsWithInput: boolean;
  onSegment: (segment: Segment) => void;
  /** ffmpeg's stderr made into a reason ('' when it says nothing useful). */
  explain: (stderr: string) => string;
  /** A run ended; `restartInMs` is undefined when no restart follows. */
  onExit: (why: string, restartInMs: number | undefined) => void;
}

export type IngestEnd = { reason: 'input_ended' } | { reason: 'stopped' };

export class Ingest {
  private proc: FfmpegProcess | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private delay = RESTART_MIN_MS;
  private producedInit = false;
  private failedStarts = 0;
  /** PIDs of every ffmpeg this ingest started (for tests and diagnostics). */
  readonly pids: number[] = [];

  constructor(private readonly options: IngestOptions) {}

  /**
   * Runs until the input ends or close() is called. Rejects with SOURCE_UNAVAILABLE when
   * START_ATTEMPTS runs in a row fail before the first init segment (the input is unusable).
   */
  async run(): Promise<IngestEnd> {
    while (!this.stopping) {
      const started = Date.now();
      const { code, why } = await this.runOnce();
      if (this.stopping) break;
      const inputDone = this.options.stdin ? this.options.stdin.ended : code === 0;
      if (this.options.endsWithInput && inputDone) {
        this.options.onExit(code === 0 ? 'the input ended' : `the input ended (${why})`, undefined);
        return { reason: 'input_ended' };
      }
      if (!this.producedInit && ++this.failedStarts >= START_ATTEMPTS) {
        this.options.onExit(why, undefined);
        throw new MqttcastError('SOURCE_UNAVAILABLE', why);
      }
      if (Date.now() - started >= GOOD_RUN_MS) this.delay = RESTART_MIN_MS;
      this.options.onExit(why, this.delay);
      await this.sleep(this.delay);
      this.delay = Math.min(this.delay * 2, RESTART_MAX_MS);
    }
    return { reason: 'stopped' };
  }

  /** Stops the loop, kills ffmpeg's group and waits until it is reaped. */
  async close(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.options.stdin?.detach();
    await this.proc?.kill(2000);
  }

  private async runOnce(): Promise<{ code: number | null; why: string }> {
    const stdin = this.options.stdin;
    const proc = new FfmpegProcess(this.options.ffmpeg, this.options.args, undefined, {
      stdin: stdin ? 'pipe' : 'ignore',
      parentDeathSignal: 'SIGKILL',
    });
    this.proc = proc;
    if (proc.pid > 0) this.pids.push(proc.pid);
    if (stdin && proc.stdin) stdin.attach(proc.stdin);
    const segmenter = new Fmp4Segmenter();
    let streamError: string | undefined;
    proc.stdout.on('data', (chunk: Buffer) => {
      if (streamError) return;
      try {
        for (const segment of segmenter.push(chunk)) {
          if (segment.kind === 'init') this.producedInit = true;
          this.options.onSegment(segment);
        }
      } catch (err) {
        streamError = `ffmpeg wrote something that is not fragmented MP4: ${(err as Error).message}`;
        void proc.kill(500);
      }
    });
    const exit = await proc.exited;
    stdin?.detach();
    this.proc = undefined;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
    const why = streamError ?? (this.options.explain(exit.stderr) || (exit.code === 0 ? 'the input ended' : `ffmpeg ${how}`));
    return { code: exit.code, why };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
