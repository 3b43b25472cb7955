/**
 * CPU and RSS of a process tree from /proc (Linux): a root PID and all its
 * descendants, sampled at a fixed interval. CPU is utime+stime (plus the
 * cutime+cstime of children already reaped, so an ffmpeg that exits inside a
 * window is still counted) as a percentage of one core.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcReading {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  rssBytes: number;
}

export interface IntervalSample {
  /** Seconds since the sampler started, at the end of the interval. */
  atS: number;
  cpuPct: number;
  byGroup: Record<string, number>;
  rssBytes: number;
  processes: number;
}

export interface TreeWindow {
  elapsedS: number;
  /** CPU over the whole window, % of one core. */
  cpuPct: number;
  byGroup: Record<string, number>;
  rssFirstBytes: number;
  rssMaxBytes: number;
  rssLastBytes: number;
  intervals: IntervalSample[];
}

function getconf(name: string, fallback: number): number {
  try {
    const v = Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : fallback;
  } catch {
    return fallback; // getconf missing: the Linux defaults
  }
}

const CLK_TCK = getconf('CLK_TCK', 100);
const PAGE_SIZE = getconf('PAGESIZE', 4096);

/** Parses /proc/<pid>/stat; `comm` may contain spaces and ')' so fields start after the last ')'. */
export function parseStatLine(text: string): ProcReading | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14, rss field 24 (man 5 proc).
  const num = (field: number): number => Number(f[field - 3]);
  const reading = {
    pid: Number(text.slice(0, open).trim()),
    ppid: num(4),
    comm: text.slice(open + 1, close),
    ticks: num(14) + num(15) + num(16) + num(17),
    rssBytes: num(24) * PAGE_SIZE,
  };
  return Number.isFinite(reading.ticks) && Number.isFinite(reading.pid) ? reading : undefined;
}

/** The root and every descendant (by parent links), as they are now. */
export function readProcTree(rootPid: number): ProcReading[] {
  const byParent = new Map<number, ProcReading[]>();
  let root: ProcReading | undefined;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let r: ProcReading | undefined;
    try {
      r = parseStatLine(readFileSync(`/proc/${name}/stat`, 'utf8'));
    } catch {
      continue; // exited while we listed /proc
    }
    if (!r) continue;
    if (r.pid === rootPid) root = r;
    const list = byParent.get(r.ppid);
    if (list) list.push(r);
    else byParent.set(r.ppid, [r]);
  }
  if (!root) return [];
  const out = [root];
  for (let i = 0; i < out.length && i < 10_000; i++) out.push(...(byParent.get(out[i]!.pid) ?? []));
  return out;
}

/** Default grouping: ffmpeg/ffprobe vs everything else (node, broker). */
export function defaultGroup(p: ProcReading): string {
  return /^ff(mpeg|probe)$/.test(p.comm) ? 'ffmpeg' : p.comm.startsWith('node') || p.comm === 'MainThread' ? 'node' : p.comm;
}

function cpuBetween(
  prev: Map<number, ProcReading>,
  now: ProcReading[],
  seconds: number,
  group: (p: ProcReading) => string,
): { cpuPct: number; byGroup: Record<string, number> } {
  const byGroup: Record<string, number> = {};
  let total = 0;
  for (const p of now) {
    const before = prev.get(p.pid);
    const delta = Math.max(0, p.ticks - (before && before.comm === p.comm ? before.ticks : 0));
    const pct = seconds > 0 ? ((delta / CLK_TCK) / seconds) * 100 : 0;
    total += pct;
    const g = group(p);
    byGroup[g] = (byGroup[g] ?? 0) + pct;
  }
  return { cpuPct: total, byGroup };
}

const sumRss = (ps: readonly ProcReading[]): number => ps.reduce((s, p) => s + p.rssBytes, 0);
const byPid = (ps: readonly ProcReading[]): Map<number, ProcReading> => new Map(ps.map((p) => [p.pid, p]));

export class ProcSampler {
  private timer?: NodeJS.Timeout;
  private first: ProcReading[] = [];
  private last: ProcReading[] = [];
  private startedAt = 0;
  private lastAt = 0;
  private readonly intervals: IntervalSample[] = [];

  constructor(
    readonly rootPid: number,
    private readonly intervalMs = 1000,
    private readonly group: (p: ProcReading) => string = defaultGroup,
  ) {}

  start(): this {
    this.first = this.last = readProcTree(this.rootPid);
    this.startedAt = this.lastAt = performance.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs).unref();
    return this;
  }

  private tick(final = false): void {
    const now = readProcTree(this.rootPid);
    const at = performance.now();
    // A short last interval would be mostly tick quantisation (10 ms a tick): keep it out of the samples.
    if (!final || at - this.lastAt >= this.intervalMs / 2) {
      const cpu = cpuBetween(byPid(this.last), now, (at - this.lastAt) / 1000, this.group);
      this.intervals.push({ atS: (at - this.startedAt) / 1000, ...cpu, rssBytes: sumRss(now), processes: now.length });
    }
    this.last = now;
    this.lastAt = at;
  }

  /** Stops sampling and summarises the whole window (one last reading is taken now). */
  stop(): TreeWindow {
    clearInterval(this.timer);
    this.tick(true);
    const elapsedS = (this.lastAt - this.startedAt) / 1000;
    const whole = cpuBetween(byPid(this.first), this.last, elapsedS, this.group);
    const rss = this.intervals.map((s) => s.rssBytes);
    return {
      elapsedS,
      cpuPct: whole.cpuPct,
      byGroup: whole.byGroup,
      rssFirstBytes: sumRss(this.first),
      rssMaxBytes: Math.max(sumRss(this.first), ...rss),
      rssLastBytes: rss.at(-1) ?? sumRss(this.first),
      intervals: [...this.intervals],
    };
  }
}
