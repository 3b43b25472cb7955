/**
 * The media server: takes describe / play / stop / ack requests from MQTT,
 * validates them, and runs sessions on shared upstreams. Every refusal is a
 * coded error sent where the requester can see it; nothing a request contains
 * can crash the process.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  MqttcastError,
  PRESENCE_KINDS,
  PROTOCOL_VERSION,
  REQUEST_KINDS,
  createTopics,
  type Catalog,
  type PresenceKind,
  type Target,
  type Topics,
} from '../protocol/index.js';
import { resolveAllowed } from './policy/address-policy.js';
import { Allowlist, namesIpLiteral } from './policy/allowlist.js';
import { isSecure, type Config } from './daemon/config.js';
import { EgressProxy, type EgressScope } from './policy/egress-proxy.js';
import { Metrics } from './daemon/metrics.js';
import type { MessageProperties, MqttLink } from './daemon/mqtt-link.js';
import { Prober } from './ffmpeg/probe.js';
import { RateLimiter } from './policy/rate-limiter.js';
import { SessionRegistry } from './sessions/session-registry.js';
import type { Session } from './sessions/session.js';
import { catalogSources, resolveTarget, type SourceSpec } from './policy/sources.js';
import { ChannelHub } from './channels/channel-hub.js';
import { ChannelPublisher, serverId } from './channels/channel-publisher.js';
import { channelSources, isChannelSource, resolveChannel } from './channels/channel-source.js';
import { RequestHandler } from './requests/request-handler.js';
import { handlePresence } from './requests/seed-compat.js';
import { errorBody, routePresence, routeRequest } from './requests/request-routing.js';
import { UpstreamPool } from './upstream-pool.js';
import { SnapshotEncoder } from './snapshots/snapshot-encoder.js';
import { SnapshotService } from './snapshots/snapshot-service.js';
import type { Upstream } from './upstreams/upstream.js';

export const SERVER_VERSION = '0.1.0';

export interface MediaServerOptions {
  config: Config;
  link: MqttLink;
  ffmpeg: string;
  ffprobe: string;
  log: Logger;
  metrics?: Metrics;
  /**
   * Whether anyone subscribes to a topic, when the broker can tell (the embedded one can).
   * Sessions that never ack and have nobody listening are ended (`viewer_gone`).
   */
  hasSubscriber?: (topic: string) => boolean;
}

export class MediaServer {
  readonly topics: Topics;
  readonly metrics: Metrics;
  readonly pool: UpstreamPool;
  private allowlist: Allowlist;
  private readonly prober: Prober;
  private readonly sessions: SessionRegistry;
  private readonly log: Logger;
  private closing = false;
  private readonly handler: RequestHandler;
  private brokerLossTimer?: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout;
  private readonly presenceTimer?: NodeJS.Timeout;
  private readonly rateLimiter: RateLimiter;
  readonly channels: ChannelHub;
  private readonly publishers: ChannelPublisher[] = [];
  private catalogTimer?: NodeJS.Timeout;
  readonly snapshotEncoder: SnapshotEncoder;
  readonly snapshots: SnapshotService;

  /** Starts a media server (and its egress proxy) on an MQTT link. */
  static async start(options: MediaServerOptions): Promise<MediaServer> {
    const holder: { server?: MediaServer } = {};
    const egress = await EgressProxy.start((url, scope) => holder.server!.egressPolicy(url, scope), options.log.child({ component: 'egress' }));
    return (holder.server = new MediaServer(options, egress));
  }

  private constructor(
    private readonly options: MediaServerOptions,
    readonly egress: EgressProxy,
  ) {
    const { config, link, log } = options;
    this.log = log.child({ component: 'media-server' });
    this.sessions = new SessionRegistry(config.limits);
    this.topics = createTopics(config.prefix);
    this.metrics = options.metrics ?? new Metrics();
    this.allowlist = new Allowlist(config.allow);
    this.prober = new Prober(options.ffprobe, config.limits.maxConcurrentProbes, {
      addressSpaceBytes: config.limits.ffmpegMemoryBytes,
      openFiles: config.limits.ffmpegOpenFiles,
    });
    const { limits } = config;
    this.rateLimiter = isSecure(config)
      ? new RateLimiter(limits.requestsPerSecond, limits.requestBurst)
      : new RateLimiter(limits.openRequestsPerSecond, limits.openRequestBurst, 1);
    this.channels = new ChannelHub(link, config.prefix, log.child({ component: 'channels' }));
    this.channels.on('change', () => this.catalogChanged());
    this.pool = new UpstreamPool(config, options.ffmpeg, this.prober, this.metrics, this.log, egress, this.channels);
    this.handler = new RequestHandler({
      config,
      link,
      topics: this.topics,
      metrics: this.metrics,
      log: this.log,
      sessions: this.sessions,
      rateLimiter: this.rateLimiter,
      secure: isSecure(config),
      closing: () => this.closing,
      allowlist: () => this.allowlist,
      resolve: (target) => this.resolve(target),
      acquire: (spec, codecs) => this.pool.acquire(spec, codecs),
    });
    this.metrics.gauge('mqttcast_sessions', 'Sessions playing now', () => this.sessions.size);
    this.metrics.gauge('mqttcast_upstreams', 'Upstreams (ffmpeg processes) running now', () => this.pool.size);
    link.on('message', (topic, payload, retained, props) => this.onMessage(topic, payload, retained, props));
    link.on('connected', () => {
      clearTimeout(this.brokerLossTimer);
      this.brokerLossTimer = undefined;
      this.publishCatalog();
      for (const s of this.sessions.all()) s.resync();
    });
    link.on('offline', () => this.onBrokerLost());
    if (link.connected) this.publishCatalog();
    this.statsTimer = setInterval(() => this.publishStats(), config.limits.statsIntervalMs);
    this.statsTimer.unref();
    if (options.hasSubscriber) {
      this.presenceTimer = setInterval(() => this.sessions.checkPresence(options.hasSubscriber!), config.limits.leaseMs);
      this.presenceTimer.unref();
    }
    for (const [name, source] of Object.entries(config.sources)) if (source.publish) this.publishers.push(this.publishSource(name));
    this.snapshotEncoder = new SnapshotEncoder({
      ffmpeg: options.ffmpeg,
      width: config.snapshots.width,
      quality: config.snapshots.quality,
      limits: { addressSpaceBytes: limits.ffmpegMemoryBytes, openFiles: limits.ffmpegOpenFiles },
    });
    this.snapshots = new SnapshotService({
      snapshots: config.snapshots,
      homeAssistant: config.homeAssistant,
      prefix: config.prefix,
      version: SERVER_VERSION,
      // Unique per instance: two servers in one process (tests) must tell their pictures apart.
      serverId: `${serverId()}/${randomBytes(3).toString('hex')}`,
      link,
      hub: this.channels,
      encoder: this.snapshotEncoder,
      isOwn: (name) => config.sources[name]?.publish === true,
      acquire: (name) => this.upstreamForSnapshots(name),
      log: this.log.child({ component: 'snapshots' }),
    });
    const totals = this.snapshotEncoder.totals;
    this.metrics.gauge('mqttcast_snapshots_made', 'Snapshots (JPEG pictures of live channels) made since start', () => totals.made);
    this.metrics.gauge('mqttcast_snapshot_seconds', 'Seconds of ffmpeg time spent making snapshots since start', () => totals.ms / 1000);
  }

  /**
   * The upstream a channel's pictures are made from: the source itself for a channel this
   * server publishes, else the channel's subscription. Pictures join a running upstream
   * freely, but open a new one only while half of `limits.maxUpstreams` is free: viewers
   * come first.
   */
  private async upstreamForSnapshots(name: string): Promise<Upstream> {
    const { config } = this.options;
    const spec = config.sources[name]?.publish
      ? await resolveTarget({ kind: 'source', name }, this.allowlist, config)
      : resolveChannel(`live/${name}`, (n) => this.channels.meta(n));
    if (!this.pool.holds(spec) && this.pool.size >= Math.floor(config.limits.maxUpstreams / 2)) {
      throw new MqttcastError('TOO_MANY_SESSIONS', `${this.pool.size} sources are open; pictures wait until fewer are (limits.maxUpstreams ${config.limits.maxUpstreams})`);
    }
    const { upstream } = await this.pool.acquire(spec, undefined);
    await upstream.ready();
    return upstream;
  }

  /** Origin mode: keeps a configured source running and publishes it as live channel `<name>`. */
  private publishSource(name: string): ChannelPublisher {
    return new ChannelPublisher({
      name,
      snapshots: this.options.config.snapshots.enabled,
      prefix: this.topics.prefix,
      link: this.options.link,
      log: this.log.child({ channel: name }),
      acquire: async () => {
        const spec = await resolveTarget({ kind: 'source', name }, this.allowlist, this.options.config);
        const { upstream } = await this.pool.acquire(spec, undefined);
        await upstream.ready();
        return upstream;
      },
    }).start();
  }

  /** Channels come and go: the retained catalog follows (at most every 300 ms). */
  private catalogChanged(): void {
    if (this.catalogTimer || this.closing) return;
    this.catalogTimer = setTimeout(() => {
      this.catalogTimer = undefined;
      this.publishCatalog();
    }, 300);
  }

  /** A request's target: a live channel (`live/<name>`), a configured source, or an allowed URL. */
  private resolve(target: Target): Promise<SourceSpec> {
    if (target.kind === 'source' && isChannelSource(target.name)) return Promise.resolve(resolveChannel(target.name, (n) => this.channels.meta(n)));
    return resolveTarget(target, this.allowlist, this.options.config);
  }

  /** Sessions live through a short outage; after `brokerLossMs` they end (and viewers learn it on reconnect). */
  private onBrokerLost(): void {
    if (this.brokerLossTimer || this.closing) return;
    const { brokerLossMs } = this.options.config.limits;
    this.brokerLossTimer = setTimeout(() => {
      this.log.warn({ sessions: this.sessions.size, brokerLossMs }, 'broker unreachable for too long; ending sessions');
      this.sessions.endAll('broker_lost');
    }, brokerLossMs);
  }

  stats(): Record<string, unknown> {
    const m = this.metrics;
    return {
      at: new Date().toISOString(),
      sessions: this.sessions.size,
      upstreams: this.pool.upstreams().map((u) => ({ key: u.key.replace(/\/\/[^/@]*@/, '//***@'), state: u.state, viewers: u.viewerCount, pid: u.pid })),
      fragments_sent: m.fragmentsSent.get(),
      fragments_skipped: m.fragmentsSkipped.get(),
      bytes_sent: m.bytesSent.get(),
      ffmpeg_restarts: m.ffmpegRestarts.get(),
    };
  }

  private publishStats(): void {
    if (this.options.link.connected) this.options.link.publishJson(this.topics.stats, this.stats(), { retain: true, qos: 0 });
  }

  /**
   * Topics the server subscribes to: `P/<kind>`, or `P/req/+/<kind>` in secure mode.
   * With a share group, describe and play are shared (one server takes each); stop and
   * ack reach every server, and the one that owns the session acts. In open mode also
   * the seed client's `P/register` and `P/unregister` (its last will).
   */
  static subscriptions(config: Config): string[] {
    const topics = createTopics(config.prefix);
    const requests = REQUEST_KINDS.map((k) => {
      const topic = isSecure(config) ? topics.clientRequestPattern(k) : topics.request(k);
      return config.shareGroup && (k === 'describe' || k === 'play') ? `$share/${config.shareGroup}/${topic}` : topic;
    });
    return isSecure(config) ? requests : [...requests, ...PRESENCE_KINDS.map((k) => topics.request(k))];
  }

  private get secure(): boolean {
    return isSecure(this.options.config);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The session using a reply topic, if any (read-only use: metrics, tests). */
  session(replyTopic: string): Session | undefined {
    return this.sessions.get(replyTopic);
  }

  /** Replaces the allowlist (running sessions are not affected). */
  setAllowlist(entries: readonly string[]): void {
    this.allowlist = new Allowlist(entries);
    this.publishCatalog();
  }

  /**
   * May ffmpeg, working on a source of `scope`, fetch this URL? Its own source's
   * origin is allowed (HLS segments, redirects on the same server); anything
   * else must pass the allowlist like a request. Always resolves the address.
   */
  async egressPolicy(url: URL, scope: EgressScope): Promise<string> {
    if (url.origin === scope.origin) return resolveAllowed(url.hostname, scope.trustedLiteral);
    if (url.protocol === 'https:') {
      // A tunnel: only host and port are visible.
      const entry = this.allowlist.matchHost(url);
      if (!entry) throw new MqttcastError('URL_NOT_ALLOWED', `${url.host} is not on the allowlist`);
      return resolveAllowed(url.hostname, namesIpLiteral(entry));
    }
    const { entry } = this.allowlist.match(url.href);
    return resolveAllowed(url.hostname, namesIpLiteral(entry));
  }

  catalog(): Catalog {
    const channels = this.channels.list();
    return {
      protocol: PROTOCOL_VERSION,
      server: 'mqttcast',
      version: SERVER_VERSION,
      prefix: this.topics.prefix,
      secure: this.secure,
      sources: [...catalogSources(this.options.config), ...channelSources(channels)],
      channels,
      allow: this.allowlist.summary(),
    };
  }

  private publishCatalog(): void {
    this.options.link.publishJson(this.topics.catalog, this.catalog(), { retain: true });
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean, props: MessageProperties): void {
    if (this.channels.handle(topic, payload, retained)) return;
    const presence = this.secure ? undefined : routePresence(topic, this.topics);
    if (presence) return this.onPresence(presence, topic, payload, retained);
    const route = routeRequest(topic, this.topics, this.secure);
    if (!route) return;
    const { kind, clientId } = route;
    if (retained) {
      // A retained request would be replayed at every (re)subscribe: never act on one.
      this.log.warn({ topic, kind }, 'ignored a retained request');
      this.metrics.rejected.inc({ code: 'INVALID_REQUEST' });
      return;
    }
    this.metrics.requests.inc({ kind });
    this.handler.handle(kind, payload, props, clientId).catch((err: unknown) => {
      // Handlers report their own errors; reaching here is a bug, never a crash.
      this.log.error({ err, kind }, 'request handler failed');
    });
  }

  private onPresence(kind: PresenceKind, topic: string, payload: Buffer, retained: boolean): void {
    if (payload.length === 0) return; // a cleared retained message
    this.metrics.requests.inc({ kind });
    const { link } = this.options;
    const outcome = handlePresence(kind, payload, retained, this.sessions.all());
    if (outcome.error) {
      this.metrics.rejected.inc({ code: outcome.error.code });
      link.publishJson(this.topics.errors, { ...errorBody(outcome.error.code, outcome.error.message), request: kind });
      return;
    }
    this.log.info({ kind, topic, clientId: outcome.clientId, ended: outcome.ended, stale: retained }, 'seed presence message');
    if (outcome.clear) link.clearRetained(topic);
  }

  /** Stops taking requests, ends every session (`server_shutdown`), stops every ffmpeg. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.statsTimer);
    clearInterval(this.presenceTimer);
    clearTimeout(this.brokerLossTimer);
    clearTimeout(this.catalogTimer);
    this.sessions.endAll('server_shutdown');
    this.snapshots.close();
    await Promise.all(this.publishers.map((p) => p.close()));
    this.channels.close();
    await Promise.all([this.pool.close(), this.prober.close(), this.snapshotEncoder.close()]);
    await this.egress.close();
  }
}

