/**
 * `mqttcast publish --snapshots`: the device makes its own channel's pictures. The init
 * and the keyframe fragments it already cuts go to the media server's own picture maker
 * (media-server/snapshots: {@link KeyframeSnapshots} keeps the latest keyframe, one bounded
 * {@link SnapshotEncoder} ffmpeg turns it into a JPEG at the first keyframe and then every
 * interval). Each picture is stamped `by=publish@<host>:<pid>` and handed to `publish`
 * (retained on `P/live/<name>/snapshot`); the channel's meta says `snapshots: true`, so
 * media servers take none of their own.
 */
import { hostname } from 'node:os';
import type { InitInfo } from '../protocol/index.js';
import { KeyframeSnapshots } from '../media-server/snapshots/keyframe-snapshots.js';
import { SnapshotsSchema } from '../media-server/daemon/config.js';
import { SnapshotEncoder } from '../media-server/snapshots/snapshot-encoder.js';
import { CliError, EXIT } from './exit-codes.js';

export interface SnapshotFlags {
  /** Seconds between two pictures (the first is taken at the first keyframe). */
  intervalS: number;
  /** Picture width in pixels; the height keeps the aspect; a smaller video keeps its size. */
  width: number;
}

/** The defaults and bounds of a media server's `snapshots` config, read from its schema. */
const SERVER_DEFAULTS = SnapshotsSchema.parse({});
export const SNAPSHOT_DEFAULTS: SnapshotFlags = { intervalS: SERVER_DEFAULTS.intervalS, width: SERVER_DEFAULTS.width };
const bounds = (n: { minValue: number | null; maxValue: number | null }): { min: number; max: number } => ({ min: n.minValue ?? 0, max: n.maxValue ?? Infinity });
const INTERVAL_S = bounds(SnapshotsSchema.shape.intervalS.unwrap());
const WIDTH_PX = bounds(SnapshotsSchema.shape.width.unwrap());

export interface SnapshotArgValues {
  snapshots?: boolean;
  'snapshot-interval'?: string;
  'snapshot-width'?: string;
}

/** `--snapshots` and its options, checked; undefined without `--snapshots`. Throws a usage CliError. */
export function parseSnapshotFlags(values: SnapshotArgValues): SnapshotFlags | undefined {
  const interval = values['snapshot-interval'];
  const width = values['snapshot-width'];
  if (!values.snapshots) {
    const stray = interval !== undefined ? '--snapshot-interval' : width !== undefined ? '--snapshot-width' : undefined;
    if (stray) throw new CliError(`${stray} only applies with --snapshots (which makes the device publish pictures of its channel)`, EXIT.USAGE);
    return undefined;
  }
  const intervalS = interval === undefined ? SNAPSHOT_DEFAULTS.intervalS : Number(interval);
  if (interval !== undefined && !(interval.trim() !== '' && intervalS >= INTERVAL_S.min && intervalS <= INTERVAL_S.max)) {
    throw new CliError(`--snapshot-interval must be the seconds between two pictures, ${INTERVAL_S.min} to ${INTERVAL_S.max}, not "${interval}"`, EXIT.USAGE);
  }
  const widthPx = width === undefined ? SNAPSHOT_DEFAULTS.width : Number(width);
  if (width !== undefined && !(Number.isInteger(widthPx) && widthPx >= WIDTH_PX.min && widthPx <= WIDTH_PX.max)) {
    throw new CliError(`--snapshot-width must be a whole number of pixels, ${WIDTH_PX.min} to ${WIDTH_PX.max}, not "${width}"`, EXIT.USAGE);
  }
  return { intervalS, width: widthPx };
}

/** Who made a device's pictures, as written in their JPEG comment (no spaces). */
export function deviceSnapshotMaker(): string {
  return `publish@${hostname()}:${process.pid}`;
}

export interface DeviceSnapshotsOptions {
  ffmpeg: string;
  channel: string;
  flags: SnapshotFlags;
  /** Gets each stamped picture (a complete JPEG file). */
  publish: (jpeg: Buffer) => void;
  /** A picture could not be made (not fatal: the next one is tried at the next interval). */
  warn: (message: string) => void;
}

/** The pictures of the channel this device publishes. */
export class DeviceSnapshots {
  private readonly encoder: SnapshotEncoder;
  private readonly pictures: KeyframeSnapshots;
  private hasVideo = false;
  private closed = false;

  constructor(options: DeviceSnapshotsOptions) {
    this.encoder = new SnapshotEncoder({ ffmpeg: options.ffmpeg, width: options.flags.width, maxWaiting: 1 });
    this.pictures = new KeyframeSnapshots({
      channel: options.channel,
      by: deviceSnapshotMaker(),
      encoder: this.encoder,
      intervalMs: options.flags.intervalS * 1000,
      publish: options.publish,
      onError: (err) => options.warn(`no snapshot this time: ${err.message}`),
    });
  }

  /** A new init segment (a new ffmpeg run): pictures start again at its first keyframe. */
  onInit(init: Uint8Array, info: InitInfo): void {
    if (this.closed) return;
    // An audio-only stream has no picture to take.
    this.hasVideo = info.videoTrackId !== undefined;
    this.pictures.onInit(Buffer.from(init));
  }

  /** A fragment as cut: only those that open with a keyframe are kept (copied: the latest one). */
  onFragment(fragment: Uint8Array, sync: boolean): void {
    if (this.closed || !this.hasVideo || !sync) return;
    this.pictures.onFragment({ data: Buffer.from(fragment), sync });
  }

  /** Whether the channel has a video track, so pictures can be made of it. */
  get active(): boolean {
    return !this.closed && this.hasVideo;
  }

  /** Stops taking pictures and ends a running picture ffmpeg. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pictures.close();
    await this.encoder.close();
  }
}
