/**
 * node-media-server 4 (the npm dev dependency) as a child process, bound to
 * 127.0.0.1 on random free ports: RTMP in, HTTP-FLV out (`/live/<name>.flv`),
 * with its GOP cache (always on in v4: a new player gets the stream from the
 * last keyframe). No admin console, no HTTPS/RTMPS, no recording, no auth;
 * its config and data live in a temporary directory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePorts } from '../../test/helpers/ports.js';
import { startNodeChild, stopTree } from '../server-process.js';

export interface NodeMediaServer {
  pid: number;
  version: string;
  rtmpUrl(stream: string): string;
  flvUrl(stream: string): string;
  output(): string;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

export async function startNodeMediaServer(): Promise<NodeMediaServer> {
  const pkgFile = require.resolve('node-media-server/package.json');
  const { version } = require(pkgFile) as { version: string };
  const dir = await mkdtemp(path.join(tmpdir(), 'mqttcast-bench-nms-'));
  const [rtmpPort, httpPort] = (await freePorts(2)) as [number, number];
  const config = {
    bind: '127.0.0.1',
    notify: { url: '' },
    store: { path: path.join(dir, 'data'), maxHistory: 100 },
    // Secrets filled in so the server does not generate and write them back; no users: no console.
    auth: { play: false, publish: false, secret: 'bench', jwt: { secret: 'bench-jwt-secret', expiresIn: '1h', refreshExpiresIn: '1h', algorithm: 'HS256', users: [] } },
    rtmp: { port: rtmpPort },
    http: { port: httpPort },
    webadmin: { enable: false },
    record: { auto: false, path: path.join(dir, 'record') },
  };
  const configFile = path.join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const app = path.join(path.dirname(pkgFile), 'bin', 'app.js');
  let child;
  try {
    child = await startNodeChild('node-media-server', [app, '-c', configFile, '--no-admin'], rtmpPort);
    for (let i = 0; i < 100 && !(await canConnect(httpPort)); i++) await new Promise((r) => setTimeout(r, 50));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const started = child;
  return {
    pid: started.pid,
    version,
    rtmpUrl: (stream) => `rtmp://127.0.0.1:${rtmpPort}/live/${stream}`,
    flvUrl: (stream) => `http://127.0.0.1:${httpPort}/live/${stream}.flv`,
    output: started.log,
    close: async () => {
      const left = await stopTree(started, 5000);
      if (left.length > 0) process.stderr.write(`bench: killed leftovers of node-media-server: ${left.join(', ')}\n`);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
