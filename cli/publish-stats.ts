/**
 * What `mqttcast publish` measures of its own stream: each fragment read once
 * (keyframe or not, media time), bit rate over a sliding window, GOP duration.
 */
import { fragmentStartsWithSync, parseFragment, type InitInfo } from '../protocol/index.js';

export interface FragmentFacts {
  /** Starts with a keyframe on the video track (every fragment of an audio-only stream). */
  sync: boolean;
  /** Decode time of the video (else first) track, seconds. */
  mediaTimeS: number | undefined;
}

/** Reads the facts of one fragment; the init tells which track is the video and its timescale. */
export function fragmentFacts(fragment: Uint8Array, init: InitInfo): FragmentFacts {
  const info = parseFragment(fragment);
  const track = init.tracks.find((t) => t.id === init.videoTrackId) ?? init.tracks[0];
  const traf = info.tracks.find((t) => t.trackId === track?.id);
  return {
    sync: fragmentStartsWithSync(info, init.videoTrackId, track?.defaultSampleFlags ?? 0),
    mediaTimeS: traf && track && track.timescale > 0 ? traf.baseDecodeTime / track.timescale : undefined,
  };
}

const MAX_SAMPLES = 4096;

export class StreamStats {
  fragments = 0;
  bytes = 0;
  /** Fragments not sent (broker away, socket full, waiting for a keyframe). */
  dropped = 0;
  /** Pictures published (`--snapshots`). */
  pictures = 0;
  /** Media time between the last two keyframe fragments, seconds. */
  gopS: number | undefined;
  private lastSyncTimeS: number | undefined;
  /** (arrival ms, bytes) of the fragments of the window; bounded. */
  private samples: Array<[number, number]> = [];

  constructor(private readonly windowMs = 5000) {}

  add(bytes: number, facts: FragmentFacts, now = Date.now()): void {
    this.fragments++;
    this.bytes += bytes;
    this.samples.push([now, bytes]);
    if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
    if (facts.sync && facts.mediaTimeS !== undefined) {
      if (this.lastSyncTimeS !== undefined && facts.mediaTimeS > this.lastSyncTimeS) {
        this.gopS = facts.mediaTimeS - this.lastSyncTimeS;
      }
      this.lastSyncTimeS = facts.mediaTimeS;
    }
  }

  /** A new ffmpeg run: media time starts again, the GOP is measured afresh. */
  restart(): void {
    this.lastSyncTimeS = undefined;
  }

  /** Bits per second over the window ending at `now` (0 until two fragments are in it). */
  bitrate(now = Date.now()): number {
    const from = now - this.windowMs;
    while (this.samples.length > 0 && this.samples[0]![0] < from) this.samples.shift();
    if (this.samples.length < 2) return 0;
    const span = (now - this.samples[0]![0]) / 1000;
    if (span <= 0) return 0;
    const total = this.samples.reduce((sum, [, b]) => sum + b, 0);
    return Math.round((total * 8) / span);
  }
}
