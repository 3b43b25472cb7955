/**
 * Dates media time with the producer's wall clock, from the fragments a page
 * receives (tapped on its reply topic): each fragment's prft, corrected to the
 * fragment's end (protocol/prft.ts), covers the media up to that end. A frame
 * at media time t is dated by the first fragment ending after t — the one that
 * carried it. Bounded: references older than the window are dropped.
 */
import { parseFragment, parseInit } from '../protocol/index.js';
import { producerReference, producerTimeAt, type ProducerReference } from '../protocol/prft.js';

/** Media seconds of references kept behind the newest. */
const KEEP_S = 30;
/** A frame more than this before the reference that dates it is in a gap of references: undated. */
const MAX_REACH_S = 2;
/** Frame timestamps may be rounded (WebCodecs: whole µs): a fragment must end this much after a frame to hold it. */
const EPSILON_S = 1e-4;

export class ProducerClock {
  /** Fragments with a usable prft; of them, those that stated no durations (dated from the raw prft). */
  fragments = 0;
  uncorrected = 0;
  /** Media seconds of video per fragment, summed (for the mean fragment duration). */
  mediaS = 0;
  private refs: ProducerReference[] = [];
  private timescales = new Map<number, number>();
  private videoTrackId: number | undefined;

  /** One message of the reply topic: the init segment, a fragment, or JSON (ignored). */
  add(message: Uint8Array): void {
    if (message[0] === 0x7b) return; // describe reply or error: JSON
    if (String.fromCharCode(...message.subarray(4, 8)) === 'ftyp') {
      const init = parseInit(message);
      this.timescales = new Map(init.tracks.map((t) => [t.id, t.timescale]));
      this.videoTrackId = init.videoTrackId;
      return;
    }
    const info = parseFragment(message);
    const video = info.tracks.find((t) => t.trackId === this.videoTrackId);
    const videoScale = video ? this.timescales.get(video.trackId) : undefined;
    if (video?.duration && videoScale) this.mediaS += video.duration / videoScale;
    const ref = producerReference(info, this.timescales);
    if (!ref) return;
    this.fragments++;
    if (!ref.corrected) this.uncorrected++;
    const last = this.refs.at(-1);
    if (last && ref.mediaTimeS <= last.mediaTimeS) this.refs = []; // a new timeline (the source restarted)
    this.refs.push(ref);
    while (this.refs.length > 1 && this.refs[0]!.mediaTimeS < ref.mediaTimeS - KEEP_S) this.refs.shift();
  }

  /** Producer wall clock (Unix ms) of the media at `mediaTimeS`; undefined when no received fragment covers it. */
  producedAt(mediaTimeS: number): number | undefined {
    const refs = this.refs;
    let lo = 0;
    let hi = refs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (refs[mid]!.mediaTimeS > mediaTimeS + EPSILON_S) hi = mid;
      else lo = mid + 1;
    }
    const ref = refs[lo];
    if (!ref || ref.mediaTimeS - mediaTimeS > MAX_REACH_S) return undefined;
    return producerTimeAt(ref, mediaTimeS);
  }
}
