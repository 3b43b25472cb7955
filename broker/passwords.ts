/**
 * Salted scrypt password hashes in a self-describing string format:
 * `scrypt$N$r$p$<salt base64>$<hash base64>`. The cost parameters travel with
 * the hash, so they can be raised later without invalidating stored users.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface HashOptions {
  /** CPU/memory cost, a power of two (default 2^14). */
  N?: number;
  /** Block size (default 8). */
  r?: number;
  /** Parallelisation (default 1). */
  p?: number;
  /** Salt length in bytes (default 16). */
  saltBytes?: number;
  /** Derived key length in bytes (default 32). */
  keyBytes?: number;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const DEFAULTS = { N: 2 ** 14, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;
/** Upper bounds, so that a hash string from a config file cannot make verification eat the machine. */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
const MIN_N = 2 ** 10;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function scryptAsync(password: string | Buffer, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Memory scrypt needs for these parameters, with headroom (Node's default limit is 32 MiB). */
function maxmem(N: number, r: number, p: number): number {
  return 128 * N * r * (p + 2);
}

function checkParams(N: number, r: number, p: number): void {
  if (!Number.isInteger(N) || N < MIN_N || N > MAX_N || (N & (N - 1)) !== 0) {
    throw new RangeError(`scrypt N must be a power of two between ${MIN_N} and ${MAX_N}`);
  }
  if (!Number.isInteger(r) || r < 1 || r > MAX_R) throw new RangeError(`scrypt r must be 1..${MAX_R}`);
  if (!Number.isInteger(p) || p < 1 || p > MAX_P) throw new RangeError(`scrypt p must be 1..${MAX_P}`);
}

/** Parses a hash string, or returns null if it is not a well-formed scrypt hash within the bounds. */
export function parsePasswordHash(text: string): ParsedHash | null {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  if (![nText, rText, pText].every((v) => /^[1-9][0-9]{0,7}$/.test(v))) return null;
  if (!BASE64.test(saltText) || !BASE64.test(hashText)) return null;
  const [N, r, p] = [Number(nText), Number(rText), Number(pText)];
  try {
    checkParams(N, r, p);
  } catch {
    return null;
  }
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) return null;
  return { N, r, p, salt, hash };
}

/** True if `text` is a hash string that verifyPassword() accepts. */
export function isPasswordHash(text: string): boolean {
  return parsePasswordHash(text) !== null;
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string | Buffer, opts: HashOptions = {}): Promise<string> {
  const N = opts.N ?? DEFAULTS.N;
  const r = opts.r ?? DEFAULTS.r;
  const p = opts.p ?? DEFAULTS.p;
  checkParams(N, r, p);
  const salt = randomBytes(Math.max(opts.saltBytes ?? DEFAULTS.saltBytes, 8));
  const keyBytes = Math.min(Math.max(opts.keyBytes ?? DEFAULTS.keyBytes, 16), 128);
  const hash = await scryptAsync(password, salt, keyBytes, { N, r, p, maxmem: maxmem(N, r, p) });
  return ['scrypt', N, r, p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/**
 * Checks a password against a stored hash in constant time. A malformed hash
 * never matches (returns false) rather than throwing.
 */
export async function verifyPassword(password: string | Buffer, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed) return false;
  const { N, r, p, salt, hash } = parsed;
  const candidate = await scryptAsync(password, salt, hash.length, { N, r, p, maxmem: maxmem(N, r, p) });
  return timingSafeEqual(candidate, hash);
}
