/**
 * Feeds an upstream from a live channel on the broker instead of ffmpeg: the
 * retained init segment, then the fragments as they arrive. When the channel goes
 * offline (its publisher's will, a cleared init, or no fragment for the stall time)
 * viewers are told it is waiting; if it does not return within the grace period the
 * upstream fails with SOURCE_UNAVAILABLE. A new init resumes it (viewers start again
 * at the next keyframe).
 */
import type { Logger } from 'pino';
import { MqttcastError, type ChannelMeta } from '../../protocol/index.js';
import type { Producer, ProducerSink } from '../upstreams/producer.js';
import type { ChannelHub, ChannelListener } from './channel-hub.js';

export interface ChannelProducerOptions {
  name: string;
  hub: ChannelHub;
  /** How long an offline channel may take to come back before its sessions end. */
  graceMs: number;
  /** No fragment for this long while live: treated as offline. */
  stallTimeoutMs: number;
  log: Logger;
}

/** No fragment for this long, then one: some were lost in between. */
const GAP_MS = 1000;

export class ChannelProducer implements Producer, ChannelListener {
  private sink?: ProducerSink;
  private init?: Buffer;
  private unlisten?: () => void;
  private graceTimer?: NodeJS.Timeout;
  private stallTimer?: NodeJS.Timeout;
  private outages = 0;
  private lastDataAt = 0;
  private closed = false;

  constructor(private readonly options: ChannelProducerOptions) {}

  readonly pid = undefined;

  start(sink: ProducerSink): void {
    this.sink = sink;
    this.unlisten = this.options.hub.listen(this.options.name, this);
  }

  // A channel is live: it cannot wait for a viewer. Fragments go to the GOP cache as they come.
  pause(): void {}
  resume(): void {}

  onInit(payload: Buffer): void {
    if (this.closed) return;
    if (payload.length === 0) return this.offline('its publisher removed it');
    if (this.init?.equals(payload)) return; // the retained copy again (resubscribe after a reconnect)
    const info = this.sink!.init(payload);
    if (!info) {
      this.options.log.warn({ channel: this.options.name }, 'unreadable channel init segment ignored');
      return;
    }
    this.init = payload;
    this.back();
  }

  onData(payload: Buffer): void {
    if (this.closed || !this.init) return;
    const now = Date.now();
    // A silence this long means fragments were lost on the way (a bridge reconnecting):
    // viewers resume at the next keyframe instead of decoding past the hole.
    if (this.lastDataAt !== 0 && now - this.lastDataAt > GAP_MS) this.sink!.discontinuity();
    this.lastDataAt = now;
    this.back();
    this.sink!.fragment(payload);
  }

  onMeta(meta: ChannelMeta | undefined): void {
    if (this.closed) return;
    if (meta === undefined) this.offline('its publisher removed it');
    else if (meta.state === 'offline') this.offline(offlineWhy(meta));
  }

  /** Media flows: cancel a pending grace and watch for the next stall. */
  private back(): void {
    if (this.graceTimer) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
      this.options.log.info({ channel: this.options.name }, 'channel is back');
    }
    clearTimeout(this.stallTimer);
    const { stallTimeoutMs } = this.options;
    this.stallTimer = setTimeout(() => this.offline(`it stopped sending video for ${Math.round(stallTimeoutMs / 100) / 10} s`, true), stallTimeoutMs);
  }

  private offline(why: string, stall = false): void {
    clearTimeout(this.stallTimer);
    if (this.graceTimer || this.closed) return;
    const { name, graceMs, log } = this.options;
    const cause = `the live channel "${name}" went offline (${why})`;
    log.info({ channel: name, why }, 'channel offline; waiting for it to return');
    // Its publisher is gone: the next init, even the same bytes, starts it again. After a
    // mere stall the init stays valid and data may simply resume (after a discontinuity).
    if (!stall) this.init = undefined;
    this.sink!.restarting(++this.outages, `${cause}; waiting up to ${Math.round(graceMs / 1000)} s for it to return`, cause);
    this.graceTimer = setTimeout(() => {
      this.sink!.failed(new MqttcastError('SOURCE_UNAVAILABLE', `${cause} and did not come back within ${Math.round(graceMs / 1000)} s`));
    }, graceMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.stallTimer);
    this.unlisten?.();
  }
}

function offlineWhy(meta: ChannelMeta): string {
  if (meta.reason === 'connection_lost') return 'its publisher lost its connection';
  if (meta.reason === 'stopped') return 'its publisher stopped';
  if (meta.reason === 'input_failed' || meta.reason === 'input_ended') return meta.message ? `its input: ${meta.message}` : 'its input ended';
  return meta.reason ?? 'its publisher says so';
}
