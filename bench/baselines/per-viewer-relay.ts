/**
 * Baseline (a), "per-viewer transcode": what the seed prototype did. A tiny
 * standalone relay — the same embedded Aedes broker, and for every play its own
 * ffmpeg transcoding the demo pattern with x264 (-preset veryfast), fragments
 * only at keyframes, and nothing published until two keyframes were seen.
 *
 * Run as its own process (the bench measures it through /proc):
 *   node --import tsx bench/baselines/per-viewer-relay.ts --mqtt-port N [--width 1280 --height 720 --fps 30]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import pino from 'pino';
import { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { Fmp4Segmenter, fragmentStartsWithSync, parseFragment, parseInit, type InitInfo } from '../../protocol/index.js';

const FONT = ['/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf'].find((f) => existsSync(f));

/** The seed's ffmpeg: demo lavfi input (same pattern, clock and tone as mqttcast's demo), x264 veryfast, 1 s GOP. */
export function relayFfmpegArgs(width: number, height: number, fps: number): string[] {
  const clock = FONT ? `,drawtext=fontfile=${FONT}:text='%{localtime\\:%X}':fontsize=${Math.round(height / 12)}:fontcolor=white:x=(w-tw)/2:y=h-th-40` : '';
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}${clock}`,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v:0', '-map', '1:a:0',
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', String(fps), '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', 'pipe:1',
  ];
}

interface Relay {
  child: ChildProcess;
  held: Buffer[] | undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'mqtt-port': { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, fps: { type: 'string' } },
  });
  const port = Number(values['mqtt-port']);
  const [width, height, fps] = [Number(values.width ?? 1280), Number(values.height ?? 720), Number(values.fps ?? 30)];
  const log = pino({ level: 'warn' });
  const broker = await EmbeddedBroker.start({ host: '127.0.0.1', port, maxPacketBytes: 16 * 2 ** 20, logger: log });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'per-viewer-relay' });
  const relays = new Map<string, Relay>();

  const stopRelay = (topic: string): void => {
    const r = relays.get(topic);
    relays.delete(topic);
    if (r?.child.pid !== undefined && r.child.exitCode === null) r.child.kill('SIGKILL');
  };

  const startRelay = (topic: string): void => {
    stopRelay(topic);
    const child = spawn('ffmpeg', relayFfmpegArgs(width, height, fps), { stdio: ['ignore', 'pipe', 'inherit'] });
    const relay: Relay = { child, held: [] };
    relays.set(topic, relay);
    const segmenter = new Fmp4Segmenter();
    let init: InitInfo | undefined;
    let keyframes = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      for (const seg of segmenter.push(chunk)) {
        const data = Buffer.from(seg.data.buffer, seg.data.byteOffset, seg.data.byteLength);
        if (seg.kind === 'init') init = parseInit(data);
        else if (init) {
          const video = init.tracks.find((t) => t.id === init!.videoTrackId);
          if (fragmentStartsWithSync(parseFragment(data), init.videoTrackId, video?.defaultSampleFlags ?? 0)) keyframes++;
        }
        if (relay.held) {
          relay.held.push(data);
          if (keyframes < 2) continue;
          for (const m of relay.held) client.publish(topic, m, { qos: 0 });
          relay.held = undefined;
        } else client.publish(topic, data, { qos: 0 });
      }
    });
    child.once('exit', () => {
      if (relays.get(topic) === relay) relays.delete(topic);
    });
  };

  client.on('message', (topic, payload) => {
    try {
      const body = JSON.parse(payload.toString('utf8')) as { reply_topic?: string };
      if (typeof body.reply_topic !== 'string') return;
      if (topic === 'video/play') startRelay(body.reply_topic);
      else if (topic === 'video/stop') stopRelay(body.reply_topic);
    } catch (err) {
      log.warn({ err, topic }, 'bad request ignored');
    }
  });
  await client.subscribeAsync(['video/play', 'video/stop'], { qos: 1 });
  process.stdout.write('READY\n');

  const shutdown = (): void => {
    for (const topic of [...relays.keys()]) stopRelay(topic);
    void client.endAsync(true).finally(() => broker.close().finally(() => process.exit(0)));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (process.argv[1]?.endsWith('per-viewer-relay.ts')) {
  main().catch((err: unknown) => {
    process.stderr.write(`per-viewer-relay: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
