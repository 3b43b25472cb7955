import { describe, expect, it } from 'vitest';
import { fragmentStartsWithSync, parseFragment, parseInit, topLevelTypes } from '../../protocol/index.js';
import { parseFragmentSamples, parseTrackDefaults } from '../../protocol/fmp4-samples.js';
import { opusHeadFacts, AUDIO_TRACK_ID, OPUS_TIMESCALE, VIDEO_TIMESCALE, VIDEO_TRACK_ID } from './fmp4-init-writer.js';
import { ChannelMuxer, MAX_PENDING_AUDIO, type MuxedFragment } from './fmp4-muxer.js';

/** avcC of constrained baseline 3.1 with a stand-in SPS and PPS. */
const AVCC = Uint8Array.from([1, 0x42, 0xe0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xe0, 0x1f, 1, 0, 2, 0x68, 0xce]);
const VIDEO = { width: 640, height: 360, avcC: AVCC };
const AUDIO = { channels: 1, sampleRate: 48_000, preSkip: 312 };

function harness(audio = true): { muxer: ChannelMuxer; inits: Uint8Array[]; fragments: MuxedFragment[] } {
  const inits: Uint8Array[] = [];
  const fragments: MuxedFragment[] = [];
  const muxer = new ChannelMuxer({ audio, onInit: (i) => inits.push(i), onFragment: (f) => fragments.push(f) });
  return { muxer, inits, fragments };
}

const frame = (ms: number, keyframe: boolean, byte = ms & 0xff) => ({
  timestampUs: 5_000_000 + ms * 1000, keyframe, data: Uint8Array.of(0, 0, 0, 1, byte), wallClockMs: 1_800_000_000_000 + ms,
});
const audio = (ms: number, byte = 0xa0) => ({ timestampUs: 5_000_000 + ms * 1000, durationUs: 20_000, data: Uint8Array.of(byte, ms & 0xff) });

function tracksOf(init: Uint8Array) {
  const defaults = parseTrackDefaults(init);
  return parseInit(init).tracks.map((t) => ({ id: t.id, timescale: t.timescale, defaults: defaults.get(t.id) }));
}

describe('ChannelMuxer', () => {
  it('writes an init that protocol reads back: H.264 + Opus, their timescales and sync defaults', () => {
    const { muxer, inits } = harness();
    muxer.setVideoConfig(VIDEO);
    muxer.setAudioConfig(AUDIO);
    expect(inits).toHaveLength(0); // nothing before the first keyframe
    muxer.addVideo(frame(0, true));
    expect(inits).toHaveLength(1);
    expect(topLevelTypes(inits[0]!)).toEqual(['ftyp', 'moov']);
    const info = parseInit(inits[0]!);
    expect(info.mimeCodec).toBe('video/mp4; codecs="avc1.42E01F, opus"');
    expect(info.videoTrackId).toBe(VIDEO_TRACK_ID);
    expect(info.tracks.map((t) => [t.id, t.type, t.timescale, t.width, t.height, t.channels])).toEqual([
      [VIDEO_TRACK_ID, 'video', VIDEO_TIMESCALE, 640, 360, undefined],
      [AUDIO_TRACK_ID, 'audio', OPUS_TIMESCALE, undefined, undefined, 1],
    ]);
  });

  it('drops frames before the first keyframe and audio before the video starts, then writes one fragment per frame', () => {
    const { muxer, inits, fragments } = harness();
    muxer.setVideoConfig(VIDEO);
    muxer.setAudioConfig(AUDIO);
    muxer.addVideo(frame(0, false));
    muxer.addAudio(audio(0));
    expect(fragments).toHaveLength(0);
    expect(muxer.wantsKeyframe).toBe(true);
    muxer.addVideo(frame(50, true));
    expect(muxer.wantsKeyframe).toBe(false);
    muxer.addAudio(audio(50));
    muxer.addAudio(audio(70));
    muxer.addVideo(frame(100, false));
    muxer.addVideo(frame(150, false));
    expect(fragments.map((f) => [f.sync, f.video])).toEqual([[true, true], [false, true], [false, true]]);

    const tracks = tracksOf(inits[0]!);
    const videoDefaults = parseInit(inits[0]!).tracks[0]!.defaultSampleFlags;
    const infos = fragments.map((f) => parseFragment(f.data));
    expect(infos.map((i) => i.sequence)).toEqual([1, 2, 3]);
    expect(infos.map((i) => fragmentStartsWithSync(i, VIDEO_TRACK_ID, videoDefaults))).toEqual([true, false, false]);
    // prft: the capture wall clock of each fragment's end (its frame's capture + duration, as ffmpeg stamps it), and the frame's media time.
    expect(infos.map((i) => Math.round(i.producerTimeMs!))).toEqual([1_800_000_000_050 + 33, 1_800_000_000_100 + 50, 1_800_000_000_150 + 50]);
    expect(infos.map((i) => i.producerMediaTime)).toEqual([0, 4500, 9000]);

    const second = parseFragmentSamples(fragments[1]!.data, tracks);
    expect(second.map((s) => [s.trackId, s.timestampUs, s.keyframe, [...s.data]])).toEqual([
      [VIDEO_TRACK_ID, 50_000, false, [0, 0, 0, 1, 100]],
      [AUDIO_TRACK_ID, 0, true, [0xa0, 50]],
      [AUDIO_TRACK_ID, 20_000, true, [0xa0, 70]],
    ]);
    expect(second[0]!.durationUs).toBe(50_000); // the measured frame interval
  });

  it('closes small audio gaps and keeps audio contiguous across fragments', () => {
    const { muxer, inits, fragments } = harness();
    muxer.setVideoConfig(VIDEO);
    muxer.setAudioConfig(AUDIO);
    muxer.addVideo(frame(0, true));
    muxer.addAudio(audio(0));
    muxer.addAudio(audio(20));
    muxer.addAudio(audio(60)); // the chunk at 40 ms was lost
    muxer.addVideo(frame(33, false));
    muxer.addAudio(audio(80.5)); // 0.5 ms of clock jitter
    muxer.addVideo(frame(66, false));
    const samples = fragments.flatMap((f) => parseFragmentSamples(f.data, tracksOf(inits[0]!))).filter((s) => s.trackId === AUDIO_TRACK_ID);
    expect(samples.map((s) => [s.timestampUs, s.durationUs])).toEqual([[0, 20_000], [20_000, 40_000], [60_000, 20_000], [80_000, 20_000]]);
  });

  it('puts audio stamped on another clock on the video timeline with the measured offset', () => {
    const { muxer, inits, fragments } = harness();
    muxer.setVideoConfig(VIDEO);
    muxer.setAudioConfig(AUDIO);
    muxer.setAudioClockOffset(5_000_000 - 2_000); // audio clock: 2 ms after page load ↔ video clock: 5 s after boot
    muxer.addVideo(frame(0, true));
    muxer.addAudio({ timestampUs: 1_000, durationUs: 20_000, data: Uint8Array.of(1) }); // captured before the first frame: dropped
    muxer.addAudio({ timestampUs: 2_000 + 40_000, durationUs: 20_000, data: Uint8Array.of(2) });
    muxer.addVideo(frame(50, false));
    const audio = parseFragmentSamples(fragments[1]!.data, tracksOf(inits[0]!)).filter((x) => x.trackId === AUDIO_TRACK_ID);
    expect(audio.map((x) => [x.timestampUs, [...x.data]])).toEqual([[40_000, [2]]]);
  });

  it('sends audio alone when no video comes, so its queue stays bounded', () => {
    const { muxer, fragments } = harness();
    muxer.setVideoConfig(VIDEO);
    muxer.setAudioConfig(AUDIO);
    muxer.addVideo(frame(0, true));
    for (let i = 0; i < MAX_PENDING_AUDIO * 2; i++) muxer.addAudio(audio(i * 20));
    expect(fragments.map((f) => [f.sync, f.video])).toEqual([[true, true], [false, false], [false, false]]);
  });

  it('a new decoder config means a new init, written before the next keyframe', () => {
    const { muxer, inits, fragments } = harness(false);
    muxer.setVideoConfig(VIDEO);
    muxer.addVideo(frame(0, true));
    muxer.setVideoConfig({ ...VIDEO }); // the same config again: nothing changes
    expect(muxer.wantsKeyframe).toBe(false);
    muxer.setVideoConfig({ ...VIDEO, width: 1280, height: 720 });
    expect(muxer.wantsKeyframe).toBe(true);
    muxer.addVideo(frame(33, false));
    muxer.addVideo(frame(66, true));
    expect(inits).toHaveLength(2);
    expect(parseInit(inits[1]!).tracks.map((t) => [t.width, t.height])).toEqual([[1280, 720]]);
    expect(parseInit(inits[1]!).mimeCodec).toBe('video/mp4; codecs="avc1.42E01F"');
    expect(fragments.map((f) => f.sync)).toEqual([true, true]);
  });

  it('reads pre-skip and channels from an OpusHead, with defaults when there is none', () => {
    const head = Uint8Array.from([...new TextEncoder().encode('OpusHead'), 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
    expect(opusHeadFacts(head, 1)).toEqual({ preSkip: 312, channels: 2 });
    expect(opusHeadFacts(Uint8Array.from([...head.subarray(0, 10), 0x00, 0x0f, ...head.subarray(12)]), 1).preSkip).toBe(0x0f00);
    expect(opusHeadFacts(undefined, 1)).toEqual({ preSkip: 312, channels: 1 });
  });
});
