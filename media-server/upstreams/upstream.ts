/**
 * An Upstream is the common part of one (source, output profile), whoever produces
 * it: it owns the init segment and the latest GOP, fans fragments out to any number
 * of viewers (sessions, channel publishers), and stops itself after a linger once its
 * last viewer has left. Its Producer (ffmpeg supervisor or channel subscriber) feeds it.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { MqttcastError, fragmentDurationMs, fragmentStartsWithSync, parseFragment, parseInit, type InitInfo, type Mode } from '../../protocol/index.js';
import { FragmentCache } from './fragment-cache.js';
import type { Producer, ProducerSink } from './producer.js';
import type { Fragment, UpstreamEvent, UpstreamViewer } from './upstream-types.js';

export type { Fragment, UpstreamEvent, UpstreamViewer } from './upstream-types.js';

/** Where the time from play to the first fragment of a cold source went. */
export interface StartSteps {
  /** Deciding copy or transcode: an RTSP DESCRIBE (`sdp`) or ffprobe. */
  probeMs?: number;
  probeVia?: string;
  /** ffmpeg spawned → init segment (process start, connection, input analysis). */
  spawnToInitMs?: number;
  /** Init segment → first fragment (mostly waiting for a keyframe). */
  initToFirstFragmentMs?: number;
}

export interface UpstreamOptions {
  key: string;
  /** Whether the output is the source as is (`copy`) or re-encoded (`transcode`). */
  mode: Mode;
  live: boolean;
  /** Shared upstreams serve many viewers from the latest GOP; exclusive ones serve one viewer from the start. */
  shared: boolean;
  lingerMs: number;
  startTimeoutMs: number;
  gopCacheBytes: number;
  producer: Producer;
  /** The probe that came before this upstream, for the start report. */
  probe?: { ms: number; via: string };
  log: Logger;
}

export interface UpstreamEvents {
  closed: [];
  spawned: [pid: number];
  restart: [];
  fragment: [bytes: number];
  /** The first fragment of the first run: how long each step of the start took. */
  started: [steps: StartSteps];
}

export type UpstreamState = 'starting' | 'running' | 'restarting' | 'ended';

export class Upstream extends EventEmitter<UpstreamEvents> {
  state: UpstreamState = 'starting';
  init?: Buffer;
  initInfo?: InitInfo;
  private readonly viewers = new Set<UpstreamViewer>();
  private readonly cache: FragmentCache;
  private claimed = false;
  private paused = false;
  private fragmentCount = 0;
  /** Why the source went away, kept until it delivers again (for the ready timeout's message). */
  private outage?: string;
  private lingerTimer?: NodeJS.Timeout;
  private readonly readyPromise: Promise<InitInfo>;
  private resolveReady!: (info: InitInfo) => void;
  private rejectReady!: (err: MqttcastError) => void;
  private closing?: Promise<void>;

  /** How the first run started: each step's milliseconds, filled in as they happen (then 'started' is emitted). */
  readonly startSteps: StartSteps = {};
  private spawnedAt?: number;
  private initAt?: number;

  constructor(readonly options: UpstreamOptions) {
    super();
    if (options.probe) Object.assign(this.startSteps, { probeMs: options.probe.ms, probeVia: options.probe.via });
    this.cache = new FragmentCache(options.shared, options.gopCacheBytes);
    this.readyPromise = new Promise<InitInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined); // observed by callers of ready()
  }

  /**
   * Starts the producer; call once, after listeners are attached. The linger starts
   * once the source is ready, so a slow source opened by a describe is not closed
   * before its first media (a producer stops a source that never sends).
   */
  start(): this {
    this.options.producer.start(this.sink());
    return this;
  }

  get key(): string {
    return this.options.key;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  get pid(): number | undefined {
    return this.options.producer.pid;
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
      const t = setTimeout(() => {
        const why = this.outage ? `; ${this.outage}` : '';
        reject(new MqttcastError('SOURCE_UNAVAILABLE', `the source sent no media within ${this.options.startTimeoutMs / 1000} s${why}`));
      }, this.options.startTimeoutMs);
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
    if (this.paused) {
      this.paused = false;
      this.options.producer.resume();
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

  private sink(): ProducerSink {
    return {
      init: (data) => this.onInit(data),
      fragment: (data) => this.onFragment(data),
      discontinuity: () => {
        this.cache.clear(); // the cached GOP no longer leads to what follows
        this.broadcast({ type: 'discontinuity' });
      },
      started: (pid) => {
        this.spawnedAt ??= performance.now();
        if (pid !== undefined) this.emit('spawned', pid);
      },
      restarting: (attempt, message, cause) => {
        this.outage = cause ?? message;
        this.state = 'restarting';
        this.emit('restart');
        this.broadcast({ type: 'restarting', attempt, message });
      },
      ended: () => {
        this.broadcast({ type: 'ended', reason: 'source_ended' });
        void this.close();
      },
      failed: (error) => this.fail(error),
    };
  }

  private onInit(data: Buffer): InitInfo | undefined {
    if (this.initAt === undefined && this.spawnedAt !== undefined) {
      this.initAt = performance.now();
      this.startSteps.spawnToInitMs = this.initAt - this.spawnedAt;
    }
    let info: InitInfo;
    try {
      info = parseInit(data);
    } catch (err) {
      this.options.log.error({ err }, 'cannot read the init segment');
      return undefined;
    }
    const first = this.init === undefined;
    this.init = data;
    this.initInfo = info;
    this.cache.clear();
    this.state = 'running';
    if (this.options.live && first) this.markReady(info);
    for (const v of this.viewers) v.onInit(data, info);
    return info;
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
    let durationMs: number | undefined;
    try {
      const info = parseFragment(data);
      const video = this.initInfo.tracks.find((t) => t.id === this.initInfo!.videoTrackId);
      sync = fragmentStartsWithSync(info, this.initInfo.videoTrackId, video?.defaultSampleFlags ?? 0);
      producerTimeMs = info.producerTimeMs;
      durationMs = fragmentDurationMs(info, this.initInfo);
    } catch (err) {
      this.options.log.warn({ err }, 'unreadable fragment dropped');
      return;
    }
    const fragment: Fragment = { data, index: ++this.fragmentCount, sync, producerTimeMs, durationMs };
    this.outage = undefined;
    this.state = 'running';
    if (this.fragmentCount === 1 && !this.options.live) this.markReady(this.initInfo);
    if (this.fragmentCount === 1 && this.initAt !== undefined) {
      this.startSteps.initToFirstFragmentMs = performance.now() - this.initAt;
      this.emit('started', this.startSteps);
    }
    this.emit('fragment', data.byteLength);
    this.remember(fragment);
    for (const v of this.viewers) v.onFragment(fragment);
  }

  private remember(f: Fragment): void {
    if (!this.options.shared && this.claimed) return;
    if (!this.cache.remember(f) && !this.paused) {
      this.paused = true;
      this.options.producer.pause(); // nobody has claimed it yet: let the producer wait (not a stall)
    }
  }

  private fail(error: MqttcastError): void {
    this.rejectReady(error);
    this.broadcast({ type: 'failed', error });
    void this.close();
  }

  private broadcast(event: UpstreamEvent): void {
    for (const v of [...this.viewers]) v.onEvent(event);
  }

  /** Stops the producer (ffmpeg reaped, subscriptions dropped). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'ended';
      clearTimeout(this.lingerTimer);
      this.rejectReady(new MqttcastError('SOURCE_UNAVAILABLE', 'the source was closed'));
      this.cache.clear();
      await this.options.producer.close();
      this.options.log.info('upstream closed');
      this.emit('closed');
    })();
    return this.closing;
  }
}
