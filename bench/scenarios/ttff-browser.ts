/**
 * Hook for play → first frame shown in Chromium (the player stamps it with
 * requestVideoFrameCallback and exposes `window.mqttcast.stats.ttffMs`).
 * Skipped with a note while the browser player is not built. The first page
 * plays a cold source; the following pages find it open (warm).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startTestService } from '../../test/harness.js';
import type { Scenario } from '../context.js';
import { REPO_ROOT } from '../server-process.js';
import { DEMO } from './ttff.js';

const CLIENT_INDEX = path.join(REPO_ROOT, 'dist', 'client', 'index.html');

interface PageDebug {
  mqttcast?: { connection?: string; stats?: { ttffMs?: number | null } };
}

export const ttffBrowserScenario: Scenario = {
  name: 'ttff-browser',
  description: 'play → first frame in Chromium (player stats.ttffMs), cold then warm',
  async run(ctx) {
    if (!existsSync(CLIENT_INDEX)) {
      ctx.log('ttff-browser: browser player not built');
      ctx.rec.note('ttff-browser', 'skipped: browser player not built (dist/client/index.html missing; run npm run build:client)');
      return;
    }
    const svc = ctx.cleanup.add('mqttcast service', await startTestService({ demo: DEMO }));
    const profile = await mkdtemp(path.join(tmpdir(), 'mqttcast-bench-chromium-'));
    ctx.cleanup.add('chromium profile', { close: () => rm(profile, { recursive: true, force: true }) });
    const browser = ctx.cleanup.add('chromium', await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'],
    }));
    const samples: number[] = [];
    for (let i = 0; i < (ctx.quick ? 2 : 5); i++) {
      const page = await browser.newPage();
      try {
        await page.goto(svc.urls.web);
        await page.waitForFunction(() => (window as unknown as PageDebug).mqttcast?.connection === 'connected', undefined, { timeout: 15_000 });
        await page.selectOption('#source', 'demo');
        await page.click('#start');
        const handle = await page.waitForFunction(() => (window as unknown as PageDebug).mqttcast?.stats?.ttffMs ?? false, undefined, { timeout: 30_000 });
        samples.push(Number(await handle.jsonValue()));
      } finally {
        await page.close();
      }
    }
    ctx.rec.metric('ttff-browser', 'demo cold: play→first frame (Chromium)', 'ms', samples.slice(0, 1));
    ctx.rec.metric('ttff-browser', 'demo warm: play→first frame (Chromium)', 'ms', samples.slice(1));
  },
};
