/**
 * CPU of the Chromium this bench process launched (its descendants only, so a
 * browser someone else runs on the machine is not counted), by process type:
 * renderer (page, demuxing, MSE/WebCodecs decoding), gpu-process (the
 * compositor, software here), utility (network, audio), browser.
 */
import { readFileSync } from 'node:fs';
import { readProcTree } from '../proc-sampler.js';

export interface ChromiumTicks {
  /** Clock ticks (utime+stime, with reaped children) by process type. */
  byType: Record<string, number>;
  at: number;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return ''; // exited between listing and reading: its ticks went to its parent's reaped-children count
  }
}

export function chromiumTicks(): ChromiumTicks {
  const byType: Record<string, number> = {};
  for (const p of readProcTree(process.pid).slice(1)) {
    const cmd = commandLine(p.pid);
    if (!/chromium/.test(cmd.split(' ')[0] ?? '')) continue;
    const type = /--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser';
    byType[type] = (byType[type] ?? 0) + p.ticks;
  }
  return { byType, at: performance.now() };
}

export interface ChromiumCpu {
  /** % of one core (100 ticks a second on Linux). */
  renderer: number;
  total: number;
  byType: Record<string, number>;
}

/** CPU between two readings, % of one core. */
export function cpuPercent(a: ChromiumTicks, b: ChromiumTicks): ChromiumCpu {
  const seconds = (b.at - a.at) / 1000;
  const byType: Record<string, number> = {};
  for (const type of Object.keys(b.byType)) byType[type] = Math.max(0, b.byType[type]! - (a.byType[type] ?? 0)) / seconds;
  const total = Object.values(byType).reduce((s, x) => s + x, 0);
  return { renderer: byType.renderer ?? 0, total, byType };
}
