/**
 * `mqttcast publish <input> --name NAME`: the ingest that runs on the device with the
 * camera. ffmpeg makes low-latency fMP4 locally; the channel is published on
 * `P/live/<name>/init|data|meta` (DESIGN §8) for any number of consumers and edges, and
 * with `--snapshots` a JPEG of its latest keyframe on `P/live/<name>/snapshot`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  MqttcastError, channelTopics, parseInit, type ChannelMetaInput, type ChannelTopics, type InitInfo, type Segment, type Track,
} from '../protocol/index.js';
import { findFfmpeg, type FfmpegBinaries } from '../media-server/ffmpeg/ffmpeg-binaries.js';
import { cleanLine } from '../media-server/ffmpeg/ffmpeg-diagnosis.js';
import { createLogger } from '../media-server/daemon/logger.js';
import { CliError, EXIT } from './exit-codes.js';
import { buildPublishArgs, classifyInput, describeInput, describeProfile, endsWithInput, parseVideoSize, type InputOptions, type PublishInput } from './publish-args.js';
import { Ingest, type IngestEnd } from './publish-ingest.js';
import { StdinFeed, explainFfmpeg, openInput, type OpenedInput } from './publish-input.js';
import { ChannelLink } from './publish-link.js';
import { NOT_AUTHORIZED } from './publish-refusal.js';
import { DeviceSnapshots, type SnapshotFlags } from './publish-snapshots.js';
import { StreamStats, fragmentFacts } from './publish-stats.js';

export interface PublishFlags extends InputOptions {
  input: string;
  name?: string;
  broker: string;
  username?: string;
  password?: string;
  prefix: string;
  /** CA certificate file (PEM) for mqtts:// and wss://. */
  ca?: string;
  insecure: boolean;
  /** Label in the meta's `publisher` (default `<host>:<pid>`). */
  publisher?: string;
  transcode: boolean;
  /** `--snapshots`: the device publishes pictures of its channel (undefined: it does not). */
  snapshots?: SnapshotFlags;
  quiet: boolean;
  ffmpegPath?: string;
  ffprobePath?: string;
}

/** Seconds between meta refreshes and progress lines. */
export const META_INTERVAL_MS = 5000;
const SHUTDOWN_FORCE_MS = 10_000;

function coded(err: MqttcastError, exitCode: number): CliError {
  return new CliError(`${err.code}: ${err.message}`, exitCode);
}

function checkFlags(flags: PublishFlags): { topics: ChannelTopics; input: PublishInput } {
  if (flags.name === undefined) throw new CliError('publish needs --name NAME, the channel name (e.g. --name cam1)', EXIT.USAGE);
  let topics: ChannelTopics;
  try {
    topics = channelTopics(flags.prefix, flags.name);
  } catch (err) {
    if (err instanceof MqttcastError) throw coded(err, EXIT.USAGE);
    throw err;
  }
  const input = classifyInput(flags.input);
  if (flags.loop && input.kind !== 'file') throw new CliError('--loop only applies to a local file input', EXIT.USAGE);
  if (flags.videoSize !== undefined && !parseVideoSize(flags.videoSize)) {
    throw new CliError(`--video-size must look like 1280x720, not "${flags.videoSize}"`, EXIT.USAGE);
  }
  if (input.kind === 'stdin' && process.stdin.isTTY) {
    throw new CliError('the input "-" reads a stream from standard input, but it is a terminal; pipe a stream in', EXIT.USAGE);
  }
  return { topics, input };
}

function findBinaries(flags: PublishFlags): FfmpegBinaries {
  try {
    return findFfmpeg({ ffmpegPath: flags.ffmpegPath, ffprobePath: flags.ffprobePath }, createLogger('warn'));
  } catch (err) {
    throw coded(new MqttcastError('FFMPEG_FAILED', (err as Error).message), EXIT.USAGE);
  }
}

function readCa(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read --ca ${file}: ${(err as Error).message}`, EXIT.USAGE);
  }
}

function tracksOf(init: InitInfo, opened: OpenedInput): Track[] {
  const out: Track[] = [];
  for (const t of init.tracks) {
    if (t.type === 'other') continue;
    const source = t.type === 'video' ? opened.probe?.video : opened.probe?.audio;
    out.push({
      id: t.id, type: t.type, codec: t.codec, sourceCodec: source?.codec,
      width: t.width, height: t.height, sampleRate: t.sampleRate, channels: t.channels,
    });
  }
  return out;
}

/**
 * `--snapshots`: pictures of the channel, each published retained on its snapshot topic. A
 * broker that refuses them (MQTT 5 "not authorized") ends the pictures, not the channel.
 */
function startSnapshots(snapshotFlags: SnapshotFlags, ffmpeg: string, topics: ChannelTopics, link: ChannelLink, stats: StreamStats, say: (msg: string) => void): DeviceSnapshots {
  const topic = topics.snapshot;
  const snapshots: DeviceSnapshots = new DeviceSnapshots({
    ffmpeg,
    channel: topics.name,
    flags: snapshotFlags,
    warn: say,
    publish: (jpeg) => {
      const sent = link.publishSnapshot(jpeg, (err) => {
        if (!err) return;
        if ((err as Error & { code?: unknown }).code !== NOT_AUTHORIZED) {
          say(`could not publish a picture on ${topic}: ${err.message}`);
          return;
        }
        say(`the broker does not let this client publish pictures on ${topic}; no more pictures (media servers may make them instead)`);
        void snapshots.close();
      });
      if (sent) stats.pictures++;
    },
  });
  say(`a picture every ${snapshotFlags.intervalS} s on ${topic}`);
  return snapshots;
}

type Outcome = { kind: 'ended'; end: IngestEnd } | { kind: 'failed'; err: unknown } | { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'refused'; err: CliError };

/**
 * Runs the ingest until its input ends or fails, until SIGINT/SIGTERM (a second one kills at
 * once), or until the broker refuses the channel (secure mode: not this user's channel).
 */
async function runUntilSignal(ingest: Ingest, refused: Promise<CliError>): Promise<Outcome> {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    return await Promise.race([
      ingest.run().then((end): Outcome => ({ kind: 'ended', end }), (err: unknown): Outcome => ({ kind: 'failed', err })),
      signalled.then((signal): Outcome => ({ kind: 'signal', signal })),
      refused.then((err): Outcome => ({ kind: 'refused', err })),
    ]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function publishCommand(flags: PublishFlags): Promise<void> {
  const { topics, input } = checkFlags(flags);
  const name = topics.name;
  const say = (msg: string): void => {
    if (!flags.quiet) process.stderr.write(`${new Date().toISOString().slice(11, 19)} publish ${name}: ${msg}\n`);
  };
  const binaries = findBinaries(flags);
  const ca = readCa(flags.ca);
  const stdin = input.kind === 'stdin' ? new StdinFeed() : undefined;
  say(`opening ${describeInput(input)}`);
  const opened = await openInput(binaries.ffprobe, input, flags, stdin).catch((err: unknown) => {
    throw err instanceof MqttcastError ? coded(err, EXIT.STREAM_FAILED) : err;
  });

  const base = { publisher: flags.publisher ?? `${hostname()}:${process.pid}`, started_at: new Date().toISOString() };
  const link = await ChannelLink.connect({
    broker: flags.broker,
    username: flags.username,
    password: flags.password,
    ca,
    insecure: flags.insecure,
    clientId: `mqttcast-pub-${name}-${randomBytes(3).toString('hex')}`.slice(0, 64),
    topics,
    will: { state: 'offline', ...base, reason: 'connection_lost' },
    onEvent: (_event, detail) => say(detail),
  });
  say(`publishing ${describeInput(input)} (${describeProfile(opened.profile)}) on ${topics.init}, ${topics.data}, ${topics.meta}`);

  const stats = new StreamStats();
  const snapshots = flags.snapshots && startSnapshots(flags.snapshots, binaries.ffmpeg, topics, link, stats, say);
  let init: InitInfo | undefined;
  let live = false;
  let closing = false;
  const liveMeta = (): ChannelMetaInput => ({
    state: 'live', ...base, mimeCodec: init!.mimeCodec, tracks: tracksOf(init!, opened),
    bitrate: stats.bitrate(), gop: stats.gopS, updated_at: new Date().toISOString(),
    ...(snapshots?.active ? { snapshots: true } : {}),
  });
  const onSegment = (segment: Segment): void => {
    if (closing) return;
    if (segment.kind === 'init') {
      init = parseInit(segment.data);
      stats.restart();
      snapshots?.onInit(segment.data, init);
      link.setInit(segment.data);
      link.setMeta(liveMeta());
      if (!live) say(`live: ${init.mimeCodec}`);
      live = true;
      return;
    }
    if (!init) return;
    const facts = fragmentFacts(segment.data, init);
    stats.add(segment.data.byteLength, facts);
    if (link.publishData(segment.data, facts.sync) === 'dropped') stats.dropped++;
    snapshots?.onFragment(segment.data, facts.sync);
  };
  const ingest = new Ingest({
    ffmpeg: binaries.ffmpeg,
    args: buildPublishArgs(input, opened.profile, opened.live, flags),
    stdin,
    endsWithInput: endsWithInput(input, flags),
    onSegment,
    explain: (stderr) => explainFfmpeg(stderr, input),
    onExit: (why, restartInMs) => {
      live = false;
      if (restartInMs === undefined || closing) return;
      say(`ffmpeg stopped (${why}); restarting in ${restartInMs / 1000} s`);
      link.setMeta({ state: 'offline', ...base, reason: 'input_failed', message: cleanLine(why), updated_at: new Date().toISOString() });
    },
  });

  const progress = setInterval(() => {
    if (live && init) link.setMeta(liveMeta());
    const mbps = (stats.bitrate() / 1e6).toFixed(2);
    const gop = stats.gopS === undefined ? '?' : stats.gopS.toFixed(1);
    const pictures = snapshots ? `, ${stats.pictures} pictures` : '';
    say(`${live ? 'live' : 'waiting for ffmpeg'}, ${stats.fragments} fragments (${stats.dropped} dropped), ${mbps} Mbit/s, GOP ${gop} s${pictures}, broker ${link.connected ? 'connected' : 'away'}`);
  }, META_INTERVAL_MS);

  const outcome = await runUntilSignal(ingest, link.refusal.refused);

  // Ordered shutdown: no more data, meta offline + init cleared, disconnect, then ffmpeg killed and reaped.
  closing = true;
  clearInterval(progress);
  const force = setTimeout(() => {
    process.stderr.write(`mqttcast: publish ${name}: shutdown took longer than ${SHUTDOWN_FORCE_MS / 1000} s; exiting\n`);
    process.exit(EXIT.STREAM_FAILED);
  }, SHUTDOWN_FORCE_MS);
  force.unref();
  const reason = outcome.kind === 'signal' ? 'stopped' : outcome.kind === 'ended' ? outcome.end.reason : 'input_failed';
  // Everyone who reads the channel sees the meta: no URLs (camera passwords) or paths in it.
  const message = outcome.kind === 'failed' ? cleanLine((outcome.err as Error).message) : outcome.kind === 'refused' ? 'refused by the broker' : undefined;
  say(outcome.kind === 'signal' ? `${outcome.signal}: stopping` : `stopping (${message ?? reason.replace('_', ' ')})`);
  await snapshots?.close();
  await link.close({ state: 'offline', ...base, reason, message, updated_at: new Date().toISOString() });
  await ingest.close();
  clearTimeout(force);
  say(`offline after ${stats.fragments} fragments`);
  if (outcome.kind === 'refused') throw outcome.err;
  if (outcome.kind === 'failed') {
    const err = outcome.err;
    if (!(err instanceof MqttcastError)) throw err;
    throw new CliError(`${err.code}: ffmpeg could not publish ${describeInput(input)}: ${err.message}`, EXIT.STREAM_FAILED);
  }
}
