/**
 * The Go live muxer (client/go-live/fmp4-muxer.ts, one fragment per video frame) and
 * mediabunny's fragmented MP4 (`Mp4OutputFormat({fastStart: 'fragmented',
 * minimumFragmentDuration: 0})`, streaming callbacks) fed the same encoded packets:
 * 30 fps H.264-sized frames with a keyframe every second and 20 ms Opus packets, in
 * timestamp order, as WebCodecs gives them. Measures how long each video frame waits
 * in the muxer (media time between the frame and the newest packet fed when its bytes
 * came out), fragments per second, container overhead, and muxing CPU per frame.
 *
 *   flock /tmp/mqttcast-test.lock npx tsx bench/go-live-muxers.ts [--seconds 20]
 *
 * Prints a table and writes bench/results/<time>-go-live-muxers.json. Not part of
 * `npm run bench` (pure CPU, no server).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EncodedAudioPacketSource, EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, NullTarget, Output } from 'mediabunny';
import { ChannelMuxer } from '../client/go-live/fmp4-muxer.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const SECONDS = Number(values.seconds);
const FPS = 30;
const GOP = 30;
const AUDIO_US = 20_000;
const AVCC = Uint8Array.from([1, 0x42, 0xe0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xe0, 0x1e, 1, 0, 2, 0x68, 0xce]);

interface Packet {
  kind: 'video' | 'audio';
  us: number;
  key: boolean;
  data: Uint8Array;
}

/** Deterministic packets: keyframes 24 kB, other frames 3 kB (≈1 Mbit/s), Opus 160 B. */
function packets(): Packet[] {
  const out: Packet[] = [];
  const fill = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  for (let f = 0; f < SECONDS * FPS; f++) {
    const key = f % GOP === 0;
    out.push({ kind: 'video', us: Math.round((f * 1e6) / FPS), key, data: fill(key ? 24_000 : 3_000, f) });
  }
  for (let a = 0; a < (SECONDS * 1e6) / AUDIO_US; a++) out.push({ kind: 'audio', us: a * AUDIO_US, key: true, data: fill(160, a) });
  return out.sort((x, y) => x.us - y.us || (x.kind === 'video' ? -1 : 1));
}

interface Result {
  muxer: string;
  fragmentsPerSecond: number;
  waitMsP50: number;
  waitMsMax: number;
  overheadPercent: number;
  cpuUsPerFrame: number;
}

const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

function summarize(muxer: string, input: Packet[], waitsUs: number[], fragments: number, bytes: number, cpuUs: number): Result {
  const payload = input.reduce((n, p) => n + p.data.byteLength, 0);
  return {
    muxer,
    fragmentsPerSecond: fragments / SECONDS,
    waitMsP50: percentile(waitsUs, 0.5) / 1000,
    waitMsMax: Math.max(...waitsUs) / 1000,
    overheadPercent: ((bytes - payload) / payload) * 100,
    cpuUsPerFrame: cpuUs / (SECONDS * FPS),
  };
}

function runOurs(input: Packet[]): Result {
  let clock = 0;
  let bytes = 0;
  let fragments = 0;
  const waits: number[] = [];
  const pending: number[] = [];
  const muxer = new ChannelMuxer({
    audio: true,
    onInit: (init) => (bytes += init.byteLength),
    onFragment: ({ data, video }) => {
      bytes += data.byteLength;
      fragments++;
      if (video) waits.push(clock - pending.shift()!);
    },
  });
  muxer.setVideoConfig({ width: 640, height: 360, avcC: AVCC });
  muxer.setAudioConfig({ channels: 1, sampleRate: 48_000, preSkip: 312 });
  const start = process.cpuUsage();
  for (const p of input) {
    clock = p.us;
    if (p.kind === 'video') {
      pending.push(p.us);
      muxer.addVideo({ timestampUs: p.us, keyframe: p.key, data: p.data, wallClockMs: Date.now() });
    } else muxer.addAudio({ timestampUs: p.us, durationUs: AUDIO_US, data: p.data });
  }
  const cpu = process.cpuUsage(start);
  return summarize('go-live (one fragment per frame)', input, waits, fragments, bytes, cpu.user + cpu.system);
}

async function runMediabunny(input: Packet[]): Promise<Result> {
  let clock = 0;
  let bytes = 0;
  let fragments = 0;
  const waits: number[] = [];
  const pending: number[] = [];
  const output = new Output({
    format: new Mp4OutputFormat({
      fastStart: 'fragmented',
      minimumFragmentDuration: 0,
      onFtyp: (data) => (bytes += data.byteLength),
      onMoov: (data) => (bytes += data.byteLength),
      onMoof: (data, _position, timestamp) => {
        bytes += data.byteLength;
        fragments++;
        // This fragment holds the frames from `timestamp` up to the next fragment's start: all queued ones before the newest packet.
        while (pending.length > 0 && pending[0]! < clock && pending[0]! >= Math.round(timestamp * 1e6) - 1) waits.push(clock - pending.shift()!);
      },
      onMdat: (data) => (bytes += data.byteLength),
    }),
    target: new NullTarget(),
  });
  const video = new EncodedVideoPacketSource('avc');
  const audio = new EncodedAudioPacketSource('opus');
  output.addVideoTrack(video, { frameRate: FPS });
  output.addAudioTrack(audio);
  await output.start();
  const start = process.cpuUsage();
  let first = true;
  let firstAudio = true;
  for (const p of input) {
    clock = p.us;
    if (p.kind === 'video') {
      pending.push(p.us);
      const meta = first ? { decoderConfig: { codec: 'avc1.42E01E', codedWidth: 640, codedHeight: 360, description: AVCC } } : undefined;
      first = false;
      await video.add(new EncodedPacket(p.data, p.key ? 'key' : 'delta', p.us / 1e6, 1 / FPS), meta);
    } else {
      const meta = firstAudio ? { decoderConfig: { codec: 'opus', sampleRate: 48_000, numberOfChannels: 1 } } : undefined;
      firstAudio = false;
      await audio.add(new EncodedPacket(p.data, 'key', p.us / 1e6, AUDIO_US / 1e6), meta);
    }
  }
  const cpu = process.cpuUsage(start);
  await output.finalize();
  return summarize('mediabunny 1.x (fragmented, minimumFragmentDuration 0)', input, waits, fragments, bytes, cpu.user + cpu.system);
}

const input = packets();
const results = [runOurs(input), await runMediabunny(input), runOurs(input), await runMediabunny(input)];
console.table(results.map((r) => ({ ...r, waitMsP50: r.waitMsP50.toFixed(1), waitMsMax: r.waitMsMax.toFixed(1), overheadPercent: r.overheadPercent.toFixed(2), cpuUsPerFrame: r.cpuUsPerFrame.toFixed(1) })));
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-go-live-muxers.json`);
writeFileSync(file, `${JSON.stringify({ seconds: SECONDS, fps: FPS, gopFrames: GOP, node: process.version, results }, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
