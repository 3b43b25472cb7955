/**
 * What an upstream does when its ffmpeg exits: end cleanly, restart, or fail
 * with a reason the viewer can act on. Pure, so every way a stream can end
 * quietly is decided (and tested) in one place. A source that never delivered a
 * fragment never "ends": it fails.
 */
import { diagnose } from './ffmpeg-diagnosis.js';
import type { ExitInfo } from './ffmpeg-process.js';
import type { SourceKind } from '../policy/sources.js';

export interface RunEnd {
  exit: ExitInfo;
  live: boolean;
  kind?: SourceKind;
  /** An init segment came from this run or an earlier one. */
  hadInit: boolean;
  /** Fragments from all runs of this upstream, this one included. */
  totalFragments: number;
  /** Set when the stall watchdog killed this run: how long it had gone without a fragment. */
  stalledMs?: number;
  /** Set when the upstream stopped this run for another reason of its own (unreadable output). */
  stoppedBecause?: string;
  /** The init segment has no video track (the wording then says "media"). */
  audioOnly?: boolean;
  /** Restarts made so far in the current streak, and the most allowed. */
  restarts: number;
  maxRestarts: number;
  /** Why the source first went away in the current streak of restarts, if it did. */
  outage?: string;
}

export type ExitDecision =
  | { action: 'ended' }
  | { action: 'failed'; message: string }
  | { action: 'restart'; outage: string };

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function exitText(exit: ExitInfo, beforeMedia: boolean): string {
  if (exit.signal) return `ffmpeg was stopped by ${exit.signal}`;
  if (exit.code !== 0) return `ffmpeg exited with code ${exit.code}`;
  return beforeMedia ? 'it ended before sending any video' : 'it ended';
}

/** What ffmpeg says when its input analysis ended before it learnt a stream's parameters. */
const SHORT_ANALYSIS = /dimensions not set|could not find codec parameters/i;

export function decideExit(end: RunEnd): ExitDecision {
  const beforeMedia = end.totalFragments === 0;
  // The first run of a live RTSP source analyses only 100 ms (ffmpeg-args.ts); the restart reads 0.3 s.
  if (!end.hadInit && end.live && end.kind === 'rtsp' && end.restarts === 0 && end.maxRestarts > 0 && SHORT_ANALYSIS.test(end.exit.stderr)) {
    return { action: 'restart', outage: 'the first 100 ms of the stream did not tell its picture size' };
  }
  const d = diagnose(end.exit.stderr, { kind: end.kind, beforeMedia });
  const why = end.stoppedBecause ?? d.reason ?? exitText(end.exit, beforeMedia);
  const what = end.audioOnly ? 'media' : 'video';
  if (!end.hadInit) {
    const reason = end.stalledMs !== undefined && !d.reason ? `it sent no media within ${seconds(end.stalledMs)}` : why;
    return { action: 'failed', message: `could not open the source: ${reason}` };
  }
  const stalled =
    end.stalledMs === undefined
      ? undefined
      : `the source stopped sending ${what} for ${seconds(end.stalledMs)}` +
        (end.kind === 'hls' && !d.lastLine ? ' (its live playlist is no longer updated)' : '');
  if (end.totalFragments === 0) {
    // The header was readable but not the media: e.g. an MP4 whose moov is at the end, served without Range.
    const reason = d.known ? why : (stalled ?? why);
    if (!end.live || end.restarts >= end.maxRestarts) return { action: 'failed', message: `could not read the source: ${reason}` };
  }
  if (!end.live) {
    if (end.exit.code === 0 && stalled === undefined && !d.interrupted) return { action: 'ended' };
    return { action: 'failed', message: stalled ?? `the source stopped: ${why}` };
  }
  const now = stalled ?? `the source stopped: ${why}`;
  const outage = end.outage ?? now;
  if (end.restarts >= end.maxRestarts) {
    return { action: 'failed', message: outage === now ? outage : `${outage}; reopening it failed: ${stalled ?? why}` };
  }
  return { action: 'restart', outage };
}
