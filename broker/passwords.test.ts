import { describe, expect, it } from 'vitest';
import { hashPassword, isPasswordHash, parsePasswordHash, verifyPassword } from './passwords.js';

const FAST = { N: 1024 } as const;

describe('password hashes', () => {
  it('hashes in the self-describing scrypt format and verifies the right password only', async () => {
    const hash = await hashPassword('correct horse', FAST);
    expect(hash).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horse'), hash)).toBe(true);
    expect(await verifyPassword('correct horsf', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
  });

  it('uses a fresh salt each time', async () => {
    const [a, b] = await Promise.all([hashPassword('pw', FAST), hashPassword('pw', FAST)]);
    expect(a).not.toBe(b);
    expect(parsePasswordHash(a)?.salt.equals(parsePasswordHash(b)!.salt)).toBe(false);
  });

  it('defaults to N=2^14, r=8, p=1, a 16-byte salt and a 32-byte key', async () => {
    const parsed = parsePasswordHash(await hashPassword('pw'));
    expect(parsed).toMatchObject({ N: 16384, r: 8, p: 1 });
    expect(parsed?.salt.length).toBe(16);
    expect(parsed?.hash.length).toBe(32);
  });

  it('keeps the cost parameters in the hash, so verification follows them', async () => {
    const hash = await hashPassword('pw', { N: 2048, r: 4, p: 2 });
    expect(hash.startsWith('scrypt$2048$4$2$')).toBe(true);
    expect(await verifyPassword('pw', hash)).toBe(true);
  });

  it('refuses malformed or abusive hash strings without throwing', async () => {
    const good = await hashPassword('pw', FAST);
    const [, , , , salt, key] = good.split('$');
    const bad = [
      '',
      'plain-text-password',
      `bcrypt$1024$8$1$${salt}$${key}`,
      `scrypt$1000$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$${2 ** 24}$8$1$${salt}$${key}`, // N beyond the bound: would take seconds and GBs
      `scrypt$1024$99$1$${salt}$${key}`,
      `scrypt$1024$8$1$${salt}`,
      `scrypt$1024$8$1$not base64!$${key}`,
      `scrypt$1024$8$1$AAAA$${key}`, // salt too short
    ];
    for (const text of bad) {
      expect(isPasswordHash(text), text).toBe(false);
      expect(await verifyPassword('pw', text)).toBe(false);
    }
    expect(isPasswordHash(good)).toBe(true);
  });

  it('refuses to create hashes with out-of-range parameters', async () => {
    await expect(hashPassword('pw', { N: 3000 })).rejects.toThrow(RangeError);
    await expect(hashPassword('pw', { r: 0 })).rejects.toThrow(RangeError);
  });
});
