/**
 * deploy/: the systemd unit passes `systemd-analyze verify` and keeps its hardening,
 * and the example configuration is accepted by `mqttcast serve --print-config`.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const UNIT = path.join(ROOT, 'deploy', 'mqttcast.service');
const EXAMPLE = path.join(ROOT, 'deploy', 'mqttcast.example.yaml');
const BIN = path.join(ROOT, 'bin', 'mqttcast.js');

const unitText = readFileSync(UNIT, 'utf8');
let dir: string;

/** The unit's active `Key=value` lines (comments and section headers left out), in order. */
function directives(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith(';') && !line.startsWith('['))
    .map((line) => {
      const eq = line.indexOf('=');
      return [line.slice(0, eq).trim(), line.slice(eq + 1).trim()];
    });
}

function values(key: string): string[] {
  return directives(unitText)
    .filter(([k]) => k === key)
    .map(([, v]) => v);
}

/** The unit as it would be on this machine: the checkout is the repository, node is this node. */
function localUnit(text: string): string {
  return text.replaceAll('/opt/mqttcast', ROOT).replaceAll('/usr/bin/node', process.execPath);
}

function systemdAnalyzeVerify(unitPath: string): SpawnSyncReturns<string> {
  const r = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('systemd-analyze is not installed; it comes with systemd: apt-get install systemd');
  }
  if (r.error) throw r.error;
  return r;
}

/** stderr lines about the given unit file (systemd-analyze may also warn about unrelated system units). */
function linesAbout(stderr: string, unitPath: string): string[] {
  const name = path.basename(unitPath);
  return stderr.split('\n').filter((line) => line.includes(name) || line.includes(unitPath));
}

function withoutMqttcastEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MQTTCAST_')));
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mqttcast-systemd-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('deploy/mqttcast.service', () => {
  it('passes systemd-analyze verify with no warnings about it', () => {
    const copy = path.join(dir, 'mqttcast.service');
    writeFileSync(copy, localUnit(unitText));
    const r = systemdAnalyzeVerify(copy);
    expect(linesAbout(r.stderr, copy), r.stderr).toEqual([]);
    expect(r.status, r.stderr).toBe(0);
  });

  it('is checked for real: systemd-analyze verify reports a misspelt directive and a missing binary', () => {
    const copy = path.join(dir, 'mqttcast-broken.service');
    const text = localUnit(unitText)
      .replace(/^ProtectClock=yes$/m, 'ProtectClok=yes')
      .replace(`ExecStart=${process.execPath}`, `ExecStart=${path.join(dir, 'no-such-node')}`);
    writeFileSync(copy, text);
    const r = systemdAnalyzeVerify(copy);
    const about = linesAbout(r.stderr, copy).join('\n');
    expect(about).toMatch(/Unknown key .ProtectClok./);
    expect(about).toMatch(/no-such-node is not executable/);
    expect(r.status).not.toBe(0);
  });

  it('runs mqttcast serve from /opt/mqttcast with the config file in /etc/mqttcast', () => {
    expect(values('ExecStart')).toEqual(['/usr/bin/node /opt/mqttcast/bin/mqttcast.js serve --config /etc/mqttcast/config.yaml']);
    expect(values('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(values('Environment')).toEqual(expect.arrayContaining(['NODE_ENV=production', 'MQTTCAST_LOG_FORMAT=json']));
  });

  it('keeps every hardening and lifecycle directive', () => {
    const required: Array<[string, string]> = [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['ProtectKernelTunables', 'yes'],
      ['ProtectKernelModules', 'yes'],
      ['ProtectKernelLogs', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['ProtectClock', 'yes'],
      ['ProtectHostname', 'yes'],
      ['RestrictNamespaces', 'yes'],
      ['RestrictRealtime', 'yes'],
      ['RestrictSUIDSGID', 'yes'],
      ['LockPersonality', 'yes'],
      ['MemoryDenyWriteExecute', 'no'], // V8's JIT needs W+X memory: "yes" makes node abort
      ['SystemCallArchitectures', 'native'],
      ['CapabilityBoundingSet', ''],
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX AF_NETLINK'],
      ['UMask', '0077'],
      ['Restart', 'on-failure'],
      ['KillMode', 'control-group'],
      ['TimeoutStopSec', '15'],
      ['LimitNOFILE', '65536'],
    ];
    const present = directives(unitText);
    const missing = required.filter(([k, v]) => !present.some(([pk, pv]) => pk === k && pv === v)).map(([k, v]) => `${k}=${v}`);
    expect(missing).toEqual([]);
    for (const key of ['User', 'Group']) {
      expect(values(key), `${key}= must name the service user`).toEqual(['mqttcast']);
    }
    expect(values('DynamicUser').filter((v) => v !== 'no')).toEqual([]);
    expect(values('RestartSec')).toHaveLength(1);
    expect(Number(values('TasksMax')[0])).toBeGreaterThanOrEqual(4096);
    // Only the ordinary service set (+ @pkey, which node's V8 calls at start-up), nothing privileged.
    const filter = values('SystemCallFilter').join(' ').split(/\s+/);
    expect(filter).toContain('@system-service');
    expect(filter.filter((s) => !['@system-service', '@pkey'].includes(s) && !s.startsWith('~'))).toEqual([]);
    // No capabilities granted and no writable paths: the service writes nothing persistent.
    expect(values('AmbientCapabilities').filter((v) => v !== '')).toEqual([]);
    expect(values('ReadWritePaths')).toEqual([]);
  });
});

describe('deploy/mqttcast.example.yaml', () => {
  it('is accepted by mqttcast serve --print-config', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--config', EXAMPLE, '--print-config'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: withoutMqttcastEnv(),
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const config = JSON.parse(r.stdout) as Record<string, unknown>;
    // Listening on every interface only together with secure mode.
    expect(config).toMatchObject({ host: '0.0.0.0', auth: { enabled: true }, httpPort: 8080, mqttPort: 1883 });
    expect((config.allow as string[]).length).toBeGreaterThan(0);
    expect(Object.keys(config.sources as object).length).toBeGreaterThan(0);
  });
});
