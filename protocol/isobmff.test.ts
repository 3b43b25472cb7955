import { describe, expect, it } from 'vitest';
import { BoxFormatError, Fmp4Segmenter, fragmentStartsWithSync, iterateBoxes, parseFragment, parseInit, readBoxHeader, topLevelTypes } from './index.js';
import { avc1Entry, box, bytes, fullBox, init, moof, mp4aEntry, u32 } from './test-boxes.js';

const SYNC = 0x02000000;
const NON_SYNC = 0x01010000;

const initSegment = init([
  { id: 1, handler: 'vide', entry: avc1Entry([1, 0x64, 0x00, 0x28, 0xff, 0xe1], 1280, 720) },
  { id: 2, handler: 'soun', entry: mp4aEntry(0x40, [0x12, 0x10]), timescale: 48000 },
]);
const fragment = (seq: number, flags: number): Uint8Array => bytes(moof(seq, 1, seq * 3000, flags), box('mdat', new Uint8Array(1024)));

describe('box reader', () => {
  it('reads 32- and 64-bit box headers and refuses impossible sizes', () => {
    expect(readBoxHeader(box('free', [1, 2, 3]), 0)).toEqual({ type: 'free', start: 0, payload: 8, end: 11 });
    const large = bytes(u32(1), [0x6d, 0x64, 0x61, 0x74], u32(0), u32(20), [1, 2, 3, 4]);
    expect(readBoxHeader(large, 0)).toEqual({ type: 'mdat', start: 0, payload: 16, end: 20 });
    expect(readBoxHeader(new Uint8Array(7), 0)).toBeNull();
    expect(() => readBoxHeader(bytes(u32(4), [0x66, 0x72, 0x65, 0x65]), 0)).toThrow(BoxFormatError);
    expect(() => readBoxHeader(bytes(u32(0xffffffff), [0x6d, 0x64, 0x61, 0x74]), 0)).toThrow(/too large/);
    expect(() => [...iterateBoxes(box('free', [1]).subarray(0, 8))]).toThrow(/truncated/);
  });

  it('reads sequence, decode time, sync flag and prft of a fragment', () => {
    const prft = fullBox('prft', 1, 0, u32(1), u32(2_208_988_800 + 1_700_000_000), u32(2 ** 31), u32(0), u32(90000));
    const msg = bytes(prft, fragment(7, SYNC));
    expect(topLevelTypes(msg)).toEqual(['prft', 'moof', 'mdat']);
    const info = parseFragment(msg);
    expect(info.sequence).toBe(7);
    expect(info.tracks[0]).toMatchObject({ trackId: 1, baseDecodeTime: 21000, sampleCount: 2, duration: 1024, firstSampleFlags: SYNC });
    expect(info.producerTimeMs).toBe(1_700_000_000_500);
    expect(info.producerMediaTime).toBe(90000);
    expect(fragmentStartsWithSync(info, 1)).toBe(true);
    expect(fragmentStartsWithSync(parseFragment(fragment(8, NON_SYNC)), 1)).toBe(false);
    expect(() => parseFragment(box('mdat', [1]))).toThrow(/no moof/);
  });

  it('computes RFC 6381 codec strings from avcC and esds', () => {
    const info = parseInit(initSegment);
    expect(info.mimeCodec).toBe('video/mp4; codecs="avc1.640028, mp4a.40.2"');
    expect(info.videoTrackId).toBe(1);
    expect(info.tracks[0]).toMatchObject({ type: 'video', width: 1280, height: 720, codec: 'avc1.640028', defaultSampleFlags: 0x10000 });
    expect(info.tracks[1]).toMatchObject({ type: 'audio', codec: 'mp4a.40.2', sampleRate: 48000, channels: 2, timescale: 48000 });
    const baseline = parseInit(init([{ id: 1, handler: 'vide', entry: avc1Entry([1, 0x42, 0xc0, 0x1e], 320, 240) }]));
    expect(baseline.tracks[0]!.codec).toBe('avc1.42C01E');
    const heAac = parseInit(init([{ id: 1, handler: 'soun', entry: mp4aEntry(0x40, [0x2b, 0x92, 0x08]) }]));
    expect(heAac.mimeCodec).toBe('audio/mp4; codecs="mp4a.40.5"');
    const mp3 = parseInit(init([{ id: 1, handler: 'soun', entry: mp4aEntry(0x6b, []) }]));
    expect(mp3.tracks[0]!.codec).toBe('mp4a.6B');
  });
});

describe('Fmp4Segmenter', () => {
  const stream = bytes(initSegment, fragment(1, SYNC), fragment(2, NON_SYNC), fragment(3, NON_SYNC));

  it.each([1, 7, 100, 4096, stream.length])('groups whole messages whatever the chunking (%i-byte chunks)', (size) => {
    const seg = new Fmp4Segmenter();
    const out = [];
    for (let i = 0; i < stream.length; i += size) out.push(...seg.push(stream.subarray(i, i + size)));
    expect(out.map((m) => m.kind)).toEqual(['init', 'fragment', 'fragment', 'fragment']);
    expect(Buffer.from(out[0]!.data)).toEqual(Buffer.from(initSegment));
    expect(out.slice(1).map((m) => parseFragment(m.data).sequence)).toEqual([1, 2, 3]);
    expect(seg.pendingBytes).toBe(0);
  });

  it('refuses data that is not fragmented MP4, and bounds what it holds', () => {
    expect(() => new Fmp4Segmenter().push(bytes(box('ftyp', [0]), box('mdat', [1])))).toThrow(/not fragmented/);
    expect(() => new Fmp4Segmenter().push(bytes(box('ftyp', [0]), fragment(1, SYNC)))).toThrow(/before init/);
    const small = new Fmp4Segmenter(1000);
    expect(() => small.push(bytes(u32(5000), [0x6d, 0x6f, 0x6f, 0x76], new Uint8Array(1200)))).toThrow(/without a complete message/);
  });
});
