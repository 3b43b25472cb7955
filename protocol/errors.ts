/**
 * The catalogue of coded errors. Codes are part of the wire protocol: stable,
 * documented in the README, never renamed. Messages are written for a person.
 */
export const ERROR_CODES = {
  INVALID_REQUEST: 'The request is not valid JSON or is missing a required field.',
  URL_NOT_ALLOWED: 'This URL is not on the server allowlist.',
  SOURCE_UNAVAILABLE: 'The source could not be opened or stopped sending.',
  UNSUPPORTED_MEDIA: 'The source has no track that can be streamed.',
  REPLY_TOPIC_INVALID: 'The reply topic is not allowed.',
  REPLY_TOPIC_IN_USE: 'Another session is already using this reply topic.',
  TOO_MANY_SESSIONS: 'The server has reached its session limit.',
  FFMPEG_FAILED: 'ffmpeg could not produce the stream.',
  SESSION_NOT_FOUND: 'No session uses this reply topic.',
  INTERNAL: 'Internal server error.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The one error class of the project: a stable code plus a human message. */
export class MqttcastError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string = ERROR_CODES[code], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MqttcastError';
    this.code = code;
  }
}

/** Turns anything thrown into a coded error; unknown errors become INTERNAL. */
export function toMqttcastError(err: unknown): MqttcastError {
  if (err instanceof MqttcastError) return err;
  return new MqttcastError('INTERNAL', ERROR_CODES.INTERNAL, { cause: err });
}
