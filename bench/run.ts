/**
 * `npm run bench [-- --quick] [-- --only ttff,fanout]`: starts everything it
 * needs on 127.0.0.1 (random ports), runs the scenarios, prints a table and
 * writes bench/results/<ISO date-time>.json. Stops by itself: every scenario
 * has a time limit, the whole run has one, and SIGINT/SIGTERM close everything.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mediaProcesses } from '../test/helpers/processes.js';
import { Cleanup, abortableSleep, type Scenario } from './context.js';
import { Recorder, formatReport, machineInfo, writeReport, type BenchReport } from './report.js';
import { REPO_ROOT } from './server-process.js';
import { brokerScenario } from './scenarios/broker.js';
import { channelsScenario } from './scenarios/channels.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { latencyScenario } from './scenarios/latency.js';
import { peerScenario } from './scenarios/peer.js';
import { lowLatencyScenario } from './scenarios/low-latency.js';
import { slowViewerScenario } from './scenarios/slow-viewer.js';
import { snapshotsScenario } from './scenarios/snapshots.js';
import { ttffBrowserScenario } from './scenarios/ttff-browser.js';
import { ttffScenario } from './scenarios/ttff.js';

const SCENARIOS: Scenario[] = [ttffScenario, ttffBrowserScenario, latencyScenario, lowLatencyScenario, fanoutScenario, brokerScenario, slowViewerScenario, channelsScenario, peerScenario, snapshotsScenario];
/**
 * Per scenario (unless it sets its own timeLimitS) and for the whole run; the bench stops itself when
 * these pass. The totals include low-latency's own limits (quick 150 s; full 23 min: 10 min of playback per mode).
 * Raised for `snapshots` (quick 420 → 460 s, full 48 → 53 min): it takes about 45 s quick (a 30 s CPU
 * window after 3 × 20 pictures) and about 5 min full (two 120 s windows, 1 then 4 channels).
 */
const LIMITS = { quick: { scenarioS: 90, totalS: 460 }, full: { scenarioS: 330, totalS: 53 * 60 } };

const USAGE = `usage: npx tsx bench/run.ts [--quick] [--only <scenario>[,<scenario>...]]
scenarios: ${SCENARIOS.map((s) => `\n  ${s.name.padEnd(13)} ${s.description}`).join('')}`;

function parseCli(): { quick: boolean; only?: string[] } {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = values.only?.flatMap((o) => o.split(',')).map((o) => o.trim()).filter(Boolean);
  const unknown = only?.filter((o) => !SCENARIOS.some((s) => s.name === o)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario: ${unknown.join(', ')}\n${USAGE}\n`);
    process.exit(1);
  }
  return { quick: values.quick ?? false, only };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Kills (by PID) any ffmpeg still under this process; returns what was killed. */
function killStrayMedia(): string[] {
  return mediaProcesses().map((p) => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
    return `${p.comm}[${p.pid}]`;
  });
}

async function main(): Promise<void> {
  const { quick, only } = parseCli();
  const started = performance.now();
  const log = (msg: string): void => {
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
  };
  const limits = quick ? LIMITS.quick : LIMITS.full;
  const rec = new Recorder();
  const cleanup = new Cleanup(log);
  const machine = machineInfo();
  const report: BenchReport = { mode: quick ? 'quick' : 'full', ...(only ? { only } : {}), machine, durationS: 0, scenarios: [], metrics: rec.metrics, ratios: rec.ratios, notes: rec.notes };

  let stopping = false;
  let current: AbortController | undefined;
  const abort = (why: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    current?.abort();
    log(`${why}: closing everything`);
    void cleanup.closeAll().finally(() => {
      const stray = killStrayMedia();
      if (stray.length > 0) log(`killed stray media processes: ${stray.join(', ')}`);
      process.exit(code);
    });
  };
  process.once('SIGINT', () => abort('SIGINT', 130));
  process.once('SIGTERM', () => abort('SIGTERM', 143));
  const watchdog = setTimeout(() => abort(`the whole bench passed its ${limits.totalS} s limit`, 1), limits.totalS * 1000);
  watchdog.unref();

  log(`mqttcast bench, ${quick ? 'quick' : 'full'} mode, commit ${machine.commit}, ${machine.cpus} CPUs, node ${machine.node}, ${machine.ffmpeg.split(' Copyright')[0]}`);
  for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.name))) {
    const t0 = performance.now();
    log(`scenario ${scenario.name}: ${scenario.description}`);
    const notesBefore = rec.notes.length;
    const controller = new AbortController();
    current = controller;
    const ctx = { quick, rec, cleanup, log, signal: controller.signal, sleep: abortableSleep(controller.signal) };
    try {
      const limitS = scenario.timeLimitS?.[quick ? 'quick' : 'full'] ?? limits.scenarioS;
      await withTimeout(scenario.run(ctx), limitS * 1000, `scenario ${scenario.name}`).catch((err: unknown) => {
        controller.abort();
        throw err;
      });
      const skipped = rec.notes.slice(notesBefore).some((n) => n.scenario === scenario.name && n.text.startsWith('skipped'));
      report.scenarios.push({ name: scenario.name, status: skipped ? 'skipped' : 'ok', durationS: (performance.now() - t0) / 1000 });
    } catch (err) {
      const message = (err as Error).message;
      log(`scenario ${scenario.name} failed: ${message}`);
      rec.note(scenario.name, `FAILED: ${message}`);
      report.scenarios.push({ name: scenario.name, status: 'failed', durationS: (performance.now() - t0) / 1000, message });
    } finally {
      await cleanup.closeAll();
    }
    if (stopping) return;
  }
  clearTimeout(watchdog);
  const stray = killStrayMedia();
  if (stray.length > 0) rec.note('bench', `stray media processes after the run were killed: ${stray.join(', ')}`);

  report.durationS = Math.round((performance.now() - started) / 100) / 10;
  const file = writeReport(report, path.join(REPO_ROOT, 'bench', 'results'));
  process.stdout.write(`\n${formatReport(rec)}\n\n`);
  for (const s of report.scenarios) process.stdout.write(`  ${s.name.padEnd(13)} ${s.status.padEnd(8)} ${s.durationS.toFixed(1)} s${s.message ? `  ${s.message}` : ''}\n`);
  process.stdout.write(`\n${report.mode} run took ${report.durationS} s; results: ${path.relative(process.cwd(), file)}\n`);
  process.exit(report.scenarios.some((s) => s.status === 'failed') ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
