/**
 * The daemons, composed from the parts: `serve` (everything `npm start` runs:
 * embedded broker unless an external one is configured, web client, media
 * server), `media-server`, `broker` and `gateway`. Each binds its listeners
 * before connecting anything, so a busy port fails fast, and closes in order:
 * sessions and ffmpeg, then MQTT, then the listeners.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { createAuthHooks, createUser } from '../broker/auth.js';
import { EmbeddedBroker } from '../broker/embedded-broker.js';
import { WsGateway } from '../broker/ws-gateway.js';
import type { Config } from './daemon/config.js';
import { findFfmpeg, type FfmpegBinaries } from './ffmpeg/ffmpeg-binaries.js';
import { HttpServer } from './daemon/http-server.js';
import { MediaServer } from './media-server.js';
import { MetricSet, Metrics } from './daemon/metrics.js';
import { MqttLink } from './daemon/mqtt-link.js';

export const DEFAULT_CLIENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'client');
export const DEFAULT_BROKER_URL = 'mqtt://127.0.0.1:1883';

interface Closable {
  close(): Promise<void>;
}

export interface Daemon {
  config: Config;
  http: HttpServer;
  urls: { web: string; mqtt: string; websocket: string };
  close(): Promise<void>;
}

export interface Service extends Daemon {
  broker?: EmbeddedBroker;
  gateway?: WsGateway;
  link: MqttLink;
  mediaServer: MediaServer;
  binaries: FfmpegBinaries;
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Runs `open` with a list to register closables in; on failure closes them in reverse and rethrows. */
async function building<T>(log: Logger, open: (opened: Closable[]) => Promise<T>): Promise<T> {
  const opened: Closable[] = [];
  try {
    return await open(opened);
  } catch (err) {
    for (const o of opened.reverse()) await o.close().catch((e: unknown) => log.warn({ err: e }, 'close failed'));
    throw err;
  }
}

function orderedClose(parts: Closable[], log: Logger): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      for (const part of parts) await part.close().catch((err: unknown) => log.warn({ err }, 'close failed'));
    })());
}

async function startEmbeddedBroker(config: Config, log: Logger): Promise<{ broker: EmbeddedBroker; username?: string; password?: string }> {
  let credentials: { username?: string; password?: string } = { username: config.brokerUsername, password: config.brokerPassword };
  let hooks;
  if (config.auth.enabled) {
    // Without configured server credentials, the media server gets an internal user of its own.
    const users = [...config.auth.users];
    if (!credentials.username) {
      const internal = await createUser(`mqttcast-internal-${randomBytes(4).toString('hex')}`, 'server');
      users.push(internal.user);
      credentials = { username: internal.user.username, password: internal.password };
    }
    hooks = createAuthHooks({
      prefix: config.prefix,
      users,
      discoveryPrefix: config.homeAssistant.enabled ? config.homeAssistant.prefix : undefined,
      log: log.child({ component: 'broker-auth' }),
    });
  }
  const broker = await EmbeddedBroker.start({
    host: config.host,
    port: config.mqttPort,
    maxPacketBytes: config.maxPacketBytes,
    logger: log.child({ component: 'broker' }),
    hooks,
  });
  return { broker, ...credentials };
}

/** A gateway to an external broker's TCP listener (mqtt:// URLs only: the bytes are piped as they are). */
function gatewayTo(brokerUrl: string, config: Config, log: Logger): WsGateway | undefined {
  const url = new URL(brokerUrl);
  if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') {
    log.warn({ brokerUrl }, 'the WebSocket gateway needs an mqtt:// broker URL; browsers must connect to the broker directly');
    return undefined;
  }
  return new WsGateway({ brokerHost: url.hostname.replace(/^\[|\]$/g, ''), brokerPort: Number(url.port || 1883), maxPacketBytes: config.maxPacketBytes, log: log.child({ component: 'gateway' }) });
}

function urlsOf(config: Config, http: HttpServer, mqtt: string): Daemon['urls'] {
  const host = hostForUrl(config.host);
  return { web: `http://${host}:${http.port}/`, mqtt, websocket: `ws://${host}:${http.port}/mqtt` };
}

/**
 * `serve` (default): embedded broker unless `brokerUrl` is set — then a WebSocket gateway
 * to it — plus the web client and the media server. `media-server`: only the media
 * server (connecting to `brokerUrl`, default mqtt://127.0.0.1:1883), /healthz and /metrics.
 */
export async function startService(config: Config, log: Logger, role: 'serve' | 'media-server' = 'serve'): Promise<Service> {
  const binaries = findFfmpeg(config, log);
  return building(log, async (opened) => {
    let broker: EmbeddedBroker | undefined;
    let credentials = { username: config.brokerUsername, password: config.brokerPassword };
    if (role === 'serve' && !config.brokerUrl) {
      const embedded = await startEmbeddedBroker(config, log);
      broker = embedded.broker;
      credentials = { username: embedded.username, password: embedded.password };
      opened.push(broker);
    }
    const brokerUrl = config.brokerUrl ?? broker?.url ?? DEFAULT_BROKER_URL;
    const gateway = role === 'serve' && !broker ? gatewayTo(brokerUrl, config, log) : undefined;
    if (gateway) opened.push(gateway);
    const late: { link?: MqttLink; mediaServer?: MediaServer } = {};
    const metrics = new Metrics(); // scraped from the start; the media server adds its gauges
    const http = await HttpServer.start({
      host: config.host,
      port: config.httpPort,
      clientDir: role === 'serve' ? (config.clientDir ?? DEFAULT_CLIENT_DIR) : undefined,
      log: log.child({ component: 'http' }),
      health: () => ({
        ok: late.link?.connected ?? false,
        broker: late.link?.connected ? 'connected' : 'disconnected',
        sessions: late.mediaServer?.sessionCount ?? 0,
        upstreams: late.mediaServer?.pool.size ?? 0,
      }),
      metrics,
      upgradeMqtt: broker
        ? (req, socket, head) => broker.handleUpgrade(req, socket, head)
        : gateway && ((req: IncomingMessage, socket: Duplex, head: Buffer) => gateway.handleUpgrade(req, socket, head)),
    });
    opened.push(http);
    const link = (late.link = await MqttLink.connect({
      url: brokerUrl,
      ...credentials,
      subscriptions: MediaServer.subscriptions(config),
      protocolVersion: config.shareGroup ? 5 : 'auto', // shared subscriptions need MQTT 5
      log: log.child({ component: 'mqtt' }),
    }));
    opened.push(link);
    const mediaServer = (late.mediaServer = await MediaServer.start({
      config,
      link,
      ffmpeg: binaries.ffmpeg,
      ffprobe: binaries.ffprobe,
      log,
      metrics,
      hasSubscriber: broker && ((topic: string) => broker.hasSubscriber(topic)),
    }));
    opened.push(mediaServer);
    const parts = [mediaServer, link, http, ...(gateway ? [gateway] : []), ...(broker ? [broker] : [])];
    return { config, broker, gateway, http, link, mediaServer, binaries, urls: urlsOf(config, http, brokerUrl), close: orderedClose(parts, log) };
  });
}

/** `broker`: the embedded broker alone — MQTT on TCP, MQTT over WebSocket at /mqtt, /healthz. */
export async function startBroker(config: Config, log: Logger): Promise<Daemon> {
  return building(log, async (opened) => {
    const { broker } = await startEmbeddedBroker(config, log);
    opened.push(broker);
    const metrics = new MetricSet();
    metrics.gauge('mqttcast_broker_clients', 'Connected MQTT clients', () => broker.aedes.connectedClients);
    const http = await HttpServer.start({
      host: config.host,
      port: config.httpPort,
      log: log.child({ component: 'http' }),
      health: () => ({ ok: true, clients: broker.aedes.connectedClients }),
      metrics,
      upgradeMqtt: (req, socket, head) => broker.handleUpgrade(req, socket, head),
    });
    opened.push(http);
    return { config, http, urls: urlsOf(config, http, broker.url), close: orderedClose([http, broker], log) };
  });
}

/** `gateway`: the web client and a WebSocket → TCP gateway at /mqtt to `brokerUrl`. */
export async function startGateway(config: Config, log: Logger): Promise<Daemon> {
  const brokerUrl = config.brokerUrl ?? DEFAULT_BROKER_URL;
  const gateway = gatewayTo(brokerUrl, config, log);
  if (!gateway) throw new Error(`the gateway needs an mqtt:// broker URL, not ${brokerUrl}`);
  return building(log, async (opened) => {
    opened.push(gateway);
    const metrics = new MetricSet();
    metrics.gauge('mqttcast_gateway_connections', 'Open WebSocket connections', () => gateway.connections);
    const http = await HttpServer.start({
      host: config.host,
      port: config.httpPort,
      clientDir: config.clientDir ?? DEFAULT_CLIENT_DIR,
      log: log.child({ component: 'http' }),
      health: () => ({ ok: true, connections: gateway.connections }),
      metrics,
      upgradeMqtt: (req, socket, head) => gateway.handleUpgrade(req, socket, head),
    });
    opened.push(http);
    return { config, http, urls: urlsOf(config, http, brokerUrl), close: orderedClose([http, gateway], log) };
  });
}
