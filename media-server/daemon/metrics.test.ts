import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics, MetricSet, processMetrics } from './metrics.js';

/** The sample lines of `name` (without HELP/TYPE), from Prometheus text. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
}

function occurrences(text: string, line: string): number {
  return text.split('\n').filter((l) => l === line).length;
}

describe('Metrics', () => {
  it('two sets in one process neither clash nor share counts', () => {
    const a = new Metrics();
    const b = new Metrics();
    a.gauge('mqttcast_sessions', 'Sessions playing now', () => 1);
    b.gauge('mqttcast_sessions', 'Sessions playing now', () => 2);
    a.requests.inc({ kind: 'play' });
    a.requests.inc({ kind: 'play' });
    a.rejected.inc({ code: 'INVALID_REQUEST' });
    b.requests.inc({ kind: 'describe' });
    expect(a.requests.get({ kind: 'play' })).toBe(2);
    expect(a.requests.get({ kind: 'describe' })).toBe(0);
    expect(b.requests.get({ kind: 'play' })).toBe(0);
    expect(b.requests.get({ kind: 'describe' })).toBe(1);
    expect(a.rejected.get({ code: 'INVALID_REQUEST' })).toBe(1);
    expect(a.rejected.get({ code: 'X' })).toBe(0);
    expect(b.rejected.get({ code: 'INVALID_REQUEST' })).toBe(0);
  });

  it('get() is synchronous and follows inc() with and without labels', () => {
    const m = new Metrics();
    m.bytesSent.inc({}, 1500);
    m.bytesSent.inc({}, 500);
    m.fragmentsSent.inc();
    m.sessionsEnded.inc({ reason: 'stop' });
    const got: unknown = m.bytesSent.get();
    expect(got).toBe(2000);
    expect(m.fragmentsSent.get()).toBe(1);
    expect(m.ffmpegStarts.get()).toBe(0);
    expect(m.sessionsEnded.get({ reason: 'stop' })).toBe(1);
    expect(m.sessionsEnded.get({ reason: 'lease_expired' })).toBe(0);
  });

  it('refuses a negative increment or an undeclared label and keeps its count', () => {
    const m = new Metrics();
    m.requests.inc({ kind: 'ack' });
    expect(() => m.requests.inc({ kind: 'ack' }, -1)).toThrow(/decrease/);
    expect(() => m.requests.inc({ source: 'demo' })).toThrow(/label/);
    expect(m.requests.get({ kind: 'ack' })).toBe(1);
  });

  it('renders the mqttcast series with the values counted, and gauges read at scrape time', async () => {
    const m = new Metrics();
    let sessions = 3;
    m.gauge('mqttcast_sessions', 'Sessions playing now', () => sessions);
    m.requests.inc({ kind: 'play' });
    m.bytesSent.inc({}, 4096);
    m.firstFragment.observe(0.3);
    const text = await m.render();
    expect(samples(text, 'mqttcast_requests_total')).toEqual(['mqttcast_requests_total{kind="play"} 1']);
    expect(samples(text, 'mqttcast_bytes_sent_total')).toEqual(['mqttcast_bytes_sent_total 4096']);
    expect(samples(text, 'mqttcast_sessions')).toEqual(['mqttcast_sessions 3']);
    expect(samples(text, 'mqttcast_time_to_first_fragment_seconds_bucket')).toEqual(
      ['0.05', '0.1', '0.25', '0.5', '1', '2', '5', '10', '+Inf'].map(
        (le) => `mqttcast_time_to_first_fragment_seconds_bucket{le="${le}"} ${Number(le) < 0.3 ? 0 : 1}`,
      ),
    );
    expect(samples(text, 'mqttcast_time_to_first_fragment_seconds_count')).toEqual(['mqttcast_time_to_first_fragment_seconds_count 1']);
    sessions = 5;
    expect(samples(await m.render(), 'mqttcast_sessions')).toEqual(['mqttcast_sessions 5']);
  });

  it('refuses a second gauge of the same name in one set', () => {
    const m = new MetricSet();
    m.gauge('mqttcast_broker_clients', 'Connected MQTT clients', () => 0);
    expect(() => m.gauge('mqttcast_broker_clients', 'Connected MQTT clients', () => 0)).toThrow(/already been registered/);
  });

  it('process metrics appear once per scrape however many sets exist, and the global registry stays empty', async () => {
    const sets = [new Metrics(), new Metrics(), new MetricSet()];
    for (const set of sets) {
      const text = await set.render();
      for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
        expect(occurrences(text, `# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`), name).toBe(1);
        expect(samples(text, name), name).toHaveLength(1);
      }
      expect(occurrences(text, '# TYPE nodejs_gc_duration_seconds histogram')).toBe(1);
    }
    expect(processMetrics()).toBe(processMetrics());
    expect(await globalRegistry.getMetricsAsJSON()).toEqual([]);
  });

  it('has the content type of a prom-client registry', () => {
    expect(new MetricSet().contentType).toBe(processMetrics().contentType);
    expect(new MetricSet().contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});
