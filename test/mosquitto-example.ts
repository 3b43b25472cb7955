/**
 * Starts Mosquitto from mosquitto.conf.example + mosquitto.acl.example with only
 * the port and file paths substituted, optionally with a password file of test users.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChecked } from './helpers/child.js';
import { MosquittoBroker } from './helpers/mosquitto.js';
import { freePort } from './helpers/ports.js';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const CONF = join(ROOT, 'mosquitto.conf.example');
export const ACL = join(ROOT, 'mosquitto.acl.example');
export const SERVER = 'mqttcast-server';
/** The channel publisher and the bridge user that mosquitto.acl.example ships blocks for. */
export const PUBLISHER = 'cam1';
export const BRIDGE = 'bridge-1';
export const PASSWORDS: Record<string, string> = {
  [SERVER]: 'server-secret', alice: 'alice-secret', bob: 'bob-secret', [PUBLISHER]: 'cam1-secret', [BRIDGE]: 'bridge-secret',
};

/** Replaces the one line matching `pattern`; fails loudly if the example no longer has exactly one. */
function substitute(text: string, pattern: RegExp, line: string): string {
  const hits = text.match(new RegExp(pattern.source, 'gm')) ?? [];
  if (hits.length !== 1) throw new Error(`mosquitto.conf.example: expected one line matching ${pattern}, found ${hits.length}`);
  return text.replace(new RegExp(pattern.source, 'm'), line);
}

export interface ExampleOptions {
  /** Create a password file with PASSWORDS and enable it (the example ships with it commented out). */
  withUsers?: boolean;
  /** Replace the ACL path (the shipped one is relative to mosquitto's working directory). */
  aclFile?: string;
}

async function writePasswordFile(dir: string): Promise<string> {
  const file = join(dir, 'passwd');
  for (const [user, pw] of Object.entries(PASSWORDS)) {
    await runChecked('mosquitto_passwd', [...(user === SERVER ? ['-c'] : []), '-b', file, user, pw]);
  }
  // Started as root, mosquitto drops to the "mosquitto" user before it reads the password file.
  await chmod(dir, 0o755);
  await chmod(file, 0o644);
  return file;
}

async function exampleConfig(port: number, opts: ExampleOptions, passwordFile: string | undefined): Promise<string> {
  let text = substitute(await readFile(CONF, 'utf8'), /^listener 1883 127\.0\.0\.1$/, `listener ${port} 127.0.0.1`);
  if (passwordFile) text = substitute(text, /^# ?password_file .*$/, `password_file ${passwordFile}`);
  if (opts.aclFile) text = substitute(text, /^acl_file .*$/, `acl_file ${opts.aclFile}`);
  return text;
}

export async function startExample(opts: ExampleOptions): Promise<MosquittoBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'mqttcast-mosquitto-auth-'));
  let lastError: unknown;
  try {
    const passwordFile = opts.withUsers ? await writePasswordFile(dir) : undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const configPath = join(dir, 'mosquitto.conf');
      await writeFile(configPath, await exampleConfig(port, opts, passwordFile));
      const broker = new MosquittoBroker('/usr/sbin/mosquitto', dir, configPath, port, undefined, 15_000);
      try {
        await broker.start();
        return broker;
      } catch (err) {
        lastError = err;
        await broker.stop();
        if (!broker.stderr().includes('Address already in use')) break; // only a lost port race is worth a retry
      }
    }
  } catch (err) {
    lastError = err;
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

