/**
 * The little of JPEG that snapshots need: recognising one, and a comment segment
 * (`COM`, 0xFFFE) that says who made it. A snapshot on `P/live/<name>/snapshot` is a
 * plain JPEG file (Home Assistant and `mosquitto_sub -N > cam.jpg` take it as it is);
 * the comment travels with it through any broker or bridge, so a media server can tell
 * its own snapshots from another's without MQTT 5 properties.
 */

const SOI = 0xd8;
const COM = 0xfe;
/** The most a comment segment holds (its length field counts itself: 2 bytes). */
const MAX_COMMENT_BYTES = 0xffff - 2;
const SNAPSHOT_TAG = 'mqttcast-snapshot';

/** Whether `data` starts like a JPEG file (SOI followed by a marker). */
export function isJpeg(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0xff && data[1] === SOI && data[2] === 0xff;
}

/** `jpeg` with a comment segment right after SOI (where every reader sees it first). */
export function withJpegComment(jpeg: Uint8Array, comment: string): Uint8Array {
  if (!isJpeg(jpeg)) throw new Error('not a JPEG file');
  const text = new TextEncoder().encode(comment);
  if (text.length > MAX_COMMENT_BYTES) throw new Error('JPEG comment too long');
  const out = new Uint8Array(jpeg.length + 4 + text.length);
  out.set(jpeg.subarray(0, 2), 0);
  out.set([0xff, COM, (text.length + 2) >> 8, (text.length + 2) & 0xff], 2);
  out.set(text, 6);
  out.set(jpeg.subarray(2), 6 + text.length);
  return out;
}

/**
 * The comment segments before the image data (at SOS), in order. Stops at anything it
 * does not understand, so a truncated or hostile payload gives what could be read.
 */
export function jpegComments(jpeg: Uint8Array): string[] {
  const comments: string[] = [];
  if (!isJpeg(jpeg)) return comments;
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff) {
    const marker = jpeg[at + 1]!;
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image
    const length = (jpeg[at + 2]! << 8) | jpeg[at + 3]!;
    if (length < 2 || at + 2 + length > jpeg.length) break;
    if (marker === COM) comments.push(new TextDecoder().decode(jpeg.subarray(at + 4, at + 2 + length)));
    at += 2 + length;
  }
  return comments;
}

/** Who made a snapshot and when, as carried in its comment. */
export interface SnapshotStamp {
  /** The maker: a media server's id, or `publish@<host>:<pid>` for a device. */
  by: string;
  channel: string;
  /** ISO 8601 time of the picture's keyframe as the maker saw it. */
  at: string;
}

/** The comment text for a snapshot: `mqttcast-snapshot by=<id> channel=<name> at=<iso>`. */
export function snapshotComment(stamp: SnapshotStamp): string {
  return `${SNAPSHOT_TAG} by=${stamp.by} channel=${stamp.channel} at=${stamp.at}`;
}

/** The stamp of an mqttcast snapshot, or undefined for any other picture. */
export function readSnapshotStamp(jpeg: Uint8Array): SnapshotStamp | undefined {
  for (const comment of jpegComments(jpeg)) {
    if (!comment.startsWith(`${SNAPSHOT_TAG} `)) continue;
    const fields = new Map<string, string>();
    for (const part of comment.slice(SNAPSHOT_TAG.length + 1).split(' ')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
    const by = fields.get('by');
    const channel = fields.get('channel');
    const at = fields.get('at');
    if (by && channel && at) return { by, channel, at };
  }
  return undefined;
}
