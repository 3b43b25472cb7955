/**
 * One Aedes broker for the side-by-side version bench, in its own process so
 * /proc shows its CPU apart from the load generator:
 *   node --import tsx bench/aedes-versions/broker-child.ts --aedes v1|v2 --port N
 * Both versions get the embedded broker's options (`aedesOptions`) and its
 * connection path (TCP without Nagle, the packet guard). Bench only: this and
 * nothing in production imports `aedes-v1` (Aedes 1.2.0).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { Aedes as Aedes2 } from 'aedes';
import { Aedes as Aedes1 } from 'aedes-v1';
import { aedesOptions, guardConnection } from '../../broker/embedded-broker.js';

const MAX_PACKET_BYTES = 16 * 2 ** 20;

interface Broker {
  handle(conn: Duplex): unknown;
  close(cb: () => void): void;
}

async function createBroker(version: string): Promise<Broker> {
  const options = aedesOptions({ maxPacketBytes: MAX_PACKET_BYTES });
  if (version === 'v2') return Aedes2.createBroker(options);
  if (version === 'v1') {
    // The same numbers; Aedes 1.2 has no maximumPacketSize (the guard alone bounds packets there).
    const { drainTimeout, concurrency, maxClientsIdLength, heartbeatInterval } = options;
    return Aedes1.createBroker({ drainTimeout, concurrency, maxClientsIdLength, heartbeatInterval });
  }
  throw new Error(`--aedes must be v1 or v2, not ${version}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { aedes: { type: 'string' }, port: { type: 'string' } } });
  const broker = await createBroker(values.aedes ?? '');
  const server = net.createServer({ noDelay: true }, (socket) => {
    broker.handle(guardConnection(socket, MAX_PACKET_BYTES)); // Aedes listens for the connection's errors itself
  });
  server.listen(Number(values.port), '127.0.0.1');
  const stop = (): void => {
    server.close();
    broker.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`aedes broker child failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
