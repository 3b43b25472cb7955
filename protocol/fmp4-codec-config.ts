/**
 * Decoder descriptions from an init segment, as WebCodecs wants them:
 * the `avcC` / `hvcC` / `av1C` box payload for video, the AudioSpecificConfig
 * from `esds` for AAC. Pure; no I/O.
 */
import { readEsds } from './esds.js';
import { BoxFormatError, findChildFrom, findPath, iterateBoxes, type BoxHeader } from './isobmff.js';

/** Offsets of the child boxes inside a visual / audio sample entry (ISO 14496-12 §12.1.3, §12.2.3). */
const VISUAL_CHILDREN = 78;
const AUDIO_CHILDREN = 28;

const DESCRIPTION_BOXES: Record<string, string> = { avc1: 'avcC', avc3: 'avcC', hvc1: 'hvcC', hev1: 'hvcC', av01: 'av1C' };

/** Per track id: the bytes to pass as `description` to VideoDecoder/AudioDecoder (absent when none is needed). */
export function decoderDescriptions(init: Uint8Array): Map<number, Uint8Array> {
  const dv = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const out = new Map<number, Uint8Array>();
  const moov = [...iterateBoxes(init)].find((b) => b.type === 'moov');
  if (!moov) throw new BoxFormatError('init segment has no moov box');
  for (const trak of iterateBoxes(init, moov.payload, moov.end)) {
    if (trak.type !== 'trak') continue;
    const tkhd = findPath(init, ['tkhd'], trak);
    const stsd = findPath(init, ['mdia', 'minf', 'stbl', 'stsd'], trak);
    if (!tkhd || !stsd) continue;
    const id = dv.getUint32(tkhd.payload + (init[tkhd.payload] === 1 ? 20 : 12));
    const entry = iterateBoxes(init, stsd.payload + 8, stsd.end).next().value;
    if (!entry) continue;
    const description = describe(init, entry);
    if (description) out.set(id, description);
  }
  return out;
}

function describe(bytes: Uint8Array, entry: BoxHeader): Uint8Array | undefined {
  const boxType = DESCRIPTION_BOXES[entry.type];
  if (boxType) {
    const box = findChildFrom(bytes, entry, entry.payload + VISUAL_CHILDREN, boxType);
    return box ? bytes.slice(box.payload, box.end) : undefined;
  }
  if (entry.type === 'mp4a') {
    const esds = findChildFrom(bytes, entry, entry.payload + AUDIO_CHILDREN, 'esds');
    return esds ? audioSpecificConfig(bytes, esds.payload + 4, esds.end) : undefined;
  }
  return undefined;
}

/** The AudioSpecificConfig of an `esds` payload (after its version/flags), for AudioDecoder. */
export function audioSpecificConfig(bytes: Uint8Array, start: number, end: number): Uint8Array | undefined {
  return readEsds(bytes, start, end)?.specificInfo;
}
