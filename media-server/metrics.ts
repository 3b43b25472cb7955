/** A small Prometheus text-format registry: counters, gauges read on scrape, one histogram type. */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

export class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (value <= b) this.counts[i]!++;
    });
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

export class Metrics {
  readonly requests = new Counter('mqttcast_requests_total', 'Requests received, by kind');
  readonly rejected = new Counter('mqttcast_requests_rejected_total', 'Requests refused, by error code');
  readonly ffmpegStarts = new Counter('mqttcast_ffmpeg_starts_total', 'ffmpeg processes started');
  readonly ffmpegRestarts = new Counter('mqttcast_ffmpeg_restarts_total', 'ffmpeg restarts of live sources');
  readonly fragmentsSent = new Counter('mqttcast_fragments_sent_total', 'Fragments published to viewers');
  readonly fragmentsSkipped = new Counter('mqttcast_fragments_skipped_total', 'Fragments skipped for lagging viewers');
  readonly bytesSent = new Counter('mqttcast_bytes_sent_total', 'Media bytes published to viewers');
  readonly sessionsEnded = new Counter('mqttcast_sessions_ended_total', 'Sessions ended, by reason');
  readonly firstFragment = new Histogram('mqttcast_time_to_first_fragment_seconds', 'Play request to first fragment published', [
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10,
  ]);
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    const all = [
      this.requests, this.rejected, this.ffmpegStarts, this.ffmpegRestarts, this.fragmentsSent,
      this.fragmentsSkipped, this.bytesSent, this.sessionsEnded, this.firstFragment, ...this.gauges,
    ];
    return `${all.map((m) => m.render()).join('\n')}\n`;
  }
}
