import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'mqttcast.js');

/** `mqttcast serve` in its own process on the given ports; resolves once it says it is ready. Stop it with stopChild. */
export async function startServeProcess(httpPort: number, mqttPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--http-port', String(httpPort), '--mqtt-port', String(mqttPort), '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes('Press Ctrl-C') || child.exitCode !== null, { message: 'mqttcast serve start' });
  if (child.exitCode !== null) throw new Error(`mqttcast serve exited: ${out}`);
  return child;
}
