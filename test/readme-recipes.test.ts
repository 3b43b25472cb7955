/**
 * Every shell recipe in README.md, run exactly as written against the embedded
 * broker and against Mosquitto (open and secure mode); only MQTT_PORT, MQTT_USER
 * and MQTT_PASSWORD are set in the environment, as a reader would.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../broker/passwords.js';
import type { Service } from '../media-server/service.js';
import { runCommand, stopChild } from './helpers/child.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { listProcesses, mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService } from './harness.js';
import { expectDecodable } from './media-check.js';
import { PASSWORDS, SERVER, startExample } from './mosquitto-example.js';
import { readmeRecipes } from './readme.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const recipes = readmeRecipes();

interface Env {
  service: Service;
  port: number;
  close(): Promise<void>;
}

const ENVS: Array<{ name: string; secure: boolean; start(): Promise<Env> }> = [
  {
    name: 'embedded broker',
    secure: false,
    async start() {
      const service = await startTestService();
      return { service, port: Number(new URL(service.urls.mqtt).port), close: () => service.close() };
    },
  },
  {
    name: 'Mosquitto',
    secure: false,
    async start() {
      const broker = await startMosquitto();
      const service = await startTestService({ brokerUrl: broker.url });
      return { service, port: broker.port, close: async () => (await service.close(), await broker.close()) };
    },
  },
  {
    name: 'embedded broker, secure mode',
    secure: true,
    async start() {
      const service = await startTestService({ auth: { enabled: true, users: [{ username: 'alice', role: 'viewer', passwordHash: await hashPassword(PASSWORDS.alice!) }] } });
      return { service, port: Number(new URL(service.urls.mqtt).port), close: () => service.close() };
    },
  },
  {
    name: 'Mosquitto with mosquitto.conf.example, secure mode',
    secure: true,
    async start() {
      const broker = await startExample({ withUsers: true });
      const service = await startTestService({ brokerUrl: broker.url, brokerUsername: SERVER, brokerPassword: PASSWORDS[SERVER], secure: true });
      return { service, port: broker.port, close: async () => (await service.close(), await broker.close()) };
    },
  },
];

function script(name: string): string {
  const text = recipes.get(name);
  if (!text) throw new Error(`README.md has no recipe "${name}"`);
  return text;
}

it('README has the recipes these tests run', () => {
  expect([...recipes.keys()].sort()).toEqual(
    // `snapshot` needs a live channel: test/snapshots.test.ts runs it.
    ['cli', 'correlation', 'describe', 'play-to-file', 'play-to-player', 'secure-cli', 'secure-describe', 'secure-play-to-file', 'snapshot', 'stop'].sort(),
  );
});

for (const { name, secure, start } of ENVS) {
  describe(`README recipes against the ${name}`, () => {
    let env: Env;
    let dir: string;
    const vars = (): NodeJS.ProcessEnv => ({
      ...process.env,
      MQTT_PORT: String(env.port),
      ...(secure ? { MQTT_USER: 'alice', MQTT_PASSWORD: PASSWORDS.alice } : {}),
      // ffplay without a display, as on a server.
      SDL_VIDEODRIVER: 'dummy',
      SDL_AUDIODRIVER: 'dummy',
    });
    const run = (recipe: string): ReturnType<typeof runCommand> =>
      runCommand('bash', ['-euo', 'pipefail', '-c', script(recipe)], { cwd: dir, timeoutMs: 90_000, env: vars() });

    beforeAll(async () => {
      env = await start();
      // Inside the repository (git-ignored), so that `npx mqttcast` finds this checkout.
      await mkdir(path.join(ROOT, 'test', 'artifacts'), { recursive: true });
      dir = await mkdtemp(path.join(ROOT, 'test', 'artifacts', 'recipes-'));
    }, 60_000);

    afterAll(async () => {
      await env?.close();
      await rm(dir, { recursive: true, force: true });
      expect(mediaProcesses()).toEqual([]);
    });

    it('describe: prints an ok reply with the exact codec string', async () => {
      const r = await run(secure ? 'secure-describe' : 'describe');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.toString('utf8'))).toMatchObject({ ok: true, mimeCodec: expect.stringMatching(/^video\/mp4; codecs="avc1\.[0-9A-F]{6}, mp4a\.40\.2"$/) });
    });

    it('play to a file: ffprobe accepts it, the whole file decodes, the session is stopped', async () => {
      const r = await run(secure ? 'secure-play-to-file' : 'play-to-file');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.toString('utf8').trim().split('\n')).toEqual(['h264', 'aac']);
      await expectDecodable([await readFile(path.join(dir, 'demo.mp4'))]);
      await waitFor(() => env.service.mediaServer.sessionCount === 0, { message: 'the recipe stop ends the session' });
    });

    it('the CLI: describe, play for 5 s, decodable output', async () => {
      const r = await run(secure ? 'secure-cli' : 'cli');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.toString('utf8')).toContain('h264\naac');
      await expectDecodable([await readFile(path.join(dir, 'cli.mp4'))]);
      await waitFor(() => env.service.mediaServer.sessionCount === 0, { message: 'the CLI ends its session' });
    });

    if (!secure) {
      it('correlation: MQTT 5 Correlation Data and Content Type come back on the reply', async () => {
        const r = await run('correlation');
        expect(r.code, r.stderr).toBe(0);
        const out = r.stdout.toString('utf8');
        expect(out).toMatch(/^job-42 application\/json \{/);
        expect(JSON.parse(out.slice(out.indexOf('{')))).toMatchObject({ ok: true });
      });

      it('play into ffplay, then stop', async () => {
        const child = spawn('bash', ['-euo', 'pipefail', '-c', script('play-to-player')], { cwd: dir, env: vars(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        try {
          await waitFor(() => (env.service.mediaServer.session('demo/tv')?.sent ?? 0) >= 15, { message: 'fragments flowing to ffplay' });
          // The recipe's shell exits after mosquitto_pub; its background pipeline lives on in its process group.
          const ffplay = listProcesses().find((p) => p.pgid === child.pid && p.comm === 'ffplay');
          expect(ffplay, 'ffplay is running').toBeDefined();
          const stop = await run('stop');
          expect(stop.code, stop.stderr).toBe(0);
          await waitFor(() => env.service.mediaServer.session('demo/tv') === undefined, { message: 'stop recipe ends the session' });
          expect(stderr.trim()).toBe(''); // ffplay decoded without complaint
        } finally {
          await stopChild(child, { group: true });
        }
      });
    }
  });
}
