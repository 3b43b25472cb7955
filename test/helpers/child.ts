import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command (SIGKILL, by PID) if it runs longer than this (default 60 000 ms). */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. Stdin is closed immediately if omitted. */
  input?: string | Buffer;
  cwd?: string;
  /** The whole environment of the command (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** True once the child has exited (its exit status has been collected by Node). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true when the child exits, false if it is still running after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(hasExited(child));
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

export interface StopOptions {
  signal?: NodeJS.Signals;
  /** How long to wait after `signal` before SIGKILL (default 3000 ms). */
  graceMs?: number;
  /** Signal the whole process group (only for children spawned with `detached: true`). */
  group?: boolean;
}

function signalChild(child: ChildProcess, signal: NodeJS.Signals, group: boolean): void {
  const pid = child.pid;
  if (pid === undefined || hasExited(child)) return;
  try {
    process.kill(group ? -pid : pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Stops a child we spawned: `signal` (SIGTERM), then SIGKILL after `graceMs`, and waits
 * until Node has reaped it. For a process group, the group is SIGKILLed at the end too
 * so grandchildren cannot linger.
 */
export async function stopChild(child: ChildProcess, opts: StopOptions = {}): Promise<void> {
  const group = opts.group ?? false;
  if (child.pid === undefined) return;
  if (!hasExited(child)) {
    signalChild(child, opts.signal ?? 'SIGTERM', group);
    if (!(await waitForExit(child, opts.graceMs ?? 3000))) {
      signalChild(child, 'SIGKILL', group);
      await waitForExit(child, 10_000);
    }
  }
  if (group) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  child.stdin?.destroy();
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** Runs a command (argument array, no shell) to completion and collects its output. */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'] };
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    if (opts.env !== undefined) spawnOpts.env = opts.env;
    const child = spawn(cmd, [...args], spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.stdin?.on('error', () => undefined); // EPIPE when the command ignores stdin
    child.stdin?.end(opts.input ?? '');
    const timer = setTimeout(() => signalChild(child, 'SIGKILL', false), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Like runCommand but rejects (with stderr in the message) unless the exit code is 0. */
export async function runChecked(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await runCommand(cmd, args, opts);
  if (result.code !== 0) {
    const how = result.signal ? `signal ${result.signal}` : `code ${String(result.code)}`;
    throw new Error(`${cmd} ${args.join(' ')} failed with ${how}: ${result.stderr.trim()}`);
  }
  return result;
}
