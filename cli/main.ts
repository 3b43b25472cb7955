/** The `mqttcast` command. */
import { parseArgs } from 'node:util';
import { DEFAULT_PREFIX } from '../protocol/index.js';
import { CliError, EXIT } from './exit-codes.js';
import { describeCommand, playCommand, stopCommand, type RequestFlags } from './requests.js';
import { publishCommand } from './publish.js';
import { parseSnapshotFlags } from './publish-snapshots.js';
import { serve } from './serve.js';

const HELP = `mqttcast — live video over MQTT

Usage:
  mqttcast serve [options]              run broker + media server + web player (what npm start runs)
  mqttcast media-server [options]       only the media server, on an existing broker (--broker)
  mqttcast broker [options]             only the embedded MQTT broker (TCP, and WebSocket at /mqtt)
  mqttcast gateway [options]            web player + WebSocket-to-TCP gateway to a broker (--broker)
  mqttcast describe <url|source>        ask a media server what a source contains
  mqttcast play <url|source> -o FILE    write the stream as fragmented MP4 (-o - for stdout)
  mqttcast stop <reply-topic>           end a session
  mqttcast publish <input> --name N     publish a camera or stream as live channel N (runs ffmpeg here)

Server options (serve):
  --config FILE        JSON or YAML config file (also MQTTCAST_CONFIG)
  --host ADDR          address to listen on (default 127.0.0.1)
  --http-port N        web player, /mqtt WebSocket, /healthz, /metrics (default 8080)
  --mqtt-port N        embedded broker's MQTT TCP port (default 1883)
  --broker URL         use this MQTT broker instead of the embedded one
  --allow ENTRY        allow a URL, or a prefix ending in /* (repeatable, comma-separated)
  --prefix P           topic prefix (default video)
  --share-group G      several media servers on one Mosquitto: share describe/play as $share/G/...
  --secure             secure mode: per-client request topics and reply roots (see README)
  --fragment-ms MS     fMP4 fragment length (default 0: one fragment per video frame)
  --log-level L        fatal|error|warn|info|debug (default info)
  --print-config       print the effective configuration and exit

Client options (describe, play, stop):
  --broker URL         broker to talk to (default mqtt://127.0.0.1:1883)
  -u, --username U     broker user name      -P, --password P   broker password
  --prefix P           topic prefix (default video)
  --codecs LIST        codecs you can play, e.g. avc1.640028,mp4a.40.2
  --timeout S          seconds to wait for an answer (default 30)
  --secure             use secure-mode topics (default: as the server's catalog says)
  -o, --output FILE    play: where to write the MP4 (- for stdout)
  --duration S         play: stop after S seconds of media, counted from the first fragment
                       (default: until Ctrl-C or the source ends)
  -q, --quiet          play: no progress on stderr

Publish (on the device with the camera; needs ffmpeg there):
  mqttcast publish demo --name cam1 --broker mqtt://broker.lan:1883
  <input> is one of:
    demo                 a test pattern with a clock and a tone
    /dev/video0          a V4L2 camera (USB webcam, Raspberry Pi camera via v4l2)
    rtsp://... http://...  an IP camera or a stream URL
    FILE                 a local media file (add --loop to repeat it forever)
    -                    any container on standard input (libcamera-vid, gst-launch ...)
  The channel appears on P/live/N/init (retained), P/live/N/data (fragments) and
  P/live/N/meta (retained JSON; "offline" when the publisher stops or vanishes).
  --name N             channel name: 1-64 letters, digits, _ . - (required)
  --broker URL         mqtt://, mqtts://, ws:// or wss:// (default mqtt://127.0.0.1:1883)
  -u, --username U     -P, --password P     --prefix P (default video)
  --ca FILE            CA certificate (PEM) to trust for mqtts:// or wss://
  --insecure           accept any TLS certificate (testing only)
  --loop               repeat a file input forever
  --transcode          always re-encode to H.264/AAC (default: copy H.264/AAC as is)
  --format F           ffmpeg input format, e.g. mpegts or h264 for a stream on stdin
  --video-size WxH     capture size of a camera, picture size of demo (e.g. 1280x720)
  --framerate N        frames per second of a camera, of demo, or of raw H.264 on stdin
  --fragment-ms MS     fragment length (default 0: one fragment per video frame, lowest latency)
  --publisher LABEL    who publishes, shown in the meta (default host:pid)
  --snapshots          also publish a still picture (JPEG) of the video, made on this
                       device when the stream starts and then every --snapshot-interval
                       seconds (less often if the video's keyframes are further apart).
                       The broker keeps the latest one (retained) on P/live/N/snapshot, so
                       whoever subscribes gets it at once; it stays there after the
                       publisher stops. Media servers then make no pictures of N. Save one:
                         mosquitto_sub -h broker.lan -t 'video/live/N/snapshot' -C 1 -N > cam.jpg
  --snapshot-interval S  seconds between two pictures, 1 to 3600 (default 10)
  --snapshot-width PX  picture width in pixels, 16 to 3840 (default 640; the height keeps
                       the proportions; a smaller video keeps its own size)
  -q, --quiet          no progress on stderr (errors are still printed)
  Runs until Ctrl-C / SIGTERM (then marks the channel offline and clears its init),
  or until a file or stdin input ends. ffmpeg is restarted if it dies; the broker is
  reconnected if it goes away (fragments are dropped meanwhile, never queued).

Exit codes: 0 ok, 1 usage or configuration, 2 refused by the server (publish: the
broker refused the credentials), 3 broker unreachable, 4 timed out, 5 stream failed
after it started (publish: the input could not be opened or ffmpeg failed).
`;

/** Runs one command; resolves true when the process must keep running (serve). */
async function main(argv: string[]): Promise<boolean> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      config: { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'mqtt-port': { type: 'string' },
      broker: { type: 'string' },
      username: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'P' },
      allow: { type: 'string', multiple: true },
      prefix: { type: 'string' },
      'log-level': { type: 'string' },
      'print-config': { type: 'boolean' },
      'share-group': { type: 'string' },
      secure: { type: 'boolean' },
      codecs: { type: 'string' },
      timeout: { type: 'string' },
      output: { type: 'string', short: 'o' },
      duration: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
      name: { type: 'string' },
      loop: { type: 'boolean' },
      transcode: { type: 'boolean' },
      format: { type: 'string' },
      'video-size': { type: 'string' },
      framerate: { type: 'string' },
      'fragment-ms': { type: 'string' },
      publisher: { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean' },
      snapshots: { type: 'boolean' },
      'snapshot-interval': { type: 'string' },
      'snapshot-width': { type: 'string' },
    },
  });
  const [command = 'serve', arg] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(HELP);
    return false;
  }
  if (command === 'serve' || command === 'media-server' || command === 'broker' || command === 'gateway') return serve(values, command);
  if (command === 'publish') {
    if (!arg) throw new CliError('publish needs an input: demo, /dev/video0, a URL, a file or - (stdin); see mqttcast --help', EXIT.USAGE);
    const framerate = values.framerate === undefined ? undefined : Number(values.framerate);
    if (framerate !== undefined && !(framerate > 0 && framerate <= 240)) throw new CliError('--framerate must be a number of frames per second', EXIT.USAGE);
    const fragmentMs = values['fragment-ms'] === undefined ? undefined : Number(values['fragment-ms']);
    if (fragmentMs !== undefined && !(fragmentMs >= 0 && fragmentMs <= 2000)) throw new CliError('--fragment-ms must be 0 (one frame) to 2000 milliseconds', EXIT.USAGE);
    const snapshots = parseSnapshotFlags(values);
    await publishCommand({
      input: arg, name: values.name, broker: values.broker ?? 'mqtt://127.0.0.1:1883', username: values.username, password: values.password,
      prefix: values.prefix ?? DEFAULT_PREFIX, ca: values.ca, insecure: values.insecure ?? false, publisher: values.publisher,
      loop: values.loop ?? false, transcode: values.transcode ?? false, snapshots, format: values.format, videoSize: values['video-size'], framerate, fragmentMs,
      quiet: values.quiet ?? false, ffmpegPath: process.env.MQTTCAST_FFMPEG, ffprobePath: process.env.MQTTCAST_FFPROBE,
    });
    return false;
  }
  if (!['describe', 'play', 'stop'].includes(command)) throw new CliError(`unknown command "${command}"\n\n${HELP}`, EXIT.USAGE);
  if (!arg) throw new CliError(`${command} needs an argument; see mqttcast --help`, EXIT.USAGE);
  const positive = (v: string | undefined, name: string, dflt?: number): number | undefined => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new CliError(`--${name} must be a positive number of seconds`, EXIT.USAGE);
    return n;
  };
  if (command === 'play' && !values.output) throw new CliError('play needs -o FILE (or -o - for stdout)', EXIT.USAGE);
  const flags: RequestFlags = {
    broker: values.broker ?? 'mqtt://127.0.0.1:1883',
    username: values.username,
    password: values.password,
    prefix: values.prefix ?? DEFAULT_PREFIX,
    timeoutS: positive(values.timeout, 'timeout', 30)!,
    codecs: values.codecs?.split(',').map((c) => c.trim()).filter(Boolean),
    secure: values.secure,
  };
  if (command === 'describe') await describeCommand(arg, flags);
  else if (command === 'stop') await stopCommand(arg, flags);
  else await playCommand(arg, { ...flags, output: values.output!, durationS: positive(values.duration, 'duration'), quiet: values.quiet ?? false });
  return false;
}

main(process.argv.slice(2)).then(
  (keepRunning) => {
    if (!keepRunning) process.exit(EXIT.OK);
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`mqttcast: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`mqttcast: ${(err as Error).message ?? String(err)}\n`);
    process.exit(EXIT.USAGE);
  },
);
