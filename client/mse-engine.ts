/** MSE: MediaSource on the page's <video> element, one MediaSession per play. */
import { playerError, type PlayerError } from './errors.js';
import type { MediaEngine, MediaSink, SinkOptions } from './media-sink.js';
import { MediaSession } from './media-session.js';
import { supportedCodecs, type MediaSourceImpl } from './media-source.js';

export class MseEngine implements MediaEngine {
  readonly kind = 'mse';
  private readonly supported: readonly string[];

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly impl: MediaSourceImpl,
    readonly label = 'MSE',
  ) {
    this.supported = supportedCodecs((type) => impl.ctor.isTypeSupported(type));
  }

  codecs(): Promise<readonly string[]> {
    return Promise.resolve(this.supported);
  }

  check(mimeCodec: string): Promise<PlayerError | null> {
    return Promise.resolve(this.impl.ctor.isTypeSupported(mimeCodec) ? null : playerError('CODEC_UNSUPPORTED', mimeCodec));
  }

  create(options: SinkOptions): MediaSink {
    return new MediaSession({ ...options, video: this.video, impl: this.impl });
  }
}
