/**
 * What feeds an upstream: the ffmpeg supervisor (a pulled source) or a channel
 * subscriber (a live channel on the broker). A producer pushes whole init
 * segments and fragments into its sink and says when it restarts, ends or fails;
 * the upstream does the rest (cache, viewers, linger).
 */
import type { InitInfo, MqttcastError } from '../../protocol/index.js';

export interface ProducerSink {
  /** A (new) init segment. Returns its description, or undefined when it cannot be read. */
  init(data: Buffer): InitInfo | undefined;
  /** One fragment (`[prft]`+`moof`+`mdat`). */
  fragment(data: Buffer): void;
  /** Fragments were lost before the next one: viewers must resume at a sync fragment. */
  discontinuity(): void;
  /** A run began (an ffmpeg process: its pid). */
  started(pid?: number): void;
  /**
   * The source went away and the producer is trying again: `message` for viewers,
   * `cause` (why it went away, without the retry detail) for later errors.
   */
  restarting(attempt: number, message: string, cause?: string): void;
  /** The source ended normally (end of an on-demand file). */
  ended(): void;
  /** The source is gone for good; the error is what viewers are told. */
  failed(error: MqttcastError): void;
}

export interface Producer {
  /** Starts producing; called once, after the upstream is ready to receive. */
  start(sink: ProducerSink): void;
  /** Stop reading for now (an exclusive upstream's cache is full until its viewer claims it). */
  pause(): void;
  resume(): void;
  /** The process behind it, if any and running. */
  readonly pid?: number;
  /** Stops producing and releases everything (processes reaped, subscriptions dropped). Idempotent. */
  close(): Promise<void>;
}
