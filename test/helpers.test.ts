import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runChecked, stopChild } from './helpers/child.js';
import {
  expectedAacCodecString,
  expectedAvcCodecString,
  ffprobeStreams,
  makeMediaFixtures,
  parseFfprobeHexDump,
  avcCodecStringFromExtradata,
  avcCodecStringFromProfile,
} from './helpers/fixtures.js';
import { parseRange, startStaticServer } from './helpers/http-server.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { freePort } from './helpers/ports.js';
import { descendants, listProcesses, mediaProcesses, openFdCount, parseStat, zombies } from './helpers/processes.js';
import { startRtspServer } from './helpers/rtsp-server.js';
import { sleep, waitFor } from './helpers/wait.js';

const cleanups: Array<() => Promise<void>> = [];
function track<T extends { close(): Promise<void> }>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}
function trackChild(child: ChildProcess): ChildProcess {
  cleanups.push(() => stopChild(child, { graceMs: 1000 }));
  return child;
}

function rawStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (err) {
      errors.push(err);
    }
  }
  expect(errors).toEqual([]);
  expect(mediaProcesses()).toEqual([]);
  expect(zombies()).toEqual([]);
});

describe('ports and wait', () => {
  it('freePort returns a bindable port on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('waitFor resolves with the first truthy value and times out with the message', async () => {
    let n = 0;
    await expect(waitFor(() => (++n >= 3 ? n : undefined), { intervalMs: 1 })).resolves.toBe(3);
    await expect(waitFor(() => false, { timeoutMs: 50, intervalMs: 5, message: 'the moon' })).rejects.toThrow(/the moon/);
    await sleep(1);
  });
});

describe('processes', () => {
  it('parses stat lines whose comm contains spaces and parentheses', () => {
    expect(parseStat('42 (a) b (c)) S 7 42 42 0 -1')).toEqual({ pid: 42, ppid: 7, pgid: 42, state: 'S', comm: 'a) b (c)' });
  });

  it('finds a spawned child, in its own process group too, and counts its fds', async () => {
    const child = trackChild(spawn('sleep', ['30'], { stdio: 'ignore', detached: true }));
    const pid = child.pid as number;
    const found = await waitFor(() => descendants().find((p) => p.pid === pid && p.comm === 'sleep'));
    expect(found.ppid).toBe(process.pid);
    expect(found.pgid).toBe(pid);
    expect(found.args).toEqual(['sleep', '30']);
    expect(listProcesses().some((p) => p.pid === process.pid)).toBe(true);
    const fds = openFdCount(pid);
    expect(typeof fds).toBe('number');
    expect(fds).toBeGreaterThanOrEqual(3);
    expect(mediaProcesses().map((p) => p.pid)).not.toContain(pid);
  });
});

describe('media fixtures', () => {
  it('generates files with the expected codecs', async () => {
    const fx = track(await makeMediaFixtures());
    const base = await ffprobeStreams(fx.baselineMp4);
    expect(base.map((s) => s.codec_name)).toEqual(['h264', 'aac']);
    expect(base[0]).toMatchObject({ profile: 'Constrained Baseline', level: 30, width: 320, height: 240, codec_tag_string: 'avc1' });
    expect(base[1]).toMatchObject({ profile: 'LC', sample_rate: '44100', channels: 2 });
    expect(await expectedAvcCodecString(fx.baselineMp4)).toBe('avc1.42C01E');
    expect(await expectedAacCodecString(fx.baselineMp4)).toBe('mp4a.40.2');

    const high = await ffprobeStreams(fx.highMp4);
    expect(high[0]).toMatchObject({ codec_name: 'h264', profile: 'High', level: 40, width: 1280, height: 720 });
    expect(await expectedAvcCodecString(fx.highMp4)).toBe('avc1.640028');

    const audio = await ffprobeStreams(fx.aacM4a);
    expect(audio.map((s) => `${String(s.codec_name)}/${String(s.profile)}`)).toEqual(['aac/LC']);
    expect(await expectedAacCodecString(fx.aacM4a)).toBe('mp4a.40.2');

    const playlist = await readFile(fx.hlsPlaylist, 'utf8');
    expect(playlist).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(playlist).toMatch(/^seg_000\.ts$/m);
    const hls = await ffprobeStreams(fx.hlsPlaylist);
    expect(hls.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(await expectedAvcCodecString(fx.hlsPlaylist)).toBe('avc1.42C01E'); // from Annex B SPS
  });

  it('derives codec strings from raw bytes and from profile names', () => {
    const avcC = parseFfprobeHexDump('\n00000000: 0164 0028 ffe1 0018 6764 0028 acb4 0280  .d.(....gd.(....\n');
    expect(avcCodecStringFromExtradata(avcC)).toBe('avc1.640028');
    expect(avcCodecStringFromExtradata(Buffer.from([0, 0, 0, 1, 0x67, 0x4d, 0x40, 0x1f]))).toBe('avc1.4D401F');
    expect(avcCodecStringFromProfile('Constrained Baseline', 30)).toBe('avc1.42C01E');
    expect(avcCodecStringFromProfile('High', 40)).toBe('avc1.640028');
  });
});

describe('static HTTP server', () => {
  it('serves files with types, ranges, redirects and refuses traversal', async () => {
    const fx = track(await makeMediaFixtures());
    const srv = track(await startStaticServer(fx.dir));
    const whole = await readFile(fx.baselineMp4);

    const full = await fetch(`${srv.url}/baseline.mp4`);
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('video/mp4');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await full.arrayBuffer()).equals(whole)).toBe(true);

    const part = await fetch(`${srv.url}/baseline.mp4`, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(100, 200))).toBe(true);

    const tail = await fetch(`${srv.url}/baseline.mp4`, { headers: { Range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(whole.subarray(whole.length - 10))).toBe(true);

    const bad = await fetch(`${srv.url}/baseline.mp4`, { headers: { Range: `bytes=${whole.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${whole.length}`);
    await bad.arrayBuffer();

    const m3u8 = await fetch(`${srv.url}/hls/index.m3u8`);
    expect(m3u8.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    await m3u8.arrayBuffer();
    const ts = await fetch(`${srv.url}/hls/seg_000.ts`, { method: 'HEAD' });
    expect(ts.headers.get('content-type')).toBe('video/mp2t');

    // fetch() normalises dot segments, so send raw paths with node:http.
    expect(await rawStatus(srv.port, '/..%2f..%2f..%2fetc%2fpasswd')).toBe(403);
    expect(await rawStatus(srv.port, '/../../../etc/passwd')).toBe(404); // normalised to /etc/passwd under root

    srv.redirect('/moved.mp4', `${srv.url}/baseline.mp4`, 301);
    const moved = await fetch(`${srv.url}/moved.mp4`, { redirect: 'manual' });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe(`${srv.url}/baseline.mp4`);

    expect(srv.requests).toContainEqual({ method: 'GET', path: '/baseline.mp4', range: 'bytes=100-199', status: 206 });
    expect(srv.requests.at(-1)).toEqual({ method: 'GET', path: '/moved.mp4', status: 301 });
    expect(parseRange('bytes=5-2', 10)).toBeUndefined();
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
  });

  it('lets ffprobe read an HLS playlist over HTTP', async () => {
    const fx = track(await makeMediaFixtures());
    const srv = track(await startStaticServer(fx.dir));
    const streams = await ffprobeStreams(`${srv.url}/hls/index.m3u8`);
    expect(streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    // ffmpeg's http protocol always sends `Range: bytes=0-`, so segments come back as 206.
    expect(srv.requests).toContainEqual({ method: 'GET', path: '/hls/seg_000.ts', range: 'bytes=0-', status: 206 });
  });
});

describe('RTSP test server', () => {
  it('is probeable over TCP with h264 + aac and recordable with ffmpeg', async () => {
    const rtsp = track(await startRtspServer());
    expect(rtsp.url).toBe(`rtsp://127.0.0.1:${rtsp.port}/test`);
    const streams = await ffprobeStreams(rtsp.url, { inputArgs: ['-rtsp_transport', 'tcp'] });
    expect(streams.map((s) => s.codec_name)).toEqual(['h264', 'aac']);
    expect(streams[0]).toMatchObject({ profile: 'Constrained Baseline', width: 320, height: 240 });
    const fx = track(await makeMediaFixtures());
    const out = `${fx.dir}/rtsp.mp4`;
    await runChecked('ffmpeg', ['-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', rtsp.url,
      '-t', '2', '-c', 'copy', '-f', 'mp4', out], { timeoutMs: 30_000 });
    const recorded = await ffprobeStreams(out);
    expect(recorded.map((s) => s.codec_name)).toEqual(['h264', 'aac']);
    const pid = rtsp.pid;
    await rtsp.close();
    expect(descendants().some((p) => p.pid === pid)).toBe(false);
  });

  it('serves High profile without audio, over UDP, on a custom path', async () => {
    const rtsp = track(await startRtspServer({ path: '/cam', profile: 'high', audio: false, width: 640, height: 360 }));
    const streams = await ffprobeStreams(rtsp.url, { inputArgs: ['-rtsp_transport', 'udp'] });
    expect(streams).toHaveLength(1);
    expect(streams[0]).toMatchObject({ codec_name: 'h264', profile: 'High', width: 640, height: 360 });
  });
});

describe('Mosquitto', () => {
  it('round-trips mosquitto_pub -> mosquitto_sub, also after a restart on the same port', async () => {
    const broker = track(await startMosquitto({ websocketsPort: true }));
    expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);
    expect(broker.wsUrl).toBe(`ws://127.0.0.1:${String(broker.wsPort)}`);
    const roundTrip = async (message: string): Promise<string> => {
      const topic = `helpers/test/${message}`;
      const sub = trackChild(spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', topic, '-C', '1', '-W', '20'],
        { stdio: ['ignore', 'pipe', 'pipe'] }));
      let out = '';
      sub.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => sub.once('close', (code) => resolve(code)));
      // 'close', not 'exit': the exit can come before the last stdout chunk is read.
      // mosquitto_sub's stdout is block-buffered on a pipe, so we cannot see its SUBACK:
      // publish until the subscriber has received one message and exited (-C 1).
      let done = false;
      void exited.then(() => (done = true));
      await waitFor(async () => {
        if (done) return true;
        await runChecked('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-t', topic, '-m', message]);
        return done;
      }, { intervalMs: 100, message: 'mosquitto_sub received the message' });
      expect(await exited).toBe(0);
      return out.split('\n').filter((l) => l === message).join('');
    };
    expect(await roundTrip('hello')).toBe('hello');
    const port = broker.port;
    const firstPid = broker.pid;
    await broker.restart({ signal: 'SIGKILL' });
    expect(broker.port).toBe(port);
    expect(broker.pid).not.toBe(firstPid);
    expect(await roundTrip('again')).toBe('again');
    expect(broker.stderr()).toContain('mosquitto version');
  });
});
