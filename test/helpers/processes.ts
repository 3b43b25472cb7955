import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** One process as seen in /proc (Linux only). */
export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** R, S, D, Z, T, ... */
  state: string;
  /** Kernel command name (at most 15 characters, may contain spaces and parentheses). */
  comm: string;
  /** argv from /proc/<pid>/cmdline (empty for zombies and kernel threads). */
  args: string[];
}

/**
 * Parses the content of /proc/<pid>/stat. `comm` is enclosed in parentheses and may
 * itself contain spaces and ')' so everything after the LAST ')' is the field list.
 */
export function parseStat(text: string): Omit<ProcInfo, 'args'> | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const [state, ppid, pgid] = fields;
  if (state === undefined || ppid === undefined || pgid === undefined || !Number.isInteger(pid)) return undefined;
  return { pid, ppid: Number(ppid), pgid: Number(pgid), state, comm };
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (!stat) return undefined;
    let args: string[] = [];
    try {
      const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      args = raw.split('\0');
      if (args.at(-1) === '') args.pop();
    } catch {
      args = []; // the process exited between the two reads, or cmdline is unreadable
    }
    return { ...stat, args };
  } catch {
    return undefined; // the process exited while we listed /proc
  }
}

/** Every process currently visible in /proc. */
export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProc(Number(name));
    if (info) out.push(info);
  }
  return out;
}

/** Processes descended from `rootPid` by parent links (any process group), excluding the root. */
export function descendants(rootPid: number = process.pid): ProcInfo[] {
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of listProcesses()) {
    const siblings = byParent.get(p.ppid);
    if (siblings) siblings.push(p);
    else byParent.set(p.ppid, [p]);
  }
  const result: ProcInfo[] = [];
  const seen = new Set<number>([rootPid]);
  const queue = [rootPid];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const child of byParent.get(parent) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      result.push(child);
      queue.push(child.pid);
    }
  }
  return result;
}

const MEDIA_NAME = /(ffmpeg|ffprobe)$/i;

/** True for an ffmpeg/ffprobe process (by comm, or by the basename of argv[0]). */
export function isMediaProcess(p: ProcInfo): boolean {
  if (p.comm === 'ffmpeg' || p.comm === 'ffprobe') return true;
  const argv0 = p.args[0];
  return argv0 !== undefined && argv0 !== '' && MEDIA_NAME.test(basename(argv0));
}

/** ffmpeg/ffprobe processes under `rootPid` (including detached ones in their own group). */
export function mediaProcesses(rootPid: number = process.pid): ProcInfo[] {
  return descendants(rootPid).filter(isMediaProcess);
}

/** Descendants of `rootPid` that have exited but not been reaped. */
export function zombies(rootPid: number = process.pid): ProcInfo[] {
  return descendants(rootPid).filter((p) => p.state === 'Z');
}

/** Number of open file descriptors of `pid` (entries in /proc/<pid>/fd). */
export function openFdCount(pid: number = process.pid): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Whether a process with this PID currently exists (zombies count as existing). */
export function processExists(pid: number): boolean {
  return readProc(pid) !== undefined;
}
