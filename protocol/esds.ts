/**
 * The `esds` box of an `mp4a` sample entry: ES_Descriptor → DecoderConfigDescriptor →
 * DecoderSpecificInfo (ISO 14496-1 §7.2.6). Both the codec string and the WebCodecs
 * AudioDecoder description are read from here.
 */
import { BoxFormatError } from './isobmff.js';

export interface EsdsInfo {
  /** objectTypeIndication: 0x40 = MPEG-4 Audio (AAC). */
  objectType: number;
  /** The DecoderSpecificInfo (for AAC the AudioSpecificConfig), if present. */
  specificInfo?: Uint8Array;
}

/** Reads the descriptor chain of an `esds` payload (after its version/flags); undefined if it is not one. */
export function readEsds(bytes: Uint8Array, start: number, end: number): EsdsInfo | undefined {
  let p = start;
  const descriptor = (): { tag: number; body: number; end: number } => {
    if (p + 2 > end) throw new BoxFormatError('esds descriptor is truncated');
    const tag = bytes[p++]!;
    let size = 0;
    for (let i = 0; i < 4; i++) {
      const b = bytes[p++]!;
      size = (size << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    if (p + size > end) throw new BoxFormatError('esds descriptor overruns its box');
    return { tag, body: p, end: p + size };
  };
  const es = descriptor();
  if (es.tag !== 0x03) return undefined;
  const esFlags = bytes[es.body + 2]!;
  p = es.body + 3;
  if (esFlags & 0x80) p += 2;
  if (esFlags & 0x40) p += 1 + bytes[p]!;
  if (esFlags & 0x20) p += 2;
  const config = descriptor();
  if (config.tag !== 0x04) return undefined;
  const objectType = bytes[config.body]!;
  p = config.body + 13;
  if (p >= config.end) return { objectType };
  const info = descriptor();
  return info.tag === 0x05 ? { objectType, specificInfo: bytes.slice(info.body, info.end) } : { objectType };
}
