import { describe, expect, it } from 'vitest';
import { isJpeg, jpegComments, readSnapshotStamp, snapshotComment, withJpegComment } from './jpeg.js';

// The smallest shape of a JPEG file: SOI, an APP0 segment, SOS with a byte of data, EOI.
const TINY = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46, 0xff, 0xda, 0x00, 0x02, 0x00, 0xff, 0xd9]);

describe('JPEG snapshot comments', () => {
  it('recognises a JPEG and nothing else', () => {
    expect(isJpeg(TINY)).toBe(true);
    expect(isJpeg(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBe(false);
    expect(isJpeg(new Uint8Array([0xff, 0xd8]))).toBe(false);
  });

  it('adds a comment right after SOI, keeping every other byte', () => {
    const out = withJpegComment(TINY, 'hello');
    expect([...out.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    expect([...out.subarray(2, 6)]).toEqual([0xff, 0xfe, 0x00, 0x07]);
    expect(new TextDecoder().decode(out.subarray(6, 11))).toBe('hello');
    expect([...out.subarray(11)]).toEqual([...TINY.subarray(2)]);
    expect(jpegComments(out)).toEqual(['hello']);
    expect(() => withJpegComment(new Uint8Array(10), 'x')).toThrow(/not a JPEG/);
  });

  it('reads the stamp back, and only an mqttcast one', () => {
    const stamp = { by: 'mqttcast-server@host:42', channel: 'cam.1', at: '2026-12-03T05:00:00.000Z' };
    const jpeg = withJpegComment(withJpegComment(TINY, 'made by a camera'), snapshotComment(stamp));
    expect(readSnapshotStamp(jpeg)).toEqual(stamp);
    expect(readSnapshotStamp(withJpegComment(TINY, 'made by a camera'))).toBeUndefined();
    expect(readSnapshotStamp(withJpegComment(TINY, 'mqttcast-snapshot by=x'))).toBeUndefined();
  });

  it('stops at truncated or hostile segment lengths without throwing', () => {
    const jpeg = withJpegComment(TINY, 'mqttcast-snapshot by=a channel=b at=c');
    for (let cut = 0; cut < jpeg.length; cut++) expect(() => jpegComments(jpeg.subarray(0, cut))).not.toThrow();
    expect(jpegComments(Uint8Array.from([0xff, 0xd8, 0xff, 0xfe, 0x00, 0x00, 0xff, 0xd9]))).toEqual([]);
    expect(jpegComments(Uint8Array.from([0xff, 0xd8, 0xff, 0xfe, 0xff, 0xff, 0x41]))).toEqual([]);
  });
});
