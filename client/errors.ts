/**
 * Errors as a person reads them: plain words plus the stable code. Server codes
 * come from protocol/; the player adds a few of its own (broker, browser).
 */
import { isErrorCode, type ErrorCode } from '../protocol/index.js';

export const CLIENT_ERROR_CODES = [
  'BROKER_UNREACHABLE',
  'BROKER_URL_INVALID',
  'BROKER_REFUSED',
  'SERVER_TIMEOUT',
  'MSE_UNSUPPORTED',
  'CODEC_UNSUPPORTED',
  'MEDIA_ERROR',
  'STALLED',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];
export type PlayerErrorCode = ErrorCode | ClientErrorCode;

export interface PlayerError {
  code: PlayerErrorCode;
  /** Plain words, ending with the code in brackets. */
  message: string;
  /** The server's or browser's own words, when they add something. */
  detail?: string;
}

const PLAIN: Record<PlayerErrorCode, string> = {
  INVALID_REQUEST: 'The server did not understand the request',
  URL_NOT_ALLOWED: "This URL is not on the server's allowlist",
  SOURCE_UNAVAILABLE: 'The source could not be opened, or it stopped sending',
  UNSUPPORTED_MEDIA: 'The source has no video or audio track that can be streamed',
  REPLY_TOPIC_INVALID: "The server refused this player's reply topic",
  REPLY_TOPIC_IN_USE: 'Another player is already using this reply topic',
  TOO_MANY_SESSIONS: 'The server has reached its limit of viewers; try again later',
  FFMPEG_FAILED: 'The server could not convert this stream',
  SESSION_NOT_FOUND: 'The server has no session for this player',
  INTERNAL: 'The server hit an internal error',
  BROKER_UNREACHABLE: 'Cannot reach the MQTT broker',
  BROKER_URL_INVALID: 'The broker URL must start with ws:// or wss://',
  BROKER_REFUSED: 'The MQTT broker refused this player (connection, subscription or message)',
  SERVER_TIMEOUT: 'The media server did not answer; is it running?',
  MSE_UNSUPPORTED: 'This browser cannot play streams (no Media Source Extensions)',
  CODEC_UNSUPPORTED: "This browser cannot play the stream's format",
  MEDIA_ERROR: 'The browser could not decode the stream',
  STALLED: 'Playback keeps stalling',
};

export function playerError(code: PlayerErrorCode, detail?: string): PlayerError {
  const message = `${PLAIN[code]} (${code})`;
  const extra = detail?.trim();
  return extra ? { code, message, detail: extra } : { code, message };
}

/** A coded error from the server; unknown codes become INTERNAL. */
export function serverError(code: unknown, detail?: string): PlayerError {
  return playerError(isErrorCode(code) ? code : 'INTERNAL', detail);
}
