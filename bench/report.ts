/**
 * Collects the bench's measurements, prints them as a table grouped by
 * scenario (plus ratio lines and notes), and writes every sample with machine
 * information to bench/results/<ISO date-time>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ratio, summarize, type Summary } from './stats.js';

export interface MetricRecord {
  scenario: string;
  variant: string;
  unit: string;
  samples: number[];
  summary?: Summary;
  note?: string;
}

export interface RatioRecord {
  label: string;
  value?: number;
  /** What was divided by what, with both numbers. */
  detail: string;
}

export interface NoteRecord {
  scenario: string;
  text: string;
}

export class Recorder {
  readonly metrics: MetricRecord[] = [];
  readonly ratios: RatioRecord[] = [];
  readonly notes: NoteRecord[] = [];

  /** Records one metric's samples; returns their summary (undefined when there are none). */
  metric(scenario: string, variant: string, unit: string, samples: readonly number[], note?: string): Summary | undefined {
    const summary = summarize(samples);
    this.metrics.push({ scenario, variant, unit, samples: samples.map(round), summary, ...(note ? { note } : {}) });
    return summary;
  }

  /** Median of a recorded metric. */
  median(scenario: string, variant: string): number | undefined {
    return this.metrics.find((m) => m.scenario === scenario && m.variant === variant)?.summary?.median;
  }

  /** Records a / b of two recorded medians (or plain numbers). */
  ratio(label: string, a: number | undefined, b: number | undefined, unit = ''): number | undefined {
    const value = ratio(a, b);
    const fmt = (x: number | undefined): string => (x === undefined ? 'n/a' : `${formatNumber(x)}${unit ? ` ${unit}` : ''}`);
    this.ratios.push({ label, value, detail: `${fmt(a)} / ${fmt(b)}` });
    return value;
  }

  note(scenario: string, text: string): void {
    this.notes.push({ scenario, text });
  }
}

function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000;
}

export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 10) return x.toFixed(2);
  return x.toFixed(3);
}

const COLUMNS = ['scenario', 'variant', 'n', 'median', 'p95', 'min', 'max', 'unit'] as const;

/** The table, grouped by scenario, then ratio lines, then notes. */
export function formatReport(rec: Recorder): string {
  const rows: string[][] = rec.metrics.map((m) => {
    const s = m.summary;
    const cell = (x: number | undefined): string => (x === undefined ? '-' : formatNumber(x));
    return [m.scenario, m.variant, String(s?.n ?? 0), cell(s?.median), cell(s?.p95), cell(s?.min), cell(s?.max), m.unit];
  });
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i >= 2 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ').trimEnd();
  const out = [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('-|-')];
  let previous = '';
  for (const [i, r] of rows.entries()) {
    const scenario = r[0]!;
    if (previous && scenario !== previous) out.push('');
    out.push(line(scenario === previous ? ['', ...r.slice(1)] : r));
    previous = scenario;
    const note = rec.metrics[i]!.note;
    if (note) out.push(`${' '.repeat(widths[0]!)} |   ↳ ${note}`);
  }
  if (rec.ratios.length > 0) {
    out.push('', 'Ratios:');
    for (const r of rec.ratios) out.push(`  ${r.label} = ${r.value === undefined ? 'n/a' : `${r.value.toFixed(2)}×`}  (${r.detail})`);
  }
  if (rec.notes.length > 0) {
    out.push('', 'Notes:');
    for (const n of rec.notes) out.push(`  [${n.scenario}] ${n.text}`);
  }
  return out.join('\n');
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).split('\n')[0]!.trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const text = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim();
    return text ? text.split('\n')[0]! : `unavailable (${e.message.split('\n')[0]})`;
  }
}

export interface MachineInfo {
  date: string;
  hostname: string;
  platform: string;
  kernel: string;
  cpus: number;
  cpuModel: string;
  memTotalMiB: number;
  loadAvg: number[];
  node: string;
  ffmpeg: string;
  mosquitto: string;
  chromium: string;
  /** Commit of the code measured, with "+dirty" when the work tree has changes. */
  commit: string;
}

function gitCommit(): string {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const head = firstLine('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  if (!/^[0-9a-f]{7,}$/.test(head)) return 'unknown (not a git checkout)';
  const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
  return dirty ? `${head}+dirty` : head;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    hostname: os.hostname(),
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    ffmpeg: firstLine('ffmpeg', ['-hide_banner', '-version']),
    mosquitto: firstLine('/usr/sbin/mosquitto', ['-h']),
    chromium: firstLine('/usr/bin/chromium', ['--version']),
    commit: gitCommit(),
  };
}

export interface BenchReport {
  mode: 'quick' | 'full';
  only?: string[];
  machine: MachineInfo;
  durationS: number;
  scenarios: Array<{ name: string; status: 'ok' | 'skipped' | 'failed'; durationS: number; message?: string }>;
  metrics: MetricRecord[];
  ratios: RatioRecord[];
  notes: NoteRecord[];
}

/** Writes the report as bench/results/<ISO date-time>.json and returns the path. */
export function writeReport(report: BenchReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const stamp = report.machine.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const file = path.join(dir, `${stamp}${report.mode === 'quick' ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
