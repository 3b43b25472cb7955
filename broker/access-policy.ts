/**
 * What each role of the embedded broker's secure mode may publish and subscribe, as
 * pure functions of the identity and the topic (the Aedes hooks are in auth.ts).
 *
 * | role      | may publish                                                  | may subscribe                      |
 * |-----------|--------------------------------------------------------------|------------------------------------|
 * | server    | anything under `P/` (retained too), `P/live/#` included;     | anything under `P/`                |
 * |           | Home Assistant discovery `<ha>/camera/+/config` if enabled   |                                    |
 * | viewer    | `P/req/<user>/{describe,play,stop,ack}`, not retained        | `P/session/<user>/#`, `P/catalog`, |
 * |           |                                                              | pictures `P/live/+/snapshot`       |
 * | publisher | `P/live/<user>/{init,meta,snapshot}` (retained or not) and   | nothing                            |
 * |           | `P/live/<user>/data` (not retained); its will on its meta    |                                    |
 * | bridge    | nothing                                                      | `P/live/#` (every channel)         |
 * | admin     | nothing; under `<ha>/` if discovery is on (Home Assistant)   | everything, `$SYS/#` included      |
 *
 * `<user>` is the authenticated user name — the identity its password proves — so a
 * publisher's channel is named after its user, and several connections of one viewer
 * (a mosquitto_sub and a mosquitto_pub, two tabs) share one namespace, exactly as with
 * the `%u` rules of mosquitto.acl.example. Viewers do not read raw channels: they watch
 * `{"source":"live/<name>"}` through a media server. Nobody publishes to `$SYS/`.
 */
import { CHANNELS_LEVEL, REQUEST_KINDS, createTopics, isValidChannelName, topicMatches } from '../protocol/index.js';

export const ROLES = ['server', 'viewer', 'publisher', 'bridge', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const MAX_CLIENT_ID_LENGTH = 128;

/** Channel kinds a publisher may leave retained: `data` is a stream of fragments, never retained. */
const RETAINED_CHANNEL_KINDS = ['init', 'meta', 'snapshot'] as const;

export interface Identity {
  readonly username: string;
  readonly role: Role;
  readonly clientId: string;
}

/** A client id a viewer may use: one non-empty topic level without wildcards, `$`, NUL or control characters. */
export function isValidClientId(clientId: string): boolean {
  // eslint-disable-next-line no-control-regex
  return clientId.length >= 1 && clientId.length <= MAX_CLIENT_ID_LENGTH && !/[/+#$\u0000-\u001f\u007f]/.test(clientId);
}

/** True if every topic that `requested` can match is also matched by `allowed`. */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = allowed.split('/');
  const r = requested.split('/');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return true;
    if (i >= r.length) return false;
    if (r[i] === '#') return false;
    if (a[i] === '+') continue;
    if (a[i] !== r[i]) return false;
  }
  return r.length === a.length;
}

export interface AccessPolicy {
  mayPublish(who: Identity, topic: string, retain: boolean): boolean;
  maySubscribe(who: Identity, filter: string): boolean;
}

/**
 * The access policy of prefix `P`. `publicFilters` are extra filters viewers may read
 * (none by default; e.g. `P/live/#` to let viewers tap raw channels). `discoveryPrefix`:
 * the server announces channels to Home Assistant under it.
 */
export function createAccessPolicy(prefix: string, publicFilters: readonly string[] = [], discoveryPrefix?: string): AccessPolicy {
  const topics = createTopics(prefix);
  const everything = `${prefix}/#`;
  const discovery = discoveryPrefix === undefined ? undefined : `${discoveryPrefix}/camera/+/config`;
  const pictures = `${prefix}/${CHANNELS_LEVEL}/+/snapshot`;
  const channels = `${prefix}/${CHANNELS_LEVEL}/#`;

  /** A publisher's own channel: exactly init, data, meta and snapshot; `data` never retained. */
  function ownChannel(username: string, topic: string, retain: boolean): boolean {
    if (!isValidChannelName(username)) return false;
    const base = `${prefix}/${CHANNELS_LEVEL}/${username}/`;
    if (!topic.startsWith(base)) return false;
    const kind = topic.slice(base.length);
    return kind === 'data' ? !retain : (RETAINED_CHANNEL_KINDS as readonly string[]).includes(kind);
  }

  return {
    mayPublish(who: Identity, topic: string, retain: boolean): boolean {
      if (topic.startsWith('$')) return false;
      switch (who.role) {
        case 'server':
          return topicMatches(everything, topic) || (discovery !== undefined && topicMatches(discovery, topic));
        case 'viewer':
          return !retain && REQUEST_KINDS.some((kind) => topics.clientRequest(who.username, kind) === topic);
        case 'publisher':
          return ownChannel(who.username, topic, retain);
        case 'admin':
          // Home Assistant, given an admin user, writes its own status under its discovery prefix.
          return discoveryPrefix !== undefined && topicMatches(`${discoveryPrefix}/#`, topic);
        case 'bridge':
          return false;
      }
    },
    maySubscribe(who: Identity, filter: string): boolean {
      switch (who.role) {
        case 'server':
          return filterCovers(everything, filter);
        case 'viewer': {
          const readable = [`${topics.sessionRoot(who.username)}#`, topics.catalog, pictures, ...publicFilters];
          return readable.some((allowed) => filterCovers(allowed, filter));
        }
        case 'publisher':
          return false;
        case 'bridge':
          return filterCovers(channels, filter);
        case 'admin':
          return true;
      }
    },
  };
}
