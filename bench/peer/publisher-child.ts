/**
 * The channel publisher of the peer scenario, a process of its own (as
 * `mqttcast publish` is, and as node-media-server reads ffmpeg directly): reads
 * the source ffmpeg's fragmented MP4 on stdin and publishes it as channel
 * `<name>` (channel-feed.ts). Once a second it writes one JSON line on stdout:
 * fragments sent and dropped, and the handoff times since the last line.
 *
 *   node --import tsx bench/peer/publisher-child.ts <mqtt url> <name>
 */
import { Fmp4Segmenter } from '../../protocol/index.js';
import { feedChannel } from './channel-feed.js';

export interface PublisherReport {
  sent: number;
  dropped: number;
  handoffMs: number[];
}

const [url, name] = process.argv.slice(2);
if (!url || !name) {
  process.stderr.write('usage: publisher-child.ts <mqtt url> <channel name>\n');
  process.exit(2);
}
const feed = await feedChannel(url, name);
const segmenter = new Fmp4Segmenter();
process.stdin.on('data', (chunk: Buffer) => {
  for (const segment of segmenter.push(chunk)) feed.onSegment(segment);
});
const report = (): void => {
  const line: PublisherReport = { ...feed.counts, handoffMs: feed.handoffMs.splice(0) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const timer = setInterval(report, 1000);
let closing = false;
const close = async (): Promise<void> => {
  if (closing) return;
  closing = true;
  clearInterval(timer);
  report();
  await feed.close();
  process.exit(0);
};
process.stdin.once('end', () => void close());
process.once('SIGTERM', () => void close());
