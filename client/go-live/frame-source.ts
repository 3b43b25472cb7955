/**
 * Raw frames of a camera or microphone track: MediaStreamTrackProcessor where the
 * browser has it (Chromium), else for video a <video> element copied into VideoFrames
 * at the chosen frame rate (the canvas path of browsers without breakout-box). Audio
 * needs the processor; without it the channel is published without sound.
 */

interface TrackProcessor<T> {
  readonly readable: ReadableStream<T>;
}
type TrackProcessorConstructor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => TrackProcessor<VideoFrame | AudioData>;

function processorConstructor(): TrackProcessorConstructor | undefined {
  return (globalThis as { MediaStreamTrackProcessor?: TrackProcessorConstructor }).MediaStreamTrackProcessor;
}

export function hasTrackProcessor(): boolean {
  return processorConstructor() !== undefined;
}

export interface FrameSource {
  /** `processor` (MediaStreamTrackProcessor) or `video-element` (the fallback). */
  readonly kind: 'processor' | 'video-element';
  close(): Promise<void>;
}

/** Calls `onFrame` for every frame (the callee owns the frame and must close it) until closed or the track ends. */
export function readTrack<T extends VideoFrame | AudioData>(track: MediaStreamTrack, onFrame: (frame: T) => void, onEnd: (err?: unknown) => void): FrameSource {
  const Processor = processorConstructor();
  if (!Processor) throw new Error('MediaStreamTrackProcessor is missing');
  // Video: a small buffer, so when the encoder falls behind the browser drops old frames instead of queueing them.
  // Audio: half a second of 10 ms buffers; a drop there would shift the encoder's clock (it counts samples) for good.
  const reader = new Processor({ track, maxBufferSize: track.kind === 'audio' ? 50 : 2 }).readable.getReader();
  let closed = false;
  const pump = async (): Promise<void> => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (closed) {
        value.close();
        return;
      }
      onFrame(value as T);
    }
  };
  const running = pump().then(
    () => onEnd(),
    (err: unknown) => onEnd(err),
  );
  return {
    kind: 'processor',
    close: async () => {
      closed = true;
      await reader.cancel();
      await running;
    },
  };
}

/** VideoFrames copied from a playing <video> (the preview), at most `fps` a second. */
export function readVideoElement(video: HTMLVideoElement, fps: number, onFrame: (frame: VideoFrame) => void): FrameSource {
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const intervalMs = 1000 / fps;
  let last = 0;
  const tick = (): void => {
    if (closed) return;
    const now = performance.now();
    if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && now - last >= intervalMs * 0.9) {
      last = now;
      onFrame(new VideoFrame(video, { timestamp: Math.round(now * 1000) }));
    }
    timer = setTimeout(tick, Math.max(1, intervalMs - (performance.now() - now)));
  };
  tick();
  return {
    kind: 'video-element',
    close: async () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}
