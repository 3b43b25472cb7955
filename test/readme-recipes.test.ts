/** Every shell recipe in README.md, run exactly as written against the embedded broker. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { runCommand } from './helpers/child.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService } from './harness.js';
import { expectDecodable } from './media-check.js';
import { readmeRecipes } from './readme.js';

const recipes = readmeRecipes();
let service: Service;
let dir: string;

beforeAll(async () => {
  service = await startTestService();
  dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-recipe-'));
});

afterAll(async () => {
  await service?.close();
  await rm(dir, { recursive: true, force: true });
  expect(mediaProcesses()).toEqual([]);
});

function run(name: string): ReturnType<typeof runCommand> {
  const script = recipes.get(name);
  if (!script) throw new Error(`README.md has no recipe "${name}"`);
  const port = new URL(service.urls.mqtt).port;
  return runCommand('bash', ['-euo', 'pipefail', '-c', `export MQTT_PORT=${port}\n${script}`], { cwd: dir, timeoutMs: 60_000 });
}

describe('README recipes (embedded broker)', () => {
  it('has the recipes the tests expect', () => {
    expect([...recipes.keys()]).toEqual(expect.arrayContaining(['describe', 'play-to-file']));
  });

  it('describe with mosquitto_rr prints an ok reply with the exact codec string', async () => {
    const r = await run('describe');
    expect(r.code, r.stderr).toBe(0);
    const reply = JSON.parse(r.stdout.toString('utf8')) as Record<string, unknown>;
    expect(reply).toMatchObject({ ok: true, mimeCodec: expect.stringMatching(/^video\/mp4; codecs="avc1\.[0-9A-F]{6}, mp4a\.40\.2"$/) });
  });

  it('play-to-file with mosquitto_pub + mosquitto_sub writes an MP4 that ffprobe accepts, and stops the session', async () => {
    const r = await run('play-to-file');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString('utf8').trim().split('\n')).toEqual(['h264', 'aac']);
    const { readFile } = await import('node:fs/promises');
    const file = await readFile(path.join(dir, 'demo.mp4'));
    await expectDecodable([file]);
    await waitFor(() => service.mediaServer.sessionCount === 0, { message: 'the recipe stop ends the session' });
  });
});
