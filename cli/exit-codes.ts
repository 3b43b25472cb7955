/** Exit codes scripts can rely on. */
export const EXIT = {
  OK: 0,
  /** Bad usage or configuration. */
  USAGE: 1,
  /** The server refused the request (the coded error is printed). */
  REFUSED: 2,
  /** The broker could not be reached. */
  BROKER_UNREACHABLE: 3,
  /** No answer, or the stream stopped, within the time allowed. */
  TIMEOUT: 4,
  /** The stream ended with an error after it started. */
  STREAM_FAILED: 5,
} as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}
