/**
 * A Session is one viewer's delivery to one reply topic: init segment first,
 * then fragments from a sync fragment on; status on `<reply>/status`; a lease
 * kept alive by acks; flow control that skips a lagging viewer to the next
 * sync fragment instead of queueing without bound.
 */
import type { Logger } from 'pino';
import type { ErrorCode, InitInfo, Mode, MqttcastError, Status } from '../../protocol/index.js';
import type { Metrics } from '../daemon/metrics.js';
import type { Fragment, Upstream, UpstreamEvent, UpstreamViewer } from '../upstreams/upstream.js';
import { FlowWindow } from './flow-window.js';

export type EndReason = 'stop' | 'client_gone' | 'source_ended' | 'lease_expired' | 'max_duration' | 'server_shutdown' | 'error' | 'broker_lost' | 'viewer_gone';

export interface SessionSink {
  publishData(topic: string, data: Buffer): boolean;
  publishStatus(replyTopic: string, status: Status): void;
  /** A JSON error on the reply topic itself, for viewers that never got media (seed clients read only that topic). */
  publishReplyError(replyTopic: string, code: ErrorCode, message: string, requestId?: string): void;
}

export interface SessionOptions {
  id: string;
  replyTopic: string;
  clientId?: string;
  requestId?: string;
  sourceKey: string;
  mode: Mode;
  /** What a session needs of its upstream. */
  upstream: Pick<Upstream, 'attach' | 'detach'>;
  sink: SessionSink;
  leaseMs: number;
  maxSessionMs: number;
  /** Media time, and bytes, a viewer may be behind its acks before it is skipped ahead. */
  flowWindowMs: number;
  flowWindowBytes: number;
  log: Logger;
  metrics: Metrics;
  onEnded: (session: Session, reason: EndReason) => void;
  onFirstFragment?: (session: Session, ms: number) => void;
}

const SKIP_NOTICE_INTERVAL_MS = 1000;

export class Session implements UpstreamViewer {
  readonly createdAt = Date.now();
  sent = 0;
  acked = 0;
  skipped = 0;
  bytes = 0;
  bufferedMs?: number;
  private mimeCodec?: string;
  private ackedOnce = false;
  private needSync = true;
  private skipping = false;
  private ended = false;
  private lastSkipNotice = 0;
  /** Sent and not yet acknowledged: media time and bytes. */
  private readonly window = new FlowWindow();
  private leaseTimer?: NodeJS.Timeout;
  private readonly maxTimer: NodeJS.Timeout;

  constructor(readonly options: SessionOptions) {
    this.maxTimer = setTimeout(() => this.end('max_duration'), options.maxSessionMs);
    this.status({ state: 'starting' });
  }

  get id(): string {
    return this.options.id;
  }

  get replyTopic(): string {
    return this.options.replyTopic;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Media time sent and not yet acknowledged (what the flow window counts). */
  get unackedMs(): number {
    return this.window.lagMs;
  }

  /** Whether the viewer ever acked (a lease then keeps it alive; otherwise it is a script). */
  get acking(): boolean {
    return this.ackedOnce;
  }

  /** Attaches to the upstream; the init segment and cached GOP arrive synchronously if present. */
  start(): void {
    this.options.upstream.attach(this);
  }

  onInit(init: Buffer, info: InitInfo): void {
    if (this.ended) return;
    this.mimeCodec = info.mimeCodec;
    this.needSync = true;
    this.publish(init);
  }

  onFragment(f: Fragment): void {
    if (this.ended) return;
    if (this.needSync && !f.sync) return;
    const { flowWindowMs, flowWindowBytes } = this.options;
    if (this.ackedOnce && this.window.reaches(flowWindowMs, flowWindowBytes)) this.skipping = true;
    // Resume only at a sync fragment, and only once the viewer has caught up to half the window.
    if (this.skipping && (!f.sync || this.window.reaches(flowWindowMs, flowWindowBytes, 0.5))) {
      this.skip();
      return;
    }
    this.skipping = false;
    this.needSync = false;
    if (!this.publish(f.data)) {
      this.needSync = true; // broker unreachable: resume at a sync fragment
      return;
    }
    this.sent++;
    this.window.sent(this.sent, f.durationMs, f.data.byteLength);
    this.options.metrics.fragmentsSent.inc();
    this.options.metrics.bytesSent.inc({}, f.data.byteLength);
    if (this.sent === 1) {
      this.options.onFirstFragment?.(this, Date.now() - this.createdAt);
      this.status({ state: 'playing', mimeCodec: this.mimeCodec, mode: this.options.mode });
    }
  }

  onEvent(event: UpstreamEvent): void {
    if (event.type === 'discontinuity') this.needSync = true;
    else if (event.type === 'restarting') this.status({ state: 'starting', code: 'SOURCE_UNAVAILABLE', reason: 'source_restarting', message: event.message });
    // A session that never got a fragment did not see the source end: it saw it fail.
    else if (event.type === 'ended' && this.sent === 0) this.end('error', 'SOURCE_UNAVAILABLE', 'the source ended before sending any video');
    else if (event.type === 'ended') this.end('source_ended');
    else this.fail(event.error);
  }

  /** Called when the broker connection comes back: resume at a sync fragment. */
  resync(): void {
    this.needSync = true;
  }

  ack(seq: number, bufferedMs?: number): void {
    if (this.ended) return;
    this.ackedOnce = true;
    this.acked = Math.min(Math.max(this.acked, seq), this.sent);
    this.window.acked(this.acked);
    this.bufferedMs = bufferedMs;
    clearTimeout(this.leaseTimer);
    this.leaseTimer = setTimeout(() => this.end('lease_expired'), this.options.leaseMs);
  }

  private skip(): void {
    this.skipped++;
    this.options.metrics.fragmentsSkipped.inc();
    const now = Date.now();
    if (now - this.lastSkipNotice >= SKIP_NOTICE_INTERVAL_MS) {
      this.lastSkipNotice = now;
      this.status({ state: 'playing', reason: 'viewer_behind', skipped: this.skipped, fragments: this.sent });
    }
  }

  private publish(data: Buffer): boolean {
    const ok = this.options.sink.publishData(this.options.replyTopic, data);
    if (ok) this.bytes += data.byteLength;
    return ok;
  }

  private status(body: Omit<Status, 'request_id'>): void {
    const requestId = this.options.requestId;
    this.options.sink.publishStatus(this.options.replyTopic, requestId ? { ...body, request_id: requestId } : body);
  }

  fail(error: MqttcastError): void {
    this.end('error', error.code, error.message);
  }

  /** Ends the session once; tells the viewer why on `/status`. */
  end(reason: EndReason, code?: ErrorCode, message?: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.leaseTimer);
    clearTimeout(this.maxTimer);
    this.options.upstream.detach(this);
    if (code && this.bytes === 0) this.options.sink.publishReplyError(this.replyTopic, code, message ?? code, this.options.requestId);
    if (code) this.status({ state: 'error', code, message, reason, fragments: this.sent, skipped: this.skipped });
    else this.status({ state: 'ended', reason, fragments: this.sent, skipped: this.skipped });
    this.options.log.info({ reason, code, sent: this.sent, skipped: this.skipped, bytes: this.bytes }, 'session ended');
    this.options.onEnded(this, reason);
  }
}
