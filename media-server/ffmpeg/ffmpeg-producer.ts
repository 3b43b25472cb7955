/**
 * The ffmpeg supervisor that feeds an upstream from a pulled source: runs ffmpeg,
 * splits its stdout into whole boxes, stops a run that goes quiet, and on each exit
 * decides (exit-decision.ts) whether the source ended, failed, or is restarted with
 * backoff.
 */
import type { Logger } from 'pino';
import { Fmp4Segmenter, MqttcastError } from '../../protocol/index.js';
import type { SourceKind } from '../policy/sources.js';
import type { Producer, ProducerSink } from '../upstreams/producer.js';
import { decideExit } from './exit-decision.js';
import { FfmpegProcess, lastErrorLine, type ExitInfo, type ProcessLimits } from './ffmpeg-process.js';

export interface FfmpegProducerOptions {
  ffmpeg: string;
  /** ffmpeg's arguments, or a function of the restart count (0 for the first run). */
  args: readonly string[] | ((attempt: number) => readonly string[]);
  live: boolean;
  /** What kind of source it reads, for the wording of failures. */
  kind?: SourceKind;
  /** No init segment or fragment for this long: ffmpeg is stopped (and a live source restarted). */
  stallTimeoutMs: number;
  maxRestarts: number;
  processLimits?: ProcessLimits;
  log: Logger;
}

const HEALTHY_RUN_MS = 30_000;

export class FfmpegProducer implements Producer {
  private sink?: ProducerSink;
  private proc?: FfmpegProcess;
  private hadInit = false;
  private audioOnly = false;
  private fragments = 0;
  private restarts = 0;
  private startedAt = 0;
  private paused = false;
  /** A run this producer stopped itself: how long it had been silent, or why. */
  private stopped?: { proc: FfmpegProcess; silentMs?: number; because?: string };
  private lastOutputAt = 0;
  /** Why the source first went away in the current streak of restarts. */
  private outage?: string;
  private stallTimer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  constructor(private readonly options: FfmpegProducerOptions) {}

  get pid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  start(sink: ProducerSink): void {
    this.sink = sink;
    this.spawn();
  }

  pause(): void {
    this.paused = true;
    this.proc?.stdout.pause();
    clearTimeout(this.stallTimer); // waiting for a viewer is not a stall
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.proc?.stdout.resume();
    this.armStall();
  }

  private spawn(): void {
    const { ffmpeg, log } = this.options;
    const args = typeof this.options.args === 'function' ? this.options.args(this.restarts) : this.options.args;
    const proc = new FfmpegProcess(ffmpeg, args, this.options.processLimits);
    this.proc = proc;
    this.paused = false;
    this.startedAt = Date.now();
    log.info({ pid: proc.pid, restarts: this.restarts }, 'ffmpeg started');
    this.sink!.started(proc.pid);
    const segmenter = new Fmp4Segmenter();
    this.armStall();
    proc.stdout.on('data', (chunk: Buffer) => {
      try {
        for (const seg of segmenter.push(chunk)) {
          const data = Buffer.from(seg.data.buffer, seg.data.byteOffset, seg.data.byteLength);
          if (seg.kind === 'init') this.onInit(proc, data);
          else this.onFragment(data);
        }
      } catch (err) {
        log.error({ err }, 'ffmpeg produced malformed MP4; stopping it');
        this.stop(proc, { because: 'ffmpeg produced MP4 that could not be read' });
      }
    });
    void proc.exited.then((exit) => this.onExit(proc, exit));
  }

  private onInit(proc: FfmpegProcess, data: Buffer): void {
    const info = this.sink!.init(data);
    if (!info) {
      this.stop(proc, { because: 'ffmpeg produced an init segment that could not be read' });
      return;
    }
    this.hadInit = true;
    this.audioOnly = info.videoTrackId === undefined;
    this.armStall();
  }

  private onFragment(data: Buffer): void {
    if (!this.hadInit) return;
    this.fragments++;
    this.outage = undefined;
    this.armStall();
    this.sink!.fragment(data);
  }

  /** Watches for a run that goes quiet: no init segment or fragment for `stallTimeoutMs`. */
  private armStall(): void {
    clearTimeout(this.stallTimer);
    if (this.paused) return;
    this.lastOutputAt = Date.now();
    const proc = this.proc;
    this.stallTimer = setTimeout(() => {
      if (!proc?.running || proc !== this.proc) return;
      const ms = Date.now() - this.lastOutputAt;
      this.options.log.warn({ pid: proc.pid, ms }, 'no media from ffmpeg; stopping it');
      this.stop(proc, { silentMs: ms });
    }, this.options.stallTimeoutMs);
  }

  /** Stops a run for a reason of ours; onExit reports it. */
  private stop(proc: FfmpegProcess, why: { silentMs?: number; because?: string }): void {
    this.stopped ??= { proc, ...why };
    void proc.kill(500);
  }

  private onExit(proc: FfmpegProcess, exit: ExitInfo): void {
    clearTimeout(this.stallTimer);
    if (proc !== this.proc || this.closing) return;
    const stopped = this.stopped?.proc === proc ? this.stopped : undefined;
    this.stopped = undefined;
    if (Date.now() - this.startedAt > HEALTHY_RUN_MS) this.restarts = 0;
    const decision = decideExit({
      exit,
      live: this.options.live,
      kind: this.options.kind,
      hadInit: this.hadInit,
      totalFragments: this.fragments,
      stalledMs: stopped?.silentMs,
      stoppedBecause: stopped?.because,
      audioOnly: this.hadInit && this.audioOnly,
      restarts: this.restarts,
      maxRestarts: this.options.maxRestarts,
      outage: this.outage,
    });
    // The raw stderr goes to the log only; viewers get the decision's plain message.
    this.options.log.info(
      { pid: proc.pid, code: exit.code, signal: exit.signal, stderr: lastErrorLine(exit.stderr), stopped: stopped?.because ?? stopped?.silentMs, fragments: this.fragments, decision },
      'ffmpeg exited',
    );
    if (decision.action === 'ended') return this.sink!.ended();
    if (decision.action === 'failed') return this.sink!.failed(new MqttcastError('SOURCE_UNAVAILABLE', decision.message));
    this.outage = decision.outage;
    this.restarts++;
    const delay = Math.min(10_000, 250 * 2 ** (this.restarts - 1));
    this.sink!.restarting(this.restarts, `${decision.outage}; restarting in ${delay} ms`, decision.outage);
    this.restartTimer = setTimeout(() => {
      if (!this.closing) this.spawn();
    }, delay);
  }

  /** Stops ffmpeg and reaps it. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.stallTimer);
      clearTimeout(this.restartTimer);
      await this.proc?.kill();
    })();
    return this.closing;
  }
}
