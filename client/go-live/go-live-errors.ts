/**
 * Errors of the Go live panel, in the player's shape (plain words, then the stable
 * code): the broker ones are the player's (client/errors.ts); the rest are about the
 * camera, the encoder and the channel.
 */
import { MqttcastError } from '../../protocol/index.js';

export const GO_LIVE_ERROR_CODES = [
  'CAMERA_UNAVAILABLE',
  'ENCODER_UNSUPPORTED',
  'INVALID_REQUEST',
  'PUBLISH_REFUSED',
  'BROKER_REFUSED',
  'BROKER_UNREACHABLE',
  'ENCODER_FAILED',
] as const;
export type GoLiveErrorCode = (typeof GO_LIVE_ERROR_CODES)[number];

export interface GoLiveError {
  code: GoLiveErrorCode;
  /** Plain words, ending with the code in brackets. */
  message: string;
  /** The browser's or broker's own words. */
  detail?: string;
}

const PLAIN: Record<GoLiveErrorCode, string> = {
  CAMERA_UNAVAILABLE: 'The camera or microphone could not be opened',
  ENCODER_UNSUPPORTED: 'This browser cannot encode H.264 video with WebCodecs',
  INVALID_REQUEST: 'The channel name is not valid',
  PUBLISH_REFUSED: 'The broker refused to let these credentials publish this channel',
  BROKER_REFUSED: 'The MQTT broker refused the connection (user name or password)',
  BROKER_UNREACHABLE: 'Cannot reach the MQTT broker',
  ENCODER_FAILED: 'The video or audio encoder stopped with an error',
};

export function goLiveError(code: GoLiveErrorCode, detail?: string): GoLiveError {
  const message = `${PLAIN[code]} (${code})`;
  const extra = detail?.trim();
  return extra ? { code, message, detail: extra } : { code, message };
}

/** An Error carrying a {@link GoLiveError}, for rejections between the session's parts. */
export class GoLiveFailure extends Error {
  constructor(readonly error: GoLiveError) {
    super(error.detail ? `${error.message}: ${error.detail}` : error.message);
    this.name = 'GoLiveFailure';
  }
}

/** Whatever was thrown, as a GoLiveError (`fallback` when it is not one of ours). */
export function asGoLiveError(err: unknown, fallback: GoLiveErrorCode): GoLiveError {
  if (err instanceof GoLiveFailure) return err.error;
  if (err instanceof MqttcastError && err.code === 'INVALID_REQUEST') return goLiveError('INVALID_REQUEST', err.message);
  return goLiveError(fallback, err instanceof Error ? err.message : String(err));
}
