/**
 * Snapshots of the live channels this server is responsible for, and their Home Assistant
 * discovery. For each such channel it is one more viewer of the channel's upstream (the
 * one subscription a viewer would use, or the source a `publish: true` server runs), so
 * a picture costs no second connection to the camera: {@link KeyframeSnapshots} turns the
 * latest keyframe into a JPEG, retained on `P/live/<name>/snapshot`.
 *
 * Which channels (config `snapshots.channels`):
 * - its own sources (`publish: true`) always; their meta says `snapshots: true`;
 * - `auto` also every other live channel with a video track, unless its meta says the
 *   publisher makes its own, or another maker's pictures keep arriving. Then one of the
 *   two stands back: the one whose id sorts later at once, the other when the pictures go
 *   on for two more intervals (the maker cannot hear it: in a bridged tree the origin
 *   side's pictures reach the edges but not the other way, so the edges stand back; on
 *   one broker exactly one of two servers keeps going). Two and a half intervals without
 *   the other's pictures and a server takes the channel again. An edge may publish one
 *   picture at a channel's start before it hears the origin's.
 *
 * A channel whose meta is removed (empty retained) is gone for good: its discovery config
 * is removed, and so is the picture if this server made it.
 */
import type { Logger } from 'pino';
import { channelFilter, channelTopics, readSnapshotStamp, type ChannelMeta } from '../../protocol/index.js';
import type { ChannelHub } from '../channels/channel-hub.js';
import type { HomeAssistantConfig, SnapshotsConfig } from '../daemon/config.js';
import type { MqttLink } from '../daemon/mqtt-link.js';
import type { Upstream } from '../upstreams/upstream.js';
import { cameraDiscovery, discoveryTopic } from './home-assistant.js';
import { KeyframeSnapshots } from './keyframe-snapshots.js';
import type { SnapshotEncoder } from './snapshot-encoder.js';

export interface SnapshotServiceOptions {
  snapshots: SnapshotsConfig;
  homeAssistant: HomeAssistantConfig;
  prefix: string;
  version: string;
  /** This server, as written in its pictures' comments (no spaces). */
  serverId: string;
  link: MqttLink;
  hub: ChannelHub;
  encoder: SnapshotEncoder;
  /** Whether this server publishes channel `name` itself (a `publish: true` source). */
  isOwn: (name: string) => boolean;
  /** The upstream to watch for channel `name` (joined, or opened within the server's limits). */
  acquire: (name: string) => Promise<Upstream>;
  log: Logger;
}

/** The latest run of pictures of a channel by another maker. */
interface Foreign {
  by: string;
  /** When this run began (pictures with gaps shorter than the hold). */
  since: number;
  at: number;
}

interface Watch {
  snapshots: KeyframeSnapshots;
  upstream?: Upstream;
  stopped: boolean;
}

/** Someone else's picture this recently (in intervals) means they serve the channel. */
const FOREIGN_HOLD_INTERVALS = 2.5;
/** Pictures by another maker for this many intervals: it is not standing back, so we do. */
const CONTEST_INTERVALS = 2;

export class SnapshotService {
  private readonly watches = new Map<string, Watch>();
  /** Pictures made by someone else, per channel. */
  private readonly foreign = new Map<string, Foreign>();
  /** Channels this server has published a picture of (to clear it when the channel goes). */
  private readonly pictured = new Set<string>();
  /** Discovery payloads published, per channel (published again only when they change). */
  private readonly discovered = new Map<string, string>();
  /** Channels whose last attempt to watch failed (said once at warn level, then at debug, until it works). */
  private readonly failing = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly intervalMs: number;
  private readonly snapshotFilter: string;
  private closed = false;

  constructor(private readonly options: SnapshotServiceOptions) {
    this.intervalMs = options.snapshots.intervalS * 1000;
    this.snapshotFilter = channelFilter(options.prefix, 'snapshot');
    if (options.snapshots.enabled && options.snapshots.channels === 'auto') options.link.addSubscription(this.snapshotFilter, 0);
    options.hub.on('change', this.onChange);
    options.hub.on('snapshot', this.onSnapshot);
    options.link.on('connected', this.onConnected);
    // Also re-decides when another server's pictures stop coming (it takes over).
    this.timer = setInterval(this.onChange, this.intervalMs);
    this.timer.unref();
    this.onChange();
  }

  /** This server as its pictures name it. */
  get id(): string {
    return this.options.serverId;
  }

  /** Channels being pictured now. */
  get watching(): string[] {
    return [...this.watches.keys()];
  }

  private readonly onChange = (): void => {
    if (this.closed) return;
    const names = new Set([...this.options.hub.names(), ...this.watches.keys(), ...this.discovered.keys()]);
    for (const name of names) this.reconcile(name, this.options.hub.meta(name));
  };

  /** A broker that restarted may have lost retained messages: discovery is published again. */
  private readonly onConnected = (): void => {
    for (const name of this.discovered.keys()) this.discovered.set(name, '');
    this.onChange();
  };

  private readonly onSnapshot = (name: string, payload: Buffer, retained: boolean): void => {
    // A replayed retained picture may be old (or our own from before a restart): only live ones count.
    if (retained || payload.length === 0) return;
    const by = readSnapshotStamp(payload)?.by ?? '';
    if (by === this.options.serverId) return;
    const now = Date.now();
    const before = this.foreign.get(name);
    const sameRun = before !== undefined && before.by === by && now - before.at <= FOREIGN_HOLD_INTERVALS * this.intervalMs;
    const run = { by, since: sameRun ? before.since : now, at: now };
    this.foreign.set(name, run);
    if (this.watches.has(name) && !this.options.isOwn(name) && this.yieldsTo(run, now)) {
      this.options.log.info({ channel: name, by: by || 'a publisher' }, 'another maker publishes pictures of this channel; leaving it to them');
      this.stop(name);
    }
  };

  /** Whether we leave a channel to another maker's pictures. */
  private yieldsTo(run: Foreign, now: number): boolean {
    if (now - run.at > FOREIGN_HOLD_INTERVALS * this.intervalMs) return false; // they stopped
    return run.by < this.options.serverId || now - run.since >= CONTEST_INTERVALS * this.intervalMs;
  }

  private wants(name: string, meta: ChannelMeta | undefined): boolean {
    const { snapshots } = this.options;
    if (!snapshots.enabled || !meta || meta.state !== 'live') return false;
    if (this.options.isOwn(name)) return true;
    if (snapshots.channels !== 'auto' || meta.snapshots) return false;
    if (meta.tracks.length > 0 && !meta.tracks.some((t) => t.type === 'video')) return false;
    const run = this.foreign.get(name);
    return run === undefined || !this.yieldsTo(run, Date.now());
  }

  private reconcile(name: string, meta: ChannelMeta | undefined): void {
    const want = this.wants(name, meta);
    if (want && !this.watches.has(name)) this.watch(name);
    else if (!want && this.watches.has(name)) this.stop(name);
    this.discover(name, meta);
    if (meta === undefined) {
      // Gone for good: its picture (if ours) goes too.
      this.foreign.delete(name);
      this.failing.delete(name);
      if (this.pictured.delete(name)) this.options.link.clearRetained(channelTopics(this.options.prefix, name).snapshot);
    }
  }

  private watch(name: string): void {
    const { log, link, prefix } = this.options;
    const topic = channelTopics(prefix, name).snapshot;
    const watch: Watch = {
      stopped: false,
      snapshots: new KeyframeSnapshots({
        channel: name,
        by: this.options.serverId,
        encoder: this.options.encoder,
        intervalMs: this.intervalMs,
        onError: (err) => log.warn({ channel: name, err }, 'no snapshot this time'),
        publish: (jpeg) => {
          if (link.publishRetainedBinary(topic, jpeg, 'image/jpeg')) this.pictured.add(name);
        },
        onEnd: (why) => {
          log.info({ channel: name, why }, 'channel ended; no more pictures of it until it is live again');
          this.stop(name);
        },
      }),
    };
    this.watches.set(name, watch);
    this.options
      .acquire(name)
      .then((upstream) => {
        if (watch.stopped) return;
        watch.upstream = upstream;
        upstream.attach(watch.snapshots);
        this.failing.delete(name);
        log.debug({ channel: name }, 'taking pictures of the channel');
      })
      .catch((err: unknown) => {
        const level = this.failing.has(name) ? 'debug' : 'warn';
        this.failing.add(name);
        log[level]({ channel: name, err }, 'cannot take pictures of this channel now; trying again every interval');
        this.stop(name);
      });
  }

  private stop(name: string): void {
    const watch = this.watches.get(name);
    if (!watch) return;
    this.watches.delete(name);
    watch.stopped = true;
    watch.snapshots.close();
    watch.upstream?.detach(watch.snapshots);
  }

  private discover(name: string, meta: ChannelMeta | undefined): void {
    const ha = this.options.homeAssistant;
    if (!ha.enabled) return;
    const topic = discoveryTopic(ha.prefix, name);
    if (meta === undefined) {
      if (this.discovered.delete(name)) this.options.link.clearRetained(topic);
      return;
    }
    const body = cameraDiscovery({ prefix: this.options.prefix, discoveryPrefix: ha.prefix, version: this.options.version, pageUrl: ha.pageUrl }, name);
    const text = JSON.stringify(body);
    if (this.discovered.get(name) === text || !this.options.link.connected) return;
    this.discovered.set(name, text);
    this.options.link.publishJson(topic, body, { retain: true, qos: 1 });
  }

  /** Stops every watch (their upstreams are released); retained pictures and discovery stay. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const name of [...this.watches.keys()]) this.stop(name);
    this.options.hub.off('change', this.onChange);
    this.options.hub.off('snapshot', this.onSnapshot);
    this.options.link.off('connected', this.onConnected);
    if (this.options.snapshots.enabled && this.options.snapshots.channels === 'auto') this.options.link.removeSubscription(this.snapshotFilter);
  }
}
