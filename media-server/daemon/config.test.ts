import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, buildConfig, loadConfig } from './config.js';

describe('config', () => {
  it('has the defaults of DESIGN.md §4 and is frozen', () => {
    const c = buildConfig();
    expect(c).toMatchObject({ host: '127.0.0.1', httpPort: 8080, mqttPort: 1883, prefix: 'video', demo: { enabled: true } });
    expect(c.limits.leaseMs).toBe(15_000);
    expect(c.fragmentMs).toBe(0); // one fragment per video frame
    expect(Object.isFrozen(c) && Object.isFrozen(c.limits)).toBe(true);
  });

  it('layers file < environment < flags', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mqttcast-config-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'httpPort: 9000\nmqttPort: 9001\nprefix: fromfile\nlimits:\n  leaseMs: 5000\n');
    const c = loadConfig({ config: file, mqttPort: 9003 }, { MQTTCAST_MQTT_PORT: '9002', MQTTCAST_PREFIX: 'fromenv', MQTTCAST_ALLOW: 'http://a/*, http://b/x' });
    expect(c).toMatchObject({ httpPort: 9000, mqttPort: 9003, prefix: 'fromenv', allow: ['http://a/*', 'http://b/x'] });
    expect(c.limits).toMatchObject({ leaseMs: 5000, flowWindowMs: 3000 });
  });

  it.each([
    [{ httpPort: 'x' }, '"httpPort"'],
    [{ nope: 1 }, 'unknown key "nope"'],
    [{ limits: { leaseMs: 1 } }, '"limits.leaseMs"'],
    [{ prefix: 'a/#' }, '"prefix"'],
    [{ brokerUrl: 'not a url' }, '"brokerUrl"'],
    [{ limits: { flowWindow: 15 } }, 'was replaced by limits.flowWindowMs'],
    [{ fragmentMs: -1 }, '"fragmentMs"'],
  ])('names the bad key in %j', (layer, key) => {
    expect(() => buildConfig(layer)).toThrow(ConfigError);
    expect(() => buildConfig(layer)).toThrow(key);
  });

  it('says which file it cannot read', () => {
    expect(() => loadConfig({ config: '/nonexistent/mqttcast.json' }, {})).toThrow(/cannot read config file \/nonexistent\/mqttcast.json/);
  });
});
