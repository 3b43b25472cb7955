/** Starts the per-viewer transcode relay (baseline a) as a child process on a free port. */
import { freePort } from '../../test/helpers/ports.js';
import { startNodeChild, stopTree, type ChildServer } from '../server-process.js';

export async function startPerViewerRelay(size = { width: 1280, height: 720, fps: 30 }): Promise<ChildServer> {
  const port = await freePort();
  const args = ['--import', 'tsx', 'bench/baselines/per-viewer-relay.ts', '--mqtt-port', String(port)];
  args.push('--width', String(size.width), '--height', String(size.height), '--fps', String(size.fps));
  const child = await startNodeChild('per-viewer relay', args, port);
  const deadline = Date.now() + 15_000;
  while (!child.log().includes('READY')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stopTree(child);
      throw new Error(`per-viewer relay did not get ready: ${child.log().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    name: 'per-viewer relay',
    pid: child.pid,
    mqttUrl: `mqtt://127.0.0.1:${port}`,
    output: child.log,
    close: async () => {
      const left = await stopTree(child, 5000);
      if (left.length > 0) process.stderr.write(`bench: killed leftovers of the per-viewer relay: ${left.join(', ')}\n`);
    },
  };
}
