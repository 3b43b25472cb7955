/**
 * The media server: takes describe / play / stop / ack requests from MQTT,
 * validates them, and runs sessions on shared upstreams. Every refusal is a
 * coded error sent where the requester can see it; nothing a request contains
 * can crash the process.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  AckRequestSchema,
  DescribeRequestSchema,
  MqttcastError,
  PRESENCE_KINDS,
  PROTOCOL_VERSION,
  PlayRequestSchema,
  REQUEST_KINDS,
  StopRequestSchema,
  createTopics,
  parseRequest,
  salvageReplyTopic,
  toMqttcastError,
  type Catalog,
  type DescribeReply,
  type PresenceKind,
  type RequestKind,
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
import { Session, type EndReason, type SessionSink } from './sessions/session.js';
import { catalogSources, resolveTarget, targetKey, type SourceSpec } from './policy/sources.js';
import { ChannelHub } from './channels/channel-hub.js';
import { ChannelPublisher } from './channels/channel-publisher.js';
import { channelSources, isChannelSource, resolveChannel } from './channels/channel-source.js';
import { handlePresence, stopByTarget } from './requests/seed-compat.js';
import { errorBody, errorsTopicFor, replyTopicProblemFor, routePresence, routeRequest, statusError } from './requests/request-routing.js';
import { UpstreamPool } from './upstream-pool.js';

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
  private sequence = 0;
  private brokerLossTimer?: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout;
  private readonly presenceTimer?: NodeJS.Timeout;
  private readonly rateLimiter: RateLimiter;
  readonly channels: ChannelHub;
  private readonly publishers: ChannelPublisher[] = [];
  private catalogTimer?: NodeJS.Timeout;

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
  }

  /** Origin mode: keeps a configured source running and publishes it as live channel `<name>`. */
  private publishSource(name: string): ChannelPublisher {
    return new ChannelPublisher({
      name,
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

  /** Where a session's media, status and errors go; JSON echoes the request's MQTT 5 Correlation Data. */
  private sinkFor(correlationData?: Buffer): SessionSink {
    const { link } = this.options;
    return {
      publishData: (topic, data) => link.publishData(topic, data, isInitSegment(data)),
      publishStatus: (replyTopic, status) => link.publishJson(this.topics.status(replyTopic), status, { correlationData }),
      publishReplyError: (replyTopic, code, message, requestId) =>
        link.publishJson(replyTopic, errorBody(code, message, requestId), { correlationData }),
    };
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
    return {
      protocol: PROTOCOL_VERSION,
      server: 'mqttcast',
      version: SERVER_VERSION,
      prefix: this.topics.prefix,
      secure: this.secure,
      sources: [...catalogSources(this.options.config), ...channelSources(this.channels.list())],
      channels: this.channels.list(),
      allow: this.allowlist.summary(),
    };
  }

  private publishCatalog(): void {
    this.options.link.publishJson(this.topics.catalog, this.catalog(), { retain: true });
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean, props: MessageProperties): void {
    if (this.channels.handle(topic, payload)) return;
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
    this.handle(kind, payload, props, clientId).catch((err: unknown) => {
      // Handlers report their own errors; reaching here is a bug, never a crash.
      this.log.error({ err, kind }, 'request handler failed');
    });
  }

  private async handle(kind: RequestKind, payload: Buffer, props: MessageProperties, clientId?: string): Promise<void> {
    try {
      if (this.closing) throw new MqttcastError('SOURCE_UNAVAILABLE', 'the media server is shutting down; try again in a moment');
      // Acks are cheap keepalives; the requests that can start processes are rate-limited.
      if (kind !== 'ack' && !this.rateLimiter.take(clientId ?? 'open')) {
        throw new MqttcastError('TOO_MANY_SESSIONS', 'too many requests from this client; slow down');
      }
      if (kind === 'describe') await this.describe(payload, props, clientId);
      else if (kind === 'play') await this.play(payload, props, clientId);
      else if (kind === 'stop') this.stop(payload, props, clientId);
      else this.ack(payload, props, clientId);
    } catch (err) {
      this.refuse(kind, payload, toMqttcastError(err), props, clientId);
    }
  }

  /** Sends a refusal where the requester can see it: its reply topic if usable, else the errors topic. */
  private refuse(kind: RequestKind, payload: Buffer, error: MqttcastError, props: MessageProperties, clientId?: string): void {
    this.metrics.rejected.inc({ code: error.code });
    if (error.code === 'INTERNAL') this.log.error({ err: error.cause ?? error, kind }, 'internal error');
    else this.log.info({ kind, code: error.code, reason: error.message }, 'request refused');
    const { replyTopic, requestId } = salvageReplyTopic(payload, props);
    const { correlationData } = props;
    const body = errorBody(error.code, error.message, requestId);
    const usable = replyTopic !== undefined && replyTopicProblemFor(replyTopic, this.topics, this.secure, clientId) === null;
    const ownedByOther = usable && this.sessions.get(replyTopic) !== undefined && error.code === 'REPLY_TOPIC_IN_USE';
    if (!usable || ownedByOther) {
      this.options.link.publishJson(errorsTopicFor(this.topics, clientId), { ...body, request: kind, reply_topic: replyTopic?.slice(0, 256) }, { correlationData });
      return;
    }
    if (kind === 'describe' || kind === 'play') this.options.link.publishJson(replyTopic, body, { correlationData });
    if (kind !== 'describe') this.options.link.publishJson(this.topics.status(replyTopic), statusError(error, requestId), { correlationData });
  }

  private checkReplyTopic(topic: string, clientId?: string): void {
    const problem = replyTopicProblemFor(topic, this.topics, this.secure, clientId);
    if (problem) throw new MqttcastError('REPLY_TOPIC_INVALID', `reply topic "${topic.slice(0, 64)}" ${problem}`);
  }

  private async describe(payload: Buffer, props: MessageProperties, topicClientId?: string): Promise<void> {
    const req = parseRequest(DescribeRequestSchema, payload, props);
    this.checkReplyTopic(req.replyTopic, topicClientId);
    const spec = await this.resolve(req.target);
    const { upstream, mode, live, probe } = await this.pool.acquire(spec, req.codecs);
    const info = await upstream.ready();
    const reply: DescribeReply = {
      ok: true,
      mimeCodec: info.mimeCodec,
      mode,
      live,
      tracks: info.tracks.map((t) => ({
        id: t.id,
        type: t.type as 'video' | 'audio',
        codec: t.codec,
        sourceCodec: t.type === 'video' ? probe?.video?.codec : probe?.audio?.codec,
        width: t.width,
        height: t.height,
        sampleRate: t.sampleRate,
        channels: t.channels,
      })),
      error: '',
      ...(req.requestId ? { request_id: req.requestId } : {}),
    };
    this.options.link.publishJson(req.replyTopic, reply, { correlationData: props.correlationData });
  }

  private async play(payload: Buffer, props: MessageProperties, topicClientId?: string): Promise<void> {
    const req = parseRequest(PlayRequestSchema, payload, props);
    this.checkReplyTopic(req.replyTopic, topicClientId);
    // In secure mode the client id is the one the broker authenticated, not what the body claims.
    const clientId = topicClientId ?? req.clientId;
    this.sessions.reserve(req.replyTopic);
    try {
      this.sessions.checkLimits(clientId);
      const spec = await this.resolve(req.target);
      this.sessions.checkLimits(clientId, spec.key);
      const { upstream, mode } = await this.pool.acquire(spec, req.codecs);
      if (this.closing) throw new MqttcastError('SOURCE_UNAVAILABLE', 'the media server is shutting down; try again in a moment');
      this.sessions.checkLimits(clientId, spec.key);
      const id = `s${++this.sequence}-${randomBytes(3).toString('hex')}`;
      const { limits } = this.options.config;
      const session = new Session({
        id,
        replyTopic: req.replyTopic,
        clientId,
        requestId: req.requestId,
        sourceKey: spec.key,
        mode,
        upstream,
        sink: this.sinkFor(props.correlationData),
        leaseMs: limits.leaseMs,
        maxSessionMs: limits.maxSessionSeconds * 1000,
        flowWindow: limits.flowWindow,
        flowWindowBytes: limits.flowWindowBytes,
        metrics: this.metrics,
        log: this.log.child({ session: id, reply: req.replyTopic }),
        onEnded: (s, reason) => this.onSessionEnded(s, reason),
        onFirstFragment: (_s, ms) => this.metrics.firstFragment.observe(ms / 1000),
      });
      try {
        session.start();
      } catch (err) {
        const e = toMqttcastError(err);
        session.end('error', e.code, e.message); // tells the viewer; nothing was registered
        return;
      }
      this.sessions.add(session);
    } finally {
      this.sessions.release(req.replyTopic);
    }
  }

  private stop(payload: Buffer, props: MessageProperties, topicClientId?: string): void {
    const req = parseRequest(StopRequestSchema, payload, props);
    if (req.by === 'target') return this.stopTarget(req.target, topicClientId ?? req.clientId);
    this.checkReplyTopic(req.replyTopic, topicClientId);
    if (this.sessions.starting(req.replyTopic)) {
      this.sessions.cancel(req.replyTopic); // the play is still starting: it ends as soon as it exists
      return;
    }
    const session = this.sessions.get(req.replyTopic);
    if (!session) return this.notMine(`no session uses reply topic "${req.replyTopic}"`);
    session.end('stop');
  }

  private stopTarget(target: Target, clientId: string | undefined): void {
    const ended = stopByTarget(this.sessions.all(), targetKey(target, this.allowlist), clientId, this.secure);
    if (ended === 0) {
      const what = target.kind === 'url' ? target.url.slice(0, 128) : target.name;
      return this.notMine(`no session of ${what} to stop (a {"url"} stop ends only sessions that do not ack; others stop by reply_topic)`);
    }
    this.log.info({ sessions: ended, clientId }, 'stop by source');
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

  private ack(payload: Buffer, props: MessageProperties, topicClientId?: string): void {
    const req = parseRequest(AckRequestSchema, payload, props);
    if (this.secure) this.checkReplyTopic(req.replyTopic, topicClientId);
    if (this.sessions.starting(req.replyTopic)) return; // its play is still starting (probing a slow source)
    const session = this.sessions.get(req.replyTopic);
    if (!session) return this.notMine(`no session uses reply topic "${req.replyTopic}"`);
    session.ack(req.seq, req.bufferedMs);
  }

  /** A stop/ack for a session this server does not have: an error, unless another server of the group may own it. */
  private notMine(message: string): void {
    if (this.options.config.shareGroup) {
      this.log.debug({ message }, 'stop/ack for a session of another server');
      return;
    }
    throw new MqttcastError('SESSION_NOT_FOUND', message);
  }

  private onSessionEnded(session: Session, reason: EndReason): void {
    this.sessions.remove(session, reason);
    this.metrics.sessionsEnded.inc({ reason });
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
    await Promise.all(this.publishers.map((p) => p.close()));
    this.channels.close();
    await Promise.all([this.pool.close(), this.prober.close()]);
    await this.egress.close();
  }
}

/** Whether a media message is the init segment (starts with `ftyp`), which never expires. */
function isInitSegment(data: Buffer): boolean {
  return data.length >= 8 && data.toString('latin1', 4, 8) === 'ftyp';
}
