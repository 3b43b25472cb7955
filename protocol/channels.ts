/**
 * Live channels (DESIGN §8): a stream published once into the broker for any number
 * of consumers, brokers and edges. Topic builders, name rules and the meta schema.
 *
 * | topic                     | retained | payload                                              |
 * |---------------------------|----------|------------------------------------------------------|
 * | `P/live/<name>/init`      | yes      | init segment (`ftyp`+`moov`); empty = channel gone   |
 * | `P/live/<name>/data`      | no, QoS 0| one fragment per message (`[prft]`+`moof`+`mdat`)    |
 * | `P/live/<name>/meta`      | yes      | JSON {@link ChannelMeta}; `offline` is the last will |
 * | `P/live/<name>/snapshot`  | yes      | JPEG of the latest keyframe; empty = no picture      |
 *
 * Ordering contract for producers: a (new) init is published retained and acknowledged
 * before any fragment that needs it; data resumes on a fragment that starts with a
 * keyframe after every init and after every gap (reconnect, dropped fragments).
 *
 * For consumers (a media server serving `{"source":"live/<name>"}`, an edge cache):
 * subscribe to `init`, `data` and `meta` of the channel (or `channelFilter(P, 'meta')` to
 * discover channels). A non-empty init replaces the previous one (a publisher restart or
 * codec change: media time starts again); an empty init means the channel is gone. Data
 * of a fresh subscription may start mid-GOP: wait for `fragmentStartsWithSync` (with
 * `parseInit(init).videoTrackId` and that track's `defaultSampleFlags`). `meta.state`
 * `offline` (with `reason`) means no data is coming; the retained init may still be there
 * while a publisher retries its input.
 */
import { z } from 'zod';
import { MqttcastError } from './errors.js';
import { TrackSchema } from './schemas.js';
import { isValidPrefix } from './topics.js';

/** The topic level under the prefix that holds every channel: `P/live/...`. */
export const CHANNELS_LEVEL = 'live';
export const CHANNEL_KINDS = ['init', 'data', 'meta', 'snapshot'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

export const MAX_CHANNEL_NAME_LENGTH = 64;
const CHANNEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** One MQTT topic level of letters, digits, `_`, `.` and `-`, 1 to 64 characters. */
export function isValidChannelName(name: string): boolean {
  return CHANNEL_NAME.test(name);
}

/** Why a channel name is refused, or null if it is acceptable (for error messages). */
export function channelNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_CHANNEL_NAME_LENGTH) return `must be at most ${MAX_CHANNEL_NAME_LENGTH} characters long`;
  if (name.includes('/')) return 'must be one topic level (no "/")';
  if (!CHANNEL_NAME.test(name)) return 'may only contain letters, digits, "_", "." and "-"';
  return null;
}

export interface ChannelTopics {
  readonly name: string;
  /** Retained init segment. */
  readonly init: string;
  /** Fragments, QoS 0, not retained. */
  readonly data: string;
  /** Retained JSON {@link ChannelMeta}. */
  readonly meta: string;
  /** Retained JPEG of the latest keyframe (media-server/snapshots). */
  readonly snapshot: string;
  /** Every topic of this channel: `P/live/<name>/#`. */
  readonly all: string;
}

function checkPrefix(prefix: string): void {
  if (!isValidPrefix(prefix)) throw new MqttcastError('INVALID_REQUEST', `invalid topic prefix "${prefix}"`);
}

/** Topics of channel `name` under `prefix`. Throws INVALID_REQUEST for a bad name or prefix. */
export function channelTopics(prefix: string, name: string): ChannelTopics {
  checkPrefix(prefix);
  const problem = channelNameProblem(name);
  if (problem) throw new MqttcastError('INVALID_REQUEST', `invalid channel name "${name}": ${problem}`);
  const base = `${prefix}/${CHANNELS_LEVEL}/${name}`;
  return Object.freeze({
    name,
    init: `${base}/init`,
    data: `${base}/data`,
    meta: `${base}/meta`,
    snapshot: `${base}/snapshot`,
    all: `${base}/#`,
  });
}

/**
 * Filter over one kind of topic of every channel, e.g. `video/live/+/meta` (the
 * directory of channels: all retained metas), or `video/live/#` without a kind
 * (what a bridge carries toward the edges).
 */
export function channelFilter(prefix: string, kind?: ChannelKind): string {
  checkPrefix(prefix);
  return kind === undefined ? `${prefix}/${CHANNELS_LEVEL}/#` : `${prefix}/${CHANNELS_LEVEL}/+/${kind}`;
}

/** `{name, kind}` of a channel topic under `prefix`, or null if `topic` is not one. */
export function parseChannelTopic(prefix: string, topic: string): { name: string; kind: ChannelKind } | null {
  const head = `${prefix}/${CHANNELS_LEVEL}/`;
  if (!topic.startsWith(head)) return null;
  const rest = topic.slice(head.length).split('/');
  if (rest.length !== 2) return null;
  const [name, kind] = rest as [string, string];
  if (!isValidChannelName(name) || !(CHANNEL_KINDS as readonly string[]).includes(kind)) return null;
  return { name, kind: kind as ChannelKind };
}

export const ChannelStateSchema = z.enum(['live', 'offline']);
export type ChannelState = z.infer<typeof ChannelStateSchema>;

const isoTime = z.iso.datetime({ offset: true });

/**
 * Retained JSON on `P/live/<name>/meta`. `live` carries what a consumer needs before the
 * first fragment (mimeCodec, tracks); `offline` is also the publisher's MQTT last will,
 * so it may carry only the fields known when it connected.
 */
export const ChannelMetaSchema = z
  .object({
    state: ChannelStateSchema,
    /** `video/mp4; codecs="avc1.64001F, mp4a.40.2"`, exact, from the init segment. Required when live. */
    mimeCodec: z.string().min(1).max(256).optional(),
    tracks: z.array(TrackSchema).max(16).default([]),
    /** Who publishes: a label, or `<host>:<pid>`. */
    publisher: z.string().min(1).max(128),
    /** When this publisher started (ISO 8601). */
    started_at: isoTime,
    /** When this meta was written (ISO 8601); absent in a last will. */
    updated_at: isoTime.optional(),
    /** Measured media bit rate over the last seconds, bits per second. */
    bitrate: z.number().min(0).optional(),
    /** Measured keyframe interval (GOP duration), seconds. */
    gop: z.number().min(0).optional(),
    /**
     * The publisher makes this channel's snapshots itself (`mqttcast publish --snapshots`, or
     * the media server publishing its own source): other servers take none.
     */
    snapshots: z.boolean().optional(),
    /** Why the channel is offline: `stopped`, `connection_lost` (last will), `input_ended`, `input_failed`. */
    reason: z.string().max(64).optional(),
    /** Human-readable detail for `reason` (e.g. ffmpeg's last error line). */
    message: z.string().max(512).optional(),
  })
  .superRefine((meta, ctx) => {
    if (meta.state === 'live' && meta.mimeCodec === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a live channel must state its mimeCodec', path: ['mimeCodec'] });
    }
  });
export type ChannelMeta = z.output<typeof ChannelMetaSchema>;
/** What a producer writes (tracks may be omitted). */
export type ChannelMetaInput = z.input<typeof ChannelMetaSchema>;

/** Parses a meta payload; throws INVALID_REQUEST (with the first problem) when it is not a valid meta. */
export function parseChannelMeta(payload: Uint8Array | string): ChannelMeta {
  const text = typeof payload === 'string' ? payload : new TextDecoder().decode(payload);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MqttcastError('INVALID_REQUEST', 'channel meta is not valid JSON');
  }
  const result = ChannelMetaSchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    const where = first && first.path.length > 0 ? `"${first.path.join('.')}": ` : '';
    throw new MqttcastError('INVALID_REQUEST', `invalid channel meta: ${where}${first?.message ?? 'invalid'}`);
  }
  return result.data;
}
