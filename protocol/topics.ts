/**
 * Topic names of wire protocol v1. Every topic string in the project is built here.
 */
export const DEFAULT_PREFIX = 'video';
export const REQUEST_KINDS = ['describe', 'play', 'stop', 'ack'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
/**
 * The seed prototype's presence messages (open mode): `P/register` on connect and
 * `P/unregister` as its last will, both `{"clientId": "..."}`.
 */
export const PRESENCE_KINDS = ['register', 'unregister'] as const;
export type PresenceKind = (typeof PRESENCE_KINDS)[number];

export const MAX_REPLY_TOPIC_LENGTH = 256;
export const STATUS_SUFFIX = '/status';

export interface Topics {
  readonly prefix: string;
  /** Open-mode request topic, e.g. `video/play`; also the seed's `video/register|unregister`. */
  request(kind: RequestKind | PresenceKind): string;
  /** Secure-mode request topic of one client, e.g. `video/req/tab-1/play`. */
  clientRequest(clientId: string, kind: RequestKind): string;
  /** Subscription pattern that covers every client's secure-mode requests. */
  clientRequestPattern(kind: RequestKind): string;
  /** Root under which a client's secure-mode reply topics must live. */
  sessionRoot(clientId: string): string;
  catalog: string;
  stats: string;
  /** Coded errors for requests whose reply topic is missing, invalid or in use. */
  errors: string;
  /** JSON status topic that goes with a reply (data) topic. */
  status(replyTopic: string): string;
}

export function createTopics(prefix: string = DEFAULT_PREFIX): Topics {
  if (!isValidPrefix(prefix)) throw new Error(`invalid topic prefix "${prefix}"`);
  return Object.freeze({
    prefix,
    request: (kind: RequestKind | PresenceKind) => `${prefix}/${kind}`,
    clientRequest: (clientId: string, kind: RequestKind) => `${prefix}/req/${clientId}/${kind}`,
    clientRequestPattern: (kind: RequestKind) => `${prefix}/req/+/${kind}`,
    sessionRoot: (clientId: string) => `${prefix}/session/${clientId}/`,
    catalog: `${prefix}/catalog`,
    stats: `${prefix}/stats`,
    errors: `${prefix}/errors`,
    status: (replyTopic: string) => `${replyTopic}${STATUS_SUFFIX}`,
  });
}

export function isValidPrefix(prefix: string): boolean {
  return /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(prefix) && prefix.length <= 64;
}

/**
 * Why a reply topic is refused, or null if it is acceptable. Topics the server
 * subscribes to or publishes itself are refused exactly; topics *below* a request
 * topic are fine (the seed client replies on `client/describe/response_<n>`). The
 * `P/req/` tree (secure-mode requests) and `P/live/` tree (channels) are refused whole.
 */
export function replyTopicProblem(topic: string, topics: Topics): string | null {
  if (topic.length < 1 || topic.length > MAX_REPLY_TOPIC_LENGTH) {
    return `must be 1 to ${MAX_REPLY_TOPIC_LENGTH} characters long`;
  }
  if (/[+#]/.test(topic) || topic.includes('\u0000')) return 'must not contain the wildcards + or # or a NUL character';
  if (topic.startsWith('$')) return 'must not start with $ (reserved for the broker)';
  if (topic.endsWith(STATUS_SUFFIX)) return `must not end with ${STATUS_SUFFIX} (used for status messages)`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f]/.test(topic)) return 'must not contain control characters';
  const reserved = [...[...REQUEST_KINDS, ...PRESENCE_KINDS].map((k) => topics.request(k)), topics.catalog, topics.stats, topics.errors];
  for (const r of reserved) {
    if (topic === r) return `must not be a request topic (${r})`;
  }
  for (const tree of ['req', 'live']) {
    const root = `${topics.prefix}/${tree}`;
    if (topic === root || topic.startsWith(`${root}/`)) return `must not be under ${root}/`;
  }
  return null;
}

/** Matches an MQTT topic against a filter with + and # wildcards. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
