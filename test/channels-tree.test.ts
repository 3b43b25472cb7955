/**
 * A live channel across the channel CDN of deploy/bridges/, end to end: `mqttcast publish`
 * at the ingress of four real Mosquittos (ingress ◀══ intermediate ◀══ edges a and b, from
 * the shipped configs), a media server at each edge serving `{"source":"live/cam1"}` to
 * viewers by play request and to Chromium through the web player. Checked: every capture
 * decodes from its first byte; the ingress sends one copy whatever the number of viewers
 * below; a raw tap at an edge is a file ffprobe reads; a publisher killed with -9 gives
 * coded statuses and a restarted one resumes the channel; sessions survive a restart of
 * the intermediate and resume on a keyframe.
 *
 * No wall-clock assertions: byte counts compare equal windows of $SYS ticks; "before the
 * grace" is the order of statuses (a coded `starting` comes before any `error`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../media-server/service.js';
import { fragmentStartsWithSync, parseFragment, parseInit, topLevelTypes } from '../protocol/index.js';
import { ensureClientBuilt, launchChromium, screenshot, videoState, type Browser } from './browser/chromium.js';
import { startBridgeTree, type BridgeTree, type TreeBroker } from './helpers/bridge-tree.js';
import { stopChild, waitForExit } from './helpers/child.js';
import { ffprobeStreams } from './helpers/ffprobe.js';
import { descendants, isMediaProcess, mediaProcesses, processExists } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';
import { startTestService, Viewer } from './harness.js';
import { expectDecodable } from './media-check.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mqttcast.js');
/** Long enough for a killed publisher to be restarted before its sessions end. */
const GRACE_MS = 20_000;
const CHANNEL = 'cam1';
const SOURCE = { source: `live/${CHANNEL}` };
/** $SYS ticks (sys_interval 1 in the tree) per byte-count window. */
const WINDOW_TICKS = 5;

/** Whether a fragment starts with a keyframe, read against the init segment it follows. */
function startsOnKeyframe(init: Buffer, fragment: Buffer): boolean {
  const info = parseInit(init);
  const video = info.tracks.find((t) => t.id === info.videoTrackId);
  return fragmentStartsWithSync(parseFragment(fragment), info.videoTrackId, video?.defaultSampleFlags ?? 0);
}

/** Bytes a broker sent over `ticks` consecutive fresh $SYS publications (retained copy skipped). */
async function bytesOverTicks(tree: BridgeTree, broker: TreeBroker, ticks: number): Promise<number> {
  const client = await tree.connect(broker, 'monitor');
  try {
    const values: number[] = [];
    client.on('message', (_t, payload, packet) => {
      if (!packet.retain) values.push(Number.parseFloat(payload.toString('utf8')));
    });
    await client.subscribeAsync('$SYS/broker/bytes/sent');
    await waitFor(() => values.length > ticks, { timeoutMs: (ticks + 5) * 2000, message: `${ticks + 1} $SYS ticks of ${broker.name}` });
    return values[ticks]! - values[0]!;
  } finally {
    await client.endAsync();
  }
}

describe('a live channel across a tree of Mosquittos (deploy/bridges/)', () => {
  let tree: BridgeTree;
  let edgeA: Service;
  let edgeB: Service;
  let publisher: ChildProcess | undefined;
  let browser: Browser | undefined;
  const viewers: Viewer[] = [];

  function publish(): ChildProcess {
    const { username, password } = tree.users.publisher;
    const child = spawn(
      process.execPath,
      [BIN, 'publish', 'demo', '--name', CHANNEL, '--broker', tree.ingress.url, '-u', username, '-P', password, '--video-size', '320x240', '--framerate', '15', '-q'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.resume();
    return child;
  }

  const live = (s: Service): boolean => s.mediaServer.channels.meta(CHANNEL)?.state === 'live';

  async function viewersAt(service: Service, n: number): Promise<Viewer[]> {
    const out: Viewer[] = [];
    for (let i = 0; i < n; i++) {
      const v = await Viewer.connect(service.config.brokerUrl!);
      viewers.push(v);
      out.push(v);
      await v.play(SOURCE);
    }
    return out;
  }

  /** Init + first fragments decode from their first byte (so the capture starts on a keyframe). */
  async function expectStartsClean(v: Viewer): Promise<void> {
    const media = await v.waitForFragments(3);
    expect(topLevelTypes(media[0]!)).toEqual(['ftyp', 'moov']);
    expect(startsOnKeyframe(media[0]!, media[1]!)).toBe(true);
    await expectDecodable(media.slice(0, 4));
  }

  beforeAll(async () => {
    tree = await startBridgeTree({ edges: ['a', 'b'] });
    publisher = publish();
    const limits = { channelGraceMs: GRACE_MS };
    edgeA = await startTestService({ brokerUrl: tree.edges.a!.url, limits } as never);
    edgeB = await startTestService({ brokerUrl: tree.edges.b!.url, limits } as never);
    for (const s of [edgeA, edgeB]) await waitFor(() => live(s), { timeoutMs: 30_000, message: `${CHANNEL} live at ${s.config.brokerUrl}` });
  });

  afterEach(async () => {
    for (const v of viewers.splice(0)) await v.close();
  });

  afterAll(async () => {
    await browser?.close();
    await edgeA?.close();
    await edgeB?.close();
    if (publisher) await stopChild(publisher, { graceMs: 5000 });
    await tree?.close();
    expect(mediaProcesses()).toEqual([]);
  });

  it('serves 10 viewers per edge from one subscription each, and Chromium at edge B through its page', async () => {
    const all = [...(await viewersAt(edgeA, 10)), ...(await viewersAt(edgeB, 10))];
    for (const v of all) await expectStartsClean(v);
    for (const s of [edgeA, edgeB]) {
      const ups = s.mediaServer.pool.upstreams().filter((u) => u.key.startsWith(`channel:${CHANNEL}`));
      expect(ups).toHaveLength(1);
      // Ten sessions, plus the edge's picture maker while it takes pictures (no server at the ingress here).
      expect(ups[0]!.viewerCount).toBe(10 + (s.mediaServer.snapshots.watching.includes(CHANNEL) ? 1 : 0));
      expect(ups[0]!.pid).toBeUndefined(); // no ffmpeg at the edges
    }

    await ensureClientBuilt();
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(edgeB.urls.web);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
    await expect
      .poll(() => page.locator('#source option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), { timeout: 15_000 })
      .toContain(SOURCE.source);
    await page.selectOption('#source', SOURCE.source);
    await page.click('#start');
    const first = await waitFor(async () => {
      const s = await videoState(page);
      return s.frames > 0 && s.currentTime > 0 ? s : undefined;
    }, { timeoutMs: 30_000, message: 'live/cam1 plays in Chromium at edge B' });
    await waitFor(async () => (await videoState(page)).currentTime > first.currentTime + 0.5, { message: 'currentTime advances' });
    await screenshot(page, 'player-channel-edge-b');
    const picturing = edgeB.mediaServer.snapshots.watching.includes(CHANNEL) ? 1 : 0;
    expect(edgeB.mediaServer.pool.upstreams().find((u) => u.key.startsWith(`channel:${CHANNEL}`))?.viewerCount).toBe(11 + picturing);
    expect(browser.consoleErrors).toEqual([]);
    await page.close();
  });

  it('keeps the ingress bytes sent within 1.3x when the viewers at the edges go from 1 to 20', async () => {
    const brokers = [tree.ingress, tree.edges.a!, tree.edges.b!];
    const window = (): Promise<number[]> => Promise.all(brokers.map((b) => bytesOverTicks(tree, b, WINDOW_TICKS)));
    const [one] = await viewersAt(edgeA, 1);
    await one!.waitForFragments(3);
    const [ingress1, a1, b1] = (await window()) as [number, number, number];

    const more = [...(await viewersAt(edgeA, 9)), ...(await viewersAt(edgeB, 10))];
    for (const v of more) await v.waitForFragments(3);
    const [ingress20, a20, b20] = (await window()) as [number, number, number];

    // The viewers were real: the edges sent several times as much...
    expect(a20 + b20).toBeGreaterThan(4 * (a1 + b1));
    // ...while the ingress sent one copy to the intermediate either way.
    expect(ingress1).toBeGreaterThan(0);
    expect(ingress20).toBeLessThanOrEqual(1.3 * ingress1);
    expect(ingress20).toBeGreaterThanOrEqual(ingress1 / 1.3);
  });

  it('gives a raw `mosquitto_sub -N` tap of init + data at an edge that ffprobe reads', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-tap-'));
    try {
      const file = path.join(dir, 'tap.mp4');
      const fd = openSync(file, 'w');
      const edge = tree.edges.a!;
      const tap = spawn(
        'mosquitto_sub',
        ['-h', '127.0.0.1', '-p', String(edge.port), '-N', '-t', `video/live/${CHANNEL}/init`, '-t', `video/live/${CHANNEL}/data`, '-C', '30'],
        { stdio: ['ignore', fd, 'pipe'] },
      );
      closeSync(fd);
      let stderr = '';
      tap.stderr!.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      const exited = await waitForExit(tap, 30_000);
      if (!exited) await stopChild(tap);
      expect(exited, stderr).toBe(true);
      expect(tap.exitCode, stderr).toBe(0);
      const streams = await ffprobeStreams(file);
      expect(streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kill -9 of the publisher: coded SOURCE_UNAVAILABLE at the edges before the grace ends; a restarted publisher resumes them and new plays work', async () => {
    const watching = [...(await viewersAt(edgeA, 2)), ...(await viewersAt(edgeB, 2))];
    for (const v of watching) await v.waitForFragments(3);
    const old = publisher!;
    const oldFfmpeg = descendants(old.pid).filter(isMediaProcess).map((p) => p.pid);
    expect(oldFfmpeg.length).toBeGreaterThan(0);
    old.kill('SIGKILL');
    await waitForExit(old, 10_000);
    // Its ffmpeg is orphaned, not our descendant any more: it must end by itself (its pipe closed).
    await waitFor(() => oldFfmpeg.every((pid) => !processExists(pid)), { message: "the killed publisher's ffmpeg exiting" });

    for (const v of watching) {
      const waiting = await v.waitForStatus((s) => s.code === 'SOURCE_UNAVAILABLE');
      expect(waiting).toMatchObject({ state: 'starting', reason: 'source_restarting' });
      expect(String(waiting.message)).toContain('went offline');
    }
    const mediaBefore = watching.map((v) => v.media.length);

    publisher = publish();
    for (const s of [edgeA, edgeB]) await waitFor(() => live(s), { timeoutMs: 30_000, message: `${CHANNEL} live again` });
    for (const [i, v] of watching.entries()) {
      // The same session: a new init, then fragments that decode from it.
      const resumed = await waitFor(() => {
        const after = v.media.slice(mediaBefore[i]);
        return after.length >= 4 && topLevelTypes(after[0]!).includes('moov') ? after : undefined;
      }, { timeoutMs: 30_000, message: 'the session resuming' });
      await expectDecodable(resumed.slice(0, 4));
      expect(v.statuses.some((s) => s.state === 'error' || s.state === 'ended')).toBe(false);
    }
    for (const v of [...(await viewersAt(edgeA, 1)), ...(await viewersAt(edgeB, 1))]) await expectStartsClean(v);
  });

  it('sessions at the edges survive a restart of the intermediate and resume on a keyframe', async () => {
    const watching = [...(await viewersAt(edgeA, 2)), ...(await viewersAt(edgeB, 2))];
    for (const v of watching) await v.waitForFragments(3);
    const before = watching.map((v) => v.media.length);
    await tree.intermediate.restart(); // SIGTERM, start, resolves once a probe crossed the tree again
    for (const [i, v] of watching.entries()) {
      await waitFor(() => v.media.length >= before[i]! + 10, { timeoutMs: 30_000, message: 'fragments after the restart' });
      const media = v.media;
      // The gap: where the publisher's fragment sequence numbers jump (or a new init arrives).
      let init = [...media.slice(0, before[i])].reverse().find((m) => topLevelTypes(m).includes('moov'))!;
      let previous: number | undefined;
      let afterGap: Buffer | undefined;
      for (const m of media.slice(before[i]! - 1)) {
        if (topLevelTypes(m).includes('moov')) {
          init = m;
          previous = undefined;
          continue;
        }
        const seq = parseFragment(m).sequence;
        if (previous !== undefined && seq !== previous + 1) {
          afterGap = m;
          break;
        }
        if (previous === undefined && m !== media[before[i]! - 1]) {
          afterGap = m; // the first fragment after a new init
          break;
        }
        previous = seq;
      }
      expect(afterGap, 'no gap in the fragments across the restart').toBeDefined();
      expect(startsOnKeyframe(init, afterGap!), 'the first fragment after the gap starts with a keyframe').toBe(true);
      expect(v.statuses.some((s) => s.state === 'error' || s.state === 'ended')).toBe(false);
    }
  });
});
