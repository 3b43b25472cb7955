/**
 * How much media time a fragment carries: what flow control counts when
 * fragments are one frame long (or 200 ms, or a whole GOP) — time, not messages.
 */
import type { FragmentInfo } from './isobmff.js';
import type { InitInfo } from './mp4-init.js';

/**
 * Milliseconds of media in a fragment: its video samples' (a one-frame fragment
 * spans one frame; the audio muxed beside it runs a little ahead), or, in a
 * fragment without video, its longest track's. Sample durations come from
 * `trun`, else `tfhd`, else the init segment's `trex`. Undefined when no track
 * states them.
 */
export function fragmentDurationMs(info: FragmentInfo, init: InitInfo): number | undefined {
  let longest: number | undefined;
  for (const traf of info.tracks) {
    const track = init.tracks.find((t) => t.id === traf.trackId);
    if (!track || track.timescale <= 0 || traf.sampleCount === 0) continue;
    const units = traf.duration ?? (track.defaultSampleDuration > 0 ? traf.sampleCount * track.defaultSampleDuration : undefined);
    if (units === undefined) continue;
    const ms = (units / track.timescale) * 1000;
    if (track.id === init.videoTrackId) return ms;
    longest = longest === undefined ? ms : Math.max(longest, ms);
  }
  return longest;
}
