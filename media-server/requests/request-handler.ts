/**
 * What the media server does with each request once it knows its kind: describe,
 * play, stop and ack, with every refusal sent as a coded error where the requester
 * can see it (its reply topic when usable, else the errors topic), MQTT 5 Correlation
 * Data echoed. Nothing a request contains can crash the process.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  AckRequestSchema,
  DescribeRequestSchema,
  MqttcastError,
  PlayRequestSchema,
  StopRequestSchema,
  parseRequest,
  salvageReplyTopic,
  toMqttcastError,
  type DescribeReply,
  type Mode,
  type RequestKind,
  type Target,
  type Topics,
} from '../../protocol/index.js';
import type { Config } from '../daemon/config.js';
import type { Metrics } from '../daemon/metrics.js';
import type { MessageProperties, MqttLink } from '../daemon/mqtt-link.js';
import type { ProbeResult } from '../ffmpeg/probe.js';
import type { Allowlist } from '../policy/allowlist.js';
import type { RateLimiter } from '../policy/rate-limiter.js';
import { targetKey, type SourceSpec } from '../policy/sources.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import { Session, type EndReason, type SessionSink } from '../sessions/session.js';
import type { Upstream } from '../upstreams/upstream.js';
import { errorBody, errorsTopicFor, replyTopicProblemFor, statusError } from './request-routing.js';
import { stopByTarget } from './seed-compat.js';

/** What the handler needs of the media server around it. */
export interface RequestContext {
  readonly config: Config;
  readonly link: MqttLink;
  readonly topics: Topics;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly sessions: SessionRegistry;
  readonly rateLimiter: RateLimiter;
  readonly secure: boolean;
  closing(): boolean;
  allowlist(): Allowlist;
  resolve(target: Target): Promise<SourceSpec>;
  acquire(spec: SourceSpec, codecs: readonly string[] | undefined): Promise<{ upstream: Upstream; mode: Mode; live: boolean; probe?: ProbeResult }>;
}

export class RequestHandler {
  private sequence = 0;

  constructor(private readonly ctx: RequestContext) {}

  async handle(kind: RequestKind, payload: Buffer, props: MessageProperties, clientId?: string): Promise<void> {
    try {
      if (this.ctx.closing()) throw new MqttcastError('SOURCE_UNAVAILABLE', 'the media server is shutting down; try again in a moment');
      // Acks are cheap keepalives; the requests that can start processes are rate-limited.
      if (kind !== 'ack' && !this.ctx.rateLimiter.take(clientId ?? 'open')) {
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
    this.ctx.metrics.rejected.inc({ code: error.code });
    if (error.code === 'INTERNAL') this.ctx.log.error({ err: error.cause ?? error, kind }, 'internal error');
    else this.ctx.log.info({ kind, code: error.code, reason: error.message }, 'request refused');
    const { replyTopic, requestId } = salvageReplyTopic(payload, props);
    const { correlationData } = props;
    const body = errorBody(error.code, error.message, requestId);
    const usable = replyTopic !== undefined && replyTopicProblemFor(replyTopic, this.ctx.topics, this.ctx.secure, clientId) === null;
    const ownedByOther = usable && this.ctx.sessions.get(replyTopic) !== undefined && error.code === 'REPLY_TOPIC_IN_USE';
    if (!usable || ownedByOther) {
      this.ctx.link.publishJson(errorsTopicFor(this.ctx.topics, clientId), { ...body, request: kind, reply_topic: replyTopic?.slice(0, 256) }, { correlationData });
      return;
    }
    if (kind === 'describe' || kind === 'play') this.ctx.link.publishJson(replyTopic, body, { correlationData });
    if (kind !== 'describe') this.ctx.link.publishJson(this.ctx.topics.status(replyTopic), statusError(error, requestId), { correlationData });
  }

  private checkReplyTopic(topic: string, clientId?: string): void {
    const problem = replyTopicProblemFor(topic, this.ctx.topics, this.ctx.secure, clientId);
    if (problem) throw new MqttcastError('REPLY_TOPIC_INVALID', `reply topic "${topic.slice(0, 64)}" ${problem}`);
  }

  private async describe(payload: Buffer, props: MessageProperties, topicClientId?: string): Promise<void> {
    const req = parseRequest(DescribeRequestSchema, payload, props);
    this.checkReplyTopic(req.replyTopic, topicClientId);
    const spec = await this.ctx.resolve(req.target);
    const { upstream, mode, live, probe } = await this.ctx.acquire(spec, req.codecs);
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
    this.ctx.link.publishJson(req.replyTopic, reply, { correlationData: props.correlationData });
  }

  private async play(payload: Buffer, props: MessageProperties, topicClientId?: string): Promise<void> {
    const req = parseRequest(PlayRequestSchema, payload, props);
    this.checkReplyTopic(req.replyTopic, topicClientId);
    // In secure mode the client id is the one the broker authenticated, not what the body claims.
    const clientId = topicClientId ?? req.clientId;
    this.ctx.sessions.reserve(req.replyTopic);
    try {
      this.ctx.sessions.checkLimits(clientId);
      const spec = await this.ctx.resolve(req.target);
      this.ctx.sessions.checkLimits(clientId, spec.key);
      const { upstream, mode } = await this.ctx.acquire(spec, req.codecs);
      if (this.ctx.closing()) throw new MqttcastError('SOURCE_UNAVAILABLE', 'the media server is shutting down; try again in a moment');
      this.ctx.sessions.checkLimits(clientId, spec.key);
      const id = `s${++this.sequence}-${randomBytes(3).toString('hex')}`;
      const { limits } = this.ctx.config;
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
        flowWindowMs: limits.flowWindowMs,
        flowWindowBytes: limits.flowWindowBytes,
        metrics: this.ctx.metrics,
        log: this.ctx.log.child({ session: id, reply: req.replyTopic }),
        onEnded: (s, reason) => this.onSessionEnded(s, reason),
        onFirstFragment: (_s, ms) => this.ctx.metrics.firstFragment.observe(ms / 1000),
      });
      try {
        session.start();
      } catch (err) {
        const e = toMqttcastError(err);
        session.end('error', e.code, e.message); // tells the viewer; nothing was registered
        return;
      }
      this.ctx.sessions.add(session);
    } finally {
      this.ctx.sessions.release(req.replyTopic);
    }
  }

  private stop(payload: Buffer, props: MessageProperties, topicClientId?: string): void {
    const req = parseRequest(StopRequestSchema, payload, props);
    if (req.by === 'target') return this.stopTarget(req.target, topicClientId ?? req.clientId);
    this.checkReplyTopic(req.replyTopic, topicClientId);
    if (this.ctx.sessions.starting(req.replyTopic)) {
      this.ctx.sessions.cancel(req.replyTopic); // the play is still starting: it ends as soon as it exists
      return;
    }
    const session = this.ctx.sessions.get(req.replyTopic);
    if (!session) return this.notMine(`no session uses reply topic "${req.replyTopic}"`);
    session.end('stop');
  }

  private stopTarget(target: Target, clientId: string | undefined): void {
    const ended = stopByTarget(this.ctx.sessions.all(), targetKey(target, this.ctx.allowlist()), clientId, this.ctx.secure);
    if (ended === 0) {
      const what = target.kind === 'url' ? target.url.slice(0, 128) : target.name;
      return this.notMine(`no session of ${what} to stop (a {"url"} stop ends only sessions that do not ack; others stop by reply_topic)`);
    }
    this.ctx.log.info({ sessions: ended, clientId }, 'stop by source');
  }

  private ack(payload: Buffer, props: MessageProperties, topicClientId?: string): void {
    const req = parseRequest(AckRequestSchema, payload, props);
    if (this.ctx.secure) this.checkReplyTopic(req.replyTopic, topicClientId);
    if (this.ctx.sessions.starting(req.replyTopic)) return; // its play is still starting (probing a slow source)
    const session = this.ctx.sessions.get(req.replyTopic);
    if (!session) return this.notMine(`no session uses reply topic "${req.replyTopic}"`);
    session.ack(req.seq, req.bufferedMs);
  }

  /** A stop/ack for a session this server does not have: an error, unless another server of the group may own it. */
  private notMine(message: string): void {
    if (this.ctx.config.shareGroup) {
      this.ctx.log.debug({ message }, 'stop/ack for a session of another server');
      return;
    }
    throw new MqttcastError('SESSION_NOT_FOUND', message);
  }

  /** Where a session's media, status and errors go; JSON echoes the request's MQTT 5 Correlation Data. */
  private sinkFor(correlationData?: Buffer): SessionSink {
    const { link } = this.ctx;
    return {
      publishData: (topic, data) => link.publishData(topic, data, isInitSegment(data)),
      publishStatus: (replyTopic, status) => link.publishJson(this.ctx.topics.status(replyTopic), status, { correlationData }),
      publishReplyError: (replyTopic, code, message, requestId) =>
        link.publishJson(replyTopic, errorBody(code, message, requestId), { correlationData }),
    };
  }

  private onSessionEnded(session: Session, reason: EndReason): void {
    this.ctx.sessions.remove(session, reason);
    this.ctx.metrics.sessionsEnded.inc({ reason });
  }
}

/** Whether a media message is the init segment (starts with `ftyp`), which never expires. */
function isInitSegment(data: Buffer): boolean {
  return data.length >= 8 && data.toString('latin1', 4, 8) === 'ftyp';
}
