/**
 * Pictures of one channel: watches its init segment and fragments (as a viewer of its
 * upstream, or fed by `mqttcast publish`), keeps the latest keyframe, and has it made
 * into a JPEG at the channel's first keyframe and then every `intervalMs` — only when a
 * newer keyframe has come (a 30 s GOP gives one picture per 30 s). Each picture carries a
 * comment saying who made it (protocol/jpeg.ts) and goes to `publish`.
 */
import { snapshotComment, toMqttcastError, withJpegComment, type InitInfo, type MqttcastError } from '../../protocol/index.js';
import type { Fragment, UpstreamEvent, UpstreamViewer } from '../upstreams/upstream-types.js';
import type { SnapshotEncoder } from './snapshot-encoder.js';

export interface KeyframeSnapshotsOptions {
  channel: string;
  /** Who makes the pictures, written in each one's comment (a server or device id, no spaces). */
  by: string;
  encoder: SnapshotEncoder;
  intervalMs: number;
  /** Gets each picture (a complete JPEG file). */
  publish: (jpeg: Buffer) => void;
  /** The upstream ended or failed: no more pictures will come from it. */
  onEnd?: (why: string) => void;
  /** A picture could not be made (not fatal: the next keyframe is tried at the next interval). */
  onError: (err: MqttcastError) => void;
}

/** The part of a fragment this needs (an upstream's Fragment, or what the CLI cut). */
export type KeyframeInput = Pick<Fragment, 'data' | 'sync' | 'producerTimeMs'>;

export class KeyframeSnapshots implements UpstreamViewer {
  private init?: Buffer;
  private keyframe?: KeyframeInput;
  private keyframeAt = 0;
  /** The keyframe the last picture was made of (or is being made of). */
  private taken?: KeyframeInput;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: KeyframeSnapshotsOptions) {
    this.timer = setInterval(() => this.take(), options.intervalMs);
    this.timer.unref();
  }

  onInit(init: Buffer, _info?: InitInfo): void {
    // A new init (publisher restart, codec change): the old keyframe cannot be decoded with it.
    this.init = init;
    this.keyframe = undefined;
    this.taken = undefined;
  }

  onFragment(fragment: KeyframeInput): void {
    if (!fragment.sync || !this.init) return;
    this.keyframe = fragment;
    this.keyframeAt = fragment.producerTimeMs ?? Date.now();
    // The channel's first keyframe (or the first since a new init): a picture at once.
    if (this.taken === undefined) this.take();
  }

  onEvent(event: UpstreamEvent): void {
    if (event.type === 'ended') this.options.onEnd?.('the source ended');
    else if (event.type === 'failed') this.options.onEnd?.(event.error.message);
  }

  private take(): void {
    const { init, keyframe } = this;
    if (this.closed || !init || !keyframe || keyframe === this.taken) return;
    this.taken = keyframe;
    const at = new Date(this.keyframeAt).toISOString();
    const { channel, by, encoder } = this.options;
    encoder
      .encode(channel, init, [keyframe.data])
      .then((jpeg) => {
        if (!jpeg || this.closed) return;
        this.options.publish(Buffer.from(withJpegComment(jpeg, snapshotComment({ by, channel, at }))));
      })
      .catch((err: unknown) => this.options.onError(toMqttcastError(err)));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }
}
