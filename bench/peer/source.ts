/**
 * The one source of the peer scenario: ONE ffmpeg encodes a 640x360@30 test
 * pattern once (the media server's own H.264/AAC settings, 1 s GOP) and writes
 * it twice through the `tee` muxer: FLV over RTMP to node-media-server, and
 * the media server's fragmented MP4 (same `outputArgs`) on stdout, which is
 * the stdin of the channel publisher (publisher-child.ts), like
 * `camera | mqttcast publish -`.
 *
 * Each frame carries its number n as a barcode (top-left, 16 white/black
 * blocks and, below them, their complement, so a misread is detected), and
 * ffmpeg prints, right before the frame is encoded, n and its own wall clock
 * (`print(time(0))` in the barcode filter's timeline expression, on stderr).
 * That map n → wall time is the producer clock of every player.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { encodeArgs, outputArgs } from '../../media-server/ffmpeg/ffmpeg-args.js';
import { stopChild } from '../../test/helpers/child.js';

export const SOURCE = { width: 640, height: 360, fps: 30 } as const;

/** Barcode geometry, shared with the page probe: bit i is a 16×16 block at x = i·24 + 8, y = 8 (complement at y = 32). */
export const BARCODE = { bits: 16, pitch: 24, block: 16, x0: 8, row: 8, complementRow: 32, stripWidth: 400, stripHeight: 56 } as const;

/** Producer times kept (frames); a frame older than this is never looked up again. */
const KEPT_FRAMES = 8192;

/** The video filter: black strip, the wall clock printed at each frame, n in blocks. */
export function barcodeFilter(): string {
  const { bits, pitch, block, x0, row, complementRow, stripWidth, stripHeight } = BARCODE;
  // print(x, 16) logs x at AV_LOG_ERROR: visible with -loglevel error, one number per line.
  const parts = ['format=yuv420p', `drawbox=x=0:y=0:w=${stripWidth}:h=${stripHeight}:color=black:t=fill:enable='gte(print(n\\,16)+print(time(0)\\,16)\\,0)'`];
  for (let i = 0; i < bits; i++) {
    const box = `x=${x0 + i * pitch}:w=${block}:h=${block}:color=white:t=fill`;
    parts.push(`drawbox=${box}:y=${row}:enable='bitand(n\\,${2 ** i})'`);
    parts.push(`drawbox=${box}:y=${complementRow}:enable='not(bitand(n\\,${2 ** i}))'`);
  }
  return parts.join(',');
}

/** `-f mp4 -movflags X ... pipe:1` as one tee slave: `[f=mp4:movflags=X:...]pipe:1`. */
export function teeSlave(args: readonly string[]): string {
  const target = args[args.length - 1]!;
  const options: string[] = [];
  for (let i = 0; i < args.length - 1; i += 2) {
    const key = args[i]!;
    const value = args[i + 1];
    if (!key.startsWith('-') || value === undefined) throw new Error(`cannot turn ffmpeg output options into a tee slave: ${args.join(' ')}`);
    options.push(`${key.slice(1)}=${value.replace(/[:\\[\]|]/g, (c) => `\\${c}`)}`);
  }
  return `[${options.join(':')}]${target}`;
}

export function sourceArgs(rtmpUrl: string): string[] {
  const { width, height, fps } = SOURCE;
  const mp4 = teeSlave(outputArgs(0, fps));
  return [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-vf', barcodeFilter(),
    ...encodeArgs({ video: 'h264', audio: 'aac' }, fps),
    // Both muxers take the codec configuration from the stream header (FLV sequence header, avcC/esds).
    '-flags:v', '+global_header', '-flags:a', '+global_header',
    '-f', 'tee', `[f=flv:onfail=abort]${rtmpUrl}|${mp4}`,
  ];
}

/**
 * The frame number in a grey (one byte a pixel) picture of the barcode strip,
 * `width` bytes a row; null when a block and its complement disagree. The page
 * probe (page-probe.ts) reads the picture the same way.
 */
export function readBarcode(gray: Uint8Array, width: number): number | null {
  const { bits, pitch, block, x0, row, complementRow } = BARCODE;
  let n = 0;
  for (let i = 0; i < bits; i++) {
    const x = x0 + i * pitch + block / 2;
    const one = gray[(row + block / 2) * width + x]! > 128;
    const zero = gray[(complementRow + block / 2) * width + x]! > 128;
    if (one === zero) return null;
    if (one) n += 2 ** i;
  }
  return n;
}

export class PeerSource {
  private readonly times = new Float64Array(KEPT_FRAMES).fill(Number.NaN);
  private readonly frames = new Int32Array(KEPT_FRAMES).fill(-1);
  private pendingN: number | undefined;
  private stderrTail = '';
  private lines = '';
  private readonly child: ChildProcess;

  /** `mp4Out`: a pipe to another process (its stdin) or a file descriptor, which ffmpeg's stdout becomes. */
  constructor(rtmpUrl: string, mp4Out: Writable | number) {
    this.child = spawn('ffmpeg', sourceArgs(rtmpUrl), { stdio: ['ignore', mp4Out, 'pipe'], detached: true });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => this.readStderr(text));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Why ffmpeg stopped, or its last words. */
  get stderr(): string {
    return this.stderrTail.trim();
  }

  /** Wall-clock ms (Unix) at which frame n went into the encoder; undefined when unknown or forgotten. */
  producerTimeMs(n: number): number | undefined {
    const slot = n % KEPT_FRAMES;
    return this.frames[slot] === n ? this.times[slot] : undefined;
  }

  /** Frames whose producer time is known so far (the newest number + 1). */
  get framesKnown(): number {
    return this.pendingN === undefined ? 0 : this.pendingN + 1;
  }

  async close(): Promise<void> {
    await stopChild(this.child, { signal: 'SIGTERM', graceMs: 2000, group: true });
  }

  private readStderr(text: string): void {
    this.lines += text;
    const parts = this.lines.split('\n');
    this.lines = parts.pop()!;
    for (const line of parts) {
      const value = /^-?\d+\.\d+$/.test(line.trim()) ? Number(line) : Number.NaN;
      if (Number.isNaN(value)) {
        this.stderrTail = `${this.stderrTail}${line}\n`.slice(-4000);
        continue;
      }
      // Lines come in pairs, n then time(0) (each pair twice: the timeline is evaluated twice per frame; the first counts).
      if (value < 1e9) this.pendingN = value;
      else if (this.pendingN !== undefined) {
        const slot = this.pendingN % KEPT_FRAMES;
        if (this.frames[slot] !== this.pendingN) {
          this.frames[slot] = this.pendingN;
          this.times[slot] = value * 1000;
        }
      }
    }
  }
}
