/**
 * Publishes the peer source's fragmented MP4 as live channel `live/<name>`
 * through the same link `mqttcast publish` uses (cli/publish-link.ts: retained
 * init and meta, QoS 0 fragments, resume on a keyframe), so the channel is
 * what a camera running `mqttcast publish` would put on the broker — minus
 * that command's own ffmpeg, since the source ffmpeg already writes its fMP4.
 */
import { randomBytes } from 'node:crypto';
import { ChannelLink } from '../../cli/publish-link.js';
import { fragmentFacts } from '../../cli/publish-stats.js';
import { channelTopics, parseFragment, parseInit, type InitInfo, type Segment } from '../../protocol/index.js';

const MAX_KEPT = 20_000;

export interface ChannelFeed {
  onSegment(segment: Segment): void;
  /** Fragments published and dropped (the link drops while the broker is away or mid-GOP after a gap). */
  readonly counts: { sent: number; dropped: number };
  /**
   * Fragment written by ffmpeg (its prft wall clock) → handed to MQTT here, ms, the latest
   * ones: the pipe and this process's event loop, which `mqttcast publish` has too.
   */
  readonly handoffMs: number[];
  close(): Promise<void>;
}

export async function feedChannel(mqttUrl: string, name: string): Promise<ChannelFeed> {
  const topics = channelTopics('video', name);
  const base = { publisher: 'bench-peer', started_at: new Date().toISOString() };
  const link = await ChannelLink.connect({
    broker: mqttUrl,
    clientId: `bench-peer-${randomBytes(3).toString('hex')}`,
    topics,
    will: { state: 'offline', ...base, reason: 'connection_lost' },
  });
  let init: InitInfo | undefined;
  const counts = { sent: 0, dropped: 0 };
  const handoffMs: number[] = [];
  return {
    counts,
    handoffMs,
    onSegment(segment) {
      if (segment.kind === 'init') {
        init = parseInit(segment.data);
        link.setInit(segment.data);
        link.setMeta({ state: 'live', ...base, mimeCodec: init.mimeCodec, updated_at: new Date().toISOString() });
        return;
      }
      if (!init) return;
      const written = parseFragment(segment.data).producerTimeMs;
      const result = link.publishData(segment.data, fragmentFacts(segment.data, init).sync);
      if (written !== undefined) handoffMs.push(Date.now() - written);
      if (handoffMs.length > MAX_KEPT) handoffMs.splice(0, handoffMs.length - MAX_KEPT);
      counts[result === 'sent' ? 'sent' : 'dropped']++;
    },
    close: () => link.close({ state: 'offline', ...base, reason: 'stopped', updated_at: new Date().toISOString() }),
  };
}
