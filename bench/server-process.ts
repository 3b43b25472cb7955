/**
 * Servers under measurement run as child processes, so /proc shows their CPU
 * and memory apart from the load generator (the bench process). Stopped by PID:
 * SIGTERM, then SIGKILL; any descendant still alive afterwards is killed by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasExited, stopChild } from '../test/helpers/child.js';
import { canConnect, freePorts } from '../test/helpers/ports.js';
import { readProcTree } from './proc-sampler.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAX_LOG = 64 * 1024;

export interface ChildServer {
  name: string;
  pid: number;
  mqttUrl: string;
  httpPort?: number;
  /** What the child wrote to stdout/stderr (tail). */
  output(): string;
  close(): Promise<void>;
}

/** Spawns `node <args>` in the repo root and waits until `readyPort` accepts TCP connections. */
export async function startNodeChild(name: string, args: string[], readyPort: number, timeoutMs = 30_000): Promise<ChildProcess & { pid: number; log(): string }> {
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MQTTCAST_LOG_FORMAT: 'json' },
  });
  let log = '';
  const append = (b: Buffer): void => {
    log = (log + b.toString('utf8')).slice(-MAX_LOG);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child) || child.pid === undefined) throw new Error(`${name} exited during start-up: ${log.trim().slice(-2000)}`);
    if (await canConnect(readyPort)) break;
    if (Date.now() > deadline) {
      await stopChild(child, { signal: 'SIGKILL' });
      throw new Error(`${name} did not listen on ${readyPort} within ${timeoutMs} ms: ${log.trim().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(child, { pid: child.pid, log: () => log });
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Stops a child by PID (SIGTERM, SIGKILL after the grace), gives its descendants
 * a second to exit with it, then SIGKILLs (by PID) any still alive and names them.
 */
export async function stopTree(child: ChildProcess & { pid: number }, graceMs = 10_000): Promise<string[]> {
  const tree = readProcTree(child.pid).slice(1);
  await stopChild(child, { signal: 'SIGTERM', graceMs });
  const deadline = Date.now() + 1000;
  while (tree.some((p) => alive(p.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  const leftovers: string[] = [];
  for (const p of tree.filter((q) => alive(q.pid))) {
    try {
      process.kill(p.pid, 'SIGKILL');
      leftovers.push(`${p.comm}[${p.pid}]`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  return leftovers;
}

export interface MqttcastServerOptions {
  allow?: string[];
  logLevel?: string;
  /** More `serve` flags, e.g. `--fragment-ms 200`. */
  extraArgs?: string[];
}

/** Polls `/healthz` until it says ok (the media server is connected to its broker); false after `timeoutMs`. */
export async function waitHealthy(httpPort: number, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`)
      .then(async (r) => ((await r.json()) as { ok?: boolean }).ok === true)
      .catch(() => false);
    if (ok) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `node bin/mqttcast.js serve` on free ports, embedded Aedes, demo 1280x720@30. */
export async function startMqttcastServer(opts: MqttcastServerOptions = {}): Promise<ChildServer> {
  const [httpPort, mqttPort] = (await freePorts(2)) as [number, number];
  const args = ['bin/mqttcast.js', 'serve', '--host', '127.0.0.1', '--http-port', String(httpPort), '--mqtt-port', String(mqttPort)];
  args.push('--log-level', opts.logLevel ?? 'warn');
  for (const a of opts.allow ?? []) args.push('--allow', a);
  args.push(...(opts.extraArgs ?? []));
  const child = await startNodeChild('mqttcast serve', args, mqttPort);
  // The MQTT listener binds before the media server connects: wait for /healthz to say so.
  if (!(await waitHealthy(httpPort))) {
    await stopTree(child);
    throw new Error(`mqttcast serve never became healthy: ${child.log().slice(-2000)}`);
  }
  return {
    name: 'mqttcast serve',
    pid: child.pid,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    httpPort,
    output: child.log,
    close: async () => {
      const left = await stopTree(child);
      if (left.length > 0) process.stderr.write(`bench: killed leftovers of mqttcast serve: ${left.join(', ')}\n`);
    },
  };
}
