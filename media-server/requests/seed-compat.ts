/**
 * What the seed prototype's client sends that newer clients do not: a `{"url"}` stop
 * and `register` / `unregister` presence messages (the latter its retained last will).
 * Decisions only; the media server publishes and logs.
 */
import { PresenceMessageSchema, parseRequest, toMqttcastError, type MqttcastError, type PresenceKind } from '../../protocol/index.js';
import type { Session } from '../sessions/session.js';

/**
 * Ends the sessions of one source that a `{"url"}` stop may end: in secure mode only the
 * requesting client's; in open mode only those whose viewer does not ack (the seed's
 * clients and scripts) — a viewer that acks (web player, CLI) is stopped only through
 * its own reply topic, so one seed page cannot end another person's player. Returns how many.
 */
export function stopByTarget(sessions: readonly Session[], sourceKey: string, clientId: string | undefined, secure: boolean): number {
  const mine = sessions.filter(
    (s) => s.options.sourceKey === sourceKey && (clientId === undefined || s.options.clientId === clientId) && (secure || !s.acking),
  );
  for (const s of mine) s.end('stop');
  return mine.length;
}

export interface PresenceOutcome {
  clientId?: string;
  /** Sessions ended (`client_gone`). */
  ended: number;
  /** The retained copy on the topic is to be removed. */
  clear: boolean;
  error?: MqttcastError;
}

/**
 * `register` on connect is noted; `unregister` (the seed's retained last will) ends every
 * session that client started. A retained copy replayed at (re)subscribe is stale: it
 * ends nothing and is only cleared; a live one is acted on, then cleared so it does not
 * linger in the broker.
 */
export function handlePresence(kind: PresenceKind, payload: Buffer, retained: boolean, sessions: readonly Session[]): PresenceOutcome {
  if (retained) return { ended: 0, clear: kind === 'unregister' };
  let clientId: string;
  try {
    clientId = parseRequest(PresenceMessageSchema, payload).clientId;
  } catch (err) {
    return { ended: 0, clear: false, error: toMqttcastError(err) };
  }
  if (kind === 'register') return { clientId, ended: 0, clear: false };
  const theirs = sessions.filter((s) => s.options.clientId === clientId);
  for (const s of theirs) s.end('client_gone');
  return { clientId, ended: theirs.length, clear: true };
}
