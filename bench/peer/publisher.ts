/**
 * Starts publisher-child.ts (the channel publisher, its own process) and
 * collects its once-a-second reports. Its stdin is where the source ffmpeg
 * writes its fragmented MP4.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stopChild, waitForExit } from '../../test/helpers/child.js';
import type { PublisherReport } from './publisher-child.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'publisher-child.ts');
const MAX_KEPT = 20_000;

export interface Publisher {
  /** ffmpeg's stdout goes here. */
  stdin: Writable;
  pid: number;
  counts: { sent: number; dropped: number };
  /** fMP4 written by ffmpeg (prft) → handed to MQTT by the publisher, ms (the latest). */
  handoffMs: number[];
  close(): Promise<void>;
}

export async function startPublisher(mqttUrl: string, name: string): Promise<Publisher> {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(process.execPath, ['--import', 'tsx', SCRIPT, mqttUrl, name], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (t: string) => {
    stderr = (stderr + t).slice(-4000);
  });
  const publisher: Publisher = {
    stdin: child.stdin,
    pid: child.pid ?? -1,
    counts: { sent: 0, dropped: 0 },
    handoffMs: [],
    close: async () => {
      child.stdin.end(); // the end of the stream: the publisher says goodbye to the broker and exits
      if (!(await waitForExit(child, 5000))) await stopChild(child, { signal: 'SIGTERM', graceMs: 3000 });
    },
  };
  const ready = new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const r = JSON.parse(line) as PublisherReport;
        publisher.counts = { sent: r.sent, dropped: r.dropped };
        publisher.handoffMs.push(...r.handoffMs);
        if (publisher.handoffMs.length > MAX_KEPT) publisher.handoffMs.splice(0, publisher.handoffMs.length - MAX_KEPT);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`channel publisher exited (${code}): ${stderr.trim().slice(-1000)}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  return publisher;
}
