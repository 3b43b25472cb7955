/**
 * An Upstream is one ffmpeg process for one (source, output profile). It owns
 * the init segment and the latest GOP, fans fragments out to any number of
 * viewers, restarts a live source with backoff, and stops itself after a linger
 * once its last viewer has left.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  Fmp4Segmenter,
  MqttcastError,
  fragmentStartsWithSync,
  parseFragment,
  parseInit,
  type InitInfo,
  type Mode,
} from '../../protocol/index.js';
import { FfmpegProcess, lastErrorLine, type ExitInfo, type ProcessLimits } from '../ffmpeg/ffmpeg-process.js';
import { FragmentCache } from './fragment-cache.js';
import type { SourceKind } from '../policy/sources.js';
import { decideExit } from '../ffmpeg/exit-decision.js';
import type { Fragment, UpstreamEvent, UpstreamViewer } from './upstream-types.js';

export type { Fragment, UpstreamEvent, UpstreamViewer } from './upstream-types.js';

export interface UpstreamOptions {
  key: string;
  ffmpeg: string;
  args: readonly string[];
  /** Whether the output is the source as is (`copy`) or re-encoded (`transcode`). */
  mode: Mode;
  live: boolean;
  /** What kind of source it reads, for the wording of failures. */
  kind?: SourceKind;
  /** Shared upstreams serve many viewers from the latest GOP; exclusive ones serve one viewer from the start. */
  shared: boolean;
  lingerMs: number;
  startTimeoutMs: number;
  /** No init segment or fragment for this long: ffmpeg is stopped (and a live source restarted). */
  stallTimeoutMs: number;
  maxRestarts: number;
  gopCacheBytes: number;
  processLimits?: ProcessLimits;
  log: Logger;
}

export interface UpstreamEvents {
  closed: [];
  spawned: [pid: number];
  restart: [];
  fragment: [bytes: number];
}

export type UpstreamState = 'starting' | 'running' | 'restarting' | 'ended';

const HEALTHY_RUN_MS = 30_000;

export class Upstream extends EventEmitter<UpstreamEvents> {
  state: UpstreamState = 'starting';
  init?: Buffer;
  initInfo?: InitInfo;
  private proc?: FfmpegProcess;
  private readonly viewers = new Set<UpstreamViewer>();
  private readonly cache: FragmentCache;
  private claimed = false;
  private fragmentCount = 0;
  private restarts = 0;
  private startedAt = 0;
  /** A run this upstream stopped itself: how long it had been silent, or why. */
  private stopped?: { proc: FfmpegProcess; silentMs?: number; because?: string };
  private lastOutputAt = 0;
  /** Why the source went away, kept across restarts until it delivers again. */
  private outage?: string;
  private lingerTimer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  private readonly readyPromise: Promise<InitInfo>;
  private resolveReady!: (info: InitInfo) => void;
  private rejectReady!: (err: MqttcastError) => void;
  private closing?: Promise<void>;

  constructor(readonly options: UpstreamOptions) {
    super();
    this.cache = new FragmentCache(options.shared, options.gopCacheBytes);
    this.readyPromise = new Promise<InitInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined); // observed by callers of ready()
  }

  /**
   * Starts ffmpeg; call once, after listeners are attached. The linger starts
   * once the source is ready, so a slow source opened by a describe is not
   * closed before its first media (a source that never sends is stopped by the
   * stall timer).
   */
  start(): this {
    this.spawn();
    return this;
  }

  get key(): string {
    return this.options.key;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  get pid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  /** Exclusive upstreams can be taken by one viewer only. */
  get available(): boolean {
    return this.state !== 'ended' && (this.options.shared || !this.claimed);
  }

  /**
   * Resolves with the init segment's description, or rejects with a coded error.
   * An on-demand source is ready at its first fragment: a file whose header reads
   * but whose media does not (moov at the end, no Range) must fail its describe.
   */
  ready(): Promise<InitInfo> {
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(
        () => {
          const why = this.outage ? `; ${this.outage}` : '';
          reject(new MqttcastError('SOURCE_UNAVAILABLE', `the source sent no media within ${this.options.startTimeoutMs / 1000} s${why}`));
        },
        this.options.startTimeoutMs,
      );
      void this.readyPromise.finally(() => clearTimeout(t)).catch(() => undefined);
    });
    return Promise.race([this.readyPromise, timeout]);
  }

  attach(viewer: UpstreamViewer): void {
    if (!this.available) throw new MqttcastError('SOURCE_UNAVAILABLE', 'the source stopped while the play was starting');
    this.claimed = true;
    clearTimeout(this.lingerTimer);
    this.viewers.add(viewer);
    if (this.init && this.initInfo) {
      viewer.onInit(this.init, this.initInfo);
      for (const f of this.cache.replay()) viewer.onFragment(f);
    }
    if (!this.options.shared) this.cache.clear();
    if (this.proc?.stdout.isPaused()) {
      this.proc.stdout.resume();
      this.armStall();
    }
  }

  detach(viewer: UpstreamViewer): void {
    if (!this.viewers.delete(viewer)) return;
    if (this.viewers.size === 0) {
      if (this.options.shared) this.armLinger();
      else void this.close();
    }
  }

  private armLinger(): void {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => {
      if (this.viewers.size === 0) void this.close();
    }, this.options.lingerMs);
  }

  private spawn(): void {
    const { ffmpeg, args, log } = this.options;
    const proc = new FfmpegProcess(ffmpeg, args, this.options.processLimits);
    this.proc = proc;
    this.startedAt = Date.now();
    log.info({ pid: proc.pid, restarts: this.restarts }, 'ffmpeg started');
    this.emit('spawned', proc.pid);
    const segmenter = new Fmp4Segmenter();
    this.armStall();
    proc.stdout.on('data', (chunk: Buffer) => {
      try {
        for (const seg of segmenter.push(chunk)) {
          const data = Buffer.from(seg.data.buffer, seg.data.byteOffset, seg.data.byteLength);
          if (seg.kind === 'init') this.onInit(data);
          else this.onFragment(data);
        }
      } catch (err) {
        log.error({ err }, 'ffmpeg produced malformed MP4; stopping it');
        this.stop(proc, { because: 'ffmpeg produced MP4 that could not be read' });
      }
    });
    void proc.exited.then((exit) => this.onExit(proc, exit));
  }

  /** Watches for a run that goes quiet: no init segment or fragment for `stallTimeoutMs`. */
  private armStall(): void {
    clearTimeout(this.stallTimer);
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

  private onInit(data: Buffer): void {
    let info: InitInfo;
    try {
      info = parseInit(data);
    } catch (err) {
      this.options.log.error({ err }, 'cannot read the init segment');
      if (this.proc) this.stop(this.proc, { because: 'ffmpeg produced an init segment that could not be read' });
      return;
    }
    const first = this.init === undefined;
    this.init = data;
    this.initInfo = info;
    this.cache.clear();
    this.state = 'running';
    this.armStall();
    if (this.options.live && first) this.markReady(info);
    for (const v of this.viewers) v.onInit(data, info);
  }

  /** The linger starts once the source is ready, so a describe's upstream lives until it has answered. */
  private markReady(info: InitInfo): void {
    this.resolveReady(info);
    if (this.viewers.size === 0) this.armLinger();
  }

  private onFragment(data: Buffer): void {
    if (!this.initInfo) return;
    let sync: boolean;
    let producerTimeMs: number | undefined;
    try {
      const info = parseFragment(data);
      const video = this.initInfo.tracks.find((t) => t.id === this.initInfo!.videoTrackId);
      sync = fragmentStartsWithSync(info, this.initInfo.videoTrackId, video?.defaultSampleFlags ?? 0);
      producerTimeMs = info.producerTimeMs;
    } catch (err) {
      this.options.log.warn({ err }, 'unreadable fragment dropped');
      return;
    }
    const fragment: Fragment = { data, index: ++this.fragmentCount, sync, producerTimeMs };
    this.armStall();
    this.outage = undefined;
    if (this.fragmentCount === 1 && !this.options.live) this.markReady(this.initInfo);
    this.emit('fragment', data.byteLength);
    this.remember(fragment);
    for (const v of this.viewers) v.onFragment(fragment);
  }

  private remember(f: Fragment): void {
    if (!this.options.shared && this.claimed) return;
    if (!this.cache.remember(f)) {
      this.proc?.stdout.pause(); // nobody has claimed it yet: let ffmpeg wait (not a stall)
      clearTimeout(this.stallTimer);
    }
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
      hadInit: this.init !== undefined,
      totalFragments: this.fragmentCount,
      stalledMs: stopped?.silentMs,
      stoppedBecause: stopped?.because,
      audioOnly: this.initInfo !== undefined && this.initInfo.videoTrackId === undefined,
      restarts: this.restarts,
      maxRestarts: this.options.maxRestarts,
      outage: this.outage,
    });
    // The raw stderr goes to the log only; viewers get the decision's plain message.
    this.options.log.info(
      { pid: proc.pid, code: exit.code, signal: exit.signal, stderr: lastErrorLine(exit.stderr), stopped: stopped?.because ?? stopped?.silentMs, fragments: this.fragmentCount, decision },
      'ffmpeg exited',
    );
    if (decision.action === 'ended') {
      this.broadcast({ type: 'ended', reason: 'source_ended' });
      void this.close();
      return;
    }
    if (decision.action === 'failed') {
      this.fail(new MqttcastError('SOURCE_UNAVAILABLE', decision.message));
      return;
    }
    this.outage = decision.outage;
    this.restarts++;
    this.state = 'restarting';
    this.emit('restart');
    const delay = Math.min(10_000, 250 * 2 ** (this.restarts - 1));
    this.broadcast({ type: 'restarting', attempt: this.restarts, message: `${decision.outage}; restarting in ${delay} ms` });
    this.restartTimer = setTimeout(() => {
      if (!this.closing) this.spawn();
    }, delay);
  }

  private fail(error: MqttcastError): void {
    this.rejectReady(error);
    this.broadcast({ type: 'failed', error });
    void this.close();
  }

  private broadcast(event: UpstreamEvent): void {
    for (const v of [...this.viewers]) v.onEvent(event);
  }

  /** Stops ffmpeg (and reaps it). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'ended';
      clearTimeout(this.lingerTimer);
      clearTimeout(this.stallTimer);
      clearTimeout(this.restartTimer);
      this.rejectReady(new MqttcastError('SOURCE_UNAVAILABLE', 'the source was closed'));
      this.cache.clear();
      await this.proc?.kill();
      this.options.log.info('upstream closed');
      this.emit('closed');
    })();
    return this.closing;
  }
}
