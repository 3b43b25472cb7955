/**
 * The player's side of the wire protocol for one tab: subscribe, play, stop
 * and ack on the request topics, whether a play is running on the server, and
 * its request id. One copy for MSE and WebCodecs alike.
 */
import type { Logger } from './log.js';
import type { Transport } from './player-types.js';
import type { PlayTarget, Requests } from './requests.js';

/**
 * Besides the 1 s keepalive, an ack after this many fragments: the server lets a
 * viewer have only so many unacked fragments in flight (15 by default) before it
 * skips, and one-frame fragments (video and audio) come 50-80 a second. With
 * 200 ms fragments the 1 s keepalive comes first, so acks stay as rare as before.
 */
export const ACK_EVERY_FRAGMENTS = 8;

export class RequestFlow {
  transport: Transport | null = null;
  requests: Requests | null = null;
  /** A play was sent and the server has not ended it (nor have we stopped it). */
  playSent = false;
  playRequestId = '';
  private ackedFragments = 0;

  constructor(private readonly log: Logger) {}

  /** Subscribes to the reply and status topics, and stops a play still running from an earlier attempt. */
  async prepare(transport: Transport, requests: Requests): Promise<void> {
    await transport.subscribe({ [requests.replyTopic]: 0, [requests.statusTopic]: 1 });
    if (!this.playSent) return;
    this.playSent = false;
    const stop = requests.stop();
    await transport.publish(stop.topic, stop.payload, 1);
  }

  /** Sends play; media is accepted (and acked) from now on. */
  async play(transport: Transport, requests: Requests, target: PlayTarget, codecs: readonly string[], requestId: string): Promise<void> {
    this.playRequestId = requestId;
    this.ackedFragments = 0;
    this.playSent = true;
    const play = requests.play(target, codecs, requestId);
    await transport.publish(play.topic, play.payload, 1);
  }

  /** The server ended the play (error, source ended, shutdown): nothing to stop. */
  ended(): void {
    this.playSent = false;
  }

  /** Ends the server session if a play is running: QoS 1 on Stop, 0 when the page goes away. */
  stop(qos: 0 | 1): void {
    const { transport, requests } = this;
    if (!this.playSent || !transport?.connected || !requests) return;
    this.playSent = false;
    const stop = requests.stop();
    transport.publish(stop.topic, stop.payload, qos).catch((err: unknown) => this.log.warn('stop not sent', err));
  }

  /** Acks the fragments received so far; unless `always`, only once ACK_EVERY_FRAGMENTS came since the last ack. */
  ack(fragments: number, bufferedMs: number, always: boolean): void {
    const { transport, requests } = this;
    if (!transport?.connected || !requests || !this.playSent) return;
    if (!always && fragments - this.ackedFragments < ACK_EVERY_FRAGMENTS) return;
    this.ackedFragments = fragments;
    const ack = requests.ack(fragments, bufferedMs);
    transport.publish(ack.topic, ack.payload, 0).catch((err: unknown) => this.log.warn('ack not sent', err));
  }
}
