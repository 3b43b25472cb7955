/**
 * `/metrics` of the running daemons: every mqttcast_* series dashboards rely on (same
 * names, types, help and labels as before prom-client) next to prom-client's default
 * process metrics, once each, also with two servers in one process.
 */
import pino from 'pino';
import { prometheusContentType } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../media-server/daemon/config.js';
import { HttpServer } from '../media-server/daemon/http-server.js';
import { startBroker, startGateway, type Daemon, type Service } from '../media-server/service.js';
import { mediaProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';

const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  expect(mediaProcesses()).toEqual([]);
});

const MQTTCAST_SERIES: Array<[name: string, type: string, help: string]> = [
  ['mqttcast_requests_total', 'counter', 'Requests received, by kind'],
  ['mqttcast_requests_rejected_total', 'counter', 'Requests refused, by error code'],
  ['mqttcast_ffmpeg_starts_total', 'counter', 'ffmpeg processes started'],
  ['mqttcast_ffmpeg_restarts_total', 'counter', 'ffmpeg restarts of live sources'],
  ['mqttcast_fragments_sent_total', 'counter', 'Fragments published to viewers'],
  ['mqttcast_fragments_skipped_total', 'counter', 'Fragments skipped for lagging viewers'],
  ['mqttcast_bytes_sent_total', 'counter', 'Media bytes published to viewers'],
  ['mqttcast_sessions_ended_total', 'counter', 'Sessions ended, by reason'],
  ['mqttcast_time_to_first_fragment_seconds', 'histogram', 'Play request to first fragment published'],
  ['mqttcast_sessions', 'gauge', 'Sessions playing now'],
  ['mqttcast_upstreams', 'gauge', 'Upstreams (ffmpeg processes) running now'],
];

/** Default process metrics that must have a plain sample line. */
const PROCESS_SERIES: Array<[name: string, type: string]> = [
  ['process_cpu_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['process_open_fds', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
  ['nodejs_heap_size_used_bytes', 'gauge'],
  ['nodejs_heap_size_total_bytes', 'gauge'],
];

async function scrape(port: number): Promise<{ text: string; contentType: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return { text: await res.text(), contentType: res.headers.get('content-type') };
}

function lines(text: string): string[] {
  return text.split('\n');
}

/** The value of the one sample `series` (name plus label text, e.g. `x{kind="play"}`), or NaN. */
function value(text: string, series: string): number {
  const found = lines(text).filter((l) => l.startsWith(`${series} `));
  return found.length === 1 ? Number(found[0]!.slice(series.length + 1)) : NaN;
}

function count(text: string, line: string): number {
  return lines(text).filter((l) => l === line).length;
}

function expectProcessMetrics(text: string): void {
  for (const [name, type] of PROCESS_SERIES) {
    expect(count(text, `# TYPE ${name} ${type}`), name).toBe(1);
    expect(value(text, name), name).toBeGreaterThanOrEqual(0);
  }
  expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(count(text, '# TYPE nodejs_gc_duration_seconds histogram')).toBe(1);
}

/** Allocates short-lived garbage so that a minor GC happens and the GC histogram gets samples. */
function churn(): number {
  let n = 0;
  for (let i = 0; i < 200; i++) n += new Array<number>(100_000).fill(i).length;
  return n;
}

describe('/metrics', () => {
  it('a running serve exports every mqttcast series with its help and labels, and the process metrics', async () => {
    const service: Service = await startTestService();
    cleanup.push(() => service.close());
    const port = service.http.port;
    const v = await Viewer.connect(service.urls.mqtt);
    cleanup.push(() => v.close());

    await v.send('play', JSON.stringify({ reply_topic: v.replyTopic })); // no source: refused
    await v.play({ source: 'demo' });
    await v.waitForFragments(3);
    await v.send('stop', {});
    await v.waitForStatus((s) => s.state === 'ended' && s.reason === 'stop');
    expect(churn()).toBeGreaterThan(0);

    const { text, contentType } = await waitFor(
      async () => {
        const s = await scrape(port);
        return lines(s.text).some((l) => l.startsWith('nodejs_gc_duration_seconds_count{')) ? s : undefined;
      },
      { message: 'a GC observed in nodejs_gc_duration_seconds' },
    );
    expect(contentType).toBe(prometheusContentType);
    for (const [name, type, help] of MQTTCAST_SERIES) {
      expect(count(text, `# HELP ${name} ${help}`), name).toBe(1);
      expect(count(text, `# TYPE ${name} ${type}`), name).toBe(1);
    }
    expect(value(text, 'mqttcast_requests_total{kind="play"}')).toBe(2);
    expect(value(text, 'mqttcast_requests_total{kind="stop"}')).toBe(1);
    expect(value(text, 'mqttcast_requests_rejected_total{code="INVALID_REQUEST"}')).toBe(1);
    expect(value(text, 'mqttcast_sessions_ended_total{reason="stop"}')).toBe(1);
    expect(value(text, 'mqttcast_ffmpeg_starts_total')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'mqttcast_ffmpeg_restarts_total')).toBe(0);
    expect(value(text, 'mqttcast_fragments_sent_total')).toBeGreaterThanOrEqual(3);
    expect(value(text, 'mqttcast_fragments_skipped_total')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'mqttcast_bytes_sent_total')).toBeGreaterThan(0);
    expect(value(text, 'mqttcast_time_to_first_fragment_seconds_count')).toBe(1);
    expect(value(text, 'mqttcast_time_to_first_fragment_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(lines(text).filter((l) => l.startsWith('mqttcast_time_to_first_fragment_seconds_bucket{')).map((l) => /le="([^"]+)"/.exec(l)![1])).toEqual(
      ['0.05', '0.1', '0.25', '0.5', '1', '2', '5', '10', '+Inf'],
    );
    expect(value(text, 'mqttcast_sessions')).toBe(0);
    expect(value(text, 'mqttcast_upstreams')).toBeGreaterThanOrEqual(0);
    // The in-process API reads the same counters, synchronously.
    expect(service.mediaServer.metrics.requests.get({ kind: 'play' })).toBe(2);
    expectProcessMetrics(text);
  });

  it('two servers in one process: each scrape has the process metrics once and its own counters', async () => {
    const a: Service = await startTestService();
    cleanup.push(() => a.close());
    const b: Service = await startTestService();
    cleanup.push(() => b.close());
    const v = await Viewer.connect(a.urls.mqtt);
    cleanup.push(() => v.close());
    await v.send('stop', {});
    await waitFor(() => a.mediaServer.metrics.requests.get({ kind: 'stop' }) === 1, { message: 'stop counted' });

    const [ta, tb] = [(await scrape(a.http.port)).text, (await scrape(b.http.port)).text];
    expectProcessMetrics(ta);
    expectProcessMetrics(tb);
    expect(value(ta, 'mqttcast_requests_total{kind="stop"}')).toBe(1);
    expect(value(tb, 'mqttcast_requests_total{kind="stop"}')).toBeNaN();
    expect(b.mediaServer.metrics.requests.get({ kind: 'stop' })).toBe(0);
  });

  it('the broker and gateway daemons export their gauge and the process metrics', async () => {
    const config = buildConfig({ host: '127.0.0.1', httpPort: 0, mqttPort: 0, logLevel: 'silent' });
    const log = pino({ level: 'silent' });
    const broker: Daemon = await startBroker(config, log);
    cleanup.push(() => broker.close());
    const gateway: Daemon = await startGateway(buildConfig({ host: '127.0.0.1', httpPort: 0, brokerUrl: broker.urls.mqtt, logLevel: 'silent' }), log);
    cleanup.push(() => gateway.close());
    const v = await Viewer.connect(gateway.urls.websocket);
    cleanup.push(() => v.close());

    const tb = (await scrape(broker.http.port)).text;
    expect(count(tb, '# HELP mqttcast_broker_clients Connected MQTT clients')).toBe(1);
    expect(count(tb, '# TYPE mqttcast_broker_clients gauge')).toBe(1);
    expect(value(tb, 'mqttcast_broker_clients')).toBe(1); // the viewer, through the gateway
    expectProcessMetrics(tb);

    const tg = (await scrape(gateway.http.port)).text;
    expect(count(tg, '# HELP mqttcast_gateway_connections Open WebSocket connections')).toBe(1);
    expect(count(tg, '# TYPE mqttcast_gateway_connections gauge')).toBe(1);
    expect(value(tg, 'mqttcast_gateway_connections')).toBe(1);
    expectProcessMetrics(tg);
  });

  it('answers 500 when collecting fails, and keeps serving', async () => {
    let fail = true;
    const http = await HttpServer.start({
      host: '127.0.0.1',
      port: 0,
      log: pino({ level: 'silent' }),
      health: () => ({ ok: true }),
      metrics: { contentType: prometheusContentType, render: async () => (fail ? Promise.reject(new Error('boom')) : 'x 1\n') },
    });
    cleanup.push(() => http.close());
    expect((await fetch(`http://127.0.0.1:${http.port}/metrics`)).status).toBe(500);
    fail = false;
    expect(await scrape(http.port)).toEqual({ text: 'x 1\n', contentType: prometheusContentType });
  });
});
