/**
 * The player's session state machine: describe → play → media and acks, stop,
 * recovery after stalls, and resume after the broker connection comes back.
 * MQTT and the page are injected; media handling lives in a MediaSink (MSE
 * or WebCodecs, see media-sink.ts), so both modes share this request/ack flow.
 */
import { Emitter } from './emitter.js';
import { playerError, serverError, type PlayerError, type PlayerErrorCode } from './errors.js';
import type { StallReason } from './live-edge.js';
import type { Logger } from './log.js';
import { codecsOf, type MediaEngine, type MediaSink } from './media-sink.js';
import { isInitSegment } from './media-session.js';
import { PlayFailure, describeStream, errorText, randomTag } from './play-request.js';
import { PlayTimers } from './play-timers.js';
import { PlaybackStats } from './playback-stats.js';
import { parseReply, parseStatus, statusEvent, type Described } from './replies.js';
import { ReplyWaiter } from './reply-waiter.js';
import { RequestFlow } from './request-flow.js';
import type { PlayTarget, Requests } from './requests.js';
import type { StatsSnapshot } from './stats.js';
import type { PlayerEvents, PlayerOptions, PlayerState, Transport } from './player-types.js';

export type { PlayerState, Transport } from './player-types.js';

const MAX_RECOVERIES_PER_MINUTE = 3;

/** Session end reasons that mean "the server went away", after which the player tries again. */
const SERVER_GONE = new Set(['server_shutdown', 'broker_lost']);
const SERVER_RETRY_MS = 3000;

export class Player extends Emitter<PlayerEvents> {
  state: PlayerState = 'idle';
  stateDetail = '';
  lastError: PlayerError | null = null;
  readonly stats = new PlaybackStats();
  private target: PlayTarget | null = null;
  private wantPlaying = false;
  private generation = 0;
  private session: MediaSink | null = null;
  private described: Described | null = null;
  private playSentAt = 0;
  private readonly replies = new ReplyWaiter();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private recoveries: number[] = [];
  private readonly timers: PlayTimers;
  private readonly log: Logger;
  private readonly flow: RequestFlow;
  private ticks = 0;

  constructor(private readonly options: PlayerOptions) {
    super();
    this.log = options.log;
    this.flow = new RequestFlow(options.log);
    this.timers = new PlayTimers({
      probe: () => this.session?.playhead() ?? { currentTime: 0, paused: false },
      onStall: (reason) => this.onStall(reason),
      onAck: () => this.sendAck(),
      onTick: () => this.tick(),
    });
  }

  /** The broker is connected and the request route is known: resume if playback was wanted. */
  attach(transport: Transport, requests: Requests): void {
    this.flow.transport = transport;
    this.flow.requests = requests;
    if (this.wantPlaying) void this.run(false);
  }

  /** The broker connection dropped: stop the session locally and wait for attach(). */
  detach(): void {
    this.flow.transport = null;
    if (!this.wantPlaying) return;
    this.generation++;
    this.teardown();
    this.setState('reconnecting');
  }

  start(target: PlayTarget): void {
    this.target = target;
    this.wantPlaying = true;
    this.recoveries = [];
    this.described = null;
    this.setError(null);
    void this.run(false);
  }

  get engine(): MediaEngine | null {
    return this.options.engine;
  }

  /** Switches between MSE and WebCodecs; a stream that is playing restarts with the new one. */
  setEngine(engine: MediaEngine | null): void {
    if (engine === this.options.engine) return;
    this.options.engine = engine;
    if (this.wantPlaying) void this.run(true);
  }

  /** Stop pressed: ends the server session and the local one. */
  stop(): void {
    this.wantPlaying = false;
    this.generation++;
    this.flow.stop(1);
    this.stats.reset();
    this.teardown();
    this.setError(null);
    this.setState('idle');
  }

  /** The page is going away: send stop without waiting. */
  pagehide(): void {
    this.flow.stop(0);
  }

  handleMessage(topic: string, bytes: Uint8Array<ArrayBuffer>): void {
    const requests = this.flow.requests;
    if (!requests) return;
    if (topic === requests.statusTopic) this.onStatus(bytes);
    else if (topic === requests.replyTopic) {
      // A fragment starts with a 4-byte box size, never with "{" (that would be > 2 GB).
      if (bytes[0] === 0x7b) this.onReplyJson(bytes);
      else this.onMedia(bytes);
    }
  }

  snapshot(): StatsSnapshot {
    return this.stats.snapshot(this.session);
  }

  destroy(): void {
    this.wantPlaying = false;
    this.generation++;
    this.teardown();
    this.timers.destroy();
    this.removeAllListeners();
  }

  private async run(skipDescribe: boolean): Promise<void> {
    const gen = ++this.generation;
    this.teardown();
    const { transport, requests } = this.flow;
    const target = this.target;
    if (!target) return;
    if (!transport?.connected || !requests) {
      this.setState(transport ? 'reconnecting' : 'connecting');
      return;
    }
    try {
      const engine = this.options.engine;
      if (!engine) throw new PlayFailure(playerError('MSE_UNSUPPORTED'));
      const codecs = await engine.codecs();
      await this.flow.prepare(transport, requests);
      if (!skipDescribe || !this.described) this.setState('describing');
      const described =
        skipDescribe && this.described
          ? this.described
          : await describeStream({ transport, requests, replies: this.replies, target, codecs, requestId: `d-${gen}-${randomTag()}`, timeoutMs: this.options.describeTimeoutMs ?? 15_000 });
      if (!described || gen !== this.generation) return;
      this.described = described;
      const unsupported = await engine.check(described.mimeCodec);
      if (unsupported) throw new PlayFailure(unsupported);
      if (gen !== this.generation) return;
      await this.openSession(engine, described, gen);
      if (gen !== this.generation) return;
      this.stats.reset(codecsOf(described.mimeCodec).join(', '), described.mode, engine.label);
      this.playSentAt = performance.now();
      if (this.state !== 'recovering') this.setState('starting');
      this.timers.start();
      await this.flow.play(transport, requests, target, codecs, `p-${gen}-${randomTag()}`);
    } catch (err) {
      if (gen !== this.generation) return;
      if (err instanceof PlayFailure) this.fail(err.error);
      else if (transport.connected) this.fail(playerError('BROKER_REFUSED', errorText(err)));
      else this.log.info('start interrupted by the connection loss; resuming after reconnect');
    }
  }

  private async openSession(engine: MediaEngine, described: Described, gen: number): Promise<void> {
    const session = engine.create({
      mimeCodec: described.mimeCodec,
      live: described.live,
      liveTargetS: this.options.liveTargetS,
      log: this.log.child('media'),
      onFirstFrame: () => this.onFirstFrame(session),
      onMediaError: (message) => this.recover('MEDIA_ERROR', message),
      onDropped: (count) => (this.stats.counters.playerDropped += count),
    });
    this.session = session;
    try {
      await session.open();
    } catch (err) {
      if (gen === this.generation) throw new PlayFailure(playerError('MEDIA_ERROR', errorText(err)));
      this.log.debug('a superseded MediaSource did not open', err);
    }
  }

  private onMedia(bytes: Uint8Array<ArrayBuffer>): void {
    const session = this.session;
    if (!session || !this.flow.playSent) return;
    try {
      if (!session.hasInit) {
        if (!isInitSegment(bytes)) return; // the end of an earlier session: wait for this one's init
        session.appendInit(bytes);
      } else {
        session.appendFragment(bytes);
        this.stats.counters.fragments++;
        this.flow.ack(this.stats.counters.fragments, session.bufferAheadS() * 1000, false);
      }
    } catch (err) {
      this.recover('MEDIA_ERROR', `malformed media message: ${errorText(err)}`);
      return;
    }
    this.timers.dataArrived();
    this.stats.media(bytes.byteLength, performance.now());
  }

  private onReplyJson(bytes: Uint8Array): void {
    const msg = parseReply(bytes);
    if (this.replies.offer(msg)) return;
    if (msg.kind === 'unknown') this.log.warn('unrecognised JSON on the reply topic', msg.reason);
    if (msg.kind !== 'error' || msg.code === 'SESSION_NOT_FOUND' || !this.flow.playSent) return;
    if (msg.requestId !== undefined && msg.requestId !== this.flow.playRequestId) return;
    this.flow.ended();
    this.fail(serverError(msg.code, msg.error));
  }

  private onStatus(bytes: Uint8Array): void {
    const status = parseStatus(bytes);
    if (!status) return this.log.warn('unrecognised status message');
    const event = statusEvent(status, this.flow.playRequestId);
    if (!this.flow.playSent || event.kind === 'ignore') return;
    if (event.kind === 'progress') {
      if (event.skipped !== undefined) this.stats.counters.skipped = event.skipped;
      if (event.mode) this.stats.counters.mode = event.mode;
      return;
    }
    this.flow.ended();
    if (event.kind === 'error') return this.fail(serverError(event.code, event.message));
    if (SERVER_GONE.has(event.reason)) return this.awaitServer();
    // The source ended: let the buffered media play out, keep the stats ticking.
    this.wantPlaying = false;
    this.timers.stopAcks();
    void this.session?.endOfStream().catch((err: unknown) => this.log.warn('endOfStream failed', err));
    this.setState('ended', event.reason);
  }

  /**
   * The server shut down or lost its broker: not the end of the stream the person
   * asked for. Show that we are reconnecting and play again once it answers; when
   * the broker connection drops too, attach() does the same on reconnect.
   */
  private awaitServer(): void {
    const gen = ++this.generation;
    this.teardown();
    this.setState('reconnecting', 'the server went away; waiting for it to come back');
    this.retryTimer = setTimeout(() => {
      if (gen === this.generation && this.wantPlaying && this.flow.transport?.connected) void this.run(false);
    }, SERVER_RETRY_MS);
  }

  private onFirstFrame(session: MediaSink): void {
    if (session !== this.session) return;
    this.stats.counters.ttffMs = Math.round(performance.now() - this.playSentAt);
    this.setState('playing');
  }

  private onStall(reason: StallReason): void {
    this.recover('STALLED', reason === 'no-data' ? 'no media arrived for several seconds' : 'the picture stopped moving');
  }

  /** Restarts with stop + play on a fresh MediaSource; gives up after a few tries a minute. */
  private recover(code: PlayerErrorCode, detail: string): void {
    if (!this.wantPlaying || !this.session) return;
    this.log.warn(`recovering (${code})`, detail);
    const now = Date.now();
    this.recoveries = this.recoveries.filter((t) => now - t < 60_000);
    if (this.recoveries.length >= MAX_RECOVERIES_PER_MINUTE) return this.fail(playerError(code, detail));
    this.recoveries.push(now);
    this.setState('recovering', detail);
    void this.run(true);
  }

  private fail(error: PlayerError): void {
    this.wantPlaying = false;
    this.generation++;
    this.flow.stop(0);
    this.teardown();
    this.setError(error);
    this.setState('error', error.message);
  }

  private tick(): void {
    this.session?.tick(performance.now());
    if (++this.ticks % 2 !== 0) return;
    const stats = this.snapshot();
    if (this.ticks % 4 === 0) this.stats.sample(stats);
    this.emit('stats', stats);
  }

  private sendAck(): void {
    if (this.session) this.flow.ack(this.stats.counters.fragments, this.session.bufferAheadS() * 1000, true);
  }

  private teardown(): void {
    clearTimeout(this.retryTimer);
    this.replies.cancel();
    this.timers.stop();
    this.session?.destroy();
    this.session = null;
    this.emit('stats', this.snapshot());
  }

  private setState(state: PlayerState, detail = ''): void {
    if (this.state === state && this.stateDetail === detail) return;
    this.state = state;
    this.stateDetail = detail;
    this.emit('state', state, detail);
  }

  private setError(error: PlayerError | null): void {
    this.lastError = error;
    this.emit('error', error);
  }
}
