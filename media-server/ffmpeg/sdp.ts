/**
 * What an RTSP server's SDP (RFC 8866) tells about its streams — enough to
 * decide copy or transcode without running ffprobe: each medium's encoding,
 * clock rate, format parameters, frame rate, and whether the session is live
 * (an open `a=range`). Pure; no I/O.
 */
import type { ProbeResult, ProbedTrack } from './probe-types.js';

export interface SdpMedium {
  /** `video`, `audio`, `application`, ... */
  type: string;
  /** Encoding name from `a=rtpmap`, upper case: `H264`, `MPEG4-GENERIC`, `PCMA`, ... */
  encoding?: string;
  clockRate?: number;
  channels?: number;
  /** `a=fmtp` parameters, names in lower case. */
  fmtp: Record<string, string>;
  framerate?: number;
}

export interface Sdp {
  media: SdpMedium[];
  /** Session-level `a=range` value, e.g. `npt=0-` or `npt=0-120.5`. */
  range?: string;
}

export function parseSdp(text: string): Sdp {
  const sdp: Sdp = { media: [] };
  let medium: SdpMedium | undefined;
  /** The first payload type of each medium: the one its rtpmap/fmtp describe. */
  let payload: string | undefined;
  let mediumRange: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const fields = line.slice(2).split(/\s+/);
      payload = fields[3];
      medium = { type: fields[0] ?? '', fmtp: {} };
      sdp.media.push(medium);
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line.slice(2) : line.slice(2, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (name === 'range') {
      if (!medium) sdp.range = value;
      else mediumRange ??= value;
    }
    if (!medium) continue;
    const [pt, rest = ''] = splitOnce(value, ' ');
    if (name === 'rtpmap' && pt === payload) {
      const [encoding, clock, channels] = rest.split('/');
      medium.encoding = encoding?.toUpperCase();
      medium.clockRate = clock ? Number(clock) : undefined;
      medium.channels = channels ? Number(channels) : undefined;
    } else if (name === 'fmtp' && pt === payload) {
      for (const part of rest.split(';')) {
        const [k, v = ''] = splitOnce(part.trim(), '=');
        if (k) medium.fmtp[k.toLowerCase()] = v;
      }
    } else if (name === 'framerate') {
      const fps = Number(value);
      if (Number.isFinite(fps) && fps > 0 && fps <= 240) medium.framerate = fps;
    }
  }
  sdp.range ??= mediumRange;
  return sdp;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** RTP encodings whose ffprobe codec name is certain from the SDP alone. */
const CODEC_OF_ENCODING: Record<string, (m: SdpMedium) => string | undefined> = {
  H264: () => 'h264',
  H265: () => 'hevc',
  // RFC 3640: AAC only in the AAC modes; CELP and others are not for us to guess.
  'MPEG4-GENERIC': (m) => (/^aac-(hbr|lbr)$/i.test(m.fmtp.mode ?? '') ? 'aac' : undefined),
  OPUS: () => 'opus',
  PCMA: () => 'pcm_alaw',
  PCMU: () => 'pcm_mulaw',
};

/**
 * The probe result the SDP implies, or undefined when it leaves anything open
 * (an encoding we do not know for certain, no rtpmap): then ask ffprobe.
 * Like ffprobe on RTSP, the first video and the first audio stream count.
 */
export function probeFromSdp(sdp: Sdp): ProbeResult | undefined {
  const pick = (type: 'video' | 'audio'): ProbedTrack | undefined | null => {
    const m = sdp.media.find((x) => x.type === type);
    if (!m) return undefined;
    const codec = m.encoding ? CODEC_OF_ENCODING[m.encoding]?.(m) : undefined;
    if (!codec) return null; // present but not certain
    const track: ProbedTrack = { codec };
    if (type === 'video' && m.framerate) track.fps = m.framerate;
    if (type === 'audio') {
      if (m.clockRate) track.sampleRate = m.clockRate;
      if (m.channels) track.channels = m.channels;
    }
    return track;
  };
  const video = pick('video');
  const audio = pick('audio');
  if (video === null || audio === null || (!video && !audio)) return undefined;
  return { live: isLiveRange(sdp.range), video, audio };
}

/** `npt=0-`, `npt=now-`, or no range: live. `npt=0-120.5`: a recording of known length. */
export function isLiveRange(range: string | undefined): boolean {
  if (!range) return true;
  const m = /^npt\s*=\s*([^-]*)-(.*)$/i.exec(range.trim());
  if (!m) return true;
  const end = m[2]!.trim();
  return end === '' || !(Number(end) > 0);
}
