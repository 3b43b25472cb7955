/**
 * zod schemas of wire protocol v1. Requests accept the seed's field names
 * (`resp_topic`); the parsed form is normalised to one shape.
 */
import { z } from 'zod';
import { ERROR_CODE_LIST, MqttcastError, type ErrorCode } from './errors.js';

export const PROTOCOL_VERSION = 1;
export const MAX_URL_LENGTH = 2048;
export const MAX_REQUEST_BYTES = 16 * 1024;

const shortText = z.string().min(1).max(128);
const topicText = z.string().max(1024);
const codecList = z.array(z.string().min(1).max(64)).max(32);

/** Fields shared by describe and play; exactly one of url and source, one of reply_topic/resp_topic. */
const targetFields = {
  url: z.string().min(1).max(MAX_URL_LENGTH).optional(),
  source: z.string().min(1).max(128).optional(),
  reply_topic: topicText.optional(),
  resp_topic: topicText.optional(),
  codecs: codecList.optional(),
  request_id: shortText.optional(),
};

export type Target = { kind: 'url'; url: string } | { kind: 'source'; name: string };

function normaliseTarget(raw: { url?: string; source?: string }, ctx: z.RefinementCtx): Target {
  if (raw.url !== undefined && raw.source !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'give either "url" or "source", not both', path: ['url'] });
  }
  if (raw.source !== undefined) return { kind: 'source', name: raw.source };
  if (raw.url !== undefined) return { kind: 'url', url: raw.url };
  ctx.addIssue({ code: 'custom', message: '"url" or "source" is required', path: ['url'] });
  return z.NEVER;
}

function normaliseReplyTopic(raw: { reply_topic?: string; resp_topic?: string }, ctx: z.RefinementCtx): string {
  const topic = raw.reply_topic ?? raw.resp_topic;
  if (topic === undefined) {
    ctx.addIssue({ code: 'custom', message: '"reply_topic" is required', path: ['reply_topic'] });
    return z.NEVER;
  }
  return topic;
}

export const DescribeRequestSchema = z
  .object(targetFields)
  .transform((raw, ctx) => ({
    target: normaliseTarget(raw, ctx),
    replyTopic: normaliseReplyTopic(raw, ctx),
    codecs: raw.codecs,
    requestId: raw.request_id,
  }));
export type DescribeRequest = z.output<typeof DescribeRequestSchema>;

/** `client_id`, or the seed's `clientId`. */
const clientIdFields = { client_id: shortText.optional(), clientId: shortText.optional() };

export const PlayRequestSchema = z
  .object({ ...targetFields, ...clientIdFields })
  .transform((raw, ctx) => ({
    target: normaliseTarget(raw, ctx),
    replyTopic: normaliseReplyTopic(raw, ctx),
    codecs: raw.codecs,
    requestId: raw.request_id,
    clientId: raw.client_id ?? raw.clientId,
  }));
export type PlayRequest = z.output<typeof PlayRequestSchema>;

/**
 * Stop one session by its reply topic, or (the seed client's form) every session of a
 * URL or named source: `{"url": "..."}`.
 */
export const StopRequestSchema = z
  .object({
    reply_topic: topicText.optional(),
    resp_topic: topicText.optional(),
    url: z.string().min(1).max(MAX_URL_LENGTH).optional(),
    source: z.string().min(1).max(128).optional(),
    request_id: shortText.optional(),
    ...clientIdFields,
  })
  .transform((raw, ctx): StopRequestShape => {
    const replyTopic = raw.reply_topic ?? raw.resp_topic;
    const requestId = raw.request_id;
    if (replyTopic !== undefined) return { by: 'reply_topic', replyTopic, requestId };
    if (raw.url === undefined && raw.source === undefined) {
      ctx.addIssue({ code: 'custom', message: '"reply_topic" (or the "url" of the sessions to end) is required', path: ['reply_topic'] });
      return z.NEVER;
    }
    return { by: 'target', target: normaliseTarget(raw, ctx), clientId: raw.client_id ?? raw.clientId, requestId };
  });
type StopRequestShape =
  | { by: 'reply_topic'; replyTopic: string; requestId?: string }
  | { by: 'target'; target: Target; clientId?: string; requestId?: string };
export type StopRequest = z.output<typeof StopRequestSchema>;

/** The seed's presence messages: `register` on connect, `unregister` as its last will. */
export const PresenceMessageSchema = z
  .object(clientIdFields)
  .transform((raw, ctx) => {
    const clientId = raw.client_id ?? raw.clientId;
    if (clientId === undefined) {
      ctx.addIssue({ code: 'custom', message: '"clientId" is required', path: ['clientId'] });
      return z.NEVER;
    }
    return { clientId };
  });
export type PresenceMessage = z.output<typeof PresenceMessageSchema>;

export const AckRequestSchema = z
  .object({
    reply_topic: topicText.optional(),
    resp_topic: topicText.optional(),
    seq: z.number().int().min(0).max(2 ** 32),
    buffered_ms: z.number().min(0).max(3_600_000).optional(),
  })
  .transform((raw, ctx) => ({
    replyTopic: normaliseReplyTopic(raw, ctx),
    seq: raw.seq,
    bufferedMs: raw.buffered_ms,
  }));
export type AckRequest = z.output<typeof AckRequestSchema>;

export const ErrorCodeSchema = z.enum(ERROR_CODE_LIST as [ErrorCode, ...ErrorCode[]]);

export const TrackSchema = z.object({
  id: z.number().int(),
  type: z.enum(['video', 'audio']),
  /** RFC 6381 codec string of this track as delivered, e.g. `avc1.640028`. */
  codec: z.string(),
  /** Codec of the source before any transcode, e.g. `h264`. */
  sourceCodec: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  sampleRate: z.number().int().optional(),
  channels: z.number().int().optional(),
});
export type Track = z.infer<typeof TrackSchema>;

export const ModeSchema = z.enum(['copy', 'transcode']);
export type Mode = z.infer<typeof ModeSchema>;

export const DescribeReplySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    mimeCodec: z.string(),
    mode: ModeSchema,
    tracks: z.array(TrackSchema),
    live: z.boolean(),
    error: z.literal(''),
    request_id: z.string().optional(),
  }),
  z.object({
    ok: z.literal(false),
    code: ErrorCodeSchema,
    error: z.string(),
    request_id: z.string().optional(),
  }),
]);
export type DescribeReply = z.infer<typeof DescribeReplySchema>;

export const StatusStateSchema = z.enum(['starting', 'playing', 'ended', 'error']);
export const StatusSchema = z.object({
  state: StatusStateSchema,
  code: ErrorCodeSchema.optional(),
  message: z.string().optional(),
  /** Why the session ended: `stop`, `source_ended`, `lease_expired`, `server_shutdown`, ... */
  reason: z.string().optional(),
  request_id: z.string().optional(),
  mimeCodec: z.string().optional(),
  mode: ModeSchema.optional(),
  /** Fragments skipped for this viewer so far (flow control). */
  skipped: z.number().int().optional(),
  fragments: z.number().int().optional(),
});
export type Status = z.infer<typeof StatusSchema>;

export const CatalogSchema = z.object({
  protocol: z.number().int(),
  server: z.string(),
  version: z.string(),
  prefix: z.string(),
  secure: z.boolean(),
  sources: z.array(z.object({ name: z.string(), description: z.string(), live: z.boolean() })),
  /** Live channels present on the broker (also listed in `sources` as `live/<name>` while live). */
  channels: z
    .array(
      z.object({
        name: z.string(),
        source: z.string(),
        state: z.enum(['live', 'offline']),
        mimeCodec: z.string().optional(),
        publisher: z.string(),
        bitrate: z.number().optional(),
        reason: z.string().optional(),
      }),
    )
    .default([]),
  allow: z.array(z.string()),
});
export type Catalog = z.infer<typeof CatalogSchema>;

/** What MQTT 5 properties of a request say about where to answer. */
export interface RequestProperties {
  /** The MQTT 5 Response Topic property, if the request carried one. */
  responseTopic?: string;
}

/**
 * Parses an MQTT payload as JSON and validates it; every failure is an INVALID_REQUEST.
 * An MQTT 5 Response Topic stands in for a missing `reply_topic`; when both are given
 * they must agree.
 */
export function parseRequest<T extends z.ZodType>(schema: T, payload: Uint8Array | string, props: RequestProperties = {}): z.output<T> {
  const size = typeof payload === 'string' ? payload.length : payload.byteLength;
  if (size > MAX_REQUEST_BYTES) {
    throw new MqttcastError('INVALID_REQUEST', `request is ${size} bytes; the limit is ${MAX_REQUEST_BYTES}`);
  }
  const text = typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: false }).decode(payload);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MqttcastError('INVALID_REQUEST', 'request is not valid JSON');
  }
  if (props.responseTopic !== undefined) json = withResponseTopic(json, props.responseTopic);
  const result = schema.safeParse(json);
  if (!result.success) throw zodToMqttcastError(result.error);
  return result.data;
}

function withResponseTopic(json: unknown, responseTopic: string): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  const rec = json as Record<string, unknown>;
  const given = rec.reply_topic ?? rec.resp_topic;
  if (given === undefined) return { ...rec, reply_topic: responseTopic };
  if (given !== responseTopic) {
    throw new MqttcastError(
      'INVALID_REQUEST',
      `"reply_topic" (${String(given).slice(0, 64)}) and the MQTT 5 Response Topic (${responseTopic.slice(0, 64)}) disagree; give one, or the same in both`,
    );
  }
  return json;
}

/** The one place a ZodError becomes a coded, readable error. */
export function zodToMqttcastError(error: z.ZodError): MqttcastError {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? `"${first.path.join('.')}": ` : '';
  return new MqttcastError('INVALID_REQUEST', `invalid request: ${where}${first?.message ?? 'invalid'}`);
}

/**
 * Best-effort extraction of a reply topic from a payload that failed validation,
 * so that the error can still be sent somewhere useful.
 */
export function salvageReplyTopic(payload: Uint8Array | string, props: RequestProperties = {}): { replyTopic?: string; requestId?: string } {
  const fromBody = salvageFromBody(payload);
  return { ...fromBody, replyTopic: props.responseTopic ?? fromBody.replyTopic };
}

function salvageFromBody(payload: Uint8Array | string): { replyTopic?: string; requestId?: string } {
  try {
    const text = typeof payload === 'string' ? payload : new TextDecoder().decode(payload);
    if (text.length > MAX_REQUEST_BYTES) return {};
    const json: unknown = JSON.parse(text);
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return {};
    const rec = json as Record<string, unknown>;
    const topic = rec.reply_topic ?? rec.resp_topic;
    const requestId = typeof rec.request_id === 'string' && rec.request_id.length <= 128 ? rec.request_id : undefined;
    return { replyTopic: typeof topic === 'string' ? topic : undefined, requestId };
  } catch {
    return {};
  }
}
