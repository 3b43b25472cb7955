/**
 * What the player needs from a way of showing media: MediaSource on the
 * <video> element (MSE) or WebCodecs decoders drawing to a <canvas>. The
 * session, request and ack flow in Player is the same for both.
 */
import type { FragmentInfo, InitInfo } from '../protocol/index.js';
import type { PlayerError } from './errors.js';
import type { Logger } from './log.js';

export type EngineKind = 'mse' | 'webcodecs';

/** Frame counters and picture size for the stats overlay. */
export interface SinkFrames {
  decoded: number;
  dropped: number;
  width: number;
  height: number;
  /** WebCodecs: frames drawn to the canvas. */
  drawn?: number;
  /** WebCodecs: chunks waiting in the video decoder. */
  decodeQueue?: number;
  /** WebCodecs: frames drawn per second, over the last second or so. */
  fps?: number | null;
  /** What happens to the sound, in a few words (e.g. "on", "muted", "off: …"). */
  audio?: string;
}

export interface MediaSink {
  readonly init: InitInfo | undefined;
  readonly hasInit: boolean;
  readonly firstFrameDecoded: boolean;
  open(): Promise<void>;
  /** Parses and takes the init segment. Throws BoxFormatError for a malformed one. */
  appendInit(bytes: Uint8Array<ArrayBuffer>): InitInfo;
  /** Parses and takes one fragment. Throws BoxFormatError for a malformed one. */
  appendFragment(bytes: Uint8Array<ArrayBuffer>): FragmentInfo;
  /** Called a few times a second. */
  tick(now: number): void;
  /** Seconds of media received but not yet shown. */
  bufferAheadS(): number;
  /** Producer wall clock → shown, in milliseconds; null until known. */
  latencyMs(nowMs: number): number | null;
  /** The media time on screen, for the stall watchdog. */
  playhead(): { currentTime: number; paused: boolean };
  frames(): SinkFrames;
  /** MSE: seconds behind the buffered end that live playback aims for. */
  readonly liveTargetS?: number;
  /** Lets what is buffered play out (the source ended). */
  endOfStream(): Promise<void>;
  destroy(): void;
}

export interface SinkOptions {
  mimeCodec: string;
  live: boolean;
  /** A fixed live-edge target in seconds (`?latency=`); otherwise the sink picks one. */
  liveTargetS?: number;
  log: Logger;
  onFirstFrame: () => void;
  onMediaError: (message: string) => void;
  /** Fragments or frames dropped because the player fell behind. */
  onDropped: (count: number) => void;
}

export interface MediaEngine {
  readonly kind: EngineKind;
  /** Shown in the stats overlay, e.g. "MSE" or "MSE (no WebCodecs in this browser)". */
  readonly label: string;
  /** Codecs this engine can decode, sent to the server so it copies what it can. */
  codecs(): Promise<readonly string[]>;
  /** Null when the described stream can be played, else why not. */
  check(mimeCodec: string): Promise<PlayerError | null>;
  create(options: SinkOptions): MediaSink;
}

/** The codec list of `video/mp4; codecs="a, b"`. */
export function codecsOf(mimeCodec: string): string[] {
  const list = /codecs="?([^"]*)"?/.exec(mimeCodec)?.[1] ?? '';
  return list.split(',').map((c) => c.trim()).filter(Boolean);
}
