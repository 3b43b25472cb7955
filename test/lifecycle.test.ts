/**
 * A daemon's lifecycle: SIGTERM with viewers attached, a broker restart under a
 * playing session, and hundreds of play/stop cycles without leaking a process
 * or a file descriptor.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { fragmentStartsWithSync, parseFragment, parseInit } from '../protocol/index.js';
import { stopChild, waitForExit } from './helpers/child.js';
import { startMosquitto, type MosquittoBroker } from './helpers/mosquitto.js';
import { freePort } from './helpers/ports.js';
import { descendants, mediaProcesses, openFdCount, processExists, zombies } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, SMALL_DEMO, Viewer } from './harness.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  expect(mediaProcesses()).toEqual([]);
});

describe('graceful shutdown', () => {
  it('on SIGTERM tells 10 viewers "ended (server_shutdown)", stops ffmpeg and exits 0', async () => {
    const mqttPort = await freePort();
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, 'serve', '--http-port', String(await freePort()), '--mqtt-port', String(mqttPort), '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MQTTCAST_CONFIG: '' } },
    );
    cleanup.push(() => stopChild(child));
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('Press Ctrl-C'), { message: 'server start' });
    const viewers = await Promise.all(Array.from({ length: 10 }, () => Viewer.connect(`mqtt://127.0.0.1:${mqttPort}`)));
    cleanup.push(() => Promise.all(viewers.map((v) => v.close())));
    for (const v of viewers) await v.play({ source: 'demo' });
    await Promise.all(viewers.map((v) => v.waitForFragments(1)));
    const ffmpegPids = descendants(child.pid).filter((p) => p.comm === 'ffmpeg').map((p) => p.pid);
    expect(ffmpegPids).toHaveLength(1);

    child.kill('SIGTERM');
    expect(await waitForExit(child, 15_000)).toBe(true);
    expect(child.exitCode).toBe(0);
    for (const v of viewers) {
      expect(v.statuses.find((s) => s.state === 'ended')).toMatchObject({ reason: 'server_shutdown' });
    }
    expect(ffmpegPids.filter(processExists)).toEqual([]);
  });
});

describe('broker loss', () => {
  it('resumes publishing to a playing session after the broker restarts', async () => {
    const broker: MosquittoBroker = await startMosquitto();
    cleanup.push(() => broker.close());
    const service: Service = await startTestService({ brokerUrl: broker.url });
    cleanup.push(() => service.close());
    const v = await Viewer.connect(broker.url, { reconnect: true });
    cleanup.push(() => v.close());
    v.startAcking(500);
    await v.play({ source: 'demo' });
    await v.waitForFragments(3);

    await broker.restart({ signal: 'SIGKILL' });
    const atRestart = v.fragments.length;
    await v.waitForFragments(atRestart + 5, 30_000);
    expect(service.mediaServer.sessionCount).toBe(1);
    expect(v.statuses.some((s) => s.state === 'ended' || s.state === 'error')).toBe(false);
    // The first fragment after the outage is a keyframe, so the player can go on decoding.
    const init = parseInit(v.media[0]!);
    const firstAfter = parseFragment(v.fragments[atRestart]!);
    expect(fragmentStartsWithSync(firstAfter, init.videoTrackId, init.tracks[0]!.defaultSampleFlags)).toBe(true);
  });

  it('ends sessions cleanly ("broker_lost") when the broker stays away longer than brokerLossMs', async () => {
    const broker: MosquittoBroker = await startMosquitto();
    cleanup.push(() => broker.close());
    const service: Service = await startTestService({ brokerUrl: broker.url, limits: { brokerLossMs: 1000, lingerMs: 200 } });
    cleanup.push(() => service.close());
    const v = await Viewer.connect(broker.url, { reconnect: true });
    cleanup.push(() => v.close());
    await v.play({ source: 'demo' });
    await v.waitForFragments(2);
    await broker.stop({ signal: 'SIGKILL' });
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'sessions ended while the broker is away' });
    await waitFor(() => mediaProcesses().length === 0, { message: 'ffmpeg stopped' });
    await broker.start();
    // The ended status was queued (QoS 1) and arrives once both sides are back.
    const ended = await v.waitForStatus((s) => s.state === 'ended', 30_000);
    expect(ended.reason).toBe('broker_lost');
  });
});

describe('no leaks', () => {
  it('500 play/stop cycles leave no ffmpeg, no zombie and no extra file descriptors', async () => {
    const service = await startTestService({ demo: { ...SMALL_DEMO, width: 160, height: 120 }, limits: { lingerMs: 0 } });
    cleanup.push(() => service.close());
    const v = await Viewer.connect(service.urls.mqtt);
    cleanup.push(() => v.close());
    // Warm-up cycle so lazily opened descriptors (sockets, timers) exist before counting.
    await v.play({ source: 'demo' });
    await v.waitForStatus((s) => s.state === 'playing');
    await v.send('stop', {});
    await v.waitForStatus((s) => s.state === 'ended');
    await waitFor(() => mediaProcesses().length === 0);
    const fdsBefore = openFdCount();
    const startsBefore = service.mediaServer.metrics.ffmpegStarts.get();

    for (let i = 0; i < 500; i++) {
      const ended = v.statuses.filter((s) => s.state === 'ended').length;
      await v.play({ source: 'demo' });
      if (i % 50 === 0) await v.waitForStatus((s) => s.state === 'playing' && v.fragments.length > 0);
      await v.send('stop', {});
      await waitFor(() => v.statuses.filter((s) => s.state === 'ended').length > ended, { message: `cycle ${i} ended` });
    }

    await waitFor(() => mediaProcesses().length === 0 && service.mediaServer.pool.size === 0, { message: 'every ffmpeg reaped' });
    expect(service.mediaServer.metrics.ffmpegStarts.get() - startsBefore).toBeGreaterThan(50); // cycles really spawned ffmpeg
    expect(zombies()).toEqual([]);
    expect(service.mediaServer.sessionCount).toBe(0);
    expect(openFdCount() - fdsBefore).toBeLessThanOrEqual(4);
  }, 300_000);
});
