/**
 * The embedded broker (Aedes 2) with MQTT 5 and 3.1.1 clients side by side: real
 * EmbeddedBroker on a random 127.0.0.1 port, real MQTT.js clients and Mosquitto's
 * command-line clients (which default to MQTT 5).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type IDisconnectPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../test/helpers/child.js';
import { subackCodes } from '../test/helpers/mqtt.js';
import { EmbeddedBroker } from './embedded-broker.js';

const log = pino({ level: process.env.MQTTCAST_TEST_LOG ? 'debug' : 'silent' });
const MAX_PACKET = 64 * 1024;

describe('embedded broker: MQTT 5 and 3.1.1', () => {
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];
  const sockets: Socket[] = [];

  beforeEach(async () => {
    broker = await EmbeddedBroker.start({ host: '127.0.0.1', port: 0, maxPacketBytes: MAX_PACKET, logger: log });
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker.close();
  });

  async function connect(protocolVersion: 4 | 5, opts: IClientOptions = {}): Promise<MqttClient> {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion, reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
    clients.push(client);
    return client;
  }

  /** Every PUBLISH packet `client` receives. */
  function packets(client: MqttClient): IPublishPacket[] {
    const got: IPublishPacket[] = [];
    client.on('message', (_topic, _payload, packet) => got.push(packet));
    return got;
  }

  it('accepts MQTT 5 and 3.1.1 clients on one broker, in both directions', async () => {
    const v5 = await connect(5);
    const v4 = await connect(4);
    const [to5, to4] = [packets(v5), packets(v4)];
    await v5.subscribeAsync('t/to5', { qos: 1 });
    await v4.subscribeAsync('t/to4', { qos: 1 });
    await v4.publishAsync('t/to5', 'from 3.1.1', { qos: 1 });
    await v5.publishAsync('t/to4', 'from 5', { qos: 1, properties: { contentType: 'text/plain', userProperties: { k: 'v' } } });
    await expect.poll(() => to5.length + to4.length).toBe(2);
    expect(to5[0]?.payload.toString()).toBe('from 3.1.1');
    expect(to4[0]?.payload.toString()).toBe('from 5');
    expect(to4[0]?.properties).toBeUndefined(); // a 3.1.1 subscriber gets the message without the MQTT 5 properties
  });

  it('passes MQTT 5 properties from publisher to subscriber', async () => {
    const sub = await connect(5);
    const pub = await connect(5);
    const got = packets(sub);
    await sub.subscribeAsync('req/x', { qos: 1 });
    const correlationData = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    await pub.publishAsync('req/x', Buffer.from([1, 2, 3]), {
      qos: 1,
      properties: {
        responseTopic: 'reply/to/me',
        correlationData,
        contentType: 'application/octet-stream',
        messageExpiryInterval: 3600,
        payloadFormatIndicator: false,
        userProperties: { session: 's-42', hop: ['a', 'b'] },
      },
    });
    await expect.poll(() => got.length).toBe(1);
    const p = got[0]!.properties!;
    expect(p.responseTopic).toBe('reply/to/me');
    expect(Buffer.from(p.correlationData!).equals(correlationData)).toBe(true);
    expect(p.contentType).toBe('application/octet-stream');
    // The broker forwards the remaining lifetime: at most what was sent, and not expired.
    expect(p.messageExpiryInterval).toBeGreaterThan(3500);
    expect(p.messageExpiryInterval).toBeLessThanOrEqual(3600);
    expect(p.userProperties).toEqual({ session: 's-42', hop: ['a', 'b'] });
  });

  it('refuses $share/ subscriptions with 0x9E: Aedes has no shared subscriptions', async () => {
    const v5 = await connect(5);
    expect(await subackCodes(v5, ['$share/g/t/x', 't/x'])).toEqual([0x9e, 0]);
  });

  it('answers a packet over the limit: DISCONNECT 0x95 to MQTT 5, a closed connection to 3.1.1', async () => {
    const v5 = await connect(5);
    const v5Closed = new Promise<void>((resolve) => v5.once('close', () => resolve()));
    const told = new Promise<IDisconnectPacket>((resolve) => v5.once('disconnect', resolve));
    v5.publish('big', Buffer.alloc(MAX_PACKET + 1), { qos: 0 });
    expect((await told).reasonCode).toBe(0x95);
    await v5Closed;

    const v4 = await connect(4);
    let disconnectPacket = false;
    v4.on('disconnect', () => {
      disconnectPacket = true;
    });
    const v4Closed = new Promise<void>((resolve) => v4.once('close', () => resolve()));
    v4.publish('big', Buffer.alloc(MAX_PACKET + 1), { qos: 0 });
    await v4Closed;
    expect(disconnectPacket).toBe(false);

    // Right at the limit still passes, for both.
    const sub = await connect(5);
    const got = packets(sub);
    await sub.subscribeAsync('ok');
    const pub = await connect(4);
    const body = MAX_PACKET - 2 - 'ok'.length; // remaining length = 2-byte topic length + topic + payload
    await pub.publishAsync('ok', Buffer.alloc(body), { qos: 0 });
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]?.payload.length).toBe(body);
  });

  it('closes a connection that announces a huge packet before sending its body (nothing is buffered)', async () => {
    const socket = tcpConnect({ host: '127.0.0.1', port: broker.port });
    sockets.push(socket);
    socket.on('error', () => undefined); // EPIPE/ECONNRESET once the broker hangs up is the expected outcome
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // PUBLISH announcing 200 MB (remaining length varint), then zeros until the broker hangs up, 16 MB at most.
    socket.write(Buffer.from([0x30, 0x80, 0x84, 0xaf, 0x5f]));
    let written = 0;
    let open = true;
    void closed.then(() => {
      open = false;
    });
    const chunk = Buffer.alloc(64 * 1024);
    while (open && written < 16 * 2 ** 20) {
      if (!socket.write(chunk)) await new Promise((resolve) => setTimeout(resolve, 10));
      written += chunk.length;
    }
    expect(open, `still open after ${written} bytes of the body`).toBe(false);
    await closed;
  });

  it("answers mosquitto_rr (MQTT 5 by default) through a responder on the request's Response Topic", async () => {
    const responder = await connect(5, { clientId: 'responder' });
    responder.on('message', (_topic, payload, packet) => {
      const props = packet.properties;
      if (!props?.responseTopic) return;
      responder.publish(props.responseTopic, `pong ${payload.toString()}`, {
        qos: 1,
        properties: props.correlationData ? { correlationData: props.correlationData } : {},
      });
    });
    await responder.subscribeAsync('rr/request', { qos: 1 });
    const res = await runCommand(
      'mosquitto_rr',
      ['-h', '127.0.0.1', '-p', String(broker.port), '-t', 'rr/request', '-e', 'rr/response', '-m', 'ping', '-W', '20'],
      { timeoutMs: 30_000 },
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.toString().trim()).toBe('pong ping');
  });

  it('lets mosquitto_pub -V 5 publish with properties to an MQTT.js subscriber', async () => {
    const sub = await connect(5);
    const got = packets(sub);
    await sub.subscribeAsync('cli/x', { qos: 1 });
    const res = await runCommand('mosquitto_pub', [
      '-V', '5', '-h', '127.0.0.1', '-p', String(broker.port), '-t', 'cli/x', '-m', 'hi', '-q', '1',
      '-D', 'publish', 'response-topic', 'cli/reply', '-D', 'publish', 'user-property', 'who', 'cli',
    ], { timeoutMs: 30_000 });
    expect(res.code, res.stderr).toBe(0);
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]?.payload.toString()).toBe('hi');
    expect(got[0]?.properties?.responseTopic).toBe('cli/reply');
    expect(got[0]?.properties?.userProperties).toEqual({ who: 'cli' });
  });
});

describe('Aedes 1.2 stays in the bench', () => {
  it('no production code imports aedes-v1', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const offenders: string[] = [];
    for (const dir of ['broker', 'media-server', 'protocol', 'cli', 'client', 'bin']) {
      for (const file of readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
        if (!/\.(ts|js|mjs)$/.test(file) || file.includes('node_modules')) continue;
        if (/from ['"]aedes-v1['"]|import\(['"]aedes-v1['"]\)/.test(readFileSync(path.join(root, dir, file), 'utf8'))) offenders.push(`${dir}/${file}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
