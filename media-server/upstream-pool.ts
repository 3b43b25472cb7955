/**
 * Finds or starts the upstream for a (source, output profile). Live sources
 * share one upstream among all viewers; on-demand sources get one each (a
 * describe prepares one that the following play claims). Probe results are
 * cached briefly so describe → play does not probe twice.
 */
import type { Logger } from 'pino';
import { MqttcastError, type Mode } from '../protocol/index.js';
import type { Config } from './daemon/config.js';
import type { EgressGrant, EgressProxy } from './policy/egress-proxy.js';
import { buildFfmpegArgs, isCopy, profileKey, type OutputProfile } from './ffmpeg/ffmpeg-args.js';
import type { Metrics } from './daemon/metrics.js';
import { codecFamilies, decideProfile, type ProbeResult, type Prober } from './ffmpeg/probe.js';
import type { SourceSpec } from './policy/sources.js';
import type { ChannelHub } from './channels/channel-hub.js';
import { ChannelProducer } from './channels/channel-producer.js';
import { CHANNEL_SOURCE_PREFIX } from './channels/channel-source.js';
import { FfmpegProducer } from './ffmpeg/ffmpeg-producer.js';
import { Upstream, type StartSteps } from './upstreams/upstream.js';

const PROBE_CACHE_MS = 60_000;
const DEMO_PROFILE: OutputProfile = { video: 'h264', audio: 'aac' };

export interface Acquired {
  upstream: Upstream;
  mode: Mode;
  live: boolean;
  probe?: ProbeResult;
}

export class UpstreamPool {
  private readonly all = new Set<Upstream>();
  private readonly probes = new Map<string, { at: number; result: ProbeResult }>();
  private sequence = 0;
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly ffmpeg: string,
    private readonly prober: Prober,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly egress?: EgressProxy,
    private readonly channels?: ChannelHub,
  ) {}

  /** Lets ffmpeg reach an HTTP(S) source only through the egress proxy, within the source's scope. */
  private grant(spec: SourceSpec): EgressGrant | undefined {
    if (!this.egress || spec.trusted || (spec.kind !== 'http' && spec.kind !== 'hls')) return undefined;
    return this.egress.grant({ origin: new URL(spec.url!).origin, trustedLiteral: spec.trustedLiteral ?? false });
  }

  get size(): number {
    return this.all.size;
  }

  upstreams(): Upstream[] {
    return [...this.all];
  }

  async acquire(spec: SourceSpec, codecs: readonly string[] | undefined): Promise<Acquired> {
    if (spec.kind === 'channel') return this.acquireChannel(spec);
    const families = codecFamilies(codecs);
    const warm = this.findWarm(spec, families);
    if (warm) return { upstream: warm, mode: warm.options.mode, live: warm.options.live };

    let profile = DEMO_PROFILE;
    let live = true;
    let probe: ProbeResult | undefined;
    let probeTiming: { ms: number; via: string } | undefined;
    if (spec.kind !== 'demo') {
      const t0 = performance.now();
      probe = await this.probe(spec);
      probeTiming = { ms: performance.now() - t0, via: probe.via ?? 'cache' };
      live = spec.live ?? probe.live;
      profile = decideProfile(probe, families);
    }
    if (this.closed) throw new MqttcastError('SOURCE_UNAVAILABLE', 'the media server is shutting down; try again in a moment');
    const key = `${spec.key}|${spec.kind === 'demo' ? 'demo' : profileKey(profile)}`;
    const mode: Mode = spec.kind === 'demo' || !isCopy(profile) ? 'transcode' : 'copy';
    // Live: the one shared upstream. On demand: one prepared by a describe and not yet claimed.
    const existing = [...this.all].find((u) => u.key === key && u.available);
    const upstream = existing ?? this.create(spec, key, profile, mode, live, probeTiming);
    return { upstream, mode, live, probe };
  }

  /** A live channel: one upstream (one subscription) per channel, fed as published, never transcoded. */
  private acquireChannel(spec: SourceSpec): Acquired {
    const key = `${spec.key}|copy`;
    const existing = [...this.all].find((u) => u.key === key && u.available);
    if (existing) return { upstream: existing, mode: 'copy', live: true };
    if (!this.channels) throw new MqttcastError('SOURCE_UNAVAILABLE', 'this media server does not serve live channels');
    const { limits } = this.config;
    this.checkUpstreamLimit();
    const log = this.log.child({ upstream: `u${++this.sequence}`, source: spec.name });
    const producer = new ChannelProducer({
      name: spec.name!.slice(CHANNEL_SOURCE_PREFIX.length),
      hub: this.channels,
      graceMs: limits.channelGraceMs,
      stallTimeoutMs: limits.channelStallMs,
      log,
    });
    const upstream = new Upstream({ key, mode: 'copy', live: true, shared: true, lingerMs: limits.lingerMs, startTimeoutMs: limits.startTimeoutMs, gopCacheBytes: limits.gopCacheBytes, producer, log });
    return { upstream: this.track(upstream), mode: 'copy', live: true };
  }

  /** Whether an upstream of this source is running, to be joined without opening another. */
  holds(spec: SourceSpec): boolean {
    return [...this.all].some((u) => u.key.startsWith(`${spec.key}|`) && u.available);
  }

  private checkUpstreamLimit(): void {
    if (this.all.size >= this.config.limits.maxUpstreams) {
      throw new MqttcastError('TOO_MANY_SESSIONS', `the server is already reading ${this.all.size} sources, its limit`);
    }
  }

  private track(upstream: Upstream, onClosed?: () => void): Upstream {
    this.all.add(upstream);
    upstream.on('spawned', () => this.metrics.ffmpegStarts.inc());
    upstream.on('restart', () => this.metrics.ffmpegRestarts.inc());
    upstream.once('closed', () => {
      this.all.delete(upstream);
      onClosed?.();
    });
    return upstream.start();
  }

  /** A running shared upstream of this source whose output the requester can play as is. */
  private findWarm(spec: SourceSpec, families: Set<string>): Upstream | undefined {
    return [...this.all].find(
      (u) =>
        u.key.startsWith(`${spec.key}|`) &&
        u.options.shared &&
        u.available &&
        u.initInfo !== undefined &&
        u.initInfo.tracks.every((t) => [...codecFamilies([t.codec])].every((f) => families.has(f))),
    );
  }

  private async probe(spec: SourceSpec): Promise<ProbeResult> {
    const cached = this.probes.get(spec.key);
    if (cached && Date.now() - cached.at < PROBE_CACHE_MS) return cached.result;
    const grant = this.grant(spec);
    let result: ProbeResult;
    try {
      result = await this.prober.probe(spec, grant?.proxyUrl);
    } catch (err) {
      // The reply carries the plain reason; ffprobe's own words (URLs and all) stay in the log.
      this.log.info({ source: spec.name ?? spec.url, err, stderr: (err as Error).cause }, 'probe failed');
      throw err;
    } finally {
      grant?.revoke();
    }
    this.probes.set(spec.key, { at: Date.now(), result });
    if (this.probes.size > 256) this.probes.delete(this.probes.keys().next().value!);
    return result;
  }

  private create(spec: SourceSpec, key: string, profile: OutputProfile, mode: Mode, live: boolean, probe?: { ms: number; via: string }): Upstream {
    this.checkUpstreamLimit();
    const { limits } = this.config;
    const id = `u${++this.sequence}`;
    const grant = this.grant(spec);
    const log = this.log.child({ upstream: id, source: spec.name ?? spec.url });
    const producer = new FfmpegProducer({
      ffmpeg: this.ffmpeg,
      args: (attempt) => buildFfmpegArgs(spec, profile, live, this.config, grant?.proxyUrl, attempt),
      live,
      kind: spec.kind,
      stallTimeoutMs: limits.stallTimeoutMs,
      maxRestarts: limits.maxRestarts,
      processLimits: { addressSpaceBytes: limits.ffmpegMemoryBytes, openFiles: limits.ffmpegOpenFiles },
      log,
    });
    const upstream = new Upstream({
      key,
      mode,
      live,
      shared: live,
      lingerMs: limits.lingerMs,
      startTimeoutMs: limits.startTimeoutMs,
      gopCacheBytes: limits.gopCacheBytes,
      producer,
      probe,
      log,
    });
    upstream.once('started', (steps: StartSteps) => {
      const ms = (x: number | undefined): number | undefined => (x === undefined ? undefined : Math.round(x));
      log.info({ probeMs: ms(steps.probeMs), probeVia: steps.probeVia, spawnToInitMs: ms(steps.spawnToInitMs), initToFirstFragmentMs: ms(steps.initToFirstFragmentMs) }, 'source started');
      if (steps.probeMs !== undefined) this.metrics.sourceStartSteps.observe(steps.probeMs / 1000, { step: `probe_${steps.probeVia ?? 'ffprobe'}` });
      if (steps.spawnToInitMs !== undefined) this.metrics.sourceStartSteps.observe(steps.spawnToInitMs / 1000, { step: 'spawn_to_init' });
      if (steps.initToFirstFragmentMs !== undefined) this.metrics.sourceStartSteps.observe(steps.initToFirstFragmentMs / 1000, { step: 'init_to_first_fragment' });
    });
    return this.track(upstream, () => grant?.revoke());
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all].map((u) => u.close()));
  }
}
