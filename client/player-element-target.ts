/** What a <mqttcast-player> is told to play and with which credentials (no DOM here, so unit tests can load it). */
import type { PlayTarget } from './requests.js';

export interface PlayerCredentials {
  username?: string;
  password?: string;
}

/** `source`: a named source, `live/<name>`, or a URL (anything with `://`). */
export function targetOf(source: string | null): PlayTarget | null {
  const value = source?.trim();
  if (!value) return null;
  return value.includes('://') ? { url: value } : { source: value };
}
