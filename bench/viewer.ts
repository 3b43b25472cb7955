/**
 * A headless viewer for the bench: speaks the protocol over MQTT.js, stamps
 * play → init → first fragment, records per-fragment latency against the
 * fragment's prft producer time (corrected for ffmpeg stamping a fragment's
 * end: protocol/prft.ts), and acks like the player. Unlike the test
 * harness's Viewer it keeps no payloads, so it can run for minutes.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { createTopics, parseFragment, parseInit, type Topics } from '../protocol/index.js';
import { fragmentProducerTimeMs } from '../protocol/prft.js';

/** Wall clock with sub-millisecond resolution, in Unix milliseconds. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/**
 * Turns off Nagle's algorithm on a connected MQTT.js client's TCP socket, as
 * browsers do on theirs, so the bench's own clients add no 40 ms delayed-ACK
 * stalls to what it measures (MQTT.js has no option for it).
 */
export function setNoDelay(client: MqttClient): void {
  const socket = client.stream as unknown as { setNoDelay?: (on: boolean) => unknown };
  socket.setNoDelay?.(true);
}

export interface FragmentSample {
  /** Receive time, Unix ms. */
  recvMs: number;
  /** recvMs − producer time of the fragment's first sample, from prft corrected to the fragment end (ms); undefined without prft. */
  latencyMs?: number;
  /** False when the fragment had no durations, so latencyMs is the raw prft's (one fragment short). */
  corrected?: boolean;
  /** The prft's NTP time as written (Unix ms): identifies the fragment at every hop. */
  prftMs?: number;
  /** recvMs − media decode time of the video track's first sample (ms): a constant plus any drift. */
  mediaOffsetMs?: number;
  bytes: number;
}

export interface ViewerOptions {
  prefix?: string;
  replyTopic?: string;
  keepalive?: number;
  /** Broker credentials (the bench's own brokers are anonymous). */
  username?: string;
  password?: string;
}

export class BenchViewer {
  readonly replyTopic: string;
  readonly topics: Topics;
  /** performance.now() stamps of the current play. */
  playSentAt?: number;
  initAt?: number;
  /** Wall clock (Unix ms) when the first init segment arrived. */
  initWallMs?: number;
  firstFragmentAt?: number;
  fragments = 0;
  bytes = 0;
  /** Per-fragment samples are kept only while this is true. */
  recording = false;
  readonly samples: FragmentSample[] = [];
  readonly json: Array<Record<string, unknown>> = [];
  readonly statuses: Array<Record<string, unknown>> = [];
  private timescale = 0;
  private timescales = new Map<number, number>();
  private videoTrackId?: number;
  private ackTimer?: NodeJS.Timeout;

  private constructor(readonly client: MqttClient, opts: ViewerOptions) {
    this.topics = createTopics(opts.prefix ?? 'video');
    this.replyTopic = opts.replyTopic ?? `bench/${randomBytes(5).toString('hex')}/live`;
    client.on('message', (topic, payload) => {
      if (topic === this.replyTopic) this.onData(payload);
      else if (topic === this.topics.status(this.replyTopic)) this.statuses.push(parseJson(payload));
    });
  }

  static async connect(url: string, opts: ViewerOptions = {}): Promise<BenchViewer> {
    const client = await mqtt.connectAsync(url, {
      clientId: `bench-${randomBytes(5).toString('hex')}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: opts.keepalive ?? 60,
      connectTimeout: 10_000,
      ...(opts.username ? { username: opts.username, password: opts.password } : {}),
    });
    setNoDelay(client);
    const viewer = new BenchViewer(client, opts);
    await client.subscribeAsync({ [viewer.replyTopic]: { qos: 0 }, [viewer.topics.status(viewer.replyTopic)]: { qos: 0 } });
    return viewer;
  }

  private onData(payload: Buffer): void {
    const now = performance.now();
    if (payload[0] === 0x7b) {
      this.json.push(parseJson(payload));
      return;
    }
    if (payload.toString('latin1', 4, 8) === 'ftyp') {
      this.initAt ??= now;
      this.initWallMs ??= wallMs();
      const info = parseInit(payload);
      this.videoTrackId = info.videoTrackId;
      this.timescale = info.tracks.find((t) => t.id === info.videoTrackId)?.timescale ?? 0;
      this.timescales = new Map(info.tracks.map((t) => [t.id, t.timescale]));
      return;
    }
    this.fragments++;
    this.bytes += payload.byteLength;
    this.firstFragmentAt ??= now;
    if (this.recording) this.samples.push(this.sample(payload));
  }

  private sample(payload: Buffer): FragmentSample {
    const recvMs = wallMs();
    const info = parseFragment(payload);
    const video = info.tracks.find((t) => t.trackId === this.videoTrackId);
    const produced = fragmentProducerTimeMs(info, this.timescales);
    return {
      recvMs,
      bytes: payload.byteLength,
      latencyMs: produced === undefined ? undefined : recvMs - produced.timeMs,
      corrected: produced?.corrected,
      prftMs: info.producerTimeMs,
      mediaOffsetMs: video && this.timescale > 0 ? recvMs - (video.baseDecodeTime / this.timescale) * 1000 : undefined,
    };
  }

  /** Resets the play stamps and counters, then publishes a play request. */
  async play(target: Record<string, unknown>): Promise<void> {
    this.initAt = this.initWallMs = this.firstFragmentAt = undefined;
    this.fragments = 0;
    this.playSentAt = performance.now();
    await this.client.publishAsync(this.topics.request('play'), JSON.stringify({ ...target, reply_topic: this.replyTopic }), { qos: 1 });
  }

  /** Publishes a describe and waits for its JSON reply. */
  async describe(target: Record<string, unknown>, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const before = this.json.length;
    await this.client.publishAsync(this.topics.request('describe'), JSON.stringify({ ...target, reply_topic: this.replyTopic }), { qos: 1 });
    await this.until(() => this.json.length > before, timeoutMs, 'describe reply');
    return this.json[before]!;
  }

  async waitForFragments(n: number, timeoutMs: number): Promise<void> {
    await this.until(() => this.fragments >= n, timeoutMs, `${n} fragments`);
  }

  /** Polls `done` every 5 ms (stamps are taken in the message handler, so polling adds no error). */
  async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      const refused = this.json.find((j) => j.ok === false) ?? this.statuses.find((s) => s.state === 'error');
      if (refused) throw new Error(`${what}: server refused: ${JSON.stringify(refused)}`);
      if (performance.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs} ms on ${this.replyTopic}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Acks like the player: fragments received so far, every `intervalMs`, QoS 0, once media flows. */
  startAcking(intervalMs = 1000): void {
    clearInterval(this.ackTimer);
    this.ackTimer = setInterval(() => {
      if (this.initAt === undefined) return; // no session to ack yet
      const body = JSON.stringify({ reply_topic: this.replyTopic, seq: this.fragments });
      this.client.publish(this.topics.request('ack'), body, { qos: 0 });
    }, intervalMs);
  }

  /** Stops reading from the broker socket (the kernel buffers fill, then the broker's). */
  pauseSocket(): void {
    this.client.stream.unpipe();
    this.client.stream.pause();
  }

  async stop(): Promise<void> {
    clearInterval(this.ackTimer);
    if (!this.client.connected) return;
    // QoS 0: a viewer whose socket is paused would never read the PUBACK.
    await this.client.publishAsync(this.topics.request('stop'), JSON.stringify({ reply_topic: this.replyTopic }), { qos: 0 });
    // Let the socket flush it: close() right away (a forced end) could discard it.
    const deadline = performance.now() + 500;
    do await new Promise((r) => setTimeout(r, 20));
    while (this.client.stream.writableLength > 0 && performance.now() < deadline);
  }

  async close(): Promise<void> {
    clearInterval(this.ackTimer);
    await this.client.endAsync(true);
  }
}

function parseJson(payload: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { unparsable: payload.byteLength };
  }
}

/** Connects `n` viewers, a few at a time. */
export async function connectViewers(url: string, n: number, opts: ViewerOptions = {}): Promise<BenchViewer[]> {
  const out: BenchViewer[] = [];
  for (let i = 0; i < n; i += 10) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => BenchViewer.connect(url, opts)))));
  }
  return out;
}
