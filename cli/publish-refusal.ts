/**
 * A broker that refuses a channel publish says so only with MQTT 5: PUBACK reason 0x87
 * (Not authorized) on the QoS 1 init or meta. The embedded broker's secure mode and
 * mosquitto.acl.example both answer that way when a user publishes a channel other than
 * the one named after it. (MQTT 3.1.1 has no negative PUBACK: Mosquitto drops the message
 * silently, Aedes closes the connection.) This turns that answer into a clear error.
 */
import { ErrorWithReasonCode } from 'mqtt';
import { isValidChannelName } from '../protocol/index.js';
import { CliError, EXIT } from './exit-codes.js';

/** MQTT 5 reason code "Not authorized". */
export const NOT_AUTHORIZED = 0x87;

export interface RefusedPublish {
  /** The user the publisher logged in as, if any. */
  username?: string;
  /** The channel name (--name). */
  name: string;
  /** The topic the broker refused. */
  topic: string;
}

/** The error to end `mqttcast publish` with when `err` is a broker's "not authorized" answer, else undefined. */
export function publishRefusal(err: unknown, what: RefusedPublish): CliError | undefined {
  if (!(err instanceof ErrorWithReasonCode) || err.code !== NOT_AUTHORIZED) return undefined;
  const detail = `${what.topic}: ${err.message}, reason 0x87`;
  if (what.username === undefined) {
    return new CliError(
      `the broker refused to let this client publish channel ${what.name} (${detail}): it needs a user allowed to write the channel (-u/-P)`,
      EXIT.REFUSED,
    );
  }
  const hint = what.username !== what.name && isValidChannelName(what.username) ? `; use --name ${what.username}` : '';
  return new CliError(
    `the broker refused to let user ${what.username} publish channel ${what.name} (${detail}): in secure mode a publisher may publish only the channel named after its user${hint}`,
    EXIT.REFUSED,
  );
}

/** Remembers the first refusal of a channel's publishes; `refused` settles with it. */
export class ChannelRefusal {
  /** Resolves (never rejects) with the error once the broker refuses a publish of this channel. */
  readonly refused: Promise<CliError>;
  private first: CliError | undefined;
  private settle: (err: CliError) => void = () => undefined;

  constructor(private readonly who: Omit<RefusedPublish, 'topic'>) {
    this.refused = new Promise((resolve) => (this.settle = resolve));
  }

  /** The refusal, if the broker refused one. */
  get error(): CliError | undefined {
    return this.first;
  }

  /** Records `err` if it is a refusal of `topic`; true if it was. */
  report(err: unknown, topic: string): boolean {
    const refusal = publishRefusal(err, { ...this.who, topic });
    if (!refusal) return false;
    if (!this.first) {
      this.first = refusal;
      this.settle(refusal);
    }
    return true;
  }
}
