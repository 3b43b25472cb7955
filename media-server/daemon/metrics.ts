/**
 * Prometheus metrics on prom-client: mqttcast's own `mqttcast_*` series plus
 * prom-client's default process and Node.js metrics.
 *
 * Registries. prom-client's global default registry is never used: a process that runs
 * two media servers (tests start several) would either throw "metric already
 * registered" or fill it twice. Instead:
 * - one process-wide registry holds the default process metrics (CPU, memory, open fds,
 *   event-loop lag, heap, GC); it is created and `collectDefaultMetrics` is called on it
 *   once, the first time a MetricSet is made, so those series exist once per process;
 * - every MetricSet (one per MediaServer, and one in the broker and gateway daemons) has
 *   a registry of its own for its `mqttcast_*` series, so sets never clash;
 * - `render()` merges the two with `Registry.merge` at scrape time.
 *
 * Reads stay synchronous. prom-client's `get()` is async (it may run collect callbacks),
 * while the media server and the tests read counters inline; so Counter feeds a
 * prom-client counter (which renders `/metrics`) and keeps a small map of its values by
 * label set next to it for `get()`. Both are updated in the same call and only here.
 */
import client, { collectDefaultMetrics, Registry } from 'prom-client';

export type Labels = Record<string, string>;

let processRegistry: Registry | undefined;

/** The registry of this process's default metrics, created (and collection started) on first use. */
export function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** A label set's key for the in-process mirror: independent of the order the labels were given in. */
function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class Counter {
  private readonly prom: client.Counter<string>;
  private readonly values = new Map<string, number>();

  constructor(registry: Registry, readonly name: string, readonly help: string, labelNames: readonly string[] = []) {
    this.prom = new client.Counter({ name, help, labelNames, registers: [registry] });
  }

  /** Adds `by` (≥ 0; prom-client throws on a negative or non-finite value or an undeclared label). */
  inc(labels: Labels = {}, by = 1): void {
    this.prom.inc(labels, by);
    const key = keyOf(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** The count for exactly this label set, synchronously. */
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels)) ?? 0;
  }
}

export class Histogram {
  private readonly prom: client.Histogram<string>;

  constructor(registry: Registry, readonly name: string, readonly help: string, readonly buckets: number[], labelNames: string[] = []) {
    this.prom = new client.Histogram({ name, help, buckets, labelNames, registers: [registry] });
  }

  observe(value: number, labels: Labels = {}): void {
    this.prom.observe(labels, value);
  }
}

/** Process metrics plus gauges read on scrape: what the broker and gateway daemons export. */
export class MetricSet {
  /** This set's own series; the process metrics live in `processMetrics()`. */
  readonly registry = new Registry();
  readonly contentType: string = this.registry.contentType;

  constructor() {
    processMetrics();
  }

  /** A gauge whose value is `read()` at each scrape. Throws if this set already has `name`. */
  gauge(name: string, help: string, read: () => number): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      collect(this: client.Gauge) {
        this.set(read());
      },
    });
  }

  /** Prometheus text: the process metrics, then this set's series. */
  async render(): Promise<string> {
    return Registry.merge([processMetrics(), this.registry]).metrics();
  }
}

/** The media server's series. */
export class Metrics extends MetricSet {
  readonly requests = new Counter(this.registry, 'mqttcast_requests_total', 'Requests received, by kind', ['kind']);
  readonly rejected = new Counter(this.registry, 'mqttcast_requests_rejected_total', 'Requests refused, by error code', ['code']);
  readonly ffmpegStarts = new Counter(this.registry, 'mqttcast_ffmpeg_starts_total', 'ffmpeg processes started');
  readonly ffmpegRestarts = new Counter(this.registry, 'mqttcast_ffmpeg_restarts_total', 'ffmpeg restarts of live sources');
  readonly fragmentsSent = new Counter(this.registry, 'mqttcast_fragments_sent_total', 'Fragments published to viewers');
  readonly fragmentsSkipped = new Counter(this.registry, 'mqttcast_fragments_skipped_total', 'Fragments skipped for lagging viewers');
  readonly bytesSent = new Counter(this.registry, 'mqttcast_bytes_sent_total', 'Media bytes published to viewers');
  readonly sessionsEnded = new Counter(this.registry, 'mqttcast_sessions_ended_total', 'Sessions ended, by reason', ['reason']);
  readonly firstFragment = new Histogram(this.registry, 'mqttcast_time_to_first_fragment_seconds', 'Play request to first fragment published', [
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10,
  ]);
  readonly sourceStartSteps = new Histogram(
    this.registry,
    'mqttcast_source_start_step_seconds',
    'Where a cold source\'s start went, by step: probe_sdp / probe_ffprobe (copy or transcode?), spawn_to_init (ffmpeg start, connection, analysis), init_to_first_fragment (waiting for a keyframe)',
    [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    ['step'],
  );
}
