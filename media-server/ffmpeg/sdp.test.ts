import { describe, expect, it } from 'vitest';
import { isLiveRange, parseSdp, probeFromSdp } from './sdp.js';

/** The SDP of the GStreamer RTSP test source (test/helpers/rtsp-server.py), as it answers DESCRIBE. */
const GST = [
  'v=0', 'o=- 1188340656180883 1 IN IP4 127.0.0.1', 's=Session streamed with GStreamer', 'i=rtsp-server', 't=0 0', 'a=tool:GStreamer', 'a=type:broadcast', 'a=range:npt=now-', 'a=control:rtsp://127.0.0.1:8554/test',
  'm=video 0 RTP/AVP 96', 'c=IN IP4 0.0.0.0', 'b=AS:2097', 'a=rtpmap:96 H264/90000',
  'a=fmtp:96 packetization-mode=1;profile-level-id=64001e;sprop-parameter-sets=Z2QAHqzZQKAv+XARAAADAAEAAAMAMg8WLZY=,aOvjyyLA', 'a=control:stream=0',
  'm=audio 0 RTP/AVP 97', 'c=IN IP4 0.0.0.0', 'a=rtpmap:97 MPEG4-GENERIC/44100/2',
  'a=fmtp:97 streamtype=5;profilelevelid=2;mode=AAC-hbr;config=1210;sizelength=13;indexlength=3;indexdeltalength=3', 'a=control:stream=1', '',
].join('\r\n');

describe('SDP', () => {
  it('reads each medium: encoding, clock, channels, fmtp', () => {
    const sdp = parseSdp(GST);
    expect(sdp.range).toBe('npt=now-');
    expect(sdp.media).toHaveLength(2);
    expect(sdp.media[0]).toMatchObject({ type: 'video', encoding: 'H264', clockRate: 90000 });
    expect(sdp.media[0]!.fmtp['profile-level-id']).toBe('64001e');
    expect(sdp.media[1]).toMatchObject({ type: 'audio', encoding: 'MPEG4-GENERIC', clockRate: 44100, channels: 2 });
    expect(sdp.media[1]!.fmtp.mode).toBe('AAC-hbr');
  });

  it('gives the probe result ffprobe would: H.264 + AAC, live', () => {
    expect(probeFromSdp(parseSdp(GST))).toEqual({ live: true, video: { codec: 'h264' }, audio: { codec: 'aac', sampleRate: 44100, channels: 2 } });
  });

  it('knows a camera with G.711 audio and a frame rate, and one with H.265 only', () => {
    const cam = 'v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=framerate:25\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n';
    expect(probeFromSdp(parseSdp(cam))).toEqual({ live: true, video: { codec: 'h264', fps: 25 }, audio: { codec: 'pcm_alaw', sampleRate: 8000 } });
    const hevc = 'v=0\nm=video 0 RTP/AVP 98\na=rtpmap:98 H265/90000\n';
    expect(probeFromSdp(parseSdp(hevc))).toEqual({ live: true, video: { codec: 'hevc' }, audio: undefined });
  });

  it('leaves it to ffprobe when anything is uncertain: an unknown encoding, no rtpmap, MPEG4-GENERIC that is not AAC', () => {
    expect(probeFromSdp(parseSdp('v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 JPEG2000/90000\n'))).toBeUndefined();
    expect(probeFromSdp(parseSdp('v=0\nm=video 0 RTP/AVP 96\n'))).toBeUndefined();
    expect(probeFromSdp(parseSdp('v=0\nm=audio 0 RTP/AVP 97\na=rtpmap:97 MPEG4-GENERIC/16000\na=fmtp:97 mode=CELP-cbr\n'))).toBeUndefined();
    expect(probeFromSdp(parseSdp('v=0\n'))).toBeUndefined();
  });

  it('takes an open range as live and a closed one as a recording', () => {
    expect(isLiveRange(undefined)).toBe(true);
    expect(isLiveRange('npt=0-')).toBe(true);
    expect(isLiveRange('npt=now-')).toBe(true);
    expect(isLiveRange('npt=0-120.5')).toBe(false);
    expect(probeFromSdp(parseSdp('v=0\na=range:npt=0-30\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\n'))?.live).toBe(false);
  });
});
