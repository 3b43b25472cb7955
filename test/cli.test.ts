/** The `mqttcast` command as a person or a script runs it: a real process, real ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, stopChild, waitForExit } from './helpers/child.js';
import { freePort } from './helpers/ports.js';
import { descendants, mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { expectDecodable } from './media-check.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
const children: ChildProcess[] = [];
let dir: string;

function cli(args: string[]): ReturnType<typeof runCommand> {
  return runCommand(process.execPath, [BIN, ...args], { timeoutMs: 60_000, cwd: dir });
}

interface Server {
  child: ChildProcess;
  http: number;
  mqtt: number;
  output: () => string;
}

async function startServer(extra: string[] = [], perTest = true, env: NodeJS.ProcessEnv = process.env): Promise<Server> {
  const [http, mqtt] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [BIN, 'serve', '--http-port', String(http), '--mqtt-port', String(mqtt), '--log-level', 'warn', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  if (perTest) children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('Press Ctrl-C') || child.exitCode !== null, { message: 'server start' });
  return { child, http, mqtt, output: () => out };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-cli-'));
});

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopChild(c)));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  expect(mediaProcesses()).toEqual([]);
});

describe('mqttcast serve', () => {
  it('prints the URLs, serves /healthz, and on SIGTERM ends sessions, stops ffmpeg and exits 0', async () => {
    const s = await startServer();
    expect(s.output()).toContain(`http://127.0.0.1:${s.http}/`);
    expect(s.output()).toContain(`mqtt://127.0.0.1:${s.mqtt}`);
    const health = (await (await fetch(`http://127.0.0.1:${s.http}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, broker: 'connected' });
    const d = await cli(['describe', 'demo', '--broker', `mqtt://127.0.0.1:${s.mqtt}`]);
    expect(d.code, d.stderr).toBe(0);
    await waitFor(() => descendants(s.child.pid).some((p) => p.comm === 'ffmpeg'), { message: 'demo ffmpeg running' });
    s.child.kill('SIGTERM');
    expect(await waitForExit(s.child, 15_000)).toBe(true);
    expect(s.child.exitCode).toBe(0);
    expect(mediaProcesses(s.child.pid!)).toEqual([]);
  });

  it('without ffmpeg on the PATH, falls back to the one shipped in an npm package and says so', async () => {
    // A PATH with node and nothing else: no system ffmpeg to be found.
    const bare = await mkdtemp(path.join(tmpdir(), 'mqttcast-path-'));
    await symlink(process.execPath, path.join(bare, 'node'));
    try {
      const s = await startServer([], true, { ...process.env, PATH: bare });
      expect(s.output()).toMatch(/No ffmpeg on PATH: using the static build shipped in an npm package/);
      const out = path.join(dir, 'fallback.mp4');
      const r = await cli(['play', 'demo', '-o', out, '--duration', '2', '--broker', `mqtt://127.0.0.1:${s.mqtt}`]);
      expect(r.code, r.stderr).toBe(0);
      await expectDecodable([await readFile(out)]);
      expect(descendants(s.child.pid).filter((p) => p.comm === 'ffmpeg').map((p) => p.args[0])).toEqual(
        expect.arrayContaining([expect.stringContaining('@ffmpeg-installer')]),
      );
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });

  it('says which port is in use and how to change it, in one line, and exits 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await cli(['serve', '--http-port', String(port), '--mqtt-port', String(await freePort())]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`HTTP port ${port} on 127.0.0.1 is already in use`);
      expect(lines[0]).toContain('MQTTCAST_HTTP_PORT=');
    } finally {
      blocker.close();
    }
  });

  it('refuses a bad configuration with a message naming the key', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ httpPort: 'eighty', extra: 1 }));
    const r = await cli(['serve', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^mqttcast: invalid configuration at "(httpPort|\(top level\))"/);
    const env = await runCommand(process.execPath, [BIN, 'serve', '--print-config'], { timeoutMs: 30_000 });
    expect(env.code).toBe(0);
    expect(JSON.parse(env.stdout.toString('utf8'))).toMatchObject({ httpPort: 8080, prefix: 'video' });
  });
});

describe('mqttcast describe / play / stop', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer([], false);
  });
  afterAll(async () => {
    await stopChild(server.child);
  });
  const broker = (): string => `mqtt://127.0.0.1:${server.mqtt}`;

  it('play writes a decodable file with progress on stderr, ending after --duration', async () => {
    const out = path.join(dir, 'cli.mp4');
    const r = await cli(['play', 'demo', '-o', out, '--duration', '3', '--broker', broker()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\d+ fragments, [\d.]+ MB, first fragment after \d+ ms/);
    await expectDecodable([await readFile(out)]);
  });

  it('exits 2 with the coded error for a refused URL, 3 when the broker is unreachable', async () => {
    const refused = await cli(['describe', 'http://203.0.113.1/x.mp4', '--broker', broker()]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('URL_NOT_ALLOWED');
    const play = await cli(['play', 'http://203.0.113.1/x.mp4', '-o', path.join(dir, 'x.mp4'), '--broker', broker()]);
    expect(play.code).toBe(2);
    const unreachable = await cli(['describe', 'demo', '--broker', `mqtt://127.0.0.1:${await freePort()}`, '--timeout', '5']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('cannot reach the MQTT broker');
  });

  it('stop of an unknown session exits 2 with SESSION_NOT_FOUND', async () => {
    const r = await cli(['stop', 'video/session/nobody/live', '--broker', broker()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SESSION_NOT_FOUND');
  });
});
