/**
 * Groups a byte stream of fragmented MP4 into whole messages: the init segment
 * (`ftyp` + `moov`), then one fragment (`[styp][prft]moof mdat`) per message.
 * Never splits a box, never merges init with a fragment. Pure; no I/O.
 */
import { BoxFormatError, readBoxHeader } from './isobmff.js';

export type Segment = { kind: 'init'; data: Uint8Array } | { kind: 'fragment'; data: Uint8Array };

/** Default bound on bytes held while waiting for a message to complete. */
export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;

export class Fmp4Segmenter {
  private chunks: Uint8Array[] = [];
  private total = 0;
  /** Offset of the next unparsed box within the joined pending bytes. */
  private cursor = 0;
  /** Byte count needed before parsing can make progress. */
  private needed = 8;
  private groupHasMoof = false;
  private sawInit = false;

  constructor(private readonly maxPendingBytes = DEFAULT_MAX_PENDING_BYTES) {}

  /** Feeds bytes; returns the messages completed by them. Throws BoxFormatError on a malformed stream. */
  push(chunk: Uint8Array): Segment[] {
    if (chunk.byteLength === 0) return [];
    this.chunks.push(chunk);
    this.total += chunk.byteLength;
    if (this.total > this.maxPendingBytes) {
      throw new BoxFormatError(`more than ${this.maxPendingBytes} bytes without a complete message`);
    }
    if (this.total < this.needed) return [];
    return this.parse(this.join());
  }

  /** Bytes waiting for their message to complete. */
  get pendingBytes(): number {
    return this.total;
  }

  private join(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0]!;
    const joined = new Uint8Array(this.total);
    let at = 0;
    for (const c of this.chunks) {
      joined.set(c, at);
      at += c.byteLength;
    }
    this.chunks = [joined];
    return joined;
  }

  private parse(buf: Uint8Array): Segment[] {
    const out: Segment[] = [];
    let groupStart = 0;
    for (;;) {
      const header = readBoxHeader(buf, this.cursor);
      if (!header) {
        this.needed = this.cursor + 16;
        break;
      }
      if (header.end > buf.byteLength) {
        this.needed = header.end;
        break;
      }
      this.cursor = header.end;
      if (header.type === 'moof') this.groupHasMoof = true;
      const completesInit = header.type === 'moov';
      const completesFragment = header.type === 'mdat' && this.groupHasMoof;
      if (header.type === 'mdat' && !this.groupHasMoof) {
        throw new BoxFormatError('mdat without moof: the stream is not fragmented MP4');
      }
      if (completesInit || completesFragment) {
        if (completesFragment && !this.sawInit) throw new BoxFormatError('fragment before init segment');
        // slice() copies: the message must not pin the joined buffer it came from.
        out.push({ kind: completesInit ? 'init' : 'fragment', data: buf.slice(groupStart, this.cursor) });
        this.sawInit ||= completesInit;
        this.groupHasMoof = false;
        groupStart = this.cursor;
      }
    }
    const rest = buf.subarray(groupStart);
    this.cursor -= groupStart;
    this.needed -= groupStart;
    this.chunks = rest.byteLength > 0 ? [rest] : [];
    this.total = rest.byteLength;
    return out;
  }
}
