/**
 * The preflight names what is missing with the apt-get line that fixes it, and the one
 * package list it holds is what .ci/run installs and what the README tells people to install.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startRtspServer } from './helpers/rtsp-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PREFLIGHT = fileURLToPath(new URL('./preflight.mjs', import.meta.url));

function preflight(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [PREFLIGHT, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Package names of the README's `apt-get install` block under "Test it". */
function readmeAptPackages(): string[] {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const m = /apt-get install --no-install-recommends ((?:\\\n|[^\n`])+)/.exec(readme);
  if (!m) throw new Error('README has no "apt-get install --no-install-recommends" line');
  return m[1]!.replace(/\\\n/g, ' ').split(/\s+/).filter(Boolean);
}

describe('preflight', () => {
  it('passes on this machine (npm test runs it first)', () => {
    const r = preflight();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^preflight: ok/);
  });

  it('names a missing program and the apt-get line that installs it, in one line, and exits non-zero', () => {
    const r = preflight('--require-tool', 'mqttcast-no-such-tool=mqttcast-no-such-package');
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('missing mqttcast-no-such-tool');
    expect(lines[0]).toContain('apt-get install --no-install-recommends mqttcast-no-such-package');
  });

  it('names a missing GStreamer element (asked of the RTSP source script) with its package', () => {
    const r = preflight('--require-element', 'mqttcastnosuchelement=gstreamer1.0-mqttcast-nosuch');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('GStreamer element mqttcastnosuchelement');
    expect(r.stderr).toContain('apt-get install --no-install-recommends gstreamer1.0-mqttcast-nosuch');
  });

  it('holds the one package list: the README names exactly it and .ci/run installs it', () => {
    const listed = preflight('--print-apt').stdout.trim().split(/\s+/);
    expect(listed).toContain('gstreamer1.0-x'); // timeoverlay: the package the first release missed
    expect(new Set(readmeAptPackages())).toEqual(new Set(listed));
    const ci = readFileSync(`${ROOT}.ci/run`, 'utf8');
    expect(ci).toContain('node test/preflight.mjs --print-apt');
    expect(ci).toMatch(/^node test\/preflight\.mjs$/m); // and checks again once installed, before npm
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toContain('test/preflight.mjs');
    expect(pkg.scripts.prebench).toContain('test/preflight.mjs');
  });
});

describe('RTSP test source', () => {
  it('fails at once naming a GStreamer element it cannot build, instead of answering RTSP with 5XX', async () => {
    await expect(startRtspServer({ alsoElements: ['mqttcastnosuchelement'] })).rejects.toThrow(
      /missing GStreamer elements: mqttcastnosuchelement/,
    );
  });
});
