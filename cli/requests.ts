/** `mqttcast describe | play | stop`: the protocol from a terminal or a script. */
import { createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { StatusSchema, createTopics, topLevelTypes, type Topics } from '../protocol/index.js';
import { CliError, EXIT } from './exit-codes.js';
import { connectMqtt } from './mqtt-connect.js';
import { withTimeout } from './with-timeout.js';

export interface RequestFlags {
  broker: string;
  username?: string;
  password?: string;
  prefix: string;
  timeoutS: number;
  codecs?: string[];
  /** Secure mode; undefined = read it from the server's retained catalog. */
  secure?: boolean;
}

/** A connection plus the topics to use on it (open or secure mode). */
interface Conversation {
  client: MqttClient;
  topics: Topics;
  request(kind: 'describe' | 'play' | 'stop' | 'ack'): string;
  replyTopic(kind: string): string;
}

const CATALOG_WAIT_MS = 1500;

async function converse(flags: RequestFlags): Promise<Conversation> {
  const topics = createTopics(flags.prefix);
  const clientId = `mqttcast-cli-${randomBytes(4).toString('hex')}`;
  const client = await connect(flags, clientId);
  // In secure mode a client's topics are keyed on its user name (the identity its password proves).
  const namespace = flags.username ?? clientId;
  let secure = flags.secure;
  if (secure === undefined) {
    const catalog = new Promise<boolean | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), CATALOG_WAIT_MS);
      client.on('message', (topic, payload) => {
        if (topic !== topics.catalog) return;
        clearTimeout(timer);
        try {
          resolve((JSON.parse(payload.toString('utf8')) as { secure?: boolean }).secure === true);
        } catch {
          resolve(undefined);
        }
      });
    });
    await client.subscribeAsync(topics.catalog, { qos: 1 });
    secure = (await catalog) ?? false;
    await client.unsubscribeAsync(topics.catalog);
    client.removeAllListeners('message');
  }
  const tag = `cli-${randomBytes(4).toString('hex')}`;
  return {
    client,
    topics,
    request: (kind) => (secure ? topics.clientRequest(namespace, kind) : topics.request(kind)),
    replyTopic: (kind) => (secure ? `${topics.sessionRoot(namespace)}${tag}/${kind}` : `${topics.prefix}/session/${tag}/${kind}`),
  };
}

function target(arg: string): Record<string, string> {
  return arg.includes('://') ? { url: arg } : { source: arg };
}

function connect(flags: RequestFlags, clientId: string): Promise<MqttClient> {
  return connectMqtt(flags.broker, {
    clientId,
    username: flags.username,
    password: flags.password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
}

export async function describeCommand(arg: string, flags: RequestFlags): Promise<void> {
  const conv = await converse(flags);
  const { client } = conv;
  const replyTopic = conv.replyTopic('describe');
  try {
    await client.subscribeAsync(replyTopic, { qos: 1 });
    const reply = new Promise<Buffer>((resolve) => client.on('message', (_t, payload) => resolve(payload)));
    await client.publishAsync(conv.request('describe'), JSON.stringify({ ...target(arg), reply_topic: replyTopic, codecs: flags.codecs }), { qos: 1 });
    const payload = await withTimeout(reply, flags.timeoutS * 1000, () => timedOut('no describe reply from a media server', flags.timeoutS));
    const body = JSON.parse(payload.toString('utf8')) as { ok?: boolean; code?: string; error?: string };
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    if (!body.ok) throw new CliError(`refused: ${body.code}: ${body.error}`, EXIT.REFUSED);
  } finally {
    await client.endAsync();
  }
}

export async function stopCommand(replyTopic: string, flags: RequestFlags): Promise<void> {
  const conv = await converse(flags);
  const { client, topics } = conv;
  try {
    await client.subscribeAsync(topics.status(replyTopic), { qos: 1 });
    const status = new Promise<Record<string, unknown>>((resolve) =>
      client.on('message', (_t, p) => resolve(JSON.parse(p.toString('utf8')) as Record<string, unknown>)),
    );
    await client.publishAsync(conv.request('stop'), JSON.stringify({ reply_topic: replyTopic }), { qos: 1 });
    const body = await withTimeout(status, flags.timeoutS * 1000, () => timedOut('no answer to the stop request', flags.timeoutS));
    process.stderr.write(`${JSON.stringify(body)}\n`);
    if (body.state === 'error') throw new CliError(`refused: ${String(body.code)}: ${String(body.message)}`, EXIT.REFUSED);
  } finally {
    await client.endAsync();
  }
}

export interface PlayFlags extends RequestFlags {
  output: string;
  durationS?: number;
  quiet: boolean;
}

export async function playCommand(arg: string, flags: PlayFlags): Promise<void> {
  const conv = await converse(flags);
  const { client, topics } = conv;
  const replyTopic = conv.replyTopic('play');
  if (!flags.quiet) process.stderr.write(`playing on ${replyTopic} (stop it with: mqttcast stop ${replyTopic})\n`);
  const out: Writable = flags.output === '-' ? process.stdout : createWriteStream(flags.output);
  const startedAt = Date.now();
  let fragments = 0;
  let bytes = 0;
  let firstFragmentMs: number | undefined;
  const progress = (final = false): void => {
    if (flags.quiet) return;
    const secs = ((Date.now() - startedAt) / 1000).toFixed(1);
    const first = firstFragmentMs === undefined ? '' : `, first fragment after ${firstFragmentMs} ms`;
    process.stderr.write(`${final ? '' : '\r'}${secs} s: ${fragments} fragments, ${(bytes / 1e6).toFixed(2)} MB${first}${final ? '\n' : '   '}`);
  };

  let failNoData: (err: CliError) => void = () => undefined;
  const result = new Promise<number>((resolve, reject) => {
    failNoData = reject;
    client.on('message', (topic, payload) => {
      if (topic === topics.status(replyTopic)) {
        const status = StatusSchema.safeParse(JSON.parse(payload.toString('utf8')));
        if (!status.success) return;
        const s = status.data;
        if (s.state === 'ended') {
          // A stream that ended before anything arrived is not a success (and leaves an empty file).
          if (fragments === 0) reject(new CliError(`the stream ended (${s.reason ?? 'no reason given'}) before any media arrived`, EXIT.STREAM_FAILED));
          else resolve(EXIT.OK);
        }
        if (s.state === 'error') {
          reject(new CliError(`${s.code}: ${s.message ?? ''}`, fragments === 0 ? EXIT.REFUSED : EXIT.STREAM_FAILED));
        }
        return;
      }
      if (payload[0] === 0x7b /* '{' */) return; // JSON error on the reply topic; the status message carries it too
      if (topLevelTypes(payload).includes('moof')) {
        fragments++;
        if (firstFragmentMs === undefined) {
          firstFragmentMs = Date.now() - startedAt;
          // --duration is seconds of media: counted from the first fragment, so a slow start does not eat it.
          if (flags.durationS !== undefined) setTimeout(() => resolve(EXIT.OK), flags.durationS * 1000).unref();
        }
      }
      bytes += payload.byteLength;
      out.write(payload);
    });
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') resolve(EXIT.OK); // the reader (ffplay, mpv, head) went away
      else reject(new CliError(`cannot write ${flags.output}: ${err.message}`, EXIT.USAGE));
    });
    client.on('close', () => reject(new CliError('lost the connection to the MQTT broker', EXIT.BROKER_UNREACHABLE)));
    process.once('SIGINT', () => resolve(EXIT.OK));
    process.once('SIGTERM', () => resolve(EXIT.OK));
  });

  await client.subscribeAsync({ [replyTopic]: { qos: 0 }, [topics.status(replyTopic)]: { qos: 1 } });
  await client.publishAsync(
    conv.request('play'),
    JSON.stringify({ ...target(arg), reply_topic: replyTopic, codecs: flags.codecs, client_id: client.options.clientId }),
    { qos: 1 },
  );
  // Acks keep the session alive and tell the server how far we are (flow control); they
  // start with the media, so a slow source still being opened is not acked as "no session".
  const acker = setInterval(() => {
    progress();
    if (bytes > 0) client.publish(conv.request('ack'), JSON.stringify({ reply_topic: replyTopic, seq: fragments }), { qos: 0 });
  }, 1000);
  const noData = setTimeout(() => {
    if (fragments === 0) failNoData(new CliError(`no media arrived within ${flags.timeoutS} s`, EXIT.TIMEOUT));
  }, flags.timeoutS * 1000);
  try {
    await result;
  } finally {
    clearInterval(acker);
    clearTimeout(noData);
    progress(true);
    if (client.connected) {
      await client.publishAsync(conv.request('stop'), JSON.stringify({ reply_topic: replyTopic }), { qos: 1 }).catch(() => undefined);
      await client.endAsync().catch(() => undefined);
    }
    if (out !== process.stdout) await new Promise<void>((resolve) => out.end(() => resolve()));
  }
}

function timedOut(what: string, seconds: number): CliError {
  return new CliError(`${what} within ${seconds} s`, EXIT.TIMEOUT);
}
