/** What a probe learns of a source: shared by ffprobe's reader (probe.ts) and the SDP's (sdp.ts). */

export interface ProbedTrack {
  codec: string;
  profile?: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** Frames per second (video), when known: from ffprobe, or an SDP's a=framerate. */
  fps?: number;
}

export interface ProbeResult {
  live: boolean;
  video?: ProbedTrack;
  audio?: ProbedTrack;
  /** How it was learnt: the RTSP server's SDP (one DESCRIBE) or ffprobe. */
  via?: 'sdp' | 'ffprobe';
}
