/** $SYS counters of a bridge tree's brokers. */
import type { BridgeTree } from './bridge-tree.js';
import type { TreeBroker } from './bridge-tree-broker.js';

/**
 * The next value of a numeric $SYS topic published AFTER this call (the retained copy
 * is skipped), so it counts everything the broker did before the call.
 */
export async function readSysValue(tree: BridgeTree, broker: TreeBroker, topic: string): Promise<number> {
  const client = await tree.connect(broker, 'monitor');
  try {
    const value = new Promise<number>((resolve, reject) => {
      client.on('message', (t, payload, packet) => {
        if (t !== topic || packet.retain) return;
        const n = Number.parseFloat(payload.toString('utf8')); // "2 seconds" for uptime
        if (Number.isFinite(n)) resolve(n);
        else reject(new Error(`${broker.name}: ${topic} is not a number: ${payload.toString('utf8')}`));
      });
    });
    await client.subscribeAsync(topic);
    return await withTimeout(value, (tree.opts.sysIntervalS * 1000 + 1000) * 5, `${broker.name}: ${topic}`);
  } finally {
    await client.endAsync();
  }
}

/** $SYS/broker/bytes/sent: every byte the broker has sent since it started. */
export function readBytesSent(tree: BridgeTree, broker: TreeBroker): Promise<number> {
  return readSysValue(tree, broker, '$SYS/broker/bytes/sent');
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
