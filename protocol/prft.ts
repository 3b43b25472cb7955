/**
 * Producer wall clock of fMP4 fragments, from their `prft` box — the one
 * correction every latency number needs.
 *
 * ffmpeg (5.1) stamps the prft's NTP time when it WRITES a fragment, that is
 * once the fragment's last sample is in (when the next frame arrives), but
 * labels it with the media time of the fragment's FIRST sample. Taken as is,
 * latency is understated by one fragment (200 ms, or one frame). So the NTP
 * time belongs to the fragment's end:
 *
 *   producer time of a sample = prft NTP − (fragment end − sample time)
 *
 * Pure; no I/O. Node (bench, tests) and the browser (player overlay) share it.
 */
import type { FragmentInfo } from './isobmff.js';

export interface ProducerReference {
  /** Unix milliseconds at which the producer made the media at `mediaTimeS`. */
  producerTimeMs: number;
  /** Media time in seconds: the fragment's end on the prft's track (the prft media time when durations are unknown). */
  mediaTimeS: number;
  /** False when the fragment states no durations, so the prft could not be moved to its end (latency understated by one fragment). */
  corrected: boolean;
}

/** Media time [start, end) of one track in a fragment, seconds; null when the track, its timescale or its durations are missing. */
export function fragmentSpan(
  info: FragmentInfo,
  trackId: number | undefined,
  timescales: ReadonlyMap<number, number>,
): { startS: number; endS: number } | null {
  const traf = trackId === undefined ? info.tracks[0] : info.tracks.find((t) => t.trackId === trackId);
  const timescale = traf ? timescales.get(traf.trackId) : undefined;
  if (!traf || !timescale || !traf.duration) return null;
  return { startS: traf.baseDecodeTime / timescale, endS: (traf.baseDecodeTime + traf.duration) / timescale };
}

/**
 * The producer reference of a fragment (corrected as above), if it carries a
 * prft for a track of known timescale. Without durations in the fragment it
 * falls back to the prft's own media time and says so (`corrected: false`).
 */
export function producerReference(info: FragmentInfo, timescales: ReadonlyMap<number, number>): ProducerReference | null {
  if (info.producerTimeMs === undefined || info.producerMediaTime === undefined) return null;
  const timescale = timescales.get(info.producerTrackId ?? -1) ?? [...timescales.values()][0];
  if (!timescale) return null;
  const span = fragmentSpan(info, info.producerTrackId, timescales);
  return span
    ? { producerTimeMs: info.producerTimeMs, mediaTimeS: span.endS, corrected: true }
    : { producerTimeMs: info.producerTimeMs, mediaTimeS: info.producerMediaTime / timescale, corrected: false };
}

/** Unix ms at which the producer made the media at `mediaTimeS` (one media second is one wall second around the reference). */
export function producerTimeAt(ref: ProducerReference, mediaTimeS: number): number {
  return ref.producerTimeMs + (mediaTimeS - ref.mediaTimeS) * 1000;
}

/** Latency of the frame at `mediaTimeS` seen at wall clock `nowMs`: now minus the time the producer made it. */
export function latencyMs(nowMs: number, mediaTimeS: number, ref: ProducerReference): number {
  return nowMs - producerTimeAt(ref, mediaTimeS);
}

/**
 * Corrected producer time (Unix ms) of the sample the prft names — the
 * fragment's first — or undefined without a usable prft. Receive time minus
 * this is the fragment's latency: its first frame waited for the fragment to
 * close, as every viewer's does.
 */
export function fragmentProducerTimeMs(info: FragmentInfo, timescales: ReadonlyMap<number, number>): { timeMs: number; corrected: boolean } | undefined {
  const ref = producerReference(info, timescales);
  if (!ref || info.producerMediaTime === undefined) return undefined;
  const timescale = timescales.get(info.producerTrackId ?? -1) ?? [...timescales.values()][0]!;
  return { timeMs: producerTimeAt(ref, info.producerMediaTime / timescale), corrected: ref.corrected };
}
