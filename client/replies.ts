/**
 * JSON the server sends to the player: describe replies and error objects on the
 * reply topic, and status messages on `<reply>/status`. Validated with the
 * protocol's schemas; a describe reply from a slightly different server version
 * is accepted when it has what playback needs.
 */
import { DescribeReplySchema, StatusSchema, type Status } from '../protocol/index.js';

export interface Described {
  mimeCodec: string;
  mode: string;
  live: boolean;
}

export type ReplyMessage =
  | { kind: 'described'; described: Described; requestId?: string }
  | { kind: 'error'; code: unknown; error: string; requestId?: string }
  | { kind: 'unknown'; reason: string };

const decoder = new TextDecoder();

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function parseReply(bytes: Uint8Array): ReplyMessage {
  const json = parseJson(bytes);
  if (!isRecord(json)) return { kind: 'unknown', reason: 'not a JSON object' };
  const requestId = typeof json.request_id === 'string' ? json.request_id : undefined;
  const parsed = DescribeReplySchema.safeParse(json);
  if (parsed.success) {
    const r = parsed.data;
    if (r.ok) return { kind: 'described', described: { mimeCodec: r.mimeCodec, mode: r.mode, live: r.live }, requestId };
    return { kind: 'error', code: r.code, error: r.error, requestId };
  }
  if (json.ok === true && typeof json.mimeCodec === 'string' && json.mimeCodec.length > 0) {
    const mode = typeof json.mode === 'string' ? json.mode : '';
    const live = typeof json.live === 'boolean' ? json.live : true;
    return { kind: 'described', described: { mimeCodec: json.mimeCodec, mode, live }, requestId };
  }
  if (json.ok === false || 'code' in json) {
    const error = typeof json.error === 'string' ? json.error : typeof json.message === 'string' ? json.message : '';
    return { kind: 'error', code: json.code, error, requestId };
  }
  return { kind: 'unknown', reason: parsed.error.issues[0]?.message ?? 'unrecognised reply' };
}

export function parseStatus(bytes: Uint8Array): Status | null {
  const result = StatusSchema.safeParse(parseJson(bytes));
  return result.success ? result.data : null;
}

/** What a status message means for the current play. */
export type StatusEvent =
  | { kind: 'ignore' }
  | { kind: 'progress'; skipped?: number; mode?: string }
  | { kind: 'ended'; reason: string }
  | { kind: 'error'; code: unknown; message: string };

/**
 * Interprets a status message for the play with `playRequestId`. Messages of
 * other plays, the end of a session this player stopped itself, and
 * SESSION_NOT_FOUND (a stop that found nothing to stop) are ignored.
 */
export function statusEvent(status: Status, playRequestId: string): StatusEvent {
  if (status.request_id !== undefined && status.request_id !== playRequestId) return { kind: 'ignore' };
  if (status.code === 'SESSION_NOT_FOUND') return { kind: 'ignore' };
  if (status.state === 'error') return { kind: 'error', code: status.code, message: status.message ?? '' };
  if (status.state === 'ended') {
    return status.reason === 'stop' ? { kind: 'ignore' } : { kind: 'ended', reason: status.reason ?? status.message ?? '' };
  }
  return { kind: 'progress', skipped: status.skipped, mode: status.mode };
}
