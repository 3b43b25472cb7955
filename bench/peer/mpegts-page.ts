/**
 * The peer's player: a tiny page with mpegts.js (the npm dev dependency's
 * dist file) served from 127.0.0.1 on a random port. `window.startPeer(url)`
 * plays an HTTP-FLV live stream with latency chasing on (MPEGTS_CONFIG);
 * `window.sizeVideo(w, h)` gives the video the CSS size of mqttcast's (the
 * compositor scales the picture in software here: same work for both).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * mpegts.js tuned for live latency the way its options allow: no stash buffer
 * (data goes to MSE at once), buffer-latency chasing (seek to 0.15 s behind the
 * buffered end when more than 0.5 s behind; defaults 0.5/1.5 s) and live sync
 * (play at 1.2× when over 0.3 s behind, back to 1× under 0.15 s; defaults 0.8/1.2 s).
 */
export const MPEGTS_CONFIG = {
  enableWorker: false,
  enableStashBuffer: false,
  liveBufferLatencyChasing: true,
  liveBufferLatencyMaxLatency: 0.5,
  liveBufferLatencyMinRemain: 0.15,
  liveSync: true,
  liveSyncMaxLatency: 0.3,
  liveSyncTargetLatency: 0.15,
  liveSyncPlaybackRate: 1.2,
} as const;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>mpegts.js peer</title></head>
<body style="margin:0;background:#000">
<video id="video" muted playsinline style="width:640px;height:360px"></video>
<script src="/mpegts.js"></script>
<script>
  window.peerErrors = [];
  window.sizeVideo = (width, height) => {
    const video = document.getElementById('video');
    video.style.width = width + 'px';
    video.style.height = height + 'px';
  };
  window.startPeer = (url, config) => {
    const video = document.getElementById('video');
    const player = mpegts.createPlayer({ type: 'flv', isLive: true, hasAudio: true, hasVideo: true, url }, config);
    player.on(mpegts.Events.ERROR, (type, detail, info) => window.peerErrors.push(type + ': ' + detail + ' ' + JSON.stringify(info)));
    player.attachMediaElement(video);
    player.load();
    const playing = player.play();
    if (playing && playing.catch) playing.catch((e) => window.peerErrors.push('play(): ' + e));
    window.peerPlayer = player;
  };
</script>
</body></html>`;

export interface MpegtsPage {
  url: string;
  mpegtsVersion: string;
  close(): Promise<void>;
}

export async function serveMpegtsPage(): Promise<MpegtsPage> {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('mpegts.js/package.json');
  const { version } = require(pkgFile) as { version: string };
  const script = await readFile(path.join(path.dirname(pkgFile), 'dist', 'mpegts.js'));
  const server: Server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (pathname === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else if (pathname === '/mpegts.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (pathname === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('mpegts page server has no port');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    mpegtsVersion: version,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
