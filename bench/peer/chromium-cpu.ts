/**
 * CPU of the Chromium this bench process launched (its descendants only, so a
 * browser someone else runs on the machine is not counted): the renderer
 * processes (page, demuxing, MSE/WebCodecs decoding) and the whole browser
 * (renderers, GPU/compositor, network, browser process).
 */
import { readFileSync } from 'node:fs';
import { readProcTree } from '../proc-sampler.js';

export interface ChromiumTicks {
  /** Clock ticks (utime+stime, with reaped children) of renderer processes. */
  renderer: number;
  /** Clock ticks of every Chromium process. */
  total: number;
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
  let renderer = 0;
  let total = 0;
  for (const p of readProcTree(process.pid).slice(1)) {
    const cmd = commandLine(p.pid);
    if (!/chromium/.test(cmd.split(' ')[0] ?? '')) continue;
    total += p.ticks;
    if (cmd.includes('--type=renderer')) renderer += p.ticks;
  }
  return { renderer, total, at: performance.now() };
}

/** CPU between two readings, % of one core (100 ticks a second on Linux). */
export function cpuPercent(a: ChromiumTicks, b: ChromiumTicks): { renderer: number; total: number } {
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks: number): number => (seconds > 0 ? Math.max(0, ticks) / seconds : Number.NaN);
  return { renderer: pct(b.renderer - a.renderer), total: pct(b.total - a.total) };
}
