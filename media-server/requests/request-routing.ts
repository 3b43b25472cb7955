/**
 * Where requests come from and where answers may go: the topic a request
 * arrived on, the reply-topic rules (stricter in secure mode), and the shape
 * of coded error replies. Pure functions.
 */
import {
  PRESENCE_KINDS,
  REQUEST_KINDS,
  replyTopicProblem,
  type ErrorCode,
  type MqttcastError,
  type PresenceKind,
  type RequestKind,
  type Status,
  type Topics,
} from '../../protocol/index.js';

/** Which request a topic carries; in secure mode also which client sent it (the broker's ACL vouches for it). */
export function routeRequest(topic: string, topics: Topics, secure: boolean): { kind: RequestKind; clientId?: string } | undefined {
  if (!secure) {
    const kind = REQUEST_KINDS.find((k) => topic === topics.request(k));
    return kind && { kind };
  }
  const root = `${topics.prefix}/req/`;
  if (!topic.startsWith(root)) return undefined;
  const [clientId, kind, ...rest] = topic.slice(root.length).split('/');
  if (!clientId || rest.length > 0 || !REQUEST_KINDS.includes(kind as RequestKind)) return undefined;
  return { kind: kind as RequestKind, clientId };
}

/** The seed's open-mode presence topics `P/register` and `P/unregister`. */
export function routePresence(topic: string, topics: Topics): PresenceKind | undefined {
  return PRESENCE_KINDS.find((k) => topic === topics.request(k));
}

/** Where errors go that cannot go to a reply topic: `P/errors`, or the client's own `P/session/<id>/errors`. */
export function errorsTopicFor(topics: Topics, clientId?: string): string {
  return clientId === undefined ? topics.errors : `${topics.sessionRoot(clientId)}errors`;
}

/** Why a reply topic is refused (null if fine); in secure mode it must lie under the client's session root. */
export function replyTopicProblemFor(topic: string, topics: Topics, secure: boolean, clientId?: string): string | null {
  const problem = replyTopicProblem(topic, topics);
  if (problem || !secure) return problem;
  const root = topics.sessionRoot(clientId ?? '');
  if (clientId === undefined || !topic.startsWith(root) || topic.length === root.length) return `must be under ${root} in secure mode`;
  if (topic === errorsTopicFor(topics, clientId)) return `must not be ${topic} (used for errors)`;
  return null;
}

export function errorBody(code: ErrorCode, message: string, requestId?: string): Record<string, unknown> {
  return { ok: false, code, error: message, ...(requestId ? { request_id: requestId } : {}) };
}

export function statusError(error: MqttcastError, requestId?: string): Status {
  return { state: 'error', code: error.code, message: error.message, ...(requestId ? { request_id: requestId } : {}) };
}

