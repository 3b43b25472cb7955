import { describe, expect, it } from 'vitest';
import { codecsOf } from './media-sink.js';
import { hasWebCodecs } from './webcodecs-engine.js';

describe('WebCodecs feature detection', () => {
  class Fake {}

  it('needs VideoDecoder, EncodedVideoChunk and VideoFrame', () => {
    expect(hasWebCodecs({ VideoDecoder: Fake, EncodedVideoChunk: Fake, VideoFrame: Fake })).toBe(true);
    expect(hasWebCodecs({ EncodedVideoChunk: Fake, VideoFrame: Fake })).toBe(false);
    expect(hasWebCodecs({ VideoDecoder: 'not a constructor', EncodedVideoChunk: Fake, VideoFrame: Fake })).toBe(false);
    expect(hasWebCodecs({})).toBe(false);
  });

  it('reads the codec list of a MIME type', () => {
    expect(codecsOf('video/mp4; codecs="avc1.64001F, mp4a.40.2"')).toEqual(['avc1.64001F', 'mp4a.40.2']);
    expect(codecsOf('audio/mp4; codecs=opus')).toEqual(['opus']);
    expect(codecsOf('video/mp4')).toEqual([]);
  });
});
