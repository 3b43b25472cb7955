/**
 * One ffmpeg or ffprobe child, supervised: spawned with an argument array (no
 * shell) in its own process group, killed as a group on every exit path and
 * always reaped. If this Node process dies, ffmpeg's next write to the closed
 * stdout pipe kills it (SIGPIPE), and the exit handler below kills what it can.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

const STDERR_KEEP_BYTES = 8 * 1024;
const live = new Set<ChildProcessByStdio<Writable | null, Readable, Readable>>();
let spawned = 0;

process.once('exit', () => {
  for (const child of live) killGroup(child.pid, 'SIGKILL');
});

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines ffmpeg wrote to stderr, for diagnostics. */
  stderr: string;
}

/** Kernel limits for each ffmpeg/ffprobe; Node cannot set rlimits itself, util-linux prlimit can (it execs in place). */
export interface ProcessLimits {
  addressSpaceBytes: number;
  openFiles: number;
}

const PRLIMIT = '/usr/bin/prlimit';
let prlimitAvailable: boolean | undefined;

function withLimits(binary: string, args: readonly string[], limits: ProcessLimits | undefined): [string, string[]] {
  if (!limits) return [binary, [...args]];
  if (prlimitAvailable === undefined) {
    try {
      accessSync(PRLIMIT, constants.X_OK);
      prlimitAvailable = true;
    } catch {
      prlimitAvailable = false;
    }
  }
  if (!prlimitAvailable) return [binary, [...args]];
  return [PRLIMIT, [`--as=${limits.addressSpaceBytes}`, `--nofile=${limits.openFiles}`, '--core=0', '--', binary, ...args]];
}

/** Extras for a process fed by us (the CLI's publish): a stdin pipe, and death with its parent. */
export interface SpawnExtras {
  /** 'pipe' gives the process a stdin this side writes (default 'ignore'). */
  stdin?: 'ignore' | 'pipe';
  /** Signal the kernel sends the process when this Node process dies, even by SIGKILL (util-linux setpriv). */
  parentDeathSignal?: NodeJS.Signals;
}

const SETPRIV = '/usr/bin/setpriv';

function withParentDeath([file, argv]: [string, string[]], signal: NodeJS.Signals | undefined): [string, string[]] {
  if (!signal) return [file, argv];
  try {
    accessSync(SETPRIV, constants.X_OK);
  } catch {
    return [file, argv]; // no setpriv: the SIGPIPE on stdout and the exit handler still end it
  }
  return [SETPRIV, [`--pdeathsig=${signal.replace(/^SIG/, '')}`, '--', file, ...argv]];
}

export class FfmpegProcess {
  readonly pid: number;
  readonly stdout: Readable;
  /** The process's stdin when spawned with `stdin: 'pipe'`, else null. */
  readonly stdin: Writable | null;
  /** Resolves once the process has exited and been reaped. */
  readonly exited: Promise<ExitInfo>;
  private stderrTail = '';
  private exitInfo: ExitInfo | undefined;

  constructor(binary: string, args: readonly string[], limits?: ProcessLimits, extras: SpawnExtras = {}) {
    const [file, argv] = withParentDeath(withLimits(binary, args, limits), extras.parentDeathSignal);
    const stdio: ['ignore' | 'pipe', 'pipe', 'pipe'] = [extras.stdin ?? 'ignore', 'pipe', 'pipe'];
    const child = spawn(file, argv, { stdio, detached: true, shell: false }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
    live.add(child);
    spawned++;
    this.stdout = child.stdout;
    this.stdin = child.stdin;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEEP_BYTES);
    });
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        live.delete(child);
        this.exitInfo = { code: null, signal: null, stderr: `could not start ${binary}: ${err.message}` };
        resolve(this.exitInfo);
      });
      child.once('close', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal, stderr: this.stderrTail };
        resolve(this.exitInfo);
      });
    });
    this.pid = child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get stderr(): string {
    return this.stderrTail;
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when reaped. */
  async kill(graceMs = 2000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    killGroup(this.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The last meaningful stderr line, trimmed for use in a user-facing message. */
export function lastErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

/** ffmpeg/ffprobe processes started by this Node process so far. */
export function spawnCount(): number {
  return spawned;
}

/** Number of ffmpeg/ffprobe children this process is supervising right now. */
export function liveProcessCount(): number {
  return live.size;
}
