/**
 * What the page remembers in localStorage: the broker URL typed by the person,
 * and per broker the request route (prefix, secure mode) learnt from its catalog,
 * so that the next visit connects with the right last-will at once.
 */
import { isValidPrefix } from '../protocol/index.js';
import type { Logger } from './log.js';
import type { RequestRoute } from './requests.js';

const BROKER_KEY = 'mqttcast.brokerUrl';
const ROUTE_KEY = 'mqttcast.route:';

function storage(log: Logger): Storage | null {
  try {
    return window.localStorage;
  } catch (err) {
    log.info('localStorage is not available', err);
    return null;
  }
}

/** The broker URL the person typed last, or '' for the page's own server. */
export function loadBrokerUrl(log: Logger): string {
  return storage(log)?.getItem(BROKER_KEY) ?? '';
}

export function saveBrokerUrl(url: string, log: Logger): void {
  try {
    if (url) storage(log)?.setItem(BROKER_KEY, url);
    else storage(log)?.removeItem(BROKER_KEY);
  } catch (err) {
    log.info('could not remember the broker URL', err);
  }
}

export function loadRoute(brokerUrl: string, log: Logger): RequestRoute | null {
  try {
    const raw = storage(log)?.getItem(ROUTE_KEY + brokerUrl);
    if (!raw) return null;
    const value: unknown = JSON.parse(raw);
    if (value === null || typeof value !== 'object') return null;
    const { prefix, secure } = value as Record<string, unknown>;
    if (typeof prefix !== 'string' || !isValidPrefix(prefix) || typeof secure !== 'boolean') return null;
    return { prefix, secure };
  } catch (err) {
    log.info('ignoring a remembered route that cannot be read', err);
    return null;
  }
}

export function saveRoute(brokerUrl: string, route: RequestRoute, log: Logger): void {
  try {
    storage(log)?.setItem(ROUTE_KEY + brokerUrl, JSON.stringify(route));
  } catch (err) {
    log.info('could not remember the route', err);
  }
}

const USERNAME_KEY = 'mqttcast.username';
const PASSWORD_KEY = 'mqttcast.password';

export interface Credentials {
  username?: string;
  password?: string;
}

/** The user name from localStorage; the password from sessionStorage (this tab only, never kept on disk). */
export function loadCredentials(log: Logger): Credentials {
  try {
    const username = storage(log)?.getItem(USERNAME_KEY) ?? undefined;
    const password = window.sessionStorage.getItem(PASSWORD_KEY) ?? undefined;
    return { username: username || undefined, password: password || undefined };
  } catch (err) {
    log.info('stored credentials cannot be read', err);
    return {};
  }
}

export function saveCredentials(c: Credentials, log: Logger): void {
  try {
    if (c.username) storage(log)?.setItem(USERNAME_KEY, c.username);
    else storage(log)?.removeItem(USERNAME_KEY);
    if (c.password) window.sessionStorage.setItem(PASSWORD_KEY, c.password);
    else window.sessionStorage.removeItem(PASSWORD_KEY);
  } catch (err) {
    log.info('could not remember the credentials', err);
  }
}
