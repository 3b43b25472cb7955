import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import type { Transport } from './player-types.js';
import { ACK_EVERY_FRAGMENTS, RequestFlow } from './request-flow.js';
import { Requests } from './requests.js';

function fakeTransport(): Transport & { sent: Array<{ topic: string; payload: string; qos?: 0 | 1 }> } {
  const sent: Array<{ topic: string; payload: string; qos?: 0 | 1 }> = [];
  return {
    connected: true,
    sent,
    subscribe: () => Promise.resolve(),
    publish: (topic, payload, qos) => {
      sent.push({ topic, payload, qos });
      return Promise.resolve();
    },
  };
}

describe('RequestFlow', () => {
  const requests = new Requests('web-abc', { prefix: 'video', secure: false });

  it('acks every few fragments and on the keepalive, only while a play runs', async () => {
    const transport = fakeTransport();
    const flow = new RequestFlow(createLogger('t', false));
    flow.transport = transport;
    flow.requests = requests;
    flow.ack(5, 0, true);
    expect(transport.sent).toEqual([]); // no play yet
    await flow.play(transport, requests, { source: 'demo' }, [], 'p-1');
    for (let n = 1; n <= 3 * ACK_EVERY_FRAGMENTS; n++) flow.ack(n, 100, false);
    const acks = () => transport.sent.filter((m) => m.topic === 'video/ack').map((m) => (JSON.parse(m.payload) as { seq: number }).seq);
    expect(acks()).toEqual([ACK_EVERY_FRAGMENTS, 2 * ACK_EVERY_FRAGMENTS, 3 * ACK_EVERY_FRAGMENTS]);
    flow.ack(3 * ACK_EVERY_FRAGMENTS + 1, 100, true);
    expect(acks().at(-1)).toBe(3 * ACK_EVERY_FRAGMENTS + 1);
  });

  it('sends stop once for a running play, and none after the server ended it', async () => {
    const transport = fakeTransport();
    const flow = new RequestFlow(createLogger('t', false));
    flow.transport = transport;
    flow.requests = requests;
    await flow.play(transport, requests, { source: 'demo' }, [], 'p-1');
    flow.stop(1);
    flow.stop(1);
    expect(transport.sent.filter((m) => m.topic === 'video/stop')).toHaveLength(1);
    await flow.play(transport, requests, { source: 'demo' }, [], 'p-2');
    flow.ended();
    flow.stop(0);
    expect(transport.sent.filter((m) => m.topic === 'video/stop')).toHaveLength(1);
  });
});
