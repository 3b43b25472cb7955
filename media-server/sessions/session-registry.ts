/**
 * Who is using which reply topic: running sessions, plays still starting
 * (reserved topics, and those a stop already arrived for), the session limits,
 * and sessions whose viewer is gone. No I/O.
 */
import { MqttcastError } from '../../protocol/index.js';
import type { Config } from '../daemon/config.js';
import type { EndReason, Session } from './session.js';

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly reserved = new Set<string>();
  private readonly cancelled = new Set<string>();
  /** Sessions found without a listener at the last presence check. */
  private unheard = new Set<Session>();

  constructor(private readonly limits: Config['limits']) {}

  get size(): number {
    return this.sessions.size;
  }

  get(replyTopic: string): Session | undefined {
    return this.sessions.get(replyTopic);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  inUse(replyTopic: string): boolean {
    return this.sessions.has(replyTopic) || this.reserved.has(replyTopic);
  }

  /** A play on this reply topic is being set up (probing, opening the source). */
  starting(replyTopic: string): boolean {
    return this.reserved.has(replyTopic);
  }

  /** Claims a reply topic for a play being set up; release() when set up or failed. */
  reserve(replyTopic: string): void {
    if (this.inUse(replyTopic)) {
      throw new MqttcastError('REPLY_TOPIC_IN_USE', `reply topic "${replyTopic}" is already used by a session; stop it first or pick another`);
    }
    this.reserved.add(replyTopic);
  }

  release(replyTopic: string): void {
    this.reserved.delete(replyTopic);
    this.cancelled.delete(replyTopic);
  }

  /** A stop for a play still starting: it is ended as soon as it exists. */
  cancel(replyTopic: string): void {
    if (this.reserved.has(replyTopic)) this.cancelled.add(replyTopic);
  }

  /** Registers a started session; ends it at once if a stop arrived while it was starting. */
  add(session: Session): void {
    this.sessions.set(session.replyTopic, session);
    if (this.cancelled.has(session.replyTopic)) session.end('stop');
  }

  /** Called by a session when it ends. */
  remove(session: Session, _reason: EndReason): void {
    if (this.sessions.get(session.replyTopic) === session) this.sessions.delete(session.replyTopic);
  }

  /** Throws TOO_MANY_SESSIONS when a new session would break a limit. */
  checkLimits(clientId: string | undefined, sourceKey?: string): void {
    const { maxSessions, maxSessionsPerClient, maxSessionsPerSource } = this.limits;
    if (this.sessions.size + this.reserved.size > maxSessions) {
      throw new MqttcastError('TOO_MANY_SESSIONS', `the server is at its limit of ${maxSessions} sessions`);
    }
    if (clientId !== undefined) {
      const mine = this.all().filter((s) => s.options.clientId === clientId).length;
      if (mine >= maxSessionsPerClient) {
        throw new MqttcastError('TOO_MANY_SESSIONS', `client "${clientId}" already has ${mine} sessions, the limit per client`);
      }
    }
    if (sourceKey !== undefined) {
      const viewers = this.all().filter((s) => s.options.sourceKey === sourceKey).length;
      if (viewers >= maxSessionsPerSource) {
        throw new MqttcastError('TOO_MANY_SESSIONS', `this source already has ${viewers} viewers, the server's limit`);
      }
    }
  }

  /** Ends sessions without acks whose reply topic nobody has listened to for two checks in a row. */
  checkPresence(hasSubscriber: (topic: string) => boolean): void {
    const unheard = new Set<Session>();
    for (const s of this.sessions.values()) {
      if (s.acking || hasSubscriber(s.replyTopic)) continue;
      if (this.unheard.has(s)) s.end('viewer_gone');
      else unheard.add(s);
    }
    this.unheard = unheard;
  }

  endAll(reason: EndReason): void {
    for (const s of this.all()) s.end(reason);
  }
}
