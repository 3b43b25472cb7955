/**
 * The describe step of a play, and the small pieces the player's request flow
 * shares: a coded failure that ends the attempt, request ids, error text.
 */
import { playerError, serverError, type PlayerError } from './errors.js';
import type { Transport } from './player-types.js';
import type { Described } from './replies.js';
import type { ReplyWaiter } from './reply-waiter.js';
import type { PlayTarget, Requests } from './requests.js';

/** Thrown inside a play attempt: the player shows this error and stops. */
export class PlayFailure extends Error {
  constructor(readonly error: PlayerError) {
    super(error.message);
  }
}

export interface DescribeInput {
  transport: Transport;
  requests: Requests;
  replies: ReplyWaiter;
  target: PlayTarget;
  codecs: readonly string[];
  requestId: string;
  timeoutMs: number;
}

/** Sends describe and waits for its reply; null when cancelled. Throws PlayFailure for a refusal or no answer. */
export async function describeStream(input: DescribeInput): Promise<Described | null> {
  const { transport, requests, replies } = input;
  const msg = requests.describe(input.target, input.codecs, input.requestId);
  const reply = replies.expect(input.requestId, input.timeoutMs);
  await transport.publish(msg.topic, msg.payload, 1);
  const answer = await reply;
  if (answer === 'cancelled') return null;
  if (answer === 'timeout') throw new PlayFailure(playerError('SERVER_TIMEOUT', `no reply to describe on ${requests.replyTopic}`));
  if (answer.kind === 'error') throw new PlayFailure(serverError(answer.code, answer.error));
  if (answer.kind !== 'described') throw new PlayFailure(playerError('INTERNAL', 'unrecognised describe reply'));
  return answer.described;
}

export function randomTag(): string {
  return Math.random().toString(36).slice(2, 8);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
