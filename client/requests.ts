/**
 * Request topics and payloads the player sends, for open and secure mode.
 * Topic strings come from protocol/; the payload field names are wire protocol v1.
 */
import { createTopics, type RequestKind, type Topics } from '../protocol/index.js';

export type PlayTarget = { source: string } | { url: string };

export interface OutgoingMessage {
  topic: string;
  payload: string;
}

export interface RequestRoute {
  prefix: string;
  /** Secure mode: requests go to `P/req/<user>/<kind>`, replies live under `P/session/<user>/`. */
  secure: boolean;
}

/** A fresh client id for this tab: `web-` and 12 random base-36 characters. */
export function newClientId(random: () => number = Math.random): string {
  let id = '';
  while (id.length < 12) id += Math.floor(random() * 36).toString(36);
  return `web-${id}`;
}

export class Requests {
  readonly topics: Topics;
  /** This player's reply (data) topic: slot 0 is the tab's first player, whose stop the secure-mode last-will names. */
  readonly replyTopic: string;
  readonly statusTopic: string;

  /** Whose namespace the topics are in: the user name in secure mode, else this tab's client id. */
  readonly namespace: string;

  constructor(
    readonly clientId: string,
    readonly route: RequestRoute,
    username?: string,
    /** Several players share one connection (one client id): each has a slot, and its own reply topic. */
    readonly slot = 0,
  ) {
    this.topics = createTopics(route.prefix);
    this.namespace = route.secure && username ? username : clientId;
    // One reply topic per player of the tab, inside the namespace (several tabs of one user must not collide).
    const base = route.secure && username ? `${this.topics.sessionRoot(username)}${clientId}` : `${this.topics.sessionRoot(clientId)}live`;
    this.replyTopic = slot === 0 ? base : `${base}-${slot}`;
    this.statusTopic = this.topics.status(this.replyTopic);
  }

  topic(kind: RequestKind): string {
    return this.route.secure ? this.topics.clientRequest(this.namespace, kind) : this.topics.request(kind);
  }

  describe(target: PlayTarget, codecs: readonly string[], requestId: string): OutgoingMessage {
    return this.message('describe', { ...target, reply_topic: this.replyTopic, codecs: [...codecs], request_id: requestId });
  }

  play(target: PlayTarget, codecs: readonly string[], requestId: string): OutgoingMessage {
    return this.message('play', {
      ...target,
      reply_topic: this.replyTopic,
      codecs: [...codecs],
      request_id: requestId,
      client_id: this.clientId,
    });
  }

  /**
   * Ends every session of this tab's client id at once (open mode, `P/unregister`):
   * the last-will of a connection that several players share.
   */
  unregister(): OutgoingMessage {
    return { topic: this.topics.request('unregister'), payload: JSON.stringify({ clientId: this.clientId }) };
  }

  stop(): OutgoingMessage {
    return this.message('stop', { reply_topic: this.replyTopic });
  }

  ack(seq: number, bufferedMs: number): OutgoingMessage {
    const buffered = Math.min(3_600_000, Math.max(0, Math.round(bufferedMs)));
    return this.message('ack', { reply_topic: this.replyTopic, seq, buffered_ms: buffered });
  }

  private message(kind: RequestKind, body: Record<string, unknown>): OutgoingMessage {
    return { topic: this.topic(kind), payload: JSON.stringify(body) };
  }
}
