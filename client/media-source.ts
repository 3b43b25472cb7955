/**
 * MediaSource feature detection: which constructor to use (ManagedMediaSource
 * where MediaSource is missing, as on iPhone Safari) and which codecs this
 * browser accepts, to tell the server in `codecs`.
 */

/** Candidates probed with `isTypeSupported`, in order of preference. */
export const CANDIDATE_CODECS: readonly { codec: string; kind: 'video' | 'audio' }[] = [
  { codec: 'avc1.42E01E', kind: 'video' },
  { codec: 'avc1.4D401F', kind: 'video' },
  { codec: 'avc1.640028', kind: 'video' },
  { codec: 'avc1.640033', kind: 'video' },
  { codec: 'hvc1.1.6.L93.B0', kind: 'video' },
  { codec: 'hev1.1.6.L93.B0', kind: 'video' },
  { codec: 'av01.0.05M.08', kind: 'video' },
  { codec: 'vp09.00.10.08', kind: 'video' },
  { codec: 'mp4a.40.2', kind: 'audio' },
  { codec: 'mp4a.40.5', kind: 'audio' },
  { codec: 'opus', kind: 'audio' },
  { codec: 'flac', kind: 'audio' },
];

export function supportedCodecs(isTypeSupported: (type: string) => boolean): string[] {
  return CANDIDATE_CODECS.filter(({ codec, kind }) => isTypeSupported(`${kind}/mp4; codecs="${codec}"`)).map(
    (c) => c.codec,
  );
}

export interface MediaSourceImpl {
  ctor: typeof MediaSource;
  /** ManagedMediaSource: needs `disableRemotePlayback` on the video element. */
  managed: boolean;
}

export function findMediaSource(scope: object = globalThis): MediaSourceImpl | null {
  const s = scope as { MediaSource?: typeof MediaSource; ManagedMediaSource?: typeof MediaSource };
  if (s.MediaSource) return { ctor: s.MediaSource, managed: false };
  if (s.ManagedMediaSource) return { ctor: s.ManagedMediaSource, managed: true };
  return null;
}

export interface AttachedMediaSource {
  mediaSource: MediaSource;
  objectUrl: string;
  /** Resolves on `sourceopen`; rejects after `timeoutMs` if it never fires. */
  opened: Promise<void>;
}

/** Attaches a new MediaSource to the video element. */
export function attachMediaSource(video: HTMLVideoElement, impl: MediaSourceImpl, timeoutMs = 5000): AttachedMediaSource {
  const mediaSource = new impl.ctor();
  if (impl.managed) video.disableRemotePlayback = true;
  const objectUrl = URL.createObjectURL(mediaSource);
  video.src = objectUrl;
  const opened = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      mediaSource.removeEventListener('sourceopen', onOpen);
      reject(new Error(`MediaSource did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    const onOpen = (): void => {
      clearTimeout(timer);
      resolve();
    };
    mediaSource.addEventListener('sourceopen', onOpen, { once: true });
  });
  return { mediaSource, objectUrl, opened };
}

/** Detaches the MediaSource from the element and frees its URL. */
export function closeMediaSource(video: HTMLVideoElement, objectUrl: string | undefined): void {
  video.removeAttribute('src');
  video.load();
  if (objectUrl) URL.revokeObjectURL(objectUrl);
}
