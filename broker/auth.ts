/**
 * Secure mode of the embedded broker (DESIGN.md §2): password authentication
 * and topic ACLs as Aedes hooks.
 *
 * - viewer: publishes only its own requests `P/req/<user>/{describe,play,stop,ack}`
 *   (not retained), reads only `P/session/<user>/…`, `P/catalog` and any
 *   configured public filters. `<user>` is the authenticated user name (DESIGN §2
 *   says client id; the name is what the password proves, and it lets several
 *   connections of one user cooperate). User name and client id must be plain
 *   topic levels.
 * - server: reads and writes anything under `P/` (retained included), channels too.
 * - publisher: writes only its own channel `P/live/<user>/{init,data,meta,snapshot}`
 *   (its MQTT last will on its meta included: Aedes authorizes a will when it fires),
 *   reads nothing. A publisher's user name is its channel name.
 * - bridge: reads every channel `P/live/#` (a child broker pulling them), writes nothing.
 * - admin: reads everything (including `$SYS/`), writes nothing.
 * The policy itself, role by role, is in access-policy.ts.
 * Nobody writes `$SYS/`. A client id in use by one user cannot be taken over by
 * another user while it is connected, nor for `clientIdHoldMs` after it left.
 *
 * Refusals, MQTT 3.1.1: CONNACK 5 (no credentials), 4 (bad credentials), 2 (client
 * id); SUBACK 0x80 for a filter; a refused PUBLISH is dropped and, as 3.1.1 has no
 * negative PUBACK, Aedes closes that client's connection.
 * MQTT 5 (Aedes 2 maps the same hooks): CONNACK 0x87, 0x86, 0x85; SUBACK 0x87; a
 * refused QoS 1/2 PUBLISH gets PUBACK/PUBREC 0x87 with the error message as Reason
 * String (so it names only the client's own topic), a QoS 0 one is dropped, and the
 * connection stays up.
 */
import { randomBytes } from 'node:crypto';
import type { AedesOptions, AuthenticateError, Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { z } from 'zod';
import { channelNameProblem } from '../protocol/index.js';
import { ROLES, createAccessPolicy, isValidClientId, type Identity, type Role } from './access-policy.js';
import { hashPassword, isPasswordHash, verifyPassword } from './passwords.js';

export { hashPassword, verifyPassword, isPasswordHash } from './passwords.js';
export { ROLES, MAX_CLIENT_ID_LENGTH, createAccessPolicy, filterCovers, isValidClientId } from './access-policy.js';
export type { AccessPolicy, Identity, Role } from './access-policy.js';

/** Default time a disconnected client's id stays reserved for its user (longer than the session lease). */
export const DEFAULT_CLIENT_ID_HOLD_MS = 60_000;

export const UserSchema = z
  .object({
    // eslint-disable-next-line no-control-regex
    username: z.string().regex(/^[^\u0000-\u001f\u007f]{1,128}$/, 'must be 1 to 128 characters, no control characters'),
    passwordHash: z.string().refine(isPasswordHash, 'must be a salted scrypt hash: scrypt$N$r$p$<salt base64>$<hash base64>'),
    role: z.enum(ROLES).default('viewer'),
  })
  .strict()
  .superRefine((user, ctx) => {
    const problem = user.role === 'publisher' ? channelNameProblem(user.username) : null;
    if (problem) ctx.addIssue({ code: 'custom', path: ['username'], message: `a publisher's name is its channel name, which ${problem}` });
  });
export type BrokerUser = z.infer<typeof UserSchema>;

export const BrokerUsersSchema = z.array(UserSchema).superRefine((users, ctx) => {
  const seen = new Set<string>();
  users.forEach((user, i) => {
    if (seen.has(user.username)) {
      ctx.addIssue({ code: 'custom', path: [i, 'username'], message: `duplicate username "${user.username}"` });
    }
    seen.add(user.username);
  });
});

export const AuthConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    users: BrokerUsersSchema.default([]),
  })
  .strict();
export type AuthConfig = z.infer<typeof AuthConfigSchema>;

export type AuthHooks = Required<Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>>;

export interface AuthHooksOptions {
  /** Topic prefix `P` (e.g. `video`). */
  prefix: string;
  users: readonly BrokerUser[];
  log: Logger;
  /** Extra filters viewers may read, e.g. `video/live/#`. Default none. */
  publicFilters?: readonly string[];
  /** Home Assistant's discovery prefix, when the server announces channels there. */
  discoveryPrefix?: string;
  /** How long a client id stays reserved for its user after it disconnects (0 = not at all). */
  clientIdHoldMs?: number;
}

interface Owner {
  readonly username: string;
  timer?: NodeJS.Timeout;
}

/** Remembers which user holds each client id, so that another user cannot take it over. */
class ClientIdOwners {
  private readonly owners = new Map<string, Owner>();

  constructor(private readonly holdMs: number) {}

  /** Claims `clientId` for `username` until `client`'s connection closes (plus the hold time). */
  claim(clientId: string, username: string, client: Client): boolean {
    const current = this.owners.get(clientId);
    if (current && current.username !== username) return false;
    if (current?.timer) clearTimeout(current.timer);
    const owner: Owner = { username };
    this.owners.set(clientId, owner);
    client.conn.once('close', () => this.release(clientId, owner));
    return true;
  }

  private release(clientId: string, owner: Owner): void {
    if (this.owners.get(clientId) !== owner) return; // a newer connection of the same user holds it
    if (this.holdMs <= 0) {
      this.owners.delete(clientId);
      return;
    }
    owner.timer = setTimeout(() => {
      if (this.owners.get(clientId) === owner) this.owners.delete(clientId);
    }, this.holdMs);
    owner.timer.unref();
  }
}

function refusal(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

/** A syntactically valid hash nobody knows the password of: unknown users cost one scrypt like known ones. */
function decoyHash(): string {
  return `scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;
}

/** Builds the Aedes hooks. Use one set of hooks per broker: it tracks that broker's client ids. */
export function createAuthHooks(options: AuthHooksOptions): AuthHooks {
  const { log } = options;
  const users = new Map(options.users.map((u) => [u.username, u]));
  const policy = createAccessPolicy(options.prefix, options.publicFilters, options.discoveryPrefix);
  const owners = new ClientIdOwners(options.clientIdHoldMs ?? DEFAULT_CLIENT_ID_HOLD_MS);
  const identities = new WeakMap<Client, Identity>();
  const decoy = decoyHash();

  async function check(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const clientId = client.id;
    if (username === undefined || password === undefined) {
      log.warn({ clientId }, 'broker auth: refused a connection without credentials');
      return refusal(5, 'not authorized: username and password required');
    }
    const user = users.get(username);
    const ok = await verifyPassword(password, user?.passwordHash ?? decoy);
    if (!user || !ok) {
      log.warn({ clientId, username }, 'broker auth: bad username or password');
      return refusal(4, 'bad user name or password');
    }
    if (user.role === 'viewer' && !isValidClientId(username)) {
      log.warn({ clientId, username }, 'broker auth: user name is not usable as a topic level');
      return refusal(4, 'bad user name: a viewer name must be 1-128 characters without / + # $ or control characters');
    }
    if (user.role === 'publisher' && channelNameProblem(username) !== null) {
      log.warn({ clientId, username }, 'broker auth: publisher name is not a channel name');
      return refusal(4, `bad user name: a publisher's name is its channel name, which ${channelNameProblem(username)}`);
    }
    if (user.role === 'viewer' && !isValidClientId(clientId)) {
      log.warn({ clientId, username }, 'broker auth: client id is not usable as a topic level');
      return refusal(2, 'identifier rejected: client id must be 1-128 characters without / + # $ or control characters');
    }
    if (client.closed || client.conn.destroyed) return refusal(5, 'connection closed during authentication');
    if (!owners.claim(clientId, username, client)) {
      log.warn({ clientId, username }, 'broker auth: client id belongs to another user');
      return refusal(2, 'identifier rejected: client id in use by another user');
    }
    identities.set(client, { username, role: user.role, clientId });
    return null;
  }

  const authenticate: AuthHooks['authenticate'] = (client, username, password, done) => {
    check(client, username, password).then(
      (err) => (err ? done(err, false) : done(null, true)),
      (err: unknown) => {
        log.error({ err, clientId: client.id }, 'broker auth: authentication failed unexpectedly');
        done(refusal(3, 'server unavailable'), false);
      },
    );
  };

  const authorizePublish: AuthHooks['authorizePublish'] = (client, packet: PublishPacket, done) => {
    const who = client ? identities.get(client) : undefined;
    if (who && policy.mayPublish(who, packet.topic, packet.retain)) {
      done(null);
      return;
    }
    // An MQTT 5 client keeps its connection after a refusal and can repeat it at will: info, like refused filters.
    const level = client?.version === 5 ? 'info' : 'warn';
    log[level]({ clientId: client?.id, username: who?.username, topic: packet.topic, retain: packet.retain }, 'broker auth: publish refused');
    done(new Error(`not authorized to publish to ${packet.topic}${packet.retain ? ' (retained)' : ''}`));
  };

  const authorizeSubscribe: AuthHooks['authorizeSubscribe'] = (client, subscription, done) => {
    const who = identities.get(client);
    if (who && policy.maySubscribe(who, subscription.topic)) {
      done(null, subscription);
      return;
    }
    // info, not warn: a refused filter does not cost the client its connection, so it can repeat it at will.
    log.info({ clientId: client.id, username: who?.username, filter: subscription.topic }, 'broker auth: subscription refused');
    done(null, null); // SUBACK 0x80 for this filter; the connection stays up
  };

  return { authenticate, authorizePublish, authorizeSubscribe };
}

/** A user with a fresh random password (e.g. the media server's own account on the embedded broker). */
export async function createUser(username: string, role: Role, password = randomBytes(24).toString('base64url')): Promise<{ user: BrokerUser; password: string }> {
  return { user: { username, role, passwordHash: await hashPassword(password) }, password };
}
