/**
 * Real deployments: the media server on an existing Mosquitto, browsers through
 * the WebSocket gateway, several media servers sharing the work, and a daemon
 * whose allowlist reloads on SIGHUP without dropping anyone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { runCommand, stopChild } from './helpers/child.js';
import { startMosquitto, type MosquittoBroker } from './helpers/mosquitto.js';
import { freePort } from './helpers/ports.js';
import { descendants, mediaProcesses, processExists } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';
import { ensureClientBuilt, launchChromium, screenshot, videoState } from './browser/chromium.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
let mosquitto: MosquittoBroker;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  mosquitto = await startMosquitto();
});

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

afterAll(async () => {
  await mosquitto?.close();
  expect(mediaProcesses()).toEqual([]);
});

interface Daemon {
  child: ChildProcess;
  httpPort: number;
  output(): string;
}

async function daemon(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const httpPort = await freePort();
  const child = spawn(process.execPath, [BIN, ...args, '--http-port', String(httpPort), '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  cleanup.push(() => stopChild(child));
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('Press Ctrl-C') || child.exitCode !== null, { message: `${args[0]} start` });
  if (child.exitCode !== null) throw new Error(`${args[0]} exited: ${out}`);
  return { child, httpPort, output: () => out };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('on an existing Mosquitto', () => {
  it('describes, plays and stops through Mosquitto', async () => {
    const service: Service = await startTestService({ brokerUrl: mosquitto.url });
    cleanup.push(() => service.close());
    const v = await Viewer.connect(mosquitto.url);
    cleanup.push(() => v.close());
    expect(await v.describe({ source: 'demo' })).toMatchObject({ ok: true, mimeCodec: expect.stringContaining('avc1.') });
    await v.play({ source: 'demo' });
    await v.waitForFragments(3);
    await v.send('stop', {});
    await v.waitForStatus((s) => s.state === 'ended' && s.reason === 'stop');
  });

  it('plays the demo in Chromium through the WebSocket gateway in front of Mosquitto', async () => {
    await ensureClientBuilt();
    const service: Service = await startTestService({ brokerUrl: mosquitto.url });
    cleanup.push(() => service.close());
    expect(service.gateway).toBeDefined();
    const browser = await launchChromium();
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(service.urls.web);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
    await page.click('#start');
    const first = await waitFor(async () => {
      const s = await videoState(page);
      return s.frames > 0 && s.currentTime > 0 ? s : undefined;
    }, { timeoutMs: 30_000, message: 'video plays through the gateway' });
    await waitFor(async () => (await videoState(page)).currentTime > first.currentTime + 0.5, { message: 'currentTime advances' });
    await screenshot(page, 'player-gateway-mosquitto');
    expect(service.gateway!.connections).toBe(1);
    expect(browser.consoleErrors).toEqual([]);
  });
});

describe('several media servers on one Mosquitto', () => {
  it('splits 20 plays between two servers, each handled once; stop works for all; killing one ends only its sessions', async () => {
    const args = ['media-server', '--broker', mosquitto.url, '--share-group', 'cast'];
    const a = await daemon(args);
    const b = await daemon(args);
    const viewers = await Promise.all(Array.from({ length: 20 }, () => Viewer.connect(mosquitto.url)));
    cleanup.push(() => Promise.all(viewers.map((v) => v.close())));
    for (const v of viewers) await v.play({ source: 'demo' });
    await Promise.all(viewers.map((v) => v.waitForFragments(2)));
    const [na, nb] = [await metric(a.httpPort, 'mqttcast_sessions'), await metric(b.httpPort, 'mqttcast_sessions')];
    expect(na + nb).toBe(20); // each play handled exactly once
    expect(na).toBeGreaterThan(0);
    expect(nb).toBeGreaterThan(0);
    for (const v of viewers) expect(v.media.filter((m) => m.subarray(4, 8).toString() === 'ftyp')).toHaveLength(1);

    // stop reaches the owner, whichever it is
    for (const v of viewers.slice(0, 4)) await v.send('stop', {});
    await Promise.all(viewers.slice(0, 4).map((v) => v.waitForStatus((s) => s.state === 'ended' && s.reason === 'stop')));
    await waitFor(async () => (await metric(a.httpPort, 'mqttcast_sessions')) + (await metric(b.httpPort, 'mqttcast_sessions')) === 16, {
      message: 'four sessions stopped',
    });

    // kill -9 server A: only its viewers stop receiving
    const aFfmpeg = descendants(a.child.pid).filter((p) => p.comm === 'ffmpeg').map((p) => p.pid);
    a.child.kill('SIGKILL');
    const rest = viewers.slice(4);
    const bSessions = await metric(b.httpPort, 'mqttcast_sessions');
    expect(bSessions).toBeGreaterThan(0);
    // Let what A had in flight drain, then see who still receives.
    const settle = rest.map((v) => v.fragments.length);
    await waitFor(() => rest.some((v, i) => v.fragments.length > settle[i]! + 5), { message: 'B keeps streaming' });
    const window = rest.map((v) => v.fragments.length);
    await waitFor(() => rest.some((v, i) => v.fragments.length > window[i]! + 5), { message: 'B keeps streaming' });
    const flowing = rest.filter((v, i) => v.fragments.length > window[i]!);
    expect(flowing.length).toBe(bSessions); // exactly B's sessions go on, A's stopped
    expect(await metric(b.httpPort, 'mqttcast_sessions')).toBe(bSessions);
    await waitFor(() => aFfmpeg.every((pid) => !processExists(pid)), { message: "A's ffmpeg dies with it (SIGPIPE)" });
  });
});

describe('daemon configuration', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-daemon-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['an unknown key', { httpPort: 8080, colour: 'blue' }, 'unknown key "colour"'],
    ['a wrong type', { limits: { leaseMs: 'long' } }, '"limits.leaseMs"'],
    ['a bad nested value', { demo: { fps: 1000 } }, '"demo.fps"'],
  ])('refuses a config file with %s: exit 1, one line naming the key', async (_name, body, key) => {
    const file = path.join(dir, `bad-${Math.random()}.json`);
    await writeFile(file, JSON.stringify(body));
    const r = await runCommand(process.execPath, [BIN, 'media-server', '--config', file], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(key);
  });

  it('refuses an unreadable config file, naming it', async () => {
    const r = await runCommand(process.execPath, [BIN, 'serve', '--config', path.join(dir, 'missing.yaml')], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^mqttcast: cannot read config file .*missing\.yaml: ENOENT$/);
  });

  it('reloads the allowlist on SIGHUP without ending running sessions', async () => {
    const file = path.join(dir, 'reload.yaml');
    await writeFile(file, 'allow:\n  - http://198.51.100.1/old/*\n');
    const d = await daemon(['media-server', '--broker', mosquitto.url, '--config', file]);
    const v = await Viewer.connect(mosquitto.url);
    cleanup.push(() => v.close());
    v.startAcking(500);
    await v.play({ source: 'demo' });
    await v.waitForFragments(2);
    const probe = await Viewer.connect(mosquitto.url);
    cleanup.push(() => probe.close());
    // A name that does not resolve: allowed → SOURCE_UNAVAILABLE, not allowed → URL_NOT_ALLOWED.
    const fresh = 'http://media.invalid/new/x.mp4';
    expect(await probe.describe({ url: fresh })).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED' });

    await writeFile(file, 'allow:\n  - http://media.invalid/new/*\n');
    d.child.kill('SIGHUP');
    await waitFor(async () => ((await probe.describe({ url: fresh })).code === 'SOURCE_UNAVAILABLE' ? true : undefined), {
      message: 'new entry in force',
    });
    const old = await probe.describe({ url: 'http://198.51.100.1/old/x.mp4' });
    expect(old).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED' });
    const n = v.fragments.length;
    await v.waitForFragments(n + 3);
    expect(v.statuses.some((s) => s.state === 'ended' || s.state === 'error')).toBe(false);
    expect(d.child.exitCode).toBeNull();
  });
});
